"""SIGKILL mid-run, resume in a fresh process, and get exactly the weights of an uninterrupted run
(issue #15): GPT pre-training, fine-tuning (full and LoRA) and the forecaster through their
recipes; the tutorial's CNN through the Python API is test_resume.py's
``test_sigkill_then_resume_is_bit_identical``; and a 2-process job whose rank 1 is killed, resumed
on 1 and on 2 processes.

One driver process (train_script.py --plan) imports torch once and runs every job in a child
forked from it: the uninterrupted reference, the run killed with SIGKILL after step K (with a
checkpoint every E steps, so the newest one is mid-epoch), and its resume.
"""
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

SCRIPT = Path(__file__).with_name("train_script.py")
DIST = Path(__file__).parents[1] / "distributed"
sys.path.insert(0, str(DIST))  # the 1-vs-2-process harness: scenarios.py, worker.py
import scenarios as sc  # noqa: E402

from fromzero.checkpoint import list_checkpoints  # noqa: E402

# case: (checkpoint every E steps, kill after step K, the total steps)
CASES = {"gpt": (4, 10, 12),        # evaluations at 6 and 12: killed in the second period
         "finetune": (2, 5, 12),    # 6 batches an epoch, 2 evaluations each: killed mid-period
         "lora": (2, 5, 12),
         "forecast": (3, 11, 21)}   # 7 batches an epoch: killed in the second epoch
WORDS = "the film movie plot was is and a very good great fun bad awful dull".split()


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def write_inputs(root: Path) -> dict:
    rng = random.Random(0)
    sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(1200)]
    (root / "corpus.txt").write_text("\n".join(sentences) + "\n")
    task = root / "task"
    task.mkdir()
    for split, n in (("train", 96), ("dev", 32), ("test", 32)):
        rows = [(rng.choice(["good", "great", "fun"]) if i % 2 else rng.choice(["bad", "awful", "dull"]), i % 2)
                for i in range(n)]
        (task / f"{split}.tsv").write_text("text\tlabel\n" + "".join(
            f"the film was {w} {rng.choice(WORDS)}\t{y}\n" for w, y in rows))
    t = np.arange(400)
    a = np.sin(2 * np.pi * t / 24) + 0.1 * np.random.default_rng(0).standard_normal(400)
    days = (np.datetime64("2020-01-01T00") + t.astype("timedelta64[h]")).astype(str)
    (root / "series.csv").write_text("time,a\n" + "".join(f"{d},{x:.6f}\n" for d, x in zip(days, a)))
    return {"corpus": str(root / "corpus.txt"), "task": str(task), "csv": str(root / "series.csv"),
            "base": str(root / "ref" / "gpt")}  # the GPT case's reference run, fine-tuned after it


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One driver: per case the reference, the killed run and its resume."""
    root = tmp_path_factory.mktemp("sigkill")
    inputs = write_inputs(root)
    jobs = []
    for case, (every, kill_at, _) in CASES.items():
        jobs += [{"case": case, "out": str(root / "ref" / case)},
                 {"case": case, "out": str(root / "run" / case), "every": every, "kill_at": kill_at},
                 {"case": case, "out": str(root / "run" / case), "every": every, "resume": True}]
    (root / "plan.json").write_text(json.dumps({"inputs": inputs, "jobs": jobs}))
    r = subprocess.run([sys.executable, str(SCRIPT), "--plan", str(root / "plan.json"), str(root / "st.json")],
                       capture_output=True, text=True, timeout=300, env=env())
    assert r.returncode == 0, r.stderr[-3000:]
    statuses = json.loads((root / "st.json").read_text())
    return {"root": root, "status": dict(zip(CASES, zip(*[iter(statuses)] * 3))), "stderr": r.stderr}


def history(run_dir: Path) -> list[dict]:
    rows = list(csv.DictReader(open(run_dir / "history.csv")))
    return [{k: v for k, v in row.items() if k not in ("time_s", "samples_per_s", "tokens_per_s", "mfu")}
            for row in rows]


@pytest.mark.parametrize("case", list(CASES))
def test_sigkill_mid_run_then_resume_is_bit_identical(runs, case):
    every, kill_at, total = CASES[case]
    ref, run = runs["root"] / "ref" / case, runs["root"] / "run" / case
    assert runs["status"][case] == (0, -signal.SIGKILL, 0), runs["stderr"][-3000:]
    assert int((runs["root"] / "ref" / f"{case}.start").read_text()) == 0
    # the resume started from the newest checkpoint before the kill, not from scratch
    assert int((runs["root"] / "run" / f"{case}.start").read_text()) == kill_at // every * every
    a, b = load_file(str(ref / "model.safetensors")), load_file(str(run / "model.safetensors"))
    assert sorted(a) == sorted(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), k  # bit for bit
    assert history(run) == history(ref)
    assert int(list_checkpoints(run)[-1].name[5:]) == total


def test_sigkill_then_resume_ends_with_the_same_best_weights(tmp_path):
    # KeepBest (fine-tuning, forecasting) restores the best evaluation's weights at the end: a run
    # resumed after that evaluation must still have them (they were in memory only)
    def run(*extra):
        return subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "run"), str(tmp_path / "out.json"),
                               "--keep-best", *extra], capture_output=True, text=True, timeout=120, env=env())
    assert run().returncode == 0
    ref = json.loads((tmp_path / "out.json").read_text())
    shutil.rmtree(tmp_path / "run")
    assert run("--kill-at", "17").returncode == -signal.SIGKILL   # epoch 2; the best is epoch 1
    r = run("--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    resumed = json.loads((tmp_path / "out.json").read_text())
    assert resumed["step"] == ref["step"] == 30
    assert resumed["params"] == ref["params"]


# --- 2 processes: rank 1 killed, resumed on 1 and on 2 ----------------------------------------------

LAUNCH = "import sys; from fromzero.distributed import launch; sys.exit(launch(2, sys.argv[1:], module=False))"
KILL_AT = 13  # checkpoints at 10 (every sc.STEPS // 2) and at 20


def launch_worker(out: Path, *scenarios):
    return subprocess.run([sys.executable, "-c", LAUNCH, str(DIST / "worker.py"), str(out), *scenarios],
                          capture_output=True, text=True, timeout=150, env=env())


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b) / np.abs(a)))


def test_two_processes_rank_killed_then_resume_on_one_and_on_two(tmp_path):
    out = tmp_path / "two"
    r = launch_worker(out, "killed_rank1")
    assert r.returncode != 0  # the launcher fails the job when a worker dies
    assert not (out / "results.json").exists()
    assert [p.name for p in list_checkpoints(out / "killed_rank1")] == ["step-00000010"]
    shutil.copytree(out / "killed_rank1", out / "resume_killed")
    one = sc.gpt(grad_accum=2, run_dir=tmp_path / "ref")  # uninterrupted, 1 process
    shutil.copytree(out / "killed_rank1", tmp_path / "on1")
    on1 = sc.gpt(grad_accum=2, run_dir=tmp_path / "on1", resume=True)
    r = launch_worker(out, "resume_killed")
    assert r.returncode == 0, r.stderr[-3000:]
    on2 = json.loads((out / "results.json").read_text())["resume_killed"]
    for resumed in (on1, on2):  # the tolerance of test_distributed.py's 1-vs-2-process resumes
        assert resumed["step"] == sc.STEPS and len(resumed["steps"]) == sc.STEPS - 10
        assert rel(one["steps"][10:], resumed["steps"]) < 1e-4
        assert rel(one["loss"], resumed["loss"]) < 1e-4
        assert rel(one["val_loss"], resumed["val_loss"]) < 1e-4
