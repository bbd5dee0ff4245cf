"""Batches for the trainer. In-memory data is batched from tensors, without per-sample Python work."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import FromzeroError, ShapeError


def rank_rows(n: int, rank: int, world_size: int, pad: bool = True) -> slice:
    """Rows of an n-row batch for ``rank``: every ``world_size``-th from ``rank``. A rank with none
    (a last batch smaller than the world) gets the last row again with ``pad``, else no row."""
    if rank < n:
        return slice(rank, n, world_size)
    return slice(n - 1, n) if pad else slice(n, n)


def as_tensor(a, name: str) -> torch.Tensor:
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
        self.rank, self.world_size = 0, 1  # a distributed run's share of each batch (shard_rank)

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.x)
        if self.pos == 0 or (self.shuffle and self.epoch_order is None):  # else: resume mid-epoch
            self.epoch_order = torch.randperm(n, generator=self.gen) if self.shuffle else None
            self.pos = 0
        while self.pos < len(self):
            lo = self.pos * self.batch_size
            idx = slice(lo, lo + self.batch_size)
            if self.world_size > 1:  # this rank's rows of the global batch
                r = rank_rows(min(self.batch_size, n - lo), self.rank, self.world_size)
                idx = slice(lo + r.start, lo + r.stop, r.step)
            self.pos += 1
            if self.epoch_order is not None:
                i = self.epoch_order[idx]
                xb = self.x.index_select(0, i)
                yb = None if self.y is None else self.y.index_select(0, i)
            else:
                xb, yb = self.x[idx], None if self.y is None else self.y[idx]
            yield (xb,) if yb is None else (xb, yb)
        self.pos = 0

    def shard_rank(self, rank: int, world_size: int, grad_accum: int = 1) -> int:
        """Yield only rank ``rank``'s rows (every ``world_size``-th) of each batch; every rank
        draws the same order, so together they see each global batch once."""
        self.rank, self.world_size = rank, world_size
        return grad_accum

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "pos": self.pos,
                "order": self.epoch_order if self.epoch_order is not None else torch.empty(0, dtype=torch.long)}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        self.pos = int(state["pos"])
        order = state["order"]
        self.epoch_order = order if order.numel() else None
