"""Pre-training through the Trainer, resume, and the pretrain/generate commands (tiny preset)."""
import math
import re

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


def test_stop_at_loss_ends_the_run_at_the_first_evaluation_that_reaches_it(tmp_path):
    run = pretrain("shakespeare", preset="tiny", out=tmp_path / "a", verbose=0, stop_at_loss=10.0, **TINY)
    assert [r["step"] for r in _history(run)] == ["6"]                 # log(65) = 4.17 < 10 at once
    run = pretrain("shakespeare", preset="tiny", out=tmp_path / "b", verbose=0, stop_at_loss=0.01, **TINY)
    assert [r["step"] for r in _history(run)] == ["6", "12", "18", "24"]   # never reached: the whole run


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


def test_mfu_has_a_unit_and_a_reference_and_evaluate_names_the_validation_split(tmp_path, capsys):
    """Issue #16: mfu was printed as a bare fraction; `evaluate` called a language model's
    validation split "test"."""
    (tmp_path / "text.txt").write_text("a small corpus of plain words, said again and again. " * 200)
    run = tmp_path / "run"
    assert main(["pretrain", "gpt", "--data", str(tmp_path / "text.txt"), "--preset", "tiny", "--out", str(run),
                 "--max-iters", "2", "--eval-interval", "2", "--device", "cpu", "--peak-flops", "2e9",
                 "--set", "sample_tokens=0"]) == 0
    err = capsys.readouterr().err
    assert "mfu (model FLOPs utilisation) is the training's FLOP/s as a percentage of 2 GFLOP/s (--peak-flops)" in err
    assert re.search(r"step 2/2: .* - mfu \d+\.\d%", err), err
    assert main(["evaluate", str(run)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("validation loss: ") and "validation perplexity: " in out and "test" not in out
    assert re.search(r"validation split, the last 10% of .*text.txt \(\d[\d,]* tokens\)", err), err


def test_continued_pretraining_records_the_tokenizer_it_used(tmp_path):
    """Issue #16: after --init of a BPE run, pretrain.json said "tokenizer": "char" (the preset's)."""
    (tmp_path / "text.txt").write_text("the film was good . the film was bad . " * 300)
    base = pretrain(tmp_path / "text.txt", preset="tiny", out=tmp_path / "base", verbose=0, tokenizer="bpe",
                    bpe_vocab_size=280, **dict(TINY, max_iters=2, eval_interval=2))
    adapted = pretrain(tmp_path / "text.txt", preset="tiny", out=tmp_path / "adapted", verbose=0, init=base,
                       **dict(TINY, max_iters=2, eval_interval=2))
    used = read_json(adapted / "pretrain.json")["config"]
    vocab = read_json(base / "model.json")["config"]["vocab_size"]
    assert used["tokenizer"] == "bpe" and used["bpe_vocab_size"] == vocab
    with pytest.raises(ConfigError, match="keeps the run's bpe tokenizer, got --tokenizer char"):
        pretrain(tmp_path / "text.txt", preset="tiny", out=tmp_path / "x", init=base, tokenizer="char", verbose=0)
