import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from fromzero import load_model
from fromzero.cli import main
from fromzero.datasets import load_mnist


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "mnist-cnn", "--epochs", "1", "--limit", "1500", "--batch-size", "32", "--lr", "0.003",
                 "--out", str(out), "--device", "cpu", "--seed", "1"]) == 0
    return out


def test_train_writes_a_complete_run_directory(run_dir, capsys):
    names = {p.name for p in run_dir.iterdir()}
    assert {"model.safetensors", "model.json", "history.csv", "history.png", "metrics.json",
            "train_config.json", "checkpoints"} <= names
    spec = json.loads((run_dir / "model.json").read_text())
    assert spec["task"] == "image-classification" and spec["name"] == "model"
    rows = list(csv.DictReader(open(run_dir / "history.csv")))
    assert len(rows) == 1 and {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert (run_dir / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    acc = json.loads((run_dir / "metrics.json").read_text())["test_accuracy"]
    assert acc > 0.8  # 1,500 images, one epoch


def test_evaluate_matches_saved_metrics(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    acc = json.loads((run_dir / "metrics.json").read_text())["test_accuracy"]
    assert f"test accuracy: {acc * 100:.2f}%" in out


def test_predict_on_png_images(run_dir, tmp_path, capsys):
    x, y = load_mnist("test")
    digit = np.kron(x[0], np.ones((2, 2), np.uint8))  # a 56x56 greyscale image of a 7
    Image.fromarray(digit).save(tmp_path / "seven.png")
    Image.fromarray(np.stack([255 - digit] * 3, -1)).save(tmp_path / "seven_rgb_paper.png")
    model = load_model(run_dir)
    with torch.no_grad():
        expected = model(torch.from_numpy(x[:1]).float()[None] / 255).argmax().item()
    for name in ("seven.png", "seven_rgb_paper.png"):
        assert main(["predict", str(run_dir), str(tmp_path / name), "--top", "2", "--device", "cpu"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        top = [l for l in lines if "%" in l]
        assert len(top) == 2 and top[0].split("\t")[0] == str(expected)
    assert expected == int(y[0])


def test_predict_rejects_non_images_and_tiny_images(run_dir, tmp_path, capsys):
    (tmp_path / "notes.png").write_text("not an image")
    assert main(["predict", str(run_dir), str(tmp_path / "notes.png")]) == 2
    assert "expected an image file" in capsys.readouterr().err
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    assert main(["predict", str(run_dir), str(tmp_path / "small.png")]) == 2
    assert "at least 28x28 pixels, got 10x10" in capsys.readouterr().err


def test_cli_options_out_of_range_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "mnist-cnn", "--epochs", "0"])
    assert e.value.code == 2 and "expected a positive integer, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "mnist-cnn", "--help"])
    out = capsys.readouterr().out
    for opt in ("--epochs", "--batch-size", "--lr", "--seed", "--data-dir", "--out", "--device"):
        assert opt in out
    assert main(["evaluate", "/nonexistent/run"]) == 2
    assert "not found" in capsys.readouterr().err
