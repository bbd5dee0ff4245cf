"""The same training on 1 and on 2 processes (gloo, CPU): DDP and FSDP losses, memory, resume
N -> M, the exported weights, a crashing rank, and ``fromzero pretrain gpt --nproc 2``.

One 2-process job (worker.py, launched through torchrun) runs every scenario; the single-process
references run here, in pytest.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

import scenarios as sc
from fromzero.checkpoint import list_checkpoints, load_model

HERE = Path(__file__).parent
LAUNCH = "import sys; from fromzero.distributed import launch; sys.exit(launch(2, sys.argv[1:], module=False))"


CNN_DRIFT = 3e-3


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}  # FROMZERO_CACHE: this test session's (conftest)


def launch_worker(out: Path, *scenarios, timeout: int = 150):
    return subprocess.run([sys.executable, "-c", LAUNCH, str(HERE / "worker.py"), str(out), *scenarios],
                          capture_output=True, text=True, timeout=timeout, env=env())


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b) / np.abs(a)))


def copy_checkpoint(run_dir: Path, step: int, to: Path) -> None:
    src = next(p for p in list_checkpoints(run_dir) if int(p.name[5:]) == step)
    shutil.copytree(src, to / "checkpoints" / src.name)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """Single-process references (here), then one 2-process job that runs every scenario."""
    ref, out = tmp_path_factory.mktemp("ref"), tmp_path_factory.mktemp("two")
    refs = {"mnist": sc.mnist(), "gpt": sc.gpt(run_dir=ref / "gpt"),
            "gpt_accum2": sc.gpt(grad_accum=2, run_dir=ref / "gpt_accum2"),
            "gpt_muon": sc.gpt(optimizer="muon", steps=4)}
    copy_checkpoint(ref / "gpt", 10, out / "resume_fsdp")       # for 1 -> 2 resumes
    copy_checkpoint(ref / "gpt_accum2", 10, out / "resume_ddp")
    r = launch_worker(out)
    assert r.returncode == 0, r.stderr[-3000:]
    return {"ref": refs, "ref_dir": ref, "two": json.loads((out / "results.json").read_text()),
            "out": out}


def test_ddp_matches_one_process_mnist_cnn(job):
    one, two = job["ref"]["mnist"], job["two"]["mnist_ddp"]
    assert two["world_size"] == 2 and len(two["steps"]) == sc.STEPS
    assert two["samples"] == one["samples"] == [32] * sc.STEPS  # together the ranks read each batch once
    assert two["local"] == [16] * sc.STEPS and one["local"] == [32] * sc.STEPS  # rank 0: its half
    # The first step sees the same weights and rows: equal losses. Later steps drift a little: a
    # convolution over 16 rows sums its gradient in another order than over 32 (~1e-6 relative
    # per step on an AVX2 CPU), and Adam turns that into whole steps for near-zero gradients
    # (7e-4 after 8 steps there; exact on AVX-512). Rows read by the wrong rank differ by ~1e-1.
    assert rel(one["steps"][:1], two["steps"][:1]) < 1e-6
    assert rel(one["steps"], two["steps"]) < CNN_DRIFT    # every step's loss over the global batch
    assert rel(one["val_loss"], two["val_loss"]) < CNN_DRIFT  # validation split over the ranks, summed
    assert abs(one["accuracy"] - two["accuracy"]) <= 0.02 and abs(one["val_accuracy"] - two["val_accuracy"]) <= 0.02
    assert one["steps"][-1] < one["steps"][0] - 0.5      # it trained


def test_fsdp_matches_one_process_mnist_cnn_and_saves_a_loadable_model(job, mnist_small):
    one, two = job["ref"]["mnist"], job["two"]["mnist_fsdp"]
    assert two["samples"] == one["samples"] and two["local"] == [16] * sc.STEPS
    assert rel(one["steps"][:1], two["steps"][:1]) < 1e-6
    assert rel(one["steps"], two["steps"]) < CNN_DRIFT      # see test_ddp_matches_one_process_mnist_cnn
    assert rel(one["val_loss"], two["val_loss"]) < CNN_DRIFT
    model = load_model(job["out"] / "mnist_fsdp")          # the Keras-like config names plain layers
    model.compile(loss="sparse_categorical_crossentropy")
    x, y = mnist_small[2][:100], mnist_small[3][:100]      # the validation images of the scenario
    assert abs(model.evaluate(x, y)["loss"] - two["val_loss"]) < 1e-4


def test_ddp_matches_one_process_gpt_with_grad_accum(job):
    # grad_accum=2 on 2 ranks: each rank takes one whole micro-batch of the stream per step
    one, two = job["ref"]["gpt_accum2"], job["two"]["gpt_ddp"]
    assert two["samples"] == one["samples"] == [16] * sc.STEPS  # 2 micro-batches of 8 per step
    assert two["local"] == [8] * sc.STEPS                        # rank 0: one of them
    assert rel(one["steps"], two["steps"]) < 1e-5
    assert rel(one["val_loss"], two["val_loss"]) < 1e-5
    assert one["steps"][-1] < one["steps"][0] - 0.3


def test_fsdp_matches_one_process_gpt(job):
    one, two = job["ref"]["gpt"], job["two"]["gpt_fsdp"]
    assert two["samples"] == one["samples"] == [8] * sc.STEPS
    assert two["local"] == [4] * sc.STEPS                        # rank 0: half the rows of each batch
    assert rel(one["steps"], two["steps"]) < 1e-4
    assert rel(one["val_loss"], two["val_loss"]) < 1e-4


def test_fsdp_halves_parameter_memory_per_rank(job):
    ddp, fsdp = job["two"]["gpt_ddp"], job["two"]["gpt_fsdp"]
    assert ddp["local_numel"] == ddp["numel"] == fsdp["numel"]       # DDP: a full copy per rank
    assert 0.45 < fsdp["local_numel"] / fsdp["numel"] < 0.55          # FSDP: about half
    assert 0.45 < fsdp["local_bytes"] / ddp["local_bytes"] < 0.55


def test_activation_checkpointing_changes_memory_not_losses(job):
    one, two = job["ref"]["gpt"], job["two"]["gpt_fsdp_ac"]
    assert rel(one["steps"][:4], two["steps"]) < 1e-4


def test_fsdp_with_muon_matches_one_process(job):
    one, two = job["ref"]["gpt_muon"], job["two"]["gpt_fsdp_muon"]
    assert rel(one["steps"], two["steps"]) < 1e-4


def test_shuffling_data_loader_gives_each_rank_other_rows(job):
    # no generator of its own: the ranks' (forked) random streams must not decide the order
    rows = job["two"]["loader"]["rows"]
    assert len(rows) == 2 and [len(b) for b in rows[0]] == [2] * 5
    assert sorted(v for r in rows for b in r for v in b) == list(range(20))


@pytest.mark.parametrize("name, ref", [("resume_fsdp", "gpt"), ("resume_ddp", "gpt_accum2")])
def test_one_process_checkpoint_resumes_on_two(job, name, ref):
    one, two = job["ref"][ref], job["two"][name]
    assert two["step"] == sc.STEPS and two["world_size"] == 2 and len(two["steps"]) == 10
    assert rel(one["steps"][10:], two["steps"]) < 1e-4  # steps 11-20 ran on 2 ranks, continuing the curve
    assert rel(one["loss"], two["loss"]) < 1e-4          # the epoch's sums: 1 process's, then 2 ranks'


@pytest.mark.parametrize("name, ref, accum", [("gpt_fsdp", "gpt", 1), ("gpt_ddp", "gpt_accum2", 2)])
def test_two_process_checkpoint_resumes_on_one(job, tmp_path, name, ref, accum):
    copy_checkpoint(job["out"] / name, 10, tmp_path)     # mid-epoch: it holds both ranks' sums
    resumed = sc.gpt(grad_accum=accum, run_dir=tmp_path, resume=True)
    assert resumed["step"] == sc.STEPS and len(resumed["steps"]) == 10
    assert rel(job["ref"][ref]["steps"][10:], resumed["steps"]) < 1e-4
    assert rel(job["two"][name]["steps"][10:], resumed["steps"]) < 1e-4
    assert rel(job["ref"][ref]["loss"], resumed["loss"]) < 1e-4


def test_fsdp_run_exports_the_single_process_format(job):
    two_dir, one_dir = job["out"] / "gpt_fsdp", job["ref_dir"] / "gpt"
    with safe_open(str(two_dir / "model.safetensors"), "pt") as a, \
            safe_open(str(one_dir / "model.safetensors"), "pt") as b:
        assert sorted(a.keys()) == sorted(b.keys())      # tied weights stored once, as alone
        meta_a, meta_b = a.metadata(), b.metadata()           # the same keys; the checksums
        assert meta_a.keys() == meta_b.keys() and meta_a["aliases"] == meta_b["aliases"]  # of other values
    two, one = load_model(two_dir), load_model(one_dir)  # a plain process, no process group
    for (k, p), (_, q) in zip(two.state_dict().items(), one.state_dict().items()):
        assert not hasattr(p, "full_tensor"), k
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=k)
    assert [p.name for p in list_checkpoints(two_dir)] == ["step-00000010", "step-00000020"]
    assert (two_dir / "history.csv").is_file()


def test_a_crashing_rank_stops_the_job(tmp_path):
    t0 = time.perf_counter()
    r = launch_worker(tmp_path, "crash", timeout=60)   # TimeoutExpired (a hang) fails the test
    assert r.returncode != 0
    assert "rank 1 crashes on purpose" in r.stderr
    assert "a process failed" in r.stderr
    assert time.perf_counter() - t0 < 60
    assert not (tmp_path / "results.json").exists()


def test_pretrain_cli_nproc_fsdp_matches_one_process_and_resumes_on_one(tmp_path):
    args = ["pretrain", "gpt", "--preset", "tiny", "--max-iters", "10", "--eval-interval", "5",
            "--eval-tokens", "2048", "--batch-size", "8", "--device", "cpu", "--quiet"]
    r = subprocess.run([sys.executable, "-m", "fromzero", *args, "--out", str(tmp_path / "two"),
                        "--nproc", "2", "--strategy", "fsdp"],
                       capture_output=True, text=True, timeout=120, env=env())
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("validation loss") == 1               # only rank 0 reports
    from fromzero.cli import main
    assert main([*args, "--out", str(tmp_path / "one")]) == 0   # the same command, one process
    csv = lambda k: np.genfromtxt(tmp_path / k / "history.csv", delimiter=",", names=True)  # noqa: E731
    one, two = csv("one"), csv("two")
    assert rel(one["loss"], two["loss"]) < 1e-4
    # bf16 autocast (where the CPU has it) keeps activations for backward in bf16: the two ranks'
    # halves round differently from one process's whole batch (measured 1.6e-4 after 10 steps)
    assert rel(one["val_loss"], two["val_loss"]) < 5e-4
    assert json.loads((tmp_path / "two" / "pretrain.json").read_text())["overrides"]["strategy"] == "fsdp"
    # the 2-process run goes on with 1 process (its saved strategy has nothing to split there)
    assert main([*args[:4], "--max-iters", "15", "--out", str(tmp_path / "two"), "--resume", "--quiet"]) == 0
    resumed = csv("two")
    assert list(resumed["step"]) == [5, 10, 15]
    assert list(resumed["loss"][:2]) == list(two["loss"])
    assert load_model(tmp_path / "two").config.n_layer == 2
