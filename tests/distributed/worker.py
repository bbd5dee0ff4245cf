"""Run by torchrun with 2 processes: the scenarios of test_distributed.py; rank 0 writes results.json.

Usage: worker.py OUT_DIR [SCENARIO ...]   (default: every scenario but those ON_REQUEST)
"""
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import scenarios as sc  # noqa: E402

from fromzero import distributed as dist  # noqa: E402

out = Path(sys.argv[1])
RUNS = {
    "mnist_ddp": lambda: sc.mnist("ddp"),
    "mnist_fsdp": lambda: sc.mnist("fsdp", run_dir=out / "mnist_fsdp"),  # each layer sharded
    "gpt_ddp": lambda: sc.gpt("ddp", grad_accum=2, run_dir=out / "gpt_ddp"),
    "gpt_fsdp": lambda: sc.gpt("fsdp", run_dir=out / "gpt_fsdp"),
    "gpt_fsdp_ac": lambda: sc.gpt("fsdp", activation_checkpointing=True, steps=4),
    "loader": sc.loader_rows,
    "gpt_fsdp_muon": lambda: sc.gpt("fsdp", optimizer="muon", steps=4),  # Newton-Schulz on shards
    # resume the step-10 checkpoints written by one process (pytest copied them here)
    "resume_fsdp": lambda: sc.gpt("fsdp", run_dir=out / "resume_fsdp", resume=True),
    "resume_ddp": lambda: sc.gpt("ddp", grad_accum=2, run_dir=out / "resume_ddp", resume=True),
}


class CrashOnRank1(sc.Callback):
    """Rank 1 fails at step 3 while rank 0 goes on into the next step's collectives."""

    def on_batch_end(self, trainer, logs):
        if dist.rank() == 1 and trainer.step == 3:
            raise RuntimeError("rank 1 crashes on purpose")


class KillRank1(sc.Callback):
    """Rank 1 dies at step 13 as in a power cut (no cleanup): tests/reliability/test_sigkill.py."""

    def on_batch_end(self, trainer, logs):
        if dist.rank() == 1 and trainer.step == 13:
            os.kill(os.getpid(), signal.SIGKILL)


RUNS["crash"] = lambda: sc.gpt("ddp", callbacks=[CrashOnRank1()])
RUNS["killed_rank1"] = lambda: sc.gpt("ddp", grad_accum=2, run_dir=out / "killed_rank1", callbacks=[KillRank1()])
RUNS["resume_killed"] = lambda: sc.gpt("ddp", grad_accum=2, run_dir=out / "resume_killed", resume=True)
ON_REQUEST = ("crash", "killed_rank1", "resume_killed")  # not in the default job
results = {}
for name in sys.argv[2:] or [n for n in RUNS if n not in ON_REQUEST]:
    results[name] = RUNS[name]()
    results[name]["world_size"] = dist.world_size()
if dist.is_main():
    (out / "results.json").write_text(json.dumps(results))
