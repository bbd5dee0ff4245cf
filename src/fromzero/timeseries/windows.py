"""Chronological splits, scaling fitted on the training part only, and (lookback, horizon) windows.

A window that predicts rows ``[s, s + horizon)`` reads rows ``[s - lookback, s)``. A window
belongs to the part (train, validation, test) that holds all of its *targets*; its inputs may
reach back into the part before (the standard ETTh1 setup: validation and test start
``lookback`` rows before their first target). So no training window has a target outside the
training rows, and the scaler only ever sees training rows.

Example:
    >>> import numpy as np
    >>> v = np.arange(100.0)[:, None]
    >>> parts = split_rows(100, (0.7, 0.1, 0.2))
    >>> parts.train, parts.val, parts.test
    ((0, 70), (70, 80), (80, 100))
    >>> x, y = make_windows(v, window_starts(parts.test, 8, 4), 8, 4)
    >>> x.shape, y.shape, float(y[0, 0, 0])
    ((17, 8, 1), (17, 4, 1), 80.0)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataError


@dataclass(frozen=True)
class Split:
    """Row ranges ``[start, stop)`` of the three parts, in time order."""
    train: tuple
    val: tuple
    test: tuple

    def parts(self) -> dict:
        return {"train": self.train, "val": self.val, "test": self.test}


def split_rows(n: int, spec=(0.7, 0.1, 0.2), source: str = "series") -> Split:
    """Split ``n`` rows chronologically: ``spec`` is three fractions or three row counts.

    Fractions must sum to at most 1; row counts to at most ``n`` (later rows are left out, as
    in the standard ETTh1 split of 8640/2880/2880 rows).
    """
    spec = tuple(spec)
    if len(spec) != 3 or any(not isinstance(v, (int, float)) or v <= 0 for v in spec):
        raise ConfigError(f"split: expected three positive numbers (fractions or row counts), got {spec!r}")
    if all(isinstance(v, int) for v in spec):
        counts = spec
    elif sum(spec) <= 1 + 1e-9:
        a = int(round(n * spec[0]))
        b = int(round(n * (spec[0] + spec[1])))
        counts = (a, b - a, min(n, int(round(n * sum(spec)))) - b)
    else:
        raise ConfigError(f"split: fractions must sum to at most 1, got {spec!r} (sum {sum(spec):g})")
    if sum(counts) > n:
        raise DataError(f"{source}: the split needs {sum(counts)} rows ({counts[0]} + {counts[1]} + "
                        f"{counts[2]}), the series has {n}")
    if min(counts) < 1:
        raise DataError(f"{source}: {n} rows are too few to split {spec!r} into three non-empty parts")
    a, b = counts[0], counts[0] + counts[1]
    return Split((0, a), (a, b), (b, b + counts[2]))


class Scaler:
    """Per-column z-scores, ``(x - mean) / std``, with the population std of the rows it was fitted on."""

    def __init__(self, mean=None, std=None):
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.std = None if std is None else np.asarray(std, dtype=np.float64)

    def fit(self, values: np.ndarray) -> "Scaler":
        self.mean = values.mean(axis=0)
        std = values.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)  # a constant column is only shifted
        return self

    def transform(self, values):
        return (values - self.mean) / self.std

    def inverse(self, values, cols=None):
        """Back to original units; ``cols`` selects the columns ``values``'s last axis holds."""
        cols = slice(None) if cols is None else list(cols)
        return values * self.std[cols] + self.mean[cols]

    def state_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state(cls, state: dict) -> "Scaler":
        return cls(state["mean"], state["std"])


def window_starts(part: tuple, lookback: int, horizon: int, stride: int = 1) -> np.ndarray:
    """First target rows ``s`` of the windows whose targets all lie in ``part = (start, stop)``.

    Inputs are rows ``[s - lookback, s)``; they may precede ``start`` but never row 0.
    """
    start, stop = part
    first = max(start, lookback)
    last = stop - horizon          # the last s with s + horizon <= stop
    if last < first:
        return np.empty(0, dtype=np.int64)
    return np.arange(first, last + 1, stride, dtype=np.int64)


def make_windows(values: np.ndarray, starts: np.ndarray, lookback: int, horizon: int,
                 in_cols=None, out_cols=None) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (N, lookback, C_in) and targets (N, horizon, C_out) as float32 arrays."""
    in_cols = slice(None) if in_cols is None else list(in_cols)
    out_cols = slice(None) if out_cols is None else list(out_cols)
    steps = np.arange(-lookback, horizon)
    rows = starts[:, None] + steps[None, :]                    # (N, lookback + horizon)
    x = values[rows[:, :lookback]][..., in_cols]
    y = values[rows[:, lookback:]][..., out_cols]
    return x.astype(np.float32), y.astype(np.float32)


def time_features(times: np.ndarray) -> np.ndarray:
    """Calendar covariates (N, K): sin/cos of the day of the year, plus of the hour for sub-daily data."""
    days = (times.astype("datetime64[D]") - times.astype("datetime64[Y]").astype("datetime64[D]"))
    doy = days.astype(np.float64) / 365.25
    feats = [np.sin(2 * np.pi * doy), np.cos(2 * np.pi * doy)]
    if len(times) > 1 and np.min(np.diff(times)) < np.timedelta64(1, "D"):
        hour = (times - times.astype("datetime64[D]")).astype("timedelta64[s]").astype(np.float64) / 86400
        feats += [np.sin(2 * np.pi * hour), np.cos(2 * np.pi * hour)]
    return np.stack(feats, axis=1)
