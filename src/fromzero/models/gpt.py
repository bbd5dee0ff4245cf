"""GPT: a decoder-only Transformer language model (tutorial 1.2.5 Transformer, 1.3.6 self-attention).

The model is a stack of blocks, each ``x + attention(norm(x))`` then ``x + mlp(norm(x))``.
Self-attention is the formula ``softmax(Q Kᵀ / √d + M) V`` with a causal mask ``M`` (a token
sees itself and the tokens before it, never the ones after). ``explicit_attention`` writes it
out; ``attention="sdpa"`` (the default) computes the same thing with torch's fused kernel.

Modern choices that help small models are config fields with tested defaults: rotary position
embeddings, QK-norm, ReLU², weight tying, zero-initialised output projections; LayerNorm or
RMSNorm (LayerNorm is the default: same loss here, and on CPUs its fused backward kernel is 4x
faster than RMSNorm's). docs/gpt.md has the measurements behind each default.

Example:
    >>> import torch
    >>> model = GPT(gpt_config("tiny", vocab_size=65))
    >>> idx = torch.randint(0, 65, (2, 16))
    >>> model(idx).shape                  # logits
    torch.Size([2, 16, 65])
    >>> model(idx, idx).ndim              # with targets: the mean cross-entropy
    0
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import make_config, register_model
from ..errors import ConfigError, ShapeError

CHOICES = {"activation": ("relu2", "gelu"), "norm": ("layernorm", "rmsnorm"),
           "pos_emb": ("rope", "learned"), "attention": ("sdpa", "explicit")}


@dataclass
class GPTConfig:
    """Hyper-parameters of a GPT. ``vocab_size`` comes from the tokenizer when pre-training."""
    vocab_size: int = 50304      # GPT-2's 50257 padded to a multiple of 64
    block_size: int = 1024       # context length T
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768            # C; head size = n_embd // n_head
    mlp_ratio: int = 4           # MLP hidden size = mlp_ratio * n_embd
    activation: str = "relu2"    # relu2 (ReLU squared) | gelu
    norm: str = "layernorm"      # layernorm (no bias unless bias=True) | rmsnorm
    pos_emb: str = "rope"        # rope (rotary) | learned (GPT-2's position table)
    rope_base: float = 10000.0
    qk_norm: bool = True         # normalise each head's queries and keys (with `norm`)
    tie_weights: bool = True     # the output layer reuses the token embedding matrix
    zero_init: bool = True       # output projections start at zero: each block starts as identity
    bias: bool = False           # biases in Linear layers and LayerNorm
    dropout: float = 0.0
    attention: str = "sdpa"      # sdpa (fused kernel) | explicit (the formula, written out)
    init_std: float = 0.02

    def __post_init__(self):
        problems = [f"{k}={getattr(self, k)!r} is not one of {', '.join(v)}"
                    for k, v in CHOICES.items() if getattr(self, k) not in v]
        for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "mlp_ratio"):
            if not getattr(self, k) >= 1:
                problems.append(f"{k} must be at least 1, got {getattr(self, k)!r}")
        if self.n_head >= 1 and self.n_embd % self.n_head:
            problems.append(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        elif self.pos_emb == "rope" and self.n_head >= 1 and (self.n_embd // self.n_head) % 2:
            problems.append(f"rope needs an even head size, got n_embd/n_head = {self.n_embd // self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout!r}")
        if problems:
            raise ConfigError("GPTConfig: " + "; ".join(problems))

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        """Build from a dict; every unknown key and wrong type is reported at once (``ConfigError``)."""
        return make_config(cls, dict(d), source="GPTConfig")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Named sizes. "shakespeare-char" is nanoGPT's CPU configuration of its shakespeare_char example.
# The CPU sizes leave QK-norm off: on Tiny Shakespeare it gained ~0.008 validation loss (about
# seed noise) for ~5% more time per step on a CPU (docs/gpt.md); the GPU sizes keep it.
PRESETS: dict[str, dict] = {
    "tiny": dict(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=64),
    "shakespeare-char": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, qk_norm=False),
    "tang-char": dict(n_layer=4, n_head=4, n_embd=128, block_size=128, vocab_size=6431, qk_norm=False),
    "cpu-small": dict(n_layer=6, n_head=6, n_embd=192, block_size=128, vocab_size=4096, qk_norm=False),
    "cpu-medium": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=4096, qk_norm=False),
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768, block_size=1024),           # 124M
    "gpt2-medium": dict(n_layer=24, n_head=16, n_embd=1024, block_size=1024),   # 350M
    "gpt2-large": dict(n_layer=36, n_head=20, n_embd=1280, block_size=1024),    # 774M
}


def gpt_config(preset: str = "tiny", **overrides) -> GPTConfig:
    """The config of a named preset, with some fields overridden.

    Example:
        >>> gpt_config("shakespeare-char", dropout=0.1).n_embd
        128
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown GPT preset {preset!r}; expected one of: {', '.join(PRESETS)}")
    return GPTConfig.from_dict({**PRESETS[preset], **overrides})


# --- attention -----------------------------------------------------------------------------------

def causal_mask(t_q: int, t_k: int, device=None) -> torch.Tensor:
    """(t_q, t_k) booleans, True where query i may look at key j. The queries are the last t_q
    of the t_k positions, so query i sits at position t_k - t_q + i and sees keys 0..t_k - t_q + i."""
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(diagonal=t_k - t_q)


def explicit_attention(q, k, v, dropout_p: float = 0.0, training: bool = False) -> torch.Tensor:
    """Causal self-attention, the formula written out: softmax(Q Kᵀ / √d + M) V.

    Args:
        q: queries (B, nh, Tq, hs); k, v: keys and values (B, nh, Tk, hs), Tk >= Tq.
    """
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(-1)))        # (B, nh, Tq, Tk)
    att = att.masked_fill(~causal_mask(q.size(-2), k.size(-2), q.device), float("-inf"))
    att = F.softmax(att, dim=-1)                                            # each row sums to 1
    att = F.dropout(att, dropout_p, training)
    return att @ v                                                          # (B, nh, Tq, hs)


def fused_attention(q, k, v, dropout_p: float = 0.0, training: bool = False) -> torch.Tensor:
    """The same as ``explicit_attention``, with torch's fused scaled_dot_product_attention."""
    t_q, t_k = q.size(-2), k.size(-2)
    p = dropout_p if training else 0.0
    if t_q == t_k:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
    if t_q == 1:  # one new token looks at every cached position
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(t_q, t_k, q.device), dropout_p=p)


class FlashAttention(torch.autograd.Function):
    """Causal attention with torch's CPU flash kernel, keeping q, k, v and its output for backward
    in ``save_dtype``.

    Under CPU bf16 autocast attention runs in fp32 (see ``CausalSelfAttention.forward``); saving
    its four (B, nh, T, hs) tensors in bf16, as autocast rounds what every matrix product saves,
    halves the largest tensors a block keeps for backward. The forward pass is the same kernel as
    ``fused_attention``; backward gets the saved tensors back in the input's dtype.
    """

    @staticmethod
    def forward(ctx, q, k, v, save_dtype: torch.dtype):
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, True)
        ctx.save_for_backward(*(t.to(save_dtype) for t in (q, k, v, out)), lse)
        return out

    @staticmethod
    def backward(ctx, grad):
        *qkvo, lse = ctx.saved_tensors
        q, k, v, out = (t.to(grad.dtype) for t in qkvo)
        return (*torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
            grad, q, k, v, out, lse, 0.0, True), None)


def cpu_attention_bf16_saved(q, k, v, dropout_p: float = 0.0, training: bool = False) -> torch.Tensor:
    """``fused_attention``, through ``FlashAttention`` saving bf16 where it applies (CPU fp32
    tensors that need gradients, causal self-attention without dropout)."""
    if (q.device.type == "cpu" and q.dtype == torch.float32 and torch.is_grad_enabled()
            and q.requires_grad and q.size(-2) == k.size(-2) and not (training and dropout_p)
            and hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu_backward")):
        return FlashAttention.apply(q, k, v, torch.bfloat16)
    return fused_attention(q, k, v, dropout_p, training)


# --- rotary position embeddings -------------------------------------------------------------------

def rope_table(n: int, head_size: int, base: float, device=None, start: int = 0) -> torch.Tensor:
    """e^{i·pos·θ_j} for positions [start, start + n) and θ_j = base^(-2j/hs): complex (n, hs/2)."""
    inv_freq = base ** (-torch.arange(0, head_size, 2, device=device, dtype=torch.float32) / head_size)
    pos = torch.arange(start, start + n, device=device, dtype=torch.float32)
    angles = torch.outer(pos, inv_freq)                                          # (n, hs/2)
    return torch.polar(torch.ones_like(angles), angles)


def apply_rope(x, freqs):
    """Rotary position embedding: turn each pair (x[2j], x[2j+1]) by the angle pos·θ_j.

    Seen as the complex number x[2j] + i·x[2j+1], the turn is a product with e^{i·pos·θ_j}, so
    query·key depends only on the distance between their positions.
    x: (..., T, [2,] nh, hs); freqs: complex, broadcast against it, e.g. (T, 1, 1, hs/2).
    """
    xc = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))                # (..., hs/2) complex
    return torch.view_as_real(xc * freqs).flatten(-2).type_as(x)


class ReLUSquared(torch.autograd.Function):
    """relu(x)², with a hand-written backward 2·relu(x)·grad: one saved tensor, in-place kernels."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.relu(x).square_()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return torch.relu(x).mul_(grad).mul_(2.0)


def relu_squared(x):
    if torch.is_grad_enabled() and x.requires_grad:
        return ReLUSquared.apply(x)
    return torch.relu(x).square()


class ReLUSquaredLinear(torch.autograd.Function):
    """``linear(relu(h)², W, b)`` that saves ``h`` but not ``a = relu(h)²``: backward recomputes ``a``.

    Run as two autograd ops, the MLP's hidden activation would be saved twice (``h`` for the
    activation's backward, ``a`` for the projection's); it is the largest tensor a block saves
    (4·C per token): saving it once cuts the activations that ``shakespeare-char`` keeps for
    backward under bf16 autocast by 18% (19.6 to 16.1 MB) for one more element-wise op.
    With ``a = relu(h)²`` and ``y = a·Wᵀ + b``:
    ∂a = ∂y·W,  ∂h = ∂a · 2·relu(h),  ∂W = ∂yᵀ·a,  ∂b = Σ ∂y  (dtypes follow ``∂y``, as under autocast).
    """

    @staticmethod
    def forward(ctx, h, weight, bias):
        ctx.save_for_backward(h, weight)
        ctx.has_bias = bias is not None
        return F.linear(torch.relu(h).square(), weight, bias)

    @staticmethod
    def backward(ctx, grad):                                        # grad: (..., out)
        h, weight = ctx.saved_tensors
        g = grad.reshape(-1, grad.shape[-1])                        # (N, out)
        r = torch.relu(h)
        a = r.square().reshape(-1, h.shape[-1])                     # (N, hidden), recomputed
        grad_h = r.mul_(grad @ weight.to(grad.dtype)).mul_(2.0)     # r is not needed after this
        grad_w = (g.t() @ a.to(g.dtype)).to(weight.dtype)           # (out, hidden)
        grad_b = g.sum(0).to(weight.dtype) if ctx.has_bias else None
        return grad_h, grad_w, grad_b


class LayerNormLinear(torch.autograd.Function):
    """``linear(layer_norm(x), W, b)`` that keeps x̂ = (x − μ)·rstd for backward in bf16, not ``x`` in fp32.

    Each pre-norm sublayer starts with a LayerNorm and a Linear: run as two autograd ops under
    bf16 autocast they save the norm's fp32 input (4 bytes per feature) and the Linear's bf16
    input (2 more). x̂ in bf16 (2 bytes) is enough for both backward passes: LayerNorm's
    gradient depends on ``x`` only through x̂ and rstd, and the Linear's input is h = x̂·γ + β.
    With it ``shakespeare-char`` saves 8.8 MB of activations per step instead of 13.1. With ∂h = ∂y·W:
    ∂W = ∂yᵀ·h,  ∂b = Σ ∂y,  ∂γ = Σ ∂h·x̂,  ∂β = Σ ∂h,
    ∂x = rstd·(∂x̂ − mean(∂x̂) − x̂·mean(∂x̂·x̂)) with ∂x̂ = ∂h·γ (``fromzero.scratch.norm``).
    ``save_dtype`` is the dtype x̂ is kept in (bf16 in training; float64 checks the formulas).
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, weight, bias, eps: float, save_dtype: torch.dtype):
        xhat, _, rstd = torch.native_layer_norm(x, x.shape[-1:], None, None, eps)
        h = xhat * gamma if beta is None else torch.addcmul(beta, xhat, gamma)
        ctx.save_for_backward(xhat.to(save_dtype), rstd, gamma, beta, weight)
        ctx.has_bias = bias is not None
        return F.linear(h, weight, bias)

    @staticmethod
    def backward(ctx, grad):                                        # grad: (..., out)
        xs, rstd, gamma, beta, weight = ctx.saved_tensors
        h = xs * gamma.to(xs.dtype)                                 # recomputed, in the saved dtype
        if beta is not None:
            h += beta.to(xs.dtype)
        g = grad.reshape(-1, grad.shape[-1])                        # (N, out)
        grad_w = (g.t() @ h.reshape(-1, h.shape[-1]).to(g.dtype)).to(weight.dtype)
        grad_b = g.sum(0).to(weight.dtype) if ctx.has_bias else None
        grad_h = (grad @ weight.to(grad.dtype)).to(rstd.dtype)     # (..., C)
        # the LayerNorm backward kernel reads x; any x with the same x̂ and rstd will do: x̂/rstd
        grad_x, grad_gamma, grad_beta = torch.ops.aten.native_layer_norm_backward(
            grad_h, xs / rstd, xs.shape[-1:], torch.zeros_like(rstd), rstd, gamma, beta,
            [True, True, beta is not None])
        return grad_x, grad_gamma, grad_beta, grad_w, grad_b, None, None


def norm_linear(norm: nn.Module | None, linear: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``linear(norm(x))`` (``linear(x)`` without a norm): through ``LayerNormLinear`` when training
    under CPU bf16 autocast with a plain LayerNorm and Linear (not a LoRA-wrapped one)."""
    if norm is None:
        return linear(x)
    if (type(norm) is nn.LayerNorm and norm.weight is not None and type(linear) is nn.Linear
            and x.device.type == "cpu" and torch.is_autocast_enabled("cpu") and torch.is_grad_enabled()):
        return LayerNormLinear.apply(x, norm.weight, norm.bias, linear.weight, linear.bias, norm.eps,
                                     torch.bfloat16)
    return linear(norm(x))


# --- the model ------------------------------------------------------------------------------------

def make_norm(config: GPTConfig) -> nn.Module:
    if config.norm == "rmsnorm":
        return nn.RMSNorm(config.n_embd)
    return nn.LayerNorm(config.n_embd, bias=config.bias)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.layer_idx, self.n_head, self.hs = layer_idx, config.n_head, config.head_size
        self.qk_norm, self.dropout = config.qk_norm, config.dropout
        self.norm_qk = F.rms_norm if config.norm == "rmsnorm" else F.layer_norm
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_drop = nn.Dropout(config.dropout)
        self.attend = explicit_attention if config.attention == "explicit" else fused_attention

    def forward(self, x, rope=None, cache=None, norm=None):
        B, T, C = x.shape
        qkv = norm_linear(norm, self.qkv, x).view(B, T, 3, self.n_head, self.hs)  # (B, T, 3, nh, hs)
        if qkv.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            # CPU bf16 autocast: bf16 pays off in the matrix products, but the CPU attention
            # kernels (and small element-wise ones) are faster in fp32, so attention runs in fp32
            # (keeping what it saves for backward in bf16, as autocast does for the products)
            with torch.autocast("cpu", enabled=False):
                attend = cpu_attention_bf16_saved if self.attend is fused_attention else self.attend
                y = self._attend(qkv.float(), rope, cache, attend)
        else:
            y = self._attend(qkv, rope, cache, self.attend)
        y = self.proj(y.reshape(B, T, C))                                     # (B, T, C)
        return self.resid_drop(y) if self.dropout else y

    def _attend(self, qkv, rope, cache, attend):
        qk, v = qkv[:, :, :2], qkv[:, :, 2]                                   # queries and keys together
        if self.qk_norm:                                                      # normalise each head's q, k
            qk = self.norm_qk(qk, (self.hs,))
        if rope is not None:
            qk = apply_rope(qk, rope)
        q, k = qk.unbind(2)                                                   # each (B, T, nh, hs)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)    # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)                         # (B, nh, Tk, hs)
        y = attend(q, k, v, self.dropout, self.training)                      # (B, nh, T, hs)
        return y.transpose(1, 2)                                              # (B, T, nh, hs)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        hidden = config.mlp_ratio * config.n_embd
        self.fc = nn.Linear(config.n_embd, hidden, bias=config.bias)
        self.proj = nn.Linear(hidden, config.n_embd, bias=config.bias)
        self.relu2 = config.activation == "relu2"
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x, norm=None):                       # (B, T, C)
        h = norm_linear(norm, self.fc, x)                  # (B, T, 4C)
        if self.relu2 and type(self.proj) is nn.Linear:    # not when wrapped (LoRA): see ReLUSquaredLinear
            h = ReLUSquaredLinear.apply(h, self.proj.weight, self.proj.bias)
        else:
            h = self.proj(relu_squared(h) if self.relu2 else F.gelu(h))  # (B, T, C)
        return self.drop(h) if self.drop.p else h


class Block(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.norm1, self.attn = make_norm(config), CausalSelfAttention(config, layer_idx)
        self.norm2, self.mlp = make_norm(config), MLP(config)

    def forward(self, x, rope=None, cache=None):
        # pre-norm: x + attn(norm1(x)), x + mlp(norm2(x)); each sublayer applies its norm together
        # with its first Linear (``norm_linear``), which saves less for backward
        x = x + self.attn(x, rope, cache, norm=self.norm1)
        return x + self.mlp(x, norm=self.norm2)


@register_model("gpt", config_cls=GPTConfig)
class GPT(nn.Module):
    """A GPT language model: ``model(idx)`` gives logits, ``model(idx, targets)`` the loss.

    Args:
        config: a ``GPTConfig`` (see ``gpt_config`` for the named presets).

    ``forward(idx, targets=None, cache=None)``: ``idx`` is (B, T) token ids. With ``targets``
    (B, T) it returns the mean cross-entropy (targets of -1 are ignored); without, the logits
    (B, T, vocab_size). With a ``KVCache`` (generation) the new tokens attend to the cached
    positions too, and only the last position's logits (B, 1, vocab_size) are computed.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.block_size, c.n_embd) if c.pos_emb == "learned" else None
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c, i) for i in range(c.n_layer))
        self.norm_f = make_norm(c)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight
        if c.pos_emb == "rope":
            self._set_rope(c.block_size)
        self.apply(self._init_weights)
        for block in self.blocks:
            for proj in (block.attn.proj, block.mlp.proj):
                if c.zero_init:
                    nn.init.zeros_(proj.weight)
                else:  # GPT-2: scale the residual projections by 1/sqrt(2 * n_layer)
                    nn.init.normal_(proj.weight, std=c.init_std / math.sqrt(2 * c.n_layer))

    def _init_weights(self, m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=self.config.init_std)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def _set_rope(self, n: int):
        freqs = rope_table(n, self.config.head_size, self.config.rope_base, self.wte.weight.device)
        self.register_buffer("rope_freqs", freqs, persistent=False)   # (n, hs/2) complex

    def _rope(self, start: int, T: int):
        if self.config.pos_emb != "rope":
            return None
        table = self.rope_freqs
        if start + T > table.size(0):  # generation past block_size with a sliding cache
            ext = getattr(self, "_rope_ext", None)                 # (not a buffer: never saved)
            if ext is None or ext.size(0) < start + T or ext.device != table.device:
                n = max(2 * table.size(0), 2 * (start + T))
                ext = self._rope_ext = rope_table(n, self.config.head_size, self.config.rope_base, table.device)
            table = ext
        return table[start:start + T, None, None, :]        # (T, 1, 1, hs/2): over q/k and heads

    def forward(self, idx, targets=None, cache=None):
        B, T = idx.shape
        start = 0 if cache is None else cache.pos
        if self.wpe is not None and start + T > self.config.block_size:
            raise ShapeError(f"positions {start}..{start + T - 1} exceed block_size "
                             f"{self.config.block_size} of this learned-position model")
        if cache is None and T > self.config.block_size:
            raise ShapeError(f"sequence length {T} exceeds block_size {self.config.block_size}")
        x = self.wte(idx)                                   # (B, T, C)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(start, start + T, device=idx.device))
        x = self.drop(x)
        rope = self._rope(start, T)
        for block in self.blocks:
            x = block(x, rope, cache)
        if cache is not None:
            cache.advance(T)
            x = x[:, -1:, :]                                # (B, 1, C): only the next token matters
        logits = norm_linear(self.norm_f, self.lm_head, x)  # (B, T, vocab_size)
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)

    def hidden_states(self, idx):
        """The final normalised hidden states (B, T, n_embd) of ``idx`` (B, T), before the output
        layer: what a task head reads when fine-tuning (``fromzero.finetune``). The same computation
        as ``forward`` without a cache."""
        B, T = idx.shape
        if T > self.config.block_size:
            raise ShapeError(f"sequence length {T} exceeds block_size {self.config.block_size}")
        x = self.wte(idx)                                   # (B, T, C)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(T, device=idx.device))
        x = self.drop(x)
        rope = self._rope(0, T)
        for block in self.blocks:
            x = block(x, rope)
        return self.norm_f(x)                               # (B, T, C)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count (tied weights once); learned position embeddings excluded by default,
        since they cost no matmul FLOPs. The tied token embedding counts: it is the output layer."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and self.wpe is not None:
            n -= self.wpe.weight.numel()
        return n

    def flops_per_token(self, T: int | None = None) -> int:
        """Training FLOPs per token ≈ 6N + 12·L·H·Q·T (PaLM appendix B; nanoGPT's estimate_mfu)."""
        c = self.config
        return 6 * self.num_params() + 12 * c.n_layer * c.n_head * c.head_size * (T or c.block_size)


class KVCache:
    """Keys and values of the positions seen so far, for every layer: generation without recompute.

    Each layer's keys and values are (B, nh, max_len, hs) buffers; ``len`` of them are filled.
    ``pos`` is the absolute position of the next token. Once full, the buffers work as a ring:
    a new token overwrites the oldest position (slot ``pos % max_len``), so a rotary model keeps
    a sliding window of the last ``max_len`` positions (its attention only depends on relative
    positions, and one query attends to its keys in any order).
    """

    def __init__(self, config: GPTConfig, batch_size: int, max_len: int | None = None,
                 device=None, dtype=torch.float32):
        self.max_len = max_len or config.block_size
        shape = (config.n_layer, batch_size, config.n_head, self.max_len, config.head_size)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.ks, self.vs = self.k.unbind(0), self.v.unbind(0)   # per-layer views (B, nh, max_len, hs)
        self.len = self.pos = 0

    def update(self, layer: int, k, v):
        """Store the new keys/values k, v (B, nh, T, hs); return all of this layer's so far."""
        T, end = k.size(2), self.len + k.size(2)
        ks, vs = self.ks[layer], self.vs[layer]
        if end <= self.max_len:                                 # append
            ks.narrow(2, self.len, T).copy_(k)
            vs.narrow(2, self.len, T).copy_(v)
            return ks.narrow(2, 0, end), vs.narrow(2, 0, end)
        if T != 1 or self.len != self.max_len:
            raise ShapeError(f"KV cache overflow: {T} new positions after {self.len} in a cache of "
                             f"{self.max_len}; past the end, only one token at a time")
        slot = self.pos % self.max_len                          # full: replace the oldest position
        ks.narrow(2, slot, 1).copy_(k)
        vs.narrow(2, slot, 1).copy_(v)
        return ks, vs

    def advance(self, T: int):
        self.len = min(self.len + T, self.max_len)
        self.pos += T

    def reset(self):
        self.len = self.pos = 0
