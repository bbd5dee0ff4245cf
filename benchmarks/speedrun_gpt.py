"""CPU speedrun: wall time to validation loss <= 1.8857 on Tiny Shakespeare (characters), fromzero's
speedrun recipe against nanoGPT's README CPU command, side by side in one run.

The finish line is nanoGPT's own CPU result: its README's command (4 layers, 4 heads, 128 wide,
context 64, batch 12, 2,000 iterations, lr 1e-3 -> 1e-4, no dropout) ends at validation loss ~1.88.
Both sides are scored by one evaluator: the whole validation split (the last 10% of the characters,
nanoGPT's split) in non-overlapping windows of each model's training context, every token predicted
once (``fromzero.text.data.eval_batches``).

- **reference**: ``benchmarks/nanogpt_ref.py`` (nanoGPT's train.py loop re-implemented; nanoGPT is
  not installed here), with the command's settings and its evaluations (``estimate_loss``, 20
  batches, every 250 iterations). Its weights at each of those evaluations, and at the end, are
  scored afterwards by the evaluator above; its time is from the process start to the first of
  those points whose weights reach the target (the scoring itself not counted: nanoGPT does not
  score this way), or to its end. When even its final model misses the target, the script says so.
- **fromzero**: ``fromzero pretrain gpt --preset PRESET --stop-at-loss 1.8857``, the command a user
  types, in its own process; the clock runs from the process start to its exit. The preset's
  recipe evaluates the whole validation split (``eval_tokens=0``) and stops at the first evaluation
  at or below the target; the evaluations count in its time. Its saved model is then scored again by
  the evaluator, which must agree.

The two alternate (reference, fromzero, ...), ``--repeats`` times, repeat r with seed 1337 + r on
both sides; the ratio is that of the medians. Both run in fp32 (``--amp off`` for fromzero: the
reference's CPU default), like for like; ``--amp auto`` gives fromzero its default (bf16 autocast
on CPUs with native bf16).

    python benchmarks/speedrun_gpt.py                  # 3 repeats each (~6 min on 2 cores)
    python benchmarks/speedrun_gpt.py --repeats 1 --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = 1.8857          # nanoGPT README: "we get a val loss of 1.88" (its CPU command); the figure
# nanoGPT's README CPU command (config/train_shakespeare_char.py with these overrides)
REF = dict(iters=2001, batch_size=12, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0,
           learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, lr_decay_iters=2000, beta2=0.99,
           eval_interval=250, eval_iters=20)


def prepare(folder: Path) -> dict:
    """nanoGPT's prepare.py: the characters as uint16 token files, train (90%) and val (10%)."""
    import numpy as np

    from fromzero.text import load_corpus, train_tokenizer

    corpus = load_corpus("shakespeare", train_tokenizer("shakespeare"))
    paths = {"train": folder / "train.bin", "val": folder / "val.bin"}
    np.asarray(corpus.train, dtype=np.uint16).tofile(paths["train"])
    np.asarray(corpus.val, dtype=np.uint16).tofile(paths["val"])
    return {k: str(v) for k, v in paths.items()}


def score(model, val_tokens, block_size: int) -> float:
    """Mean next-token loss over the whole validation split, non-overlapping windows of ``block_size``."""
    import torch
    import torch.nn.functional as F

    from fromzero.text.data import eval_batches

    total, n = 0.0, 0
    model.eval()
    with torch.no_grad():
        for x, y in eval_batches(val_tokens, block_size, batch_size=64):
            out = model(x)
            logits = out[0] if isinstance(out, tuple) else out
            total += F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), reduction="sum").item()
            n += y.numel()
    return total / n


def worker_ref(paths: dict, threads: int, out: Path, iters: int, seed: int) -> None:
    """The reference's process: import, train as nanoGPT's command does, save its weights at each
    evaluation (with the wall-clock time then) and at the end."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    sys.path.insert(0, str(HERE))
    from nanogpt_ref import train

    keep = {}
    train(paths["train"], val_path=paths["val"], keep=keep, seed=seed, **dict(REF, iters=iters))
    torch.save({"evals": keep.get("evals", []), "final": (iters, time.time(), keep["model"].state_dict())},
               out / "ref.pt")


def run_ref(paths: dict, threads: int, work: Path, iters: int, seed: int, target: float) -> dict:
    t0, start = time.perf_counter(), time.time()
    p = subprocess.run([sys.executable, __file__, "--worker", "ref", "--paths", json.dumps(paths),
                        "--threads", str(threads), "--work", str(work), "--ref-iters", str(iters),
                        "--seed", str(seed)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode:
        sys.exit(f"reference failed:\n{p.stderr[-3000:]}")
    import numpy as np
    import torch

    sys.path.insert(0, str(HERE))
    from nanogpt_ref import RefConfig, RefGPT

    model = RefGPT(RefConfig(**{k: REF[k] for k in ("block_size", "n_layer", "n_head", "n_embd", "dropout")}))

    class Logits(torch.nn.Module):          # the reference returns (logits, loss); logits of all positions
        def forward(self, idx):
            return model(idx, torch.zeros_like(idx))[0]

    val = np.fromfile(paths["val"], dtype=np.uint16).astype(np.int64)
    saved = torch.load(work / "ref.pt")
    for it, when, state in [*saved["evals"][1:], saved["final"]]:     # in order; iteration 0 is untrained
        model.load_state_dict(state)
        loss = score(Logits(), val, REF["block_size"])
        final = it == saved["final"][0]
        if loss <= target or final:
            return {"wall_s": wall if final else when - start, "loss": loss, "steps": it - (1 if final else 0),
                    "reached": loss <= target, "total_s": wall}


def run_ours(preset: str, threads: int, work: Path, target: float, extra: list[str], seed: int, amp: str) -> dict:
    out = work / "ours"
    cmd = [sys.executable, "-m", "fromzero", "pretrain", "gpt", "--preset", preset, "--out", str(out),
           "--overwrite", "--stop-at-loss", str(target), "--seed", str(seed), "--amp", amp,
           *(["--threads", str(threads)] if threads else []), *extra]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode:
        sys.exit(f"fromzero failed ({' '.join(cmd)}):\n{p.stderr[-3000:]}")
    from fromzero.checkpoint import load_model
    from fromzero.text import load_corpus
    from fromzero.text.tokenizer import load_tokenizer

    hist = (out / "history.csv").read_text().splitlines()
    header, last = hist[0].split(","), hist[-1].split(",")
    row = dict(zip(header, last))
    model = load_model(out)
    val = load_corpus("shakespeare", load_tokenizer(out)).val
    loss = score(model, val, model.config.block_size)
    return {"wall_s": wall, "loss": loss, "steps": int(row["step"]), "reached": loss <= target,
            "loss_at_stop": float(row["val_loss"]),
            "train_s": sum(float(dict(zip(header, r.split(",")))["time_s"]) for r in hist[1:])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="shakespeare-speedrun", help="fromzero's GPT preset (default %(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs of each (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads in both (default 2)")
    ap.add_argument("--target", type=float, default=TARGET, help="validation loss to reach (default %(default)s)")
    ap.add_argument("--no-ref", action="store_true", help="time fromzero only (no ratio)")
    ap.add_argument("--amp", choices=("off", "auto"), default="off",
                    help="fromzero's precision: off = fp32 like the reference (default); auto = its default")
    ap.add_argument("--ref-iters", type=int, default=REF["iters"],
                    help="the reference's iterations (default %(default)s, its command's; fewer only for a smoke test)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="passed on to fromzero pretrain gpt (to try a recipe change)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--paths", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=1337, help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker == "ref":
        worker_ref(json.loads(args.paths), args.threads, Path(args.work), args.ref_iters, args.seed)
        return 0
    import torch

    from fromzero.device import describe_machine, machine

    torch.set_num_threads(args.threads)
    mach = machine()
    print(f"GPT speedrun to validation loss <= {args.target} (Tiny Shakespeare, characters, whole val split); "
          f"{args.repeats} alternating repeats; load average {os.getloadavg()[0]:.1f}\n"
          f"machine: {describe_machine(mach)}; precision: reference fp32, fromzero "
          f"{'bf16 autocast (its default here)' if args.amp == 'auto' and mach['bf16_native'] else 'fp32'}",
          flush=True)
    extra = [a for kv in args.set for a in ("--set", kv)]
    res = {"ref": [], "ours": []}
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        paths = prepare(work)
        for r in range(args.repeats):
            for kind in ("ref", "ours"):
                if kind == "ref" and args.no_ref:
                    continue
                seed = 1337 + r
                m = run_ref(paths, args.threads, work, args.ref_iters, seed, args.target) if kind == "ref" else \
                    run_ours(args.preset, args.threads, work, args.target, extra, seed, args.amp)
                res[kind].append(m)
                stop = "reached" if kind == "ours" and m["loss_at_stop"] <= args.target else "NOT reached: last"
                what = (f"{m['steps']} steps, {stop} {m['loss_at_stop']:.4f} at its own evaluation, training "
                        f"{m['train_s']:.1f} s" if kind == "ours" else
                        f"{'reached' if m['reached'] else 'NOT reached'} after {m['steps']} iterations; the "
                        f"whole command {m['total_s']:.1f} s")
                print(f"  repeat {r + 1} {'reference' if kind == 'ref' else 'fromzero':9s}: {m['wall_s']:6.1f} s "
                      f"wall, val loss {m['loss']:.4f} ({what})", flush=True)
    ours = statistics.median(m["wall_s"] for m in res["ours"])
    hits = sum(m["reached"] for m in res["ours"])
    changed = f" with --set {' '.join(args.set)}" if args.set else ""
    print(f"\nfromzero ({args.preset}{changed}): median {ours:.1f} s from process start to its stop; {hits} of "
          f"{len(res['ours'])} runs reached val loss <= {args.target} by the evaluator")
    if res["ref"]:
        ref = statistics.median(m["wall_s"] for m in res["ref"])
        ref_hits = sum(m["reached"] for m in res["ref"])
        print(f"reference (nanoGPT README CPU command): median {ref:.1f} s from process start to the first of its "
              f"evaluation points at or below the target (or its end); {ref_hits} of {len(res['ref'])} reached it; "
              f"val losses {', '.join(format(m['loss'], '.4f') for m in res['ref'])}")
        print(f"ratio: fromzero takes {ours / ref:.3f} of the reference's wall time (target <= 0.2)"
              + (f"; {ref / ours:.1f}x faster" if hits == len(res["ours"]) else ""))
        if hits < len(res["ours"]) or ref_hits < len(res["ref"]):
            print(f"WARNING: not every run reached the target (fromzero {hits} of {len(res['ours'])}, reference "
                  f"{ref_hits} of {len(res['ref'])}): the ratio compares runs that did not all finish")
    return 0


if __name__ == "__main__":
    sys.exit(main())
