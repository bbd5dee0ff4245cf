"""Batches for training and evaluation. In-memory data is batched from tensors, without
per-sample Python work. Sources know nothing of processes: ``distributed.shard`` gives each rank
its share of any of them."""
from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from .errors import FromzeroError, ShapeError


def as_tensor(a, name: str) -> torch.Tensor:
    """An array-like as a tensor (NumPy arrays without a copy); a clear error names ``name``."""
    if isinstance(a, torch.Tensor):
        return a
    if isinstance(a, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a))
    try:
        return torch.as_tensor(np.asarray(a))
    except (TypeError, ValueError) as e:
        raise FromzeroError(f"{name}: expected an array or tensor, got {type(a).__name__} ({e})") from None


class TensorBatches:
    """Mini-batches of ``(x, y)`` from in-memory tensors, reshuffled each epoch.

    Indexing a whole batch at once (one ``index_select`` per tensor) keeps Python out of the
    per-sample path. The shuffling generator's state is part of ``state_dict`` so that a
    resumed run sees the same order.

    Example:
        >>> b = TensorBatches(torch.zeros(10, 3), torch.arange(10), batch_size=4)
        >>> [x.shape[0] for x, y in b]
        [4, 4, 2]
    """

    def __init__(self, x, y=None, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                 drop_last: bool = False):
        self.x = as_tensor(x, "x")
        self.y = None if y is None else as_tensor(y, "y")
        if self.y is not None and len(self.x) != len(self.y):
            raise ShapeError(f"x and y must have the same length: x has {len(self.x)} samples, "
                             f"y has {len(self.y)}")
        if len(self.x) == 0:
            raise FromzeroError("expected at least one sample, got an empty dataset")
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise FromzeroError(f"batch_size: expected a positive integer, got {batch_size!r}")
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.gen = torch.Generator().manual_seed(seed)
        self.epoch_order = None
        self.pos = 0  # next batch index within the current epoch (for mid-epoch resume)

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        if self.pos == 0 or (self.shuffle and self.epoch_order is None):  # else: resume mid-epoch
            self.epoch_order = torch.randperm(len(self.x), generator=self.gen) if self.shuffle else None
            self.pos = 0
        while self.pos < len(self):
            idx = slice(self.pos * self.batch_size, (self.pos + 1) * self.batch_size)
            self.pos += 1
            if self.epoch_order is not None:
                i = self.epoch_order[idx]
                xb = self.x.index_select(0, i)
                yb = None if self.y is None else self.y.index_select(0, i)
            else:
                xb, yb = self.x[idx], None if self.y is None else self.y[idx]
            yield (xb,) if yb is None else (xb, yb)
        self.pos = 0

    @property
    def examples(self) -> int:
        return len(self.x)

    def take(self, idx: torch.Tensor) -> tuple:
        """The batch of the examples at ``idx`` (int64), any order: ``(x,)`` or ``(x, y)``."""
        return (self.x.index_select(0, idx),) if self.y is None else \
            (self.x.index_select(0, idx), self.y.index_select(0, idx))

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "pos": self.pos,
                "order": self.epoch_order if self.epoch_order is not None else torch.empty(0, dtype=torch.long)}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        self.pos = int(state["pos"])
        order = state["order"]
        self.epoch_order = order if order.numel() else None


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: give NumPy and ``random`` in each worker a distinct seed
    derived from torch's per-worker seed (itself derived from the loader's generator), so that
    workers differ from each other and a run with the same seed repeats exactly."""
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def as_batches(data, batch_size: int = 32, shuffle: bool = False, seed: int = 0, num_workers: int = 0):
    """Anything the trainer accepts -> an iterable of batches.

    ``(x, y)`` arrays/tensors -> ``TensorBatches``; a ``Dataset`` -> ``DataLoader``; an iterable of
    batches (a ``DataLoader``, a token stream) is used as it is.
    """
    if isinstance(data, tuple) and len(data) in (1, 2) and all(
            isinstance(a, (torch.Tensor, np.ndarray)) for a in data):
        return TensorBatches(*data, batch_size=batch_size, shuffle=shuffle, seed=seed)
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return TensorBatches(data, batch_size=batch_size, shuffle=shuffle, seed=seed)
    if isinstance(data, Dataset) and not isinstance(data, IterableDataset):
        if len(data) == 0:
            raise FromzeroError("expected at least one sample, got an empty Dataset")
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                          generator=torch.Generator().manual_seed(seed), worker_init_fn=seed_worker)
    if hasattr(data, "__iter__"):
        return data
    raise FromzeroError(f"data: expected (x, y) arrays, a Dataset, a DataLoader or an iterable of "
                        f"batches, got {type(data).__name__}")
