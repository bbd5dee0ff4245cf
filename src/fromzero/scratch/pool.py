"""1.3.5 pooling: max and average over windows, with stride and padding.

The tutorial writes Y(i, j) = max_{m<W} max_{n<W} X(i − m, j − n): the maximum over the W×W
window that *ends* at (i, j), taken at every (i, j), so it slides by one pixel and hardly shrinks
the image (``tutorial_max_pool2d`` spells it out). Pooling layers in CNNs instead take windows
that *start* at (i·s, j·s) with a stride s, usually s = W so the windows tile the image:

    Y(i, j) = max_{m<W} max_{n<W} X(i·s + m, j·s + n)

which divides height and width by s; that is the reduction the tutorial's text describes.
With s = 1 the two agree up to a shift of W − 1 (tests/scratch/test_pool.py checks it), and a
stride-s pooling is the stride-1 one keeping every s-th row and column.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ._check import as_array, check_grad, check_ndim


def _pair(v):
    return (v, v) if isinstance(v, (int, np.integer)) else tuple(v)


def _geometry(x, size, stride, padding, fill, op):
    """Check ``x`` (N, C, H, W), pad it with ``fill``; returns (padded x, geometry)."""
    x = as_array("x", x)
    check_ndim(f"{op} x", x, 4, "(N, C, H, W)")
    (kh, kw), (sh, sw) = _pair(size), _pair(size if stride is None else stride)
    p = padding
    if min(kh, kw, sh, sw) < 1 or p < 0 or 2 * p > min(kh, kw):
        raise ValueError(f"{op}: expected size >= 1, stride >= 1, 0 <= padding <= size/2, "
                         f"received size={size}, stride={stride}, padding={padding}")
    H, W = x.shape[2] + 2 * p, x.shape[3] + 2 * p
    if H < kh or W < kw:
        raise ShapeError(f"{op} x: expected (padded) images of at least {kh}x{kw}, "
                         f"received {tuple(x.shape)} with padding {p}")
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill) if p else x
    OH, OW = (H - kh) // sh + 1, (W - kw) // sw + 1
    return xp, (x.shape, xp.shape, kh, kw, sh, sw, p, OH, OW)


def _entry(xp, geom, i, j):
    """Entry (i, j) of every window, a strided view (N, C, OH, OW): X[·, ·, o·s + i, o'·s + j]."""
    _, _, _, _, sh, sw, _, OH, OW = geom
    return xp[:, :, i:i + sh * OH:sh, j:j + sw * OW:sw]


def _scatter(part, geom):
    """The adjoint of ``_entry``: add ``part(i, j)`` (N, C, OH, OW) back onto the input."""
    x_shape, xp_shape, kh, kw, _, _, p, _, _ = geom
    dx = None
    for i in range(kh):
        for j in range(kw):
            g = part(i, j)
            if dx is None:
                dx = np.zeros(xp_shape, dtype=g.dtype)
            _entry(dx, geom, i, j)[...] += g
    H, W = x_shape[2:]
    return dx[:, :, p:p + H, p:p + W]


def max_pool2d_forward(x, size=2, stride=None, padding: int = 0):
    """Y[n, c, i, j] = max_{m<kh, n'<kw} X[n, c, i·s + m − p, j·s + n' − p], padding with −∞.

    Args:
        x: shape (N, C, H, W).
        size: window (int or (kh, kw)); stride: defaults to ``size``; padding: on every side.

    Returns:
        ``(y, cache)``; y has shape (N, C, OH, OW), OH = (H + 2p − kh) // s + 1.

    Example:
        >>> y, _ = max_pool2d_forward(np.arange(16.0).reshape(1, 1, 4, 4))
        >>> y[0, 0].tolist()
        [[5.0, 7.0], [13.0, 15.0]]
    """
    xp, geom = _geometry(x, size, stride, padding, -np.inf, "max_pool2d")
    kh, kw = geom[2:4]
    y = _entry(xp, geom, 0, 0).copy()
    arg = np.zeros(y.shape, dtype=np.int8 if kh * kw < 128 else np.int64)  # the winning entry
    for e in range(1, kh * kw):  # a running maximum over the window entries
        v = _entry(xp, geom, *divmod(e, kw))
        better = v > y  # strict: ties keep the first maximum, as torch does
        np.maximum(y, v, out=y)
        arg += (e - arg) * better  # arg = e where better (arithmetic beats a masked write)
    return y, (arg, geom)


def max_pool2d_backward(dy, cache):
    """The maximum passes the whole gradient to the entry that won: ∂Y/∂X = 1 there, 0 elsewhere.

    Example:
        >>> y, c = max_pool2d_forward(np.arange(4.0).reshape(1, 1, 2, 2))
        >>> max_pool2d_backward(np.ones_like(y), c)[0, 0].tolist()
        [[0.0, 0.0], [0.0, 1.0]]
    """
    arg, geom = cache
    dy = check_grad(dy, arg.shape, "max_pool2d")
    kw = geom[3]
    return _scatter(lambda i, j: dy * (arg == i * kw + j), geom)


def avg_pool2d_forward(x, size=2, stride=None, padding: int = 0):
    """Y[n, c, i, j] = (1 / (kh·kw)) Σₘ Σₙ X[n, c, i·s + m − p, j·s + n − p], padding with 0
    (the padding counts in the mean, as torch's default ``count_include_pad=True``).

    Example:
        >>> y, _ = avg_pool2d_forward(np.arange(16.0).reshape(1, 1, 4, 4))
        >>> y[0, 0].tolist()
        [[2.5, 4.5], [10.5, 12.5]]
    """
    xp, geom = _geometry(x, size, stride, padding, 0.0, "avg_pool2d")
    kh, kw = geom[2:4]
    y = _entry(xp, geom, 0, 0).copy()
    for e in range(1, kh * kw):
        y += _entry(xp, geom, *divmod(e, kw))
    y /= kh * kw
    return y, (y.shape, geom)


def avg_pool2d_backward(dy, cache):
    """Each entry of a window gets an equal share: ∂Y/∂X = 1 / (kh·kw).

    Example:
        >>> y, c = avg_pool2d_forward(np.ones((1, 1, 2, 2)))
        >>> avg_pool2d_backward(np.ones_like(y), c)[0, 0].tolist()
        [[0.25, 0.25], [0.25, 0.25]]
    """
    y_shape, geom = cache
    dy = check_grad(dy, y_shape, "avg_pool2d")
    share = dy / (geom[2] * geom[3])
    return _scatter(lambda i, j: share, geom)


def tutorial_max_pool2d(x, size: int):
    """The tutorial's formula, literally, on one 2-D image: Y(i, j) = max_{m<W} max_{n<W} X(i−m, j−n),
    for every (i, j) whose window lies inside the image (i, j ≥ W − 1); output index i − (W − 1).

    Example:
        >>> tutorial_max_pool2d(np.array([[1.0, 3.0, 2.0, 0.0]]).repeat(2, 0), 2).tolist()
        [[3.0, 3.0, 2.0]]
    """
    x = as_array("x", x)
    check_ndim("tutorial_max_pool2d x", x, 2, "(H, W)")
    H, W = x.shape[0] - size + 1, x.shape[1] - size + 1
    if H < 1 or W < 1:
        raise ShapeError(f"tutorial_max_pool2d x: expected at least {size}x{size}, "
                         f"received {tuple(x.shape)}")
    y = np.full((H, W), -np.inf, dtype=x.dtype)
    for m in range(size):
        for n in range(size):  # output (i, j) <- X(i + W−1 − m, j + W−1 − n)
            np.maximum(y, x[size - 1 - m:size - 1 - m + H, size - 1 - n:size - 1 - n + W], out=y)
    return y
