"""Throughput measured on this machine (cached), the table of ``fromzero models``, and a child
process's wall time and peak memory."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ..device import describe_machine, machine, native_bf16, resolve_device
from ..errors import ConfigError
from ..io import atomic_open, cache_dir
from ..models.configs import gpt_config, rnn_lm_config
from ..recipes.configs import GPT_RECIPES, MNIST_SPEEDRUN, PretrainConfig, RNN_RECIPES
from .cards import Card, _build, build_cnn, cards, training_memory

# --- measured throughput, cached -----------------------------------------------------------------

def cache_file() -> Path:
    return cache_dir() / "zoo" / "throughput.json"


def _key(preset: str, batch: int, block: int, device: str, threads: int, vocab: int | None) -> str:
    cpu = machine()["cpu"] if device == "cpu" else torch.cuda.get_device_name() if device == "cuda" else device
    return (f"{preset}|batch={batch}|block={block}|vocab={vocab}|{device}|threads={threads}|"
            f"torch={torch.__version__}|{cpu}")


def read_cache() -> dict:
    try:
        return json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}


def cached_throughput(preset: str, batch: int, block: int, device: str = "cpu", threads: int | None = None,
                      vocab: int | None = None) -> dict | None:
    """The cached measurement of ``measure_throughput`` for these settings, or None."""
    threads = threads or torch.get_num_threads()
    return read_cache().get(_key(preset, batch, block, str(device), threads, vocab))


def measure_throughput(preset: str, batch: int, block: int, device: str = "cpu", threads: int | None = None,
                       vocab: int | None = None, seconds: float = 3.0, refresh: bool = False,
                       child: bool = True) -> dict:
    """Training and evaluation throughput of ``preset`` ("shakespeare-char", "lstm/tiny",
    "mnist-cnn", ...) on ``device``, measured once and cached (``cache_file()``), keyed by preset,
    batch, block, vocabulary, device, threads, torch version and CPU model.

    A few steps of the recipe's model, optimizer and precision through the ``Trainer`` (two
    warm-up steps, then at least ``seconds``), then forward passes at the evaluation batch, in a
    child process (``child=False``: in this one), whose peak memory above the same imports
    (``train_peak``) is what training adds to a process, allocator slack included.
    Returns ``{"step_s", "samples_per_s", "tokens_per_s", "eval_samples_per_s", "train_peak", ...}``.
    """
    device = str(resolve_device(device))
    threads = threads or torch.get_num_threads()
    key = _key(preset, batch, block, device, threads, vocab)
    cache = read_cache()
    if key in cache and not refresh:
        return cache[key]
    if child:
        result = _measure_in_child(preset, batch, block, device, threads, vocab, seconds)
    else:
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            result = _measure(preset, batch, block, torch.device(device), vocab, seconds)
        finally:
            torch.set_num_threads(old)
    result.update(measured=time.strftime("%Y-%m-%dT%H:%M:%S"), threads=threads, torch=torch.__version__)
    write_cache(key, result)
    return result


_CHILD = ("import json, sys, torch; from fromzero.zoo import measure as m; import fromzero.train, fromzero.train.muon; "
          "a = json.loads(sys.argv[1]); torch.set_num_threads(a['threads']); "
          "r = m._measure(a['preset'], a['batch'], a['block'], torch.device(a['device']), a['vocab'], a['seconds']) "
          "if a['preset'] else {}; open(a['out'], 'w').write(json.dumps(r))")


def _measure_in_child(preset, batch, block, device, threads, vocab, seconds) -> dict:
    """``_measure`` in a child process, with its peak memory less that of a child that only imports."""
    with tempfile.TemporaryDirectory(prefix="fromzero-measure-") as tmp:
        out = Path(tmp) / "result.json"
        base_key = f"child-baseline|{device}|threads={threads}|torch={torch.__version__}|{machine()['cpu']}"
        runs = {"base": read_cache().get(base_key)}      # the imports alone: measured once per machine
        for what in ("base", "run") if runs["base"] is None else ("run",):
            args = {"preset": preset if what == "run" else None, "batch": batch, "block": block, "device": device,
                    "threads": threads, "vocab": vocab, "seconds": seconds, "out": str(out)}
            runs[what] = run_measured(["-c", _CHILD, json.dumps(args)], {"OMP_NUM_THREADS": str(threads)},
                                      quiet=False)
            if runs[what]["rc"]:
                raise ConfigError(f"measuring {preset} failed in a child process (exit status {runs[what]['rc']})")
            if what == "base":
                write_cache(base_key, runs["base"])
        result = json.loads(out.read_text())
    return {**result, "train_peak": runs["run"]["peak_rss"] - runs["base"]["peak_rss"]}


def write_cache(key: str, value: dict) -> None:
    """Add ``key: value`` to the measurement cache (re-read first: another process may have written)."""
    cache = read_cache()
    cache[key] = value
    with atomic_open(cache_file()) as f:
        f.write(json.dumps(cache, indent=1, sort_keys=True).encode())


def _trainer_and_batches(preset: str, batch: int, block: int, device, vocab: int | None):
    from ..train import Trainer  # lazy: the trainer and optimizers (torch._dynamo, ~2 s) for a measurement only
    from ..train.muon import Muon, muon, muon_param_groups  # lazy: as above
    from ..train.optim import adamw  # lazy: as above

    amp = native_bf16(device)
    family, name = preset.split("/", 1) if "/" in preset else ("gpt", preset)
    if preset == "mnist-cnn":
        model = build_cnn()
        r = MNIST_SPEEDRUN
        kernels = [p for p in model.parameters() if p.dim() >= 2]
        opt = Muon(muon_param_groups(model, r["lr"], r["muon_lr"], outputs=kernels[-1:]), lr=r["muon_lr"],
                   betas=(0.9, 0.99))
        trainer = Trainer(model, optimizer=opt, loss="sparse_categorical_crossentropy", device=device, verbose=0)
        x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
        return trainer, (x, y), False
    if family == "gpt":
        cfg = PretrainConfig(**GPT_RECIPES.get(name, {}))
        model = _build("gpt", gpt_config(name, block_size=block, **({"vocab_size": vocab} if vocab else {})))
    elif family == "lstm":
        cfg = PretrainConfig(**RNN_RECIPES.get(name, {}))
        model = _build("lstm", rnn_lm_config(name, block_size=block, **({"vocab_size": vocab} if vocab else {})))
    else:
        raise ConfigError(f"measure: expected a GPT or LSTM preset or mnist-cnn, got {preset!r}")
    betas = (0.9, cfg.beta2)
    opt = (muon(model, lr=cfg.lr, muon_lr=cfg.muon_lr, weight_decay=cfg.weight_decay, betas=betas)
           if cfg.optimizer == "muon" else adamw(model, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=betas))
    trainer = Trainer(model, optimizer=opt, loss=None, device=device, grad_clip=cfg.grad_clip or None,
                      amp=amp, verbose=0)
    V = model.config.vocab_size
    x = torch.randint(0, V, (batch, block))
    return trainer, (x, torch.randint(0, V, (batch, block))), amp


def _measure(preset: str, batch: int, block: int, device, vocab, seconds: float) -> dict:
    trainer, (x, y), amp = _trainer_and_batches(preset, batch, block, device, vocab)
    b = [(x.to(device), y.to(device))]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(2):
        trainer.train_step(b)
    sync()
    n, t0 = 0, time.perf_counter()
    while n < 3 or (time.perf_counter() - t0 < seconds and n < 200):
        trainer.train_step(b)
        n += 1
    sync()
    step_s = (time.perf_counter() - t0) / n
    trainer.model.eval()
    with torch.no_grad():
        trainer.compute_loss(b[0])
        m, t0 = 0, time.perf_counter()
        while m < 3 or (time.perf_counter() - t0 < seconds / 3 and m < 200):
            trainer.compute_loss(b[0])
            m += 1
        sync()
        eval_s = (time.perf_counter() - t0) / m
    tokens = batch * (block if preset != "mnist-cnn" else 1)
    return {"step_s": step_s, "samples_per_s": batch / step_s, "tokens_per_s": tokens / step_s,
            "eval_samples_per_s": batch / eval_s, "eval_tokens_per_s": tokens / eval_s, "steps": n,
            "precision": "bf16" if amp else "fp32", "batch": batch, "block": block}


# --- the table of ``fromzero models`` -------------------------------------------------------------

MEASURABLE = ("gpt", "lstm", "cnn")
MAX_MEASURED_FLOPS = 2.5e11   # --measure skips rows whose one step costs more (cpu-medium and up: minutes on a CPU)


def _measure_id(card: Card) -> str:
    return card.preset if card.family == "gpt" else f"lstm/{card.preset}" if card.family == "lstm" else card.name


def zoo_table(batch_size: int | None = None, block_size: int | None = None, gpus: int = 1,
              precision: str = "fp32", activation_checkpointing: bool = False, measure: bool = False,
              threads: int = 0, device: str = "auto", **_) -> list[dict]:
    """``fromzero models``: one dict per card with its memory and, where measured, its throughput."""
    dev = str(resolve_device(device))
    rows = []
    for c in cards():
        B = batch_size or c.batch_size
        T = (block_size or c.block_size) if c.unit == "token" else 1
        mem = training_memory(c, B, T, precision, gpus, activation_checkpointing)
        row = {"name": c.name, "task": c.task, "params": c.params, "flops": c.flops, "unit": c.unit,
               "batch_size": B, "block_size": T, "optimizer": c.optimizer, "memory": mem.as_dict(),
               "throughput": None, "command": c.command}
        if c.family in MEASURABLE:
            args = (_measure_id(c), B, T, dev, threads or None)
            tp = cached_throughput(*args)
            if tp is None and measure and c.flops * B * T <= MAX_MEASURED_FLOPS:
                print(f"fromzero: measuring {c.name} at batch {B} x {T} on {dev}", file=sys.stderr)
                tp = measure_throughput(*args)
            row["throughput"] = tp
        rows.append(row)
    return rows


def _si(x: float) -> str:
    for unit, v in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= v:
            return f"{x / v:.3g}{unit}"
    return f"{x:.3g}"


def format_table(rows: list[dict], cfg=None) -> str:
    """The rows of ``zoo_table`` as an aligned text table, with the machine and how to read it."""
    gpus = getattr(cfg, "gpus", 1)
    head = ["model", "params", "FLOPs/unit", "batch x T", "param MiB", "grad MiB", "optim MiB", "activ MiB",
            "total MiB", "measured"]
    lines = []
    for r in rows:
        m, tp = r["memory"], r["throughput"]
        speed = "-" if tp is None else (f"{_si(tp['tokens_per_s'])} tok/s" if r["unit"] == "token"
                                         else f"{_si(tp['samples_per_s'])} samples/s")
        lines.append([r["name"], _si(r["params"]), f"{_si(r['flops'])}/{r['unit']}",
                      f"{r['batch_size']} x {r['block_size']}",
                      *(f"{m[k] / 2**20:,.1f}" for k in ("params", "grads", "optimizer", "activations", "total")),
                      speed])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    fmt = lambda row: "  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w)  # noqa: E731
                                for i, (x, w) in enumerate(zip(row, widths)))
    per = f" per GPU (FSDP, {gpus} GPUs)" if gpus > 1 else ""
    return "\n".join([f"training memory in MiB (2^20 bytes){per}, {getattr(cfg, 'precision', 'fp32')} activations; "
                      f"measured: training throughput on this machine ({describe_machine()})",
                      fmt(head), *map(fmt, lines),
                      "'-': not measured yet (fromzero models --measure); tasks and commands: --json"])


def json_table(rows: list[dict], cfg=None) -> dict:
    """The rows of ``zoo_table`` for ``fromzero models --json``: units in the key names (bytes as
    integers), with the machine the throughput was measured on."""
    def row(r):
        m = r["memory"]
        memory = {f"{k}_bytes": int(round(m[k])) for k in ("params", "grads", "optimizer", "activations",
                                                             "workspace", "total")}
        out = {k: v for k, v in r.items() if k not in ("flops", "memory")}
        return {**out, "flops_per_unit": r["flops"], "memory": {**memory, "gpus": m["gpus"]}}
    return {"machine": describe_machine(), "precision": getattr(cfg, "precision", "fp32"),
            "models": [row(r) for r in rows]}


# --- a process's wall time and peak memory ------------------------------------------------------

# Runs a module (-m NAME ARGS...) or code (-c CODE) and, at exit, writes the process's own peak
# resident memory (VmHWM) to $FROMZERO_PEAK_FILE. A child's ru_maxrss is no use for this: Linux keeps
# the high-water mark of the memory the child replaced at exec, which is its parent's.
_PEAK_WRAPPER = """
import atexit, os, sys
def _peak():
    with open('/proc/self/status') as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith('VmHWM:'))
    with open(os.environ['FROMZERO_PEAK_FILE'], 'w') as f:
        f.write(str(kib * 1024))
atexit.register(_peak)
kind, what, *rest = sys.argv[1:]
if kind == '-m':
    import runpy
    sys.argv = [what, *rest]
    runpy.run_module(what, run_name='__main__', alter_sys=True)
else:
    sys.argv = ['-c', *rest]
    exec(compile(what, '<string>', 'exec'))
"""


def run_measured(args: list[str], env: dict | None = None, cwd=None, quiet: bool = True) -> dict:
    """Run ``python -m MODULE ...`` or ``python -c CODE`` (``args`` without the interpreter) as a
    child process: its wall time, exit status and peak resident memory (bytes; its own VmHWM from
    /proc on Linux, else the child's ``ru_maxrss``, which may include its parent's)."""
    with tempfile.TemporaryDirectory(prefix="fromzero-peak-") as tmp:
        peak_file = Path(tmp) / "peak"
        t0 = time.perf_counter()
        out = subprocess.DEVNULL if quiet else None
        p = subprocess.Popen([sys.executable, "-c", _PEAK_WRAPPER, *args], cwd=cwd, stdout=out, stderr=out,
                             env={**os.environ, **(env or {}), "FROMZERO_PEAK_FILE": str(peak_file)})
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        scale = 1 if platform.system() == "Darwin" else 1024        # ru_maxrss: bytes on macOS, KiB on Linux
        peak = int(peak_file.read_text()) if peak_file.is_file() else usage.ru_maxrss * scale
    return {"wall_s": wall, "rc": p.returncode, "peak_rss": peak}


def torch_baseline_rss(threads: int | None = None) -> float:
    """Peak resident memory of an idle process that imported torch: what every command pays first."""
    env = {"OMP_NUM_THREADS": str(threads)} if threads else None
    return run_measured(["-c", "import torch; torch.ones(1)"], env)["peak_rss"]
