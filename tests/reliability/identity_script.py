"""A small training run that test_run_identity.py starts in a fresh process (and may kill or hold).

usage: python identity_script.py RUN_DIR OUT_JSON --seed S [--resume] [--overwrite] [--kill-at STEP]
                                 [--wait-at STEP FILE]
--wait-at: at STEP, write FILE.ready and wait until FILE exists (a second run can then be started
while this one holds the run directory).
"""
import json
import os
import signal
import sys
import time
from pathlib import Path

import torch

from fromzero.train import Callback, Trainer


def arg(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


class At(Callback):
    def __init__(self, kill_at, wait_at, wait_file):
        self.kill_at, self.wait_at, self.wait_file = kill_at, wait_at, wait_file

    def on_batch_end(self, trainer, logs):
        if trainer.step == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup: the lock stays behind, stale
        if trainer.step == self.wait_at:
            Path(self.wait_file + ".ready").write_text(str(os.getpid()))
            for _ in range(2400):
                if Path(self.wait_file).exists():
                    return
                time.sleep(0.05)


def main():
    run_dir, out, seed = sys.argv[1], sys.argv[2], int(arg("--seed"))
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(300, 6, generator=g), torch.randint(0, 3, (300,), generator=g)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    wait_file = sys.argv[sys.argv.index("--wait-at") + 2] if "--wait-at" in sys.argv else None
    cb = At(int(arg("--kill-at", -1)), int(arg("--wait-at", -1)), wait_file)
    trainer = Trainer(model, optimizer="adam", lr=1e-2, verbose=0, run_dir=run_dir, checkpoint_every=5,
                      keep_checkpoints=2, plot=False, callbacks=[cb])
    kw = {"overwrite": True} if "--overwrite" in sys.argv else {}
    trainer.fit((x, y), epochs=4, batch_size=32, seed=seed, resume="--resume" in sys.argv, **kw)  # 40 steps
    with open(out, "w") as f:
        json.dump({"params": {k: v.flatten().tolist() for k, v in model.state_dict().items()},
                   "step": trainer.step}, f)


if __name__ == "__main__":
    main()
