"""Files of a run and of the cache (issue #15, findings 4, 5, 7, 10 and 12): no write through a
symlink, verified caches, checksummed and checked weights, bounded configs and JSON, fsync,
leftovers cleaned, and a fallback to the previous intact checkpoint."""
import json
import os
import sys

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch
from torch import nn

import fromzero.checkpoint as ck
from fromzero import load_model, save_model
from fromzero.checkpoint import CheckpointError, list_checkpoints, load_weights, save_checkpoint, save_weights
from fromzero.errors import FromzeroError
from fromzero.io import read_json, save_json
from fromzero.models.configs import gpt_config
from fromzero.models.gpt import GPT
from fromzero.train import Trainer

PNG = b"\x89PNG\r\n\x1a\n"


# --- finding 4: writes never follow a symlink out of the run directory ---------------------------

def _plot(path):
    from fromzero.train.callbacks import plot_history
    plot_history({"epoch": [1, 2], "loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}, path)


def _forecast_plot(path):
    from fromzero.timeseries.plot import plot_forecast
    plot_forecast(path, np.arange(4.0), np.arange(4.0) + 0.5)


def _csv(path):
    from fromzero.train.callbacks import CSVLogger

    class T:
        class history:
            epochs = [{"epoch": 1, "loss": 0.5}]
    CSVLogger(path).on_epoch_end(T, 0, {})


WRITERS = {"history.png": _plot, "forecast.png": _forecast_plot, "history.csv": _csv,
           "metrics.json": lambda p: save_json(p, {"a": 1}),
           "model.json": lambda p: save_model(p.parent, GPT(gpt_config("tiny"))),
           "model.safetensors": lambda p: save_weights(p, nn.Linear(2, 2))}


@pytest.mark.parametrize("name", WRITERS)
def test_a_symlink_in_the_run_dir_is_replaced_never_written_through(tmp_path, name):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    run = tmp_path / "run"
    run.mkdir()
    (run / name).symlink_to(outside)
    WRITERS[name](run / name)
    assert outside.read_bytes() == b"precious"
    assert not (run / name).is_symlink() and (run / name).stat().st_size > 0
    if name.endswith(".png"):
        assert (run / name).read_bytes()[:8] == PNG
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


# --- finding 5: caches are verified or rebuilt --------------------------------------------------

def test_a_tampered_mnist_npy_cache_is_detected_and_rebuilt(tmp_path, monkeypatch, capsys):
    from fromzero.datasets import load_mnist
    monkeypatch.setenv("FROMZERO_CACHE", str(tmp_path / "cache"))
    images, labels = load_mnist("test")                  # fills the .npy cache
    npy = tmp_path / "cache" / "npy"
    [lab] = npy.glob("t10k-labels-*.npy")
    [img] = npy.glob("t10k-images-*.npy")
    np.save(lab, np.roll(np.load(lab), 1))               # labels shifted by one: "1.18% accuracy"
    bad = np.load(img)
    bad[0, 0, 0] ^= 1
    np.save(img, bad)
    capsys.readouterr()
    images2, labels2 = load_mnist("test")
    assert np.array_equal(labels2, labels) and np.array_equal(images2, images)
    assert capsys.readouterr().err.count("rebuilding") == 2
    assert np.array_equal(np.load(lab), labels)          # the cache itself was rebuilt
    load_mnist("test")
    assert "rebuilding" not in capsys.readouterr().err


def _corpus(tmp_path):
    from fromzero.text.data import load_corpus, train_tokenizer
    text = tmp_path / "corpus.txt"
    text.write_text("the quick brown fox jumps over the lazy dog\n" * 50, encoding="utf-8")
    tok = train_tokenizer(text)
    return lambda: load_corpus(text, tok, cache=tmp_path / "cache")


@pytest.mark.parametrize("damage", ["torn-json", "torn-bin", "flipped-bin", "empty-json"])
def test_a_torn_or_corrupt_token_cache_is_rebuilt(tmp_path, capsys, damage):
    load = _corpus(tmp_path)
    want = np.array(load().tokens)
    [meta] = (tmp_path / "cache" / "tokens").glob("*.json")
    [bin_] = (tmp_path / "cache" / "tokens").glob("*.bin")
    if damage == "torn-json":
        meta.write_text(meta.read_text()[:15])
    elif damage == "empty-json":
        meta.write_text("")
    elif damage == "torn-bin":
        bin_.write_bytes(bin_.read_bytes()[:100])
    else:
        data = bytearray(bin_.read_bytes())
        data[50] ^= 0x01
        bin_.write_bytes(bytes(data))
    capsys.readouterr()
    assert np.array_equal(np.array(load().tokens), want)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "token cache" in err and "rebuilding" in err
    assert np.array_equal(np.array(load().tokens), want)          # and the rebuilt cache is good
    assert capsys.readouterr().err == ""


# --- findings 7 and 12: checksummed weights, dtypes and configs checked before allocating -------

def test_a_flipped_byte_in_the_tensor_data_is_refused(tmp_path):
    save_model(tmp_path, GPT(gpt_config("tiny")))
    w = tmp_path / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-5] ^= 0x10                                    # inside the last tensor's data
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: the tensor data has sha256"):
        load_model(tmp_path)


def test_old_weights_without_a_checksum_still_load(tmp_path):
    model = GPT(gpt_config("tiny"))
    save_model(tmp_path, model)
    w = str(tmp_path / "model.safetensors")
    with safetensors.safe_open(w, "pt") as f:
        meta = f.metadata()
    assert meta.pop("sha256")
    safetensors.torch.save_file(safetensors.torch.load_file(w), w, metadata=meta)   # as before #15
    loaded = load_model(tmp_path)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


@pytest.mark.parametrize("dtype", [torch.bool, torch.int64, torch.float16, torch.float64])
def test_tensors_of_the_wrong_dtype_are_refused_not_cast(tmp_path, dtype):
    model = nn.Linear(3, 2)
    state = {"weight": torch.ones(2, 3).to(dtype), "bias": torch.zeros(2)}
    safetensors.torch.save_file(state, str(tmp_path / "w.safetensors"))
    before = model.weight.detach().clone()
    with pytest.raises(CheckpointError, match=r"w\.safetensors: tensor 'weight' has dtype \w+ in the "
                                              r"file, but the model expects F32"):
        load_weights(tmp_path / "w.safetensors", model)
    assert torch.equal(model.weight, before)


def _watch_gpt(monkeypatch) -> list:
    """From now on, record the default device of every GPT built ("meta" builds allocate nothing);
    building a real one fails the test at once (before #15, n_layer=10**9 allocated 7.7 GB for a
    minute)."""
    built, init = [], GPT.__init__

    def spy(self, config):
        built.append(str(torch.get_default_device()))
        assert built[-1] == "meta", "a real model was built from an unchecked config"
        init(self, config)
    monkeypatch.setattr(GPT, "__init__", spy)
    return built


def _saved_gpt_with(run_dir, **config) -> None:
    save_model(run_dir, GPT(gpt_config("tiny")))
    spec = json.loads((run_dir / "model.json").read_text())
    spec["config"].update(config)
    (run_dir / "model.json").write_text(json.dumps(spec))


def test_a_config_of_1e9_layers_is_refused_before_building(tmp_path, monkeypatch):
    _saved_gpt_with(tmp_path, n_layer=10**9)
    built = _watch_gpt(monkeypatch)
    with pytest.raises(FromzeroError, match=r"model\.json.*n_layer must be an integer in \[1, 1024\], "
                                            r"got 1000000000"):
        load_model(tmp_path)
    assert built == []                                  # refused before any module was built


def test_a_config_that_disagrees_with_the_weights_is_refused_before_allocating(tmp_path, monkeypatch):
    _saved_gpt_with(tmp_path, n_layer=3)                # within bounds, not what the weights hold
    built = _watch_gpt(monkeypatch)
    with pytest.raises(CheckpointError, match=r"model\.json does not describe the weights: .*"
                                              r"missing \['blocks\.2\."):
        load_model(tmp_path)
    assert built == ["meta"]                            # only the shape-only skeleton


def test_a_huge_json_file_is_refused_by_its_size_without_reading_it(tmp_path, monkeypatch):
    big = tmp_path / "model.json"
    with open(big, "wb") as f:
        f.truncate(1 << 30)                             # 1 GB, sparse: no disk used

    def no_reading(*a, **k):
        raise AssertionError("the file was read")
    monkeypatch.setattr(type(big), "read_text", no_reading)
    monkeypatch.setattr(type(big), "read_bytes", no_reading)
    with pytest.raises(CheckpointError, match=r"model\.json: expected a JSON file of at most "
                                              r"16,777,216 bytes, got 1,073,741,824 bytes"):
        read_json(big)


def test_deeply_nested_json_is_our_error_not_a_recursion_error(tmp_path):
    deep = tmp_path / "model.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(CheckpointError, match=r"model\.json: .*nested too deeply"):
        read_json(deep)


# --- finding 10: fsync, leftovers, fallback ----------------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_files_and_folders_are_fsynced_on_save(tmp_path, monkeypatch):
    synced, fsync = [], os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)
    monkeypatch.setattr(os, "fsync", spy)
    save_model(tmp_path / "run", GPT(gpt_config("tiny")))
    run = str((tmp_path / "run").resolve())
    for name in ("model.safetensors", "model.json"):    # each file (under its temporary name)
        assert any(p.startswith(f"{run}/.{name}.") and p.endswith(".tmp") for p in synced)
    assert synced.count(run) >= 2                       # and the folder, after each rename
    synced.clear()
    final = save_checkpoint(tmp_path / "run", 1, nn.Linear(2, 2), {"step": 1})
    assert str(final.parent.resolve()) in synced        # checkpoints/, after the folder's rename
    assert run in synced                                # the run dir, which got checkpoints/
    assert any("/.tmp-" in p and p.endswith("state.pt") for p in synced)
    assert any(p.rsplit("/", 1)[-1].startswith(".tmp-") for p in synced)   # the folder itself


def test_an_interrupted_rotation_leaves_no_half_deleted_checkpoint(tmp_path, monkeypatch):
    m = nn.Linear(2, 2)
    save_checkpoint(tmp_path, 1, m, {"step": 1}, keep=1)
    rmtree = ck.shutil.rmtree

    def killed(path, *a, **k):                           # deletes one file, then the process dies
        os.remove(os.path.join(path, sorted(os.listdir(path))[0]))
        raise KeyboardInterrupt
    monkeypatch.setattr(ck.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, 2, m, {"step": 2}, keep=1)
    monkeypatch.setattr(ck.shutil, "rmtree", rmtree)
    steps = sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*"))
    assert steps == [p.name for p in list_checkpoints(tmp_path)] == ["step-00000002"]


def _fit(run_dir, epochs=3, resume=False, seed=0):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 4, generator=g), torch.randint(0, 3, (64,), generator=g)
    trainer = Trainer(nn.Linear(4, 3), verbose=0, run_dir=run_dir, keep_checkpoints=3, plot=False)
    trainer.fit((x, y), epochs=epochs, batch_size=16, seed=seed, resume=resume)
    return trainer


def test_crash_leftovers_are_cleaned_on_the_next_start(tmp_path, capsys):
    run = tmp_path / "run"
    _fit(run, epochs=2)
    root = run / "checkpoints"
    (root / ".tmp-k1ll3d").mkdir()
    (root / ".tmp-k1ll3d" / "model.safetensors").write_bytes(b"half")
    half = root / "step-00000099"                        # a rotation killed half-way
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"x")
    (run / ".model.json.abc123.tmp").write_bytes(b"{")
    (root / ".model.safetensors.def456.tmp").write_bytes(b"")
    intact = [p.name for p in list_checkpoints(run)]
    capsys.readouterr()
    _fit(run, epochs=3, resume=True)
    assert "leftover" in capsys.readouterr().err
    names = sorted(p.name for p in root.iterdir())
    assert not [n for n in names if n.startswith(".")] and "step-00000099" not in names
    assert set(intact) <= set(names)
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("damage", ["truncated-weights", "bad-state"])
def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys, damage):
    ref = _fit(tmp_path / "ref", epochs=3)
    run = tmp_path / "run"
    _fit(run, epochs=3)
    *_, previous, newest = list_checkpoints(run)
    if damage == "truncated-weights":
        w = newest / "model.safetensors"
        w.write_bytes(w.read_bytes()[:-7])
    else:
        (newest / "state.pt").write_bytes(b"PK\x03\x04 not a zip")
    capsys.readouterr()
    resumed = _fit(run, epochs=3, resume=True)
    err = capsys.readouterr().err
    assert "warning" in err and str(newest) in err and str(previous) in err
    assert resumed.step == ref.step
    for k, v in ref.model.state_dict().items():          # the same run as one never interrupted
        assert torch.equal(resumed.model.state_dict()[k], v)
    assert [p.name for p in list_checkpoints(run)][-1] == newest.name


def test_resume_with_no_intact_checkpoint_is_a_clear_error(tmp_path):
    run = tmp_path / "run"
    _fit(run, epochs=1)
    for p in list_checkpoints(run):
        (p / "state.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"no intact checkpoint in .*checkpoints.*state\.pt"):
        _fit(run, epochs=2, resume=True)
