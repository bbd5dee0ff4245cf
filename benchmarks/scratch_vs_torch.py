"""Training speed of the NumPy CNN (fromzero.scratch) next to the same CNN in PyTorch.

Same architecture (conv 5x5, 16 filters, padding 2 -> ReLU -> max-pool 2 -> dense 10), same
batches of real MNIST images, same optimiser (Adam), measured in one run on this machine.
The ratio is informative, not a target: PyTorch's fused, multi-threaded kernels versus a page of
NumPy.

    python benchmarks/scratch_vs_torch.py [--steps 40] [--batch-size 128] [--width 16]

On a machine shared with other jobs, BLAS threads can hurt more than help; compare with
``OPENBLAS_NUM_THREADS=1`` (NumPy) and ``--torch-threads 1``.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch import nn

from fromzero.datasets import load_mnist
from fromzero.scratch import Adam, softmax_cross_entropy_backward, softmax_cross_entropy_forward
from fromzero.scratch.train import build_model, prepare


def numpy_step(model, opt):
    def step(x, y):
        _, cache = softmax_cross_entropy_forward(model.forward(x), y)
        model.backward(softmax_cross_entropy_backward(cache), need_dx=False)
        opt.step(model.grads())
    return step


def torch_step(model, opt):
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    return step


def samples_per_s(step, batches, warmup: int = 3) -> float:
    for x, y in batches[:warmup]:
        step(x, y)
    t0 = time.perf_counter()
    for x, y in batches[warmup:]:
        step(x, y)
    return sum(len(y) for _, y in batches[warmup:]) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=40, help="timed steps per framework (default: 40)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--width", type=int, default=16, help="conv filters (default: 16)")
    ap.add_argument("--torch-threads", type=int, default=None, help="default: torch's choice")
    args = ap.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    n = (args.steps + 3) * args.batch_size
    images, labels = load_mnist("train")
    x = prepare(images[:n], "cnn")  # (n, 1, 28, 28) float32
    y = labels[:n]
    chunks = [(x[i:i + args.batch_size], y[i:i + args.batch_size])
              for i in range(0, n, args.batch_size)]

    net = build_model("cnn", args.width, seed=0)
    np_rate = samples_per_s(numpy_step(net, Adam(net.params(), lr=2e-3)), chunks)

    torch.manual_seed(0)
    tnet = nn.Sequential(nn.Conv2d(1, args.width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(args.width * 14 * 14, 10))
    tchunks = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in chunks]
    t_rate = samples_per_s(torch_step(tnet, torch.optim.Adam(tnet.parameters(), lr=2e-3)), tchunks)

    blas = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    print(f"CNN conv{args.width}-relu-maxpool-dense10, batch {args.batch_size}, "
          f"{args.steps} timed training steps each, {os.cpu_count()} CPUs")
    rows = [(f"numpy {np.__version__} (fromzero.scratch), BLAS threads: {blas}", np_rate),
            (f"pytorch {torch.__version__}, threads: {torch.get_num_threads()}", t_rate)]
    width = max(len(name) for name, _ in rows)
    for name, rate in rows:
        print(f"  {name:<{width}}  {rate:9,.0f} samples/s")
    print(f"  pytorch / numpy: {t_rate / np_rate:.2f}x")


if __name__ == "__main__":
    main()
