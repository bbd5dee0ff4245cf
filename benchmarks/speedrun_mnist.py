"""CPU speedrun: wall time to >= 99.0% MNIST test accuracy with the tutorial's CNN exactly
(conv32-pool-conv64-pool-dense128-dense10), fromzero's speedrun recipe against the tutorial's own
recipe, side by side in one run.

- **fromzero**: ``fromzero train mnist-cnn --speedrun --seed S`` (the recipe ``make demo`` uses), the
  command a user types, in its own process, for ``--seeds`` seeds. It trains its fixed budget and
  prints the test accuracy; a seed counts when that is >= 99.0%.
- **reference**: the tutorial's recipe in the same program: Adam at a constant lr 1e-3, batch 128,
  the test set evaluated after each epoch, stopped at the first epoch >= 99.0% (at most 10 epochs):
  ``fromzero train mnist-cnn --schedule constant --lr 1e-3 --epochs 10 --stop-at-accuracy 0.99``.

Two clocks for each: **wall**, from the process start to its exit (imports, data, training, the test
evaluations, saving); and **training**, the time in training steps only (the epochs' ``time_s``). The
reference and fromzero alternate for the first ``--repeats`` seeds; medians are reported.

    python benchmarks/speedrun_mnist.py                # 5 seeds of fromzero, 3 of the reference
    python benchmarks/speedrun_mnist.py --seeds 1 --repeats 1 --threads 1
    python benchmarks/speedrun_mnist.py --ablation     # the recipe with one ingredient taken back at a time

``--ablation`` trains one epoch of each variant in ``ABLATION`` for 2 seeds (``--seeds``) and prints
a table: what each ingredient of the recipe buys in test accuracy and time.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.99
REFERENCE = ["--schedule", "constant", "--lr", "1e-3", "--batch-size", "128", "--epochs", "10"]
# --ablation: the speedrun recipe (1 epoch), then one ingredient at a time taken back
ABLATION = {
    "speedrun recipe (Muon, lr 3e-3 / 0.02, warmup + linear decay)": [],
    "Adam instead of Muon (lr 3e-3)": ["--optimizer", "adam"],
    "cosine decay instead of linear": ["--schedule", "cosine"],
    "constant lr instead of the decay": ["--schedule", "constant"],
    "the tutorial's recipe for one epoch (Adam 1e-3, constant)": ["--optimizer", "adam", "--lr", "1e-3",
                                                                   "--schedule", "constant"],
}


def run(kind: str, seed: int, threads: int, work: Path, target: float, extra: list[str]) -> dict:
    out = work / f"{kind}-{seed}"
    recipe = ["--speedrun", *extra] if kind == "ours" else [*REFERENCE, "--stop-at-accuracy", str(target)]
    cmd = [sys.executable, "-m", "fromzero", "train", "mnist-cnn", *recipe, "--seed", str(seed),
           "--out", str(out), "--overwrite"]
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode:
        sys.exit(f"{kind} failed ({' '.join(cmd)}):\n{p.stderr[-3000:]}")
    rows = list(csv.DictReader((out / "history.csv").open()))
    acc = json.loads((out / "metrics.json").read_text())["test_accuracy"]
    return {"wall_s": wall, "train_s": sum(float(r["time_s"]) for r in rows), "epochs": len(rows),
            "accuracy": acc}


def ablation(args) -> int:
    seeds = args.seeds
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name, change in ABLATION.items():
            ms = [run("ours", seed, args.threads, Path(d), args.target, [*change, *args.set]) for seed in range(seeds)]
            rows.append((name, change, ms))
            print(f"  {name}: test {', '.join(format(m['accuracy'], '.2%') for m in ms)}; training "
                  f"{statistics.median(m['train_s'] for m in ms):.1f} s", flush=True)
    print(f"\n| one epoch of | test accuracy (seeds 0-{seeds - 1}) | mean | training s | change |")
    print("| --- | --- | ---: | ---: | --- |")
    for name, change, ms in rows:
        accs = [m["accuracy"] for m in ms]
        print(f"| {name} | {' / '.join(format(a, '.2%') for a in accs)} | {statistics.mean(accs):.2%} | "
              f"{statistics.median(m['train_s'] for m in ms):.1f} | `{' '.join(change) or '--speedrun'}` |")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=None, help="fromzero runs, seeds 0..N-1 (default 5; 2 with --ablation)")
    ap.add_argument("--repeats", type=int, default=3, help="reference runs, alternating with fromzero's (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="threads of each process (default 2)")
    ap.add_argument("--target", type=float, default=TARGET, help="test accuracy to reach (default %(default)s)")
    ap.add_argument("--ablation", action="store_true", help="instead: the ablation table (ABLATION, 2 seeds each)")
    ap.add_argument("--set", action="append", default=[], metavar="OPTION",
                    help="more options for fromzero's command, e.g. --set=--epochs=2 (to try a recipe change)")
    args = ap.parse_args(argv)
    args.seeds = args.seeds or (2 if args.ablation else 5)
    from fromzero.device import describe_machine, machine

    what = (f"ablation, {args.seeds} seed(s) of each variant" if args.ablation else
            f"{args.seeds} seeds of fromzero --speedrun, {args.repeats} of the tutorial recipe")
    print(f"MNIST speedrun to test accuracy >= {args.target:.1%}, the tutorial's CNN; {what}; "
          f"load average {os.getloadavg()[0]:.1f}\n"
          f"machine: {describe_machine(machine())}; precision fp32", flush=True)
    if args.ablation:
        return ablation(args)
    res = {"ours": [], "ref": []}
    with tempfile.TemporaryDirectory() as d:
        for seed in range(max(args.seeds, args.repeats)):
            for kind in ("ref", "ours"):
                if seed >= (args.repeats if kind == "ref" else args.seeds):
                    continue
                m = run(kind, seed, args.threads, Path(d), args.target, args.set)
                res[kind].append(m)
                print(f"  seed {seed} {'tutorial' if kind == 'ref' else 'fromzero':8s}: test {m['accuracy']:.2%} "
                      f"after {m['epochs']} epoch{'s' * (m['epochs'] > 1)}; training {m['train_s']:5.1f} s, "
                      f"wall {m['wall_s']:5.1f} s", flush=True)
    print()
    for kind, name in (("ours", "fromzero --speedrun"), ("ref", "tutorial recipe")):
        ms = res[kind]
        if not ms:
            continue
        hits = sum(m["accuracy"] >= args.target for m in ms)
        print(f"{name:20s}: {hits} of {len(ms)} seeds >= {args.target:.1%}; median training "
              f"{statistics.median(m['train_s'] for m in ms):.1f} s, wall {statistics.median(m['wall_s'] for m in ms):.1f} s"
              f"; accuracy {', '.join(format(m['accuracy'], '.2%') for m in ms)}")
    if res["ref"] and res["ours"]:
        ours, ref = (statistics.median(m["wall_s"] for m in res[k]) for k in ("ours", "ref"))
        t_ours, t_ref = (statistics.median(m["train_s"] for m in res[k]) for k in ("ours", "ref"))
        print(f"ratio: {ours / ref:.3f} of the tutorial recipe's wall time ({ref / ours:.1f}x faster), "
              f"{t_ours / t_ref:.3f} of its training time; target <= 10 s of training on 2 cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
