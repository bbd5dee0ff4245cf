"""Seconds per MNIST epoch: ``model.fit`` vs the best hand-written PyTorch loop, side by side.

All train the tutorial's CNN (batch 128, Adam, fp32) on the same in-memory data. The baseline is
the loop a PyTorch user who knows the CPU tricks writes: a plain ``nn.Sequential`` of torch layers
in channels_last memory layout (what ``fit`` uses on the CPU) with fused Adam. The second line is
the same loop in the default NCHW layout. The ratio includes every overhead fromzero adds (its
Model graph, the Trainer, callbacks, the progress bar).

Rounds of ``--steps`` steps alternate between the contenders, so that load changes on a shared
machine hit all alike; each round's time is scaled to a full epoch (469 steps). The figure is the
median of the per-round ratios (fit / baseline, paired by round); the medians of the first and
the second half of the rounds are printed too: when they differ by more than 5% the machine was
too noisy for a verdict, and the script says so (run more ``--rounds``).

    python benchmarks/mnist_cnn.py               # fit vs the best hand loop (target <= 1.05), and NCHW
    python benchmarks/mnist_cnn.py --variants    # also: non-fused Adam
    python benchmarks/mnist_cnn.py --keras /tmp/venv-keras/bin/python   # also: the tutorial's tf.keras

``--keras PYTHON`` also times the tutorial's own tool: ``benchmarks/keras_tutorial.py`` (its tf.keras
program, bugs fixed, batch 128, Adam, fp32) runs in PYTHON, a separate virtual environment with
``tensorflow-cpu`` (never a dependency of fromzero; skipped, with a note, when PYTHON cannot import
it). Make one with ``python -m venv /tmp/venv-keras && /tmp/venv-keras/bin/pip install tensorflow-cpu``.
Its epochs are whole (TensorFlow runs in its own process), alternating with whole epochs of ``fit``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fromzero.datasets import load_mnist
from fromzero.device import describe_machine
from fromzero.models.cnn import build_model
from fromzero.recipes.mnist import to_inputs

STEPS_PER_EPOCH = 469  # ceil(60000 / 128)
BEST = "hand loop, channels_last + fused Adam"


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
    return wall, cpu


def median(xs) -> float:
    return statistics.median(xs)


def paired(times: dict, k: str, rounds: slice = slice(None)) -> float:
    """The median over rounds of ``k``'s time / the baseline's time in the same round."""
    return statistics.median(a / b for a, b in zip(times[k][rounds], times[BEST][rounds]))


def keras_epochs(python: str, rounds: int, x, y) -> None:
    """tf.keras in ``python`` (2 epochs a round: the first includes TensorFlow's tracing) against whole
    epochs of ``fit`` in this process, alternating; prints the medians and the ratio."""
    script = Path(__file__).resolve().parent / "keras_tutorial.py"
    probe = subprocess.run([python, "-c", "import tensorflow"], capture_output=True, text=True) \
        if Path(python).exists() else None
    if probe is None or probe.returncode:
        why = f"{python} does not exist" if probe is None else f"{python} cannot import tensorflow"
        print(f"tf.keras: skipped ({why}). tensorflow-cpu is never a dependency of fromzero; to compare, make a "
              f"separate environment: python -m venv /tmp/venv-keras && /tmp/venv-keras/bin/pip install "
              f"tensorflow-cpu, then --keras /tmp/venv-keras/bin/python")
        return
    fit, first, steady, accs = FitLoop(x, y), [], [], []
    fit.run(3)
    fit_s = []
    for _ in range(rounds):
        p = subprocess.run([python, str(script), "--epochs", "2", "--threads", str(torch.get_num_threads())],
                           capture_output=True, text=True)
        if p.returncode:
            print(f"tf.keras: failed:\n{p.stderr[-2000:]}")
            return
        m = json.loads(p.stdout.strip().splitlines()[-1])
        first.append(m["epoch_s"][0])
        steady.append(m["epoch_s"][1])
        accs.append(m["test_accuracy"])
        t = time.perf_counter()
        fit.run(STEPS_PER_EPOCH)
        fit_s.append(time.perf_counter() - t)
    k, f = median(steady), median(fit_s)
    print(f"tf.keras {m['tensorflow']} (the tutorial's program, fp32): {k:.2f} s/epoch (its second epochs; its "
          f"first epochs, which include tracing: {median(first):.2f} s; test accuracy after 2 epochs {median(accs):.2%}); fromzero fit "
          f"{f:.2f} s/epoch, whole epochs alternating: fit / tf.keras = {f / k:.3f} (< 1: fromzero faster; "
          f"rounds {', '.join(f'{a / b:.2f}' for a, b in zip(fit_s, steady))})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=47, help="steps per round (default: 47, a tenth of an epoch)")
    ap.add_argument("--rounds", type=int, default=16, help="alternating rounds (default: 16)")
    ap.add_argument("--variants", action="store_true", help="also time the best loop with non-fused Adam")
    ap.add_argument("--keras", metavar="PYTHON",
                    help="also time the tutorial's tf.keras program, run by PYTHON (a separate venv with "
                         "tensorflow-cpu; skipped with a note when it cannot import it)")
    ap.add_argument("--keras-rounds", type=int, default=3, help="alternating whole epochs with --keras (default 3)")
    args = ap.parse_args()
    torch.manual_seed(0)
    xi, yi = load_mnist("train")
    x, y = to_inputs(xi), torch.from_numpy(yi)
    contenders = {BEST: HandLoop(x, y, channels_last=True), "fromzero fit": FitLoop(x, y),
                  "hand loop, NCHW": HandLoop(x, y)}
    if args.variants:
        contenders["hand loop, channels_last, Adam not fused"] = HandLoop(x, y, channels_last=True, fused=False)
    print(f"machine: {describe_machine()}\nfp32; {args.rounds} alternating rounds of {args.steps} steps, "
          f"each scaled to {STEPS_PER_EPOCH} steps (an epoch); load average {os.getloadavg()[0]:.1f}")
    wall, cpu = measure(contenders, args.steps, args.rounds)
    print(f"{'':42s} {'wall s/epoch':>12s} {'ratio':>6s} {'CPU s/epoch':>12s} {'ratio':>6s}")
    for k in contenders:
        print(f"{k:42s} {median(wall[k]):12.2f} {paired(wall, k):6.3f} {median(cpu[k]):12.2f} {paired(cpu, k):6.3f}")
    r = paired(wall, "fromzero fit")
    half = args.rounds // 2
    a, b = paired(wall, "fromzero fit", slice(0, half)), paired(wall, "fromzero fit", slice(half, None))
    steady = abs(a - b) / min(a, b) <= 0.05
    print(f"fit / best hand loop: {r:.3f} wall (median of per-round ratios; first half {a:.3f}, second half "
          f"{b:.3f}: {'agree within 5%' if steady else 'DIFFER by more than 5%: too noisy for a verdict, use more --rounds'}), "
          f"{paired(cpu, 'fromzero fit'):.3f} CPU time; target <= 1.05")
    if args.keras:
        keras_epochs(args.keras, max(1, args.keras_rounds), x, y)


if __name__ == "__main__":
    main()
