"""A forecast run says what it did: the setup header, the season from the timestamps, metrics that
survive zero crossings (MASE, sMAPE; MAPE only where defined), and why a baseline is missing."""
import json

import numpy as np
import pytest

from fromzero.cli import main
from fromzero.recipes.forecast import build_forecaster, forecast_config, header, metrics_table, prepare, score
from fromzero.recipes.runs import evaluate_run, predict_run
from fromzero.timeseries import metrics
from fromzero.timeseries.frequency import next_times, spacing


def series_csv(tmp_path, times, values, name="s.csv", quoted=False, crlf=False, bom=False, header="time,a"):
    """A CSV file of one or more value columns, written the way downloaded files often are."""
    q = '"' if quoted else ""
    end = "\r\n" if crlf else "\n"
    values = np.asarray(values, dtype=float).reshape(len(values), -1)
    head = header if times is not None else header.split(",", 1)[1]
    rows = [(f"{q}{t}{q}," if times is not None else "") + ",".join(f"{v:.4f}" for v in vs)
            for t, vs in zip(times if times is not None else values, values)]
    p = tmp_path / name
    p.write_text(("\ufeff" if bom else "") + end.join([head, *rows]) + end, encoding="utf-8", newline="")
    return p


def stamps(start: str, n: int, unit: str, every: int = 1) -> list:
    return [str(t).replace("T", " ") for t in np.datetime64(start, unit) + every * np.arange(n)]


@pytest.mark.parametrize("unit, every, season, name", [
    ("h", 1, 24, "hourly"), ("m", 15, 96, "every 15 min"), ("D", 1, 7, "daily"), ("W", 1, 52, "weekly"),
    ("M", 1, 12, "monthly"), ("M", 3, 4, "quarterly"), ("Y", 1, 1, "yearly")])
def test_season_is_guessed_from_the_time_columns_spacing(tmp_path, unit, every, season, name):
    n = 60
    times = stamps("2001-01-01", n, unit, every)                   # a yearly column is 2001, 2002, ...
    p = prepare(forecast_config(str(series_csv(tmp_path, times, np.sin(np.arange(n)), header="Year,a")),
                                lookback=4))
    assert p.season == season
    assert f"season {season} ({name} timestamps)" in header(p)


def test_season_without_or_with_irregular_timestamps_is_1_and_says_how_to_set_it(tmp_path):
    p = prepare(forecast_config(str(series_csv(tmp_path, None, np.arange(50.0))), lookback=4))
    assert p.season == 1 and "season 1: no timestamp column; --season N to set" in header(p)
    odd = stamps("2001-01-01", 50, "h", every=50)          # every 2 days 2 h: no calendar period
    p = prepare(forecast_config(str(series_csv(tmp_path, odd, np.arange(50.0))), lookback=4))
    assert p.season == 1 and "timestamps every 2 days 2 h fit no calendar period; --season N" in header(p)
    assert prepare(forecast_config(str(series_csv(tmp_path, odd, np.arange(50.0))), lookback=4,
                                   season=5)).season == 5


def test_monthly_csv_with_bom_crlf_and_quoted_dates_loads_with_season_12(tmp_path):
    months = [str(m) for m in np.arange("1949-01", "1961-01", dtype="datetime64[M]")]     # "1949-01", ...
    path = series_csv(tmp_path, months, 100 + np.arange(144.0), quoted=True, crlf=True, bom=True,
                      header='"Month","Passengers"')
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf" and b'"1949-01",100.0000\r\n' in path.read_bytes()
    p = prepare(forecast_config(str(path)))
    assert p.series.columns == ["Passengers"] and p.series.time_col == "Month"
    assert p.season == 12
    assert p.lookback == 25          # default 96, cut to a quarter of the 101 training rows
    assert p.horizon == 1


def test_hourly_multivariate_csv_gets_season_24_and_the_header_shows_the_setup(tmp_path):
    n = 200
    path = series_csv(tmp_path, stamps("2020-03-01", n, "h"), np.random.default_rng(0).normal(size=(n, 3)),
                      header="time,temp,hum,load")
    p = prepare(forecast_config(str(path), target="load", lookback=24, horizon=6))
    text = header(p)
    assert p.season == 24
    assert f"data {path}: 200 rows, 2020-03-01 00:00 to 2020-03-09 07:00; time column time" in text
    assert "target load; inputs temp, hum, load" in text
    assert "lookback 24 (--lookback), horizon 6 (--horizon)" in text
    assert ("split 0.7,0.1,0.2 (default): train rows 0-139 (140 rows, 111 windows); val rows 140-159 "
            "(20 rows, 15 windows); test rows 160-199 (40 rows, 35 windows)") in text
    assert "season 24 (hourly timestamps)" in text


def test_a_csv_files_defaults_are_said_in_the_header(tmp_path):
    n = 1000
    p = prepare(forecast_config(str(series_csv(tmp_path, stamps("2020-01-01", n, "D"), np.arange(n)))))
    text = header(p)
    assert "lookback 96 (default 96), horizon 1 (default for a CSV file; --horizon N" in text
    assert "season 7 (daily timestamps)" in text


def test_mase_and_smape_against_a_hand_computation():
    train = np.array([[1.0], [3.0], [2.0], [6.0]])          # naive-1 errors 2, 1, 4: scale 7/3
    y = np.array([[4.0], [-2.0]])
    pred = np.array([[3.0], [2.0]])                          # errors 1, 4: MAE 2.5
    scale = metrics.naive_scale(train)
    assert scale.tolist() == pytest.approx([7 / 3])
    assert metrics.mase(y, pred, scale) == pytest.approx(2.5 / (7 / 3))
    # sMAPE: 200 * (1 / 7 + 4 / 4) / 2
    assert metrics.smape(y, pred) == pytest.approx(100 * (1 / 7 + 1))
    assert metrics.naive_scale(train, season=2).tolist() == pytest.approx([(1 + 3) / 2])
    # several columns: each column's MASE, then their mean
    y2, p2 = np.array([[1.0, 10.0], [2.0, 20.0]]), np.array([[2.0, 10.0], [2.0, 30.0]])
    assert metrics.mase(y2, p2, [1.0, 10.0]) == pytest.approx((0.5 + 0.5) / 2)
    assert metrics.mase(y2, p2, [1.0, 0.0]) is None          # a constant training column: undefined


def test_mape_is_reported_only_where_defined():
    y = np.array([[[5.0], [-0.001]]])                        # crosses zero: MAPE would be ~1e5 %
    r = metrics.report(y, y + 1.0)
    assert r["mape"] is None and metrics.mape_undefined(y) == "series crosses zero"
    assert r["smape"] < 200 and np.isfinite(r["smape"])
    assert metrics.mape_undefined(np.array([0.0, 3.0])) == "series has zeros"
    positive = np.array([[2.0], [4.0]])
    assert metrics.mape_undefined(positive) is None
    assert metrics.report(positive, positive * 1.5)["mape"] == pytest.approx(50.0)


def test_a_missing_baseline_is_named_with_the_reason(tmp_path):
    cfg = forecast_config(str(series_csv(tmp_path, None, np.sin(np.arange(80.0)))), lookback=6, horizon=2,
                          hidden=4, device="cpu")
    p = prepare(cfg)
    s = score(build_forecaster(cfg, p), p, "test", "cpu")
    assert set(s["metrics"]) == {"model", "repeat"} and s["mase_season"] == 1
    assert s["skipped"]["seasonal_naive"] == ("season 1, where it is the repeat baseline (no timestamp column; "
                                              "--season N to set)")
    assert s["skipped"]["calendar_mean"] == "no time column"
    m = {"test": s["metrics"], "windows": {"test": len(s["starts"])},
         "setup": {"mase_season": 1, "skipped": s["skipped"], "mape_undefined": s["mape"]}}
    table = metrics_table(m)
    assert "(seasonal_naive: not computed: season 1, where it is the repeat baseline (no timestamp" in table
    assert "MASE" in table.splitlines()[0] and "sMAPE %" in table.splitlines()[0]


def test_cli_run_on_a_zero_crossing_series_prints_its_setup_and_no_exploding_mape(tmp_path, capsys):
    n = 120
    t = np.arange(n)
    values = np.stack([np.sin(2 * np.pi * t / 24), 0.5 * np.cos(2 * np.pi * t / 24) + 0.01], axis=1)
    csv = series_csv(tmp_path, stamps("2021-06-01", n, "h"), values, header="time,x,y")
    run = tmp_path / "run"
    assert main(["train", "forecast", "--data", str(csv), "--lookback", "12", "--horizon", "2", "--epochs", "1",
                 "--hidden", "4", "--out", str(run), "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert "lookback 12 (--lookback), horizon 2 (--horizon)" in err and "season 24 (hourly timestamps)" in err
    assert "split 0.7,0.1,0.2 (default): train rows 0-83" in err
    lines = out.splitlines()
    assert lines[0].split() == ["test", "MSE", "(z)", "MAE", "(z)", "MAE", "RMSE", "MASE", "sMAPE", "%", "MAPE", "%"]
    model_row = next(line for line in lines if line.startswith("model"))
    assert model_row.split()[-1] == "n/a"
    assert "MAPE: n/a (series crosses zero)" in out and "e+" not in out
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["test"]["model"]["mape"] is None
    assert {"mase", "smape"} <= set(saved["test"]["model"]) and saved["setup"]["season"] == 24
    assert saved["setup"]["lookback"] == 12 and saved["setup"]["horizon"] == 2
    assert evaluate_run(run, device="cpu")["mape"] == "n/a (series crosses zero)"
    assert main(["evaluate", str(run), "--device", "cpu"]) == 0
    assert "test mape: n/a (series crosses zero)" in capsys.readouterr().out
    # predict: the forecast steps' timestamps follow the file's last row, one hour apart
    pred = predict_run(run, csv, device="cpu")
    assert pred["times"] == ["2021-06-06 00:00", "2021-06-06 01:00"]
    assert np.array(pred["forecast"]).shape == (2, 2) and pred["columns"] == ["x", "y"]


def test_next_times_follow_the_calendar():
    months = np.arange("2000-01", "2001-01", dtype="datetime64[M]").astype("datetime64[s]")
    assert [str(t)[:10] for t in next_times(months, 2)] == ["2001-01-01", "2001-02-01"]
    ends = (np.arange("2000-02", "2001-02", dtype="datetime64[M]").astype("datetime64[D]") - 1)
    assert spacing(ends.astype("datetime64[s]")) == ("monthly", 12)
    assert [str(t)[:10] for t in next_times(ends.astype("datetime64[s]"), 2)] == ["2001-01-31", "2001-02-28"]
