"""Pre-train a GPT on text through the one ``Trainer``: ``fromzero pretrain gpt``.

Step-based training (``Trainer.fit(max_steps=max_iters, eval_every=eval_interval)``) on an
endless stream of random windows; every ``eval_interval`` steps a validation loss on a fixed set
of validation windows, a text sample, tokens/s and MFU (added to the logs), and a resumable
checkpoint. The run directory gets ``model.safetensors`` + ``model.json``, the
``tokenizer.json``, ``pretrain.json`` (this config) and the history.

Example:
    >>> run = pretrain("shakespeare", preset="shakespeare-char", out="runs/shakespeare")  # doctest: +SKIP
    >>> from fromzero.generate import generate_text
    >>> print(generate_text(run, "ROMEO:", max_new_tokens=200))                           # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..checkpoint import (load_model, load_weights, open_run, record_config, resume_changes, run_config,
                          save_model)

from ..config import make_config

from ..io import check_writable_dir, data_ref, read_json, save_json
from .. import distributed as dist
from ..device import native_bf16, resolve_device, seed_everything
from ..errors import CheckpointError, ConfigError
from ..generate import generate_text
from ..kernels import use_kernels
from ..models.gpt import GPT, PRESETS, GPTConfig
from ..models import rnn_lm
from ..text.data import BUILTIN as CORPORA, RandomWindows, eval_batches, load_corpus, train_tokenizer
from ..text.tokenizer import load_tokenizer, save_tokenizer
from ..train import Callback, StopAtTarget, Trainer, place
from ..train.muon import muon
from ..train.optim import adamw
from ..train.callbacks import tensorboard_if
from ..train.schedules import WarmupCosine, WarmupStableDecay, constant
from .configs import GPT_RECIPES as RECIPES, PretrainConfig


# Model families pretrain() builds: name -> (model class, config class, presets, recipes).
FAMILIES = {"gpt": (GPT, GPTConfig, PRESETS, RECIPES),
            "lstm": (rnn_lm.RNNLM, rnn_lm.RNNLMConfig, rnn_lm.PRESETS, rnn_lm.RECIPES)}


def split_overrides(preset: str, overrides: dict, family: str = "gpt") -> tuple[PretrainConfig, dict]:
    """The preset's recipe with ``overrides`` applied: (PretrainConfig, GPTConfig fields).

    Unknown keys and wrong types, of either kind, are reported together with the valid keys.
    """
    _, config_cls, presets, recipes = FAMILIES[family]
    if preset not in presets:
        raise ConfigError(f"unknown {family} preset {preset!r}; expected one of: {', '.join(presets)}")
    train_keys = {f.name for f in dataclasses.fields(PretrainConfig)}
    model_keys = {f.name for f in dataclasses.fields(config_cls)}
    unknown = [k for k in overrides if k not in train_keys | model_keys]
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(map(repr, unknown))}. Valid training keys: "
                          f"{', '.join(sorted(train_keys))}. Valid model keys: {', '.join(sorted(model_keys))}")
    recipe = {**recipes.get(preset, {}), **{k: v for k, v in overrides.items() if k in train_keys}}
    cfg = make_config(PretrainConfig, recipe, source="PretrainConfig")
    model_over = {k: v for k, v in overrides.items() if k in model_keys}
    # types and ranges checked before any work, against the preset's sizes (n_embd with its n_head)
    make_config(config_cls, {**presets[preset], **model_over}, source=config_cls.__name__)
    return cfg, model_over


# --- callbacks ----------------------------------------------------------------------------------

class SampleText(Callback):
    """Print a short text sample after each evaluation (with the KV cache)."""

    def __init__(self, tokenizer, n_tokens: int = 200, prompt: str = "", seed: int = 0, file=None):
        self.tok, self.n, self.prompt, self.seed, self.file = tokenizer, n_tokens, prompt, seed, file

    def on_epoch_end(self, trainer, epoch, logs):
        if self.n <= 0 or not (dist.is_main() or dist.is_sharded(trainer.model)):
            return  # under FSDP every rank takes part in the forward passes; rank 0 prints
        text = generate_text(trainer.model, self.prompt, self.n, temperature=0.8, top_k=200,
                             seed=self.seed, tokenizer=self.tok, on_note=lambda s: None)
        if dist.is_main():
            tqdm.write(f"--- sample after step {trainer.step} ---\n{self.prompt}{text}\n---",
                       file=self.file or sys.stderr)


class Throughput(Callback):
    """Add ``tokens_per_s`` and ``mfu`` (model FLOPs utilisation, a fraction of the peak) to each
    epoch's logs; with ``file``, say once what the peak is and where it came from.

    FLOPs per token ≈ 6N + 12·L·H·Q·T (``GPT.flops_per_token``); the peak is ``peak_flops``, or
    when 0 this device's measured matmul throughput in the training's matmul dtype (fp32, or
    bf16 under bf16 autocast: an fp32 peak would put a bf16 run above 100%).
    """

    def __init__(self, model: GPT, tokens_per_sample: int, peak_flops: float = 0.0,
                 dtype: torch.dtype = torch.float32, file=None):
        self.flops = model.flops_per_token(tokens_per_sample)
        self.T, self.peak, self.dtype, self.file = tokens_per_sample, peak_flops, dtype, file

    def on_train_begin(self, trainer):
        how = "--peak-flops"
        if not self.peak:
            self.peak = measure_peak_flops(trainer.device, dtype=self.dtype)
            how = (f"this {trainer.device.type.upper()}'s measured {str(self.dtype).replace('torch.', '')} "
                   "matmul throughput, not a datasheet peak; --peak-flops sets one")
        if self.file and dist.is_main():
            each = " per process" if dist.world_size() > 1 else ""
            rate = f"{self.peak / 1e12:.3g} TFLOP/s" if self.peak >= 1e12 else f"{self.peak / 1e9:.3g} GFLOP/s"
            print(f"fromzero: mfu (model FLOPs utilisation) is the training's FLOP/s as a percentage of {rate}{each} "
                  f"({how})", file=self.file)

    def on_epoch_end(self, trainer, epoch, logs):
        tps = logs.get("samples_per_s", 0.0) * self.T
        logs["tokens_per_s"] = tps
        logs["mfu"] = self.flops * tps / (self.peak * dist.world_size()) if self.peak else math.nan


def measure_peak_flops(device, n: int | None = None, reps: int = 4, rounds: int = 5,
                       dtype: torch.dtype = torch.float32) -> float:
    """Measured matmul throughput (FLOP/s) of ``device`` in ``dtype``, best of ``rounds``: the MFU reference.

    Small matrices on CPU (n=512) keep the BLAS work buffers, and so the process's memory, small.
    """
    device = torch.device(device)
    n = n or (4096 if device.type == "cuda" else 512)
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    a @ b
    best = 0.0
    for _ in range(rounds):
        sync()
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync()
        best = max(best, 2 * n ** 3 * reps / (time.perf_counter() - t0))
    return best


# --- the recipe ---------------------------------------------------------------------------------

def _schedule(cfg: PretrainConfig):
    if cfg.schedule == "cosine":
        return WarmupCosine(cfg.warmup, cfg.max_iters, cfg.min_lr_ratio)
    if cfg.schedule == "wsd":
        return WarmupStableDecay(cfg.warmup, cfg.max_iters, min_ratio=cfg.min_lr_ratio)
    return constant


def _optimizer(cfg: PretrainConfig):
    betas = (0.9, cfg.beta2)
    if cfg.optimizer == "muon":
        return lambda model: muon(model, lr=cfg.lr, muon_lr=cfg.muon_lr, weight_decay=cfg.weight_decay,
                                  betas=betas)
    return lambda model: adamw(model, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=betas)


def _tokenizer(data, cfg: PretrainConfig, out: Path, resume: bool):
    if resume and (out / "tokenizer.json").is_file():
        return load_tokenizer(out)
    tok = train_tokenizer(data, cfg.tokenizer, cfg.bpe_vocab_size, cfg.strip_gutenberg)
    save_tokenizer(tok, out / "tokenizer.json")
    return tok


def _from_init(init, model_over: dict, out: Path):
    """(tokenizer, GPTConfig) of the run ``init`` for continued pre-training; the tokenizer is copied to ``out``."""
    spec = read_json(Path(init) / "model.json")
    if spec.get("name") != "gpt":
        raise ConfigError(f"init {str(init)!r}: expected a GPT run (model.json name 'gpt'), got {spec.get('name')!r}")
    changed = sorted(k for k, v in model_over.items() if k != "dropout" and spec["config"].get(k) != v)
    if changed:
        raise ConfigError(f"init {str(init)!r}: continued pre-training keeps the model's architecture; "
                          f"only dropout may change, got {', '.join(changed)}")
    tok = load_tokenizer(init)
    save_tokenizer(tok, out / "tokenizer.json")
    return tok, make_config(GPTConfig, {**spec["config"], **model_over}, source="GPTConfig")


def _init_tokenizer(cfg: PretrainConfig, init, overrides: dict) -> PretrainConfig:
    """``cfg`` with the tokenizer of the run ``init``, which continued pre-training keeps (so that
    pretrain.json records the one used); a different ``--tokenizer`` given with it is refused."""
    tok = load_tokenizer(init)
    if overrides.get("tokenizer", tok.kind) != tok.kind:
        raise ConfigError(f"init {str(init)!r}: continued pre-training keeps the run's {tok.kind} tokenizer, "
                          f"got --tokenizer {overrides['tokenizer']}")
    return dataclasses.replace(cfg, tokenizer=tok.kind,
                               bpe_vocab_size=tok.vocab_size if tok.kind == "bpe" else cfg.bpe_vocab_size)


# What ``--resume`` may change: more steps, where and how fast it runs, what it prints. Any other
# option given with it must equal the run's own (or is refused): a resumed run records what it trained with.
MAY_CHANGE = ("max_iters", "device", "threads", "sample_tokens", "sample_prompt", "peak_flops", "plot",
              "compile", "strategy", "activation_checkpointing", "stop_at_loss", "tensorboard")


def _saved_options(out: Path) -> dict | None:
    """The options the run in ``out`` was started with: run.json's, or a legacy run's pretrain.json."""
    config = run_config(out)
    if config is None and (out / "pretrain.json").is_file():
        config = read_json(out / "pretrain.json")
    if config is not None and not (isinstance(config, dict) and isinstance(config.get("overrides"), dict)
                                   and isinstance(config.get("preset"), str) and "data" in config):
        raise CheckpointError(f"{out}: the saved pre-training options are not valid (expected data, preset, "
                              f"overrides), got {str(config)[:200]}")
    return config


def _resumed_options(saved: dict, data, preset, family, init, overrides: dict) -> tuple:
    """(data, preset, family, init, overrides) of a resumed run: the saved ones, with the given
    options that ``MAY_CHANGE`` allows; any other given option that differs is refused."""
    top = {"data": saved["data"], "preset": saved["preset"], "family": saved.get("family", "gpt"),
           "init": saved.get("init")}
    if top["family"] not in FAMILIES:
        raise CheckpointError(f"pretrain.json: unknown family {top['family']!r}")
    _, config_cls, presets, _ = FAMILIES[top["family"]]
    model_keys = {f.name for f in dataclasses.fields(config_cls)}
    cfg, _ = split_overrides(top["preset"], saved["overrides"], top["family"])
    effective = {**presets[top["preset"]], **{k: v for k, v in saved["overrides"].items() if k in model_keys},
                 **dataclasses.asdict(cfg), **top}
    if data and data_ref(saved["data"], CORPORA) == data:   # the same file, given relative or absolute
        data = saved["data"]
    given = {k: v for k, v in {"data": data and str(data), "preset": preset, "family": family,
                               "init": init and str(init)}.items() if v is not None}
    changes = resume_changes(effective, {**given, **overrides}, MAY_CHANGE, f"pretrain {top['family']} --resume")
    return (top["data"], top["preset"], top["family"], top["init"],
            {**saved["overrides"], **{k: v for k, v in changes.items() if k not in top}})


def pretrain(data=None, preset: str | None = None, out="runs/gpt", resume: bool = False,
             verbose: int = 1, callbacks=(), init=None, family: str | None = None, overwrite: bool = False,
             **overrides) -> Path:
    """Pre-train a GPT on ``data``; returns the run directory.

    Args:
        data: ``"shakespeare"`` (the default), ``"tang-poems"``, or a UTF-8 text file or folder.
        preset: a model size and its default recipe (``PRESETS``, ``RECIPES``); default ``"shakespeare-char"``.
        out: the run directory (created).
        resume: continue the run in ``out`` from its newest checkpoint, with the data and options it
            was started with; given ones may only change ``MAY_CHANGE`` (more ``max_iters``, ...).
        overwrite: replace an earlier run in ``out`` (its files are deleted once the new run has a
            checkpoint); without it, a non-empty ``out`` is refused.
        callbacks: more ``Callback`` objects for the trainer.
        init: a pre-trained run to continue from (domain adaptation): its tokenizer and model
            config are used and its weights loaded; model overrides may only change ``dropout``.
        family: the model family, a key of ``FAMILIES``: ``"gpt"`` (the default), or ``"lstm"``
            (``fromzero.models.rnn_lm``).
        **overrides: ``PretrainConfig`` fields (``max_iters=500``, ``lr=1e-3``, ...) and
            ``GPTConfig`` fields (``block_size=128``, ``dropout=0.1``, ...).
    """
    out = Path(out)
    data = data and data_ref(data, CORPORA)   # a user's file: its absolute path, for evaluate from anywhere
    saved = _saved_options(out) if resume else None
    if saved is not None:
        data, preset, family, init, overrides = _resumed_options(saved, data, preset, family, init, overrides)
    data, preset, family = data or "shakespeare", preset or "shakespeare-char", family or "gpt"
    if family not in FAMILIES:
        raise ConfigError(f"family: expected one of {', '.join(FAMILIES)}, got {family!r}")
    cfg, model_over = split_overrides(preset, overrides, family)
    if init and (Path(init) / "tokenizer.json").is_file():
        cfg = _init_tokenizer(cfg, init, overrides)
    check_writable_dir(out)
    device = dist.init(cfg.device)  # this process's device; joins torchrun's process group, if any
    options = {"data": str(data), "family": family, "preset": preset, "overrides": overrides,
               "config": dataclasses.asdict(cfg), "init": init and str(init)}
    with open_run(out, f"pretrain {family}", options, resume, overwrite) as run:
        if run.resumed and run.run_id and _saved_options(out) != saved:
            raise CheckpointError(f"{out}: the run there changed while this one started; try again")
        if run.resumed:
            record_config(run, options)                  # the changes --resume applied (more max_iters, ...)
        if dist.is_main():
            save_json(out / "pretrain.json", options)    # what this run trains with
        return _pretrain(data, preset, run.dir, resume, verbose, callbacks, init, family, cfg, model_over, device)


def _pretrain(data, preset, out, resume, verbose, callbacks, init, family, cfg, model_over, device) -> Path:
    model_cls, config_cls, presets, _ = FAMILIES[family]
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    with dist.main_first():  # rank 0 trains the tokenizer and fills the token cache; the others read them
        if init:
            tok, mcfg = _from_init(init, model_over, out)
        else:
            tok = _tokenizer(data, cfg, out, resume or not dist.is_main())
            mcfg = make_config(config_cls, {**presets[preset], **model_over, "vocab_size": tok.vocab_size},
                                   source=config_cls.__name__)
        corpus = load_corpus(data, tok, strip_gutenberg=cfg.strip_gutenberg)
    train = RandomWindows(corpus.train, cfg.batch_size, mcfg.block_size, seed=cfg.seed)
    val = eval_batches(corpus.val, mcfg.block_size, batch_size=cfg.batch_size * cfg.grad_accum,
                       max_tokens=cfg.eval_tokens or None)
    model = use_kernels(model_cls(mcfg))
    if init:
        load_weights(Path(init) / "model.safetensors", model)
    amp = native_bf16(device) if cfg.amp == "auto" else cfg.amp == "on"
    if verbose and dist.is_main():
        print(f"{model_cls.__name__} {preset}: {model.num_params() / 1e6:.2f}M parameters, "
              f"vocab {tok.vocab_size}, "
              f"{len(corpus.train):,} train / {len(corpus.val):,} val tokens; {device}, "
              f"{'bf16 autocast' if amp else 'fp32'}", file=sys.stderr)
    callbacks = [Throughput(model, mcfg.block_size, cfg.peak_flops, torch.bfloat16 if amp else torch.float32,
                            file=sys.stderr if verbose else None),
                 SampleText(tok, cfg.sample_tokens if verbose else 0, cfg.sample_prompt, cfg.seed),
                 *([StopAtTarget("val_loss", cfg.stop_at_loss)] if cfg.stop_at_loss else []),
                 *tensorboard_if(cfg.tensorboard, out),
                 *callbacks]
    trainer = Trainer(dist.parallelize(place(model, device), cfg.strategy, cfg.activation_checkpointing),
                      optimizer=_optimizer(cfg), loss=None, callbacks=callbacks, device=device,
                      grad_clip=cfg.grad_clip or None, grad_accum=cfg.grad_accum,
                      schedule=_schedule(cfg), amp=amp, compile=cfg.compile, run_dir=out, verbose=verbose,
                      plot=cfg.plot)
    trainer.fit(train, max_steps=cfg.max_iters, eval_every=cfg.eval_interval, validation_data=val,
                resume=resume)
    last = trainer.history.epochs[-1] if trainer.history.epochs else {}
    save_model(out, model, extra={"task": "language-modeling", "data": str(data), "preset": preset,
                                  "tokenizer": "tokenizer.json", "step": trainer.step,
                                  **({"init": str(init)} if init else {}),
                                  "val_loss": last.get("val_loss")})
    return out


# --- saved runs: ``fromzero evaluate RUN`` / ``fromzero predict RUN PROMPT`` ----------------------

def evaluate_run(run_dir, data_dir=None, device="auto") -> dict:
    """Validation loss (and perplexity) of a saved language model on its corpus's validation split
    (``"split"`` names it, ``"note"`` says what it is)."""
    run_dir = Path(run_dir)
    spec = read_json(run_dir / "model.json")
    model, tok = load_model(run_dir), load_tokenizer(run_dir)
    strip = ((run_config(run_dir) or {}).get("config") or {}).get("strip_gutenberg", True)
    corpus = load_corpus(data_dir or spec["data"], tok, strip_gutenberg=strip)
    trainer = Trainer(model, loss=None, device=device, verbose=0)
    logs = trainer.evaluate(eval_batches(corpus.val, model.config.block_size, 64))
    share = len(corpus.val) / (len(corpus.train) + len(corpus.val))
    note = (f"a language model has no test split: these are on the validation split, the last "
            f"{share:.0%} of {data_dir or spec['data']} ({len(corpus.val):,} tokens)")
    return {"split": "validation", "note": note, "loss": logs["loss"], "perplexity": math.exp(logs["loss"])}


def predict_run(run_dir, prompt, device="auto", max_new_tokens: int = 200, top=None, **kw) -> dict:
    """Generated text after ``prompt`` (``top``, the classifiers' option, does not apply)."""
    text = generate_text(run_dir, prompt, max_new_tokens, device=resolve_device(device), **kw)
    return {"text": text, "lines": [prompt + text]}
