"""Fine-tuning defaults on tasks fromzero has never seen: pre-trained + fine-tuned against the same GPT
from random weights, each with nothing but its defaults. One command; on 2 idle AVX2 cores about
3 hours from nothing (English base ~88 min, Chinese base ~47, six fine-tunes ~50; docs/finetune.md);
on a 2-core AVX-512 Xeon about 2.8 times as fast (Chinese base 14 min, a ChnSentiCorp fine-tune 5.5 min):

    python benchmarks/finetune_defaults.py              # the full experiment
    python benchmarks/finetune_defaults.py --quick      # a smoke test of the pipeline (numbers meaningless)
    python benchmarks/finetune_defaults.py --sweep      # the learning-rate sweep behind the defaults (dev)
    python benchmarks/finetune_defaults.py --sweep --tasks cr --lrs 2e-4,3e-4,5e-4   # chosen rates, one task
    python benchmarks/finetune_defaults.py --small --threads 1   # ~10x cheaper bases, for a busy machine
    python benchmarks/finetune_defaults.py --seeds 5            # seeds 0-4: mean accuracy, paired gain ± SE
    python benchmarks/finetune_defaults.py --tasks chnsenticorp --seeds 5 --work runs/finetune-zh-en \
        --zh-blocks-from runs/finetune-defaults/base-en    # the Chinese base's blocks start from the English base's

The steps, each a library call that the CLI also exposes:

1. pre-train an English GPT (``fromzero pretrain gpt``, byte-level BPE) on the built-in movie reviews
   plus the *training* texts of SUBJ, CR and MPQA without their labels, and a Chinese GPT
   (character tokenizer) on ChnSentiCorp's training texts without labels. No test text is seen;
2. for SUBJ, CR and ChnSentiCorp: ``finetune(base, task=FOLDER)`` with the defaults only (the
   ``fromzero finetune RUN --task FOLDER`` of a user), and ``finetune(base, task=FOLDER,
   init="scratch")`` (``--scratch``) with its defaults only; the dev split is the recipe's own
   (10% of train held out), test accuracy is that of the best-dev checkpoint.

The bases are cached in WORK (pre-trained again only when their settings change). Results go to
WORK/results.json and a table on stdout, with naive-Bayes baselines from the datasets' README.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The two bases: 4 layers x 256 wide, context 128, Muon, steps of 16 x 128 tokens. English: 3.5 passes over
# its 2.3M training tokens (2,000 steps, 1.75 passes: CR gained less, SUBJ as much; docs/finetune.md).
_BASE = dict(preset="cpu-small", n_layer=4, n_head=4, n_embd=256, block_size=128, norm="layernorm",
             batch_size=16, warmup=50, lr=3e-3, optimizer="muon", min_lr_ratio=0.1, weight_decay=0.1,
             eval_interval=250, eval_tokens=16384, sample_tokens=0, seed=1337, threads=0)
BASES = {
    "en": dict(_BASE, tokenizer="bpe", bpe_vocab_size=8192, max_iters=4000),
    "zh": dict(_BASE, tokenizer="char", max_iters=2500, dropout=0.1),   # 0.73M characters: ~7 passes
}
TASK_COPIES = 2     # the unlabelled task texts count this many times in the pre-training text
EN_TASKS = ("subj", "cr", "mpqa")             # their train texts go into the English corpus
TASKS = {"subj": ("en", 93.8), "cr": ("en", 82.8), "chnsenticorp": ("zh", 88.1)}   # base, NB test acc.
QUICK_BASE = dict(n_layer=2, n_head=2, n_embd=64, bpe_vocab_size=1024, max_iters=30, eval_interval=15,
                  warmup=5, eval_tokens=4096)
QUICK_FINETUNE = dict(epochs=1)
# --small: bases ~10x cheaper (for a sweep on a busy machine; less pre-training, smaller gains)
SMALL_BASE = dict(n_layer=2, n_head=2, n_embd=128, bpe_vocab_size=4096, max_iters=600, eval_interval=200,
                  warmup=30)
# --sweep: the learning rates tried for each init on the tasks' dev splits (10% of train held out),
# cheapest task first; every other setting is the default. docs/finetune.md has the table.
SWEEP_LRS = (1e-4, 3e-4, 1e-3, 2e-3)
SWEEP_TASKS = ("mpqa", "cr", "subj", "chnsenticorp")
BASE_OF = {"subj": "en", "cr": "en", "mpqa": "en", "chnsenticorp": "zh"}


def task_texts(datasets: Path, name: str, quick: bool) -> list[str]:
    from fromzero.text.labelled import load_task

    texts = load_task(datasets / name / "train.tsv").train.texts
    return texts[:500] if quick else texts


def make_corpus(lang: str, datasets: Path, folder: Path, quick: bool) -> Path:
    """The pre-training text of base ``lang``, as files in ``folder``.

    Task texts come first, so that the last 10% of the tokens (the LM's validation split) is
    the movie reviews (English) or the last training texts (Chinese).
    """
    from fromzero.text.data import corpus_files

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    names = EN_TASKS if lang == "en" else ("chnsenticorp",)
    copies = []
    for name in names:
        texts = task_texts(datasets, name, quick)
        for i in range(TASK_COPIES if lang == "en" else 1):
            copies += random.Random(i).sample(texts, len(texts))    # each copy in another order
    if lang == "en":
        random.Random(0).shuffle(copies)
    (folder / "1-task-train-texts.txt").write_text("\n".join(copies) + "\n", encoding="utf-8")
    if lang == "en":
        text = corpus_files("movie-reviews")[0].read_text(encoding="utf-8")
        (folder / "2-movie-reviews.txt").write_text(text[:300_000] if quick else text, encoding="utf-8")
    return folder


def quick_task(datasets: Path, name: str, work: Path, rows: int = 300) -> Path:
    """A copy of task ``name`` with its first ``rows`` train and test rows (--quick)."""
    folder = work / "quick-tasks" / name
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        lines = (datasets / name / f"{split}.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
        (folder / f"{split}.tsv").write_text("".join(lines[:rows + 1]), encoding="utf-8")
    return folder


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def base_options(lang: str, quick: bool, threads: int, small: bool = False) -> dict:
    return dict(BASES[lang], **(SMALL_BASE if small else {}), **(QUICK_BASE if quick else {}), threads=threads)


class StartBlocksFrom:
    """A pre-training callback: before the first step, the Transformer blocks and the final norm take
    the weights of the GPT run ``run`` (same width and depth; another tokenizer: the token embeddings
    stay new). Cross-lingual transfer: the Chinese base starts from what the English one learnt."""
    def __init__(self, run: Path):
        self.run = run

    def on_train_begin(self, trainer):
        from safetensors.torch import load_file

        if trainer.step:          # a resumed run has them already
            return
        new = ("wte.", "lm_head.")       # the token embeddings (tied to the output layer) stay new
        take = {k: v for k, v in load_file(str(self.run / "model.safetensors")).items() if not k.startswith(new)}
        loaded = trainer.model.load_state_dict(take, strict=False)    # a shape mismatch raises here
        wrong = loaded.unexpected_keys + [k for k in loaded.missing_keys if not k.startswith(new)]
        if wrong:   # main() compared the architectures; this is the last guard
            raise SystemExit(f"--zh-blocks-from {self.run}: its weights do not fit the Chinese base "
                             f"({', '.join(wrong[:3])}): it needs the same architecture")
        print(f"starting {len(take)} tensors (all but the token embeddings) from {self.run}", flush=True)


def blocks_mismatch(run: Path, opts: dict) -> str | None:
    """Why the GPT run ``run`` cannot give its blocks to a base made with ``opts`` (None if it can):
    it must be a pre-trained GPT with the same architecture but for the vocabulary and dropout."""
    from fromzero.models.configs import GPTConfig, gpt_config

    spec = run / "model.json"
    try:
        info = json.loads(spec.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return f"expected a pre-trained GPT run (a folder with model.json and model.safetensors): {e}"
    if info.get("name") != "gpt" or info.get("task") != "language-modeling" \
            or not (run / "model.safetensors").is_file():
        return (f"expected a GPT run of `fromzero pretrain gpt` (a language model), got a "
                f"{info.get('task', 'unknown')} run of a {info.get('name', 'unknown')} model")
    fields = {f.name for f in dataclasses.fields(GPTConfig)}
    want = dataclasses.asdict(gpt_config(opts["preset"], **{k: v for k, v in opts.items() if k in fields}))
    have = info.get("config", {})
    differ = [f"{k} {have.get(k)!r} (the base: {v!r})" for k, v in want.items()
              if k not in ("vocab_size", "dropout") and have.get(k) != v]
    return f"its architecture differs: {', '.join(differ)}" if differ else None


def pretrain_base(lang: str, work: Path, datasets: Path, quick: bool, threads: int, verbose: int,
                  small: bool = False, blocks_from: Path | None = None) -> tuple[Path, float]:
    """The cached base ``lang`` in ``work``: reused when made with these settings, resumed from its
    last checkpoint when interrupted, pre-trained (again) otherwise. ``blocks_from``: a GPT run whose
    blocks the base starts from (``StartBlocksFrom``)."""
    from fromzero.recipes.gpt import pretrain

    run, opts = work / f"base-{lang}", base_options(lang, quick, threads, small)
    marker, started = run / "benchmark.json", work / f"base-{lang}.json"
    wanted = {"options": {k: v for k, v in opts.items() if k != "threads"}, "task_copies": TASK_COPIES}
    if blocks_from is not None:
        wanted["blocks_from"] = hashlib.sha256((blocks_from / "model.safetensors").read_bytes()).hexdigest()[:16]
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        print(f"base {lang}: reusing {run} (delete it to pre-train again)", flush=True)
        return run, 0.0
    t0 = time.perf_counter()
    same = started.is_file() and json.loads(started.read_text()) == wanted
    if same and any((run / "checkpoints").glob("step-*/state.pt")):
        print(f"base {lang}: resuming the interrupted pre-training in {run}", flush=True)
        pretrain(out=run, resume=True, verbose=verbose, threads=threads)
    else:
        if run.exists():
            print(f"base {lang}: {run} has other settings: pre-training again", flush=True)
            shutil.rmtree(run)
        print(f"base {lang}: pre-training {opts}", flush=True)
        started.write_text(json.dumps(wanted, indent=1))
        pretrain(make_corpus(lang, datasets, work / f"corpus-{lang}", quick), out=run, verbose=verbose,
                 callbacks=[StartBlocksFrom(blocks_from)] if blocks_from is not None else (), **opts)
    marker.write_text(json.dumps(wanted, indent=1))
    return run, time.perf_counter() - t0


def base_fingerprint(base: Path, init: str) -> str:
    """What a fine-tune takes from its base: the weights (pre-trained), or only the tokenizer and the
    architecture (``scratch``). A cached run is reused only when this is unchanged."""
    h = hashlib.sha256()
    if init == "scratch":
        h.update((base / "tokenizer.json").read_bytes())
        h.update(json.dumps(json.loads((base / "model.json").read_text())["config"], sort_keys=True).encode())
    else:
        h.update((base / "model.safetensors").read_bytes())
    return h.hexdigest()[:16]


def cached(saved: Path, opts: dict, fingerprint: str) -> dict | None:
    """The metrics of a finished run with these options from this base, its texts after today's
    start token (BPE runs from before it was the newline are not reused), else None."""
    from fromzero.recipes.finetune import start_token
    from fromzero.text.tokenizer import load_tokenizer

    if not saved.is_file():
        return None
    record, run = json.loads(saved.read_text()), saved.parent
    if record["options"] != opts or record.get("base") != fingerprint:
        return None
    tok = load_tokenizer(run)
    return record["metrics"] if start_token(json.loads((run / "model.json").read_text()), tok) == tok.start_id else None


def task_options(name: str, init: str, work: Path, datasets: Path, quick: bool, **extra) -> dict:
    """The ``finetune`` options of a run of task ``name``: the defaults, plus ``extra``."""
    opts = dict(task=str(quick_task(datasets, name, work) if quick else datasets / name),
                **(QUICK_FINETUNE if quick else {}), **extra)
    if init == "scratch":
        opts["init"] = "scratch"
    return opts


def finetune_task(name: str, base: Path, init: str, work: Path, datasets: Path, quick: bool, verbose: int,
                  out: Path | None = None, **extra) -> dict:
    """``finetune`` with the defaults (and ``extra``); a finished run in ``out`` from the same base
    (``base_fingerprint``) is reused."""
    from fromzero.recipes.finetune import finetune

    opts = task_options(name, init, work, datasets, quick, **extra)
    out = out or work / f"{name}-{init}"
    saved, fingerprint = out / "benchmark.json", base_fingerprint(base, init)
    if (m := cached(saved, opts, fingerprint)) is not None:
        print(f"{name} {init}: reusing {out}", flush=True)
        return m
    if "lr" not in opts:             # the sweep's run at the default learning rate is this very run
        from fromzero.recipes.configs import FinetuneConfig

        lr = FinetuneConfig(init=init).peak_lr
        swept = work / "sweep" / f"{name}-{init}-lr{lr:g}" / "benchmark.json"
        if (m := cached(swept, dict(opts, lr=lr), fingerprint)) is not None:
            print(f"{name} {init}: reusing the sweep's run at the default lr, {swept.parent}", flush=True)
            return m
    print(f"{name} {init}: finetune({base.name}, {opts})", flush=True)
    t0, c0 = time.perf_counter(), cpu_seconds()
    m = finetune(base, out=out, verbose=verbose, overwrite=True, **opts)
    m["wall_s"], m["cpu_s"] = time.perf_counter() - t0, cpu_seconds() - c0
    saved.write_text(json.dumps({"options": opts, "base": fingerprint, "metrics": m}, indent=1, default=str))
    print(f"    dev {m['dev_accuracy']:.4f}  test {m['test_accuracy']:.4f}  ({m['wall_s']:.0f} s)", flush=True)
    return m


def sweep(tasks: list[str], bases: dict, work: Path, datasets: Path, quick: bool, verbose: int,
          lrs=SWEEP_LRS) -> int:
    """Fine-tune each task with each init at each of ``lrs``; print and save dev (and test) accuracy.
    The run at an init's default learning rate is the main experiment's (seed 0), when it is there."""
    from fromzero.recipes.configs import FinetuneConfig

    rows = []
    for name in tasks:
        for init in ("pretrained", "scratch"):
            base, main_run = bases[BASE_OF[name]], work / f"{name}-{init}" / "benchmark.json"
            main_opts, fingerprint = task_options(name, init, work, datasets, quick), base_fingerprint(base, init)
            for lr in lrs:
                m = cached(main_run, main_opts, fingerprint) if lr == FinetuneConfig(init=init).peak_lr else None
                if m is not None:
                    print(f"{name} {init} lr {lr:g}: reusing the default run {main_run.parent}", flush=True)
                else:
                    m = finetune_task(name, base, init, work, datasets, quick, verbose,
                                      out=work / "sweep" / f"{name}-{init}-lr{lr:g}", lr=lr)
                rows.append(dict(task=name, init=init, lr=lr, dev=m["dev_accuracy"], test=m.get("test_accuracy"),
                                 best_eval=m["best_eval"], evals=m["evals"], wall_s=m["wall_s"]))
                (work / "sweep.json").write_text(json.dumps(rows, indent=1))
    print("\n| task | init | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in lrs) + " |")
    for name in tasks:
        for init in ("pretrained", "scratch"):
            cells = {r["lr"]: r for r in rows if r["task"] == name and r["init"] == init}
            print(f"| {name} | {init} | " + " | ".join(
                f"{100 * cells[lr]['dev']:.1f}% ({cells[lr]['best_eval']}/{cells[lr]['evals']})" for lr in lrs) + " |")
    print(f"dev accuracy of the best-dev checkpoint (at evaluation k of n); {work / 'sweep.json'}")
    return 0


def mean(xs) -> float:
    return sum(xs) / len(xs)


def gains(r: dict) -> list[float]:
    """Test-accuracy gain in points of pre-trained over scratch, seed by seed (paired: same seed)."""
    return [100 * (p["test_accuracy"] - s["test_accuracy"]) for p, s in zip(r["pretrained"], r["scratch"])]


def table(results: dict) -> str:
    """Mean test accuracy over the seeds; the gain is the mean of the paired per-seed gains (± its
    standard error over the seeds)."""
    out = ["| task | pre-trained + fine-tuned | from scratch | gain | gain per seed | naive Bayes | "
           "time per run (pre-trained / scratch) |", "| --- | ---: | ---: | ---: | --- | ---: | ---: |"]
    for name, r in results.items():
        p, s = r["pretrained"], r["scratch"]
        acc = {k: 100 * mean([m["test_accuracy"] for m in r[k]]) for k in r}
        g = gains(r)
        se = f" ± {statistics.stdev(g) / len(g) ** 0.5:.1f}" if len(g) > 1 else ""      # standard error over seeds
        out.append(f"| {name} | {acc['pretrained']:.1f}% | {acc['scratch']:.1f}% | {mean(g):+.1f}{se} | "
                   f"{' / '.join(f'{x:+.1f}' for x in g)} | {TASKS[name][1]:.1f}% | "
                   f"{mean([m['wall_s'] for m in p]) / 60:.1f} / {mean([m['wall_s'] for m in s]) / 60:.1f} min |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"),
                    help="folder holding subj/, cr/, mpqa/ and chnsenticorp/ (default: ../shared/datasets)")
    ap.add_argument("--work", default=str(ROOT / "runs" / "finetune-defaults"),
                    help="folder for the corpora, bases, runs and results.json (default: runs/finetune-defaults)")
    ap.add_argument("--quick", action="store_true", help="tiny settings: checks the pipeline in a few minutes")
    ap.add_argument("--tasks", default=None, help=f"comma-separated tasks (default {','.join(TASKS)})")
    ap.add_argument("--pretrain-only", action="store_true", help="pre-train (or reuse) the bases, then stop")
    ap.add_argument("--sweep", action="store_true",
                    help=f"instead: the learning-rate sweep on dev ({', '.join(map(str, SWEEP_LRS))} for each init; "
                         f"--tasks default {','.join(SWEEP_TASKS)}), cached run by run")
    ap.add_argument("--lrs", default=None,
                    help=f"with --sweep: comma-separated learning rates (default {','.join(map(str, SWEEP_LRS))})")
    ap.add_argument("--small", action="store_true", help="small bases (2 x 128, 600 steps): ~10x cheaper")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads (default 2; 1 on a busy machine, where threads wait for each other)")
    ap.add_argument("--seeds", type=int, default=1,
                    help="fine-tune each task and init with seeds 0..N-1 (weights of the head, or of all for "
                         "scratch, and data order); the table shows means and the paired gain (default 1)")
    ap.add_argument("--zh-blocks-from", default=None, metavar="RUN",
                    help="start the Chinese base's Transformer blocks and final norm from this pre-trained GPT "
                         "run's (the same architecture, e.g. runs/finetune-defaults/base-en; the token embeddings "
                         "stay new); with its own --work")
    ap.add_argument("--verbose", type=int, default=0, help="1: progress bars; 0: one line per evaluation")
    args = ap.parse_args(argv)
    if args.lrs and not args.sweep:
        ap.error("--lrs: the learning rates of a sweep; give --sweep too (the main experiment uses the defaults)")
    try:
        lrs = tuple(float(x) for x in args.lrs.split(",") if x) if args.lrs else SWEEP_LRS
    except ValueError:
        ap.error(f"--lrs: expected comma-separated numbers such as 1e-4,3e-4, got {args.lrs!r}")
    if not lrs or min(lrs) <= 0:
        ap.error(f"--lrs: expected learning rates > 0, got {args.lrs!r}")
    if args.seeds < 1:
        ap.error(f"--seeds: expected a count >= 1, got {args.seeds}")
    import torch

    from fromzero.device import describe_machine, machine

    torch.set_num_threads(args.threads)
    datasets, work = Path(args.datasets), Path(args.work)
    tasks = [t for t in (args.tasks or ",".join(SWEEP_TASKS if args.sweep else TASKS)).split(",") if t]
    allowed = BASE_OF if args.sweep else TASKS
    unknown = [t for t in tasks if t not in allowed]
    if unknown:
        ap.error(f"--tasks: unknown {', '.join(unknown)}; expected some of {', '.join(allowed)}")
    missing = [t for t in set(tasks) | set(EN_TASKS) if not (datasets / t / "train.tsv").is_file()]
    if missing:
        ap.error(f"--datasets {datasets}: no {', '.join(f'{t}/train.tsv' for t in sorted(missing))}")
    blocks_from = Path(args.zh_blocks_from) if args.zh_blocks_from else None
    if blocks_from is not None:
        if "chnsenticorp" not in tasks:
            ap.error(f"--zh-blocks-from: it changes the Chinese base, which --tasks {','.join(tasks)} does not use")
        if work.resolve() == (ROOT / "runs" / "finetune-defaults").resolve():
            ap.error("--zh-blocks-from: give it its own --work folder (e.g. runs/finetune-zh-en), so that the "
                     "default experiment's Chinese base and runs stay as they are")
        if (work / "base-zh").resolve() == blocks_from.resolve():
            ap.error("--zh-blocks-from: the run is the Chinese base this would write; give another --work")
        if problem := blocks_mismatch(blocks_from, base_options("zh", args.quick, args.threads, args.small)):
            ap.error(f"--zh-blocks-from {blocks_from}: {problem}")
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    bases, pre_s = {}, {}
    for lang in sorted({BASE_OF[t] for t in tasks}):
        bases[lang], pre_s[lang] = pretrain_base(lang, work, datasets, args.quick, args.threads, args.verbose,
                                                 args.small, blocks_from if lang == "zh" else None)
    if args.pretrain_only:
        return 0
    if args.sweep:
        return sweep(tasks, bases, work, datasets, args.quick, args.verbose, lrs)
    results = {}
    for name in tasks:
        base = bases[TASKS[name][0]]
        results[name] = {init: [finetune_task(name, base, init, work, datasets, args.quick, args.verbose,
                                              **({"out": work / f"{name}-{init}-seed{k}", "seed": k} if k else {}))
                                for k in range(args.seeds)]
                         for init in ("pretrained", "scratch")}
    total = time.perf_counter() - t0
    from fromzero.recipes.configs import DEFAULT_LR, FinetuneConfig

    summary = {"results": results, "pretrain_s": pre_s, "total_s": total, "total_cpu_s": cpu_seconds(),
               "seeds": args.seeds, "gain_points": {n: mean(gains(r)) for n, r in results.items()},
               "gain_points_per_seed": {n: gains(r) for n, r in results.items()},
               "naive_bayes": {n: TASKS[n][1] for n in results}, "quick": args.quick,
               "bases": {lang: base_options(lang, args.quick, args.threads, args.small) for lang in bases},
               "task_copies": TASK_COPIES, "zh_blocks_from": args.zh_blocks_from,
               "defaults": {"lr": DEFAULT_LR, "epochs": FinetuneConfig().epochs},
               "machine": {**machine(), "loadavg_end": os.getloadavg()}}
    (work / "results.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"\nTest accuracy with the defaults only (best-dev checkpoint; mean of {args.seeds} seed(s)):\n")
    print(table(results))
    pre = ", ".join(f"{k} {f'{v / 60:.1f} min' if v else 'cached'}" for k, v in pre_s.items())
    print(f"\npre-training {pre}; total {total / 60:.1f} min; machine: {describe_machine(summary['machine'])}")
    print(f"results: {work / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
