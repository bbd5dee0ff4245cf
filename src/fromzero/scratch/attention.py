"""1.3.6 self-attention: scaled dot-product attention, and the tutorial's formula beside it.

The tutorial writes A(i) = exp(Q(i)·V(i)) / Σⱼ exp(Q(j)·V(j)) (``tutorial_attention_scores``). That
pairs each query with the *value* at its own position and gives one number per position: a
softmax over the sequence of N dot products, with no keys and no mixing of the values. The
attention of Transformers ("Attention Is All You Need") compares every query with every *key*
and uses the result to average the *values*:

    Attention(Q, K, V) = softmax(Q Kᵀ / √d) V

so the weights form an N×N matrix whose row i (summing to 1) says how much position i reads
from each position j; dividing by √d keeps the dot products from growing with the width d and
saturating the softmax. In *self*-attention Q, K and V are three projections of the same X.
A causal mask lets position i read only positions j ≤ i (language models).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError
from ._check import as_array, check_grad, check_ndim
from .activations import softmax, softmax_backward
from .dense import dense_backward, dense_forward


def attention_forward(q, k, v, causal: bool = False):
    """Attention(Q, K, V) = softmax(Q Kᵀ / √d + M) V, M = −∞ above the diagonal when ``causal``.

    Args:
        q: queries (..., T, d); k: keys (..., S, d); v: values (..., S, dv).
        causal: query i attends to keys j <= i only.

    Returns:
        ``(out, cache)``; out has shape (..., T, dv). ``cache[3]`` holds the weights (..., T, S).

    Example:
        >>> x = np.eye(3)[None]  # (1, 3, 3)
        >>> out, cache = attention_forward(x, x, x, causal=True)
        >>> cache[3][0, 0].tolist()  # position 0 may only read itself
        [1.0, 0.0, 0.0]
    """
    q, k, v = as_array("q", q), as_array("k", k), as_array("v", v)
    for name, a in (("q", q), ("k", k), ("v", v)):
        if a.ndim < 2:
            raise ShapeError(f"attention {name}: expected shape (..., T, d), "
                             f"received {tuple(a.shape)}")
    if k.shape[-1] != q.shape[-1] or k.shape[:-2] != q.shape[:-2] or v.shape[:-1] != k.shape[:-1]:
        raise ShapeError(f"attention: expected q (..., T, d), k (..., S, d), v (..., S, dv) with "
                         f"the same leading axes, received q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    scale = 1.0 / math.sqrt(q.shape[-1])  # a Python float: float32 stays float32
    scores = (q @ np.swapaxes(k, -1, -2)) * scale  # (..., T, S)
    if causal:
        T, S = scores.shape[-2:]
        scores = np.where(np.tril(np.ones((T, S), dtype=bool)), scores, -np.inf)
    w = softmax(scores)  # (..., T, S)
    return w @ v, (q, k, v, w, scale)  # (..., T, dv)


def attention_backward(dout, cache):
    """With P = softmax(S), S = Q Kᵀ/√d, O = P V:

    ∂L/∂V = Pᵀ dO,  ∂L/∂P = dO Vᵀ,  ∂L/∂S = P ⊙ (∂L/∂P − rowsum(∂L/∂P ⊙ P)),
    ∂L/∂Q = ∂L/∂S · K / √d,  ∂L/∂K = (∂L/∂S)ᵀ Q / √d.
    Masked entries have P = 0, so they pass no gradient.

    Returns:
        ``(dq, dk, dv)``.

    Example:
        >>> x = np.eye(3)[None]
        >>> out, cache = attention_forward(x, x, x)
        >>> [g.shape for g in attention_backward(np.ones_like(out), cache)]
        [(1, 3, 3), (1, 3, 3), (1, 3, 3)]
    """
    q, k, v, w, scale = cache
    dout = check_grad(dout, w.shape[:-1] + v.shape[-1:], "attention")
    dv = np.swapaxes(w, -1, -2) @ dout  # (..., S, dv)
    dw = dout @ np.swapaxes(v, -1, -2)  # (..., T, S)
    ds = softmax_backward(dw, (w, -1)) * scale
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, dv


def _split(x, n_head):  # (B, T, C) -> (B, nh, T, hs)
    B, T, C = x.shape
    return x.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)


def _merge(x):  # (B, nh, T, hs) -> (B, T, C)
    B, nh, T, hs = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, nh * hs)


def _check_heads(name: str, x: np.ndarray, n_head: int) -> None:
    """Check that ``x`` is (B, T, C) and that ``n_head`` divides C."""
    check_ndim(f"{name} x", x, 3, "(B, T, C)")
    C = x.shape[-1]
    if n_head < 1 or C % n_head:
        raise ShapeError(f"{name}: expected n_head dividing C={C}, received {n_head}")


def self_attention_forward(x, Wq, Wk, Wv, Wo, n_head: int = 1, causal: bool = False):
    """Multi-head self-attention: Q = X Wqᵀ, K = X Wkᵀ, V = X Wvᵀ, split into ``n_head`` heads,
    O = Attention(Q, K, V) per head, heads joined, Y = O Woᵀ.

    Args:
        x: (B, T, C); Wq, Wk, Wv, Wo: (C, C) each, in the (out, in) layout of ``dense_forward``.
        n_head: number of heads; must divide C.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Ws = [rng.normal(size=(4, 4)) for _ in range(4)]
        >>> y, _ = self_attention_forward(rng.normal(size=(2, 5, 4)), *Ws, n_head=2, causal=True)
        >>> y.shape
        (2, 5, 4)
    """
    x = as_array("x", x)
    _check_heads("self_attention", x, n_head)
    q, cq = dense_forward(x, Wq)  # (B, T, C) each
    k, ck = dense_forward(x, Wk)
    v, cv = dense_forward(x, Wv)
    o, ca = attention_forward(_split(q, n_head), _split(k, n_head), _split(v, n_head), causal)
    y, co = dense_forward(_merge(o), Wo)  # (B, T, C)
    return y, (cq, ck, cv, ca, co, n_head)


def self_attention_backward(dy, cache):
    """Backpropagate through the output projection, attention and the three input projections;
    ∂L/∂X sums the three paths since X feeds Q, K and V.

    Returns:
        ``(dx, dWq, dWk, dWv, dWo)``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> Ws = [rng.normal(size=(4, 4)) for _ in range(4)]
        >>> y, c = self_attention_forward(rng.normal(size=(2, 5, 4)), *Ws)
        >>> len(self_attention_backward(np.ones_like(y), c))
        5
    """
    cq, ck, cv, ca, co, n_head = cache
    do, dWo, _ = dense_backward(dy, co)
    dq, dk, dv = attention_backward(_split(do, n_head), ca)
    dx_q, dWq, _ = dense_backward(_merge(dq), cq)
    dx_k, dWk, _ = dense_backward(_merge(dk), ck)
    dx_v, dWv, _ = dense_backward(_merge(dv), cv)
    return dx_q + dx_k + dx_v, dWq, dWk, dWv, dWo


def multi_head_attention_forward(x, W_qkv, b_qkv, W_o, b_o, n_head: int, causal: bool = True):
    """Multi-head self-attention as GPTs write it: one (3C, C) projection gives Q, K and V at
    once (with biases), heads are split, attended and joined, then Y = O W_oᵀ + b_o.

    The same computation as ``self_attention_forward`` with Wq, Wk, Wv stacked (one matmul
    instead of three), and the layout of ``torch.nn.MultiheadAttention``'s ``in_proj_weight``.

    Args:
        x: (B, T, C); W_qkv: (3C, C); b_qkv: (3C,); W_o: (C, C); b_o: (C,).
        n_head: number of heads; must divide C. causal: mask the future (language models).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y, _ = multi_head_attention_forward(rng.normal(size=(2, 5, 4)), rng.normal(size=(12, 4)),
        ...                                     np.zeros(12), rng.normal(size=(4, 4)), np.zeros(4), 2)
        >>> y.shape
        (2, 5, 4)
    """
    x = as_array("x", x)
    _check_heads("multi_head_attention", x, n_head)
    qkv, c_in = dense_forward(x, W_qkv, b_qkv)  # (B, T, 3C)
    q, k, v = (np.ascontiguousarray(_split(a, n_head)) for a in np.split(qkv, 3, axis=-1))
    o, c_att = attention_forward(q, k, v, causal)  # (B, nh, T, hs)
    y, c_out = dense_forward(_merge(o), W_o, b_o)  # (B, T, C)
    return y, (c_in, c_att, c_out, n_head)


def multi_head_attention_backward(dy, cache):
    """Back through the output projection, the attention of every head at once, and the joint
    Q/K/V projection: ∂L/∂(QKV) is the three head gradients joined side by side.

    Returns:
        ``(dx, dW_qkv, db_qkv, dW_o, db_o)``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y, c = multi_head_attention_forward(rng.normal(size=(2, 5, 4)), rng.normal(size=(12, 4)),
        ...                                     np.zeros(12), rng.normal(size=(4, 4)), np.zeros(4), 2)
        >>> [g.shape for g in multi_head_attention_backward(np.ones_like(y), c)]
        [(2, 5, 4), (12, 4), (12,), (4, 4), (4,)]
    """
    c_in, c_att, c_out, n_head = cache
    do, dW_o, db_o = dense_backward(dy, c_out)
    dq, dk, dv = attention_backward(np.ascontiguousarray(_split(do, n_head)), c_att)
    dqkv = np.concatenate([_merge(dq), _merge(dk), _merge(dv)], axis=-1)  # (B, T, 3C)
    dx, dW_qkv, db_qkv = dense_backward(dqkv, c_in)
    return dx, dW_qkv, db_qkv, dW_o, db_o


def tutorial_attention_scores(q, v):
    """The tutorial's formula, literally: A(i) = exp(Q(i)·V(i)) / Σⱼ exp(Q(j)·V(j)).

    One score per position (a softmax over the sequence), not the N×N weights of real attention;
    see the module docstring.

    Args:
        q, v: (N, d) each.

    Example:
        >>> tutorial_attention_scores(np.ones((2, 3)), np.ones((2, 3))).tolist()
        [0.5, 0.5]
    """
    q, v = as_array("q", q), as_array("v", v)
    check_ndim("tutorial_attention_scores q", q, 2, "(N, d)")
    if v.shape != q.shape:
        raise ShapeError(f"tutorial_attention_scores v: expected q's shape {tuple(q.shape)}, "
                         f"received {tuple(v.shape)}")
    return softmax((q * v).sum(axis=-1))  # (N,)
