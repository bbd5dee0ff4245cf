"""``train mnist-cnn --init-from RUN``: start from another run's CNN (public pre-training before a
private run), and the runs it refuses."""
import json

import pytest

from fromzero.checkpoint import load_model, save_model
from fromzero.errors import CheckpointError, ConfigError
from fromzero.models.cnn import build_model
from fromzero.recipes.configs import MnistConfig
from fromzero.recipes.mnist import train_mnist

TINY = dict(epochs=1, limit=128, batch_size=64, device="cpu")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    out = tmp_path_factory.mktemp("init-from") / "public"
    train_mnist(out, MnistConfig(**TINY, lr=1e-2), verbose=0)
    return out


def _distance(a, b) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    return max((sa[k] - sb[k]).abs().max().item() for k in sa)


def test_a_run_starts_from_the_weights_of_init_from(source, tmp_path):
    # a learning rate so small that the weights stay where they started
    started = train_mnist(tmp_path / "from", MnistConfig(**TINY, lr=1e-9, init_from=str(source)), verbose=0)
    fresh = train_mnist(tmp_path / "fresh", MnistConfig(**TINY, lr=1e-9), verbose=0)
    src = load_model(source)
    assert _distance(load_model(tmp_path / "from"), src) < 1e-6
    assert _distance(load_model(tmp_path / "fresh"), src) > 1e-3     # the control: random weights
    assert started["accuracy"] == pytest.approx(json.loads((source / "metrics.json").read_text())["test_accuracy"],
                                                abs=0.02)
    saved = (tmp_path / "from" / "train_config.json").read_text()
    assert str(source.resolve()) in saved                           # recorded as an absolute path


def test_init_from_takes_only_the_tutorials_cnn(source, tmp_path):
    with pytest.raises(CheckpointError, match="run directory not found"):
        train_mnist(tmp_path / "a", MnistConfig(**TINY, init_from=str(tmp_path / "nothing")), verbose=0)
    assert not (tmp_path / "a").exists()             # refused before the run folder is made
    other = build_model(num_classes=4)                # the same layers, another output layer
    save_model(tmp_path / "mlp", other, extra={"task": "image-classification"})
    with pytest.raises(ConfigError, match=r"expected the tutorial's CNN .* got another model: .* is \(4, 128\) there, \(10, 128\) here"):
        train_mnist(tmp_path / "b", MnistConfig(**TINY, init_from=str(tmp_path / "mlp")), verbose=0)
