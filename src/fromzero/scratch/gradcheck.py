"""Checking a hand-written backward: compare it with finite differences.

∂L/∂xᵢ ≈ (L(x + h·eᵢ) − L(x − h·eᵢ)) / 2h, with an error of order h²; in float64 with h ≈ 1e-6
it agrees with a correct analytic gradient to about 1e-8 relative.
"""
from __future__ import annotations

import numpy as np


def numerical_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar function ``f()`` with respect to ``x``, which is
    perturbed in place (and restored), one entry at a time.

    Example:
        >>> x = np.array([1.0, 2.0])
        >>> numerical_gradient(lambda: float((x ** 2).sum()), x).round(6).tolist()
        [2.0, 4.0]
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)  # views: x must be contiguous
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient: expected a contiguous array to perturb in place")
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return grad


def relative_error(a, b) -> float:
    """max |a − b| / max(|a|, |b|, tiny): 0 for equal arrays, about 1 for unrelated ones.

    Example:
        >>> relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])), relative_error([1.0], [-1.0])
        (0.0, 2.0)
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-300)
    return float(np.abs(a - b).max(initial=0.0) / scale)
