"""The NumPy GPT (fromzero.scratch) trained to completion, and its speed next to the same model in PyTorch.

1. Trains the default ``fromzero scratch train --model gpt`` (Tiny Shakespeare characters, nanoGPT's
   CPU size: 4 layers x 4 heads x 128, context 64, batch 12) and prints the validation-loss curve,
   the final loss on the whole validation split, and the time: wall and the process's CPU
   seconds (the latter is less disturbed by other programs on a shared machine).
2. Training speed side by side: one step = forward, backward and an Adam step on a batch of
   random windows, the NumPy GPT against the same architecture in PyTorch fp32 (nanoGPT's model
   from benchmarks/nanogpt_ref.py with biases and the tanh GELU; torch.optim.Adam; gradients
   clipped to norm 1 in both). The two alternate in rounds of ``--round-steps``, so that load
   from other programs hits both alike; tokens/s is over the timed steps.

    OPENBLAS_NUM_THREADS=1 python benchmarks/scratch_gpt.py [--threads 1] [--max-iters 2000]
    python benchmarks/scratch_gpt.py --skip-training --rounds 5      # the speed comparison only
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nanogpt_ref import RefConfig, RefGPT  # noqa: E402

from fromzero.device import describe_machine, machine  # noqa: E402
from fromzero.scratch.chars import CharVocab, random_windows, read_text, split  # noqa: E402
from fromzero.scratch.gpt import GPT, GPTConfig  # noqa: E402
from fromzero.scratch.gpt_train import GPT_PRESET, train_gpt, train_step  # noqa: E402
from fromzero.scratch.optim import Adam  # noqa: E402


def numpy_step(cfg):
    model = GPT(GPTConfig(65, cfg.block_size, cfg.n_layer, cfg.n_head, cfg.n_embd))
    names = list(model.params)
    opt = Adam([model.params[k] for k in names], lr=cfg.lr, betas=(0.9, cfg.beta2))

    def step(x, y):
        train_step(model, opt, names, x, y, cfg.lr, cfg.grad_clip)
    return step


def torch_step(cfg):
    torch.manual_seed(0)
    model = RefGPT(RefConfig(block_size=cfg.block_size, vocab_size=65, n_layer=cfg.n_layer,
                             n_head=cfg.n_head, n_embd=cfg.n_embd, bias=True))
    for block in model.transformer.h:
        block.mlp.gelu = nn.GELU(approximate="tanh")  # as the NumPy GPT
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, cfg.beta2))

    def step(x, y):
        _, loss = model(torch.from_numpy(x), torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
    return step


def compare_speed(cfg, ids, rounds: int, round_steps: int) -> dict:
    """tokens/s (wall, CPU) of each, over ``rounds`` alternating rounds after one warm-up round."""
    rng = np.random.default_rng(0)
    steps = {"numpy": numpy_step(cfg), "pytorch": torch_step(cfg)}
    spent = {k: [0.0, 0.0] for k in steps}
    for r in range(rounds + 1):
        for name, step in steps.items():
            batches = [random_windows(ids, cfg.batch_size, cfg.block_size, rng) for _ in range(round_steps)]
            t0, c0 = time.perf_counter(), time.process_time()
            for x, y in batches:
                step(x, y)
            if r:  # round 0 warms up
                spent[name][0] += time.perf_counter() - t0
                spent[name][1] += time.process_time() - c0
    tokens = rounds * round_steps * cfg.batch_size * cfg.block_size
    return {k: (tokens / w, tokens / c) for k, (w, c) in spent.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-iters", type=int, default=None, help=f"default: {GPT_PRESET.max_iters}")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (NumPy's: OPENBLAS_NUM_THREADS)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--round-steps", type=int, default=10)
    ap.add_argument("--skip-training", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = GPT_PRESET
    blas = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    print(f"machine: {describe_machine(machine())}\nnumpy {np.__version__}, BLAS threads: {blas}; "
          f"load average at start {os.getloadavg()[0]:.1f}")
    print(f"GPT {cfg.n_layer} layers x {cfg.n_head} heads x {cfg.n_embd}, context {cfg.block_size}, "
          f"batch {cfg.batch_size}, lr {cfg.lr:g}")

    if not args.skip_training:
        t0, c0 = time.perf_counter(), time.process_time()
        r = train_gpt(max_iters=args.max_iters, progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print("\nvalidation loss curve (step: val loss):")
        for h in r["history"]:
            print(f"  {h['step']:5d}: {h['val_loss']:.4f}   (train {h['train_loss']:.4f})")
        print(f"final validation loss (whole split): {r['val_loss']:.4f} after {r['config'].max_iters} "
              f"steps; {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU (process), "
              f"{r['model'].n_params():,} parameters, load average now {os.getloadavg()[0]:.1f}")
        print(f"sample:\n{r['sample']}\n")

    vocab = CharVocab.from_text(text := read_text("shakespeare"))
    train_ids, _ = split(vocab.encode(text), cfg.block_size)
    speed = compare_speed(cfg, train_ids, args.rounds, args.round_steps)
    print(f"training speed, forward + backward + Adam, fp32, {args.rounds} x {args.round_steps} steps each, "
          f"alternating; torch threads {torch.get_num_threads()}:")
    for name, (w, c) in speed.items():
        print(f"  {name:8s} {w:9,.0f} tokens/s (wall)  {c:9,.0f} tokens/s (CPU)")
    (nw, nc), (tw, tc) = speed["numpy"], speed["pytorch"]
    print(f"  pytorch / numpy: {tw / nw:.2f}x (wall), {tc / nc:.2f}x (CPU)")


if __name__ == "__main__":
    main()
