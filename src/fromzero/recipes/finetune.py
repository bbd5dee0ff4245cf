"""Fine-tune a pre-trained GPT on a labelled text task through the one ``Trainer``: ``fromzero finetune``.

The recipe: load the GPT and its tokenizer from a ``fromzero pretrain`` run, put a
classification head on it (``GPTClassifier``: mean-pooled final hidden states, dropout, a linear
layer), train the whole model, or only some of it (``freeze``, LoRA adapters), with AdamW,
per-layer learning rates (``layer_decay``) and warmup + cosine decay; evaluate on the dev split
``evals_per_epoch`` times per epoch and keep the weights with the best dev accuracy (model
selection), then report dev and test accuracy.

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
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checkpoint import load_model, make_config, read_json, save_json, save_model
from ..device import resolve_device, seed_everything
from ..distributed import STRATEGIES, is_main
from ..errors import CheckpointError, ConfigError, DataError
from ..finetune.data import PaddedBatches, encode_texts
from ..finetune.lora import DEFAULT_TARGETS, merge_lora
from ..finetune.model import POOLS, ClassifierConfig, GPTClassifier
from ..finetune.params import count_params, freeze, param_groups
from ..text.labelled import BUILTIN_TASKS, LabelledTask, load_task, normalize_text, read_labelled
from ..text.tokenizer import load_tokenizer, save_tokenizer
from ..train import EarlyStopping, Trainer
from ..train.schedules import WarmupCosine

# the default peak learning rate of each way of training
DEFAULT_LR = {"full": 1e-4, "lora": 2e-3, "scratch": 5e-4}


@dataclass
class FinetuneConfig:
    """Fine-tuning settings. ``lr=None`` picks ``DEFAULT_LR`` for full, LoRA or from-scratch training."""
    task: str = "sst2"            # a built-in task (sst2) or a labelled file/folder (text.labelled)
    init: str = "pretrained"      # pretrained | scratch (same architecture, random weights)
    epochs: int = 4
    batch_size: int = 32
    lr: float | None = None       # the head's peak learning rate
    layer_decay: float = 1.0      # each layer below the head: this times the lr of the one above
    weight_decay: float = 0.01
    warmup: float = 0.1           # linear warmup over this fraction of the steps, then cosine decay
    min_lr_ratio: float = 0.0
    dropout: float = 0.1          # the backbone's dropout while fine-tuning
    head_dropout: float = 0.1
    pool: str = "mean"            # mean | last
    freeze: str = ""              # comma-separated parts: embeddings, blocks, blocks:N, backbone, NAME
    lora_rank: int = 0            # > 0: train LoRA adapters (and the head) only
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_targets: str = ",".join(DEFAULT_TARGETS)
    merge: bool = True            # fold the LoRA adapters into the weights before saving
    evals_per_epoch: int = 1      # dev evaluations (model-selection points) per epoch
    grad_clip: float = 1.0        # 0 = off
    text_column: str = "text"
    label_column: str = "label"
    data_dir: str | None = None   # a folder holding a built-in task's files instead of the embedded copy
    seed: int = 0
    device: str = "auto"
    strategy: str = "auto"        # ddp | fsdp | auto (ddp under torchrun) | none: docs/distributed.md
    activation_checkpointing: bool = False

    def __post_init__(self):
        p = []
        if self.strategy not in STRATEGIES:
            p.append(f"strategy={self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if self.strategy == "fsdp" and self.lora_rank and self.merge:
            p.append("merging LoRA adapters needs whole weights, not FSDP shards: use strategy 'ddp' "
                     "(LoRA trains few parameters) or keep the adapters unmerged (merge=False, --no-merge)")
        if self.init not in ("pretrained", "scratch"):
            p.append(f"init={self.init!r} is not one of pretrained, scratch")
        if self.pool not in POOLS:
            p.append(f"pool={self.pool!r} is not one of {', '.join(POOLS)}")
        for k in ("epochs", "batch_size", "evals_per_epoch"):
            if not (isinstance(getattr(self, k), int) and getattr(self, k) >= 1):
                p.append(f"{k} must be an integer >= 1, got {getattr(self, k)!r}")
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and self.lr > 0):
            p.append(f"lr must be a positive number, got {self.lr!r}")
        if not 0 < self.layer_decay <= 1:
            p.append(f"layer_decay must be in (0, 1], got {self.layer_decay!r}")
        if not 0 <= self.warmup < 1:
            p.append(f"warmup must be a fraction in [0, 1), got {self.warmup!r}")
        if not (isinstance(self.lora_rank, int) and self.lora_rank >= 0):
            p.append(f"lora_rank must be an integer >= 0, got {self.lora_rank!r}")
        for k in ("dropout", "head_dropout", "lora_dropout"):
            if not 0 <= getattr(self, k) < 1:
                p.append(f"{k} must be in [0, 1), got {getattr(self, k)!r}")
        if p:
            raise ConfigError("FinetuneConfig: " + "; ".join(p))

    @property
    def mode(self) -> str:
        return "scratch" if self.init == "scratch" else "lora" if self.lora_rank else "full"

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.mode]


def finetune_config(**overrides) -> FinetuneConfig:
    """A ``FinetuneConfig``; unknown keys and wrong types are reported together with the valid keys."""
    return make_config(FinetuneConfig, overrides, source="FinetuneConfig")


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


def _batches(tok, data, labels, block_size: int, batch_size: int, shuffle=False, seed=0) -> PaddedBatches:
    return PaddedBatches(encode_texts(tok, data.texts, block_size), data.label_ids(labels), batch_size,
                         shuffle=shuffle, seed=seed)


def finetune(base_run, task: str = "sst2", out="runs/finetune", verbose: int = 1, callbacks=(),
             **overrides) -> dict:
    """Fine-tune the GPT of ``base_run`` on ``task``; writes the run ``out``, returns its metrics.

    Args:
        base_run: a run directory written by ``fromzero pretrain gpt`` (weights, model.json,
            tokenizer.json).
        task: ``"sst2"`` or a labelled file or folder (``fromzero.text.labelled.load_task``).
        out: the run directory to write.
        callbacks: more ``Callback`` objects for the trainer.
        **overrides: ``FinetuneConfig`` fields (``epochs=3``, ``lora_rank=8``, ``freeze="blocks:2"``, ...).

    Returns:
        ``{"dev_accuracy", "test_accuracy" (if the task has a test split), "trainable_params", ...}``.
    """
    cfg = finetune_config(task=str(task), **overrides)
    base_run, out = Path(base_run), Path(out)
    _check_base(base_run)
    if out.resolve() == base_run.resolve():
        raise ConfigError(f"out: {out} is the pre-trained run itself; write the fine-tuned run elsewhere")
    seed_everything(cfg.seed)
    tok = load_tokenizer(base_run)
    data = load_task(cfg.task, cfg.data_dir, cfg.text_column, cfg.label_column)
    model = build_classifier(base_run, cfg, len(data.labels))
    frozen = freeze(model, cfg.freeze) if cfg.freeze else []
    trainable, total = count_params(model)
    T = model.gpt.config.block_size
    train = _batches(tok, data.train, data.labels, T, cfg.batch_size, shuffle=True, seed=cfg.seed)
    dev = _batches(tok, data.dev, data.labels, T, 128)
    if verbose and is_main():
        print(f"fine-tuning ({cfg.mode}) on {data.name}: {len(data.train):,} train / {len(data.dev):,} dev "
              f"examples, {len(data.labels)} classes; {trainable:,} of {total:,} parameters trainable "
              f"({100 * trainable / total:.2f}%)", file=sys.stderr)
    steps = -(-len(train) // cfg.evals_per_epoch)              # optimizer steps between evaluations
    n_evals = cfg.epochs * cfg.evals_per_epoch
    trainer = _trainer(model, cfg, steps * n_evals, n_evals, out, verbose, callbacks)
    t0 = time.perf_counter()
    trainer.fit(train, epochs=n_evals, steps_per_epoch=steps, validation_data=dev)
    train_time = time.perf_counter() - t0
    if cfg.lora_rank and cfg.merge:
        merge_lora(model)
    metrics = {"dev_" + k: v for k, v in trainer.evaluate(dev).items()}
    if data.test is not None:
        test = _batches(tok, data.test, data.labels, T, 128)
        metrics.update({"test_" + k: v for k, v in trainer.evaluate(test).items()})
    history = trainer.history.history.get("val_accuracy", [])
    metrics.update(best_eval=history.index(max(history)) + 1 if history else None, evals=len(history),
                   trainable_params=trainable, total_params=total, trainable_share=trainable / total,
                   frozen_params=len(frozen), train_time_s=train_time, mode=cfg.mode, lr=cfg.peak_lr)
    _save_run(out, model, tok, data, cfg, base_run, metrics)
    return metrics


def _trainer(model, cfg: FinetuneConfig, total_steps: int, n_evals: int, out: Path, verbose: int,
             callbacks) -> Trainer:
    """The Trainer of a fine-tuning run: AdamW on ``param_groups`` (per-layer learning rates), warmup
    + cosine decay, cross-entropy, and the best-dev-accuracy weights restored at the end."""
    def optimizer(m):
        return torch.optim.AdamW(param_groups(m, cfg.peak_lr, cfg.weight_decay, cfg.layer_decay),
                                 betas=(0.9, 0.98))

    best = EarlyStopping(monitor="val_accuracy", mode="max", patience=n_evals + 1, restore_best=True)
    return Trainer(model, optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                   callbacks=[best, *callbacks], device=resolve_device(cfg.device),
                   grad_clip=cfg.grad_clip or None,
                   schedule=WarmupCosine(int(cfg.warmup * total_steps), total_steps, cfg.min_lr_ratio),
                   run_dir=out, verbose=verbose, keep_checkpoints=1, strategy=cfg.strategy,
                   activation_checkpointing=cfg.activation_checkpointing)


def _save_run(out: Path, model, tok, data: LabelledTask, cfg: FinetuneConfig, base_run: Path, metrics: dict):
    task_name = cfg.task if cfg.task in BUILTIN_TASKS else str(Path(cfg.task).resolve())
    save_model(out, model, extra={"task": "text-classification", "data": task_name, "base": str(base_run),
                                  "init": cfg.init, "labels": data.labels, "classes": data.classes,
                                  "normalize": data.normalize, "tokenizer": "tokenizer.json",
                                  "text_column": cfg.text_column, "label_column": cfg.label_column,
                                  "lora": {"rank": cfg.lora_rank, "merged": cfg.merge} if cfg.lora_rank else None})
    if is_main():  # a distributed run: rank 0 writes
        save_tokenizer(tok, out / "tokenizer.json")
        save_json(out / "finetune.json", dataclasses.asdict(cfg))
        save_json(out / "metrics.json", metrics)


# --- saved runs: ``fromzero evaluate RUN`` / ``fromzero predict RUN "a sentence"`` ---------------

def _load(run_dir, device):
    import fromzero.finetune.model  # noqa: F401  (registers "gpt-classifier")

    run_dir = Path(run_dir)
    spec = read_json(run_dir / "model.json")
    return spec, load_model(run_dir, device), load_tokenizer(run_dir)


def _eval_data(spec: dict, data_dir) -> tuple:
    """(examples, what) to evaluate on: the task's test split, or the file/folder ``data_dir``."""
    name, cols = spec["data"], (spec.get("text_column", "text"), spec.get("label_column", "label"))
    if data_dir is not None and Path(data_dir).is_file():
        return read_labelled(data_dir, *cols), str(data_dir)
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
    batches = _batches(tok, data, spec["labels"], model.gpt.config.block_size, 128)
    trainer = Trainer(model, loss="sparse_categorical_crossentropy", metrics=["accuracy"], device=device,
                      verbose=0)
    return trainer.evaluate(batches)


@torch.no_grad()
def predict_proba(run_dir, texts: list[str], device="cpu") -> tuple[list[str], torch.Tensor]:
    """(class names, probabilities (N, n_classes)) of a saved text classifier for raw ``texts``."""
    device = resolve_device(device)
    spec, model, tok = _load(run_dir, device)
    texts = [normalize_text(t, spec.get("normalize")) for t in texts]
    x = PaddedBatches(encode_texts(tok, texts, model.gpt.config.block_size), batch_size=128)
    logits = Trainer(model, loss=None, device=device, verbose=0).predict(x)
    return spec["classes"], torch.softmax(logits, -1)


def predict_run(run_dir, text: str, device="auto", top: int = 3) -> dict:
    """The most likely classes of ``text`` with their probabilities: ``{"top": [(class, p), ...]}``."""
    if not text.strip():
        raise DataError("predict: expected a sentence, got empty text")
    classes, probs = predict_proba(run_dir, [text], device)
    p, i = probs[0].topk(min(top, len(classes)))
    return {"top": [(classes[k], float(v)) for v, k in zip(p, i.tolist())]}
