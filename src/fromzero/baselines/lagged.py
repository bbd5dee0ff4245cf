"""A linear forecaster: ridge regression from a lagged window to the next ``horizon`` steps.

It reads the very windows ``fromzero train forecast`` cuts (``fromzero.timeseries.windows``:
same lookback, horizon, split and training-rows z-scores). Like the deep forecaster's default
(``--norm last``), it works relative to each window's last value: that value is subtracted from
the inputs of each series column and from the targets, and added back to the forecast, so a
level that drifts between the training and the test rows does not bias it.

Example:
    >>> import numpy as np
    >>> t = np.arange(400.0)
    >>> z = np.sin(t / 5)[:, None]
    >>> x, y = z[np.arange(300)[:, None] + np.arange(10)], z[np.arange(300)[:, None] + 10 + np.arange(2)]
    >>> f = RidgeForecaster(n_series=1, targets=[0]).fit(x[:250], y[:250], x[250:], y[250:])
    >>> float(np.abs(f.predict(x[250:]) - y[250:]).max()) < 0.01
    True
"""
from __future__ import annotations

import numpy as np

from .classic import count_params, fit_ridge, size_bytes


class RidgeForecaster:
    """Windows (N, lookback, C) -> forecasts (N, horizon, len(targets)); the first ``n_series``
    input columns are series (covariates such as calendar features may follow)."""

    def __init__(self, n_series: int, targets, relative: bool = True):
        self.n_series, self.targets, self.relative = n_series, list(targets), relative
        self.model, self.scores = None, {}

    def _inputs(self, x):
        x = np.array(x, dtype=np.float64)
        last = x[:, -1, :self.n_series].copy()                           # (N, C)
        if self.relative:
            x[..., :self.n_series] -= last[:, None, :]
        return x, last[:, None, self.targets] if self.relative else 0.0

    def fit(self, x, y, x_val, y_val) -> "RidgeForecaster":
        (xt, lt), (xv, lv) = self._inputs(x), self._inputs(x_val)
        self.model, self.scores = fit_ridge(xt, np.asarray(y) - lt, xv, np.asarray(y_val) - lv)
        return self

    def predict(self, x) -> np.ndarray:
        xs, last = self._inputs(x)
        out = self.model.predict(xs.reshape(len(xs), -1)).reshape(len(xs), -1, len(self.targets))
        return out + last

    def num_params(self) -> int:
        return count_params(self.model)

    def nbytes(self) -> int:
        return size_bytes(self.model)
