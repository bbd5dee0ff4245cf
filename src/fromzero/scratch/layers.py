"""The scratch ops as layers: objects that keep their parameters, gradients and forward cache.

A layer's ``forward(x)`` remembers what its backward needs; ``backward(dy)`` fills
``self.grads`` (same keys as ``self.params``) and returns ∂L/∂x. ``Sequential`` chains them.
Weights start He-normal (std √(2 / fan_in), suited to ReLU), biases at zero.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from . import activations as act
from .attention import self_attention_backward, self_attention_forward
from .conv import conv2d_backward, conv2d_forward
from .dense import dense_backward, dense_forward
from .norm import layer_norm_backward, layer_norm_forward
from .pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def he_normal(shape, fan_in: int, rng, dtype):
    return (_rng(rng).standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


class Layer:
    """Base class: no parameters; subclasses set ``params`` and implement forward/backward."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.cache = None

    def __repr__(self):
        shapes = ", ".join(f"{k}={v.shape}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


class Dense(Layer):
    """y = Wx + b (W: (n_out, n_in)).

    Example:
        >>> Dense(3, 2, rng=0).forward(np.ones((5, 3))).shape
        (5, 2)
    """

    def __init__(self, n_in: int, n_out: int, bias: bool = True, rng=None, dtype=np.float32):
        super().__init__()
        self.params["W"] = he_normal((n_out, n_in), n_in, rng, dtype)
        if bias:
            self.params["b"] = np.zeros(n_out, dtype)

    def forward(self, x):
        y, self.cache = dense_forward(x, self.params["W"], self.params.get("b"))
        return y

    def backward(self, dy, need_dx: bool = True):
        dx, self.grads["W"], db = dense_backward(dy, self.cache, need_dx)
        if db is not None:
            self.grads["b"] = db
        return dx


class Conv2D(Layer):
    """Cross-correlation layer with ``c_out`` kernels of ``k``×``k`` over ``c_in`` channels.

    Example:
        >>> Conv2D(1, 8, 3, padding=1, rng=0).forward(np.ones((2, 1, 28, 28))).shape
        (2, 8, 28, 28)
    """

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, padding: int = 0,
                 rng=None, dtype=np.float32):
        super().__init__()
        self.stride, self.padding = stride, padding
        self.params["W"] = he_normal((c_out, c_in, k, k), c_in * k * k, rng, dtype)
        self.params["b"] = np.zeros(c_out, dtype)

    def forward(self, x):
        y, self.cache = conv2d_forward(x, self.params["W"], self.params["b"],
                                       self.stride, self.padding)
        return y

    def backward(self, dy, need_dx: bool = True):
        dx, self.grads["W"], self.grads["b"] = conv2d_backward(dy, self.cache, need_dx)
        return dx


class _Pool(Layer):
    def __init__(self, size=2, stride=None, padding: int = 0):
        super().__init__()
        self.size, self.stride, self.padding = size, stride, padding

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size}, stride={self.stride or self.size})"


class MaxPool2D(_Pool):
    """Max over ``size``×``size`` windows every ``stride`` (default: ``size``) pixels."""

    def forward(self, x):
        y, self.cache = max_pool2d_forward(x, self.size, self.stride, self.padding)
        return y

    def backward(self, dy, need_dx: bool = True):
        return max_pool2d_backward(dy, self.cache)


class AvgPool2D(_Pool):
    """Mean over ``size``×``size`` windows every ``stride`` (default: ``size``) pixels."""

    def forward(self, x):
        y, self.cache = avg_pool2d_forward(x, self.size, self.stride, self.padding)
        return y

    def backward(self, dy, need_dx: bool = True):
        return avg_pool2d_backward(dy, self.cache)


class _Activation(Layer):
    fns = (None, None)

    def forward(self, x):
        y, self.cache = self.fns[0](x)
        return y

    def backward(self, dy, need_dx: bool = True):
        return self.fns[1](dy, self.cache)


class ReLU(_Activation):
    fns = (act.relu_forward, act.relu_backward)


class Sigmoid(_Activation):
    fns = (act.sigmoid_forward, act.sigmoid_backward)


class Tanh(_Activation):
    fns = (act.tanh_forward, act.tanh_backward)


class Softmax(_Activation):
    """Softmax over the last axis (for a classifier, prefer logits + ``softmax_cross_entropy``)."""
    fns = (act.softmax_forward, act.softmax_backward)


class Flatten(Layer):
    """(N, ...) -> (N, prod(...)).

    Example:
        >>> Flatten().forward(np.ones((2, 3, 4))).shape
        (2, 12)
    """

    def forward(self, x):
        self.cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy, need_dx: bool = True):
        return dy.reshape(self.cache)


class LayerNorm(Layer):
    """Layer normalisation over the last axis of size ``d``."""

    def __init__(self, d: int, eps: float = 1e-5, dtype=np.float32):
        super().__init__()
        self.eps = eps
        self.params["gamma"] = np.ones(d, dtype)
        self.params["beta"] = np.zeros(d, dtype)

    def forward(self, x):
        y, self.cache = layer_norm_forward(x, self.params["gamma"], self.params["beta"], self.eps)
        return y

    def backward(self, dy, need_dx: bool = True):
        dx, self.grads["gamma"], self.grads["beta"] = layer_norm_backward(dy, self.cache)
        return dx


class SelfAttention(Layer):
    """Multi-head self-attention on (B, T, n_embd), optionally causal.

    Example:
        >>> SelfAttention(8, n_head=2, causal=True, rng=0).forward(np.ones((1, 4, 8))).shape
        (1, 4, 8)
    """

    def __init__(self, n_embd: int, n_head: int = 1, causal: bool = False, rng=None,
                 dtype=np.float32):
        super().__init__()
        if n_embd % n_head:
            raise ShapeError(f"SelfAttention: expected n_head dividing n_embd={n_embd}, "
                             f"received n_head={n_head}")
        self.n_head, self.causal = n_head, causal
        rng = _rng(rng)
        for name in ("Wq", "Wk", "Wv", "Wo"):  # std 1/√n_embd keeps the scores O(1)
            self.params[name] = he_normal((n_embd, n_embd), 2 * n_embd, rng, dtype)

    def forward(self, x):
        p = self.params
        y, self.cache = self_attention_forward(x, p["Wq"], p["Wk"], p["Wv"], p["Wo"],
                                               self.n_head, self.causal)
        return y

    def backward(self, dy, need_dx: bool = True):
        dx, *grads = self_attention_backward(dy, self.cache)
        self.grads.update(zip(("Wq", "Wk", "Wv", "Wo"), grads))
        return dx
