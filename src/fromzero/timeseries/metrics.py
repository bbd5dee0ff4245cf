"""Forecast errors, averaged over windows, horizon steps and columns (NumPy).

MAE and RMSE are in the data's units. MASE (scaled by the training rows' naive error) and sMAPE
are scale-free and survive series that cross zero; MAPE does not (``mape_undefined`` says when).

Example:
    >>> import numpy as np
    >>> y, p = np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0])
    >>> mae(y, p), round(rmse(y, p), 4), round(mape(y, p), 2), round(smape(y, p), 2)
    (1.0, 1.291, 33.33, 35.56)
    >>> mase(y, p, scale=naive_scale(np.array([[0.0], [2.0], [3.0]])))   # naive MAE 1.5
    0.6666666666666666
"""
from __future__ import annotations

import numpy as np


def mae(y, pred) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - y)))


def mse(y, pred) -> float:
    """Mean squared error."""
    return float(np.mean((np.asarray(pred, np.float64) - y) ** 2))


def rmse(y, pred) -> float:
    """Root mean squared error, in the units of ``y``."""
    return float(np.sqrt(mse(y, pred)))


def mape(y, pred, eps: float = 1e-8) -> float:
    """Mean absolute percentage error, in percent, over the values with ``|y| > eps``.

    It is undefined where the actual value is 0 and explodes near 0: ``report`` gives it only
    where ``mape_undefined`` finds no such value.
    """
    y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    keep = np.abs(y) > eps
    if not keep.any():
        return float("nan")
    return float(100 * np.mean(np.abs((pred[keep] - y[keep]) / y[keep])))


def mape_undefined(y) -> str | None:
    """Why MAPE means nothing for the actual values ``y`` (columns on the last axis), or None.

    A column whose values take both signs crosses zero; one that touches zero divides by it.
    """
    y = _by_column(y)
    lo, hi = y.min(axis=0), y.max(axis=0)
    if np.any((lo < 0) & (hi > 0)):
        return "series crosses zero"
    if np.any(np.abs(y).min(axis=0) <= 1e-12 * np.abs(y).max(axis=0)):
        return "series has zeros"
    return None


def smape(y, pred) -> float:
    """Symmetric MAPE in percent, from 0 to 200: the mean of ``200 |pred - y| / (|y| + |pred|)``.

    Bounded, so it survives values at or across zero; a step where both are 0 counts as 0.
    """
    y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    den = np.abs(y) + np.abs(pred)
    ratio = np.divide(np.abs(pred - y), den, out=np.zeros_like(den), where=den > 0)
    return float(200 * np.mean(ratio))


def naive_scale(train, season: int = 1) -> np.ndarray:
    """MASE's denominator per column: the mean ``|y[t] - y[t - season]|`` over the training rows
    ``train`` (N, C), the in-sample error of the seasonal-naive forecast (naive-1 for season 1)."""
    train = np.asarray(train, np.float64)
    return np.mean(np.abs(train[season:] - train[:-season]), axis=0)


def mase(y, pred, scale) -> float:
    """Mean absolute scaled error: each column's MAE over its ``scale`` (``naive_scale``), averaged
    over columns (the last axis). Below 1 beats the in-sample naive forecast; None if a scale is 0."""
    y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    scale = np.asarray(scale, np.float64)
    if np.any(scale <= 0):
        return None
    err = _by_column(np.abs(pred - y)).mean(axis=0)
    return float(np.mean(err / scale))


def _by_column(a) -> np.ndarray:
    """(steps, columns): a 1-D array is one column; otherwise the last axis holds the columns."""
    a = np.asarray(a, np.float64)
    return a[:, None] if a.ndim == 1 else a.reshape(-1, a.shape[-1])


def report(y, pred, y_scaled=None, pred_scaled=None, scale=None) -> dict:
    """MAE, RMSE, sMAPE and MAPE in original units (MAPE None where ``mape_undefined``); MSE and
    MAE of the z-scored values when given; MASE when the training rows' ``scale`` is given."""
    out = {"mae": mae(y, pred), "rmse": rmse(y, pred), "smape": smape(y, pred),
           "mape": None if mape_undefined(y) else mape(y, pred)}
    if scale is not None:
        out["mase"] = mase(y, pred, scale)
    if y_scaled is not None:
        out = {"mse_scaled": mse(y_scaled, pred_scaled), "mae_scaled": mae(y_scaled, pred_scaled), **out}
    return out
