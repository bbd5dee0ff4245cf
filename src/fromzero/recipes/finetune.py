"""Fine-tune a pre-trained GPT on a labelled text task through the one ``Trainer``: ``fromzero finetune``.

The recipe: load the GPT and its tokenizer from a ``fromzero pretrain`` run, put a
classification head on it (``GPTClassifier``: mean-pooled final hidden states, dropout, a linear
layer), train the whole model, or only some of it (``freeze``, LoRA adapters), with AdamW,
per-layer learning rates (``layer_decay``) and warmup + cosine decay, optionally after a linear
probe of the head alone (``probe_epochs``, LP-FT) or with GPT-1's auxiliary LM loss
(``lm_weight``); evaluate on the dev split ``evals_per_epoch`` times per epoch and keep the
weights with the best dev accuracy (model selection), then report dev and test accuracy.

``init="scratch"`` trains the same architecture, with the same tokenizer and recipe, from random
weights: the baseline that shows what pre-training buys.

The run directory gets ``model.safetensors`` + ``model.json`` (``"task": "text-classification"``),
``tokenizer.json``, ``finetune.json`` (this config), ``metrics.json`` and the history; ``fromzero
evaluate RUN`` and ``fromzero predict RUN "a sentence"`` work on it.

Example:
    >>> metrics = finetune("runs/gpt-movies", task="sst2", out="runs/sst2")       # doctest: +SKIP
    >>> predict_run("runs/sst2", "a gorgeous , witty , seductive movie .")["top"][0]  # doctest: +SKIP
    ('positive', 0.97)
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoint import continue_config, list_checkpoints, load_model, open_run, save_model

from ..io import check_writable_dir, read_json, save_json
from ..device import autocast, resolve_device, seed_everything
from .. import distributed as dist
from ..distributed import is_main
from ..errors import CheckpointError, ConfigError
from ..kernels import use_kernels
from ..lora import merge_lora
from ..models.classifier import ClassifierConfig, GPTClassifier, count_params, freeze, param_groups
from ..privacy.audit import membership_inference
from ..privacy.dp import DifferentialPrivacy
from ..text.labelled import (BUILTIN_TASKS, LabelledTask, LabelledText, PaddedBatches, encode_texts, find_split,
                             load_task, normalize_text, read_labelled)
from ..text.tokenizer import load_tokenizer, save_tokenizer
from ..train import KeepBest, Trainer, place
from ..train.callbacks import StillImproving, tensorboard_if
from ..train.schedules import WarmupCosine
from .runs import classify_texts, only_answer
from .configs import DEFAULT_LR, FinetuneConfig, finetune_config  # noqa: F401


def _check_base(base_run) -> dict:
    if not Path(base_run).is_dir():
        raise CheckpointError(f"{base_run}: run directory not found")
    spec = read_json(Path(base_run) / "model.json")
    if spec.get("name") != "gpt":
        raise CheckpointError(f"{base_run}: expected a run written by `fromzero pretrain gpt` "
                              f"(model.json name 'gpt'), got {spec.get('name')!r}")
    return spec


def build_classifier(base_run, cfg: FinetuneConfig, n_classes: int) -> GPTClassifier:
    """The classifier on the GPT of ``base_run``: its weights (``init="pretrained"``) or random ones."""
    spec = _check_base(base_run)
    head = dict(pool=cfg.pool, head_dropout=cfg.head_dropout, lora_rank=cfg.lora_rank,
                lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, lora_targets=cfg.lora_targets)
    if cfg.init == "scratch":
        return GPTClassifier(ClassifierConfig(gpt={**spec["config"], "dropout": cfg.dropout},
                                              n_classes=n_classes, **head))
    return GPTClassifier.from_pretrained(base_run, n_classes, gpt={"dropout": cfg.dropout}, **head)


def encoding_note(what: str, stats: dict) -> str | None:
    """What encoding ``what`` texts lost (``encode_texts``' ``stats``), in words; None when nothing.

    Example:
        >>> encoding_note("train", dict(texts=5452, cut=1114, block_size=128, unknown={"é": 2}))
        "1,114 of 5,452 train texts longer than 128 tokens were cut (20.4%); 2 characters not in the base vocabulary were dropped (1 distinct: 'é')"
    """
    parts = []
    n, cut, unknown = stats["texts"], stats["cut"], stats["unknown"]
    if cut:
        parts.append(f"{cut:,} of {n:,} {what} texts longer than {stats['block_size']:,} tokens were cut "
                     f"({100 * cut / n:.1f}%)")
    if unknown:
        top = sorted(unknown, key=lambda c: (-unknown[c], c))
        shown = " ".join(repr(c) for c in top[:20]) + (" ..." if len(top) > 20 else "")
        dropped = sum(unknown.values())
        chars, were = ("character", "was") if dropped == 1 else ("characters", "were")
        parts.append(f"{dropped:,} {chars} not in the base vocabulary {were} dropped ({len(top):,} distinct: {shown})")
    return "; ".join(parts) or None


def start_token(spec: dict, tok) -> int:
    """The token before each text of a saved classifier run: ``model.json``'s ``start_token``, or, for
    runs saved before it was recorded, the start token of then (``<|endoftext|>`` for BPE)."""
    if "start_token" not in spec:
        return tok.eot_id if tok.kind == "bpe" else tok.start_id
    start = spec["start_token"]
    if type(start) is not int or not 0 <= start < tok.vocab_size:
        raise CheckpointError(f"model.json: start_token: expected a token id in [0, {tok.vocab_size}) (the "
                              f"tokenizer's), got {start!r}")
    return start


def _batches(tok, data, labels, block_size: int, batch_size: int, shuffle=False, seed=0, what: str = "",
             notes: dict | None = None, start: int | None = None) -> PaddedBatches:
    """Padded batches of ``data``, each text after ``start`` (default: the tokenizer's ``start_id``);
    what encoding lost goes to stderr (and into ``notes[what]``)."""
    stats: dict = {}
    seqs = encode_texts(tok, data.texts, block_size, stats=stats, start=start)
    note = encoding_note(what or "input", stats)
    if note and is_main():
        print(f"note: {note}", file=sys.stderr)
    if notes is not None:
        notes[what] = {"texts": stats["texts"], "cut": stats["cut"], "unknown_chars": sum(stats["unknown"].values())}
    return PaddedBatches(seqs, None if labels is None else data.label_ids(labels), batch_size,
                         shuffle=shuffle, seed=seed)


def max_length(cfg: FinetuneConfig, context: int) -> int:
    """The tokens per text: ``cfg.max_length``, or the base model's ``context``; more is an error."""
    if cfg.max_length is None:
        return context
    if cfg.max_length > context:
        raise ConfigError(f"max_length: expected at most the base model's context ({context} tokens), "
                          f"got {cfg.max_length}; pre-train a base with a larger block_size for longer texts")
    return cfg.max_length


# What ``--resume`` may change: more epochs, and where it runs; anything else is refused.
MAY_CHANGE = ("epochs", "device", "strategy", "activation_checkpointing", "data_dir", "tensorboard")


def finetune(base_run, task: str = "sst2", out="runs/finetune", verbose: int = 1, callbacks=(),
             resume: bool = False, overwrite: bool = False, **overrides) -> dict:
    """Fine-tune the GPT of ``base_run`` on ``task``; writes the run ``out``, returns its metrics.

    Args:
        base_run: a run directory written by ``fromzero pretrain gpt`` (weights, model.json,
            tokenizer.json).
        task: ``"sst2"`` or a labelled file or folder (``fromzero.text.labelled.load_task``).
        out: the run directory to write.
        callbacks: more ``Callback`` objects for the trainer.
        resume: continue the run in ``out`` from its newest checkpoint (same base run and options,
            but for ``MAY_CHANGE``); ``overwrite``: replace an earlier run in ``out``.
        **overrides: ``FinetuneConfig`` fields (``epochs=3``, ``lora_rank=8``, ``freeze="blocks:2"``, ...).

    Returns:
        ``{"dev_accuracy", "test_accuracy" (if the task has a test split), "trainable_params", ...}``.
    """
    cfg = finetune_config(task=str(task), **overrides)
    base_run, out = Path(base_run), Path(out)
    max_length(cfg, _check_base(base_run)["config"]["block_size"])    # an error before any work
    if out.resolve() == base_run.resolve():
        raise ConfigError(f"out: {out} is the pre-trained run itself; write the fine-tuned run elsewhere")
    check_writable_dir(out)
    dist.init(cfg.device)  # before open_run: every rank learns the run that rank 0 opened
    start = {**dataclasses.asdict(cfg), "base_run": str(base_run.resolve())}
    with open_run(out, "finetune", start, resume, overwrite) as run:
        saved = dict(run.config or {})
        if run.resumed and saved.pop("base_run", str(base_run.resolve())) != str(base_run.resolve()):
            raise ConfigError(f"finetune --resume: {out} fine-tunes {run.config['base_run']}, not {base_run}")
        cfg = continue_config(run, cfg, FinetuneConfig, MAY_CHANGE, "finetune --resume", saved=saved or None)
        return _finetune(base_run, cfg, out, verbose, callbacks, resume)


def _finetune(base_run: Path, cfg: FinetuneConfig, out: Path, verbose: int, callbacks, resume: bool) -> dict:
    seed_everything(cfg.seed)
    tok = load_tokenizer(base_run)
    data = load_task(cfg.task, cfg.data_dir, cfg.text_column, cfg.label_column)
    model = build_classifier(base_run, cfg, len(data.labels))
    # DP-SGD (Opacus) hooks each Linear, Embedding and LayerNorm: the plain modules, not the fused kernels
    dp = [DifferentialPrivacy(cfg.dp_epsilon, cfg.dp_delta, cfg.dp_max_grad_norm)] if cfg.dp_epsilon else []
    model = model if dp else use_kernels(model)
    frozen = freeze(model, cfg.freeze) if cfg.freeze else []
    trainable, total = count_params(model)
    T, notes = max_length(cfg, model.gpt.config.block_size), {}
    train = _batches(tok, data.train, data.labels, T, cfg.batch_size, shuffle=True, seed=cfg.seed,
                     what="train", notes=notes)
    dev = _batches(tok, data.dev, data.labels, T, 128, what="dev", notes=notes)
    if verbose and is_main():
        print(f"fine-tuning ({cfg.mode}) on {data.name}: {len(data.train):,} train / {len(data.dev):,} dev "
              f"examples, {len(data.labels)} classes; {trainable:,} of {total:,} parameters trainable "
              f"({100 * trainable / total:.2f}%)", file=sys.stderr)
    every = -(-len(train) // cfg.evals_per_epoch)              # optimizer steps between evaluations
    max_steps = cfg.epochs * cfg.evals_per_epoch * every
    advice = (f"try --epochs {2 * cfg.epochs} or a larger --lr (now {cfg.peak_lr:g})"
              + (f", or more evaluations to choose from (--evals-per-epoch {2 * cfg.evals_per_epoch})"
                 if cfg.epochs * cfg.evals_per_epoch < 3 else ""))
    still = StillImproving("val_accuracy", advice=advice)
    t0 = time.perf_counter()
    probe = None
    if cfg.probe_epochs and not (resume and list_checkpoints(out)):   # a restored run has its head already
        probe = _probe(model, cfg, train, dev, verbose)     # before the model is wrapped for a distributed run
    trainer = _trainer(model, cfg, max_steps, out, verbose,
                       [*callbacks, *dp, *tensorboard_if(cfg.tensorboard, out), *([still] if is_main() else [])])
    trainer.fit(train, max_steps=max_steps, eval_every=every, validation_data=dev, resume=resume)
    train_time = time.perf_counter() - t0
    if cfg.lora_rank and cfg.merge:
        merge_lora(model)
    metrics = {"dev_" + k: v for k, v in trainer.evaluate(dev).items()}
    if data.test is not None:
        test = _batches(tok, data.test, data.labels, T, 128, what="test", notes=notes)
        metrics.update({"test_" + k: v for k, v in trainer.evaluate(test).items()})
    history = trainer.history.history.get("val_accuracy", [])
    metrics.update(best_eval=history.index(max(history)) + 1 if history else None, evals=len(history),
                   trainable_params=trainable, total_params=total, trainable_share=trainable / total,
                   frozen_params=len(frozen), train_time_s=train_time, mode=cfg.mode, lr=cfg.peak_lr,
                   max_length=T, encoding=notes, still_improving=still.fired,
                   **({"probe_dev_accuracy": probe} if probe is not None else {}))
    if dp:
        metrics.update(epsilon=dp[0].epsilon, delta=dp[0].delta, noise_multiplier=dp[0].noise_multiplier,
                       max_grad_norm=cfg.dp_max_grad_norm)
    _save_run(out, model, tok, data, cfg, base_run, metrics)
    return metrics


def _trainer(model, cfg: FinetuneConfig, total_steps: int, out: Path, verbose: int, callbacks) -> Trainer:
    """The Trainer of a fine-tuning run: AdamW on ``param_groups`` (per-layer learning rates), warmup
    + cosine decay, cross-entropy, and the best-dev-accuracy weights restored at the end."""
    def optimizer(m):
        return torch.optim.AdamW(param_groups(m, cfg.peak_lr, cfg.weight_decay, cfg.layer_decay),
                                 betas=(0.9, 0.98))

    device = dist.init(cfg.device)  # this process's device; joins torchrun's process group, if any
    trainer, aux = (AuxLMTrainer, {"lm_weight": cfg.lm_weight}) if cfg.lm_weight else (Trainer, {})
    return trainer(dist.parallelize(place(model, device), cfg.strategy, cfg.activation_checkpointing),
                   optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                   callbacks=[KeepBest("val_accuracy", mode="max"), *callbacks], device=device,
                   grad_clip=None if cfg.dp_epsilon else cfg.grad_clip or None,   # DP clips each example's
                   schedule=WarmupCosine(int(cfg.warmup * total_steps), total_steps, cfg.min_lr_ratio),
                   run_dir=out, verbose=verbose, keep_checkpoints=1, **aux)


PROBE_LR = 10     # the linear probe's peak learning rate, in multiples of the fine-tuning lr


def _probe(model, cfg: FinetuneConfig, train, dev, verbose: int) -> float:
    """LP-FT (Kumar et al. 2022): train the head alone for ``probe_epochs`` epochs while the rest stays
    fixed (its dropout on, as in the fine-tuning that follows), so that fine-tuning starts from a head
    that fits the pre-trained features instead of a random one. Returns the probe's dev accuracy."""
    fixed = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    if not fixed:
        raise ConfigError(f"probe_epochs: only the head trains in this run (freeze={cfg.freeze!r}), so a probe "
                          f"of the head alone would be the same training; got probe_epochs={cfg.probe_epochs}: "
                          "drop it (or give the head more --epochs)")
    lr = PROBE_LR * cfg.peak_lr
    if verbose and is_main():
        print(f"linear probe: the head alone for {cfg.probe_epochs} epoch(s) at lr {lr:g}, the rest fixed",
              file=sys.stderr)
    for p in fixed:
        p.requires_grad_(False)
    steps = cfg.probe_epochs * len(train)
    trainer = Trainer(model, optimizer=lambda m: torch.optim.AdamW(m.head.parameters(), lr=lr,
                                                                   weight_decay=cfg.weight_decay),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"], device=dist.init(cfg.device),
                      schedule=WarmupCosine(int(cfg.warmup * steps), steps, 0.0), verbose=verbose, plot=False)
    history = trainer.fit(train, max_steps=steps, eval_every=len(train), validation_data=dev).history
    accuracy = history["val_accuracy"][-1]
    for p in fixed:
        p.requires_grad_(True)
    if dist.world_size() > 1:     # each rank probed its own share of the data: all take rank 0's head
        for p in model.head.parameters():
            torch.distributed.broadcast(p.data, src=0)
    if verbose and is_main():
        print(f"linear probe: dev accuracy {accuracy:.4f}; now fine-tuning from this head", file=sys.stderr)
    return float(accuracy)


class AuxLMTrainer(Trainer):
    """The fine-tuning Trainer with GPT-1's auxiliary objective (``lm_weight`` > 0): while training, the
    loss (the training loss shown) is the classification loss + ``lm_weight`` x the language-model loss
    of the same texts; dev and test losses stay the classification loss."""
    def __init__(self, model, *, lm_weight: float, **kw):
        super().__init__(model, **kw)
        self.lm_weight = lm_weight

    def compute_loss(self, batch):
        if not self.model.training:
            return super().compute_loss(batch)
        x, y = batch
        with autocast(self.device, self.amp):
            outputs, lm_loss = self.forward(x, lm=True)
            loss = self.loss_fn(outputs, y)
        return loss + self.lm_weight * lm_loss, outputs, y


def _save_run(out: Path, model, tok, data: LabelledTask, cfg: FinetuneConfig, base_run: Path, metrics: dict):
    task_name = cfg.task if cfg.task in BUILTIN_TASKS else str(Path(cfg.task).resolve())
    save_model(out, model, extra={"task": "text-classification", "data": task_name, "base": str(base_run),
                                  "init": cfg.init, "labels": data.labels, "classes": data.classes,
                                  "normalize": data.normalize, "tokenizer": "tokenizer.json",
                                  "max_length": max_length(cfg, model.gpt.config.block_size),
                                  "start_token": tok.start_id,
                                  "text_column": cfg.text_column, "label_column": cfg.label_column,
                                  "lora": {"rank": cfg.lora_rank, "merged": cfg.merge} if cfg.lora_rank else None})
    if is_main():  # a distributed run: rank 0 writes
        save_tokenizer(tok, out / "tokenizer.json")
        save_json(out / "finetune.json", dataclasses.asdict(cfg))
        save_json(out / "metrics.json", metrics)


# --- saved runs: ``fromzero evaluate RUN`` / ``fromzero predict RUN "a sentence"`` ---------------

def _load(run_dir, device):
    """(model.json, the classifier on ``device``, the tokenizer) of a saved run."""
    run_dir = Path(run_dir)
    spec = read_json(run_dir / "model.json")
    model, tok = load_model(run_dir, device), load_tokenizer(run_dir)
    n, context, T = model.config.n_classes, model.gpt.config.block_size, spec.get("max_length")
    problems = []
    if not isinstance(spec.get("classes"), list) or len(spec["classes"]) != n:
        problems.append(f"classes: expected a list of {n} class names (the model's outputs), got "
                        f"{spec.get('classes')!r}"[:300])
    if T is not None and (type(T) is not int or not 2 <= T <= context):
        problems.append(f"max_length: expected a number of tokens from 2 to the model's context ({context}), got {T!r}")
    if problems:
        raise CheckpointError(f"{run_dir / 'model.json'}: " + "; ".join(problems))
    try:
        start_token(spec, tok)
    except CheckpointError as e:   # "model.json: ...": the run's file, by its path
        raise CheckpointError(f"{run_dir}/{e}") from None
    return spec, model, tok


load_classifier = _load   # the public name: (model.json, model, tokenizer), loaded once by fromzero serve


def _eval_data(spec: dict, data_dir) -> tuple:
    """(examples, what) to evaluate on: the task's test split, or the file/folder ``data_dir``."""
    name, cols = spec["data"], (spec.get("text_column", "text"), spec.get("label_column", "label"))
    if data_dir is not None and Path(data_dir).is_file():
        given, trained = Path(data_dir).resolve(), Path(name).resolve()
        if given == trained or (trained.is_dir() and given.parent == trained and given.name.startswith("train.")):
            print(f"warning: {data_dir} is the file this run was trained on (its training texts and the dev "
                  f"10% that chose the checkpoint): the accuracy says how well it fits them, not how it does on "
                  f"new text", file=sys.stderr)
        return read_labelled(data_dir, *cols), str(data_dir)
    if data_dir is not None and Path(data_dir).is_dir() and find_split(Path(data_dir), "train") is None \
            and (test_file := find_split(Path(data_dir), "test")) is not None:
        return read_labelled(test_file, *cols), str(test_file)        # a folder of test data only
    if name in BUILTIN_TASKS:
        task: LabelledTask = load_task(name, data_dir, *cols)
    else:
        task = load_task(data_dir or name, None, *cols)
    if task.test is None:
        raise CheckpointError(f"task {name!r} has no test split; give a labelled file with --data-dir")
    return task.test, str(task.test.path)


def evaluate_run(run_dir, data_dir=None, device="auto") -> dict:
    """Loss and accuracy of a saved text classifier on its task's test split (or ``data_dir``)."""
    device = resolve_device(device)
    spec, model, tok = _load(run_dir, device)
    data, _ = _eval_data(spec, data_dir)
    batches = _batches(tok, data, spec["labels"], spec.get("max_length") or model.gpt.config.block_size, 128,
                       what="evaluation", start=start_token(spec, tok))
    trainer = Trainer(model, loss="sparse_categorical_crossentropy", metrics=["accuracy"], device=device,
                      verbose=0)
    return trainer.evaluate(batches)


@torch.no_grad()
def audit_run(run_dir, n: int = 5000, data_dir=None, device="auto", seed: int = 0) -> dict:
    """The membership-inference attack (``fromzero.privacy.audit``) on a saved text classifier:
    ``n`` of its training texts (members) against ``n`` test texts (non-members)."""
    device = resolve_device(device)
    spec, model, tok = _load(run_dir, device)
    name, cols = spec["data"], (spec.get("text_column", "text"), spec.get("label_column", "label"))
    task = load_task(name, data_dir, *cols, verbose=False) if name in BUILTIN_TASKS else \
        load_task(data_dir or name, None, *cols, verbose=False)
    if task.test is None:
        raise CheckpointError(f"task {name!r} has no test split to compare the training texts with; give a "
                              "folder with train and test files with --data-dir")
    g = torch.Generator().manual_seed(seed)
    k = min(n, len(task.train), len(task.test))
    model.eval()
    losses = []
    for split in (task.train, task.test):
        pick = torch.randperm(len(split), generator=g)[:k].tolist()
        part = LabelledText([split.texts[i] for i in pick], [split.labels[i] for i in pick], split.path)
        batches = _batches(tok, part, spec["labels"], spec.get("max_length") or model.gpt.config.block_size, 128,
                           what="audit", start=start_token(spec, tok))
        losses.append(torch.cat([F.cross_entropy(model(x.to(device)).float(), y.to(device), reduction="none").cpu()
                                 for x, y in batches]))
    metrics = read_json(Path(run_dir) / "metrics.json") if (Path(run_dir) / "metrics.json").is_file() else {}
    return {**membership_inference(*losses), "epsilon": metrics.get("epsilon"),
            "members": f"training texts ({task.sources.get('train', name)})",
            "non_members": f"test texts ({task.sources.get('test', name)})"}


@torch.no_grad()
def predict_proba(run_dir, texts: list[str], device="cpu", loaded=None) -> tuple[list[str], torch.Tensor]:
    """(class names, probabilities (N, n_classes)) of a saved text classifier for raw ``texts``;
    ``loaded``: ``load_classifier(run_dir, device)``, kept from an earlier call (``fromzero serve``)."""
    device = resolve_device(device)
    spec, model, tok = loaded or _load(run_dir, device)
    texts = [normalize_text(t, spec.get("normalize")) for t in texts]
    stats: dict = {}
    x = PaddedBatches(encode_texts(tok, texts, spec.get("max_length") or model.gpt.config.block_size, stats=stats,
                                   start=start_token(spec, tok)), batch_size=128)
    if note := encoding_note("input", stats):
        print(f"note: {note}", file=sys.stderr)
    logits = Trainer(model, loss=None, device=device, verbose=0).predict(x)
    return spec["classes"], torch.softmax(logits, -1)


def predict_many(run_dir, texts: list[str], device="auto", top: int = 3, loaded=None) -> list[dict]:
    """The most likely classes of each text, one model load: ``[{"input": text, "top": [(class, p), ...]}]``;
    an empty text gives ``{"input": text, "error": ...}``. ``loaded``: as in ``predict_proba``."""
    loaded = loaded or _load(run_dir, resolve_device(device))
    return classify_texts(texts, lambda good: predict_proba(run_dir, good, device, loaded), top,
                          lambda text: unreadable(loaded[0], loaded[2], text))


def unreadable(spec: dict, tok, text: str) -> str | None:
    """Why a classifier cannot read ``text``: a character tokenizer drops the characters it never saw
    (a byte-level BPE has none), and a text of nothing else would be answered as an empty one."""
    text = normalize_text(text, spec.get("normalize"))
    lost = set(tok.unknown(text))
    if lost and all(c.isspace() or c in lost for c in text):
        return (f"none of its characters is in the base model's vocabulary ({len(lost)} distinct: "
                f"{' '.join(map(repr, sorted(lost)[:10]))}{' ...' if len(lost) > 10 else ''}), so the model "
                f"would answer as for an empty text")
    return None


def predict_run(run_dir, text: str, device="auto", top: int = 3) -> dict:
    """The most likely classes of ``text`` with their probabilities: ``{"top": [(class, p), ...]}``."""
    return only_answer(predict_many(run_dir, [text], device, top))
