"""Pre-training through the Trainer, resume, and the pretrain/generate commands (tiny preset)."""
import math

import pytest

from fromzero.io import read_json
from fromzero.cli import main
from fromzero.errors import ConfigError
from fromzero.recipes.gpt import pretrain, split_overrides
from fromzero.train import Callback

TINY = dict(max_iters=24, eval_interval=6, eval_tokens=1024, batch_size=8, sample_tokens=0,
            device="cpu", amp="off")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FROMZERO_CACHE", str(tmp_path / "cache"))


def _history(run):
    import csv
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


def test_tiny_pretrain_run_learns_and_writes_a_complete_run_dir(tmp_path):
    run = pretrain("shakespeare", preset="tiny", out=tmp_path / "run", verbose=0, **TINY)
    rows = _history(run)
    assert len(rows) == 4 and rows[-1]["step"] == "24"
    val = [float(r["val_loss"]) for r in rows]
    assert val[-1] < val[0] < math.log(65) + 0.5
    assert float(rows[-1]["tokens_per_s"]) > 0 and 0 < float(rows[-1]["mfu"]) < 1
    for f in ("model.safetensors", "model.json", "tokenizer.json", "pretrain.json", "history.png"):
        assert (run / f).is_file(), f
    spec = read_json(run / "model.json")
    assert spec["name"] == "gpt" and spec["task"] == "language-modeling" and spec["config"]["vocab_size"] == 65


class StopAfter(Callback):
    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch + 1 == self.epochs:
            trainer.stop_training = True


def test_a_stopped_run_resumes_exactly_where_it_stopped(tmp_path):
    full = pretrain("shakespeare", preset="tiny", out=tmp_path / "full", verbose=0, **TINY)
    part = tmp_path / "part"
    pretrain("shakespeare", preset="tiny", out=part, verbose=0, callbacks=[StopAfter(2)], **TINY)
    assert len(_history(part)) == 2
    pretrain("shakespeare", preset="tiny", out=part, verbose=0, resume=True)
    a, b = _history(full), _history(part)
    assert [r["step"] for r in b] == ["6", "12", "18", "24"]
    for ra, rb in zip(a, b):
        assert float(ra["loss"]) == pytest.approx(float(rb["loss"]), rel=1e-5)
        assert float(ra["val_loss"]) == pytest.approx(float(rb["val_loss"]), rel=1e-5)


def test_overrides_are_checked_with_the_valid_keys_listed():
    with pytest.raises(ConfigError) as e:
        split_overrides("tiny", {"learning_rate": 1e-3, "n_layers": 2})
    msg = str(e.value)
    assert "learning_rate" in msg and "n_layers" in msg and "max_iters" in msg and "n_layer" in msg
    with pytest.raises(ConfigError, match="'lr' must be float"):
        split_overrides("tiny", {"lr": "fast"})
    cfg, model = split_overrides("shakespeare-char", {"lr": 1e-3, "dropout": 0.1})
    assert cfg.lr == 1e-3 and cfg.max_iters == 2000 and model == {"dropout": 0.1}


def test_pretrain_and_generate_commands(tmp_path, capsys):
    run = tmp_path / "cli"
    assert main(["pretrain", "gpt", "--preset", "tiny", "--out", str(run), "--max-iters", "10",
                 "--eval-interval", "5", "--eval-tokens", "1024", "--quiet", "--device", "cpu",
                 "--set", "amp=off", "--schedule", "constant"]) == 0
    assert "validation loss" in capsys.readouterr().out
    lrs = [line.split(",")[4] for line in (run / "history.csv").read_text().splitlines()[1:]]
    assert len(lrs) == 2 and lrs[0] == lrs[1]                # --schedule constant: no warmup, no decay
    assert main(["generate", str(run), "--prompt", "ROMEO:", "--max-new-tokens", "30", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ROMEO:") and len(out) >= len("ROMEO:") + 30
    assert main(["generate", str(run), "--prompt", "Roméo 🙂"]) == 1
    err = capsys.readouterr().err
    assert "never seen" in err and "'é'" in err and "Traceback" not in err
