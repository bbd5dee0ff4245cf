import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fromzero.errors import ShapeError
from fromzero.scratch import numerical_gradient
from fromzero.scratch.gpt import GPT, GPTConfig, gpt_backward, gpt_forward, lm_loss_backward, lm_loss_forward

from ._ref import assert_close

CFG = GPTConfig(vocab_size=7, block_size=6, n_layer=2, n_head=2, n_embd=8)


class TorchBlock(nn.Module):
    def __init__(self, C, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.attn, self.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.fc, self.fc_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.attn(self.ln1(x)).split(C, dim=-1)
        heads = [t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)]
        o = F.scaled_dot_product_attention(*heads, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.proj(o)
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class TorchGPT(nn.Module):
    """The same GPT written with torch.nn, weights copied from a scratch parameter dict."""

    def __init__(self, cfg, params):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(cfg.vocab_size, cfg.n_embd), nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(TorchBlock(cfg.n_embd, cfg.n_head) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.double()
        with torch.no_grad():
            for name, t in self.mapping().items():
                t.copy_(torch.from_numpy(params[name]))

    def mapping(self):
        m = {"wte": self.wte.weight, "wpe": self.wpe.weight,
             "ln_f.gamma": self.ln_f.weight, "ln_f.beta": self.ln_f.bias}
        for i, b in enumerate(self.blocks):
            for ours, mod in (("ln1", b.ln1), ("ln2", b.ln2)):
                m[f"h.{i}.{ours}.gamma"], m[f"h.{i}.{ours}.beta"] = mod.weight, mod.bias
            for ours, mod in (("attn", b.attn), ("attn.proj", b.proj), ("mlp.fc", b.fc),
                              ("mlp.proj", b.fc_proj)):
                m[f"h.{i}.{ours}.W"], m[f"h.{i}.{ours}.b"] = mod.weight, mod.bias
        return m

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.ln_f(x) @ self.wte.weight.T  # tied head


def random_params(cfg, seed):
    """Float64 parameters with non-trivial gains and biases (the default init has 1s and 0s)."""
    rng = np.random.default_rng(seed)
    p = GPT(cfg, seed=seed, dtype=np.float64).params
    return {k: v + rng.standard_normal(v.shape) * 0.3 for k, v in p.items()}


def test_gpt_gradients_match_an_equal_torch_model():
    params = random_params(CFG, 0)
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, CFG.vocab_size, (3, 5)), rng.integers(0, CFG.vocab_size, (3, 5))
    logits, cache = gpt_forward(params, x, CFG)
    loss, lcache = lm_loss_forward(logits, y)
    grads = gpt_backward(lm_loss_backward(lcache), cache)

    ref = TorchGPT(CFG, params)
    tloss = F.cross_entropy(ref(torch.from_numpy(x)).flatten(0, 1), torch.from_numpy(y).flatten())
    tloss.backward()
    assert_close(loss, tloss.item(), "loss")
    tensors = ref.mapping()
    assert sorted(grads) == sorted(params) == sorted(tensors)
    for name, t in tensors.items():
        assert_close(grads[name], t.grad.numpy(), name)


def test_gpt_gradients_match_finite_differences():
    cfg = GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=2, n_embd=4)
    params = random_params(cfg, 2)
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, (2, 4)), rng.integers(0, 5, (2, 4))
    logits, cache = gpt_forward(params, x, cfg)
    grads = gpt_backward(lm_loss_backward(lm_loss_forward(logits, y)[1]), cache)
    f = lambda: lm_loss_forward(gpt_forward(params, x, cfg)[0], y)[0]  # noqa: E731
    for name in ("wte", "wpe", "h.0.attn.W", "h.0.ln1.gamma", "h.0.mlp.fc.b", "ln_f.beta"):
        assert_close(grads[name], numerical_gradient(f, params[name]), f"{name} vs finite differences")


def test_gpt_is_causal_and_checks_its_input():
    model = GPT(CFG, dtype=np.float64)
    x = np.array([[1, 2, 3, 4]])
    x2 = x.copy()
    x2[0, 3] = 0  # a different last token leaves the earlier positions' logits as they were
    np.testing.assert_array_equal(model.forward(x)[0, :3], model.forward(x2)[0, :3])
    with pytest.raises(ShapeError, match=r"T <= block_size=6, received \(1, 7\)"):
        model.forward(np.zeros((1, 7), int))
    with pytest.raises(ShapeError, match=r"ids in \[0, 7\), received values in \[0, 9\]"):
        model.forward(np.array([[0, 9]]))
    with pytest.raises(RuntimeError, match="call loss"):
        model.backward()
    with pytest.raises(ShapeError, match="n_head dividing n_embd=8, received n_head=3"):
        GPTConfig(vocab_size=7, n_head=3, n_embd=8)


def test_float32_model_stays_float32():
    model = GPT(CFG)
    model.loss(np.array([[1, 2, 3]]), np.array([[2, 3, 4]]))
    model.backward()
    assert {g.dtype for g in model.grads.values()} == {np.dtype(np.float32)}
