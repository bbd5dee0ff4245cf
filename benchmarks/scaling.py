"""Scaling, measured: GPTs of several sizes trained for several token budgets, a fit of
``L(N, D) = E + A/N^alpha + B/D^beta`` (Chinchilla's approach 3, ``fromzero.scaling``), and the
fit's prediction for a larger held-out run, then trained and compared.

Every run goes through ``fromzero.recipes.gpt.pretrain`` (the library behind ``fromzero pretrain
gpt``): character level, context 64, batch 16 (1,024 tokens per step), AdamW at 3e-3 with a
warmup of a tenth of the steps (at most 100) and a cosine decay to the end of **its own** budget,
one run per (size, budget) as Chinchilla's approach 3 asks. The loss is the final validation loss
on the whole validation split (the last 10% of the corpus, every token scored once). ``N`` counts
the non-embedding parameters (``fromzero.scaling`` says why), ``D`` the training tokens.

The held-out run (a model larger than any fitted one) is predicted from the fit *before* it is
trained; the script then trains it and prints prediction, measurement and relative error.

    python benchmarks/scaling.py                             # Tiny Shakespeare: 5 sizes x 4 budgets + held-out
    python benchmarks/scaling.py --corpus tang-poems         # the Tang poems: 5 sizes x 3 budgets + held-out (slow)
    python benchmarks/scaling.py --from benchmarks/results/scaling_shakespeare.json   # refit, replot: no training
    python benchmarks/scaling.py --quick                     # a smoke test: 2 tiny sizes, seconds

Results go to ``runs/scaling/<corpus>.json`` after every run (a rerun skips the runs already there);
``--save-law`` writes the fit to the package (``fromzero.scaling.default_law``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK, BATCH = 64, 16
# (n_layer, n_head, n_embd): ~25k to ~440k non-embedding parameters, about 2x apart
SIZES = [(2, 2, 32), (2, 4, 48), (3, 4, 56), (4, 4, 72), (4, 4, 96)]
HELD_OUT_SIZE = (4, 4, 128)             # the "shakespeare-char" preset: ~790k, 1.8x the largest fitted
BUDGETS = {"shakespeare": [125, 250, 500, 1000], "tang-poems": [125, 250, 500]}   # optimizer steps
HELD_OUT_STEPS = {"shakespeare": 1000, "tang-poems": 500}
PRESET = {"shakespeare": "shakespeare-char", "tang-poems": "tang-char"}
QUICK_SIZES, QUICK_BUDGETS = [(1, 2, 16), (2, 2, 32)], [20, 40, 80]


def non_embedding_params(size, vocab_size: int) -> int:
    """Parameters of the GPT of this size, less its token embedding (tied to the output layer)."""
    from fromzero.models.configs import gpt_config
    from fromzero.models.gpt import GPT

    n_layer, n_head, n_embd = size
    model = GPT(gpt_config("shakespeare-char", n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                           block_size=BLOCK, vocab_size=vocab_size))
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith(("wte.", "wpe.")))


def train_one(corpus: str, size, steps: int, threads: int, workdir: Path) -> dict:
    from fromzero.io import read_json
    from fromzero.recipes.gpt import pretrain

    n_layer, n_head, n_embd = size
    t0, c0 = time.perf_counter(), time.process_time()
    out = pretrain(corpus, preset=PRESET[corpus], out=workdir / f"{n_layer}x{n_head}x{n_embd}-{steps}", verbose=0,
                   n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=BLOCK, batch_size=BATCH,
                   max_iters=steps, eval_interval=steps, eval_tokens=0, warmup=min(100, steps // 10),
                   lr=3e-3, min_lr_ratio=0.1, sample_tokens=0, plot=False, threads=threads, device="cpu",
                   amp="off", dropout=0.0)
    spec = read_json(out / "model.json")
    vocab = spec["config"]["vocab_size"]
    return {"n_layer": n_layer, "n_head": n_head, "n_embd": n_embd, "steps": steps,
            "N": non_embedding_params(size, vocab), "D": steps * BATCH * BLOCK, "loss": spec["val_loss"],
            "vocab_size": vocab, "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0, 1)}


def run_grid(corpus: str, grid, results_path: Path, threads: int, label: str) -> list[dict]:
    """Train every (size, steps) in ``grid`` missing from the results file; save after each run."""
    from tqdm import tqdm

    from fromzero.io import save_json

    data = json.loads(results_path.read_text()) if results_path.is_file() else {"runs": []}
    done = {(r["n_layer"], r["n_head"], r["n_embd"], r["steps"], r.get("role", "fit")) for r in data["runs"]}
    todo = [(s, n) for s, n in grid if (*s, n, label) not in done]
    with tempfile.TemporaryDirectory() as tmp:
        for size, steps in tqdm(todo, desc=f"{corpus} {label} runs", file=sys.stderr):
            r = {**train_one(corpus, size, steps, threads, Path(tmp)), "role": label}
            data["runs"].append(r)
            save_json(results_path, data)
            tqdm.write(f"  {label:8s} {size[0]}x{size[1]}x{size[2]:<4d} N={r['N']:>8,d}  D={r['D']:>9,d}  "
                       f"val loss {r['loss']:.4f}  ({r['wall_s']:.0f} s wall, {r['cpu_s']:.0f} s CPU)",
                       file=sys.stderr)
    return data["runs"]


def fit(runs: list[dict], corpus: str):
    from fromzero.scaling import fit_scaling_law

    pts = [r for r in runs if r.get("role", "fit") == "fit"]
    return fit_scaling_law([r["N"] for r in pts], [r["D"] for r in pts], [r["loss"] for r in pts],
                           meta={"corpus": corpus, "tokenizer": "char", "block_size": BLOCK, "batch_size": BATCH,
                                 "N": "non-embedding parameters", "D": "training tokens",
                                 "grid": sorted({f"{r['n_layer']}x{r['n_head']}x{r['n_embd']}" for r in pts}),
                                 "steps": sorted({r["steps"] for r in pts}),
                                 "source": "benchmarks/scaling.py"})


def plot(runs: list[dict], law, held, path: Path, corpus: str) -> None:
    import matplotlib  # lazy: only when plotting

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: only when plotting
    import numpy as np

    pts = [r for r in runs if r.get("role", "fit") == "fit"]
    Ns, Ds = sorted({r["N"] for r in pts}), sorted({r["D"] for r in pts})
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(Ns), len(Ds))))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    d_grid = np.geomspace(min(Ds) / 1.5, max(Ds) * 1.5, 100)
    for c, n in zip(colors, Ns):
        rs = [r for r in pts if r["N"] == n]
        ax1.plot([r["D"] for r in rs], [r["loss"] for r in rs], "o", color=c, label=f"N = {n / 1e3:.0f}k")
        ax1.plot(d_grid, law.loss(n, d_grid), "-", color=c, lw=1)
    n_grid = np.geomspace(min(Ns) / 1.5, max([h["N"] for h in held] + Ns) * 1.5, 100)
    for c, d in zip(colors, Ds):
        rs = [r for r in pts if r["D"] == d]
        ax2.plot([r["N"] for r in rs], [r["loss"] for r in rs], "o", color=c, label=f"D = {d / 1e6:.2g}M")
        ax2.plot(n_grid, law.loss(n_grid, d), "-", color=c, lw=1)
    for i, h in enumerate(held):
        for ax, x in ((ax1, h["D"]), (ax2, h["N"])):
            ax.plot([x], [h["predicted"]], "x", color="red", ms=10, mew=2, label=None if i else "held-out: predicted")
            ax.plot([x], [h["loss"]], "*", color="red", ms=12, label=None if i else "held-out: measured")
    for n in sorted({h["N"] for h in held}):
        ax1.plot(d_grid, law.loss(n, d_grid), "--", color="red", lw=1)
    ax1.set(xscale="log", xlabel="training tokens D", ylabel="validation loss (nats/char)",
            title="loss vs tokens, per model size")
    ax2.set(xscale="log", xlabel="non-embedding parameters N", ylabel="validation loss (nats/char)",
            title="loss vs size, per token budget")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle(f"{corpus}: {law}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(runs, law, corpus: str) -> list[dict]:
    print(f"\nfitted on {sum(r.get('role', 'fit') == 'fit' for r in runs)} runs: {law}")
    print(f"  E = {law.E:.4f}  A = {law.A:.4g}  alpha = {law.alpha:.4f}  B = {law.B:.4g}  beta = {law.beta:.4f}"
          f"   (Chinchilla, 2022: E = 1.69, alpha = 0.34, beta = 0.28)")
    print(f"{'size':>10s} {'N':>9s} {'D':>10s} {'loss':>7s} {'fit':>7s} {'error':>7s}")
    for r in sorted(runs, key=lambda r: (r.get("role", "fit") != "fit", r["N"], r["D"])):
        pred = law.loss(r["N"], r["D"])
        print(f"{r['n_layer']}x{r['n_head']}x{r['n_embd']:<5d} {r['N']:>9,d} {r['D']:>10,d} {r['loss']:7.4f} "
              f"{pred:7.4f} {100 * (pred - r['loss']) / r['loss']:+6.2f}%  {r.get('role', 'fit')}")
    for c in (1e13, 1e14, 1e15):
        n, d = law.compute_optimal(c)
        print(f"compute-optimal at C = {c:.0e} FLOPs: N* = {n:,.0f}, D* = {d:,.0f} "
              f"({law.tokens_per_parameter(c):.1f} tokens per parameter), loss {law.loss(n, d):.3f}")
    held = [{**r, "predicted": law.loss(r["N"], r["D"])} for r in runs if r.get("role") == "held-out"]
    for h in held:
        err = h["relative_error"] = (h["predicted"] - h["loss"]) / h["loss"]
        print(f"held-out {h['n_layer']}x{h['n_head']}x{h['n_embd']} (N = {h['N']:,}, D = {h['D']:,}): "
              f"predicted {h['predicted']:.4f}, measured {h['loss']:.4f}, relative error {100 * err:+.2f}% "
              f"({'within' if abs(err) <= 0.05 else 'outside'} the 5% target)")
    return held


def size_arg(text: str) -> tuple:
    try:
        n_layer, n_head, n_embd = (int(v) for v in text.split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAYERSxHEADSxWIDTH such as 4x4x96, got {text!r}") from None
    return n_layer, n_head, n_embd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="shakespeare", choices=list(PRESET))
    ap.add_argument("--from", dest="source", type=Path, help="refit the runs in this results file, train nothing")
    ap.add_argument("--results", type=Path, help="results file (default runs/scaling/<corpus>.json)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (1 on a shared machine)")
    ap.add_argument("--plot", type=Path, help="figure (default docs/img/scaling_<corpus>.png)")
    ap.add_argument("--save-law", action="store_true",
                    help="write the fit to src/fromzero/_data/scaling/<corpus>.json (fromzero.scaling.default_law)")
    ap.add_argument("--steps", type=int, nargs="+", help="the token budgets, in optimizer steps of "
                    f"{BATCH * BLOCK:,} tokens (default {BUDGETS})")
    ap.add_argument("--sizes", type=size_arg, nargs="+", help="model sizes to fit, LAYERSxHEADSxWIDTH "
                    f"(default {' '.join('x'.join(map(str, s)) for s in SIZES)})")
    ap.add_argument("--held-out-size", type=size_arg, help=f"the held-out model (default {'x'.join(map(str, HELD_OUT_SIZE))})")
    ap.add_argument("--held-out-steps", type=int, help=f"the held-out run's steps (default {HELD_OUT_STEPS}; 0: none)")
    ap.add_argument("--quick", action="store_true", help="2 tiny sizes x 3 short budgets: a smoke test")
    args = ap.parse_args()

    import torch

    from fromzero.device import describe_machine
    from fromzero.scaling import DEFAULT_LAWS

    corpus = args.corpus
    short = "shakespeare" if corpus == "shakespeare" else "tang"
    results = args.source or args.results or ROOT / "runs" / "scaling" / f"{corpus}{'-quick' if args.quick else ''}.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    print(f"machine: {describe_machine()}; {args.threads} torch thread(s) per run "
          f"on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    t0 = time.perf_counter()
    if args.source:
        runs = json.loads(args.source.read_text())["runs"]
    else:
        sizes, budgets = (QUICK_SIZES, QUICK_BUDGETS) if args.quick else (args.sizes or SIZES, args.steps or BUDGETS[corpus])
        print(f"{corpus}: {len(sizes)} sizes x {len(budgets)} budgets ({', '.join(f'{b * BATCH * BLOCK:,}' for b in budgets)} "
              f"tokens), context {BLOCK}, batch {BATCH}; results in {results}")
        # the shortest budget of every size first: a run stopped early still leaves a grid to fit
        runs = run_grid(corpus, [(s, b) for b in budgets for s in sizes], results, args.threads, "fit")
    law = fit(runs, corpus)
    if not args.source and args.held_out_steps != 0:
        held_size = (3, 2, 48) if args.quick else args.held_out_size or HELD_OUT_SIZE
        held_steps = 160 if args.quick else args.held_out_steps or HELD_OUT_STEPS[corpus]
        from fromzero.models.configs import GPT_PRESETS

        vocab = runs[0]["vocab_size"] if runs else GPT_PRESETS[PRESET[corpus]]["vocab_size"]
        n_held = non_embedding_params(held_size, vocab)
        print(f"\nprediction before training the held-out {'x'.join(map(str, held_size))} "
              f"(N = {n_held:,}, D = {held_steps * BATCH * BLOCK:,}): {law.loss(n_held, held_steps * BATCH * BLOCK):.4f}")
        runs = run_grid(corpus, [(held_size, held_steps)], results, args.threads, "held-out")
    held = report(runs, law, corpus)
    total = sum(r["wall_s"] for r in runs)
    print(f"training time in the results: {total / 60:.1f} min wall ({sum(r['cpu_s'] for r in runs) / 60:.1f} min CPU); "
          f"this invocation {(time.perf_counter() - t0) / 60:.1f} min")
    if held:
        law = type(law)(**{k: getattr(law, k) for k in ("E", "A", "alpha", "B", "beta")},
                        meta={**law.meta, "held_out": [{k: h[k] for k in ("n_layer", "n_head", "n_embd", "N", "D", "loss",
                                                                        "predicted", "relative_error")} for h in held]})
    fig = args.plot or (results.parent / f"scaling_{short}-quick.png" if args.quick
                        else ROOT / "docs" / "img" / f"scaling_{short}.png")
    plot(runs, law, held, fig, corpus)
    print(f"plot: {fig}")
    if args.save_law:
        DEFAULT_LAWS.mkdir(parents=True, exist_ok=True)
        law.save(DEFAULT_LAWS / f"{corpus}.json")
        print(f"law: {DEFAULT_LAWS / f'{corpus}.json'}")


if __name__ == "__main__":
    main()
