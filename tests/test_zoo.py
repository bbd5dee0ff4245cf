"""The zoo's arithmetic against what torch really allocates and computes (fromzero.zoo)."""
import dataclasses
import importlib

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from fromzero import zoo
from fromzero.zoo import measure as zoo_measure
from fromzero.kernels import use_kernels
from fromzero.models.cnn import build_model
from fromzero.models.gpt import GPT, gpt_config
from fromzero.recipes.configs import TextRNNConfig
from fromzero.train.muon import muon
from fromzero.train.optim import adamw

VARIANTS = [("tiny", {}), ("shakespeare-char", {}), ("cpu-small", {}),
            ("tiny", dict(bias=True, tie_weights=False, pos_emb="learned", qk_norm=False)),
            ("tiny", dict(activation="gelu", mlp_ratio=2)), ("tiny", dict(pos_emb="learned"))]


def _card(preset="tiny", **kw):
    c = gpt_config(preset, **kw)
    return dataclasses.replace(zoo.find_card(preset), params=zoo.gpt_params(c), config=dataclasses.asdict(c))


def _unique(tensors):
    return {t.untyped_storage().data_ptr(): t for t in tensors}.values()


@pytest.mark.parametrize("preset,kw", VARIANTS)
def test_gpt_parameter_count_from_the_config_equals_the_built_model(preset, kw):
    model = GPT(gpt_config(preset, **kw))
    assert zoo.gpt_params(model.config) == sum(p.numel() for p in _unique(model.parameters()))
    assert zoo.gpt_flops_per_token(model.config) == model.flops_per_token()


def test_the_other_cards_count_their_built_models():
    rows = {c.name: c for c in zoo.cards()}
    assert rows["mnist-cnn"].params == sum(p.numel() for p in build_model().parameters())
    rnn_text = importlib.import_module("fromzero.recipes.rnn_text")
    t = TextRNNConfig()
    built = rnn_text.build_text_rnn(dataclasses.replace(t, max_len=zoo.TEXT_RNN_LEN), zoo.TEXT_RNN_VOCAB, 2)
    assert rows["text-rnn/sst2"].params == sum(p.numel() for p in built.parameters())
    assert {"gpt/gpt2", "lstm/shakespeare-char", "forecaster/ett"} <= set(rows)


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
@pytest.mark.parametrize("preset,kw", VARIANTS[:1] + VARIANTS[3:4])
def test_parameter_gradient_and_optimizer_bytes_are_exact(preset, kw, optimizer):
    card = dataclasses.replace(_card(preset, **kw), optimizer=optimizer)
    model = use_kernels(GPT(gpt_config(preset, **kw)))
    opt = adamw(model, lr=1e-3, weight_decay=0.1) if optimizer == "adamw" else muon(model)
    idx = torch.randint(0, model.config.vocab_size, (2, 16))
    model(idx, idx).backward()
    opt.step()
    params = list(_unique(model.parameters()))
    state = [t for s in opt.state.values() for t in s.values() if torch.is_tensor(t)]
    m = zoo.training_memory(card, 2, 16)
    assert m.params == sum(p.nbytes for p in params)
    assert m.grads == sum(p.grad.nbytes for p in params)
    assert m.optimizer == sum(t.nbytes for t in state)


# Exact on torch 2.13; the tolerance allows a torch release that saves a statistic differently.
ACTIVATION_TOLERANCE = 0.02


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("preset,kw", [v for v in VARIANTS if v[0] != "cpu-small"])
def test_saved_activations_match_the_formula(preset, kw, precision):
    c = gpt_config(preset, **kw)
    model = use_kernels(GPT(c)).train()
    B, T = 2, min(c.block_size, 32)
    idx, y = torch.randint(0, c.vocab_size, (B, T)), torch.randint(0, c.vocab_size, (B, T))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        measured = zoo.saved_bytes(model, idx, y)
    predicted = zoo.gpt_activation_bytes(c, B, T, precision)
    assert abs(predicted - measured) <= ACTIVATION_TOLERANCE * measured, (predicted, measured)


def test_fsdp_shards_parameters_gradients_and_optimizer_state_not_activations():
    card = zoo.find_card("cpu-small")
    one, four = zoo.training_memory(card), zoo.training_memory(card, gpus=4)
    assert four.grads == one.grads / 4 and four.optimizer == one.optimizer / 4
    assert four.params == pytest.approx(one.params / 4 + one.params / card.config["n_layer"])
    assert four.activations == one.activations and four.workspace == one.workspace
    ckpt = zoo.training_memory(card, checkpointing=True)
    assert ckpt.activations < one.activations / 2 and ckpt.params == one.params


def test_gpt_flops_formula_against_torchs_flop_counter():
    c = gpt_config("tiny", attention="explicit")          # explicit attention: its matmuls are counted
    model = GPT(c)
    B, T = 2, c.block_size
    idx = torch.randint(0, c.vocab_size, (B, T))
    with FlopCounterMode(display=False) as counter:
        model(idx, idx).backward()
    counted = counter.get_total_flops()
    norms = (2 * c.n_layer + 1) * c.n_embd                 # norm gains: parameters without a matmul
    assert counted == B * T * (6 * (zoo.gpt_params(c) - norms) + 12 * c.n_layer * c.n_embd * T)
    assert zoo.gpt_flops_per_token(c) * B * T == pytest.approx(counted, rel=0.01)


def test_cnn_flops_per_sample_against_torchs_flop_counter():
    model = build_model()
    x = torch.rand(3, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    assert zoo.conv_flops(model) * 3 == counter.get_total_flops()


def test_throughput_is_measured_once_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FROMZERO_CACHE", str(tmp_path))
    r = zoo.measure_throughput("tiny", 2, 8, "cpu", 1, seconds=0.0, child=False)
    assert r["tokens_per_s"] > 0 and r["eval_tokens_per_s"] > 0 and r["precision"] in ("fp32", "bf16")
    calls = []
    monkeypatch.setattr(zoo_measure, "_measure", lambda *a: calls.append(a) or {})
    assert zoo.measure_throughput("tiny", 2, 8, "cpu", 1) == r            # read, not measured again
    assert zoo.cached_throughput("tiny", 2, 8, "cpu", 1) == r and not calls
    assert zoo.cached_throughput("tiny", 4, 8, "cpu", 1) is None         # another batch: not measured
    assert zoo.cache_file().is_file() and str(tmp_path) in str(zoo.cache_file())
