"""Forecast a time series with an LSTM/GRU: ``fromzero train forecast``.

The recipe: read the CSV (a built-in series or a file), split it in time order, z-score every
column with the training rows' mean and std, cut (lookback, horizon) windows, train a
``Forecaster`` through the one ``Trainer`` (MSE loss, early stopping on the validation loss),
then score the test windows against naive baselines computed on the same windows.

The run directory gets the weights (``model.safetensors``, ``model.json`` with ``"task":
"forecast"``), ``scaler.json``, ``metrics.json``, ``forecast.png`` and the training history.

Example:
    >>> metrics = train_forecast("runs/melbourne", ForecastConfig(data="melbourne"))  # doctest: +SKIP
    >>> metrics["test"]["model"]["rmse"] < metrics["test"]["repeat"]["rmse"]           # doctest: +SKIP
    True
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import continue_config, load_model, open_run, save_model

from ..config import make_config

from ..io import check_writable_dir, read_json, save_json
from ..device import seed_everything
from ..errors import ConfigError, DataError
from ..models.forecaster import Forecaster, ForecasterConfig
from ..timeseries import baselines as B
from ..timeseries.data import builtin, load_series
from ..timeseries.metrics import report
from ..timeseries.plot import plot_forecast
from ..timeseries.windows import Scaler, Split, make_windows, split_rows, time_features, window_starts
from ..train import EarlyStopping, KeepBest, Trainer
from .configs import FORECAST_RECIPES as RECIPES, ForecastConfig


def forecast_config(data: str = "ett", **overrides) -> ForecastConfig:
    """The recipe for ``data`` (built-in defaults) with ``overrides``; unknown keys list the valid ones."""
    b = builtin(data)
    return make_config(ForecastConfig, {**(RECIPES.get(b.name, {}) if b else {}), "data": data, **overrides},
                       source="ForecastConfig")


@dataclass
class Prepared:
    """Everything the model and the baselines see, cut from one series."""
    series: object
    in_cols: list           # input column names (targets among them)
    targets: list           # positions of the targets within in_cols
    split: Split
    scaler: Scaler          # fitted on the training rows of in_cols only
    z: np.ndarray           # (N, C) z-scored inputs
    cov: np.ndarray         # (N, K) calendar covariates (K may be 0)
    lookback: int
    horizon: int
    season: int

    def windows(self, part: str):
        """(x, y, starts) of a part: x (N, L, C + K), y (N, H, T) z-scored, starts the first target rows."""
        starts = window_starts(self.split.parts()[part], self.lookback, self.horizon)
        if len(starts) == 0:
            lo, hi = self.split.parts()[part]
            raise DataError(f"{self.series.source}: the {part} part (rows {lo}..{hi - 1}, {hi - lo} rows) "
                            f"is too short for one window of lookback {self.lookback} + horizon "
                            f"{self.horizon}; use a shorter --lookback/--horizon or a longer series")
        x, y = make_windows(np.concatenate([self.z, self.cov], axis=1), starts, self.lookback,
                            self.horizon, out_cols=self.targets)
        return x, y, starts


def _columns(text, what: str):
    """"all", or the column names of a comma-separated list."""
    if text in (None, "all"):
        return "all"
    names = [c.strip() for c in str(text).split(",") if c.strip()]
    if not names:
        raise ConfigError(f"{what}: expected column names separated by commas, or 'all', got {text!r}")
    return names


def _parse_split(text) -> tuple:
    if text is None:
        return (0.7, 0.1, 0.2)
    if isinstance(text, (tuple, list)):
        return tuple(text)
    try:
        return tuple(float(v) if any(ch in v for ch in ".e") else int(v) for v in str(text).split(","))
    except ValueError:
        raise ConfigError(f"split: expected three fractions or row counts such as 0.7,0.1,0.2 or "
                          f"8640,2880,2880, got {text!r}") from None


def prepare(cfg: ForecastConfig, scaler: Scaler | None = None, data=None) -> Prepared:
    """Read, split, scale (fitted on the training rows only) and describe the windows of ``cfg``."""
    b = builtin(cfg.data)
    series = load_series(data or cfg.data, cfg.time_col)
    in_names = _columns(cfg.inputs, "inputs")
    in_idx = series.index(in_names)
    in_cols = [series.columns[i] for i in in_idx]
    target = cfg.target or (b.target if b else "all")
    t_names = in_cols if target == "all" else _columns(target, "target")
    series.index(t_names)                                 # a DataError names a missing column
    outside = [t for t in t_names if t not in in_cols]
    if outside:
        raise ConfigError(f"target column(s) {', '.join(outside)} must also be inputs; inputs are "
                          f"{', '.join(in_cols)}")
    lookback = cfg.lookback or (b.lookback if b else 96)
    horizon = cfg.horizon or (b.horizon if b else 1)
    spec = b.split if (b and cfg.split is None) else _parse_split(cfg.split)
    split = split_rows(len(series), spec, series.source)
    values = series.values[:, in_idx]
    lo, hi = split.train
    scaler = scaler or Scaler().fit(values[lo:hi])
    cov = np.zeros((len(series), 0))
    if cfg.time_features:
        if series.times is None:
            raise ConfigError(f"time_features needs a time column; {series.source} has none "
                              "(pass --time-col NAME)")
        cov = time_features(series.times)
    season = cfg.season or (b.season if b else _guess_season(series.times))
    return Prepared(series, in_cols, [in_cols.index(t) for t in t_names], split, scaler,
                    scaler.transform(values), cov, lookback, horizon, season)


def _guess_season(times) -> int:
    """Rows per day for sub-daily data, 7 for daily data, else 1 (the seasonal naive is then 'repeat')."""
    if times is None or len(times) < 2:
        return 1
    step = np.median(np.diff(times).astype("timedelta64[s]").astype(np.float64))
    if step < 86400:
        return max(1, int(round(86400 / step)))
    return 7 if step == 86400 else 1


def build_forecaster(cfg: ForecastConfig, p: Prepared) -> Forecaster:
    return Forecaster(ForecasterConfig(
        n_series=len(p.in_cols), n_covariates=p.cov.shape[1], targets=p.targets, lookback=p.lookback,
        horizon=p.horizon, cell=cfg.cell, hidden=cfg.hidden, n_layer=cfg.n_layer, dropout=cfg.dropout,
        norm=cfg.norm, skip=cfg.skip, channel_independent=cfg.channel_independent))


def score(model, p: Prepared, part: str = "test", device="auto") -> dict:
    """Metrics of the model and of the baselines on one part's windows, plus the arrays to plot."""
    x, y, starts = p.windows(part)
    pred = Trainer(model, loss="mse", device=device, verbose=0).predict(torch.from_numpy(x)).numpy()
    zt = p.z[:, p.targets]
    cols = p.targets
    preds = {"model": pred.astype(np.float64), "repeat": B.repeat_last(zt, starts, p.horizon)}
    if p.season > 1 and starts.min() >= p.season:
        preds["seasonal_naive"] = B.seasonal_naive(zt, starts, p.horizon, p.season)
    times = p.series.times
    if times is not None and len(times) > 1 and np.min(np.diff(times)) >= np.timedelta64(1, "D"):
        preds["calendar_mean"] = B.calendar_mean(zt, times, p.split.train, starts, p.horizon)
    y_orig = p.scaler.inverse(y, cols)
    out = {name: report(y_orig, p.scaler.inverse(v, cols), y, v) for name, v in preds.items()}
    return {"metrics": out, "y": y, "preds": preds, "starts": starts}


# What ``--resume`` may change: more epochs, and where it runs; anything else is refused.
MAY_CHANGE = ("epochs", "device")


def train_forecast(out, cfg: ForecastConfig | None = None, verbose: int = 1, resume: bool = False,
                   overwrite: bool = False) -> dict:
    """Train a forecaster, save a run directory at ``out``, return the metrics (also in metrics.json).

    ``resume=True`` continues the run in ``out`` (its config, or ``cfg`` changing only
    ``MAY_CHANGE``); ``overwrite=True`` replaces an earlier run there."""
    with open_run(out, "train forecast", dataclasses.asdict(cfg or forecast_config()), resume, overwrite) as run:
        cfg = continue_config(run, cfg, ForecastConfig, MAY_CHANGE, "train forecast --resume")
        return _train(run.dir, cfg or forecast_config(), verbose, resume)


def _train(out, cfg: ForecastConfig, verbose: int, resume: bool) -> dict:
    seed_everything(cfg.seed)
    p = prepare(cfg)
    (xtr, ytr, _), (xva, yva, _) = p.windows("train"), p.windows("val")
    p.windows("test")                                         # fail before training if too short
    model = build_forecaster(cfg, p)
    out = check_writable_dir(out)
    trainer = Trainer(model, optimizer="adam", lr=cfg.lr, weight_decay=cfg.weight_decay, loss="mse",
                      metrics=["mae"], device=cfg.device, run_dir=out, verbose=verbose,
                      callbacks=[EarlyStopping("val_loss", patience=cfg.patience), KeepBest("val_loss")])
    trainer.fit((torch.from_numpy(xtr), torch.from_numpy(ytr)), epochs=cfg.epochs, batch_size=cfg.batch_size,
                validation_data=(torch.from_numpy(xva), torch.from_numpy(yva)), seed=cfg.seed, resume=resume)
    val, test = score(model, p, "val", cfg.device), score(model, p, "test", cfg.device)
    metrics = {"test": test["metrics"], "val": val["metrics"], "windows": {
        part: int(len(p.windows(part)[2])) for part in ("train", "val", "test")},
        "epochs": len(trainer.history.epochs), "params": sum(q.numel() for q in model.parameters())}
    save_model(out, model, extra={
        "task": "forecast", "data": cfg.data, "inputs": p.in_cols,
        "targets": [p.in_cols[t] for t in p.targets], "time_col": cfg.time_col,
        "time_features": cfg.time_features, "split": [list(v) for v in p.split.parts().values()],
        "season": p.season, "scaler": "scaler.json"})
    save_json(out / "scaler.json", {"columns": p.in_cols, **p.scaler.state_dict()})
    save_json(out / "train_config.json", dataclasses.asdict(cfg))
    save_json(out / "metrics.json", metrics)
    plot_run(out / "forecast.png", p, test)
    return metrics


def plot_run(path, p: Prepared, scored: dict, column: int | None = None, window: int | None = None):
    """Forecast vs actual on the test part: the whole part for one-step forecasts, else one window."""
    t = len(p.targets) - 1 if column is None else column
    col = p.targets[t]
    name = p.in_cols[col]
    inv = lambda a: a * p.scaler.std[col] + p.scaler.mean[col]  # noqa: E731
    y, preds, starts = scored["y"], scored["preds"], scored["starts"]
    times = p.series.times
    if p.horizon == 1:  # one-step forecasts over (the first 120 steps of) the test part
        n = min(len(starts), 120)
        return plot_forecast(path, inv(y[:n, 0, t]), inv(preds["model"][:n, 0, t]),
                             inv(preds["repeat"][:n, 0, t]),
                             times=None if times is None else times[starts[:n]].astype(object),
                             title=f"{name}: one-step-ahead forecasts, first {n} of {len(starts)} test steps",
                             ylabel=name)
    k = len(starts) // 2 if window is None else window
    s = int(starts[k])
    hist = inv(p.z[s - p.lookback:s, col])
    rows = np.arange(s - p.lookback, s + p.horizon)
    return plot_forecast(path, inv(y[k, :, t]), inv(preds["model"][k, :, t]), inv(preds["repeat"][k, :, t]),
                         history=hist, times=None if times is None else times[rows].astype(object),
                         title=f"{name}: {p.horizon}-step forecast from test window {k} of {len(starts)}",
                         ylabel=name)


# --- saved runs: ``fromzero evaluate RUN`` / ``fromzero predict RUN FILE.csv`` ----------------------

def _load(run_dir, data=None):
    run_dir = Path(run_dir)
    spec = read_json(run_dir / "model.json")
    cfg = make_config(ForecastConfig, read_json(run_dir / "train_config.json"), source="train_config.json")
    scaler = Scaler.from_state(read_json(run_dir / spec.get("scaler", "scaler.json")))
    return spec, cfg, scaler


def evaluate_run(run_dir, data_dir=None, device="auto") -> dict:
    """Test metrics of a saved forecast run (``data_dir``: another copy of its CSV file)."""
    spec, cfg, scaler = _load(run_dir)
    p = prepare(cfg, scaler, data=data_dir)
    model = load_model(run_dir)
    m = score(model, p, "test", device)["metrics"]
    out = dict(m["model"])
    out.update({f"repeat_{k}": v for k, v in m["repeat"].items() if k in ("mse_scaled", "rmse")})
    return out


def predict_run(run_dir, inputs, device="auto", top: int = 0) -> dict:
    """Forecast the ``horizon`` steps after the last row of the CSV file ``inputs`` (original units)."""
    spec, cfg, scaler = _load(run_dir)
    model = load_model(run_dir)
    c = model.config
    series = load_series(inputs, cfg.time_col, columns=spec["inputs"])
    if len(series) < c.lookback:
        raise DataError(f"{series.source}: {len(series)} rows, the model needs the last {c.lookback}")
    z = scaler.transform(series.values[-c.lookback:])
    cov = time_features(series.times)[-c.lookback:] if spec.get("time_features") else np.zeros((c.lookback, 0))
    x = torch.from_numpy(np.concatenate([z, cov], axis=1)).float()[None]
    with torch.no_grad():
        pred = scaler.inverse(model(x)[0].double().numpy(), c.targets)          # (H, T)
    names = spec["targets"]
    lines = ["step\t" + "\t".join(names)] + [f"t+{h + 1}\t" + "\t".join(f"{v:.4f}" for v in row)
                                              for h, row in enumerate(pred)]
    return {"columns": names, "forecast": pred.tolist(), "lines": lines}
