"""Hand-written kernels that make training a GPT cheaper, applied to a finished model.

``use_kernels(model)`` swaps the class of each ``GPT``, ``Block``, ``CausalSelfAttention`` and
``MLP`` in ``model`` for a subclass below that computes the same through these kernels (as FSDP's
``fully_shard`` swaps classes): parameters and state-dict keys stay the same. The recipes apply it
where they build the model. ``ReLUSquaredLinear`` (the MLP's ReLU² and projection, keeping the
hidden activation once) runs always; under CPU bf16 autocast attention runs in fp32 (the CPU
attention kernels are faster in fp32 than in bf16), and in training ``LayerNormLinear`` and
``FlashAttention`` keep what they save for backward in bf16. tests/test_kernels.py checks each
backward pass against autograd.

Example:
    >>> import torch
    >>> from fromzero.models.gpt import GPT, gpt_config
    >>> model = use_kernels(GPT(gpt_config("tiny")))
    >>> type(model.blocks[0].attn).__name__
    'KernelAttention'
    >>> idx = torch.zeros(2, 8, dtype=torch.long)
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     model(idx, idx).backward()
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .models.gpt import GPT, MLP, Block, CausalSelfAttention, fused_attention


def _cpu_autocast(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and torch.is_autocast_enabled("cpu")


# --- the kernels ----------------------------------------------------------------------------------

class FlashAttention(torch.autograd.Function):
    """Causal attention with torch's CPU flash kernel, keeping q, k, v and its output for backward
    in ``save_dtype``.

    Under CPU bf16 autocast attention runs in fp32 (``KernelAttention``); saving its four
    (B, nh, T, hs) tensors in bf16, as autocast rounds what every matrix product saves, halves
    the largest tensors a block keeps for backward. The forward pass is the same kernel as
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
            and _cpu_autocast(x) and torch.is_grad_enabled()):
        return LayerNormLinear.apply(x, norm.weight, norm.bias, linear.weight, linear.bias, norm.eps,
                                     torch.bfloat16)
    return linear(norm(x))


# --- the GPT's modules, through the kernels --------------------------------------------------------

class KernelAttention(CausalSelfAttention):
    """``CausalSelfAttention`` of x before its norm, which ``norm_linear`` applies with ``qkv``;
    under CPU bf16 autocast the heads run in fp32, saving bf16 (``cpu_attention_bf16_saved``)."""

    def forward(self, x, rope=None, cache=None, norm=None):                  # x: (B, T, C)
        B, T, C = x.shape
        qkv = norm_linear(norm, self.qkv, x).view(B, T, 3, self.n_head, self.hs)  # (B, T, 3, nh, hs)
        if _cpu_autocast(qkv):
            with torch.autocast("cpu", enabled=False):
                attend = cpu_attention_bf16_saved if self.attend is fused_attention else self.attend
                y = self.heads(qkv.float(), rope, cache, attend)
        else:
            y = self.heads(qkv, rope, cache, self.attend)                     # (B, T, nh, hs)
        y = self.proj(y.reshape(B, T, C))                                     # (B, T, C)
        return self.resid_drop(y) if self.dropout else y


class KernelMLP(MLP):
    """``MLP`` of x before its norm, which ``norm_linear`` applies with ``fc``; ReLU² and the output
    projection run as one ``ReLUSquaredLinear``."""

    def forward(self, x, norm=None):                       # x: (B, T, C)
        h = norm_linear(norm, self.fc, x)                  # (B, T, 4C)
        if self.relu2 and type(self.proj) is nn.Linear:    # a wrapped (LoRA) projection: the plain path
            y = ReLUSquaredLinear.apply(h, self.proj.weight, self.proj.bias)
        else:
            y = self.proj(torch.relu(h).square() if self.relu2 else F.gelu(h, approximate=self.gelu))
        return self.drop(y) if self.drop.p else y


class KernelBlock(Block):
    """``Block`` whose sublayers apply its norms together with their first Linear."""

    def forward(self, x, rope=None, cache=None):           # x: (B, T, C)
        x = x + self.attn(x, rope, cache, norm=self.norm1)
        return x + self.mlp(x, norm=self.norm2)


class KernelGPT(GPT):
    """``GPT`` whose final norm and output layer run through ``norm_linear``."""

    def forward(self, idx, targets=None, cache=None):
        x = self.trunk(idx, cache)                          # (B, T, C)
        logits = norm_linear(self.norm_f, self.lm_head, x if cache is None else x[:, -1:, :])
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)


KERNEL_CLASSES = {GPT: KernelGPT, Block: KernelBlock, CausalSelfAttention: KernelAttention, MLP: KernelMLP}


def use_kernels(model: nn.Module) -> nn.Module:
    """Make every GPT module in ``model`` compute through the kernels (in place); return ``model``.

    ``model`` may be a GPT or hold GPTs (a classifier's backbone); other modules are left as they
    are, so any model may pass through. Apply it to the finished model, before parallelism or
    ``torch.compile`` wraps it; a LoRA adapter added before or after it takes the plain path.
    """
    for m in model.modules():
        if type(m) in KERNEL_CLASSES:
            m.__class__ = KERNEL_CLASSES[type(m)]
    return model
