"""Token and position embeddings: a lookup table read by index, and its gradient.

An embedding is a dense layer fed with one-hot vectors: for a token id i, onehot(i) Wᵀ is row i
of the table W (V, C). So the forward reads rows (a *gather*), and the backward of
y = onehot(i) W is ∂L/∂W = onehot(i)ᵀ ∂L/∂y: the gradient of each output row is added to the
table row it was read from (a *scatter-add*). A token that occurs several times in the batch
collects the sum of its gradients; a token that does not occur gets zero.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ._check import as_array, check_grad, check_ndim


def embedding_forward(idx, W):
    """y[..., :] = W[idx[...], :]: row idx of the table for every index.

    Args:
        idx: integer ids, any shape (e.g. (B, T)), each in [0, V).
        W: the table, shape (V, C).

    Returns:
        ``(y, cache)``; y has shape idx.shape + (C,).

    Example:
        >>> W = np.arange(6.0).reshape(3, 2)
        >>> embedding_forward(np.array([[2, 0]]), W)[0].tolist()
        [[[4.0, 5.0], [0.0, 1.0]]]
    """
    W = as_array("W", W)
    check_ndim("embedding W", W, 2, "(V, C)")
    idx = np.asarray(idx)
    if not np.issubdtype(idx.dtype, np.integer):
        raise ShapeError(f"embedding idx: expected integer ids, received {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= W.shape[0]):
        raise ShapeError(f"embedding idx: expected ids in [0, {W.shape[0]}), "
                         f"received values in [{idx.min()}, {idx.max()}]")
    return W[idx], (idx, W.shape, W.dtype)


def embedding_backward(dy, cache):
    """∂L/∂W[v] = Σ over the positions p with idx[p] = v of ∂L/∂y[p] (scatter-add).

    Returns:
        dW, shape (V, C). (The ids are integers: they have no gradient.)

    Example:
        >>> y, c = embedding_forward(np.array([1, 1, 0]), np.zeros((3, 2)))
        >>> embedding_backward(np.ones_like(y), c).tolist()  # id 1 was read twice, id 2 never
        [[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]
    """
    idx, shape, dtype = cache
    dy = check_grad(dy, idx.shape + shape[1:], "embedding")
    dW = np.zeros(shape, dtype=np.result_type(dtype, dy.dtype))
    np.add.at(dW, idx.reshape(-1), dy.reshape(-1, shape[1]))  # repeated ids accumulate
    return dW
