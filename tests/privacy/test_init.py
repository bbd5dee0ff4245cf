"""``train mnist-cnn --init RUN``: start from another run's CNN (public pre-training before a
private run), and the runs it refuses without touching what was saved before."""
import json
import os

import pytest

from fromzero.checkpoint import load_model, save_model
from fromzero.errors import CheckpointError, ConfigError
from fromzero.models.cnn import build_model
from fromzero.recipes.configs import MnistConfig
from fromzero.recipes.mnist import train_mnist

TINY = dict(epochs=1, limit=128, batch_size=64, device="cpu")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    out = tmp_path_factory.mktemp("init") / "public"
    train_mnist(out, MnistConfig(**TINY, lr=1e-2), verbose=0)
    return out


def _distance(a, b) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    return max((sa[k] - sb[k]).abs().max().item() for k in sa)


def test_a_run_starts_from_the_weights_of_init(source, tmp_path, capsys):
    # a learning rate so small that the weights stay where they started
    started = train_mnist(tmp_path / "from", MnistConfig(**TINY, lr=1e-9, init=str(source)), verbose=1)
    assert f"fromzero: starting from the weights of {source.resolve()}" in capsys.readouterr().err
    train_mnist(tmp_path / "fresh", MnistConfig(**TINY, lr=1e-9), verbose=0)
    src = load_model(source)
    assert _distance(load_model(tmp_path / "from"), src) < 1e-6
    assert _distance(load_model(tmp_path / "fresh"), src) > 1e-3     # the control: random weights
    assert started["accuracy"] == pytest.approx(json.loads((source / "metrics.json").read_text())["test_accuracy"],
                                                abs=0.02)
    saved = json.loads((tmp_path / "from" / "train_config.json").read_text())
    assert saved["init"] == str(source.resolve())                    # recorded as an absolute path


def test_a_resumed_run_takes_init_spelled_another_way(source, tmp_path, monkeypatch):
    train_mnist(tmp_path / "r", MnistConfig(**TINY, init=str(source)), verbose=0)
    monkeypatch.chdir(source.parent)
    m = train_mnist(tmp_path / "r", MnistConfig(**{**TINY, "epochs": 2}, init=f"./{source.name}/"), verbose=0,
                    resume=True)
    assert m["accuracy"] > 0


def test_init_takes_only_the_tutorials_cnn_and_says_so_before_touching_out(source, tmp_path):
    keep = tmp_path / "keep"
    train_mnist(keep, MnistConfig(**TINY), verbose=0)                 # a run the user wants to keep
    before = sorted(os.listdir(keep))

    def refused(error, match, init, out=keep):
        with pytest.raises(error, match=match):
            train_mnist(out, MnistConfig(**TINY, init=init), verbose=0, overwrite=True)
        assert sorted(os.listdir(keep)) == before                     # nothing deleted

    refused(CheckpointError, r"^--init .*nothing: run directory not found", str(tmp_path / "nothing"))
    refused(ConfigError, "--init: expected a run directory of the tutorial's CNN, got an empty string", "")
    other = build_model(num_classes=4)                                # the same layers, another output layer
    save_model(tmp_path / "four", other, extra={"task": "image-classification"})
    refused(ConfigError, r"expected the tutorial's CNN .* got another model: .* is \(4, 128\) there, "
                         r"\(10, 128\) here", str(tmp_path / "four"))
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in source.iterdir():
        if f.is_file():
            (broken / f.name).write_bytes(f.read_bytes())
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])                  # truncated
    refused(CheckpointError, "^--init .*model.safetensors", str(broken))
    refused(ConfigError, "is the --out folder: the new run would replace the weights it starts from", str(keep))
    (broken / "model.json").write_text("[1, 2]")
    refused(CheckpointError, r"model.json: expected a JSON object .* got list", str(broken))
