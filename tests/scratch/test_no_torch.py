"""fromzero.scratch is NumPy only: importing it, or training its GPT, must not import torch."""
import subprocess
import sys
from pathlib import Path

import fromzero.scratch

CODE = ("import sys, fromzero.scratch, fromzero.scratch.train; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")


def test_importing_scratch_does_not_import_torch():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"torch modules imported: {out.stdout.strip()[:200]}"


def test_training_the_scratch_gpt_does_not_import_torch():
    code = ("import sys; from fromzero.cli import main; "
            "rc = main(['scratch', 'train', '--model', 'gpt', '--max-iters', '2', '--eval-interval', '2', "
            "'--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--block-size', '16', '--batch-size', '2', "
            "'--no-progress']); "
            "print(rc, sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for expected in ("step 2: train loss", "val loss", "(whole validation split)", "scratch gpt (",
                     "validation loss", "sample:\n"):
        assert expected in out.stdout, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "0 []", f"torch imported: {out.stdout.strip()[-300:]}"


def test_no_scratch_source_mentions_torch_imports():
    for path in Path(fromzero.scratch.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import torch" not in text and "from torch" not in text, path.name
