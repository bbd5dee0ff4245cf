"""The hand-written kernels (``fromzero.kernels``): each backward against autograd (float64
exactly, bf16 within rounding), the bytes saved for backward, when each path is taken, and a
swapped model against the plain one."""
import pytest
import torch

from fromzero.kernels import (FlashAttention, KernelAttention, KernelBlock, KernelGPT, KernelMLP, LayerNormLinear,
                              ReLUSquaredLinear, norm_linear, use_kernels)
from fromzero.lora import add_lora
from fromzero.models.gpt import GPT, MLP, GPTConfig, fused_attention, gpt_config

bf16 = dict(device_type="cpu", dtype=torch.bfloat16)


def _saved_bytes(fn, params=()):
    """Run ``fn()``; return its output and the bytes autograd saved for backward (parameters excluded)."""
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = fn()
    ptrs = {p.data_ptr() for p in params}
    return out, sum(t.numel() * t.element_size() for t in saved if t.data_ptr() not in ptrs)


def _models(**kw):
    """A plain GPT and a copy of it through the kernels."""
    torch.manual_seed(0)
    plain = GPT(gpt_config("tiny", zero_init=False, **kw))
    fast = GPT(gpt_config("tiny", zero_init=False, **kw))
    fast.load_state_dict(plain.state_dict())
    return plain, use_kernels(fast)


def _unfused_mlp(mlp, x):
    return mlp.proj(torch.relu(mlp.fc(x)).square())


# --- ReLU² + projection ---------------------------------------------------------------------------

def test_fused_relu_squared_projection_matches_autograd_in_float64():
    torch.manual_seed(0)
    mlp = use_kernels(MLP(GPTConfig(n_embd=8, n_head=2, bias=True)).double())
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
    mlp = use_kernels(MLP(GPTConfig(n_embd=16, n_head=2)))
    x = torch.randn(4, 8, 16)
    runs = []
    for f in (mlp, lambda x: _unfused_mlp(mlp, x)):
        mlp.zero_grad()
        with torch.autocast(**bf16):
            y, activations = _saved_bytes(lambda: f(x), mlp.parameters())
        y.float().square().sum().backward()
        runs.append((y.float(), [p.grad.clone() for p in mlp.parameters()], activations))
    (y1, g1, saved1), (y2, g2, saved2) = runs
    torch.testing.assert_close(y1, y2)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=2e-2, atol=1e-3)
    assert saved1 < saved2 - 4 * 8 * 64 * 2 + 1   # the (4, 8, 64) bf16 relu² output is not kept


def test_mlp_wrapped_projection_falls_back_to_calling_the_module():
    mlp = use_kernels(MLP(GPTConfig(n_embd=8, n_head=2)))
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


# --- attention ------------------------------------------------------------------------------------

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


def _count_calls(fn_cls, monkeypatch):
    calls = []
    orig = fn_cls.forward
    monkeypatch.setattr(fn_cls, "forward", staticmethod(lambda *a: calls.append(1) or orig(*a)))
    return calls


def test_attention_saves_bf16_only_when_training_under_cpu_autocast(monkeypatch):
    _, model = _models()
    x = torch.randint(0, 64, (2, 16))
    calls = _count_calls(FlashAttention, monkeypatch)
    model(x, x).backward()                                       # fp32: autograd's SDPA
    assert not calls
    with torch.no_grad(), torch.autocast(**bf16):
        model(x)
    assert not calls                                             # nothing to save
    with torch.autocast(**bf16):
        model(x, x).backward()
    assert len(calls) == model.config.n_layer


def test_attention_runs_in_fp32_under_cpu_autocast(monkeypatch):
    _, model = _models()
    dtypes = []
    orig = model.blocks[0].attn.heads
    monkeypatch.setattr(model.blocks[0].attn, "heads", lambda qkv, *a: dtypes.append(qkv.dtype) or orig(qkv, *a))
    with torch.no_grad(), torch.autocast(**bf16):
        model(torch.randint(0, 64, (2, 16)))
    assert dtypes == [torch.float32]


# --- LayerNorm + Linear ---------------------------------------------------------------------------

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
        with torch.autocast(**bf16):
            y, saved = _saved_bytes(f, params[1:])
        g = torch.randn_like(y, dtype=torch.float32).bfloat16() if not runs else runs[0][3]
        runs.append((y.float(), torch.autograd.grad(y, params, g), saved, g))
    (y1, g1, saved1, _), (y2, g2, saved2, _) = runs
    torch.testing.assert_close(y1, y2)
    for a, b in zip(g1, g2):   # bf16 rounding of x̂ and h: about 2^-8 relative
        assert (a.float() - b.float()).norm() <= 0.01 * b.float().norm()
    assert saved1 <= saved2 - x.numel() * 4                        # the fp32 norm input is not kept


# --- the swap -------------------------------------------------------------------------------------

def test_the_swap_keeps_parameters_and_state_dict_keys():
    plain, fast = _models()
    assert [type(m) for m in (fast, fast.blocks[0], fast.blocks[0].attn, fast.blocks[0].mlp)] == \
        [KernelGPT, KernelBlock, KernelAttention, KernelMLP]
    assert isinstance(fast, GPT) and list(fast.state_dict()) == list(plain.state_dict())
    params = list(fast.parameters())
    assert use_kernels(fast) is fast and list(fast.parameters()) == params   # again: nothing changes
    net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    assert type(use_kernels(net)[0]) is torch.nn.Linear                        # not a GPT: left alone


@pytest.mark.parametrize("kw", [{}, {"attention": "explicit", "pos_emb": "learned", "bias": True, "qk_norm": False},
                                {"activation": "gelu", "norm": "rmsnorm"}])
def test_the_swapped_model_computes_the_same_in_fp32(kw):
    plain, fast = _models(**kw)
    x, y = torch.randint(0, 64, (3, 32)), torch.randint(0, 64, (3, 32))
    torch.testing.assert_close(fast(x), plain(x), rtol=0, atol=0)
    torch.testing.assert_close(fast.hidden_states(x), plain.hidden_states(x), rtol=0, atol=0)
    lp, lf = plain(x, y), fast(x, y)
    torch.testing.assert_close(lf, lp, rtol=0, atol=0)
    lp.backward()
    lf.backward()
    for (name, p), q in zip(plain.named_parameters(), fast.parameters()):
        torch.testing.assert_close(q.grad, p.grad, msg=name)


def test_the_swapped_model_under_cpu_bf16_autocast_matches_and_saves_less():
    plain, fast = _models()
    x, y = torch.randint(0, 64, (4, 32)), torch.randint(0, 64, (4, 32))
    runs = []
    for model in (plain, fast):
        with torch.autocast(**bf16):
            loss, saved = _saved_bytes(lambda: model(x, y), model.parameters())
        loss.backward()
        runs.append((loss.item(), [p.grad for p in model.parameters()], saved))
    (lp, gp, saved_plain), (lf, gf, saved_fast) = runs
    assert lf == pytest.approx(lp, rel=1e-2)
    for a, b in zip(gf, gp):   # bf16 rounding, here and there
        assert (a - b).norm() <= 0.03 * b.norm()
    assert saved_fast < 0.8 * saved_plain


def test_a_few_training_steps_under_cpu_bf16_autocast_match_the_plain_model():
    plain, fast = _models()
    torch.manual_seed(1)
    batches = [(torch.randint(0, 64, (4, 32)), torch.randint(0, 64, (4, 32))) for _ in range(3)]
    losses = []
    for model in (plain, fast):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        for x, y in batches:
            with torch.autocast(**bf16):
                loss = model(x, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses.append(loss.item())
    assert losses[1] == pytest.approx(losses[0], rel=2e-2)


def test_lora_wrapped_layers_take_the_plain_path(monkeypatch):
    plain, fast = _models()
    add_lora(plain, rank=2)
    add_lora(fast, rank=2)
    fused = _count_calls(LayerNormLinear, monkeypatch)
    relu2 = _count_calls(ReLUSquaredLinear, monkeypatch)
    x = torch.randint(0, 64, (2, 16))
    with torch.autocast(**bf16):
        fast(x, x).backward()
    assert len(fused) == 1 and not relu2              # only the output layer is not adapted
    torch.testing.assert_close(fast(x), plain(x), rtol=0, atol=0)
