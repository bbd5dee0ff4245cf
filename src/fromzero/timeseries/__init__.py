"""Time-series forecasting (tutorial 1.2.4: RNNs for time-series prediction).

Read a CSV (``load_series``), split it in time order and scale it with the training rows only
(``split_rows``, ``Scaler``), cut (lookback, horizon) windows (``window_starts``,
``make_windows``), forecast with an LSTM/GRU (``fromzero.models.forecaster``), and compare
with naive baselines (``baselines``) using MAE, RMSE, MASE, sMAPE and, where it is defined,
MAPE (``metrics``); ``frequency`` names a time column's spacing and the season it suggests.
The whole recipe is ``fromzero.recipes.forecast.train_forecast`` (``fromzero train forecast``).
"""
from . import baselines, frequency, metrics
from .data import BUILTIN, TimeSeries, load_series, read_csv
from .windows import Scaler, Split, make_windows, split_rows, time_features, window_starts

__all__ = ["load_series", "read_csv", "TimeSeries", "BUILTIN", "Scaler", "Split", "split_rows",
           "window_starts", "make_windows", "time_features", "baselines", "frequency", "metrics"]
