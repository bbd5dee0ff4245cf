"""Plan a training run for a budget: ``fromzero plan TASK --data ... --time 10m --memory 4GB``.

Given a task, the data and a budget, ``plan`` recommends a preset, batch size, steps (or epochs)
and precision, says what to expect (loss or accuracy range, wall time, peak memory) and prints
the exact command. Its inputs are measured on this machine and cached (``fromzero.zoo``):

* the throughput of each candidate preset (``fromzero.zoo.measure_throughput``: a few training
  steps and evaluation batches, at the batch and context the command will use);
* the fixed cost of the command (``measure_overhead``: the same command run as a two-step tiny
  model on the same data, in a child process): start-up, data, the final evaluation, checkpoint
  and plot, and its peak resident memory above an idle process that imported torch;
* the data size in tokens (the corpus tokenized as the command will, into the same cache).

Wall time = fixed cost + steps x step time + evaluations x (validation tokens / evaluation
throughput). Peak memory = the tiny run's peak + the training-memory arithmetic of the plan
(``fromzero.zoo.training_memory``) less the tiny model's. For a GPT the choice is the preset
with the lowest loss that the fitted scaling law (``fromzero.scaling.default_law``) predicts for
its parameters and the tokens the budget buys; without a law, the largest preset that gets at
least ``TOKENS_PER_PARAM`` tokens per parameter (Chinchilla's compute-optimal ratio).

Example:
    >>> p = plan("gpt", "shakespeare", time_budget="5m")   # doctest: +SKIP
    >>> print(p.command)                                   # doctest: +SKIP
    fromzero pretrain gpt --data shakespeare --preset shakespeare-char --batch-size 12 --max-iters 2400 ...
"""
from __future__ import annotations

import dataclasses
import math
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, field

import torch

from .. import zoo
from ..device import machine, native_bf16, resolve_device
from ..errors import ConfigError, DataError
from ..models.configs import GPT_PRESETS, gpt_config
from ..scaling import default_law
from .configs import GPT_RECIPES, MNIST_SPEEDRUN, PretrainConfig

TASKS = ("gpt", "mnist-cnn")
# The GPT presets plan considers by default, smallest first: the character-level CPU sizes (the
# speedrun preset is shakespeare-char's model; the GPT-2 sizes need BPE and a GPU).
CPU_PRESETS = ("tiny", "shakespeare-char", "tang-char", "cpu-small", "cpu-medium")
GPU_PRESETS = ("gpt2", "gpt2-medium", "gpt2-large")
TOKENS_PER_PARAM = 20          # Hoffmann et al. 2022, used when no fitted law is available
MIN_STEPS = 30                 # fewer optimizer steps than this is no training run
EVALS = 4                      # evaluations (validation loss, sample, checkpoint) per planned run
EVAL_SHARE = 0.1               # at most this share of the time budget on validation ...
MIN_EVAL_TOKENS = 16_384       # ... but no fewer validation tokens than this
LOSS_BAND = 0.05               # the expected loss range: the law's prediction +- 5%
# Beyond this many passes over the training text the law (fitted on fresh text: <= 1 pass over Tiny
# Shakespeare) says nothing: repeated tokens are worth about as much as new ones up to ~4 passes,
# less and less after (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models").
MAX_PASSES = 4
# Measured test accuracy of the speedrun recipe (README "Results", docs/speedrun.md: 5 seeds, one epoch).
MNIST_ACCURACY = {1: (0.9910, 0.9926)}
MNIST_TRAIN_IMAGES = 60_000
# Estimates of what each evaluation adds besides the validation loss: a 200-token sample (KV-cached
# generation of a small GPT, docs/gpt.md: ~1,000 tokens/s on a CPU) and a checkpoint written and fsynced.
SAMPLE_TOKENS_PER_S = 1000.0
SAVE_BYTES_PER_S = 200e6


@dataclass
class Plan:
    """What ``plan`` recommends and what to expect of it."""
    task: str
    preset: str
    batch_size: int
    steps: int                   # optimizer steps (gpt) or epochs (mnist-cnn)
    unit: str                    # "steps" or "epochs"
    precision: str
    metric: str                  # "validation loss" or "test accuracy"
    expected: tuple              # (low, high) of the metric
    wall_s: float
    peak_bytes: float            # peak resident memory above an idle process with torch imported
    baseline_bytes: float        # that idle process's
    memory: dict                 # training memory of the plan (``fromzero.zoo.Memory.as_dict``)
    command: str
    notes: list = field(default_factory=list)
    candidates: list = field(default_factory=list)
    passes: float | None = None  # gpt: passes over the training text; above MAX_PASSES no loss is predicted

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# --- budgets ------------------------------------------------------------------------------------

_UNITS_S = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}
# K, M, G, T with or without B: powers of 1000; KiB, MiB, GiB, TiB: powers of 1024
_UNITS_B = {"": 1, "b": 1, **{f"{p}{b}": 1000.0 ** i for i, p in enumerate("kmgt", 1) for b in ("", "b")},
            **{f"{p}ib": 1024.0 ** i for i, p in enumerate("kmgt", 1)}}
MEMORY_MEANS = "peak memory above an idle Python process with torch imported"


def parse_duration(text) -> float:
    """Seconds in ``"90s"``, ``"10m"``, ``"1h30m"`` or a number of seconds.

    Example:
        >>> parse_duration("1h30m"), parse_duration("90")
        (5400.0, 90.0)
    """
    if isinstance(text, (int, float)):
        total = float(text)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", str(text).strip().lower())
        if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s", "", str(text).lower()) \
                or any(u not in _UNITS_S for _, u in parts):
            raise ConfigError(f"--time: expected a duration such as 90s, 10m or 1h30m, got {text!r}")
        total = sum(float(n) * _UNITS_S[u] for n, u in parts)
    if not total > 0:
        raise ConfigError(f"--time: expected a positive duration, got {text!r}")
    return total


def parse_bytes(text) -> float:
    """Bytes in ``"4GB"``, ``"512M"``, ``"512MiB"`` or a number of bytes: K, M, G, T (with or
    without B) are powers of 1000, KiB, MiB, GiB, TiB powers of 1024.

    Example:
        >>> parse_bytes("4GB"), parse_bytes("512M"), parse_bytes("512MiB")
        (4000000000.0, 512000000.0, 536870912.0)
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", str(text).lower())
    if not m or m.group(2) not in _UNITS_B or not float(m.group(1)) > 0:
        raise ConfigError(f"--memory: expected a size such as 512M, 4GB or 4GiB (K, M, G, T: powers of 1000; "
                          f"KiB, MiB, GiB, TiB: of 1024), got {text!r}")
    return float(m.group(1)) * _UNITS_B[m.group(2)]


def _mb(b: float) -> str:
    """Bytes in a unit that keeps small sizes readable: ``512 B``, ``1.5 KiB``, ``3.2 MiB``, ``40 MiB``, ``4.00 GiB``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(b) >= size:
            x = b / size
            return f"{x:,.2f} {unit}" if unit == "GiB" else f"{x:,.1f} {unit}" if x < 10 else f"{x:,.0f} {unit}"
    return f"{b:,.0f} B"


def _time(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


# --- measured fixed costs -----------------------------------------------------------------------

def _overhead_argv(task: str, data, device: str, threads: int | None, out: str) -> tuple[list, dict]:
    """The command of a two-step tiny run on ``data``: what every planned run pays besides training."""
    base = ["-m", "fromzero"]
    dev = ["--device", device]
    if task == "gpt":
        argv = [*base, "pretrain", "gpt", "--data", str(data), "--preset", "tiny", "--max-iters", "2",
                "--eval-interval", "2", "--out", out, *dev, *(["--threads", str(threads)] if threads else [])]
        return argv, {"preset": "tiny", "batch": GPT_RECIPES["tiny"]["batch_size"]}
    argv = [*base, "train", "mnist-cnn", "--speedrun", "--epochs", "1", "--batch-size", "8", "--limit", "16",
            "--out", out, *dev]
    return argv, {"preset": "mnist-cnn", "batch": 8}


def measure_overhead(task: str, data=None, device: str = "cpu", threads: int | None = None,
                     refresh: bool = False) -> dict:
    """The fixed wall time and peak memory of ``task``'s command on ``data``, measured once and cached.

    The tiny run goes twice (the first fills the token cache, as a planned run finds it filled);
    the second is measured: ``{"wall_s", "peak_rss", "torch_rss", "preset", "batch"}``.
    """
    key = f"overhead|{task}|{data}|{device}|threads={threads}|torch={torch.__version__}|{machine()['cpu']}"
    cache = zoo.read_cache()
    if key in cache and not refresh:
        return cache[key]
    print(f"fromzero: measuring the fixed cost of a {task} run on this machine (once; cached in "
          f"{zoo.cache_file()})", file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="fromzero-plan-")
    try:
        argv, what = _overhead_argv(task, data, device, threads, f"{tmp}/run")
        env = {"OMP_NUM_THREADS": str(threads)} if threads else {}
        for i in range(2):
            r = zoo.run_measured(argv + (["--overwrite"] if i else []), env)
            if r["rc"]:
                raise DataError(f"plan: the tiny calibration run failed (exit status {r['rc']}): "
                                f"{shlex.join(['fromzero', *argv[2:]])}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {"wall_s": r["wall_s"], "peak_rss": r["peak_rss"], "torch_rss": zoo.torch_baseline_rss(threads), **what}
    zoo.write_cache(key, result)
    return result


# --- the data -----------------------------------------------------------------------------------

def corpus_size(data) -> dict:
    """Train and validation tokens and the vocabulary of ``data`` with the character tokenizer
    (tokenized into the cache the command reads)."""
    from ..text.data import load_corpus, train_tokenizer  # lazy: a GPT plan only

    tok = train_tokenizer(data, "char")
    corpus = load_corpus(data, tok, verbose=False)
    return {"train": len(corpus.train), "val": len(corpus.val), "vocab": tok.vocab_size}


# --- the plans ----------------------------------------------------------------------------------

def plan(task: str, data=None, time_budget=None, memory_budget=None, device: str = "cpu",
         threads: int | None = None, presets=None, law=None, throughput=None, overhead=None,
         sizes=None) -> Plan:
    """Recommend a run of ``task`` ("gpt" or "mnist-cnn") on ``data`` for a budget.

    Args:
        time_budget: wall time, seconds or ``"10m"``; memory_budget: peak memory, bytes or
            ``"4GB"`` (at least one of the two).
        device: where it runs; threads: CPU threads (default torch's).
        presets: the GPT presets to choose from (default ``CPU_PRESETS``, with ``GPU_PRESETS``
            on CUDA).
        law: a ``ScalingLaw`` (default ``fromzero.scaling.default_law()`` where one is shipped).
        throughput, overhead, sizes: replace the measurements (tests): ``throughput(preset,
            batch, block, vocab) -> dict`` as ``measure_throughput``'s, ``overhead`` as
            ``measure_overhead``'s, ``sizes`` as ``corpus_size``'s.
    """
    if task not in TASKS:
        raise ConfigError(f"plan: expected a task in {', '.join(TASKS)}, got {task!r}")
    if time_budget is None and memory_budget is None:
        raise ConfigError("plan: give a budget: --time (e.g. 10m), --memory (e.g. 4GB), or both")
    if task == "mnist-cnn":
        for option, given in (("--data", data), ("--preset", presets)):
            if given:
                raise ConfigError(f"plan: {option} applies to gpt only; mnist-cnn trains the speedrun recipe on "
                                  f"the embedded MNIST (got {option} {given if isinstance(given, str) else ' '.join(given)})")
    t_budget = parse_duration(time_budget) if time_budget is not None else None
    m_budget = parse_bytes(memory_budget) if memory_budget is not None else None
    dev = str(resolve_device(device))
    threads = threads or None
    if throughput is None:
        def throughput(preset, batch, block, vocab=None):
            return zoo.measure_throughput(preset, batch, block, dev, threads, vocab)
    over = overhead or measure_overhead(task, data or ("shakespeare" if task == "gpt" else None), dev, threads)
    precision = "bf16" if native_bf16(torch.device(dev)) else "fp32"
    if task == "mnist-cnn":
        return _plan_mnist(t_budget, m_budget, dev, threads, precision, throughput, over)
    data = data or "shakespeare"
    return _plan_gpt(data, t_budget, m_budget, dev, threads, precision, presets, law, throughput, over,
                     sizes or corpus_size(data))


def default_law_or_none(data):
    """The shipped scaling law of ``data`` (a built-in corpus; else Tiny Shakespeare's), or None."""
    for corpus in (str(data), "shakespeare"):
        try:
            return default_law(corpus)
        except (DataError, OSError):
            continue
    return None


def _gpt_candidate(preset, data, sizes, t_budget, m_budget, throughput, over, precision):
    """One preset's best batch under the budget: its steps, wall time, peak memory and tokens."""
    r = GPT_RECIPES.get(preset, {})
    c = gpt_config(preset, vocab_size=sizes["vocab"])
    card = dataclasses.replace(zoo.find_card(preset), params=zoo.gpt_params(c), config=dataclasses.asdict(c))
    tiny = zoo.find_card(over["preset"]) if over["preset"] != "mnist-cnn" else None
    tiny_mem = zoo.training_memory(dataclasses.replace(
        tiny, config=dataclasses.asdict(gpt_config("tiny", vocab_size=sizes["vocab"]))), over["batch"]).total
    batch = r.get("batch_size", PretrainConfig.batch_size)
    while True:
        mem = zoo.training_memory(card, batch, c.block_size, precision)
        peak = over["peak_rss"] - over["torch_rss"] + mem.total - tiny_mem + 16 * min(sizes["val"], 2**20)
        if m_budget is None or peak <= m_budget or batch == 1:
            tp = throughput(preset, batch, c.block_size, sizes["vocab"]) if m_budget is None or peak <= m_budget \
                else None
            peak = _measured_peak(tp, over, throughput, ("tiny", over["batch"], gpt_config("tiny").block_size,
                                                         sizes["vocab"]), peak)
            if m_budget is None or peak <= m_budget or batch == 1:
                break
        batch //= 2
    row = {"preset": preset, "batch": batch, "block": c.block_size, "params": card.params,
           "non_embedding": card.params - c.vocab_size * c.n_embd, "peak": peak, "memory": mem.as_dict(),
           "fits_memory": m_budget is None or peak <= m_budget}
    if not row["fits_memory"]:
        return row
    # validation tokens per evaluation: the whole split, or what keeps the evaluations to EVAL_SHARE of the time
    val_tokens = min((sizes["val"] - 1) // c.block_size, PretrainConfig.eval_tokens // c.block_size)
    if t_budget is not None:
        affordable = int(EVAL_SHARE * t_budget / EVALS * tp["eval_tokens_per_s"]) // c.block_size
        val_tokens = min(val_tokens, max(affordable, MIN_EVAL_TOKENS // c.block_size, 1))
    val_tokens *= c.block_size
    # each evaluation: the validation tokens, a text sample, a checkpoint (weights and optimizer state)
    eval_s = (val_tokens / tp["eval_tokens_per_s"] + PretrainConfig.sample_tokens / SAMPLE_TOKENS_PER_S
              + (mem.params + mem.optimizer) / SAVE_BYTES_PER_S)
    if t_budget is None:   # memory alone: the recipe's steps
        steps = r.get("max_iters", PretrainConfig.max_iters)
    else:
        steps = int((t_budget - over["wall_s"] - EVALS * eval_s) / tp["step_s"])
    evals = -(-steps // -(-steps // EVALS)) if steps > 0 else EVALS   # every ceil(steps / EVALS) steps, and the last
    wall = over["wall_s"] + steps * tp["step_s"] + evals * eval_s
    row.update(step_s=tp["step_s"], steps=steps, wall=wall, eval_s=eval_s, evals=evals, eval_tokens=val_tokens,
               tokens=max(steps, 0) * batch * r.get("grad_accum", 1) * c.block_size)
    return row


def _measured_peak(tp, over, throughput, tiny_args, arithmetic):
    """The peak memory above torch from measurements: the tiny run's, plus what a training step of
    the plan adds to a process (``train_peak``, allocator slack included) less what the tiny run's
    step added. ``arithmetic`` (the training-memory sum) where the throughput has no ``train_peak``."""
    if not tp or "train_peak" not in tp:
        return arithmetic
    tiny = throughput(*tiny_args)
    if "train_peak" not in tiny:
        return arithmetic
    return over["peak_rss"] - over["torch_rss"] + tp["train_peak"] - tiny["train_peak"]


def _plan_gpt(data, t_budget, m_budget, dev, threads, precision, presets, law, throughput, over, sizes) -> Plan:
    names = list(presets or (CPU_PRESETS + (GPU_PRESETS if dev.startswith("cuda") else ())))
    if bad := [p for p in names if p not in GPT_PRESETS]:
        raise ConfigError(f"plan: unknown GPT preset(s) {', '.join(bad)}; expected: {', '.join(GPT_PRESETS)}")
    notes = []
    law = law if law is not None else default_law_or_none(data)
    rows = []
    rate = None              # training FLOP/s of the last preset measured
    for preset in sorted(names, key=lambda p: zoo.gpt_params(gpt_config(p, vocab_size=sizes["vocab"]))):
        if rate and t_budget and _step_flops(preset, sizes) / rate * MIN_STEPS > 2 * t_budget:
            notes.append(f"{preset} and larger: not measured, about {_step_flops(preset, sizes) / rate:.1f} s "
                         "per step at the throughput measured for the last smaller preset")
            break            # far too slow for the budget: measuring it would take longer than the plan
        row = _gpt_candidate(preset, data, sizes, t_budget, m_budget, throughput, over, precision)
        rows.append(row)
        if "step_s" in row:
            rate = _step_flops(preset, sizes, row["batch"]) / row["step_s"]
        if row.get("steps", 0) < MIN_STEPS and row["fits_memory"]:
            break            # a bigger preset is slower still: stop measuring
    ok = [r for r in rows if r["fits_memory"] and r.get("steps", 0) >= MIN_STEPS]
    if not ok:
        raise ConfigError(_gpt_refusal(rows, t_budget, m_budget, over["torch_rss"]))
    for r in ok:
        r["loss"] = float(law.loss(r["non_embedding"], r["tokens"])) if law else None
    if law:
        best = min(ok, key=lambda r: r["loss"])
    else:
        enough = [r for r in ok if r["tokens"] >= TOKENS_PER_PARAM * r["params"]]
        best = max(enough, key=lambda r: r["params"]) if enough else ok[0]
        notes.append("no fitted scaling law is shipped yet (benchmarks/scaling.py fits one): the largest preset "
                     f"with >= {TOKENS_PER_PARAM} tokens per parameter was chosen and no loss is predicted")
    if law:
        n_opt, d_opt = law.compute_optimal(6 * best["non_embedding"] * best["tokens"])
        notes.append(f"compute-optimal for this compute ({6 * best['non_embedding'] * best['tokens']:.3g} FLOPs): "
                     f"{n_opt:,.0f} non-embedding parameters on {d_opt:,.0f} tokens; this plan: "
                     f"{best['non_embedding']:,} on {best['tokens']:,}")
    passes = best["tokens"] / max(1, sizes["train"])
    if passes > MAX_PASSES and best.get("loss"):
        notes.append(f"the plan reads the training text {passes:.1f} times ({sizes['train']:,} tokens): the law, "
                     f"fitted on fresh text (<= 1 pass), would say {best['loss'] * (1 - LOSS_BAND):.2f}–"
                     f"{best['loss'] * (1 + LOSS_BAND):.2f}, but beyond ~{MAX_PASSES} passes repeated text is "
                     "worth less than new text and the model may overfit: expect a higher validation loss")
        best = {**best, "loss": None}
    return _gpt_plan(best, data, dev, threads, precision, law, over, notes, rows, passes)


def _step_flops(preset: str, sizes: dict, batch: int | None = None) -> float:
    """Training FLOPs of one step of ``preset`` at ``batch`` (default: its recipe's) on data of ``sizes``."""
    c = gpt_config(preset, vocab_size=sizes["vocab"])
    r = GPT_RECIPES.get(preset, {})
    tokens = (batch or r.get("batch_size", PretrainConfig.batch_size)) * r.get("grad_accum", 1) * c.block_size
    return zoo.gpt_flops_per_token(c) * tokens


def _gpt_plan(best, data, dev, threads, precision, law, over, notes, rows, passes) -> Plan:
    r = GPT_RECIPES.get(best["preset"], {})
    steps = best["steps"]
    interval = -(-steps // EVALS)
    warmup = min(r.get("warmup", PretrainConfig.warmup), max(1, steps // 10))
    cmd = ["fromzero", "pretrain", "gpt", "--data", str(data), "--preset", best["preset"],
           "--batch-size", str(best["batch"]), "--max-iters", str(steps), "--eval-interval", str(interval),
           "--eval-tokens", str(best["eval_tokens"]),
           "--warmup", str(warmup), "--device", dev, *(["--threads", str(threads)] if threads else []),
           "--out", f"runs/plan-{best['preset']}"]
    loss = best.get("loss")
    expected = (loss * (1 - LOSS_BAND), loss * (1 + LOSS_BAND)) if loss else (math.nan, math.nan)
    if law and law.meta.get("corpus") not in (None, str(data)):
        notes.append(f"the law was fitted on {law.meta['corpus']}: on other text the loss scale differs")
    return Plan("gpt", best["preset"], best["batch"], steps, "steps", precision, "validation loss", expected,
                best["wall"], best["peak"], over["torch_rss"], best["memory"], shlex.join(cmd), notes, rows, passes)


def _gpt_refusal(rows, t_budget, m_budget, baseline) -> str:
    smallest = rows[0]
    if not smallest["fits_memory"]:
        return (f"plan: no preset fits in --memory {_mb(m_budget)} ({MEMORY_MEANS}, {_mb(baseline)} here): the "
                f"smallest, {smallest['preset']} at batch 1, needs {_mb(smallest['peak'])} above that "
                f"({_mb(smallest['peak'] + baseline)} in all)")
    fixed = smallest["wall"] - smallest["steps"] * smallest["step_s"]
    return (f"plan: no preset trains {MIN_STEPS} steps in --time {_time(t_budget)}: the smallest, "
            f"{smallest['preset']}, needs about {_time(fixed + MIN_STEPS * smallest['step_s'])} (start-up, "
            f"data, {smallest['evals']} evaluations and saving alone take {_time(fixed)})")


def _plan_mnist(t_budget, m_budget, dev, threads, precision, throughput, over) -> Plan:
    batch = MNIST_SPEEDRUN["batch_size"]
    tp = throughput("mnist-cnn", batch, 1, None)
    steps = -(-MNIST_TRAIN_IMAGES // batch)
    epoch_s = steps * tp["step_s"]
    eval_s = 10_000 / tp["eval_samples_per_s"]
    card = zoo.find_card("mnist-cnn")
    mem = zoo.training_memory(card, batch)
    peak = over["peak_rss"] - over["torch_rss"] + mem.total - zoo.training_memory(card, over["batch"]).total
    peak = _measured_peak(tp, over, throughput, ("mnist-cnn", over["batch"], 1, None), peak)
    if m_budget is not None and peak > m_budget:
        raise ConfigError(f"plan: mnist-cnn needs {_mb(peak)} at its peak (batch {batch}) above an idle Python "
                          f"process with torch imported ({_mb(over['torch_rss'])} here); --memory, the "
                          f"{MEMORY_MEANS}, is {_mb(m_budget)}")
    epochs = 1 if t_budget is None else int((t_budget - over["wall_s"] + eval_s) / (epoch_s + eval_s))
    if epochs < 1:
        raise ConfigError(f"plan: one epoch of mnist-cnn needs about {_time(over['wall_s'] + epoch_s)} here "
                          f"(--time is {_time(t_budget)})")
    wall = over["wall_s"] + epochs * epoch_s + (epochs - 1) * eval_s
    expected = MNIST_ACCURACY.get(epochs, (MNIST_ACCURACY[1][0], 0.995))
    notes = [] if epochs in MNIST_ACCURACY else [
        f"one epoch measured {MNIST_ACCURACY[1][0]:.2%}–{MNIST_ACCURACY[1][1]:.2%} (5 seeds); {epochs} epochs of "
        "this recipe were not measured: expect at least that"]
    # train mnist-cnn has no --threads: the thread count goes in the environment, as it was measured
    cmd = [*([f"OMP_NUM_THREADS={threads}"] if threads else []), "fromzero", "train", "mnist-cnn", "--speedrun", "--epochs", str(epochs), "--device", dev,
           "--out", "runs/plan-mnist-cnn"]
    row = {"preset": "mnist-cnn", "batch": batch, "epoch_s": epoch_s, "eval_s": eval_s, "epochs": epochs}
    return Plan("mnist-cnn", "mnist-cnn", batch, epochs, "epochs", precision, "test accuracy", expected, wall,
                peak, over["torch_rss"], mem.as_dict(), shlex.join(cmd), notes, [row])


def describe(p: Plan) -> str:
    """The plan as the command line prints it."""
    lo, hi = p.expected
    outside = p.passes is not None and p.passes > MAX_PASSES
    metric = (f"{lo:.2%}–{hi:.2%} (on MNIST)" if p.metric == "test accuracy" else
              f"{lo:.2f}–{hi:.2f}" if not math.isnan(lo) else
              f"not predicted (outside the law's range: {p.passes:.1f} passes over the data)" if outside else
              "not predicted")
    m = p.memory
    lines = [f"plan for {p.task}: {p.preset}, batch {p.batch_size}, {p.steps:,} {p.unit}, {p.precision}",
             f"  expect: {p.metric} {metric}; wall time ~{_time(p.wall_s)}; peak memory ~{_mb(p.peak_bytes)} "
             f"above an idle Python process with torch imported ({_mb(p.baseline_bytes)}; --memory budgets this part), "
             f"~{_mb(p.peak_bytes + p.baseline_bytes)} in all",
             f"  training memory: parameters {_mb(m['params'])}, gradients {_mb(m['grads'])}, optimizer "
             f"{_mb(m['optimizer'])}, activations {_mb(m['activations'])}, workspace {_mb(m['workspace'])}",
             *(f"  note: {n}" for n in p.notes), "run:", f"  {p.command}"]
    return "\n".join(lines)
