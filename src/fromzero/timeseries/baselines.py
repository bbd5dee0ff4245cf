"""Naive forecasts that a model has to beat, computed on exactly the model's windows.

Each takes the whole series ``values`` (N, C), the first target rows ``starts`` and the
``horizon``, and returns forecasts (len(starts), horizon, C). They only read rows before each
window's first target (and, for the calendar mean, the training rows).

Example:
    >>> import numpy as np
    >>> v = np.arange(10.0)[:, None]
    >>> repeat_last(v, np.array([4, 6]), 2)[..., 0]
    array([[3., 3.],
           [5., 5.]])
    >>> seasonal_naive(v, np.array([4]), 3, season=2)[..., 0]
    array([[2., 3., 2.]])
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError


def repeat_last(values: np.ndarray, starts: np.ndarray, horizon: int) -> np.ndarray:
    """Persistence ("Repeat"): every step of the horizon is the last observed value."""
    return np.repeat(values[starts - 1][:, None, :], horizon, axis=1)


def seasonal_naive(values: np.ndarray, starts: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Each step is the value one season earlier (the last observed season, repeated)."""
    if np.any(starts - season < 0):
        raise DataError(f"seasonal naive: the first window starts at row {int(starts.min())}, "
                        f"less than one season ({season} rows) into the series")
    h = np.arange(horizon)
    rows = starts[:, None] - season + (h % season)[None, :]    # (N, horizon)
    return values[rows]


def calendar_mean(values: np.ndarray, times: np.ndarray, train: tuple, starts: np.ndarray,
                  horizon: int) -> np.ndarray:
    """Climatology: the mean of the training rows on the same calendar day (month and day)."""
    keys = _month_day(times)
    lo, hi = train
    sums, counts = {}, {}
    for k, v in zip(keys[lo:hi], values[lo:hi]):
        sums[k] = sums.get(k, 0.0) + v
        counts[k] = counts.get(k, 0) + 1
    overall = values[lo:hi].mean(axis=0)
    rows = starts[:, None] + np.arange(horizon)[None, :]
    out = np.empty((*rows.shape, values.shape[1]))
    for idx in np.ndindex(rows.shape):
        k = keys[rows[idx]]
        out[idx] = sums[k] / counts[k] if k in counts else overall
    return out


def _month_day(times: np.ndarray) -> np.ndarray:
    months = times.astype("datetime64[M]")
    day = (times.astype("datetime64[D]") - months.astype("datetime64[D]")).astype(int)
    return (months.astype(int) % 12) * 100 + day
