"""Every docstring example in fromzero.scratch runs and prints what it says."""
import doctest
import importlib
import pkgutil

import pytest

import fromzero.scratch

MODULES = [m.name for m in pkgutil.iter_modules(fromzero.scratch.__path__)]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"fromzero.scratch.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
