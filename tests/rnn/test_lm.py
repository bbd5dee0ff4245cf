"""The recurrent language model: GPT-compatible interface, state carried across calls, save/load."""
import pytest
import torch

from fromzero import load_model, save_model
from fromzero.errors import ConfigError
from fromzero.models.rnn_lm import RNNLM, rnn_lm_config


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_logits_loss_and_state_continuation(cell):
    torch.manual_seed(0)
    model = RNNLM(rnn_lm_config("tiny", vocab_size=20, cell=cell)).eval()
    idx = torch.randint(0, 20, (3, 12))
    logits = model(idx)
    assert logits.shape == (3, 12, 20)
    loss = model(idx[:, :-1], idx[:, 1:])
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, 20), idx[:, 1:].reshape(-1)))
    # feeding the text in pieces through the state gives the same last logits as all at once
    cache = model.new_cache(3)
    model(idx[:, :5], cache=cache)
    for t in range(5, 12):
        last = model(idx[:, t:t + 1], cache=cache)
        torch.testing.assert_close(last[:, 0], logits[:, t], atol=1e-5, rtol=1e-5)
    assert cache.pos == 12


def test_preset_matches_the_gpt_parameter_count_and_round_trips(tmp_path):
    from fromzero.models.gpt import GPT, gpt_config

    model = RNNLM(rnn_lm_config("shakespeare-char"))
    gpt = GPT(gpt_config("shakespeare-char"))
    assert abs(model.num_params() - gpt.num_params()) / gpt.num_params() < 0.01
    save_model(tmp_path, model)
    loaded = load_model(tmp_path)
    idx = torch.randint(0, 65, (2, 10))
    assert type(loaded) is RNNLM and torch.equal(loaded(idx), model.eval()(idx))


def test_bad_config_lists_problems():
    with pytest.raises(ConfigError, match=r"cell='transformer' is not one of lstm, gru; n_layer must be"):
        rnn_lm_config("tiny", cell="transformer", n_layer=0)
    with pytest.raises(ConfigError, match="unknown key 'n_head'"):
        rnn_lm_config("tiny", n_head=4)


def test_pretrain_lstm_through_the_gpt_pipeline_then_generate(tmp_path, capsys):
    """`fromzero pretrain lstm`: the GPT's data, Trainer and run directory; `fromzero generate` streams from it."""
    import csv

    from fromzero.io import read_json
    from fromzero.cli import main
    from fromzero.generate import generate_text

    run = tmp_path / "lstm"
    assert main(["pretrain", "lstm", "--preset", "tiny", "--max-iters", "30", "--eval-interval", "15",
                 "--eval-tokens", "1024", "--lr", "0.01", "--out", str(run), "--device", "cpu",
                 "--quiet"]) == 0
    assert "validation loss" in capsys.readouterr().out
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"]) < 4.3       # ln(65) = 4.17
    spec = read_json(run / "model.json")
    assert spec["name"] == "rnn-lm" and spec["task"] == "language-modeling"
    assert read_json(run / "pretrain.json")["family"] == "lstm"
    text = generate_text(run, "ROMEO:", max_new_tokens=20, seed=0)
    assert len(text) == 20
    # the recurrent state makes generation cheap; without it every token re-reads the context
    assert generate_text(run, "ROMEO:", 20, seed=0, use_cache=False, temperature=0) == \
        generate_text(run, "ROMEO:", 20, seed=0, temperature=0)
