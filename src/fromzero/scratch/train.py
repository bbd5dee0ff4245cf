"""Training from zero: an MLP and a small CNN learn MNIST with nothing but the scratch ops.

Each step is the whole of section 1.3 in four lines: forward (1.3.1), loss, backward by the chain
rule (1.3.2), and a gradient-descent update (1.3.3, here Adam). This loop is separate from
``fromzero.train.Trainer`` on purpose: that one runs PyTorch, this package must not import it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
from tqdm import tqdm

from ..datasets import load_mnist
from ..errors import ConfigError, unknown_name
from .layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU
from .losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from .optim import Adam
from .sequential import Sequential

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels in [0, 1]


@dataclass(frozen=True)
class ScratchConfig:
    """How to train one scratch model; ``PRESETS`` holds the tested defaults."""
    model: str
    epochs: int
    batch_size: int
    lr: float
    width: int  # hidden units (mlp) or conv filters (cnn)


PRESETS = {
    "mlp": ScratchConfig("mlp", epochs=4, batch_size=128, lr=2e-3, width=256),
    "cnn": ScratchConfig("cnn", epochs=3, batch_size=128, lr=2e-3, width=16),
}


# The options of ``fromzero scratch train`` that each model takes (``--model gpt``: ``gpt_train.train_gpt``).
OPTIONS = {"mnist": ("epochs", "batch_size", "lr", "width", "train_limit", "data_dir", "seed", "progress"),
           "gpt": ("data", "block_size", "n_layer", "n_head", "n_embd", "batch_size", "lr", "max_iters",
                   "eval_interval", "strip_gutenberg", "seed", "progress")}
FLAGS = {"train_limit": "--limit", "strip_gutenberg": "--no-strip-gutenberg"}  # where the flag is not the field's name


def options_for(model: str, values: dict, given=()) -> dict:
    """The keyword arguments for ``train_mnist`` (``model`` mlp or cnn, which it includes) or
    ``train_gpt`` among ``values``; unset (None) ones are left out. An option named in ``given``
    that this model does not take is a ConfigError.

    Example:
        >>> options_for("gpt", {"model": "gpt", "n_layer": 2, "width": None, "seed": 0})
        {'n_layer': 2, 'seed': 0}
    """
    names = OPTIONS["gpt" if model == "gpt" else "mnist"]
    wrong = [FLAGS.get(k, "--" + k.replace("_", "-")) for k in values
             if k in given and k not in names and k != "model"]
    if wrong:
        raise ConfigError(f"scratch train --model {model}: expected only its options, received "
                          f"{', '.join(wrong)} (an option of "
                          f"{'mlp/cnn' if model == 'gpt' else 'gpt'})")
    out = {k: values[k] for k in names if values.get(k) is not None}
    return out if model == "gpt" else {"model": model, **out}


def build_model(name: str, width: int, seed: int = 0, dtype=np.float32) -> Sequential:
    """The two scratch networks (inputs (N, 1, 28, 28) for cnn, (N, 784) for mlp).

    * ``mlp``: 784 → width → 10, ReLU.
    * ``cnn``: conv 5×5 (width filters, padding 2) → ReLU → max-pool 2 → dense 10.

    Example:
        >>> build_model("cnn", 8).forward(np.zeros((2, 1, 28, 28), np.float32)).shape
        (2, 10)
    """
    rng = np.random.default_rng(seed)
    if name == "mlp":
        return Sequential(Dense(784, width, rng=rng, dtype=dtype), ReLU(),
                          Dense(width, 10, rng=rng, dtype=dtype))
    if name == "cnn":
        return Sequential(Conv2D(1, width, 5, padding=2, rng=rng, dtype=dtype), ReLU(),
                          MaxPool2D(2), Flatten(),  # (N, width, 14, 14) -> (N, width·196)
                          Dense(width * 14 * 14, 10, rng=rng, dtype=dtype))
    raise unknown_name("scratch model", name, PRESETS)


def prepare(images: np.ndarray, model: str) -> np.ndarray:
    """uint8 (N, 28, 28) -> standardised float32, (N, 1, 28, 28) for cnn or (N, 784) for mlp."""
    x = (images.astype(np.float32) / 255.0 - MEAN) / STD
    return x.reshape(len(x), 1, 28, 28) if model == "cnn" else x.reshape(len(x), -1)


def accuracy(model: Sequential, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of ``x`` whose highest logit is the label ``y``."""
    hits = sum(int((model.forward(x[i:i + batch_size]).argmax(axis=1) == y[i:i + batch_size]).sum())
               for i in range(0, len(x), batch_size))
    return hits / max(len(x), 1)


def train_epoch(model, opt, x, y, batch_size, rng, lr_at=None, bar=None) -> float:
    """One pass over shuffled (x, y); returns the mean training loss."""
    order = rng.permutation(len(x))
    total, n = 0.0, 0
    for i in range(0, len(x), batch_size):
        idx = order[i:i + batch_size]
        if lr_at is not None:
            opt.lr = lr_at(opt.t)
        loss, cache = softmax_cross_entropy_forward(model.forward(x[idx]), y[idx])  # 1.3.1
        model.backward(softmax_cross_entropy_backward(cache), need_dx=False)  # 1.3.2
        opt.step(model.grads())  # 1.3.3
        total, n = total + loss * len(idx), n + len(idx)
        if bar is not None:
            bar.update(len(idx))
            bar.set_postfix(loss=f"{total / n:.4f}", refresh=False)
    return total / max(n, 1)


def train_mnist(model: str = "cnn", epochs: int | None = None, batch_size: int | None = None,
                lr: float | None = None, width: int | None = None, seed: int = 0, data_dir=None,
                train_limit: int | None = None, test_limit: int | None = None,
                progress: bool = True) -> dict:
    """Train a scratch MLP or CNN on MNIST with Adam and a cosine-decaying learning rate.

    Args:
        model: ``"mlp"`` or ``"cnn"``; unset arguments come from ``PRESETS[model]``.
        epochs, batch_size, lr, width: override the preset.
        seed: initial weights and shuffling.
        data_dir: a folder with the MNIST IDX files (default: the copy shipped with fromzero).
        train_limit, test_limit: use only the first images (quick runs, tests).
        progress: show a tqdm bar per epoch.

    Returns:
        A dict with ``model`` (the trained ``Sequential``), ``config``, ``test_accuracy``,
        ``train_time_s``, ``samples_per_s`` and ``history`` (one dict per epoch).

    Example:
        >>> r = train_mnist("mlp", epochs=1, train_limit=2000, test_limit=500, progress=False)
        >>> r["test_accuracy"] > 0.5
        True
    """
    if model not in PRESETS:
        raise unknown_name("scratch model", model, PRESETS)
    overrides = {k: v for k, v in dict(epochs=epochs, batch_size=batch_size, lr=lr,
                                       width=width).items() if v is not None}
    cfg = replace(PRESETS[model], **overrides)
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.width < 1 or not cfg.lr > 0:
        raise ConfigError(f"scratch train: expected positive epochs, batch_size, width and lr, "
                          f"received {cfg}")
    xtr, ytr = load_mnist("train", data_dir=data_dir)
    xte, yte = load_mnist("test", data_dir=data_dir)
    xtr, ytr = prepare(xtr[:train_limit], model), ytr[:train_limit]
    xte, yte = prepare(xte[:test_limit], model), yte[:test_limit]

    net = build_model(model, cfg.width, seed)
    opt = Adam(net.params(), lr=cfg.lr)
    total_steps = cfg.epochs * math.ceil(len(xtr) / cfg.batch_size)
    lr_at = lambda t: cfg.lr * 0.5 * (1 + math.cos(math.pi * t / total_steps))  # noqa: E731
    rng = np.random.default_rng(seed)
    history, train_time = [], 0.0
    for epoch in range(cfg.epochs):
        bar = _bar(len(xtr), f"{model} epoch {epoch + 1}/{cfg.epochs}") if progress else None
        t0 = time.perf_counter()
        loss = train_epoch(net, opt, xtr, ytr, cfg.batch_size, rng, lr_at, bar)
        train_time += time.perf_counter() - t0
        acc = accuracy(net, xte, yte)
        history.append({"epoch": epoch + 1, "loss": loss, "test_accuracy": acc})
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.4f}", test_acc=f"{acc:.4f}")
            bar.close()
    return {"model": net, "config": cfg, "test_accuracy": history[-1]["test_accuracy"],
            "train_time_s": train_time, "samples_per_s": cfg.epochs * len(xtr) / train_time,
            "history": history}


def _bar(total: int, desc: str):
    return tqdm(total=total, desc=desc, unit="img", unit_scale=True, leave=True)
