"""Layer normalisation: each row rescaled to mean 0 and variance 1, then scaled and shifted.

Not among the tutorial's formulas, but every Transformer block (1.2.5) uses it around its
self-attention.
"""
from __future__ import annotations

import numpy as np

from ._check import as_array, check_grad, check_shape


def layer_norm_forward(x, gamma, beta, eps: float = 1e-5):
    """y = γ ⊙ (x − μ) / √(σ² + ε) + β, with μ and σ² the mean and (biased) variance of each
    row over the last axis.

    Args:
        x: (..., D); gamma, beta: (D,).

    Returns:
        ``(y, cache)``.

    Example:
        >>> y, _ = layer_norm_forward(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2))
        >>> y.round(4).tolist()
        [[-1.0, 1.0]]
    """
    x, gamma, beta = as_array("x", x), as_array("gamma", gamma), as_array("beta", beta)
    check_shape("layer_norm x", x, (None,) * (x.ndim - 1) + (gamma.shape[-1],))
    check_shape("layer_norm gamma", gamma, (x.shape[-1],))
    check_shape("layer_norm beta", beta, (x.shape[-1],))
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)  # (..., 1)
    xhat = xc * rstd
    return xhat * gamma + beta, (xhat, rstd, gamma)


def layer_norm_backward(dy, cache):
    """With x̂ = (x − μ)/σ and g = ∂L/∂y ⊙ γ:

    ∂L/∂x = (1/σ) (g − mean(g) − x̂ · mean(g ⊙ x̂)),  ∂L/∂γ = Σ_rows ∂L/∂y ⊙ x̂,  ∂L/∂β = Σ_rows ∂L/∂y.

    Returns:
        ``(dx, dgamma, dbeta)``.

    Example:
        >>> y, c = layer_norm_forward(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2))
        >>> dx, dg, db = layer_norm_backward(np.ones_like(y), c)
        >>> bool(np.abs(dx).max() < 1e-12), db.tolist()  # shifting every output equally needs no input change
        (True, [1.0, 1.0])
    """
    xhat, rstd, gamma = cache
    dy = check_grad(dy, xhat.shape, "layer_norm")
    D = xhat.shape[-1]
    g = dy * gamma
    dx = rstd * (g - g.mean(axis=-1, keepdims=True)
                 - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    dgamma = (dy * xhat).reshape(-1, D).sum(axis=0)
    dbeta = dy.reshape(-1, D).sum(axis=0)
    return dx, dgamma, dbeta
