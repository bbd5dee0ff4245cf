"""The docstring examples of the fine-tuning modules run and print what they say."""
import doctest
import importlib

import pytest

MODULES = ["fromzero.lora", "fromzero.models.classifier", "fromzero.text.labelled", "fromzero.recipes.finetune"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
