"""docs/rnn.md and the docstrings of the RNN and time-series modules: examples run, commands parse."""
import doctest
import importlib
import re
import shlex
from pathlib import Path

import pytest

from fromzero.cli import build_parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "rnn.md"
MODULES = ["fromzero.rnn.cells", "fromzero.layers.recurrent", "fromzero.layers", "fromzero.models.rnn_lm", "fromzero.timeseries.data",
           "fromzero.timeseries.windows", "fromzero.timeseries.baselines", "fromzero.timeseries.metrics",
           "fromzero.models.forecaster"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_every_command_in_the_doc_parses():
    text = DOC.read_text(encoding="utf-8")
    lines = [ln.split("  #")[0].strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)
             for ln in block.splitlines() if ln.startswith("fromzero ")]
    assert len(lines) >= 8
    parser = build_parser()
    for line in lines:
        args = parser.parse_args(shlex.split(line)[1:])
        assert callable(args.command.run), line


def test_the_layers_example_runs():
    code = re.search(r"```python\n(from fromzero import Model.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    scope = {}
    exec(compile(code.group(1), "docs/rnn.md", "exec"), scope)
    assert scope["seq"].shape == (10, 16) and scope["model"].output_shape == (1,)
