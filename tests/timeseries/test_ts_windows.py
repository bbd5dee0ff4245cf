"""Splits, scaling and windows: nothing from validation or test reaches training or the scaler."""
import numpy as np
import pytest

from fromzero.errors import ConfigError, DataError
from fromzero.recipes.forecast import forecast_config, prepare
from fromzero.timeseries import baselines as B
from fromzero.timeseries import make_windows, metrics, split_rows, window_starts


def sine_csv(tmp_path, n=400, name="sine.csv"):
    t = np.arange(n)
    rng = np.random.default_rng(0)
    a = np.sin(2 * np.pi * t / 24) + 0.1 * rng.standard_normal(n) + t / n * 3  # a trend: later rows differ
    b = np.cos(2 * np.pi * t / 24) + 5
    days = np.datetime64("2020-01-01T00") + t.astype("timedelta64[h]")
    lines = ["time,a,b"] + [f"{d},{x:.6f},{y:.6f}" for d, x, y in zip(days.astype(str), a, b)]
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def test_scaler_sees_only_the_training_rows(tmp_path):
    p = prepare(forecast_config(str(sine_csv(tmp_path)), target="a", lookback=24, horizon=6,
                                split="0.6,0.2,0.2"))
    lo, hi = p.split.train
    assert (lo, hi) == (0, 240)
    raw = p.series.values
    np.testing.assert_allclose(p.scaler.mean, raw[:240].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(p.scaler.std, raw[:240].std(axis=0), rtol=1e-12)
    assert not np.allclose(p.scaler.mean, raw.mean(axis=0))  # the whole series would differ (trend)


def test_no_training_target_reaches_validation_and_test_targets_stay_in_test(tmp_path):
    p = prepare(forecast_config(str(sine_csv(tmp_path)), target="a", lookback=24, horizon=6,
                                split="0.6,0.2,0.2"))
    for part in ("train", "val", "test"):
        lo, hi = p.split.parts()[part]
        x, y, starts = p.windows(part)
        assert starts.min() >= lo and starts.max() + p.horizon <= hi      # every target row inside
        assert (starts - p.lookback).min() >= 0
        # the windows hold exactly those rows
        np.testing.assert_array_equal(y[:, :, 0], p.z[starts[:, None] + np.arange(6), 0].astype(np.float32))
        np.testing.assert_array_equal(x[:, -1, :], p.z[starts - 1].astype(np.float32))
    _, _, train_starts = p.windows("train")
    assert train_starts.max() + p.horizon == p.split.val[0]               # the last one ends at the edge
    _, _, test_starts = p.windows("test")
    assert test_starts.min() == p.split.test[0]                          # inputs start lookback earlier


def test_standard_ett_split_and_repeat_baseline_reproduce_the_published_numbers():
    p = prepare(forecast_config("ett"))
    assert p.split.parts() == {"train": (0, 8640), "val": (8640, 11520), "test": (11520, 14400)}
    x, y, starts = p.windows("test")
    assert x.shape == (2785, 96, 7) and y.shape == (2785, 96, 7)
    rep = B.repeat_last(p.z, starts, 96)
    assert metrics.mse(y, rep) == pytest.approx(1.294, abs=1e-3)          # published: 1.295
    assert metrics.mae(y, rep) == pytest.approx(0.713, abs=1e-3)


def test_split_rows_and_window_helpers():
    assert split_rows(10, (6, 2, 2)).parts() == {"train": (0, 6), "val": (6, 8), "test": (8, 10)}
    assert split_rows(10, (0.5, 0.2, 0.3)).test == (7, 10)
    with pytest.raises(DataError, match="the split needs 12 rows"):
        split_rows(10, (8, 2, 2))
    with pytest.raises(ConfigError, match="fractions must sum to at most 1"):
        split_rows(10, (0.8, 0.2, 0.2))
    starts = window_starts((0, 20), 5, 3)
    assert starts[0] == 5 and starts[-1] == 17
    x, y = make_windows(np.arange(20.0)[:, None], starts, 5, 3)
    assert x[0, :, 0].tolist() == [0, 1, 2, 3, 4] and y[-1, :, 0].tolist() == [17, 18, 19]


def test_too_few_rows_for_the_window_names_the_file_and_the_part(tmp_path):
    p = prepare(forecast_config(str(sine_csv(tmp_path, n=120)), target="a", lookback=48, horizon=24,
                                split="0.7,0.1,0.2"))
    # the val part's windows take their 48 rows of history from the train part: only the horizon is too long
    with pytest.raises(DataError, match=r"sine\.csv: the val part \(rows 84\.\.95, 12 rows\) is shorter than "
                                        r"the horizon 24 .* use a shorter --horizon or a longer series"):
        p.windows("val")
    p = prepare(forecast_config(str(sine_csv(tmp_path, n=120)), target="a", lookback=90, horizon=2,
                                split="0.7,0.1,0.2"))
    with pytest.raises(DataError, match=r"sine\.csv: the train part \(rows 0\.\.83, 84 rows\) is too short "
                                        r"for one window of lookback 90 \+ horizon 2; use a shorter --lookback"):
        p.windows("train")


def test_target_must_be_a_column(tmp_path):
    with pytest.raises(DataError, match=r"no column 'c'; its numeric columns are: a, b"):
        prepare(forecast_config(str(sine_csv(tmp_path)), target="c"))


@pytest.mark.parametrize("target, message", [("a,a", "expected each column once, got a more than once"),
                                             ("", "expected column names separated by commas")])
def test_target_twice_or_empty_is_refused(tmp_path, target, message):
    with pytest.raises(ConfigError, match=message):   # not averaged twice, not silently every column
        prepare(forecast_config(str(sine_csv(tmp_path)), target=target))


def test_baselines():
    v = np.arange(30.0)[:, None]
    starts = np.array([10, 20])
    assert B.repeat_last(v, starts, 3)[:, :, 0].tolist() == [[9, 9, 9], [19, 19, 19]]
    assert B.seasonal_naive(v, starts, 3, season=2)[0, :, 0].tolist() == [8, 9, 8]
    times = np.datetime64("2001-01-01") + np.arange(30).astype("timedelta64[D]")
    times = np.concatenate([times[:15], times[:15] + np.timedelta64(365, "D")])  # same days, next year
    cm = B.calendar_mean(v, times, (0, 15), np.array([15]), 2)
    assert cm[0, :, 0].tolist() == [0, 1]       # the training value of the same calendar day
