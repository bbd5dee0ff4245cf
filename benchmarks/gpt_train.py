"""Training speed and memory of fromzero's GPT recipe vs a nanoGPT re-implementation, side by side,
like for like: at the same precision first, then each one's default.

The configuration is nanoGPT's CPU shakespeare_char one: 4 layers, 4 heads, 128 wide, context
64, batch 12, the same tokens per step. Three comparisons, each its own alternating rounds:

- ``fp32``: both in fp32 (fromzero ``--amp off``; nanoGPT's train.py on a CPU);
- ``bf16``: both under the same CPU bf16 autocast (fromzero ``--amp on``; the reference's forward
  in ``torch.autocast("cpu", bfloat16)``, as its train.py does on a GPU). Measured only where the
  CPU computes bf16 natively (AVX512-BF16 or AMX): elsewhere bf16 is emulated, hundreds of times
  slower, and neither would use it (``--all-precisions`` measures it anyway);
- ``default``: each one's default (fromzero ``--amp auto``: bf16 where native, else fp32; the
  reference in fp32). Where the CPU has no native bf16 this is the ``fp32`` comparison, not repeated.

Each measurement runs in a fresh process (so that its peak RSS is its own), and the two alternate
(reference, fromzero, reference, ...) so that a busy machine slows both alike. The reference
reads a train.bin written by the parent process, as nanoGPT's train.py reads the output of its
prepare.py, run apart. fromzero runs its real path: ``pretrain("shakespeare",
preset="shakespeare-char")`` through the Trainer, with the validation and the checkpoint at the
end counted in its RSS, but ``plot=False``: nanoGPT draws no plot, and matplotlib's import alone
is ~20 MB (measured: +20 to +25 MB). One more run with the plot (fromzero's default) at the end
reports what history.png adds.

    python benchmarks/gpt_train.py --threads 1     # 5 rounds of 200 iterations per comparison
    python benchmarks/gpt_train.py --iters 100 --rounds 1 --only fp32
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
B, T = 12, 64


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def prepare_bin(path: Path) -> Path:
    """nanoGPT's prepare.py, in the parent process (nanoGPT runs it once, apart from train.py)."""
    import numpy as np

    from fromzero.text import load_corpus, train_tokenizer

    corpus = load_corpus("shakespeare", train_tokenizer("shakespeare"))
    np.asarray(corpus.train, dtype=np.uint16).tofile(path)
    return path


def worker_ref(iters: int, bin_path: Path, threads: int, amp: bool = False) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)

    sys.path.insert(0, str(HERE))
    from nanogpt_ref import train

    times = train(bin_path, iters, amp=amp)
    rss = peak_rss_mb()
    return {"ms": statistics.median(w for w, _ in times[10:]),
            "cpu_ms": statistics.median(c for _, c in times[10:]), "rss_mb": rss, "train_rss_mb": rss}


def worker_ours(iters: int, workdir: Path, threads: int, plot: bool = False, amp: str = "auto",
                compile: bool = False) -> dict:
    from fromzero.recipes.gpt import pretrain
    from fromzero.train import Callback

    class StepTimer(Callback):
        def __init__(self):
            self.stamps = []

        def on_batch_end(self, trainer, logs):
            self.stamps.append((time.perf_counter(), time.process_time()))

        def on_train_end(self, trainer, logs):  # runs before the Trainer's own CSV (and plot) callbacks
            self.train_rss = peak_rss_mb()

    timer = StepTimer()
    pretrain("shakespeare", preset="shakespeare-char", out=workdir / "run", max_iters=iters,
             eval_interval=iters, eval_tokens=8192, sample_tokens=0, verbose=0, callbacks=[timer],
             device="cpu", threads=threads, plot=plot, amp=amp, compile=compile)
    pairs = list(zip(timer.stamps, timer.stamps[1:]))[10:]   # (compilation happens in the first steps)
    return {"ms": statistics.median((b[0] - a[0]) * 1000 for a, b in pairs),
            "cpu_ms": statistics.median((b[1] - a[1]) * 1000 for a, b in pairs), "rss_mb": peak_rss_mb(),
            "train_rss_mb": timer.train_rss}


def run_worker(kind: str, iters: int, threads: int, bin_path: Path | None = None, amp: str = "auto",
               compile: bool = False) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", kind, "--iters", str(iters), "--amp", amp,
                          *(["--compile"] if compile else []),
                          "--threads", str(threads), *(["--bin", str(bin_path)] if bin_path else [])],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        sys.exit(f"{kind} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# comparison -> (the reference's autocast, fromzero's --amp)
COMPARISONS = {"fp32": (False, "off"), "bf16": (True, "on"), "default": (False, "auto")}


def compare(name: str, args, bin_path: Path) -> dict:
    ref_amp, our_amp = COMPARISONS[name]
    res = {"ref": [], "ours": []}
    for r in range(args.rounds):
        for kind in ("ref", "ours"):
            m = run_worker(kind, args.iters, args.threads, bin_path if kind == "ref" else None,
                           "on" if (kind == "ref" and ref_amp) else our_amp, compile=args.compile and kind == "ours")
            res[kind].append(m)
            print(f"  {name:7s} round {r + 1} {kind:4s}: {m['ms']:6.1f} ms/iter wall, {m['cpu_ms']:6.1f} ms/iter CPU  "
                  f"peak RSS {m['train_rss_mb']:.0f} MB training, {m['rss_mb']:.0f} MB whole run", flush=True)
    summary = {}
    for kind in ("ref", "ours"):
        summary[kind] = {"ms": statistics.median(m["ms"] for m in res[kind]),
                         "cpu_ms": statistics.median(m["cpu_ms"] for m in res[kind]),
                         "rss_mb": max(m["rss_mb"] for m in res[kind]),
                         "train_rss_mb": max(m["train_rss_mb"] for m in res[kind])}
    ratios = sorted(a["ms"] / b["ms"] for a, b in zip(res["ref"], res["ours"]))
    cpu_ratios = sorted(a["cpu_ms"] / b["cpu_ms"] for a, b in zip(res["ref"], res["ours"]))
    summary.update(speedup=summary["ref"]["ms"] / summary["ours"]["ms"],
                   cpu_speedup=summary["ref"]["cpu_ms"] / summary["ours"]["cpu_ms"],
                   round_ratios=ratios, round_cpu_ratios=cpu_ratios)
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=200, help="training iterations per measurement")
    ap.add_argument("--rounds", type=int, default=5, help="alternating measurements of each")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads in both (0 = torch's default; use 1 on a busy machine)")
    ap.add_argument("--only", choices=list(COMPARISONS), action="append",
                    help="run only this comparison (repeatable; default: all that apply)")
    ap.add_argument("--all-precisions", action="store_true",
                    help="measure bf16 even where the CPU emulates it (very slow)")
    ap.add_argument("--compile", action="store_true",
                    help="fromzero with --compile (torch.compile of the model; its compilation, in the first "
                         "steps, is left out of the timing, as the first 10 steps of both always are)")
    ap.add_argument("--worker", choices=["ref", "ours", "ours-plot"], help=argparse.SUPPRESS)
    ap.add_argument("--amp", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--bin", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        with tempfile.TemporaryDirectory() as d:
            if args.worker == "ref":
                m = worker_ref(args.iters, args.bin, args.threads, amp=args.amp == "on")
            else:
                m = worker_ours(args.iters, Path(d), args.threads, plot=args.worker == "ours-plot", amp=args.amp,
                                compile=args.compile)
            print(json.dumps(m))
        return
    import os

    import torch

    from fromzero.device import describe_machine, machine

    if args.threads:
        torch.set_num_threads(args.threads)
    mach = machine()
    print(f"GPT 4x4x128, context {T}, batch {B}{', fromzero compiled' if args.compile else ''}: {args.rounds} rounds x {args.iters} iterations per comparison, "
          f"load average {os.getloadavg()[0]:.1f}\nmachine: {describe_machine(mach)}")
    names = args.only or list(COMPARISONS)
    if not mach["bf16_native"] and not args.all_precisions:
        for name, why in (("bf16", "this CPU has no native bf16 (no AVX512-BF16/AMX): bf16 is emulated, and "
                                   "neither program would use it (--all-precisions measures it anyway)"),
                          ("default", "fromzero's default here is fp32 (amp auto: no native bf16): the fp32 "
                                      "comparison is the default one")):
            if name in names:
                print(f"{name}: not measured: {why}")
        names = [n for n in names if n not in ("bf16", "default")] or ["fp32"]
    workdir = tempfile.TemporaryDirectory()
    bin_path = prepare_bin(Path(workdir.name) / "train.bin")
    results = {name: compare(name, args, bin_path) for name in names}
    print()
    for name, r in results.items():
        ref_amp, our_amp = COMPARISONS[name]
        what = {"fp32": "both fp32", "bf16": "both under CPU bf16 autocast",
                "default": f"defaults: fromzero amp {our_amp} vs reference fp32"}[name]
        print(f"{name:7s} ({what}): reference {B * T / r['ref']['ms'] * 1000:6.0f} tokens/s "
              f"({r['ref']['ms']:.1f} ms/iter), fromzero {B * T / r['ours']['ms'] * 1000:6.0f} tokens/s "
              f"({r['ours']['ms']:.1f} ms/iter): {r['speedup']:.2f}x wall (rounds {r['round_ratios'][0]:.2f}-"
              f"{r['round_ratios'][-1]:.2f}), {r['cpu_speedup']:.2f}x CPU time; peak RSS training "
              f"{r['ours']['train_rss_mb']:.0f} vs {r['ref']['train_rss_mb']:.0f} MB "
              f"({r['ours']['train_rss_mb'] / r['ref']['train_rss_mb']:.3f}x)")
    plotted = run_worker("ours-plot", args.iters, args.threads)
    print(f"with history.png (fromzero's default; `--set plot=false` turns it off): peak RSS "
          f"{plotted['rss_mb']:.0f} MB for the whole run, +{plotted['rss_mb'] - plotted['train_rss_mb']:.0f} MB "
          f"over its training peak (matplotlib)")
    print("(CPU time is the steadier measure on a shared machine when running with --threads 1)")


if __name__ == "__main__":
    main()
