"""Exact resume after SIGKILL, and crash-safe checkpoints (issue #7, items 1-2)."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from fromzero.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint

SCRIPT = Path(__file__).with_name("train_script.py")


def run(run_dir, out, *extra):
    return subprocess.run([sys.executable, str(SCRIPT), str(run_dir), str(out), *extra],
                          capture_output=True, text=True, timeout=120)


def strip_time(history):
    return [{k: v for k, v in e.items() if k not in ("time_s", "samples_per_s")} for e in history]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    r = run(d / "run", d / "out.json")
    assert r.returncode == 0, r.stderr
    return json.loads((d / "out.json").read_text())


@pytest.mark.parametrize("kill_at", [6, 17])  # mid-epoch in the first and in a later epoch
def test_sigkill_then_resume_is_bit_identical(tmp_path, reference, kill_at):
    r = run(tmp_path / "run", tmp_path / "a.json", "--kill-at", str(kill_at))
    assert r.returncode == -signal.SIGKILL
    assert not (tmp_path / "a.json").exists()
    r = run(tmp_path / "run", tmp_path / "b.json", "--resume")
    assert r.returncode == 0, r.stderr
    resumed = json.loads((tmp_path / "b.json").read_text())
    assert resumed["params"] == reference["params"]  # bit-identical parameters
    assert strip_time(resumed["history"]) == strip_time(reference["history"])  # same losses
    assert resumed["step"] == reference["step"] == 30


def test_sigkill_during_save_leaves_previous_checkpoint(tmp_path, reference):
    r = run(tmp_path / "run", tmp_path / "a.json", "--kill-in-save", "8")
    assert r.returncode == -signal.SIGKILL
    names = [p.name for p in list_checkpoints(tmp_path / "run")]
    assert names == ["step-00000004"]  # step 8 was being written: not at its target name
    assert not (tmp_path / "run" / "checkpoints" / "step-00000008").exists()
    r = run(tmp_path / "run", tmp_path / "b.json", "--resume")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "b.json").read_text())["params"] == reference["params"]


def test_exception_during_save_leaves_no_file_and_previous_loads(tmp_path, monkeypatch):
    m = nn.Linear(3, 2)
    save_checkpoint(tmp_path, 1, m, {"step": 1})
    import fromzero.checkpoint as ck

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(ck.torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, 2, m, {"step": 2})
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000001"]
    assert not any(p.name.startswith(".tmp") for p in (tmp_path / "checkpoints").iterdir())
    monkeypatch.undo()
    assert load_checkpoint(list_checkpoints(tmp_path)[-1], nn.Linear(3, 2))["step"] == 1


def test_keep_last_k(tmp_path):
    m = nn.Linear(1, 1)
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, m, {"step": step}, keep=3)
    assert [int(p.name[5:]) for p in list_checkpoints(tmp_path)] == [3, 4, 5]


def test_resume_picks_newest_complete(tmp_path):
    m = nn.Linear(1, 1)
    save_checkpoint(tmp_path, 3, m, {"step": 3})
    half = tmp_path / "checkpoints" / "step-00000007"
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"partial")  # no state.pt: incomplete
    assert list_checkpoints(tmp_path)[-1].name == "step-00000003"
