import numpy as np
import pytest

from fromzero.errors import ConfigError, FromzeroError
from fromzero.scratch.train import accuracy, build_model, prepare, train_mnist


def test_mlp_learns_mnist_subset_well_above_chance():
    from fromzero.datasets import load_mnist

    x, y = load_mnist("test")
    before = accuracy(build_model("mlp", 64, seed=0), prepare(x[:1000], "mlp"), y[:1000])
    r = train_mnist("mlp", epochs=3, width=64, batch_size=64, lr=5e-3, train_limit=4000,
                    test_limit=1000, progress=False)
    assert before < 0.3  # an untrained net guesses
    assert r["test_accuracy"] > 0.85, r["history"]
    assert r["history"][2]["loss"] < r["history"][0]["loss"]
    assert len(r["history"]) == 3 and r["samples_per_s"] > 0


def test_cnn_trains_on_a_small_subset():
    r = train_mnist("cnn", epochs=2, width=4, batch_size=32, lr=5e-3, train_limit=2000,
                    test_limit=500, progress=False)
    assert r["test_accuracy"] > 0.75, r["history"]
    assert r["model"].forward(np.zeros((1, 1, 28, 28), np.float32)).shape == (1, 10)


def test_training_is_reproducible():
    a = train_mnist("mlp", epochs=1, width=16, train_limit=500, test_limit=200, progress=False)
    b = train_mnist("mlp", epochs=1, width=16, train_limit=500, test_limit=200, progress=False)
    assert a["history"] == b["history"]


def test_bad_settings_are_errors():
    with pytest.raises(FromzeroError, match="expected one of: cnn, mlp"):
        train_mnist("rnn")
    with pytest.raises(ConfigError, match="positive"):
        train_mnist("mlp", lr=-1.0, progress=False)


def test_cli_scratch_train(capsys):
    from fromzero.cli import main

    rc = main(["scratch", "train", "--model", "mlp", "--epochs", "1", "--width", "32",
               "--batch-size", "32", "--lr", "0.005", "--limit", "2000", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "scratch mlp" in out and "test accuracy" in out
    acc = float(out.split("test accuracy ")[1].split("%")[0])
    assert 70 < acc <= 100
