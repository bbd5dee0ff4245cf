"""The LSTM/GRU forecaster family (code in ``fromzero.timeseries.model``), listed here so that
``load_model`` finds it."""
from ..timeseries.model import Forecaster, ForecasterConfig  # noqa: F401
