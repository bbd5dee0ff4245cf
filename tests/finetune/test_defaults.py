"""Issue #16, item 3: fine-tuning defaults, the still-improving warning, truncation and unknown
characters reported, ``--max-length``."""
import json
from types import SimpleNamespace

import pytest

from fromzero.errors import ConfigError
from fromzero.recipes.configs import DEFAULT_LR, FinetuneConfig, TextRNNConfig
from fromzero.recipes.finetune import encoding_note, finetune, predict_proba
from fromzero.text.labelled import encode_texts
from fromzero.text.tokenizer import make_tokenizer
from fromzero.train.callbacks import StillImproving

TINY = dict(epochs=1, batch_size=32, evals_per_epoch=1, device="cpu", dropout=0.0, lr=5e-3)


def test_defaults_are_the_measured_ones():
    # docs/finetune.md, "Default settings": the sweep these come from
    assert DEFAULT_LR == {"full": 3e-4, "lora": 2e-3, "scratch": 3e-4}
    cfg = FinetuneConfig()
    assert (cfg.epochs, cfg.evals_per_epoch, cfg.pool) == (4, 2, "mean")
    assert cfg.peak_lr == DEFAULT_LR["full"] and cfg.max_length is None
    assert FinetuneConfig(init="scratch").peak_lr == DEFAULT_LR["scratch"]
    assert FinetuneConfig(lora_rank=4).peak_lr == DEFAULT_LR["lora"]
    assert (TextRNNConfig().epochs, TextRNNConfig().patience) == (30, 5)


def _end(callback, rows, capsys):
    callback.on_train_end(SimpleNamespace(history=SimpleNamespace(epochs=rows)), {})
    return capsys.readouterr().err


def test_still_improving_fires_when_the_best_evaluation_is_the_last(capsys):
    rows = [dict(accuracy=0.9, val_accuracy=v) for v in (0.70, 0.80, 0.85)]
    still = StillImproving("val_accuracy", advice="try --epochs 8")
    err = _end(still, rows, capsys)
    assert still.fired and "warning: still improving" in err and "(3 of 3)" in err and "try --epochs 8" in err


@pytest.mark.parametrize("values", [(0.70, 0.85, 0.80), (0.70, 0.85, 0.85)])   # a drop, or a tie: no news
def test_still_improving_is_silent_after_a_plateau(values, capsys):
    still = StillImproving("val_accuracy")
    assert _end(still, [dict(accuracy=0.95, val_accuracy=v) for v in values], capsys) == ""
    assert not still.fired


def test_still_improving_fires_when_the_model_under_fits_its_training_data(capsys):
    rows = [dict(accuracy=a, val_accuracy=v) for a, v in ((0.60, 0.70), (0.67, 0.69))]
    err = _end(StillImproving("val_accuracy", advice="try --lr 1e-3"), rows, capsys)
    assert "train accuracy is only 0.67" in err and "try --lr 1e-3" in err
    assert "warning: the model has not fitted its training data" in err and "still improving" not in err
    assert _end(StillImproving("val_accuracy", underfit=None), rows, capsys) == ""
    loss = [dict(val_loss=v) for v in (1.0, 0.8, 0.9)]
    assert _end(StillImproving("val_loss", mode="min", metric=None), loss, capsys) == ""


def test_finetune_warns_and_records_a_run_still_improving(tiny_gpt, tiny_task, tmp_path, capsys):
    m = finetune(tiny_gpt, tiny_task, out=tmp_path / "ft", verbose=0, **TINY)   # one evaluation: the last
    err = capsys.readouterr().err
    assert m["still_improving"] and "warning: still improving" in err and "--epochs 2" in err


def test_truncation_and_unknown_characters_are_counted():
    tok = make_tokenizer("char", ["abc de"])
    stats = {}
    seqs = encode_texts(tok, ["abcabc", "ab", "aéb", "dxxe"], 4, stats=stats)   # + a start token each
    assert [len(s) for s in seqs] == [4, 3, 3, 3]
    assert stats == {"texts": 4, "cut": 1, "block_size": 4, "unknown": {"é": 1, "x": 2}}
    note = encoding_note("train", stats)
    assert note == ("1 of 4 train texts longer than 4 tokens were cut (25.0%); 3 characters not in the base "
                    "vocabulary were dropped (2 distinct: 'x' 'é')")
    assert encoding_note("dev", dict(texts=3, cut=0, block_size=4, unknown={})) is None


def test_finetune_reports_cut_texts_and_max_length(tiny_gpt, tiny_task, tmp_path, capsys):
    m = finetune(tiny_gpt, tiny_task, out=tmp_path / "ft", verbose=0, max_length=4, **TINY)
    err = capsys.readouterr().err
    assert "train texts longer than 4 tokens were cut" in err and "test texts longer" in err
    assert m["max_length"] == 4 and m["encoding"]["train"]["cut"] > 0
    assert json.loads((tmp_path / "ft" / "model.json").read_text())["max_length"] == 4
    predict_proba(tmp_path / "ft", ["the film was good and the plot was fun"])
    assert "1 of 1 input texts longer than 4 tokens were cut" in capsys.readouterr().err


def test_max_length_beyond_the_context_is_an_error(tiny_gpt, tiny_task, tmp_path):
    context = json.loads((tiny_gpt / "model.json").read_text())["config"]["block_size"]
    with pytest.raises(ConfigError, match=f"at most the base model's context \\({context} tokens\\), "
                                          f"got {context + 1}"):
        finetune(tiny_gpt, tiny_task, out=tmp_path / "ft", verbose=0, max_length=context + 1, **TINY)
    assert not (tmp_path / "ft" / "model.safetensors").exists()
