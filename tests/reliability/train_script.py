"""A training run that the reliability tests start in a fresh process (and may SIGKILL).

usage: python train_script.py RUN_DIR OUT_JSON [--kill-at STEP] [--resume] [--kill-in-save STEP]
"""
import json
import os
import signal
import sys

import torch

from fromzero import Sequential
from fromzero import layers as L
from fromzero.checkpoint import load_model  # noqa: F401  (import side effects as in real use)
from fromzero.train import Callback, Trainer, schedules


class KillAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_batch_end(self, trainer, logs):
        if trainer.step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no atexit: like a power cut


def main():
    run_dir, out = sys.argv[1], sys.argv[2]
    kill_at = int(sys.argv[sys.argv.index("--kill-at") + 1]) if "--kill-at" in sys.argv else None
    if "--kill-in-save" in sys.argv:
        import fromzero.checkpoint as ck
        at = int(sys.argv[sys.argv.index("--kill-in-save") + 1])
        real = ck.save_weights

        def dying_save(path, model):
            real(path, model)
            if f"step-{at:08d}" in str(path) or ".tmp-" in str(path) and ck._saving_step == at:
                os.kill(os.getpid(), signal.SIGKILL)
        orig_ckpt = ck.save_checkpoint

        def save_checkpoint(run_dir, step, model, state, keep=2):
            ck._saving_step = step
            return orig_ckpt(run_dir, step, model, state, keep)
        ck.save_weights, ck.save_checkpoint = dying_save, save_checkpoint
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(300, 1, 8, 8, generator=g), torch.randint(0, 3, (300,), generator=g)
    model = Sequential([L.Input((1, 8, 8)), L.Conv2D(4, 3, activation="relu"), L.Dropout(0.2),
                        L.Flatten(), L.Dense(3)])
    steps = 3 * 10
    trainer = Trainer(model, optimizer="adamw", lr=3e-3, metrics=["accuracy"], verbose=0,
                      schedule=schedules.WarmupCosine(5, steps), run_dir=run_dir, checkpoint_every=4,
                      callbacks=[KillAt(kill_at)] if kill_at else [])
    hist = trainer.fit((x, y), epochs=3, batch_size=32, shuffle=True, seed=5, resume="--resume" in sys.argv)
    params = {k: v.flatten().tolist() for k, v in trainer.model.state_dict().items()}
    with open(out, "w") as f:
        json.dump({"history": hist.epochs, "params": params, "step": trainer.step}, f)


if __name__ == "__main__":
    main()
