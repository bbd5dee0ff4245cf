"""Generation speed: fromzero with and without its KV cache (eager, and with the decode step
compiled by ``torch.compile``), and nanoGPT's sample.py loop, side by side.

The model is nanoGPT's CPU shakespeare_char size (4 layers, 4 heads, 128 wide, vocab 65), with
context 64 as trained there, and again with context 256. Each measurement generates 500 tokens
from a one-token prompt with temperature 0.8 and top-k 200 (sample.py's settings); the three
ways alternate, and the median of ``--repeats`` is reported, per second of wall time and per
second of the process's CPU time (the latter is less disturbed by other programs on a shared machine). Weights are random unless ``--run``
names a trained run (speed does not depend on them). The compiled decode step's one-time compilation is timed apart
(the warm-up call) and printed; the tokens/s are after it. ``--no-compile`` leaves it out.

    python benchmarks/gpt_generate.py
    python benchmarks/gpt_generate.py --run runs/shakespeare --repeats 5
"""
from __future__ import annotations

import dataclasses

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nanogpt_ref import RefConfig, RefGPT  # noqa: E402

from fromzero.generate import generate  # noqa: E402
from fromzero.models.gpt import GPT, gpt_config  # noqa: E402


def tokens_per_s(fn, n_new: int) -> tuple[float, float]:
    """(tokens per second of wall time, tokens per second of this process's CPU time)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return n_new / (time.perf_counter() - t0), n_new / (time.process_time() - c0)


def measure(block_size: int, n_new: int, repeats: int, run: str | None, threads: int | None,
            compiled: bool = True) -> tuple[dict, float | None]:
    torch.manual_seed(0)
    if run:
        from fromzero.checkpoint import load_model
        model = load_model(run)
        if model.config.block_size != block_size:
            model = GPT(gpt_config("shakespeare-char", **{**dataclasses.asdict(model.config), "block_size": block_size}))
    else:
        model = GPT(gpt_config("shakespeare-char", block_size=block_size, zero_init=False))
    model.eval()
    ref = RefGPT(RefConfig(block_size=block_size, vocab_size=model.config.vocab_size)).eval()
    idx = torch.zeros(1, 1, dtype=torch.long)
    ways = {
        "fromzero, KV cache": lambda: generate(model, idx, n_new, temperature=0.8, top_k=200, seed=0,
                                               threads=threads),
        "fromzero, KV cache, compiled": lambda: generate(model, idx, n_new, temperature=0.8, top_k=200, seed=0,
                                                         threads=threads, compile=True),
        "fromzero, no cache": lambda: generate(model, idx, n_new, temperature=0.8, top_k=200, seed=0,
                                               use_cache=False, threads=threads),
        "nanoGPT sample.py loop": lambda: ref.generate(idx, n_new, temperature=0.8, top_k=200),
    }
    if not compiled:
        del ways["fromzero, KV cache, compiled"]
    compile_s = None
    for k, fn in ways.items():  # warm-up (and the one-time compilation)
        t0 = time.perf_counter()
        fn()
        if "compiled" in k:
            compile_s = time.perf_counter() - t0
    res = {k: [] for k in ways}
    for _ in range(repeats):
        for k, fn in ways.items():
            res[k].append(tokens_per_s(fn, n_new))
    return {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in res.items()}, \
        compile_s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--new-tokens", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--run", default=None, help="a trained shakespeare-char run directory (optional)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads for all three (default: each as shipped: nanoGPT uses torch's "
                         "default, fromzero its decode_threads policy)")
    ap.add_argument("--no-compile", action="store_true", help="leave out the compiled decode step")
    args = ap.parse_args()
    import os

    if args.threads:
        torch.set_num_threads(args.threads)
    from fromzero.device import describe_machine, machine

    print(f"generating {args.new_tokens} tokens, batch 1, fp32, threads "
          f"{args.threads or f'{torch.get_num_threads()} (fromzero: its own policy)'}, median of "
          f"{args.repeats}, load average {os.getloadavg()[0]:.1f}\nmachine: {describe_machine(machine())}")
    for block_size in (64, 256):
        r, compile_s = measure(block_size, args.new_tokens, args.repeats, args.run, args.threads,
                               compiled=not args.no_compile)
        print(f"context {block_size}:                     tokens/s (wall)   tokens/s (CPU time)")
        for k, (wall, cpu) in r.items():
            print(f"  {k:28s} {wall:14.0f} {cpu:18.0f}")
        if compile_s is not None:
            print(f"  (the compiled step's first call, compilation included: {compile_s:.1f} s)")
        for i, clock in enumerate(("wall", "CPU time")):
            nocache, ref = r["fromzero, no cache"][i], r["nanoGPT sample.py loop"][i]
            for k in ("fromzero, KV cache", "fromzero, KV cache, compiled"):
                if k in r:
                    print(f"  {k} ({clock}): {r[k][i] / nocache:.1f}x over no cache, "
                          f"{r[k][i] / ref:.1f}x over nanoGPT's loop")


if __name__ == "__main__":
    main()
