"""Shape checks shared by the scratch ops: every failure is a ShapeError naming both shapes."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError


def as_array(name: str, x) -> np.ndarray:
    """``x`` as a floating-point array (ints are promoted to float64)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


def check_ndim(name: str, x: np.ndarray, ndim: int, layout: str) -> None:
    if x.ndim != ndim:
        raise ShapeError(f"{name}: expected a {ndim}-D array {layout}, "
                         f"received shape {tuple(x.shape)}")


def check_shape(name: str, x: np.ndarray, expected: tuple) -> None:
    """``expected`` may hold ``None`` for "any size" on an axis."""
    ok = x.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, x.shape))
    if not ok:
        shown = "(" + ", ".join("*" if e is None else str(e) for e in expected) + \
            ("," if len(expected) == 1 else "") + ")"
        raise ShapeError(f"{name}: expected shape {shown}, received {tuple(x.shape)}")


def check_grad(dy: np.ndarray, shape: tuple, op: str) -> np.ndarray:
    """The upstream gradient must have the shape of the forward output."""
    dy = np.asarray(dy)
    if dy.shape != tuple(shape):
        raise ShapeError(f"{op} backward: expected a gradient of shape {tuple(shape)} "
                         f"(the forward output's), received {tuple(dy.shape)}")
    return dy
