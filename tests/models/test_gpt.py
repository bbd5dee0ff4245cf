import math

import pytest
import torch

from fromzero.errors import ConfigError, ShapeError
from fromzero.models.gpt import (GPT, MLP, PRESETS, FlashAttention, GPTConfig, LayerNormLinear, ReLUSquaredLinear,
                                 explicit_attention, fused_attention, gpt_config, norm_linear)


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
        GPTConfig.from_dict({"n_layers": 2, "n_head": "4", "dropout": "high"})
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


def _unfused_mlp(mlp, x):
    return mlp.proj(torch.relu(mlp.fc(x)).square())


def test_fused_relu_squared_projection_matches_autograd_in_float64():
    torch.manual_seed(0)
    mlp = MLP(GPTConfig(n_embd=8, n_head=2, bias=True)).double()
    h = torch.randn(2, 3, 32, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ReLUSquaredLinear.apply, (h, mlp.proj.weight, mlp.proj.bias))
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    grads = []
    for f in (mlp, lambda x: _unfused_mlp(mlp, x)):
        mlp.zero_grad()
        y = f(x)
        y.square().sum().backward()
        grads.append((y.detach(), [p.grad.clone() for p in mlp.parameters()]))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(a, b)


def test_fused_relu_squared_projection_under_bf16_autocast_matches_and_saves_less():
    torch.manual_seed(0)
    mlp = MLP(GPTConfig(n_embd=16, n_head=2))
    x = torch.randn(4, 8, 16)
    runs = []
    for f in (mlp, lambda x: _unfused_mlp(mlp, x)):
        saved = []
        mlp.zero_grad()
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = f(x)
        y.float().square().sum().backward()
        activations = sum(t.numel() * t.element_size() for t in saved if not isinstance(t, torch.nn.Parameter)
                          and all(t.data_ptr() != p.data_ptr() for p in mlp.parameters()))
        runs.append((y.float(), [p.grad.clone() for p in mlp.parameters()], activations))
    (y1, g1, saved1), (y2, g2, saved2) = runs
    torch.testing.assert_close(y1, y2)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=2e-2, atol=1e-3)
    assert saved1 < saved2 - 4 * 8 * 64 * 2 + 1   # the (4, 8, 64) bf16 relu² output is not kept


def test_mlp_wrapped_projection_falls_back_to_calling_the_module():
    mlp = MLP(GPTConfig(n_embd=8, n_head=2))
    calls = []
    mlp.proj.register_forward_hook(lambda *a: calls.append(1))
    mlp(torch.randn(1, 2, 8))
    assert not calls                                   # fused: the nn.Linear is not called

    class Wrapped(torch.nn.Module):
        def __init__(self, base):
            super().__init__()
            self.base = base

        def forward(self, x):
            calls.append(1)
            return self.base(x)

    mlp.proj = Wrapped(mlp.proj)
    x = torch.randn(1, 2, 8)
    torch.testing.assert_close(mlp(x), _unfused_mlp(mlp, x))
    assert calls


def _saved_bytes(fn, params=()):
    """Run ``fn()``; return its output and the bytes autograd saved for backward (parameters excluded)."""
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = fn()
    ptrs = {p.data_ptr() for p in params}
    return out, sum(t.numel() * t.element_size() for t in saved if t.data_ptr() not in ptrs)


def test_flash_attention_saving_bf16_matches_sdpa_and_saves_half():
    torch.manual_seed(0)
    qkv = torch.randn(2, 16, 3, 4, 8, requires_grad=True)         # (B, T, 3, nh, hs), as in the model
    q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))
    y_ref, saved_ref = _saved_bytes(lambda: fused_attention(q, k, v))
    y, saved = _saved_bytes(lambda: FlashAttention.apply(q, k, v, torch.bfloat16))
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0)          # the same forward kernel
    g = torch.randn_like(y)
    grad_ref = torch.autograd.grad(y_ref, qkv, g)[0]
    grad = torch.autograd.grad(y, qkv, g)[0]
    assert (grad - grad_ref).norm() <= 0.01 * grad_ref.norm()          # from bf16-rounded inputs
    assert saved <= saved_ref // 2 + q[..., 0].numel() * 4            # half, plus the logsumexp
    # saved in float32 instead, backward is SDPA's exactly
    y32 = FlashAttention.apply(q, k, v, torch.float32)
    torch.testing.assert_close(torch.autograd.grad(y32, qkv, g)[0], grad_ref)


def test_attention_saves_bf16_only_when_training_under_cpu_autocast():
    torch.manual_seed(0)
    model = GPT(gpt_config("tiny", zero_init=False))
    x = torch.randint(0, 64, (2, 16))
    calls = []
    orig = FlashAttention.forward
    FlashAttention.forward = staticmethod(lambda *a: calls.append(1) or orig(*a))
    try:
        model(x, x).backward()                                       # fp32: autograd's SDPA
        assert not calls
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            model(x)
        assert not calls                                             # nothing to save
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model(x, x).backward()
        assert len(calls) == model.config.n_layer
    finally:
        FlashAttention.forward = orig


@pytest.mark.parametrize("bias", [False, True])
def test_layernorm_linear_matches_autograd_in_float64(bias):
    torch.manual_seed(0)
    norm, lin = torch.nn.LayerNorm(8, bias=bias).double(), torch.nn.Linear(8, 5, bias=bias).double()
    with torch.no_grad():
        for p in norm.parameters():
            p.normal_()
    x = torch.randn(2, 3, 8, dtype=torch.float64, requires_grad=True)
    params = [x, *norm.parameters(), *lin.parameters()]

    def fused(x, *p):   # x, γ, [β], W, [b]
        gamma, beta, weight, bias_ = (p[0], p[1], p[2], p[3]) if bias else (p[0], None, p[1], None)
        return LayerNormLinear.apply(x, gamma, beta, weight, bias_, norm.eps, torch.float64)

    assert torch.autograd.gradcheck(fused, tuple(params))
    y, y_ref = fused(*params), lin(norm(x))
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y)
    for a, b in zip(torch.autograd.grad(y, params, g), torch.autograd.grad(y_ref, params, g)):
        torch.testing.assert_close(a, b)


def test_layernorm_linear_under_bf16_autocast_saves_less():
    torch.manual_seed(0)
    norm, lin = torch.nn.LayerNorm(16, bias=False), torch.nn.Linear(16, 32, bias=False)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(4, 8, 16, requires_grad=True)
    params = [x, norm.weight, lin.weight]
    runs = []
    for f in (lambda: norm_linear(norm, lin, x), lambda: lin(norm(x))):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y, saved = _saved_bytes(f, params[1:])
        g = torch.randn_like(y, dtype=torch.float32).bfloat16() if not runs else runs[0][3]
        runs.append((y.float(), torch.autograd.grad(y, params, g), saved, g))
    (y1, g1, saved1, _), (y2, g2, saved2, _) = runs
    torch.testing.assert_close(y1, y2)
    for a, b in zip(g1, g2):   # bf16 rounding of x̂ and h: about 2^-8 relative
        assert (a.float() - b.float()).norm() <= 0.01 * b.float().norm()
    assert saved1 <= saved2 - x.numel() * 4                        # the fp32 norm input is not kept
