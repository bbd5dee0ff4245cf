"""Training speed and memory of fromzero's GPT recipe vs a nanoGPT re-implementation, side by side.

The configuration is nanoGPT's CPU shakespeare_char one: 4 layers, 4 heads, 128 wide, context
64, batch 12. Each measurement runs in a fresh process (so that its peak RSS is its own), and
the two alternate (reference, fromzero, reference, ...) so that a busy machine slows both alike.
The reference reads a train.bin written by the parent process, as nanoGPT's train.py reads the
output of its prepare.py, run apart.
fromzero runs its real path: ``pretrain("shakespeare", preset="shakespeare-char")`` through
the Trainer, with the validation and the checkpoint at the end counted in its RSS, but
``plot=False``: nanoGPT draws no plot, and matplotlib's import alone is ~20 MB (measured: +20 to +25 MB). One more run
with the plot (fromzero's default) at the end reports what history.png adds.

    python benchmarks/gpt_train.py --threads 1     # 5 rounds of 200 iterations each
    python benchmarks/gpt_train.py --iters 100 --rounds 1
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


def worker_ref(iters: int, bin_path: Path, threads: int) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)

    sys.path.insert(0, str(HERE))
    from nanogpt_ref import train

    times = train(bin_path, iters)
    rss = peak_rss_mb()
    return {"ms": statistics.median(w for w, _ in times[10:]),
            "cpu_ms": statistics.median(c for _, c in times[10:]), "rss_mb": rss, "train_rss_mb": rss}


def worker_ours(iters: int, workdir: Path, threads: int, plot: bool = False) -> dict:
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
             device="cpu", threads=threads, plot=plot)
    pairs = list(zip(timer.stamps, timer.stamps[1:]))[10:]
    return {"ms": statistics.median((b[0] - a[0]) * 1000 for a, b in pairs),
            "cpu_ms": statistics.median((b[1] - a[1]) * 1000 for a, b in pairs), "rss_mb": peak_rss_mb(),
            "train_rss_mb": timer.train_rss}


def run_worker(kind: str, iters: int, threads: int, bin_path: Path | None = None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", kind, "--iters", str(iters),
                          "--threads", str(threads), *(["--bin", str(bin_path)] if bin_path else [])],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        sys.exit(f"{kind} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=200, help="training iterations per measurement")
    ap.add_argument("--rounds", type=int, default=5, help="alternating measurements of each")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads in both (0 = torch's default; use 1 on a busy machine)")
    ap.add_argument("--worker", choices=["ref", "ours", "ours-plot"], help=argparse.SUPPRESS)
    ap.add_argument("--bin", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        with tempfile.TemporaryDirectory() as d:
            if args.worker == "ref":
                m = worker_ref(args.iters, args.bin, args.threads)
            else:
                m = worker_ours(args.iters, Path(d), args.threads, plot=args.worker == "ours-plot")
            print(json.dumps(m))
        return
    import torch

    import os

    threads = args.threads or torch.get_num_threads()
    print(f"GPT 4x4x128, context {T}, batch {B}: {args.rounds} rounds x {args.iters} iterations, "
          f"torch {torch.__version__}, {threads} threads, load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    res = {"ref": [], "ours": []}
    workdir = tempfile.TemporaryDirectory()
    bin_path = prepare_bin(Path(workdir.name) / "train.bin")
    for r in range(args.rounds):
        for kind in ("ref", "ours"):
            m = run_worker(kind, args.iters, args.threads, bin_path if kind == "ref" else None)
            res[kind].append(m)
            print(f"  round {r + 1} {kind:4s}: {m['ms']:6.1f} ms/iter wall, {m['cpu_ms']:6.1f} ms/iter CPU  "
                  f"peak RSS {m['train_rss_mb']:.0f} MB training, {m['rss_mb']:.0f} MB whole run", flush=True)
    summary = {}
    for kind, name in (("ref", "nanoGPT re-implementation"), ("ours", "fromzero pretrain")):
        ms = statistics.median(m["ms"] for m in res[kind])
        cpu = statistics.median(m["cpu_ms"] for m in res[kind])
        rss = max(m["rss_mb"] for m in res[kind])
        train_rss = max(m["train_rss_mb"] for m in res[kind])
        summary[kind] = (ms, cpu, rss, train_rss)
        print(f"{name:27s}: {B * T / ms * 1000:7.0f} tokens/s ({ms:.1f} ms/iter wall), "
              f"{B * T / cpu * 1000:7.0f} tokens per CPU-second ({cpu:.1f} ms/iter), "
              f"peak RSS {train_rss:.0f} MB training, {rss:.0f} MB whole run")
    (ms_ref, cpu_ref, rss_ref, train_ref), (ms_ours, cpu_ours, rss_ours, train_ours) = summary["ref"], summary["ours"]
    paired = [(a["ms"] / b["ms"], a["cpu_ms"] / b["cpu_ms"]) for a, b in zip(res["ref"], res["ours"])]
    print(f"speed-up, fromzero / reference: {ms_ref / ms_ours:.2f}x (wall), {cpu_ref / cpu_ours:.2f}x (CPU time); "
          f"median of the per-round ratios {statistics.median(w for w, _ in paired):.2f}x (wall), "
          f"{statistics.median(c for _, c in paired):.2f}x (CPU)")
    print(f"peak RSS ratio, fromzero / reference: {train_ours / train_ref:.3f}x during training, "
          f"{rss_ours / rss_ref:.3f}x for the whole run (fromzero's includes the final evaluation "
          f"and checkpoint; the reference has neither)")
    plotted = run_worker("ours-plot", args.iters, args.threads)
    print(f"with history.png (fromzero's default; `--set plot=false` turns it off): peak RSS "
          f"{plotted['rss_mb']:.0f} MB for the whole run, +{plotted['rss_mb'] - plotted['train_rss_mb']:.0f} MB "
          f"over its training peak (matplotlib)")
    print("(CPU time is the steadier measure on a shared machine when running with --threads 1)")


if __name__ == "__main__":
    main()
