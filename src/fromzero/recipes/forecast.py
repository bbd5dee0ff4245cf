"""Forecast a time series with an LSTM/GRU: ``fromzero train forecast``.

The recipe: read the CSV (a built-in series or a file), split it in time order, z-score every
column with the training rows' mean and std, cut (lookback, horizon) windows, train a
``Forecaster`` through the one ``Trainer`` (MSE loss, early stopping on the validation loss),
then score the test windows against naive baselines computed on the same windows. Before training
it prints (stderr) what it will do: the file, columns, lookback, horizon, split and season, each
with how it was chosen (``header``); a CSV file's season comes from its time column's spacing.

The run directory gets the weights (``model.safetensors``, ``model.json`` with ``"task":
"forecast"``), ``scaler.json``, ``metrics.json``, ``forecast.png`` and the training history.

Example:
    >>> metrics = train_forecast("runs/melbourne", ForecastConfig(data="melbourne"))  # doctest: +SKIP
    >>> metrics["test"]["model"]["rmse"] < metrics["test"]["repeat"]["rmse"]           # doctest: +SKIP
    True
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import continue_config, load_model, open_run, save_model

from ..config import make_config

from ..io import check_writable_dir, data_ref, read_json, save_json
from ..device import seed_everything
from ..errors import ConfigError, DataError
from ..models.forecaster import Forecaster, ForecasterConfig
from ..timeseries import baselines as B
from ..timeseries.data import ALIASES, BUILTIN, builtin, load_series
from ..timeseries.frequency import format_times, guess_season, next_times
from ..timeseries.metrics import mape_undefined, naive_scale, report
from ..timeseries.plot import plot_forecast
from ..timeseries.windows import Scaler, Split, make_windows, split_rows, time_features, window_starts
from ..train.callbacks import tensorboard_if
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
    how: dict = field(default_factory=dict)   # how lookback, horizon, split and season were chosen

    def windows(self, part: str):
        """(x, y, starts) of a part: x (N, L, C + K), y (N, H, T) z-scored, starts the first target rows."""
        starts = window_starts(self.split.parts()[part], self.lookback, self.horizon)
        if len(starts) == 0:
            lo, hi = self.split.parts()[part]
            where = f"{self.series.source}: the {part} part (rows {lo}..{hi - 1}, {hi - lo} rows)"
            if self.lookback <= lo:   # its windows take their history from the rows before it
                raise DataError(f"{where} is shorter than the horizon {self.horizon} (its windows' lookback comes "
                                "from the rows before it); use a shorter --horizon or a longer series")
            raise DataError(f"{where} is too short for one window of lookback {self.lookback} + horizon "
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
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:   # a column counted twice would weigh twice in every averaged metric
        raise ConfigError(f"{what}: expected each column once, got {', '.join(twice)} more than once in {text!r}")
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
    target = cfg.target if cfg.target is not None else (b.target if b else "all")
    t_names = in_cols if target == "all" else _columns(target, "target")
    series.index(t_names)                                 # a DataError names a missing column
    outside = [t for t in t_names if t not in in_cols]
    if outside:
        raise ConfigError(f"target column(s) {', '.join(outside)} must also be inputs; inputs are "
                          f"{', '.join(in_cols)}")
    spec = b.split if (b and cfg.split is None) else _parse_split(cfg.split)
    split = split_rows(len(series), spec, series.source)
    lookback, horizon, how = _window_sizes(cfg, b, split)
    how["split"] = ",".join(f"{v:g}" for v in spec) + (" (--split)" if cfg.split is not None else
                                                        f" ({b.name}'s standard)" if b else " (default)")
    values = series.values[:, in_idx]
    lo, hi = split.train
    scaler = scaler or Scaler().fit(values[lo:hi])
    cov = np.zeros((len(series), 0))
    if cfg.time_features:
        if series.times is None:
            raise ConfigError(f"time_features needs a time column; {series.source} has none "
                              "(pass --time-col NAME)")
        cov = time_features(series.times)
    season, how["season"] = _season(cfg, b, series.times)
    how["data"] = f"{b.name} (built in)" if b and data is None else series.source
    return Prepared(series, in_cols, [in_cols.index(t) for t in t_names], split, scaler,
                    scaler.transform(values), cov, lookback, horizon, season, how)


# A CSV file's lookback: this many rows, or a quarter of the training rows if that is fewer, so
# that a short series still gives some three quarters of its training rows as windows.
LOOKBACK = 96


def _window_sizes(cfg: ForecastConfig, b, split: Split) -> tuple[int, int, dict]:
    """Lookback and horizon: given, the built-in series' standard, or a CSV file's defaults."""
    how = {}
    if cfg.lookback:
        lookback, how["lookback"] = cfg.lookback, "--lookback"
    elif b:
        lookback, how["lookback"] = b.lookback, f"{b.name}'s standard"
    else:
        rows = split.train[1] - split.train[0]
        lookback = max(1, min(LOOKBACK, rows // 4))
        how["lookback"] = (f"default {LOOKBACK}" if lookback == LOOKBACK else
                           f"default: {LOOKBACK}, cut to a quarter of the {rows} training rows")
    if cfg.horizon:
        horizon, how["horizon"] = cfg.horizon, "--horizon"
    elif b:
        horizon, how["horizon"] = b.horizon, f"{b.name}'s standard"
    else:
        horizon, how["horizon"] = 1, "default for a CSV file; --horizon N to forecast N steps"
    return lookback, horizon, how


def _season(cfg: ForecastConfig, b, times) -> tuple[int, str]:
    """The season in rows and how it was chosen: given, the built-in's, or from the time column."""
    if cfg.season:
        return cfg.season, "--season"
    if b:
        return b.season, f"{b.name}'s standard"
    return guess_season(times)


def _season_text(p: Prepared) -> str:
    how = p.how.get("season", "")
    return f"season {p.season}" + (f": {how}" if "--season N" in how else f" ({how})" if how else "")


def header(p: Prepared) -> str:
    """What the run will do, before it trains: data, columns, window sizes, split and season."""
    s = p.series
    span = "" if s.times is None else ", {} to {}".format(*format_times(s.times[[0, -1]]))
    time_col = f"time column {s.time_col}" if s.time_col else "no time column"
    lines = [f"data {p.how.get('data', s.source)}: {len(s)} rows{span}; {time_col}",
             f"target {', '.join(p.in_cols[t] for t in p.targets)}; inputs {', '.join(p.in_cols)}",
             f"lookback {p.lookback} ({p.how.get('lookback', '')}), horizon {p.horizon} "
             f"({p.how.get('horizon', '')})"]
    parts = []
    for part, (lo, hi) in p.split.parts().items():
        n = len(window_starts((lo, hi), p.lookback, p.horizon))
        parts.append(f"{part} rows {lo}-{hi - 1} ({hi - lo} rows, {n} windows)")
    lines.append(f"split {p.how.get('split', '')}: " + "; ".join(parts))
    lines.append(_season_text(p))
    return "\n".join(lines)


def build_forecaster(cfg: ForecastConfig, p: Prepared) -> Forecaster:
    return Forecaster(ForecasterConfig(
        n_series=len(p.in_cols), n_covariates=p.cov.shape[1], targets=p.targets, lookback=p.lookback,
        horizon=p.horizon, cell=cfg.cell, hidden=cfg.hidden, n_layer=cfg.n_layer, dropout=cfg.dropout,
        norm=cfg.norm, skip=cfg.skip, channel_independent=cfg.channel_independent))


def score(model, p: Prepared, part: str = "test", device="auto") -> dict:
    """Metrics of the model and of the baselines on one part's windows, plus the arrays to plot.

    ``skipped`` says why a baseline is missing; MASE divides by ``mase_season``-step naive error
    of the training rows (the season, or 1 if the training part is not longer than one season)."""
    x, y, starts = p.windows(part)
    pred = Trainer(model, loss="mse", device=device, verbose=0).predict(torch.from_numpy(x)).numpy()
    zt = p.z[:, p.targets]
    cols = p.targets
    preds = {"model": pred.astype(np.float64), "repeat": B.repeat_last(zt, starts, p.horizon)}
    skipped = {}
    if p.season == 1:
        skipped["seasonal_naive"] = f"season 1, where it is the repeat baseline ({p.how.get('season', '')})"
    elif starts.min() < p.season:
        skipped["seasonal_naive"] = (f"the first {part} window starts at row {int(starts.min())}, less than "
                                     f"one season ({p.season} rows) into the series")
    else:
        preds["seasonal_naive"] = B.seasonal_naive(zt, starts, p.horizon, p.season)
    times = p.series.times
    if times is None:
        skipped["calendar_mean"] = "no time column"
    elif len(times) > 1 and np.min(np.diff(times)) < np.timedelta64(1, "D"):
        skipped["calendar_mean"] = "only for daily or coarser data"
    else:
        preds["calendar_mean"] = B.calendar_mean(zt, times, p.split.train, starts, p.horizon)
    y_orig = p.scaler.inverse(y, cols)
    lo, hi = p.split.train
    m = p.season if p.season < hi - lo else 1
    scale = naive_scale(p.scaler.inverse(zt[lo:hi], cols), m)
    out = {name: report(y_orig, p.scaler.inverse(v, cols), y, v, scale) for name, v in preds.items()}
    return {"metrics": out, "y": y, "preds": preds, "starts": starts, "skipped": skipped,
            "mase_season": m, "mape": mape_undefined(y_orig)}


def metrics_table(m: dict) -> str:
    """The test metrics of the model and the baselines as a table, with notes on what is missing."""
    cols = [("MSE (z)", "mse_scaled", ".4f"), ("MAE (z)", "mae_scaled", ".4f"), ("MAE", "mae", ".4f"),
            ("RMSE", "rmse", ".4f"), ("MASE", "mase", ".3f"), ("sMAPE %", "smape", ".2f"),
            ("MAPE %", "mape", ".3g")]
    rows = [f"{'test':16s}" + "".join(f"{title:>10s}" for title, _, _ in cols)]
    for name, s in m["test"].items():
        rows.append(f"{name:16s}" + "".join(f"{'n/a' if s.get(k) is None else format(s[k], f):>10s}"
                                            for _, k, f in cols))
    setup = m.get("setup", {})
    season = setup.get("mase_season", 1)
    naive = f"seasonal-naive ({season} rows back)" if season > 1 else "naive (last value)"
    notes = [f"{m['windows']['test']} test windows; z = z-scored with the training rows' mean and std; "
             "MAE and RMSE in the data's units",
             f"MASE = MAE / the {naive} forecast's MAE on the training rows, below 1 beats it; sMAPE 0 to 200"]
    if setup.get("mape_undefined"):
        notes.append(f"MAPE: n/a ({setup['mape_undefined']}); MASE and sMAPE are defined")
    if any(s.get("mase") is None for s in m["test"].values()):
        notes.append(f"MASE: n/a (the {naive} forecast is exact on a target's training rows: its error, "
                     "MASE's denominator, is 0)")
    notes += [f"{name}: not computed: {why}" for name, why in setup.get("skipped", {}).items()]
    return "\n".join(rows + [f"({n})" for n in notes])


# What ``--resume`` may change: more epochs, and where it runs; anything else is refused.
MAY_CHANGE = ("epochs", "device", "tensorboard")


def train_forecast(out, cfg: ForecastConfig | None = None, verbose: int = 1, resume: bool = False,
                   overwrite: bool = False) -> dict:
    """Train a forecaster, save a run directory at ``out``, return the metrics (also in metrics.json).

    ``resume=True`` continues the run in ``out`` (its config, or ``cfg`` changing only
    ``MAY_CHANGE``); ``overwrite=True`` replaces an earlier run there."""
    if cfg is not None:         # a user's file: its absolute path, for evaluate from anywhere
        cfg = dataclasses.replace(cfg, data=data_ref(cfg.data, {*BUILTIN, *ALIASES}))
    with open_run(out, "train forecast", dataclasses.asdict(cfg or forecast_config()), resume, overwrite) as run:
        cfg = continue_config(run, cfg, ForecastConfig, MAY_CHANGE, "train forecast --resume")
        return _train(run.dir, cfg or forecast_config(), verbose, resume)


def _train(out, cfg: ForecastConfig, verbose: int, resume: bool) -> dict:
    seed_everything(cfg.seed)
    p = prepare(cfg)
    if verbose:
        print(header(p), file=sys.stderr)
    (xtr, ytr, _), (xva, yva, _) = p.windows("train"), p.windows("val")
    p.windows("test")                                         # fail before training if too short
    model = build_forecaster(cfg, p)
    out = check_writable_dir(out)
    trainer = Trainer(model, optimizer="adam", lr=cfg.lr, weight_decay=cfg.weight_decay, loss="mse",
                      metrics=["mae"], device=cfg.device, run_dir=out, verbose=verbose,
                      callbacks=[EarlyStopping("val_loss", patience=cfg.patience), KeepBest("val_loss"),
                                 *tensorboard_if(cfg.tensorboard, out)])
    trainer.fit((torch.from_numpy(xtr), torch.from_numpy(ytr)), epochs=cfg.epochs, batch_size=cfg.batch_size,
                validation_data=(torch.from_numpy(xva), torch.from_numpy(yva)), seed=cfg.seed, resume=resume)
    val, test = score(model, p, "val", cfg.device), score(model, p, "test", cfg.device)
    metrics = {"test": test["metrics"], "val": val["metrics"], "windows": {
        part: int(len(p.windows(part)[2])) for part in ("train", "val", "test")},
        "epochs": len(trainer.history.epochs), "params": sum(q.numel() for q in model.parameters()),
        "setup": setup(p, test)}
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


def setup(p: Prepared, scored: dict) -> dict:
    """What ``header`` printed, and what the test scores left out and why (for metrics.json)."""
    return {"data": p.series.source, "rows": len(p.series), "time_col": p.series.time_col,
            "target": [p.in_cols[t] for t in p.targets], "inputs": p.in_cols, "lookback": p.lookback,
            "horizon": p.horizon, "split": {k: list(v) for k, v in p.split.parts().items()},
            "season": p.season, "how": p.how, "mase_season": scored["mase_season"],
            "mape_undefined": scored["mape"], "skipped": scored["skipped"]}


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
    """Test metrics of a saved forecast run (``data_dir``: another copy of its CSV file).

    MAPE is the text ``"n/a (...)"`` where it is undefined (``metrics.mape_undefined``)."""
    spec, cfg, scaler = _load(run_dir)
    model = load_model(run_dir)
    c = model.config        # the run's own window sizes and season, whatever the file's length
    cfg = dataclasses.replace(cfg, lookback=c.lookback, horizon=c.horizon, season=spec.get("season", cfg.season))
    p = prepare(cfg, scaler, data=data_dir)
    scored = score(model, p, "test", device)
    m = scored["metrics"]
    out = {k: v for k, v in m["model"].items() if k in ("mse_scaled", "mae_scaled", "mae", "rmse", "mape")}
    if out["mape"] is None:
        out["mape"] = f"n/a ({scored['mape']})"
    out.update({f"repeat_{k}": v for k, v in m["repeat"].items() if k in ("mse_scaled", "rmse")})
    return out


def predict_many(run_dir, inputs: list, device="auto", top: int = 0) -> list[dict]:
    """``predict_run`` on each CSV file of ``inputs`` with one model load, in order; a file that
    cannot be read gives ``{"input": path, "error": message}`` instead of its forecast."""
    model = load_model(run_dir)
    results = []
    for path in inputs:
        try:
            results.append({"input": str(path), **predict_run(run_dir, path, device, top, model=model)})
        except DataError as e:
            results.append({"input": str(path), "error": str(e)})
    return results


def input_window(run_dir, path, model) -> tuple[torch.Tensor, object]:
    """The model's input (1, lookback, features) from the last rows of the CSV file ``path``, scaled
    as in training (time features after the columns, with ``--time-features``), and the series."""
    spec, cfg, scaler = _load(run_dir)
    c = model.config
    series = load_series(path, cfg.time_col, columns=spec["inputs"])
    if len(series) < c.lookback:
        raise DataError(f"{series.source}: {len(series)} rows, the model needs the last {c.lookback}")
    if spec.get("time_features") and series.times is None:
        raise DataError(f"{series.source}: no time column; the model was trained with --time-features and "
                        "needs the rows' dates (a first column of dates, or --time-col in training)")
    z = scaler.transform(series.values[-c.lookback:])
    cov = time_features(series.times)[-c.lookback:] if spec.get("time_features") else np.zeros((c.lookback, 0))
    return torch.from_numpy(np.concatenate([z, cov], axis=1)).float()[None], series


def predict_run(run_dir, inputs, device="auto", top: int = 0, model=None) -> dict:
    """Forecast the ``horizon`` steps after the last row of the CSV file ``inputs`` (original units).

    Returns ``{"columns": target names, "forecast": (horizon, targets) values, "times": the
    forecast steps' timestamps (ISO text) or None without a time column, "lines": a tab-separated
    table}``; nothing is printed. ``model``: the run's model, already loaded (``predict_many``)."""
    spec, cfg, scaler = _load(run_dir)
    model = model or load_model(run_dir)
    c = model.config
    x, series = input_window(run_dir, inputs, model)
    with torch.no_grad():
        pred = scaler.inverse(model(x)[0].double().numpy(), c.targets)          # (H, T)
    names = spec["targets"]
    times = None
    if series.times is not None and len(series.times) > 1:
        times = format_times(next_times(series.times, c.horizon))
    lines = ["step\t" + "\t".join(names)] + [f"t+{h + 1}\t" + "\t".join(f"{v:.4f}" for v in row)
                                              for h, row in enumerate(pred)]
    return {"columns": names, "forecast": pred.tolist(), "times": times, "lines": lines}
