"""1.3.1 forward propagation and 1.3.2 backpropagation for the dense (fully connected) layer.

The tutorial writes one layer as ``y = f(Wx + b)``. Here the affine part ``Wx + b`` is
``dense_forward``; the activation ``f`` lives in ``activations.py``, so each has its own
backward and the chain rule joins them (``Sequential`` does that).

``W`` has shape (out, in) as in the tutorial (and in ``torch.nn.Linear``); for a batch of row
vectors ``X`` (N, in) the same formula reads ``Y = X Wᵀ + b``.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ._check import as_array, check_grad, check_shape


def dense_forward(x, W, b=None):
    """y = Wx + b, for every row of ``x`` (any leading axes).

    Args:
        x: inputs, shape (..., in).
        W: weights, shape (out, in).
        b: bias, shape (out,), or None.

    Returns:
        ``(y, cache)``: y has shape (..., out); pass ``cache`` to ``dense_backward``.

    Example:
        >>> y, _ = dense_forward(np.ones((2, 3)), np.ones((4, 3)), np.zeros(4))
        >>> y.shape, float(y[0, 0])
        ((2, 4), 3.0)
    """
    x, W = as_array("x", x), as_array("W", W)
    if W.ndim != 2:
        raise ShapeError(f"dense W: expected shape (out, in), received {tuple(W.shape)}")
    if x.ndim < 1 or x.shape[-1] != W.shape[1]:
        raise ShapeError(f"dense x: expected shape (..., {W.shape[1]}) to match W "
                         f"{tuple(W.shape)}, received {tuple(x.shape)}")
    y = (x.reshape(-1, W.shape[1]) @ W.T).reshape(x.shape[:-1] + (W.shape[0],))  # (..., out)
    if b is not None:
        b = as_array("b", b)
        check_shape("dense b", b, (W.shape[0],))
        y = y + b
    return y, (x, W, b is not None)


def dense_backward(dy, cache, need_dx: bool = True):
    """The chain rule for y = Wx + b.

    ∂L/∂W = ∂L/∂y · ∂y/∂W = Σ_rows dyᵀ x,   ∂L/∂b = ∂L/∂y · ∂y/∂b = Σ_rows dy,
    ∂L/∂x = dy W.

    Args:
        dy: ∂L/∂y, shape (..., out).
        cache: from ``dense_forward``.
        need_dx: skip ∂L/∂x (returned as None), e.g. for a first layer fed with data.

    Returns:
        ``(dx, dW, db)``; ``db`` is None when the forward had no bias.

    Example:
        >>> y, cache = dense_forward(np.ones((2, 3)), np.ones((4, 3)), np.zeros(4))
        >>> dx, dW, db = dense_backward(np.ones_like(y), cache)
        >>> dW[0].tolist(), db.tolist()
        ([2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0])
    """
    x, W, has_bias = cache
    dy = check_grad(dy, x.shape[:-1] + (W.shape[0],), "dense")
    dy2 = dy.reshape(-1, W.shape[0])  # (rows, out): one large matmul, not one per leading index
    dx = (dy2 @ W).reshape(x.shape) if need_dx else None  # (..., in)
    dW = dy2.T @ x.reshape(-1, W.shape[1])  # (out, in)
    db = dy2.sum(axis=0) if has_bias else None
    return dx, dW, db
