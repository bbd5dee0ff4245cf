"""Seconds per MNIST epoch: ``model.fit`` vs a hand-written PyTorch loop, measured side by side.

Both train the tutorial's CNN (batch 128, Adam) on the same in-memory data. The hand-written
loop uses a plain ``nn.Sequential`` of torch layers, so the ratio includes every overhead
fromzero adds (its Model graph, the Trainer, callbacks, the progress bar). The two run in
alternating rounds of ``--steps`` steps, so that load changes on a shared machine hit both alike;
the median round is extrapolated to a full epoch (469 steps).

    python benchmarks/mnist_cnn.py               # fit vs hand loop, the ratio (target <= 1.05)
    python benchmarks/mnist_cnn.py --variants    # also: channels_last, non-fused Adam, threads
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from fromzero.datasets import load_mnist
from fromzero.models.cnn import build_model
from fromzero.recipes.mnist import to_inputs

STEPS_PER_EPOCH = 469  # ceil(60000 / 128)


def torch_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


class HandLoop:
    """The loop a PyTorch user writes by hand."""

    def __init__(self, x, y, channels_last=False, fused=True):
        self.x, self.y, self.cl = x, y, channels_last
        self.model = torch_model()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, fused=fused)
        self.gen = torch.Generator().manual_seed(0)
        self.order, self.pos = torch.randperm(len(x), generator=self.gen), 0

    def run(self, steps, bs=128):
        for _ in range(steps):
            if self.pos + bs > len(self.x):
                self.order, self.pos = torch.randperm(len(self.x), generator=self.gen), 0
            idx = self.order[self.pos:self.pos + bs]
            self.pos += bs
            xb, yb = self.x[idx], self.y[idx]
            if self.cl:
                xb = xb.contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(self.model(xb), yb)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()


class FitLoop:
    """fromzero's default path: build_model() + compile + fit."""

    def __init__(self, x, y):
        self.x, self.y = x, y
        self.model = build_model()
        self.model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                           metrics=["accuracy"], lr=1e-3, device="cpu")

    def run(self, steps, bs=128):
        self.model.fit(self.x, self.y, batch_size=bs, epochs=1, steps_per_epoch=steps, verbose=1)


def measure(contenders: dict, steps: int, rounds: int) -> dict:
    for c in contenders.values():  # warm-up
        c.run(3)
    wall = {k: [] for k in contenders}
    cpu = {k: [] for k in contenders}
    for _ in range(rounds):
        for k, c in contenders.items():
            t, p = time.perf_counter(), time.process_time()
            c.run(steps)
            wall[k].append((time.perf_counter() - t) / steps * STEPS_PER_EPOCH)
            cpu[k].append((time.process_time() - p) / steps * STEPS_PER_EPOCH)
    return ({k: statistics.median(v) for k, v in wall.items()},
            {k: statistics.median(v) for k, v in cpu.items()})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=94, help="steps per round (default: 94, a fifth of an epoch)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (default: 5)")
    ap.add_argument("--variants", action="store_true", help="also time channels_last and non-fused Adam")
    args = ap.parse_args()
    torch.manual_seed(0)
    xi, yi = load_mnist("train")
    x, y = to_inputs(xi), torch.from_numpy(yi)
    contenders = {"hand-written loop": HandLoop(x, y), "fromzero fit": FitLoop(x, y)}
    if args.variants:
        contenders["hand loop, channels_last"] = HandLoop(x, y, channels_last=True)
        contenders["hand loop, Adam not fused"] = HandLoop(x, y, fused=False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.rounds} alternating rounds of {args.steps} steps, median, scaled to {STEPS_PER_EPOCH} steps")
    res, cpu = measure(contenders, args.steps, args.rounds)
    base, cbase = res["hand-written loop"], cpu["hand-written loop"]
    print(f"{'':28s} {'wall s/epoch':>12s} {'ratio':>6s} {'CPU s/epoch':>12s} {'ratio':>6s}")
    for k, v in res.items():
        print(f"{k:28s} {v:12.2f} {v / base:6.3f} {cpu[k]:12.2f} {cpu[k] / cbase:6.3f}")
    print(f"fit / hand-written ratio: {res['fromzero fit'] / base:.3f} wall, "
          f"{cpu['fromzero fit'] / cbase:.3f} CPU time (target <= 1.05)")


if __name__ == "__main__":
    main()
