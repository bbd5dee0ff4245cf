"""Forecast errors, averaged over windows, horizon steps and columns (NumPy).

Example:
    >>> import numpy as np
    >>> y, p = np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0])
    >>> mae(y, p), round(rmse(y, p), 4), round(mape(y, p), 2)
    (1.0, 1.291, 33.33)
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

    It is undefined where the actual value is 0 (Melbourne has days of 0.0 °C), so those are
    left out; it means little for series that cross zero.
    """
    y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    keep = np.abs(y) > eps
    if not keep.any():
        return float("nan")
    return float(100 * np.mean(np.abs((pred[keep] - y[keep]) / y[keep])))


def report(y, pred, y_scaled=None, pred_scaled=None) -> dict:
    """MAE, RMSE and MAPE in original units; MSE and MAE of the z-scored values when given."""
    out = {"mae": mae(y, pred), "rmse": rmse(y, pred), "mape": mape(y, pred)}
    if y_scaled is not None:
        out = {"mse_scaled": mse(y_scaled, pred_scaled), "mae_scaled": mae(y_scaled, pred_scaled), **out}
    return out
