"""The loss ``L`` whose gradient 1.3.2 propagates back: softmax cross-entropy and mean squared error.

Each forward returns ``(loss, cache)``; each backward returns ∂L/∂(input), which is where the
chain rule starts.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ._check import as_array, check_ndim


def softmax_cross_entropy_forward(logits, labels):
    """L = −(1/N) Σₙ log softmax(zₙ)[yₙ] = (1/N) Σₙ (log Σⱼ exp zₙⱼ − zₙ,yₙ).

    Args:
        logits: z, shape (N, C).
        labels: integer classes y, shape (N,), each in [0, C).

    Returns:
        ``(loss, cache)``: the mean loss (a float) and what the backward needs.

    Example:
        >>> loss, _ = softmax_cross_entropy_forward(np.zeros((2, 4)), np.array([0, 3]))
        >>> round(loss, 4)  # log 4: a uniform guess among 4 classes
        1.3863
    """
    z = as_array("logits", logits)
    check_ndim("softmax_cross_entropy logits", z, 2, "(N, C)")
    y = np.asarray(labels)
    if y.shape != (z.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ShapeError(f"softmax_cross_entropy labels: expected integers of shape "
                         f"({z.shape[0]},), received {y.dtype} {tuple(y.shape)}")
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ShapeError(f"softmax_cross_entropy labels: expected classes in [0, {z.shape[1]}), "
                         f"received values in [{y.min()}, {y.max()}]")
    shifted = z - z.max(axis=1, keepdims=True)  # (N, C)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = np.arange(len(y))
    loss = -log_p[n, y].mean()
    return float(loss), (np.exp(log_p), y)


def softmax_cross_entropy_backward(cache, dloss: float = 1.0):
    """∂L/∂zₙ = (softmax(zₙ) − onehot(yₙ)) / N: the famous "prediction minus target".

    Example:
        >>> _, c = softmax_cross_entropy_forward(np.zeros((1, 2)), np.array([1]))
        >>> softmax_cross_entropy_backward(c).tolist()
        [[0.5, -0.5]]
    """
    p, y = cache
    dz = p.copy()
    dz[np.arange(len(y)), y] -= 1
    return dz * (dloss / len(y))


def mse_forward(pred, target):
    """L = (1/K) Σₖ (ŷₖ − yₖ)², the mean over every entry.

    Example:
        >>> loss, _ = mse_forward(np.array([1.0, 3.0]), np.array([0.0, 0.0]))
        >>> loss
        5.0
    """
    p, t = as_array("pred", pred), as_array("target", target)
    if p.shape != t.shape:
        raise ShapeError(f"mse: expected target of the prediction's shape {tuple(p.shape)}, "
                         f"received {tuple(t.shape)}")
    diff = p - t
    return float((diff * diff).mean()), diff


def mse_backward(cache, dloss: float = 1.0):
    """∂L/∂ŷ = 2(ŷ − y) / K.

    Example:
        >>> _, c = mse_forward(np.array([1.0, 3.0]), np.array([0.0, 0.0]))
        >>> mse_backward(c).tolist()
        [1.0, 3.0]
    """
    diff = cache
    return diff * (2.0 * dloss / diff.size)
