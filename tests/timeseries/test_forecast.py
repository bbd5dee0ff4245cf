"""The forecaster trains through the Trainer, beats naive baselines, and its run works with the CLI."""
import json

import numpy as np
import pytest
import torch

from fromzero.cli import main
from fromzero.errors import ConfigError, ShapeError
from fromzero.recipes.runs import evaluate_run, predict_run
from fromzero.recipes.forecast import forecast_config, train_forecast
from fromzero.models.forecaster import Forecaster, ForecasterConfig

from .test_ts_windows import sine_csv


def test_untrained_forecaster_with_last_value_norm_is_the_repeat_baseline():
    model = Forecaster(ForecasterConfig(n_series=3, targets=[0, 2], lookback=10, horizon=4))
    x = torch.randn(5, 10, 3)
    y = model(x)
    assert y.shape == (5, 4, 2)
    torch.testing.assert_close(y, x[:, -1:, [0, 2]].expand(5, 4, 2))
    with pytest.raises(ShapeError, match=r"expected inputs \(batch, 10, 3\), got \(5, 9, 3\)"):
        model(x[:, 1:])


def test_cell_none_is_the_linear_skip_alone():
    model = Forecaster(ForecasterConfig(n_series=2, targets=[1], lookback=6, horizon=2, cell="none"))
    assert model.rnn is None and sum(p.numel() for p in model.parameters()) == 6 * 2 + 2
    with torch.no_grad():
        model.skip.weight.fill_(0.5)
    x = torch.randn(3, 6, 2)
    expected = x[:, -1:, 1] + 0.5 * (x[:, :, 1] - x[:, -1:, 1]).sum(1, keepdim=True)   # norm="last"
    torch.testing.assert_close(model(x)[..., 0], expected.expand(3, 2))
    with pytest.raises(ConfigError, match="cell='none' leaves only the linear skip: it needs skip=True"):
        ForecasterConfig(cell="none", skip=False)


@pytest.mark.parametrize("cell, ci", [("gru", True), ("rnn", False)])
def test_channel_independent_and_cells_have_the_right_shapes(cell, ci):
    cfg = ForecasterConfig(n_series=4, n_covariates=2, targets=[1], lookback=8, horizon=3, cell=cell,
                           channel_independent=ci, norm="mean")
    assert Forecaster(cfg)(torch.randn(2, 8, 6)).shape == (2, 3, 1)


def test_tiny_lstm_learns_a_sine_and_beats_the_baselines(tmp_path):
    """No linear skip: the LSTM itself has to learn the wave."""
    cfg = forecast_config(str(sine_csv(tmp_path)), target="a", inputs="a", lookback=24, horizon=6,
                          split="0.6,0.2,0.2", hidden=16, skip=False, epochs=12, lr=1e-2, patience=12,
                          batch_size=32, device="cpu")
    metrics = train_forecast(tmp_path / "run", cfg, verbose=0)
    test = metrics["test"]
    assert test["model"]["rmse"] < 0.7 * test["repeat"]["rmse"]
    assert test["model"]["rmse"] < test["seasonal_naive"]["rmse"] + 0.05   # season 24 (hourly data)
    run = tmp_path / "run"
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["test"]["model"]["rmse"] == pytest.approx(test["model"]["rmse"])
    assert (run / "forecast.png").stat().st_size > 1000
    spec = json.loads((run / "model.json").read_text())
    assert spec["task"] == "forecast" and spec["name"] == "forecaster"
    # evaluate a saved run: the same figures
    again = evaluate_run(run, device="cpu")
    assert again["rmse"] == pytest.approx(test["model"]["rmse"], rel=1e-5)
    # forecast after the last rows of a CSV file, in the data's units
    out = predict_run(run, tmp_path / "sine.csv", device="cpu")
    assert np.array(out["forecast"]).shape == (6, 1) and out["lines"][0] == "step\ta"


def test_cli_train_evaluate_predict(tmp_path, capsys):
    csv = sine_csv(tmp_path)
    run = tmp_path / "cli-run"
    assert main(["train", "forecast", "--data", str(csv), "--target", "a", "--lookback", "12",
                 "--horizon", "3", "--epochs", "1", "--hidden", "8", "--out", str(run),
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "repeat" in out and "model" in out and "RMSE" in out
    assert main(["evaluate", str(run), "--device", "cpu"]) == 0
    assert "test rmse:" in capsys.readouterr().out
    assert main(["predict", str(run), str(csv), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "step\ta"
    assert main(["train", "forecast", "--data", str(csv), "--target", "zzz", "--out", str(tmp_path / "bad")]) == 1
    assert "no column 'zzz'" in capsys.readouterr().err
