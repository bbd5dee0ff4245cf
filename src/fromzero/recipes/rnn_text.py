"""Classify sentences with a recurrent network (SST-2 sentiment): ``fromzero train text-rnn``.

Words -> ``Embedding`` -> bidirectional ``LSTM`` (or GRU) over every position -> the largest
value of each feature over the sentence (``GlobalMaxPool1D``) -> ``Dense`` logits. Trained
from scratch (random word vectors) with ``model.fit`` (the one Trainer), early stopping on the
dev accuracy; the test accuracy is reported once, at the end. Data come from
``fromzero.text.labelled.load_task`` (the built-in ``sst2``, or a folder/file of labelled text).

The vocabulary is the training split's words (lower-cased, split on spaces; SST-2 is already
tokenised); id 0 pads, id 1 stands for any word not in it. It is saved as ``vocab.json`` in the
run directory.

Example:
    >>> metrics = train_text_rnn("runs/sst2-lstm", TextRNNConfig(epochs=1))   # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import continue_config, load_model, open_run, save_model

from ..config import make_config

from ..io import check_writable_dir, data_ref, read_json, save_json
from ..device import seed_everything
from ..errors import DataError
from ..layers import GRU, LSTM, Dense, Dropout, Embedding, GlobalMaxPool1D, Input
from ..model import Sequential
from ..text.labelled import BUILTIN_TASKS, load_task, normalize_text, read_labelled
from ..train import EarlyStopping, KeepBest, Trainer
from ..train.callbacks import StillImproving, tensorboard_if
from .runs import classify_texts, only_answer
from .configs import TextRNNConfig

PAD, UNK = 0, 1


def build_vocab(texts, min_freq: int = 1) -> list[str]:
    """Words of ``texts`` seen at least ``min_freq`` times, most frequent first, after <pad> and <unk>."""
    counts = Counter(w for t in texts for w in t.lower().split())
    return ["<pad>", "<unk>"] + [w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                                 if c >= min_freq]


def encode(texts, vocab: list[str], max_len: int) -> torch.Tensor:
    """(N, max_len) int64 word ids, right-padded with 0; unknown words are 1."""
    index = {w: i for i, w in enumerate(vocab)}
    out = np.full((len(texts), max_len), PAD, dtype=np.int64)
    for i, t in enumerate(texts):
        ids = [index.get(w, UNK) for w in t.lower().split()][:max_len]
        out[i, :len(ids)] = ids
    return torch.from_numpy(out)


def build_text_rnn(cfg: TextRNNConfig, vocab_size: int, n_classes: int) -> Sequential:
    """The classifier as a Keras-like ``Sequential`` (saved and loaded with its config)."""
    cell = LSTM if cfg.cell == "lstm" else GRU
    return Sequential([Input((cfg.max_len,)), Embedding(vocab_size, cfg.embed_dim), Dropout(cfg.embed_dropout),
                       cell(cfg.units, return_sequences=True, bidirectional=cfg.bidirectional),
                       GlobalMaxPool1D(), Dropout(cfg.dropout), Dense(n_classes)], name="text_rnn")


# What ``--resume`` may change: more epochs, and where it runs; anything else is refused.
MAY_CHANGE = ("epochs", "device", "tensorboard")


def train_text_rnn(out, cfg: TextRNNConfig | None = None, verbose: int = 1, resume: bool = False,
                   overwrite: bool = False, **overrides) -> dict:
    """Train a recurrent sentence classifier; save a run at ``out``; return dev and test accuracy.

    ``resume=True`` continues the run in ``out`` (its config, or one changing only ``MAY_CHANGE``);
    ``overwrite=True`` replaces an earlier run there."""
    cfg = cfg or (make_config(TextRNNConfig, overrides, source="TextRNNConfig") if overrides or not resume else None)
    if cfg is not None:         # a user's file: its absolute path, for evaluate from anywhere
        cfg = dataclasses.replace(cfg, data=data_ref(cfg.data, BUILTIN_TASKS))
    with open_run(out, "train text-rnn", dataclasses.asdict(cfg or TextRNNConfig()), resume, overwrite) as run:
        cfg = continue_config(run, cfg, TextRNNConfig, MAY_CHANGE, "train text-rnn --resume")
        return _train(run.dir, cfg, verbose, resume)


def _train(out, cfg: TextRNNConfig, verbose: int, resume: bool) -> dict:
    seed_everything(cfg.seed)
    task = load_task(cfg.data, None, cfg.text_column, cfg.label_column)
    vocab = build_vocab(task.train.texts, cfg.min_freq)
    if not cfg.max_len:
        cfg = dataclasses.replace(cfg, max_len=min(256, max(len(t.split()) for t in task.train.texts)))
    xs = {s: encode(getattr(task, s).texts, vocab, cfg.max_len) for s in ("train", "dev", "test")
          if getattr(task, s) is not None}
    ys = {s: torch.from_numpy(getattr(task, s).label_ids(task.labels)) for s in xs}
    model = build_text_rnn(cfg, len(vocab), len(task.labels))
    if verbose:
        model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  lr=cfg.lr, device=cfg.device)
    out = check_writable_dir(out)
    still = StillImproving("val_accuracy", advice=f"try --epochs {2 * cfg.epochs}", underfit=None)
    stop = [EarlyStopping("val_accuracy", patience=cfg.patience, mode="max"),
            KeepBest("val_accuracy", mode="max"), still]
    history = model.fit(xs["train"], ys["train"], batch_size=cfg.batch_size, epochs=cfg.epochs,
                        validation_data=(xs["dev"], ys["dev"]), seed=cfg.seed,
                        callbacks=[*stop, *tensorboard_if(cfg.tensorboard, out)],
                        verbose=verbose, run_dir=out, resume=resume)
    metrics = {"dev_accuracy": model.evaluate(xs["dev"], ys["dev"])["accuracy"],
               "epochs": len(history.epochs), "params": model.count_params(), "vocab_size": len(vocab),
               "stopped_early": len(history.epochs) < cfg.epochs, "still_improving": still.fired}
    if "test" in xs:
        test = model.evaluate(xs["test"], ys["test"])
        metrics.update(test_accuracy=test["accuracy"], test_loss=test["loss"])
    save_model(out, model, extra={"task": "rnn-text-classification", "data": cfg.data,
                                  "labels": task.labels, "classes": task.classes,
                                  "normalize": task.normalize, "max_len": cfg.max_len, "vocab": "vocab.json",
                                  "text_column": cfg.text_column, "label_column": cfg.label_column})
    save_json(out / "vocab.json", vocab)
    save_json(out / "train_config.json", dataclasses.asdict(cfg))
    save_json(out / "metrics.json", metrics)
    return metrics


# --- saved runs: ``fromzero evaluate RUN`` / ``fromzero predict RUN "a sentence"`` -----------------

def evaluate_run(run_dir, data_dir=None, device="auto") -> dict:
    """Test loss and accuracy of a saved run on its task's test split (``data_dir``: another copy)."""
    spec = read_json(Path(run_dir) / "model.json")
    vocab = read_json(Path(run_dir) / spec["vocab"])
    cols = spec.get("text_column", "text"), spec.get("label_column", "label")
    if data_dir is not None and Path(data_dir).is_file():            # a labelled file to evaluate on
        test = read_labelled(data_dir, *cols)
    else:                                                              # the task's test split, or another copy
        builtin = spec["data"] in BUILTIN_TASKS
        task = load_task(spec["data"] if builtin or data_dir is None else data_dir, data_dir if builtin else None,
                         *cols, verbose=False)
        if task.test is None:
            raise DataError(f"task {spec['data']!r} has no test split; give a labelled file with --data-dir")
        test = task.test
    x = encode(test.texts, vocab, spec["max_len"])
    y = torch.from_numpy(test.label_ids(spec["labels"]))
    trainer = Trainer(load_model(run_dir), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      device=device, verbose=0)
    return trainer.evaluate((x, y))


def predict_many(run_dir, texts: list[str], device="cpu", top: int = 3, model=None) -> list[dict]:
    """Class probabilities of each sentence (normalised to the training data's style first), one model
    load: ``[{"input": text, "top": [(class, p), ...]}, ...]``; an empty text gives ``"error"``.
    ``model``: the run's model, already loaded (``fromzero serve``)."""
    def proba(good):
        spec = read_json(Path(run_dir) / "model.json")
        vocab, net = read_json(Path(run_dir) / spec["vocab"]), model if model is not None else load_model(run_dir)
        x = encode([normalize_text(t, spec.get("normalize")) for t in good], vocab, spec["max_len"])
        with torch.no_grad():
            return spec["classes"], torch.cat([torch.softmax(net(x[i:i + 256]).float(), -1)
                                               for i in range(0, len(x), 256)])

    return classify_texts(texts, proba, top)


def predict_run(run_dir, text: str, device="cpu", top: int = 3) -> dict:
    """Class probabilities of one sentence (``predict_many`` for many)."""
    return only_answer(predict_many(run_dir, [text], device, top))
