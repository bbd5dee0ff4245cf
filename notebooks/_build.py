"""Build the notebooks from their sources: ``python notebooks/_build.py`` (``--check``: fail if stale).

Each notebook is written as a plain Python file in ``notebooks/src/`` (the "percent" format that
Jupytext and VS Code read): ``# %%`` starts a code cell, ``# %% [markdown]`` a Markdown cell whose
lines start with ``# ``. This script turns each into ``notebooks/NAME.ipynb``, without outputs, so
that the sources stay readable in a diff and the notebooks never carry stale outputs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def cells(text: str) -> list:
    """The cells of a percent-format source (text before the first ``# %%`` is ignored)."""
    out, kind, lines = [], None, []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.split("\n"))
            out.append(nbformat.v4.new_markdown_cell(body))
        else:
            out.append(nbformat.v4.new_code_cell(body))
    for line in text.split("\n"):
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        else:
            lines.append(line)
    flush()
    return out


def build(source: Path):
    nb = nbformat.v4.new_notebook(cells=cells(source.read_text(encoding="utf-8")))
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{source.stem[:2]}-{i:03d}"    # stable ids: rebuilding changes nothing
    return nb


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="fail if a notebook differs from its source")
    args = p.parse_args(argv)
    stale = []
    for source in sorted(SOURCES.glob("[0-9]*.py")):
        target = HERE / f"{source.stem}.ipynb"
        text = nbformat.writes(build(source)) + "\n"
        if args.check:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                stale.append(target.name)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(HERE.parent)}")
    if stale:
        print(f"stale: {', '.join(stale)}; run python notebooks/_build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
