"""The activation ``f`` of 1.3.1's ``y = f(Wx + b)``, each with its derivative for 1.3.2.

Every backward takes ∂L/∂y and returns ∂L/∂x = ∂L/∂y · f'(x) (element-wise, except softmax,
whose Jacobian couples the entries of a row).
"""
from __future__ import annotations

import math

import numpy as np

from ._check import as_array, check_grad


def relu_forward(x):
    """f(x) = max(0, x).

    Example:
        >>> relu_forward(np.array([-1.0, 2.0]))[0].tolist()
        [0.0, 2.0]
    """
    x = as_array("x", x)
    return np.maximum(x, 0), x > 0


def relu_backward(dy, cache):
    """f'(x) = 1 if x > 0 else 0, so ∂L/∂x = ∂L/∂y · [x > 0].

    Example:
        >>> y, c = relu_forward(np.array([-1.0, 2.0]))
        >>> relu_backward(np.array([5.0, 5.0]), c).tolist()
        [0.0, 5.0]
    """
    dy = check_grad(dy, cache.shape, "relu")
    return dy * cache


GELU_C = math.sqrt(2 / math.pi)  # a Python float: keeps float32 arrays float32


def gelu_forward(x):
    """GELU, in the tanh form of GPT-2 (``torch.nn.functional.gelu(x, approximate="tanh")``):
    f(x) = ½ x (1 + tanh(u)),  u = √(2/π) (x + 0.044715 x³).

    A smooth ReLU: about x for large x, about 0 for very negative x, slightly negative near −1.

    Example:
        >>> gelu_forward(np.array([-10.0, 0.0, 10.0]))[0].round(4).tolist()
        [-0.0, 0.0, 10.0]
    """
    x = as_array("x", x)
    t = np.tanh(GELU_C * (x + 0.044715 * x * x * x))
    return 0.5 * x * (1 + t), (x, t)


def gelu_backward(dy, cache):
    """f'(x) = ½ (1 + tanh u) + ½ x (1 − tanh² u) · √(2/π) (1 + 3 · 0.044715 x²).

    Example:
        >>> y, c = gelu_forward(np.array(0.0))
        >>> float(gelu_backward(np.array(1.0), c))  # slope ½ at 0
        0.5
    """
    x, t = cache
    dy = check_grad(dy, x.shape, "gelu")
    du = GELU_C * (1 + 3 * 0.044715 * x * x)
    return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)


def sigmoid_forward(x):
    """f(x) = σ(x) = 1 / (1 + e^(−x)), computed without overflow for large |x|.

    Example:
        >>> float(sigmoid_forward(np.array(0.0))[0])
        0.5
    """
    x = as_array("x", x)
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return y, y


def sigmoid_backward(dy, cache):
    """σ'(x) = σ(x)(1 − σ(x)).

    Example:
        >>> y, c = sigmoid_forward(np.array(0.0))
        >>> float(sigmoid_backward(np.array(1.0), c))
        0.25
    """
    y = cache
    return check_grad(dy, y.shape, "sigmoid") * y * (1 - y)


def tanh_forward(x):
    """f(x) = tanh(x) = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ).

    Example:
        >>> float(tanh_forward(np.array(0.0))[0])
        0.0
    """
    y = np.tanh(as_array("x", x))
    return y, y


def tanh_backward(dy, cache):
    """tanh'(x) = 1 − tanh²(x).

    Example:
        >>> y, c = tanh_forward(np.array(0.0))
        >>> float(tanh_backward(np.array(1.0), c))
        1.0
    """
    y = cache
    return check_grad(dy, y.shape, "tanh") * (1 - y * y)


def softmax(x, axis: int = -1):
    """softmax(x)ᵢ = exp(xᵢ − max x) / Σⱼ exp(xⱼ − max x) along ``axis`` (the shift changes nothing
    mathematically and keeps exp from overflowing).

    Example:
        >>> softmax(np.array([0.0, 0.0])).tolist()
        [0.5, 0.5]
    """
    x = as_array("x", x)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_forward(x, axis: int = -1):
    """y = softmax(x) along ``axis``; returns ``(y, cache)``.

    Example:
        >>> y, _ = softmax_forward(np.array([[1.0, 1.0, 1.0]]))
        >>> y.round(3).tolist()
        [[0.333, 0.333, 0.333]]
    """
    y = softmax(x, axis)
    return y, (y, axis)


def softmax_backward(dy, cache):
    """∂yᵢ/∂xⱼ = yᵢ(δᵢⱼ − yⱼ), so ∂L/∂x = y ⊙ (∂L/∂y − Σⱼ ∂L/∂yⱼ · yⱼ).

    Example:
        >>> y, c = softmax_forward(np.array([1.0, 2.0]))
        >>> softmax_backward(np.ones(2), c).tolist()  # softmax sums to 1: a constant has no slope
        [0.0, 0.0]
    """
    y, axis = cache
    dy = check_grad(dy, y.shape, "softmax")
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))
