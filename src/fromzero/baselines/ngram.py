"""A character (or any token) n-gram language model with interpolated Kneser-Ney smoothing (NumPy).

The probability of token ``w`` after the history ``h`` (its last ``order - 1`` tokens) mixes
each order with the one below (Chen & Goodman 1998, "interpolated Kneser-Ney")::

    P_k(w | h) = max(c_k(h w) - D_k, 0) / c_k(h)  +  D_k * N_k(h) / c_k(h) * P_{k-1}(w | h')
    P_0(w)     = 1 / V                                   (so an unseen token keeps some probability)

``h'`` is ``h`` without its oldest token; ``c_k(h) = sum_w c_k(h w)`` and ``N_k(h)`` is the number
of tokens ``w`` with ``c_k(h w) > 0``. The highest order counts n-grams (``c``); the lower orders
count *continuations*: ``c_k(g)`` is the number of distinct tokens seen just before ``g``. A
history never seen at an order (``c_k(h) = 0``) hands the whole probability to the order below.
The discount is ``D_k = n1 / (n1 + 2 n2)`` (n1, n2: how many n-grams of that order count 1 and 2).

Every n-gram gets a dense id built from its prefix's id (``id(h) * V + w``), so the tables are
sorted integer arrays and a whole text is scored with ``np.searchsorted``, with no Python loop
over its characters.

Example:
    >>> lm = KneserNey(order=3).fit(np.array([0, 1, 2, 0, 1, 2, 0, 1]), vocab_size=4)
    >>> p = lm.probs([0, 1])            # after "0 1"
    >>> round(float(p.sum()), 6), int(p.argmax())
    (1.0, 2)
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError, DataError


class KneserNey:
    """Interpolated Kneser-Ney over tokens ``0 .. vocab_size - 1``; ``order`` counts the predicted token."""

    def __init__(self, order: int = 6):
        if not isinstance(order, int) or order < 1:
            raise ConfigError(f"n-gram order: expected an integer >= 1, got {order!r}")
        self.order = order
        self.V = 0
        self.keys, self.counts, self.totals, self.types, self.discounts = [], [], [], [], []

    def fit(self, tokens, vocab_size: int) -> "KneserNey":
        """Count the n-grams of ``tokens`` (1-D ints in ``[0, vocab_size)``)."""
        x = np.asarray(tokens, dtype=np.int64)
        if x.ndim != 1 or len(x) == 0:
            raise DataError(f"n-gram model: expected a non-empty 1-D sequence of token ids, got shape {x.shape}")
        if x.min() < 0 or x.max() >= vocab_size:
            raise DataError(f"n-gram model: token ids must lie in [0, {vocab_size}), got {x.min()}..{x.max()}")
        V = self.V = int(vocab_size)
        # keys[k][j]: the j-th distinct (k+1)-gram as id(its first k tokens) * V + its last token
        keys, raw, suffixes = [np.arange(V, dtype=np.int64)], [np.bincount(x, minlength=V)], []
        ids = x.copy()                           # ids[i]: the id of the (k)-gram starting at position i
        for k in range(1, self.order):
            if len(ids) < 2:
                break
            uniq, where, inv = np.unique(ids[:-1] * V + x[k:], return_index=True, return_inverse=True)
            keys.append(uniq)
            raw.append(np.bincount(inv, minlength=len(uniq)))
            suffixes.append(ids[where + 1])      # each distinct (k+1)-gram's last k tokens, as a k-gram id
            ids = inv
        self.keys, top = keys, len(keys)
        self.counts = [raw[k] if k == top - 1 else np.bincount(suffixes[k], minlength=len(keys[k]))
                       for k in range(top)]
        self.totals, self.types, self.discounts = [], [], []
        for k in range(top):
            c = self.counts[k]
            n1, n2 = int((c == 1).sum()), int((c == 2).sum())
            self.discounts.append(n1 / (n1 + 2 * n2) if n1 and n2 else 0.5)
            if k == 0:
                self.totals.append(np.array([c.sum()]))
                self.types.append(np.array([(c > 0).sum()]))
            else:
                h = keys[k] // V                        # the history's id at order k
                size = len(keys[k - 1])
                self.totals.append(np.bincount(h, weights=c, minlength=size))
                self.types.append(np.bincount(h, weights=(c > 0), minlength=size))
        return self

    def _lookup(self, grams: np.ndarray) -> np.ndarray:
        """Ids of the rows of ``grams`` (M, L) as L-grams, -1 where unseen or holding a -1."""
        ids = np.where((grams[:, 0] >= 0) & (grams[:, 0] < self.V), grams[:, 0], -1)
        for j in range(1, grams.shape[1]):
            if j >= len(self.keys):
                return np.full(len(grams), -1)
            ids = self._find(j, ids, grams[:, j])
        return ids

    def _find(self, k: int, prefix: np.ndarray, w: np.ndarray) -> np.ndarray:
        table = self.keys[k]
        key = prefix * self.V + w
        pos = np.minimum(np.searchsorted(table, key), len(table) - 1)
        ok = (prefix >= 0) & (w >= 0) & (w < self.V) & (table[pos] == key)
        return np.where(ok, pos, -1)

    def prob(self, contexts, nexts) -> np.ndarray:
        """P(next | context) for each row: ``contexts`` (M, L) token ids, the most recent last,
        -1 for "no token" (the start of a text); ``nexts`` (M,). Returns (M,) float64."""
        ctx = np.asarray(contexts, dtype=np.int64).reshape(len(nexts), -1)
        w = np.asarray(nexts, dtype=np.int64)
        if not self.keys:
            raise ConfigError("n-gram model: call fit() first")
        seen = (w >= 0) & (w < self.V)
        wc = np.where(seen, w, 0)
        c0, d0 = self.counts[0], self.discounts[0]
        t0, n0 = float(self.totals[0][0]), float(self.types[0][0])
        p = np.full(len(w), 1.0 / self.V)
        if t0 > 0:
            p = (np.maximum(c0[wc] - d0, 0) * seen + d0 * n0 * p) / t0
        for k in range(1, len(self.keys)):
            if ctx.shape[1] < k:
                break
            h = self._lookup(ctx[:, ctx.shape[1] - k:])
            hc = np.maximum(h, 0)
            total = np.where(h >= 0, self.totals[k][hc], 0.0)
            g = self._find(k, h, w)
            c = np.where(g >= 0, self.counts[k][np.maximum(g, 0)], 0)
            d = self.discounts[k]
            mixed = (np.maximum(c - d, 0) + d * self.types[k][hc] * p) / np.maximum(total, 1e-300)
            p = np.where(total > 0, mixed, p)
        return p

    def probs(self, context) -> np.ndarray:
        """The distribution (V,) of the next token after ``context`` (a sequence of token ids)."""
        ctx = np.asarray(list(context)[-(self.order - 1):] if self.order > 1 else [], dtype=np.int64)
        rows = np.broadcast_to(ctx, (self.V, len(ctx)))
        return self.prob(rows, np.arange(self.V))

    def cross_entropy(self, tokens, before=()) -> float:
        """Mean negative log-probability (nats per token) of every token of ``tokens``, each given
        the tokens before it (``before``: what precedes the first one, e.g. the training text's end)."""
        x = np.asarray(tokens, dtype=np.int64)
        if len(x) == 0:
            raise DataError("n-gram model: expected at least one token to score, got none")
        L = self.order - 1
        prev = np.asarray(before, dtype=np.int64)[len(before) - L:] if L else np.empty(0, np.int64)
        full = np.concatenate([np.full(L - len(prev), -1), prev, x])
        rows = full[np.arange(len(x))[:, None] + np.arange(L)[None, :]]     # (N, L): each token's history
        return float(-np.mean(np.log(self.prob(rows, x))))

    def num_params(self) -> int:
        """Stored counts: one per distinct n-gram of every order (and one per vocabulary token)."""
        return int(sum(len(c) for c in self.counts))

    def nbytes(self) -> int:
        """Bytes of the tables (keys, counts, history totals and types)."""
        return int(sum(a.nbytes for t in (self.keys, self.counts, self.totals, self.types) for a in t))


def bits(nats: float) -> float:
    """Nats -> bits (per token)."""
    return nats / math.log(2)
