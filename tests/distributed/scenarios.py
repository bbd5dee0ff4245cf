"""The runs the distributed tests compare: the same code on 1 process (in pytest) and on 2 (worker.py)."""
from __future__ import annotations

import numpy as np
import torch

from fromzero import distributed as dist
from fromzero.checkpoint import save_model
from fromzero.device import seed_everything
from fromzero.models.gpt import GPT, gpt_config
from fromzero.text.data import RandomWindows, eval_batches
from fromzero.train import Callback, Trainer, place
from fromzero.train import muon  # noqa: F401  (registers the "muon" optimizer)
from fromzero.train.optim import adamw
from fromzero.train.schedules import WarmupCosine

STEPS = 20


class StepLosses(Callback):
    """Each optimizer step's loss over the global batch (all ranks), from the epoch's running sums,
    and how many samples the ranks together trained on (``samples``) and this rank alone (``local``)."""

    def __init__(self):
        self.losses, self.samples, self.local = [], [], []

    def _sums(self, trainer):
        return dist.all_reduce_sum([trainer._acc["loss_sum"], trainer._acc["n"]])

    def on_epoch_begin(self, trainer, epoch):
        self.prev = self._sums(trainer)  # not (0, 0) when resumed mid-epoch

    def on_batch_end(self, trainer, logs):
        s, n = self._sums(trainer)
        self.losses.append((s - self.prev[0]) / (n - self.prev[1]))
        self.samples.append(n - self.prev[1])
        self.local.append(logs["batch_size"])
        self.prev = (s, n)


def tokens(n: int = 6000) -> np.ndarray:
    """A learnable token stream: a cycle of stride 5 with noise."""
    rng = np.random.default_rng(0)
    return ((np.arange(n) * 5 + rng.integers(0, 3, n)) % 64).astype(np.uint16)


def gpt(strategy=None, grad_accum: int = 1, run_dir=None, resume=False, steps: int = STEPS,
        activation_checkpointing: bool = False, callbacks=(), optimizer: str = "adamw") -> dict:
    """The tiny GPT: ``steps`` steps, checkpointed halfway (with ``run_dir``), evaluated at the end."""
    seed_everything(0)
    model = GPT(gpt_config("tiny"))
    t = tokens()
    rec = StepLosses()
    opt = (lambda m: adamw(m, lr=3e-3, weight_decay=0.1)) if optimizer == "adamw" else optimizer
    net = dist.parallelize(model.to(dist.init("cpu")), strategy or "none", activation_checkpointing)
    trainer = Trainer(net, optimizer=opt, loss=None,
                      grad_clip=1.0, grad_accum=grad_accum, schedule=WarmupCosine(5, STEPS),
                      verbose=0, run_dir=run_dir, checkpoint_every=steps // 2, device="cpu",
                      callbacks=[rec, *callbacks])
    h = trainer.fit(RandomWindows(t[:5000], batch_size=8, block_size=32, seed=0), max_steps=steps,
                    validation_data=eval_batches(t[5000:], 32, batch_size=6), resume=resume)
    if run_dir:
        save_model(run_dir, trainer.model)  # every rank calls it; rank 0 writes model.safetensors
    numel, nbytes = dist.local_numel(trainer.model)
    return {"steps": rec.losses, "samples": rec.samples, "local": rec.local,
            "loss": h.history["loss"][-1], "val_loss": h.history["val_loss"][-1],
            "step": trainer.step, "local_numel": numel, "local_bytes": nbytes,
            "numel": sum(p.numel() for p in trainer.model.parameters())}


def mnist(strategy=None, run_dir=None) -> dict:
    """The tutorial's CNN as ``fromzero train mnist-cnn`` trains it: one epoch of 20 steps of 32 images."""
    from fromzero.datasets import load_mnist
    from fromzero.models.cnn import build_model
    from fromzero.recipes.mnist import to_inputs

    (xtr, ytr), (xte, yte) = load_mnist("train"), load_mnist("test")
    x, y = to_inputs(xtr[:32 * STEPS]), torch.from_numpy(ytr[:32 * STEPS])
    xv, yv = to_inputs(xte[:100]), torch.from_numpy(yte[:100])
    seed_everything(0)
    model = build_model()
    rec = StepLosses()
    net = dist.parallelize(place(model, dist.init("cpu")), strategy or "none")
    trainer = Trainer(net, optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      lr=1e-3, device="cpu", verbose=0, callbacks=[rec])
    h = trainer.fit((x, y), batch_size=32, epochs=1, validation_data=(xv, yv), seed=0)
    if run_dir:
        save_model(run_dir, model)
    return {"steps": rec.losses, "samples": rec.samples, "local": rec.local,
            **{k: v[-1] for k, v in h.history.items()
                                    if k in ("loss", "val_loss", "accuracy", "val_accuracy")}}


def loader_rows() -> dict:
    """The rows each rank gets from a shuffling DataLoader that has no generator of its own."""
    import torch.distributed as td
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(torch.arange(20)), batch_size=4, shuffle=True)
    sharded, _ = dist.shard(loader)
    rows = [b[0].tolist() for b in sharded]
    every = [None] * dist.world_size()
    td.all_gather_object(every, rows)
    return {"rows": every}
