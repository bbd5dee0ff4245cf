"""fromzero.scratch is NumPy only: importing it must not import torch."""
import subprocess
import sys
from pathlib import Path

import fromzero.scratch

CODE = ("import sys, fromzero.scratch, fromzero.scratch.train; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")


def test_importing_scratch_does_not_import_torch():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"torch modules imported: {out.stdout.strip()[:200]}"


def test_no_scratch_source_mentions_torch_imports():
    for path in Path(fromzero.scratch.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import torch" not in text and "from torch" not in text, path.name
