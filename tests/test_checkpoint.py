import json

import pytest
import torch
from torch import nn

from fromzero import Sequential, load_model, save_model
from fromzero import layers as L
from fromzero.checkpoint import CheckpointError, list_checkpoints, load_weights, save_checkpoint, save_weights
from fromzero.registry import register_model
from fromzero.models.cnn import build_model
from fromzero.train import Trainer


def test_saved_run_loads_back_to_identical_predictions(tmp_path):
    model = build_model()
    x = torch.rand(16, 1, 28, 28)
    save_model(tmp_path, model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]
    loaded = load_model(tmp_path)
    assert torch.equal(loaded(x), model.eval()(x))
    assert json.loads((tmp_path / "model.json").read_text())["name"] == "model"


def test_sequential_round_trip(tmp_path):
    model = Sequential([L.Input((10,)), L.Dense(8, activation="tanh"), L.Dropout(0.1), L.Dense(2)])
    save_model(tmp_path, model)
    loaded = load_model(tmp_path)
    x = torch.randn(4, 10)
    assert type(loaded) is Sequential and torch.equal(loaded(x), model.eval()(x))


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 4)
        self.head = nn.Linear(4, 7, bias=False)
        self.head.weight = self.emb.weight


def test_tied_weights_survive_round_trip(tmp_path):
    a, b = Tied(), Tied()
    b.head.weight = nn.Parameter(torch.zeros(7, 4))  # untie b, then load
    b.emb.weight = b.head.weight
    save_weights(tmp_path / "w.safetensors", a)
    load_weights(tmp_path / "w.safetensors", b)
    assert torch.equal(b.head.weight, a.emb.weight)
    assert b.head.weight is b.emb.weight


def test_corrupt_truncated_and_missing_files(tmp_path):
    model = build_model()
    save_model(tmp_path, model)
    w = tmp_path / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="model.safetensors: not a valid safetensors file"):
        load_model(tmp_path)
    w.write_bytes(b"garbage" * 10)
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_model(tmp_path)
    w.unlink()
    with pytest.raises(CheckpointError, match="weights file not found"):
        load_model(tmp_path)
    with pytest.raises(CheckpointError, match="run directory not found"):
        load_model(tmp_path / "nope")
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="expected a JSON file"):
        load_model(tmp_path)


def test_shape_mismatch_names_tensor_and_both_shapes(tmp_path):
    save_weights(tmp_path / "w.safetensors", nn.Linear(4, 3))
    with pytest.raises(CheckpointError, match=r"tensor 'weight' has shape \(3, 4\) in the file, "
                                              r"but the model expects \(5, 4\)"):
        load_weights(tmp_path / "w.safetensors", nn.Linear(4, 5))


def test_unregistered_model_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="Linear is not a registered model"):
        save_model(tmp_path, nn.Linear(2, 2))


def test_checkpoints_keep_last_k_and_ignore_incomplete(tmp_path):
    m = nn.Linear(2, 2)
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, m, {"step": step}, keep=2)
    (tmp_path / "checkpoints" / ".tmp-crashed").mkdir()
    (tmp_path / "checkpoints" / "step-00000009").mkdir()  # no files: incomplete
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000002", "step-00000003"]


def test_resume_continues_the_same_loss_curve(tmp_path, mnist_small):
    x, y, _, _ = mnist_small
    x, y = x[:640], y[:640]

    def make():
        torch.manual_seed(0)
        return Sequential([L.Input((1, 28, 28)), L.Flatten(), L.Dense(32, activation="relu"), L.Dense(10)])

    full = Trainer(make(), verbose=0, metrics=["accuracy"])
    ref = full.fit((x, y), epochs=4, shuffle=True, seed=3).history["loss"]
    part = Trainer(make(), verbose=0, metrics=["accuracy"], run_dir=tmp_path / "run")
    part.fit((x, y), epochs=2, shuffle=True, seed=3)
    torch.manual_seed(123)  # a fresh process would start from other RNG states
    resumed = Trainer(make(), verbose=0, metrics=["accuracy"], run_dir=tmp_path / "run")
    hist = resumed.fit((x, y), epochs=4, shuffle=True, seed=3, resume=True).history["loss"]
    assert hist == ref
    assert resumed.step == full.step
    for a, b in zip(resumed.model.parameters(), full.model.parameters()):
        assert torch.equal(a, b)


@register_model("test-mlp")
class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.fc = nn.Linear(config.n_in, config.n_out)


def test_registered_dataclass_model_round_trip(tmp_path):
    from dataclasses import dataclass

    @dataclass
    class Cfg:
        n_in: int = 3
        n_out: int = 2
    from fromzero.registry import MODELS
    MODELS["test-mlp"] = (MLP, Cfg)
    m = MLP(Cfg())
    save_model(tmp_path, m)
    spec = json.loads((tmp_path / "model.json").read_text())
    assert spec == {"name": "test-mlp", "config": {"n_in": 3, "n_out": 2}}
    spec["config"]["n_hidden"] = 4
    spec["config"]["n_in"] = "3"
    (tmp_path / "model.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=r"unknown key 'n_hidden'; 'n_in' must be int, got str '3'\. "
                                         r"Valid keys: n_in, n_out"):
        load_model(tmp_path)


def test_a_new_run_that_fails_leaves_no_folder_it_made_and_keeps_one_that_was_there(tmp_path):
    from fromzero.checkpoint import open_run

    for made_here in (True, False):
        run_dir = tmp_path / f"run-{made_here}"
        if not made_here:
            run_dir.mkdir()
        with pytest.raises(ValueError, match="bad data"):
            with open_run(run_dir, "test", {"a": 1}) as run:
                assert (run.dir / "run.json").is_file()
                raise ValueError("bad data")
        assert run_dir.exists() is (not made_here)
        assert not run_dir.exists() or list(run_dir.iterdir()) == []
    with open_run(tmp_path / "ok", "test") as run:     # a run that ends well keeps its folder
        pass
    assert (tmp_path / "ok" / "run.json").is_file()
