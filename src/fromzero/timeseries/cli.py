"""``fromzero train forecast``: the arguments, and a call to ``recipes.forecast.train_forecast``."""
from __future__ import annotations

import argparse

from ..cli import add_common, positive_float, positive_int


def _bool(text: str) -> bool:
    low = text.lower()
    if low not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return low in ("true", "1", "yes")


def add_parser(targets) -> None:
    """Add the ``forecast`` target to ``fromzero train``."""
    from .data import BUILTIN

    f = targets.add_parser(
        "forecast", help="an LSTM/GRU forecaster on a time series (ett, melbourne or a CSV file)",
        description="Train an LSTM/GRU to forecast one or more columns of a time series and compare "
                    "it with naive baselines (repeat the last value, seasonal naive, calendar mean) "
                    "on the same test windows. Built-in series use their standard split and setup: "
                    + "; ".join(f"{b.name}: {b.about}" for b in BUILTIN.values()) + ".")
    f.add_argument("--data", default="ett", help="ett, melbourne, or the path of a CSV file (default: ett)")
    f.add_argument("--target", default=None,
                   help="column(s) to forecast, comma-separated, or 'all' (default: ett all, melbourne Temp)")
    f.add_argument("--inputs", default=None, help="input columns, comma-separated, or 'all' (default: all)")
    f.add_argument("--time-col", default=None, help="the time column (default: the first column if it holds dates)")
    f.add_argument("--lookback", type=positive_int, default=None, help="input steps (default: ett 96, melbourne 30)")
    f.add_argument("--horizon", type=positive_int, default=None, help="steps to forecast (default: ett 96, melbourne 1)")
    f.add_argument("--split", default=None,
                   help="train,validation,test as fractions (0.7,0.1,0.2) or row counts (8640,2880,2880); "
                        "default: the built-in series' standard split, else 0.7,0.1,0.2")
    f.add_argument("--season", type=positive_int, default=None, help="seasonal period in rows for the "
                   "seasonal-naive baseline (default: ett 24, melbourne 365, else guessed from the time column)")
    f.add_argument("--cell", choices=["lstm", "gru", "rnn", "none"], default=None,
                   help="recurrent cell, or none for the linear skip alone (a baseline) (default: lstm)")
    f.add_argument("--hidden", type=positive_int, default=None, help="hidden units (default: the recipe's)")
    f.add_argument("--layers", type=positive_int, default=None, dest="n_layer", help="stacked layers (default: 1)")
    f.add_argument("--dropout", type=float, default=None, help="dropout (default: 0)")
    f.add_argument("--norm", choices=["last", "mean", "none"], default=None,
                   help="per-window normalisation: subtract the last value, the mean (and divide by the std), "
                        "or nothing (default: the recipe's)")
    f.add_argument("--skip", type=_bool, default=None, help="a linear lookback-to-horizon skip (true/false)")
    f.add_argument("--channel-independent", type=_bool, default=None,
                   help="one shared network per column instead of one over all columns (true/false)")
    f.add_argument("--time-features", type=_bool, default=None,
                   help="day-of-year (and hour) sin/cos as extra inputs (true/false)")
    f.add_argument("--epochs", type=positive_int, default=None, help="maximum epochs (early stopping on validation)")
    f.add_argument("--batch-size", type=positive_int, default=None, help="windows per step")
    f.add_argument("--lr", type=positive_float, default=None, help="Adam's learning rate")
    f.add_argument("--patience", type=positive_int, default=None,
                   help="epochs without a better validation loss before stopping")
    f.add_argument("--out", default=None, help="run directory (default: runs/forecast-DATA)")
    add_common(f)
    f.set_defaults(func=run)


FIELDS = ("target", "inputs", "time_col", "lookback", "horizon", "split", "season", "cell", "hidden",
          "n_layer", "dropout", "norm", "skip", "channel_independent", "time_features", "epochs",
          "batch_size", "lr", "patience")


def run(args) -> int:
    from pathlib import Path

    from ..recipes.forecast import forecast_config, train_forecast

    over = {k: getattr(args, k) for k in FIELDS if getattr(args, k) is not None}
    cfg = forecast_config(args.data, seed=args.seed, device=args.device, **over)
    out = args.out or f"runs/forecast-{Path(args.data).stem}"
    metrics = train_forecast(out, cfg)
    print(format_table(metrics))
    print(f"run saved to {out} (forecast plot: {Path(out) / 'forecast.png'})")
    return 0


def format_table(metrics: dict) -> str:
    """The test metrics of the model and the baselines, one row each."""
    head = f"{'test':16s}{'MSE (z)':>10s}{'MAE (z)':>10s}{'MAE':>10s}{'RMSE':>10s}{'MAPE %':>10s}"
    rows = [head]
    for name, m in metrics["test"].items():
        rows.append(f"{name:16s}{m['mse_scaled']:10.4f}{m['mae_scaled']:10.4f}{m['mae']:10.4f}"
                    f"{m['rmse']:10.4f}{m['mape']:10.3g}")
    w = metrics["windows"]
    rows.append(f"({w['test']} test windows; z = z-scored with the training rows' mean and std; "
                f"MAE, RMSE, MAPE in the data's units)")
    return "\n".join(rows)
