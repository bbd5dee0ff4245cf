"""Pre-train a GPT on text through the one ``Trainer``: ``fromzero pretrain gpt``.

An iteration-based run maps onto the trainer's epochs: one "epoch" is ``eval_interval``
optimizer steps on an endless stream of random windows, then a validation loss on a fixed set
of validation windows, a text sample, tokens/s and MFU (added to the epoch logs), and a
resumable checkpoint. The run directory gets ``model.safetensors`` + ``model.json``, the
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
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checkpoint import load_weights, make_config, read_json, save_json, save_model
from .. import distributed as dist
from ..device import native_bf16, resolve_device, seed_everything
from ..errors import ConfigError
from ..models.gpt import GPT, PRESETS, GPTConfig
from ..rnn import lm as rnn_lm
from ..text.data import RandomWindows, eval_batches, load_corpus, train_tokenizer
from ..text.tokenizer import load_tokenizer, save_tokenizer
from ..train import Callback, Trainer
from ..train.schedules import WarmupCosine, WarmupStableDecay, constant


# the PretrainConfig fields with a fixed set of values (the CLI offers the same)
CHOICES = {"tokenizer": ("char", "bpe"), "optimizer": ("adamw", "muon"),
           "schedule": ("cosine", "wsd", "constant"), "device": ("auto", "cpu", "cuda", "mps"),
           "strategy": dist.STRATEGIES, "amp": ("auto", "on", "off")}


@dataclass
class PretrainConfig:
    """Training settings; the model's come from the preset (``GPTConfig`` fields)."""
    tokenizer: str = "char"      # char | bpe
    bpe_vocab_size: int = 4096   # BPE only
    batch_size: int = 12
    grad_accum: int = 1
    max_iters: int = 2000        # optimizer steps
    eval_interval: int = 250     # steps between validations, samples and checkpoints
    eval_tokens: int = 2**20     # validation tokens per evaluation, evenly spaced (0 = the whole split)
    optimizer: str = "adamw"     # adamw | muon (Muon for hidden matrices, AdamW for the rest)
    lr: float = 3e-3             # AdamW's peak learning rate
    muon_lr: float = 0.02        # Muon's peak learning rate
    schedule: str = "cosine"     # cosine (warmup + cosine) | wsd (warmup-stable-decay) | constant
    warmup: int = 100
    min_lr_ratio: float = 0.1    # final lr = min_lr_ratio * lr
    weight_decay: float = 0.1
    beta2: float = 0.99
    grad_clip: float = 1.0       # 0 = no clipping
    compile: bool = False        # torch.compile the model
    amp: str = "auto"            # bf16 autocast: auto (where the hardware has native bf16) | on | off
    threads: int = 0             # CPU threads (0 = torch's default, one per core; 1 on a busy machine)
    device: str = "auto"
    seed: int = 1337
    sample_tokens: int = 200     # tokens of text printed at each evaluation (0 = none)
    sample_prompt: str = ""
    peak_flops: float = 0.0      # for MFU; 0 = measure this device's matmul throughput (fp32, or bf16 with amp)
    strategy: str = "auto"       # ddp | fsdp | auto (ddp under torchrun) | none: docs/distributed.md
    activation_checkpointing: bool = False  # recompute each block's activations in backward
    plot: bool = True            # history.png at the end (matplotlib; its import costs ~20 MB of memory)

    def __post_init__(self):
        p = []
        p += [f"{k}={getattr(self, k)!r} is not one of {', '.join(v)}" for k, v in CHOICES.items()
              if getattr(self, k) not in v]
        for k in ("batch_size", "grad_accum", "max_iters", "eval_interval"):
            if getattr(self, k) < 1:
                p.append(f"{k} must be at least 1, got {getattr(self, k)}")
        for k in ("lr", "muon_lr"):
            if not getattr(self, k) > 0:
                p.append(f"{k} must be positive, got {getattr(self, k)}")
        if not 0 <= self.min_lr_ratio <= 1:
            p.append(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.tokenizer == "bpe" and not 257 <= self.bpe_vocab_size:
            p.append(f"bpe_vocab_size must be at least 257, got {self.bpe_vocab_size}")
        if p:
            raise ConfigError("PretrainConfig: " + "; ".join(p))


# The default recipe of each preset: PretrainConfig fields, then GPTConfig fields.
RECIPES: dict[str, dict] = {
    "tiny": dict(batch_size=8, max_iters=50, eval_interval=25, warmup=5, lr=3e-3, sample_tokens=0,
                 eval_tokens=2048),
    # nanoGPT's CPU shakespeare_char size (4x4x128, context 64, batch 12, 2000 iterations, no dropout)
    "shakespeare-char": dict(batch_size=12, max_iters=2000, eval_interval=250, warmup=100, lr=3e-3),
    # the same size on the Tang poems (6,431 characters), with room for two poems of context
    "tang-char": dict(batch_size=16, max_iters=1500, eval_interval=250, warmup=100, lr=3e-3,
                      eval_tokens=65536),
    "cpu-small": dict(batch_size=32, max_iters=3000, eval_interval=250, warmup=100, lr=3e-3),
    "cpu-medium": dict(batch_size=64, max_iters=5000, eval_interval=500, warmup=200, lr=1e-3),
    "gpt2": dict(tokenizer="bpe", bpe_vocab_size=50304, batch_size=16, grad_accum=32, max_iters=5000,
                 eval_interval=500, warmup=700, lr=6e-4, beta2=0.95),
    "gpt2-medium": dict(tokenizer="bpe", bpe_vocab_size=50304, batch_size=8, grad_accum=64,
                        max_iters=5000, eval_interval=500, warmup=700, lr=3e-4, beta2=0.95),
    "gpt2-large": dict(tokenizer="bpe", bpe_vocab_size=50304, batch_size=4, grad_accum=128,
                       max_iters=5000, eval_interval=500, warmup=700, lr=2.5e-4, beta2=0.95),
}

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
    make_config(config_cls, model_over, source=config_cls.__name__)  # types checked before any work
    return cfg, model_over


# --- callbacks ----------------------------------------------------------------------------------

class StopAt(Callback):
    """Stop after ``max_steps`` optimizer steps (the last "epoch" may be short)."""

    def __init__(self, max_steps: int):
        self.max_steps = max_steps

    def on_batch_end(self, trainer, logs):
        if trainer.step >= self.max_steps:
            trainer.stop_training = True


class SampleText(Callback):
    """Print a short text sample after each evaluation (with the KV cache)."""

    def __init__(self, tokenizer, n_tokens: int = 200, prompt: str = "", seed: int = 0, file=None):
        self.tok, self.n, self.prompt, self.seed, self.file = tokenizer, n_tokens, prompt, seed, file

    def on_epoch_end(self, trainer, epoch, logs):
        from ..generate import generate_text

        if self.n <= 0 or not (dist.is_main() or dist.is_sharded(trainer.model)):
            return  # under FSDP every rank takes part in the forward passes; rank 0 prints
        text = generate_text(trainer.model, self.prompt, self.n, temperature=0.8, top_k=200,
                             seed=self.seed, tokenizer=self.tok, on_note=lambda s: None)
        from tqdm.auto import tqdm

        if dist.is_main():
            tqdm.write(f"--- sample after step {trainer.step} ---\n{self.prompt}{text}\n---",
                       file=self.file or sys.stderr)


class Throughput(Callback):
    """Add ``tokens_per_s`` and ``mfu`` (model FLOPs utilisation) to each epoch's logs.

    FLOPs per token ≈ 6N + 12·L·H·Q·T (``GPT.flops_per_token``); the peak is ``peak_flops``, or
    when 0 this device's measured matmul throughput in the training's matmul dtype (fp32, or
    bf16 under bf16 autocast: an fp32 peak would put a bf16 run above 100%).
    """

    def __init__(self, model: GPT, tokens_per_sample: int, peak_flops: float = 0.0,
                 dtype: torch.dtype = torch.float32):
        self.flops = model.flops_per_token(tokens_per_sample)
        self.T, self.peak, self.dtype = tokens_per_sample, peak_flops, dtype

    def on_train_begin(self, trainer):
        if not self.peak:
            self.peak = measure_peak_flops(trainer.device, dtype=self.dtype)

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
        from ..train.muon import muon
        return lambda model: muon(model, lr=cfg.lr, muon_lr=cfg.muon_lr, weight_decay=cfg.weight_decay,
                                  betas=betas)
    from ..train.optim import adamw
    return lambda model: adamw(model, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=betas)


def _tokenizer(data, cfg: PretrainConfig, out: Path, resume: bool):
    if resume and (out / "tokenizer.json").is_file():
        return load_tokenizer(out)
    tok = train_tokenizer(data, cfg.tokenizer, cfg.bpe_vocab_size)
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
    return tok, GPTConfig.from_dict({**spec["config"], **model_over})


def pretrain(data="shakespeare", preset: str = "shakespeare-char", out="runs/gpt", resume: bool = False,
             verbose: int = 1, callbacks=(), init=None, family: str = "gpt", **overrides) -> Path:
    """Pre-train a GPT on ``data``; returns the run directory.

    Args:
        data: ``"shakespeare"``, ``"tang-poems"``, or a UTF-8 text file or folder.
        preset: a model size and its default recipe (``PRESETS``, ``RECIPES``).
        out: the run directory (created).
        resume: continue from the newest checkpoint in ``out`` (same data and options).
        callbacks: more ``Callback`` objects for the trainer.
        init: a pre-trained run to continue from (domain adaptation): its tokenizer and model
            config are used and its weights loaded; model overrides may only change ``dropout``.
        family: the model family, a key of ``FAMILIES``: ``"gpt"``, or ``"lstm"`` (``fromzero.rnn.lm``).
        **overrides: ``PretrainConfig`` fields (``max_iters=500``, ``lr=1e-3``, ...) and
            ``GPTConfig`` fields (``block_size=128``, ``dropout=0.1``, ...).
    """
    out = Path(out)
    if resume and (out / "pretrain.json").is_file():     # the saved options, updated by the new ones
        saved = read_json(out / "pretrain.json")
        data, preset, family = saved["data"], saved["preset"], saved.get("family", "gpt")
        overrides = {**saved["overrides"], **overrides}
        init = saved.get("init") or init
    cfg, model_over = split_overrides(preset, overrides, family)
    model_cls, config_cls, presets, _ = FAMILIES[family]
    device = dist.init(cfg.device)  # this process's device; joins torchrun's process group, if any
    out.mkdir(parents=True, exist_ok=True)
    if dist.is_main():
        save_json(out / "pretrain.json", {"data": str(data), "family": family, "preset": preset,
                                          "overrides": overrides,
                                          "config": dataclasses.asdict(cfg), "init": init and str(init)})
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    with dist.main_first():  # rank 0 trains the tokenizer and fills the token cache; the others read them
        if init:
            tok, mcfg = _from_init(init, model_over, out)
        else:
            tok = _tokenizer(data, cfg, out, resume or not dist.is_main())
            mcfg = config_cls.from_dict({**presets[preset], **model_over, "vocab_size": tok.vocab_size})
        corpus = load_corpus(data, tok)
    train = RandomWindows(corpus.train, cfg.batch_size, mcfg.block_size, seed=cfg.seed)
    val = eval_batches(corpus.val, mcfg.block_size, batch_size=cfg.batch_size * cfg.grad_accum,
                       max_tokens=cfg.eval_tokens or None)
    model = model_cls(mcfg)
    if init:
        load_weights(Path(init) / "model.safetensors", model)
    amp = native_bf16(device) if cfg.amp == "auto" else cfg.amp == "on"
    if verbose and dist.is_main():
        print(f"{model_cls.__name__} {preset}: {model.num_params() / 1e6:.2f}M parameters, "
              f"vocab {tok.vocab_size}, "
              f"{len(corpus.train):,} train / {len(corpus.val):,} val tokens; {device}, "
              f"{'bf16 autocast' if amp else 'fp32'}", file=sys.stderr)
    callbacks = [Throughput(model, mcfg.block_size, cfg.peak_flops, torch.bfloat16 if amp else torch.float32),
                 StopAt(cfg.max_iters),
                 SampleText(tok, cfg.sample_tokens if verbose else 0, cfg.sample_prompt, cfg.seed),
                 *callbacks]
    trainer = Trainer(model, optimizer=_optimizer(cfg), loss=None, callbacks=callbacks, device=device,
                      grad_clip=cfg.grad_clip or None, grad_accum=cfg.grad_accum,
                      schedule=_schedule(cfg), amp=amp, compile=cfg.compile, run_dir=out, verbose=verbose,
                      strategy=cfg.strategy, activation_checkpointing=cfg.activation_checkpointing,
                      plot=cfg.plot)
    epochs = -(-cfg.max_iters // cfg.eval_interval)
    trainer.fit(train, epochs=epochs, steps_per_epoch=cfg.eval_interval, validation_data=val,
                resume=resume)
    last = trainer.history.epochs[-1] if trainer.history.epochs else {}
    save_model(out, model, extra={"task": "language-modeling", "data": str(data), "preset": preset,
                                  "tokenizer": "tokenizer.json", "step": trainer.step,
                                  **({"init": str(init)} if init else {}),
                                  "val_loss": last.get("val_loss")})
    return out


# --- saved runs: ``fromzero evaluate RUN`` / ``fromzero predict RUN PROMPT`` ----------------------

def evaluate_run(run_dir, data_dir=None, device="auto") -> dict:
    """Validation loss (and perplexity) of a saved language model on its corpus's validation split."""
    from ..checkpoint import load_model

    run_dir = Path(run_dir)
    spec = read_json(run_dir / "model.json")
    model, tok = load_model(run_dir), load_tokenizer(run_dir)
    corpus = load_corpus(data_dir or spec["data"], tok)
    trainer = Trainer(model, loss=None, device=device, verbose=0)
    logs = trainer.evaluate(eval_batches(corpus.val, model.config.block_size, 64))
    return {"loss": logs["loss"], "perplexity": math.exp(logs["loss"])}


def predict_run(run_dir, prompt, device="auto", max_new_tokens: int = 200, top=None, **kw) -> dict:
    """Generated text after ``prompt`` (``top``, the classifiers' option, does not apply)."""
    from ..generate import generate_text

    text = generate_text(run_dir, prompt, max_new_tokens, device=resolve_device(device), **kw)
    return {"text": text, "lines": [prompt + text]}
