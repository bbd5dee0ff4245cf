"""docs/formulas.md names real functions and real tests."""
import re
from pathlib import Path

import pytest

import fromzero.scratch

DOC = Path(__file__).resolve().parents[2] / "docs" / "formulas.md"
TESTS = Path(__file__).resolve().parent


@pytest.mark.skipif(not DOC.exists(), reason="docs not in this checkout")
def test_formulas_doc_references_exist():
    text = DOC.read_text(encoding="utf-8")
    tests = re.findall(r"`(test_\w+\.py)(?:::(\w+))?", text)
    assert len(tests) >= 10
    for file, name in tests:
        source = (TESTS / file).read_text(encoding="utf-8")
        assert not name or f"def {name}(" in source, f"{file}::{name}"
    funcs = re.findall(r"`(\w+)\.(\w+)[`.( ]", text)
    for module, name in funcs:
        if module in {"np", "torch", "fromzero"} or name == "py":
            continue
        mod = __import__(f"fromzero.scratch.{module}", fromlist=[name])
        assert hasattr(mod, name), f"{module}.{name}"
    for name in set(re.findall(r"`(\w+_(?:forward|backward))`", text)):
        assert hasattr(fromzero.scratch, name), name
