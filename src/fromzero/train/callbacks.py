"""Callbacks: everything that cuts across training (progress, logging, plots, stopping, model selection).

A callback overrides any of the hooks below. Callbacks with state expose
``state_dict``/``load_state_dict``; the trainer's ``Checkpointer`` saves it with its checkpoints.
"""
from __future__ import annotations

import csv
import io
import math
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import FromzeroError
from ..io import atomic_open, atomic_write_text


class Callback:
    def on_train_begin(self, trainer): ...
    def on_epoch_begin(self, trainer, epoch): ...
    def on_batch_end(self, trainer, logs): ...
    def on_epoch_end(self, trainer, epoch, logs): ...
    def on_train_end(self, trainer, logs): ...


class History(Callback):
    """Keras-style history: ``history.history["loss"]`` is the list of per-epoch losses."""

    def __init__(self):
        self.epochs: list[dict] = []

    @property
    def history(self) -> dict:
        keys = list(dict.fromkeys(k for e in self.epochs for k in e))
        return {k: [e.get(k, math.nan) for e in self.epochs] for k in keys}

    def on_epoch_end(self, trainer, epoch, logs):
        self.epochs.append(dict(logs))

    def state_dict(self):
        return {"epochs": self.epochs}

    def load_state_dict(self, state):
        self.epochs = list(state["epochs"])


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


PERCENT = ("mfu",)   # log keys that hold a fraction, shown as a percentage on the progress line


def _fmt_log(k: str, v) -> str:
    return f"{k} {v * 100:.1f}%" if k in PERCENT and isinstance(v, float) else f"{k} {_fmt(v)}"


class ProgressBar(Callback):
    """A tqdm bar per epoch with the running loss, metrics and samples/s; a summary line after."""

    def __init__(self, every: int = 10, file=None):
        self.every, self.file = every, file or sys.stderr
        self.bar = None

    def on_epoch_begin(self, trainer, epoch):
        desc, total = _period(trainer, epoch)
        self.bar = tqdm(total=total, desc=desc, unit="step", leave=False, file=self.file,
                        dynamic_ncols=True, mininterval=0.5)
        self.t0, self.samples = time.perf_counter(), 0

    def on_batch_end(self, trainer, logs):
        self.samples += logs["batch_size"]
        self.bar.update(1)
        if logs["step_in_epoch"] % self.every == 0:
            rate = self.samples / max(time.perf_counter() - self.t0, 1e-9)
            post = {"loss": f"{logs['loss']():.4f}"}
            post.update({k: f"{v():.4f}" for k, v in logs["metrics"].items()})
            post["samples/s"] = f"{rate:.0f}"
            self.bar.set_postfix(post, refresh=False)

    def on_epoch_end(self, trainer, epoch, logs):
        self.bar.close()
        shown = {k: v for k, v in logs.items() if k not in ("epoch", "step")}
        line = " - ".join(_fmt_log(k, v) for k, v in shown.items())
        tqdm.write(f"{_period(trainer, epoch)[0]}: {line}", file=self.file)


def _period(trainer, epoch: int) -> tuple[str, int]:
    """(name, steps) of an epoch, or in step-based training of the steps up to an evaluation."""
    n = trainer.steps_per_epoch
    if not trainer.max_steps:
        return f"epoch {epoch + 1}/{trainer.epochs}", n
    end = min((epoch + 1) * n, trainer.max_steps)
    return f"step {end}/{trainer.max_steps}", end - epoch * n


class CSVLogger(Callback):
    """Append each epoch's logs to ``history.csv`` (rewritten whole, so columns may grow)."""

    def __init__(self, path):
        self.path = Path(path)

    def on_epoch_end(self, trainer, epoch, logs):
        rows = trainer.history.epochs
        keys = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys, restval="")
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(self.path, buf.getvalue())


class TensorBoard(Callback):
    """Write each epoch's (or evaluation's) logs as TensorBoard scalars in ``log_dir``, at the
    optimizer step: losses and metrics as ``NAME/train`` and ``NAME/val`` (one chart each), the
    learning rate, throughput (samples/s, tokens/s, MFU) and ε under their own names. View them
    with ``tensorboard --logdir RUN``. Only the main process writes."""

    def __init__(self, log_dir):
        self.log_dir, self.writer = Path(log_dir), None

    def on_train_begin(self, trainer):
        from .. import distributed as dist  # lazy: callbacks stay free of the process group

        if not dist.is_main():
            return
        try:
            from torch.utils.tensorboard import SummaryWriter  # lazy: an optional package
        except ImportError:
            raise FromzeroError("--tensorboard needs the tensorboard package: pip install tensorboard (or "
                                "'fromzero[tensorboard]')") from None
        self.writer = SummaryWriter(str(self.log_dir))

    def on_epoch_end(self, trainer, epoch, logs):
        if self.writer is None:
            return
        for k, v in logs.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                tag = f"{k[4:]}/val" if k.startswith("val_") else f"{k}/train" if f"val_{k}" in logs else k
                self.writer.add_scalar(tag, v, trainer.step)
        self.writer.flush()

    def on_train_end(self, trainer, logs):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def tensorboard_if(enabled: bool, run_dir) -> list:
    """``[TensorBoard(run_dir / "tensorboard")]`` when ``enabled`` (a recipe's ``--tensorboard``), else ``[]``."""
    return [TensorBoard(Path(run_dir) / "tensorboard")] if enabled else []


class PlotHistory(Callback):
    """Save a PNG of the training curves (loss and each metric, train vs validation)."""

    def __init__(self, path):
        self.path = Path(path)

    def on_train_end(self, trainer, logs):
        plot_history(trainer.history.history, self.path)


def plot_history(history: dict, path) -> Path:
    import matplotlib  # lazy: matplotlib.pyplot costs ~1 s and only the end of a run draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above

    names = [k for k in history if not k.startswith("val_") and k not in
             ("epoch", "step", "lr", "time_s", "samples_per_s") and isinstance(history[k][0], (int, float))]
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(5 * max(len(names), 1), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        x = history.get("epoch", list(range(1, len(history[name]) + 1)))
        ax.plot(x, history[name], marker="o", label="train")
        if "val_" + name in history:
            ax.plot(x, history["val_" + name], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    with atomic_open(path) as f:   # a symlink at ``path`` is replaced, never written through
        fig.savefig(f, dpi=100, format="png")
    plt.close(fig)
    return path


def _check_mode(mode: str) -> None:
    if mode not in ("min", "max"):
        raise FromzeroError(f"mode: expected 'min' or 'max', got {mode!r}")


class _Monitor(Callback):
    """The best value of ``monitor`` in the epoch logs so far (``mode``: "min" or "max")."""

    def __init__(self, monitor: str, mode: str):
        _check_mode(mode)
        self.monitor, self.mode, self.best = monitor, mode, None

    def improved(self, logs) -> bool | None:
        """True for a new best (recorded), False for none, None when ``logs`` lacks ``monitor``."""
        v = logs.get(self.monitor)
        if v is None:
            return None
        if self.best is None or (v < self.best if self.mode == "min" else v > self.best):
            self.best = v
            return True
        return False


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (add ``KeepBest`` to also
    end with the best weights)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3, mode: str = "min"):
        super().__init__(monitor, mode)
        self.patience, self.wait = patience, 0

    def on_epoch_end(self, trainer, epoch, logs):
        better = self.improved(logs)
        if better:
            self.wait = 0
        elif better is not None:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_training = True

    def state_dict(self):
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state):
        self.best, self.wait = state["best"], state["wait"]


class StopAtTarget(Callback):
    """Stop as soon as ``monitor`` reaches ``target`` (<= for ``mode="min"``, >= for "max"):
    a speedrun's finish line. ``reached`` holds the first epoch logs that reached it (else None);
    a line on ``file`` (default stderr) says so. A resumed run trains on until it reaches the target
    again: give a lower one (``--stop-at-loss``, ``--stop-at-accuracy``: ``--resume`` may change it).

    Example:
        >>> stop = StopAtTarget("val_loss", 1.8857)   # doctest: +SKIP
    """

    def __init__(self, monitor: str, target: float, mode: str = "min", file=None):
        _check_mode(mode)
        self.monitor, self.target, self.mode, self.reached, self.file = monitor, target, mode, None, file

    def on_epoch_end(self, trainer, epoch, logs):
        v = logs.get(self.monitor)
        if v is not None and (v <= self.target if self.mode == "min" else v >= self.target):
            self.reached = dict(logs)
            trainer.stop_training = True
            print(f"target reached: {self.monitor} {_fmt(v)} {'<=' if self.mode == 'min' else '>='} "
                  f"{_fmt(self.target)} at step {trainer.step}; training stopped", file=self.file or sys.stderr)


class KeepBest(_Monitor):
    """Keep a copy of the weights at the best ``monitor`` value and load it back when training
    ends: model selection on the validation set.

    Example:
        >>> trainer = Trainer(model, callbacks=[KeepBest("val_accuracy", mode="max")])  # doctest: +SKIP
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min"):
        super().__init__(monitor, mode)
        self.weights = None

    def on_epoch_end(self, trainer, epoch, logs):
        if self.improved(logs):
            self.weights = {k: t.detach().clone() for k, t in trainer.model.state_dict().items()}

    def on_train_end(self, trainer, logs):
        if self.weights is not None:
            trainer.model.load_state_dict(self.weights)

    def state_dict(self):
        # the best weights too, so that a resumed run ends with the same ones (plain tensors; a
        # sharded model's copy stays in memory only)
        plain = self.weights is not None and not any(hasattr(t, "full_tensor") for t in self.weights.values())
        return {"best": self.best, **({"weights": self.weights} if plain else {})}

    def load_state_dict(self, state):
        self.best = state["best"]
        self.weights = state.get("weights")


class StillImproving(Callback):
    """At the end of training, warn (on stderr) when the run was still getting better: the best
    ``monitor`` value came at the last evaluation, or the train ``metric`` ended below
    ``underfit`` (the model has not even fitted its training data). ``advice`` says what to change.

    ``fired`` (and ``reason``) tell afterwards whether it warned.

    Example:
        >>> still = StillImproving("val_accuracy", advice="try --epochs 8")  # doctest: +SKIP
    """

    def __init__(self, monitor: str = "val_accuracy", mode: str = "max", advice: str = "train longer",
                 metric: str | None = "accuracy", underfit: float | None = 0.75, file=None):
        _check_mode(mode)
        self.monitor, self.mode, self.advice, self.metric, self.underfit = monitor, mode, advice, metric, underfit
        self.file, self.fired, self.reason = file, False, ""

    def on_train_end(self, trainer, logs):
        rows = trainer.history.epochs
        values = [r[self.monitor] for r in rows if r.get(self.monitor) is not None]
        reasons, improving = [], False
        if values:
            best = (max if self.mode == "max" else min)(values)
            if values[-1] == best and values.index(best) == len(values) - 1:
                improving = True
                reasons.append(f"the best {self.monitor} ({_fmt(best)}) came at the last evaluation "
                               f"({len(values)} of {len(values)})")
        train = [r[self.metric] for r in rows if self.metric and r.get(self.metric) is not None]
        if train and self.underfit is not None and train[-1] < self.underfit:
            reasons.append(f"train {self.metric} is only {_fmt(train[-1])} at the end")
        if reasons:
            self.fired, self.reason = True, "; ".join(reasons)
            head = ("still improving when training ended" if improving     # else a flat or falling dev curve
                    else "the model has not fitted its training data")
            print(f"warning: {head}: {self.reason}. The model may be under-trained: {self.advice}",
                  file=self.file or sys.stderr)
