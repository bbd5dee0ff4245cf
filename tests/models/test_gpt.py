import math

import pytest
import torch

from fromzero.config import make_config

from fromzero.errors import ConfigError, ShapeError
from fromzero.models.gpt import GPT, PRESETS, GPTConfig, explicit_attention, fused_attention, gpt_config


def _pair(**kw):
    """Two models with the same weights: explicit attention and fused attention."""
    torch.manual_seed(0)
    a = GPT(gpt_config("tiny", attention="explicit", zero_init=False, **kw))
    b = GPT(gpt_config("tiny", attention="sdpa", zero_init=False, **kw))
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize("kw", [{}, {"pos_emb": "learned", "norm": "layernorm", "bias": True,
                                     "activation": "gelu", "qk_norm": False, "tie_weights": False}])
def test_explicit_and_fused_attention_agree_on_outputs_and_gradients(kw):
    a, b = _pair(**kw)
    x = torch.randint(0, 64, (3, 32))
    y = torch.randint(0, 64, (3, 32))
    torch.testing.assert_close(a(x), b(x), atol=1e-5, rtol=1e-4)
    la, lb = a(x, y), b(x, y)
    la.backward()
    lb.backward()
    torch.testing.assert_close(la, lb)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("t_q,t_k", [(5, 5), (1, 9), (3, 9)])
def test_attention_functions_agree_with_a_cache_shaped_mask(t_q, t_k):
    torch.manual_seed(0)
    q = torch.randn(2, 3, t_q, 8, requires_grad=True)
    k = torch.randn(2, 3, t_k, 8, requires_grad=True)
    v = torch.randn(2, 3, t_k, 8, requires_grad=True)
    ya, yb = explicit_attention(q, k, v), fused_attention(q, k, v)
    torch.testing.assert_close(ya, yb, atol=1e-5, rtol=1e-4)
    ga = torch.autograd.grad(ya.square().sum(), (q, k, v))
    gb = torch.autograd.grad(yb.square().sum(), (q, k, v))
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-4)


def test_attention_is_causal():
    torch.manual_seed(0)
    model = GPT(gpt_config("tiny", zero_init=False)).eval()
    x = torch.randint(0, 64, (1, 20))
    x2 = x.clone()
    x2[0, 12:] = (x2[0, 12:] + 1) % 64           # change the future only
    torch.testing.assert_close(model(x)[:, :12], model(x2)[:, :12])
    assert not torch.allclose(model(x)[:, 12:], model(x2)[:, 12:])


def _expected_params(c: GPTConfig) -> int:
    C = c.n_embd
    norm = C * (2 if c.norm == "layernorm" and c.bias else 1)
    per_block = 3 * C * C + C * C + 2 * c.mlp_ratio * C * C + 2 * norm
    emb = c.vocab_size * C * (1 if c.tie_weights else 2)
    return emb + c.n_layer * per_block + norm


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_builds_and_counts_its_parameters(preset):
    cfg = gpt_config(preset)
    with torch.device("meta"):                   # no memory, even for gpt2-large
        model = GPT(cfg)
    assert model.num_params() == _expected_params(cfg)
    assert model.flops_per_token() == 6 * model.num_params() + 12 * cfg.n_layer * cfg.n_embd * cfg.block_size


@pytest.mark.parametrize("preset,millions", [("gpt2", 124), ("gpt2-medium", 350), ("gpt2-large", 774)])
def test_gpt2_sizes_match_their_names(preset, millions):
    with torch.device("meta"):
        n = GPT(gpt_config(preset)).num_params()
    assert abs(n / 1e6 - millions) / millions < 0.02


def test_small_presets_run_forward_and_backward():
    for preset in ("tiny", "shakespeare-char"):
        model = GPT(gpt_config(preset))
        x = torch.randint(0, model.config.vocab_size, (2, model.config.block_size))
        loss = model(x, x)
        loss.backward()
        assert math.isfinite(loss.item())


def test_initial_loss_is_near_uniform():
    torch.manual_seed(0)
    model = GPT(gpt_config("shakespeare-char"))
    x = torch.randint(0, 65, (4, 64))
    y = torch.randint(0, 65, (4, 64))
    assert abs(model(x, y).item() - math.log(65)) < 0.3


def test_zero_init_makes_every_block_the_identity():
    model = GPT(gpt_config("tiny", zero_init=True))
    x = torch.randn(2, 8, 32)
    for block in model.blocks:
        torch.testing.assert_close(block(x, model._rope(0, 8)), x)


def test_learned_positions_reject_sequences_longer_than_the_context():
    model = GPT(gpt_config("tiny", pos_emb="learned"))
    with pytest.raises(ShapeError, match="block_size"):
        model(torch.zeros(1, 33, dtype=torch.long))


def test_config_errors_list_every_problem_and_the_valid_keys():
    with pytest.raises(ConfigError) as e:
        make_config(GPTConfig, {"n_layers": 2, "n_head": "4", "dropout": "high"}, source="GPTConfig")
    msg = str(e.value)
    assert "n_layers" in msg and "'n_head' must be int" in msg and "'dropout' must be float" in msg
    assert "Valid keys:" in msg and "n_layer" in msg and "block_size" in msg


def test_config_value_errors():
    with pytest.raises(ConfigError) as e:
        gpt_config("tiny", n_embd=30, n_head=4, norm="batchnorm")
    assert "divisible" in str(e.value) and "batchnorm" in str(e.value)
    with pytest.raises(ConfigError, match="unknown GPT preset 'huge'"):
        gpt_config("huge")


def test_weight_tying_shares_the_embedding():
    m = GPT(gpt_config("tiny", tie_weights=True))
    assert m.lm_head.weight is m.wte.weight
    m = GPT(gpt_config("tiny", tie_weights=False))
    assert m.lm_head.weight is not m.wte.weight


def test_hidden_states_are_what_the_output_layer_reads():
    torch.manual_seed(0)
    model = GPT(gpt_config("tiny", zero_init=False))
    x = torch.randint(0, 64, (2, 16))
    torch.testing.assert_close(model.lm_head(model.hidden_states(x)), model(x), rtol=0, atol=0)
