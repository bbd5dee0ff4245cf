"""Token sequences of labelled texts, and batches of them padded to the longest in the batch.

Example:
    >>> import numpy as np
    >>> seqs = [np.array([3, 4]), np.array([5, 6, 7]), np.array([8])]
    >>> (x, y), = PaddedBatches(seqs, [0, 1, 0], batch_size=3)
    >>> x.tolist(), y.tolist()
    ([[3, 4, -1], [5, 6, 7], [8, -1, -1]], [0, 1, 0])
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import DataError, FromzeroError

PAD = -1


def encode_texts(tokenizer, texts: list[str], block_size: int, bos: bool = True) -> list[np.ndarray]:
    """Token ids of each text (int64 arrays), after a start token if ``bos``, cut to ``block_size``.

    A character-level tokenizer drops the characters it never saw (they have no embedding).
    """
    if hasattr(tokenizer, "encode_batch"):
        ids = tokenizer.encode_batch(list(texts))
    else:
        ids = []
        for t in texts:
            unknown = set(tokenizer.unknown(t))
            ids.append(tokenizer.encode("".join(c for c in t if c not in unknown)))
    start = [tokenizer.start_id] if bos else []
    out = [np.asarray((start + list(s))[:block_size], dtype=np.int64) for s in ids]
    empty = [i for i, s in enumerate(out) if len(s) == 0]
    if empty:
        raise DataError(f"text {empty[0]} ({texts[empty[0]]!r}) has no token the tokenizer knows")
    return out


def pad(seqs: list[np.ndarray]) -> torch.Tensor:
    """(B, T) int64, each row a sequence right-padded with -1 to the longest, T."""
    out = np.full((len(seqs), max(len(s) for s in seqs)), PAD, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return torch.from_numpy(out)


class PaddedBatches:
    """``(x, y)`` batches of variable-length sequences, right-padded with -1 per batch.

    With ``shuffle``, each epoch shuffles the examples, sorts them by length within pools of
    ``pool`` batches (so that a batch holds similar lengths and little padding) and shuffles the
    batch order. The order of epoch ``e`` depends only on ``(seed, e)``, so ``state_dict`` is
    three integers and a resumed run sees the same batches. Without ``shuffle``, the order is
    the input's (``Trainer.predict`` returns outputs in that order).

    Args:
        seqs: token-id arrays (``encode_texts``).
        labels: class indices, or None (x-only batches).
        batch_size: sequences per batch.
    """

    def __init__(self, seqs, labels=None, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                 pool: int = 50):
        if len(seqs) == 0:
            raise FromzeroError("expected at least one sequence, got none")
        if labels is not None and len(labels) != len(seqs):
            raise FromzeroError(f"{len(seqs)} sequences but {len(labels)} labels")
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise FromzeroError(f"batch_size: expected a positive integer, got {batch_size!r}")
        self.seqs = list(seqs)
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.lengths = np.array([len(s) for s in self.seqs])
        self.batch_size, self.shuffle, self.seed, self.pool = batch_size, shuffle, seed, pool
        self.epoch, self.pos = 0, 0

    def __len__(self) -> int:
        return -(-len(self.seqs) // self.batch_size)

    def _plan(self, epoch: int) -> list[np.ndarray]:
        n, bs = len(self.seqs), self.batch_size
        if not self.shuffle:
            return [np.arange(i, min(i + bs, n)) for i in range(0, n, bs)]
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(n)
        chunk = bs * self.pool
        batches = []
        for i in range(0, n, chunk):
            part = order[i:i + chunk]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches += [part[j:j + bs] for j in range(0, len(part), bs)]
        return [batches[k] for k in rng.permutation(len(batches))]

    def __iter__(self):
        plan = self._plan(self.epoch)
        while self.pos < len(plan):
            idx = plan[self.pos]
            self.pos += 1
            x = pad([self.seqs[i] for i in idx])
            yield (x,) if self.labels is None else (x, self.labels[torch.from_numpy(idx)])
        self.epoch, self.pos = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch, self.pos = int(state["seed"]), int(state["epoch"]), int(state["pos"])
