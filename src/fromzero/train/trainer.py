"""The one training loop. CNNs, RNNs, GPT pre-training and fine-tuning all go through it.

Per optimizer step: forward, loss, backward (``grad_accum`` micro-batches), optional gradient
clipping, a guard against non-finite values, the optimizer step, the learning-rate schedule.
Everything else is a callback (progress bar, history, plots, early stopping, keeping the best
weights) or the ``Checkpointer`` (resumable state). Parallelism is applied to the model before
the trainer sees it (``distributed.parallelize``).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from .. import distributed as dist
from ..batches import as_batches
from ..checkpoint import Checkpointer
from ..device import autocast, resolve_device
from ..errors import FromzeroError, NonFiniteError
from .callbacks import CSVLogger, History, PlotHistory, ProgressBar
from .losses import get_loss
from .metrics import get_metrics
from .optim import get_optimizer


def _to(batch, device, channels_last: bool = False):
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.dim() == 4 and batch.dtype.is_floating_point:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(b, device, channels_last) for b in batch)
    if isinstance(batch, dict):
        return {k: _to(v, device, channels_last) for k, v in batch.items()}
    return batch


def _batch_size(x) -> int:
    while isinstance(x, (tuple, list)):
        x = x[0]
    return len(x) if hasattr(x, "__len__") else 1


def _convolutional(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def place(model: nn.Module, device) -> nn.Module:
    """``model`` on ``device``, before ``parallelize``; a convolutional one in channels_last (NHWC),
    which lets oneDNN/cuDNN run convolutions and pooling without layout reorders (~10% faster
    for the MNIST CNN on CPU: benchmarks/mnist_cnn.py --variants)."""
    model.to(device)
    return model.to(memory_format=torch.channels_last) if _convolutional(model) else model


class Trainer:
    """Train any ``nn.Module``. See docs/architecture.md for the full contract.

    ``model`` is a plain module (the trainer moves it to ``device``) or what
    ``distributed.parallelize`` returned for it (a DDP wrapper, an FSDP-sharded module), already
    on its device. ``trainer.model`` is always the plain module.

    Example:
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
        >>> trainer = Trainer(model, optimizer="adam", loss="sparse_categorical_crossentropy",
        ...                   metrics=["accuracy"], verbose=0)
        >>> x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
        >>> history = trainer.fit((x, y), epochs=2)  # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, optimizer="adam", lr: float | None = None,
                 weight_decay: float | None = None, loss="sparse_categorical_crossentropy",
                 metrics=(), callbacks=(), device="auto", grad_clip: float | None = None,
                 grad_accum: int = 1, schedule=None, amp="auto", compile: bool = False,
                 run_dir=None, verbose: int = 1, nan_guard: str | None = "stop",
                 checkpoint_every: int | None = None, keep_checkpoints: int = 2, plot: bool = True):
        # plot: write run_dir/history.png at the end (matplotlib: ~20 MB more memory for the import).
        # checkpoint_every: also checkpoint every N optimizer steps (run_dir runs always checkpoint
        # after each epoch or evaluation); keep_checkpoints: how many to keep.
        if not isinstance(model, nn.Module):
            raise FromzeroError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        if grad_accum < 1:
            raise FromzeroError(f"grad_accum: expected an integer >= 1, got {grad_accum}")
        if nan_guard not in (None, "stop", "skip"):
            raise FromzeroError(f"nan_guard: expected 'stop', 'skip' or None, got {nan_guard!r}")
        self.device = resolve_device(device)
        self.model = dist.unwrap(model)
        if model is self.model and not (dist.world_size() > 1 and dist.is_sharded(model)):
            place(model, self.device)
        self.channels_last = _convolutional(self.model)  # image batches follow the model's layout
        self.forward = torch.compile(model) if compile else model
        self.loss_fn = get_loss(loss)
        self.metrics = get_metrics(metrics)
        self.optimizer = get_optimizer(optimizer, self.model, lr, weight_decay)
        for g in self.optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.schedule, self.grad_clip, self.grad_accum = schedule, grad_clip, grad_accum
        self._accum = grad_accum  # micro-batches per step on this rank (fewer when ranks share them)
        self.amp, self.nan_guard = amp, nan_guard
        self.run_dir = Path(run_dir) if run_dir else None
        self.checkpointer = Checkpointer(self.run_dir, every=checkpoint_every, keep=keep_checkpoints)
        self.history = History()
        # the user's callbacks run first, so that keys they add to the epoch logs (tokens/s,
        # MFU, ...) reach the history, the progress line and history.csv
        self.callbacks = list(callbacks) + [self.history]
        if verbose and dist.is_main():  # only rank 0 prints, plots and writes run files
            self.callbacks.append(ProgressBar())
        if self.run_dir and dist.is_main():
            self.callbacks.append(CSVLogger(self.run_dir / "history.csv"))
            if plot:
                self.callbacks.append(PlotHistory(self.run_dir / "history.png"))
        self.step, self.epoch, self.stop_training = 0, 0, False
        self.epochs = self.steps_per_epoch = 0
        self._pnorm = None   # the largest |parameter| after the last optimizer step (a tensor)
        self.max_steps = self.train_data = self._acc = None

    # --- one step ------------------------------------------------------------------------------
    def compute_loss(self, batch):
        """Forward one batch: ``(loss, outputs, targets)``. Override for custom objectives."""
        x, y = (batch[0], batch[1] if len(batch) > 1 else None) if isinstance(batch, (tuple, list)) \
            else (batch, None)
        xs = x if isinstance(x, (tuple, list)) else (x,)
        with autocast(self.device, self.amp):
            if self.loss_fn is None:  # the model computes its own loss
                out = self.forward(*xs, y) if y is not None else self.forward(*xs)
                outputs, loss = out if isinstance(out, tuple) else (None, out)
            else:
                outputs = self.forward(*xs)
                loss = self.loss_fn(outputs, y)
        return loss, outputs, y

    def train_step(self, batches: list) -> dict:
        """One optimizer step over ``grad_accum`` micro-batches."""
        self.optimizer.zero_grad(set_to_none=True)
        total, n, outs = 0.0, 0, []
        for i, batch in enumerate(batches):
            with dist.grad_sync(self.forward, i == len(batches) - 1):  # ranks sync the last one
                loss, outputs, y = self.compute_loss(batch)
                (loss / len(batches)).backward()
            bs = _batch_size(batch[0] if isinstance(batch, (tuple, list)) else batch)
            total = total + loss.detach() * bs
            n += bs
            outs.append((outputs, y))
        loss_mean = total / n
        bad = self._check_finite(loss_mean)
        if bad is None:
            if self.schedule is not None:
                m = float(self.schedule(self.step))
                for g in self.optimizer.param_groups:
                    g["lr"] = g["initial_lr"] * m
            self.optimizer.step()
            self.step += 1
            if self.nan_guard:  # checked with the next step's loss, or before a save: no sync here
                self._pnorm = _param_norm(self.model)
        return {"loss_sum": total, "n": n, "outputs": outs, "skipped": bad is not None}

    def _check_finite(self, loss):
        """Clip gradients if asked; with the NaN guard on, refuse a non-finite loss or gradient."""
        gnorm = None
        if self.grad_clip:
            gnorm = nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        elif self.nan_guard:  # the norm only: no rescaling pass over the gradients
            grads = [p.grad for p in self.model.parameters() if p.grad is not None]
            gnorm = _total_norm(grads)
        gnorm = dist.full_tensor(gnorm)  # FSDP: the norm over every rank's shards
        if self.nan_guard is None:
            return None
        pnorm = self._pnorm if self._pnorm is not None else 0.0  # the parameters after the last step
        if dist.all_true(torch.isfinite(loss + gnorm + pnorm)):  # one sync: finite iff all are, on every rank
            return None
        self.check_parameters()  # non-finite parameters: the last step broke them; stop in any mode
        bad = f"loss is {loss.item()}" if not torch.isfinite(loss) else f"gradient norm is {gnorm.item()}"
        self.optimizer.zero_grad(set_to_none=True)
        if self.nan_guard == "stop":
            last = self.checkpointer.latest()
            raise NonFiniteError(f"non-finite value at step {self.step + 1}: {bad}; training stopped "
                                 "before the optimizer step (parameters unchanged)"
                                 + (f"; last good checkpoint: {last}" if last else ""))
        return bad

    def check_parameters(self) -> None:
        """Raise ``NonFiniteError`` when the last optimizer step left a NaN or Inf in a parameter
        (a learning rate of inf, an overflow): nothing is saved from such a model. Every rank calls it."""
        if self._pnorm is None or dist.all_true(torch.isfinite(self._pnorm)):
            return
        last = self.checkpointer.latest()
        raise NonFiniteError(f"non-finite parameters after the optimizer step {self.step} (largest |value| "
                             f"{float(self._pnorm)}): the step broke the model (learning rate too high?); "
                             "training stopped and nothing was saved from it"
                             + (f"; last good checkpoint: {last}" if last else ""))

    # --- loops ---------------------------------------------------------------------------------
    def _next_batches(self):
        out = []
        while len(out) < self._accum:
            try:
                out.append(_to(next(self._iter), self.device, self.channels_last))
            except StopIteration:
                self._iter = iter(self.train_data)
                if out:
                    break
        return out

    def fit(self, train, epochs: int = 1, steps_per_epoch: int | None = None, validation_data=None,
            validation_steps: int | None = None, batch_size: int = 32, shuffle: bool = True,
            seed: int = 0, resume: bool | str = False, max_steps: int | None = None,
            eval_every: int | None = None, overwrite: bool = False):
        """Train; returns the ``History`` callback (one entry per epoch or evaluation).

        How long: ``epochs`` passes over ``train`` (or of ``steps_per_epoch`` steps), or
        ``max_steps`` optimizer steps in total with an evaluation every ``eval_every`` steps
        (default: at the end), the unit of endless streams such as a GPT's random windows. Each
        epoch or evaluation ends with validation, logs and a checkpoint. ``train``: ``(x, y)``
        arrays, a ``Dataset`` (both batched with ``batch_size``, ``shuffle``, ``seed``), a
        ``DataLoader`` or any iterable of batches. ``resume=True`` (or a checkpoint path)
        continues from the newest checkpoint of ``run_dir`` to the same total, mid-epoch included.

        With ``run_dir``, the run is opened for the fit (``fromzero.checkpoint.open_run``): the
        directory is locked against other processes; a first fit into a non-empty directory
        refuses unless ``resume`` (continue the run there, only with its own checkpoints) or
        ``overwrite=True`` (delete the earlier run's files); fitting again continues this run.
        """
        with self.checkpointer.run(resume, overwrite):
            return self._fit(train, epochs, steps_per_epoch, validation_data, validation_steps, batch_size,
                             shuffle, seed, resume, max_steps, eval_every)

    def _fit(self, train, epochs, steps_per_epoch, validation_data, validation_steps, batch_size, shuffle,
             seed, resume, max_steps, eval_every):
        data = as_batches(train, batch_size, shuffle, seed)
        for cb in self.callbacks:  # a callback may draw batches its own way (DifferentialPrivacy: Poisson)
            if hasattr(cb, "train_batches"):
                data = cb.train_batches(self, data)
        self.train_data, self._accum = dist.shard(data, self.grad_accum)
        self._set_length(data, epochs, steps_per_epoch, max_steps, eval_every)
        self.val_data = None if validation_data is None else as_batches(validation_data, batch_size)
        self.validation_steps = validation_steps
        self._acc = self._pnorm = None
        path = resume if isinstance(resume, (str, Path)) else None
        if not (resume and self.checkpointer.restore(self, path)):
            # like Keras: each fit() call trains `epochs` epochs and returns its own history
            self.epoch, self.history.epochs = 0, []
        self._iter = iter(self.train_data)
        if self._acc and not hasattr(self.train_data, "load_state_dict"):
            for _ in range(self._acc["step_in_epoch"] * self._accum):  # fast-forward to the position
                next(self._iter)
        self.stop_training = False
        self._fire("on_train_begin")
        logs = {}
        while self.epoch < self.epochs and not (self.stop_training or self._done()):
            logs = self._run_epoch(self.epoch)
            self.epoch += 1
            self._fire("on_epoch_end", self.epoch - 1, logs)
            if self.run_dir:
                self.check_parameters()
                self.checkpointer.save(self)
        self.check_parameters()  # a run whose last step broke the model does not end as a success
        self._fire("on_train_end", logs)
        return self.history

    def _set_length(self, data, epochs, steps_per_epoch, max_steps, eval_every) -> None:
        """``epochs`` of ``steps_per_epoch`` steps; with ``max_steps``, periods of ``eval_every``."""
        if max_steps is not None:
            eval_every = max_steps if eval_every is None else eval_every
            for k, v in (("max_steps", max_steps), ("eval_every", eval_every)):
                if not (isinstance(v, int) and v >= 1):
                    raise FromzeroError(f"{k}: expected an integer >= 1, got {v!r}")
            steps_per_epoch, epochs = eval_every, -(-max_steps // eval_every)
        elif steps_per_epoch is None:
            try:
                steps_per_epoch = max(1, -(-len(data) // self.grad_accum))
            except TypeError:
                raise FromzeroError("a data stream without a length needs max_steps "
                                    "(or steps_per_epoch)") from None
        self.epochs, self.steps_per_epoch, self.max_steps = epochs, steps_per_epoch, max_steps

    def _done(self) -> bool:
        return self.max_steps is not None and self.step >= self.max_steps

    def _new_acc(self) -> dict:
        """The epoch's running sums. They stay on the device, so adding a step's loss needs no sync."""
        zero = lambda: self._on_device(0.0)  # noqa: E731
        return {"loss_sum": zero(), "n": 0, "skipped": 0, "step_in_epoch": 0, "time_s": 0.0,
                "msum": {k: zero() for k in self.metrics}, "mcount": dict.fromkeys(self.metrics, 0)}

    def _on_device(self, value) -> torch.Tensor:
        dtype = torch.float32 if self.device.type == "mps" else torch.float64  # MPS has no float64
        return torch.as_tensor(value, dtype=dtype).to(self.device)

    def _run_epoch(self, epoch: int) -> dict:
        """One epoch (or evaluation period); its running sums live in ``self._acc`` so that a
        mid-epoch checkpoint holds them."""
        self.model.train()
        acc = self._acc = self._acc or self._new_acc()
        self._fire("on_epoch_begin", epoch)
        self._t0 = time.perf_counter() - acc["time_s"]
        msum, mcount = acc["msum"], acc["mcount"]
        for i in range(acc["step_in_epoch"], self.steps_per_epoch):
            r = self.train_step(self._next_batches())
            acc["step_in_epoch"] = i + 1
            if r["skipped"]:  # nan_guard="skip": the batch counts in no sum
                acc["skipped"] += 1
                continue
            acc["loss_sum"] += r["loss_sum"].double()
            acc["n"] += r["n"]
            with torch.no_grad():
                for outputs, y in r["outputs"]:
                    for k, fn in self.metrics.items():
                        s, c = fn(outputs.detach(), y)
                        msum[k] += s
                        mcount[k] += c
            blogs = {"batch_size": r["n"], "step_in_epoch": i + 1, "step": self.step,
                     "loss": lambda: float(acc["loss_sum"]) / max(acc["n"], 1),
                     "metrics": {k: (lambda k=k: float(msum[k]) / max(mcount[k], 1)) for k in msum}}
            self._fire("on_batch_end", blogs)
            if self.stop_training or self._done():
                break
            every = self.checkpointer.every
            if self.run_dir and every and self.step % every == 0 and i + 1 < self.steps_per_epoch:
                self.check_parameters()
                self.checkpointer.save(self)
        dt = time.perf_counter() - self._t0
        self.check_parameters()  # before validation, logs and the checkpoint
        acc = self._global_acc(acc)  # the sums over every rank
        msum, mcount = acc["msum"], acc["mcount"]
        logs = {"epoch": epoch + 1, "step": self.step, "loss": float(acc["loss_sum"]) / max(acc["n"], 1)}
        logs.update({k: float(msum[k]) / max(mcount[k], 1) for k in msum})
        if self.val_data is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(self.val_data, self.validation_steps).items()})
        logs["lr"] = self.optimizer.param_groups[0]["lr"]
        logs["samples_per_s"] = acc["n"] / dt if dt > 0 else 0.0
        logs["time_s"] = dt
        if acc["skipped"]:
            logs["skipped_steps"] = acc["skipped"]
        self._acc = None
        return logs

    @torch.no_grad()
    def evaluate(self, data, steps: int | None = None, batch_size: int = 256) -> dict:
        """Mean loss and metrics over ``data`` (all of it, or ``steps`` batches)."""
        data, _ = dist.shard(as_batches(data, batch_size), exact=True)  # each rank: its rows of each batch
        was_training = self.model.training
        self.model.eval()
        loss_sum, n = 0.0, 0
        msum, mcount = dict.fromkeys(self.metrics, 0.0), dict.fromkeys(self.metrics, 0)
        for i, batch in enumerate(data):
            if steps is not None and i >= steps:
                break
            batch = _to(batch, self.device, self.channels_last)
            loss, outputs, y = self.compute_loss(batch)
            bs = _batch_size(batch[0] if isinstance(batch, (tuple, list)) else batch)
            if bs == 0:  # this rank's share of a last batch smaller than the number of ranks
                continue
            loss_sum, n = loss_sum + loss.float() * bs, n + bs
            for k, fn in self.metrics.items():
                s, c = fn(outputs, y)
                msum[k], mcount[k] = msum[k] + s, mcount[k] + c
        self.model.train(was_training)
        if dist.world_size() > 1:  # the sums over every rank
            loss_sum, n, *sums = dist.all_reduce_sum([loss_sum, n, *msum.values(), *mcount.values()])
            msum, mcount = dict(zip(msum, sums)), dict(zip(mcount, sums[len(msum):]))
        if n == 0:
            raise FromzeroError("evaluate: expected at least one batch, got an empty dataset")
        out = {"loss": float(loss_sum / n)}
        out.update({k: float(msum[k]) / max(mcount[k], 1) for k in msum})
        return out

    @torch.no_grad()
    def predict(self, data, batch_size: int = 256) -> torch.Tensor:
        """Model outputs for every sample of ``data`` (x only, or (x, y) batches), on the CPU."""
        data = as_batches(data, batch_size)
        was_training = self.model.training
        self.model.eval()
        outs = []
        for batch in data:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            x = _to(x, self.device, self.channels_last)
            with autocast(self.device, self.amp):
                outs.append(self.forward(*(x if isinstance(x, (tuple, list)) else (x,))).float().cpu())
        self.model.train(was_training)
        return torch.cat(outs)

    def position(self) -> str:
        """Where the run stands, in words: "step 400 of 5000"; with epochs "step 6, after epoch 3 of 4"
        or "step 7, 1 of 2 steps into epoch 4 of 4". A resumed run says it (``Checkpointer.restore``)."""
        if self.max_steps:
            return f"step {self.step} of {self.max_steps}"
        done = (self._acc or {}).get("step_in_epoch", 0)
        if done:
            return (f"step {self.step}, {done} of {self.steps_per_epoch} steps into epoch {self.epoch + 1} "
                    f"of {self.epochs}")
        return f"step {self.step}, after epoch {self.epoch} of {self.epochs}"

    # --- the loop's own state (the Checkpointer saves it with the rest) -----------------------
    def state_dict(self) -> dict:
        """The loop's position: ``step``, ``epoch`` and, mid-epoch, the epoch's running sums
        (``acc``, over every rank). ``Checkpointer.state_dict`` adds the optimizer, data, RNG."""
        state = {"step": self.step, "epoch": self.epoch}
        if self._acc is not None:
            state["acc"] = dict(self._global_acc(self._acc), time_s=time.perf_counter() - self._t0)
        return state

    def load_state_dict(self, state: dict) -> None:
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self._acc = state.get("acc")
        if self._acc is not None and not dist.is_main():  # rank 0 carries the saved sums
            self._acc = dict(self._new_acc(), step_in_epoch=self._acc["step_in_epoch"],
                             time_s=self._acc["time_s"], skipped=self._acc["skipped"])
        elif self._acc is not None:  # saved on another device (a GPU run resumed on a CPU, ...)
            self._acc = dict(self._acc, loss_sum=self._on_device(self._acc["loss_sum"]),
                             msum={k: self._on_device(v) for k, v in self._acc["msum"].items()})

    def _global_acc(self, acc: dict) -> dict:
        """``acc`` with its sums (loss, samples, metrics) added up over every rank."""
        if dist.world_size() == 1:
            return acc
        keys = list(acc["msum"])
        loss_sum, n, *sums = dist.all_reduce_sum(
            [acc["loss_sum"], acc["n"], *(acc["msum"][k] for k in keys), *(acc["mcount"][k] for k in keys)])
        return dict(acc, loss_sum=torch.tensor(loss_sum, dtype=torch.float64), n=int(n),
                    msum={k: torch.tensor(v, dtype=torch.float64) for k, v in zip(keys, sums)},
                    mcount={k: int(v) for k, v in zip(keys, sums[len(keys):])})

    def _fire(self, hook: str, *args) -> None:
        """Call ``hook`` on every callback that defines it (every hook is optional)."""
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(self, *args)


@torch.no_grad()
def _param_norm(model: nn.Module) -> torch.Tensor:
    """The largest |value| of the parameters (this rank's shards), NaN if any is NaN: one read-only
    min/max pass per tensor, no sync and no copy (torch's inf-norm is
    many times slower on a CPU, and a 2-norm overflows on large finite values)."""
    params = [p.to_local() if hasattr(p, "to_local") else p for p in model.parameters()]
    ends = [torch.aminmax(p) for p in params if p.numel() and p.is_floating_point()]
    if not ends:
        return torch.zeros(())
    same = len({e[0].dtype for e in ends}) == 1
    lo, hi = (torch.stack([e[i] if same else e[i].float() for e in ends]) for i in (0, 1))
    return torch.maximum(hi.max(), -lo.min()).float()


def _total_norm(grads) -> torch.Tensor:
    if not grads:
        return torch.zeros(())
    if hasattr(nn.utils, "get_total_norm"):  # torch >= 2.6
        return nn.utils.get_total_norm(grads)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
