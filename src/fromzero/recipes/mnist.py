"""Train the tutorial's CNN on MNIST (or Fashion-MNIST): ``fromzero train mnist-cnn``."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import continue_config, load_model, open_run, save_model

from ..io import check_writable_dir, data_ref, save_json
from ..datasets import load_mnist
from ..datasets.mnist import DATASETS
from .. import distributed as dist
from ..device import seed_everything
from ..models.cnn import build_model
from .configs import MNIST_DEMO as DEMO, MnistConfig  # noqa: F401
from ..errors import ConfigError, FromzeroError
from ..privacy import DifferentialPrivacy
from ..train import StopAtTarget, Trainer, place
from ..train.muon import Muon, muon_param_groups
from ..train.callbacks import tensorboard_if
from ..train.schedules import WarmupCosine, WarmupLinear
from .runs import check_run


def to_inputs(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1] (the tutorial's reshape and /255)."""
    return torch.from_numpy(images).unsqueeze(1).float().div_(255.0)


# What ``--resume`` may change: more epochs, and where it runs; anything else is refused.
MAY_CHANGE = ("epochs", "device", "strategy", "activation_checkpointing", "data_dir", "stop_at_accuracy",
              "tensorboard")


def train_mnist(out, config: MnistConfig | None = None, verbose: int = 1, resume: bool = False,
                overwrite: bool = False) -> dict:
    """Train the tutorial's CNN, save a run directory at ``out``, return the test metrics.

    ``resume=True`` continues the run in ``out`` from its newest checkpoint, with the config it was
    started with (``config=None``) or one that changes only ``MAY_CHANGE``; ``overwrite=True``
    replaces an earlier run in ``out`` (``fromzero.checkpoint.open_run``).

    Example:
        >>> metrics = train_mnist("runs/mnist", MnistConfig(epochs=1))  # doctest: +SKIP
    """
    c = config or MnistConfig()
    if c.data_dir:  # a user's folder: recorded as an absolute path, for evaluate from anywhere
        c = config = dataclasses.replace(c, data_dir=data_ref(c.data_dir))
    weights = None
    if c.init is not None:   # recorded as an absolute path: --resume compares it, evaluate needs no cwd
        if not c.init.strip():
            raise ConfigError("--init: expected a run directory of the tutorial's CNN, got an empty string")
        c = config = dataclasses.replace(c, init=str(Path(c.init).expanduser().resolve()))
        if not resume:   # checked and loaded before the run folder is touched (--overwrite empties it)
            if Path(c.init) == Path(out).expanduser().resolve():
                raise ConfigError(f"--init {c.init} is the --out folder: the new run would replace the weights it "
                                  "starts from; give another --out")
            weights = _start_weights(c.init)
    if not c.dp_epsilon and (c.dp_delta is not None or c.dp_max_grad_norm != 1.0):  # before the run folder
        raise ConfigError("--dp-delta and --dp-max-grad-norm apply to differentially private training: give "
                          "--dp-epsilon too")
    dist.init(c.device)
    start = dataclasses.asdict(c)
    with open_run(out, "train mnist-cnn", start, resume, overwrite) as run:
        cfg = continue_config(run, config, MnistConfig, MAY_CHANGE, "train mnist-cnn --resume")
        return _train(run.dir, cfg, verbose, resume, weights)


def _train(out, cfg: MnistConfig, verbose: int, resume: bool, start: dict | None = None) -> dict:
    cfg.validate()
    seed_everything(cfg.seed)
    device = dist.init(cfg.device)  # this process's device; joins torchrun's process group, if any
    xtr, ytr = load_mnist("train", cfg.data_dir, cfg.dataset)
    xtr, ytr = xtr[:cfg.limit], ytr[:cfg.limit]
    xte, yte = load_mnist("test", cfg.data_dir, cfg.dataset)
    x_train, x_test = to_inputs(xtr), to_inputs(xte)
    y_train, y_test = torch.from_numpy(ytr), torch.from_numpy(yte)
    model = build_model()
    if start is not None:   # --init (a resumed run has its own weights in its checkpoint)
        model.load_state_dict(start)
        if verbose and dist.is_main():
            print(f"fromzero: starting from the weights of {cfg.init}", file=sys.stderr)
    if verbose and dist.is_main():
        model.summary()
    steps = cfg.epochs * -(-len(x_train) // cfg.batch_size)
    warmup = min(100, steps // 10)
    schedule = {"cosine": lambda: WarmupCosine(warmup=warmup, total=steps, min_ratio=0.0),
                "linear": lambda: WarmupLinear(warmup=warmup, total=steps),
                "constant": lambda: None}[cfg.schedule]()
    out = check_writable_dir(out)   # before the first epoch, not at its end
    stop = [StopAtTarget("val_accuracy", cfg.stop_at_accuracy, mode="max")] if cfg.stop_at_accuracy else []
    dp = [DifferentialPrivacy(cfg.dp_epsilon, cfg.dp_delta, cfg.dp_max_grad_norm)] if cfg.dp_epsilon else []
    trainer = Trainer(dist.parallelize(place(model, device), cfg.strategy, cfg.activation_checkpointing),
                      optimizer=_optimizer(cfg), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      lr=cfg.lr if cfg.optimizer in ("adam", "sgd") else None, schedule=schedule, device=device,
                      run_dir=out, verbose=verbose, callbacks=[*stop, *dp, *tensorboard_if(cfg.tensorboard, out)])
    history = trainer.fit((x_train, y_train), epochs=cfg.epochs, batch_size=cfg.batch_size,
                          validation_data=(x_test, y_test), seed=cfg.seed, resume=resume)
    # the last epoch ended with a pass over the test set at the final weights: those are the test
    # metrics (no second pass over 10,000 images)
    last = history.epochs[-1] if history.epochs else {}
    metrics = ({k[4:]: v for k, v in last.items() if k.startswith("val_")} if "val_loss" in last
               else trainer.evaluate((x_test, y_test)))
    save_model(out, model, extra={"task": "image-classification", "dataset": cfg.dataset,
                                  "classes": _classes(cfg.dataset), "input": "greyscale 28x28, [0, 1]"})
    if dist.is_main():
        save_json(out / "train_config.json", cfg.__dict__)
        privacy = {"epsilon": dp[0].epsilon, "delta": dp[0].delta, "noise_multiplier": dp[0].noise_multiplier,
                   "max_grad_norm": cfg.dp_max_grad_norm} if dp else {}
        save_json(out / "metrics.json", {**{"test_" + k: v for k, v in metrics.items()}, **privacy})
    return metrics


def _start_weights(run_dir: str) -> dict:
    """The weights of ``run_dir``'s CNN (``--init``), checked: a run of the tutorial's CNN, its files
    whole, the same architecture layer by layer. Errors name the option."""
    try:
        check_run(run_dir, "train mnist-cnn --init")
        source = load_model(run_dir).state_dict()
    except FromzeroError as e:
        raise type(e)(f"--init {e}") from None
    got = {k: tuple(v.shape) for k, v in source.items()}
    want = {k: tuple(v.shape) for k, v in build_model().state_dict().items()}
    if got != want:
        k = (sorted(set(got) ^ set(want)) or [k for k in want if got[k] != want[k]])[0]
        raise ConfigError(f"--init {run_dir}: expected the tutorial's CNN ({len(want)} tensors), got another "
                          f"model: {k} is {got.get(k, 'missing')} there, {want.get(k, 'missing')} here")
    return source


def _optimizer(cfg: MnistConfig):
    """"adam", "sgd" (momentum 0.9), or Muon for the kernels of the convolutions and the hidden dense
    layer, with Adam (lr) for the output layer and the biases (``fromzero.train.muon``)."""
    if cfg.optimizer in ("adam", "sgd"):
        return cfg.optimizer

    def make(model):
        kernels = [p for p in model.parameters() if p.dim() >= 2]
        groups = muon_param_groups(model, cfg.lr, cfg.muon_lr, outputs=kernels[-1:])
        return Muon(groups, lr=cfg.muon_lr, betas=(0.9, 0.99))
    return make


def _classes(dataset: str) -> list[str]:
    return list(DATASETS[dataset].classes)
