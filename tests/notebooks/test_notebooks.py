"""Every notebook in notebooks/ runs from top to bottom, and is committed clean.

The notebooks run at tiny sizes (``FROMZERO_NOTEBOOK_SMALL=1``) in one kernel, started with this
interpreter (the venv's python, whatever kernelspecs the machine has installed) and shared by the
tests of this file: importing torch, matplotlib, Captum and Opacus once instead of once per notebook
is most of what keeps them within their CPU budget. Before each notebook the kernel's namespace is
reset (``%reset -f``), so a notebook cannot lean on names another one defined.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
from jupyter_client import KernelManager  # noqa: E402
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "notebooks"
NOTEBOOKS = sorted(p for p in FOLDER.glob("[0-9]*.ipynb") if "." not in p.stem)   # not an executed copy
CELL_TIMEOUT = 300
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ThisPython(KernelSpecManager):
    """Every kernel name resolves to ipykernel run by this interpreter."""

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                          display_name="Python 3 (this interpreter)", language="python")


@pytest.fixture(scope="module")
def kernel():
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ThisPython())
    # one thread: at these sizes a second one mostly waits, and its spinning costs CPU time
    env = {**os.environ, "FROMZERO_NOTEBOOK_SMALL": "1", "OMP_NUM_THREADS": "1"}
    km.start_kernel(cwd=str(FOLDER), env=env)
    yield km
    km.shutdown_kernel(now=True)


def _failed_cell(nb) -> tuple[int, str, str]:
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                trace = ANSI.sub("", "\n".join(out.get("traceback", [])))
                return i, cell.source, trace or f"{out.get('ename')}: {out.get('evalue')}"
    return -1, "", ""


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 7, [p.name for p in NOTEBOOKS]


def execute(nb, km, name: str) -> None:
    """Run ``nb`` in the kernel of ``km`` after resetting its namespace; a failing cell fails the test
    with its source and traceback."""
    reset = (f"%reset -f\nimport os as _os, sys as _sys\n_os.chdir({str(FOLDER)!r})\n"
             f"assert _sys.executable == {sys.executable!r}, _sys.executable\n"
             "assert _os.environ['FROMZERO_NOTEBOOK_SMALL'] == '1'\ndel _os, _sys")
    nb.cells.insert(0, nbformat.v4.new_code_cell(reset))
    client = nbclient.NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, allow_errors=False,
                                     resources={"metadata": {"path": str(FOLDER)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError:
        i, source, trace = _failed_cell(nb)
        pytest.fail(f"{name}: cell {i} failed (counting from 1, Markdown cells included):\n"
                    f"----- source -----\n{source}\n----- error -----\n{trace}", pytrace=False)
    finally:
        if client.kc is not None:
            client.kc.stop_channels()


def test_a_failing_cell_is_reported_with_its_source(kernel):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title"),
                                         nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("y = x / 0  # the broken cell")])
    with pytest.raises(pytest.fail.Exception) as e:
        execute(nb, kernel, "broken.ipynb")
    assert "broken.ipynb: cell 3 failed" in str(e.value), str(e.value)
    assert "y = x / 0  # the broken cell" in str(e.value) and "ZeroDivisionError" in str(e.value)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, kernel):
    execute(nbformat.read(path, as_version=4), kernel, path.name)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; run python notebooks/_build.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_first_code_cell_reads_the_small_switch(path):
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "FROMZERO_NOTEBOOK_SMALL" in first.source, f"{path.name}: the first code cell must read it"


def test_notebooks_match_their_sources():
    r = subprocess.run([sys.executable, str(FOLDER / "_build.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
