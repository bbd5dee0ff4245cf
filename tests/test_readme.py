"""The README's program and commands run (on a small subset, for time)."""
import re
from pathlib import Path

import fromzero.datasets

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_tutorial_program_runs(monkeypatch, capsys):
    text = README.read_text(encoding="utf-8")
    code = re.search(r"```python\n(import torch\nfrom fromzero import Model.*?)```", text, re.S).group(1)
    real = fromzero.datasets.load_mnist

    def small(split, *a, **k):
        x, y = real(split, *a, **k)
        return x[:600], y[:600]
    monkeypatch.setattr(fromzero.datasets, "load_mnist", small)
    code = code.replace("epochs=10", "epochs=1")
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert "Total params: 421,642" in capsys.readouterr().out
    model = scope["model"]
    assert model.evaluate(scope["x_test"], scope["y_test"])["accuracy"] > 0.3


def test_readme_shows_the_two_commands_first():
    head = README.read_text(encoding="utf-8").split("\n")[:6]
    assert any("make demo" in line for line in head) and any("make test" in line for line in head)
