"""A character-level LSTM vs the GPT on Tiny Shakespeare: same pipeline, parameter count and training time.

Both train through ``fromzero.recipes.gpt.pretrain`` (the same data windows of 64 characters,
tokenizer, Trainer, AdamW, cosine schedule, gradient clipping and exact validation loss over
the whole validation split). The GPT runs its ``shakespeare-char`` recipe (4 layers x 128,
2,000 steps of 12 windows). The LSTM (2 layers, 243 units, the same parameter count within
0.2%) gets the same training time: its steps are counted from its measured time per step,
measured right after the GPT's run (so that both see the same machine load), and the reported
train times are the measured ones.

    python benchmarks/rnn_vs_gpt.py                        # the full comparison (~15 min on 1 core)
    python benchmarks/rnn_vs_gpt.py --gpt-iters 300        # a quick look
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LSTM_RECIPE = dict(lr=1e-2)  # = the LSTM preset's recipe (fromzero.models.rnn_lm.RECIPES), stated here explicitly


def history(run: Path) -> list[dict]:
    return list(csv.DictReader(open(run / "history.csv")))


def train(family: str, out: Path, iters: int, extra: dict, threads: int) -> dict:
    """One pre-training run in this process: final val loss, train seconds (validation excluded), steps."""
    import torch

    torch.set_num_threads(threads)
    from fromzero.recipes.gpt import pretrain

    eval_interval = max(1, iters // 8)
    pretrain("shakespeare", preset="shakespeare-char", out=out, family=family, verbose=0, sample_tokens=0,
             device="cpu", max_iters=iters, eval_interval=eval_interval, warmup=min(100, iters // 10),
             **extra)
    rows = history(out)
    spec = json.loads((out / "model.json").read_text())
    from fromzero.checkpoint import load_model

    n = sum(p.numel() for p in load_model(out).parameters())
    return {"val_loss": float(rows[-1]["val_loss"]), "train_s": sum(float(r["time_s"]) for r in rows),
            "steps": int(spec["step"]), "params": n, "curve": [float(r["val_loss"]) for r in rows]}


def step_time(family: str, extra: dict, threads: int, steps: int = 40) -> float:
    """Seconds per optimizer step of ``family`` (median of ``steps`` after 5 warm-up steps)."""
    import statistics

    import torch

    torch.set_num_threads(threads)
    from fromzero.recipes.gpt import pretrain
    from fromzero.train import Callback

    class Timer(Callback):
        stamps: list = []

        def on_batch_end(self, trainer, logs):
            self.stamps.append(time.perf_counter())

    timer = Timer()
    with tempfile.TemporaryDirectory() as d:
        pretrain("shakespeare", preset="shakespeare-char", out=Path(d), family=family, verbose=0,
                 sample_tokens=0, device="cpu", max_iters=steps + 5, eval_interval=steps + 5,
                 eval_tokens=4096, callbacks=[timer], **extra)
    dts = [b - a for a, b in zip(timer.stamps[5:], timer.stamps[6:])]
    return statistics.median(dts)


def worker(args) -> None:
    extra = json.loads(args.extra)
    if args.worker == "time":
        print(json.dumps({"s_per_step": step_time(args.family, extra, args.threads)}))
    else:
        print(json.dumps(train(args.family, Path(args.out), args.iters, extra, args.threads)))


def run(*argv) -> dict:
    out = subprocess.run([sys.executable, __file__, *map(str, argv)], capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpt-iters", type=int, default=2000, help="the GPT's steps (its recipe: 2000)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both (default: 1)")
    ap.add_argument("--out", default=None, help="keep the two runs in this folder")
    ap.add_argument("--worker", choices=["time", "train"], help=argparse.SUPPRESS)
    ap.add_argument("--family", help=argparse.SUPPRESS)
    ap.add_argument("--iters", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--extra", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    root = Path(args.out or tempfile.mkdtemp(prefix="rnn_vs_gpt-"))
    common = ["--threads", args.threads]
    print(f"Tiny Shakespeare, characters, context 64, batch 12, {args.threads} thread(s)", flush=True)
    gpt = run("--worker", "train", "--family", "gpt", "--iters", args.gpt_iters, "--out", root / "gpt", *common)
    print(f"GPT : {gpt['params']:,} params, {gpt['steps']} steps in {gpt['train_s']:.0f} s, "
          f"val loss {gpt['val_loss']:.4f}", flush=True)
    t_gpt = run("--worker", "time", "--family", "gpt", *common)["s_per_step"]
    t_lstm = run("--worker", "time", "--family", "lstm", "--extra", json.dumps(LSTM_RECIPE), *common)["s_per_step"]
    iters = max(1, round(args.gpt_iters * t_gpt / t_lstm))
    print(f"step time, measured side by side: GPT {t_gpt * 1000:.0f} ms, LSTM {t_lstm * 1000:.0f} ms "
          f"-> the LSTM gets {iters} steps", flush=True)
    lstm = run("--worker", "train", "--family", "lstm", "--iters", iters, "--out", root / "lstm",
               "--extra", json.dumps(LSTM_RECIPE), *common)
    print(f"LSTM: {lstm['params']:,} params, {lstm['steps']} steps in {lstm['train_s']:.0f} s, "
          f"val loss {lstm['val_loss']:.4f}")
    print(f"\n{'model':6s}{'params':>10s}{'steps':>8s}{'train s':>9s}{'val loss':>10s}")
    for name, r in (("GPT", gpt), ("LSTM", lstm)):
        print(f"{name:6s}{r['params']:>10,}{r['steps']:>8d}{r['train_s']:>9.0f}{r['val_loss']:>10.4f}")
    print(f"LSTM - GPT val loss: {lstm['val_loss'] - gpt['val_loss']:+.4f}; params ratio "
          f"{lstm['params'] / gpt['params']:.3f}; train-time ratio {lstm['train_s'] / gpt['train_s']:.2f}")
    print(f"runs in {root}")


if __name__ == "__main__":
    main()
