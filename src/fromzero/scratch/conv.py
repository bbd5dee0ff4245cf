"""1.3.4 convolution: the tutorial's formula, and the layer deep learning actually uses.

The tutorial writes Y(i, j) = Σₘ Σₙ F(m, n) · X(i − m, j − n). With the minus signs this is the
*true* convolution of signal processing: the kernel is flipped (rotated 180°) as it slides.
Convolution layers in deep learning (``torch.nn.Conv2d``, Keras ``Conv2D``) compute the
*cross-correlation* Y(i, j) = Σₘ Σₙ F(m, n) · X(i + m, j + n) instead, with no flip. Since the
kernel is learned, the difference is only a relabelling of its entries:
``convolve2d(x, f) == correlate2d(x, f[::-1, ::-1])`` (tests/scratch/test_conv.py checks it).

``convolve2d`` and ``correlate2d`` spell the two sums out for one 2-D image. ``conv2d_forward`` /
``conv2d_backward`` are the layer: batched, multi-channel, with stride and padding, vectorised by
im2col (every receptive field becomes a column of a matrix, so the sum is one matrix product).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ShapeError
from ._check import as_array, check_grad, check_ndim, check_shape


def _pad_for(x, f, mode):
    if mode == "full":
        m, n = f.shape
        return np.pad(x, ((m - 1, m - 1), (n - 1, n - 1)))
    if mode != "valid":
        raise ValueError(f"mode: expected 'valid' or 'full', received {mode!r}")
    return x


def _check_2d(x, f, op):
    x, f = as_array("x", x), as_array("f", f)
    check_ndim(f"{op} x", x, 2, "(H, W)")
    check_ndim(f"{op} f", f, 2, "(M, N)")
    return x, f


def convolve2d(x, f, mode: str = "valid"):
    """The tutorial's formula, literally: Y(i, j) = Σₘ Σₙ F(m, n) · X(i − m, j − n).

    ``mode="full"`` treats X as zero outside the image (output (H+M−1, W+N−1));
    ``mode="valid"`` keeps only the outputs whose window lies inside (output (H−M+1, W−N+1)).

    Example:
        >>> convolve2d(np.arange(4.0).reshape(1, 4), np.array([[1.0, 0.0]]))  # Y(j) = X(j)
        array([[1., 2., 3.]])
    """
    x, f = _check_2d(x, f, "convolve2d")
    x = _pad_for(x, f, mode)
    M, N = f.shape
    H, W = x.shape[0] - M + 1, x.shape[1] - N + 1
    if H < 1 or W < 1:
        raise ShapeError(f"convolve2d: expected an image at least the kernel's size {f.shape}, "
                         f"received {x.shape}")
    y = np.zeros((H, W), dtype=np.result_type(x, f))
    for m in range(M):
        for n in range(N):  # output (i, j) reads X(i + M−1 − m, j + N−1 − n): the kernel is flipped
            y += f[m, n] * x[M - 1 - m:M - 1 - m + H, N - 1 - n:N - 1 - n + W]
    return y


def correlate2d(x, f, mode: str = "valid"):
    """Cross-correlation, what conv layers compute: Y(i, j) = Σₘ Σₙ F(m, n) · X(i + m, j + n).

    Example:
        >>> correlate2d(np.arange(4.0).reshape(1, 4), np.array([[1.0, 0.0]]))  # Y(j) = X(j)
        array([[0., 1., 2.]])
    """
    x, f = _check_2d(x, f, "correlate2d")
    x = _pad_for(x, f, mode)
    M, N = f.shape
    H, W = x.shape[0] - M + 1, x.shape[1] - N + 1
    if H < 1 or W < 1:
        raise ShapeError(f"correlate2d: expected an image at least the kernel's size {f.shape}, "
                         f"received {x.shape}")
    y = np.zeros((H, W), dtype=np.result_type(x, f))
    for m in range(M):
        for n in range(N):
            y += f[m, n] * x[m:m + H, n:n + W]
    return y


def out_size(size: int, k: int, stride: int, padding: int) -> int:
    """Output length of a window of ``k`` sliding by ``stride`` over ``size + 2·padding``."""
    return (size + 2 * padding - k) // stride + 1


def im2col(x, kh: int, kw: int, stride: int = 1, padding: int = 0):
    """Image to columns: every receptive field of ``x`` (N, C, H, W) becomes a column.

    Returns ``(cols, (OH, OW))``; cols has shape (C·kh·kw, N·OH·OW). The windows are a strided
    view of ``x`` (no copy); the final reshape makes the one copy.

    Example:
        >>> cols, (OH, OW) = im2col(np.arange(9.0).reshape(1, 1, 3, 3), 2, 2)
        >>> cols.shape, cols[:, 0].tolist()  # the first 2x2 window
        ((4, 4), [0.0, 1.0, 3.0, 4.0])
    """
    N, C, H, W = x.shape
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    _, _, OH, OW, _, _ = win.shape  # (N, C, OH, OW, kh, kw)
    return win.transpose(1, 4, 5, 0, 2, 3).reshape(C * kh * kw, N * OH * OW), (OH, OW)


def col2im(cols, x_shape, kh: int, kw: int, stride: int, padding: int, out_hw):
    """The adjoint of ``im2col``: adds every column back onto the pixels its window covered.

    Example:
        >>> cols, hw = im2col(np.ones((1, 1, 3, 3)), 2, 2)
        >>> col2im(cols, (1, 1, 3, 3), 2, 2, 1, 0, hw)[0, 0].tolist()  # how many windows see a pixel
        [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    N, C, H, W = x_shape
    OH, OW = out_hw
    cols = cols.reshape(C, kh, kw, N, OH, OW)
    dx = np.zeros((C, N, H + 2 * padding, W + 2 * padding), dtype=cols.dtype)
    for i in range(kh):  # kh·kw vectorised adds, one per kernel entry
        for j in range(kw):
            dx[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride] += cols[:, i, j]
    return dx.transpose(1, 0, 2, 3)[:, :, padding:padding + H, padding:padding + W]


def conv2d_forward(x, W, b=None, stride: int = 1, padding: int = 0):
    """The conv layer (cross-correlation, as in ``torch.nn.functional.conv2d``):

    Y[n, o, i, j] = b[o] + Σ_c Σₘ Σₙ W[o, c, m, n] · X[n, c, i·s + m − p, j·s + n − p]

    Args:
        x: images, shape (N, C, H, W).
        W: kernels, shape (O, C, kh, kw).
        b: bias, shape (O,), or None.
        stride, padding: s and p above (zero padding on every side).

    Returns:
        ``(y, cache)``: y has shape (N, O, OH, OW) with OH = (H + 2p − kh) // s + 1.

    Example:
        >>> y, _ = conv2d_forward(np.ones((2, 3, 8, 8)), np.ones((4, 3, 3, 3)), padding=1)
        >>> y.shape, float(y[0, 0, 4, 4])
        ((2, 4, 8, 8), 27.0)
    """
    x, W = as_array("x", x), as_array("W", W)
    check_ndim("conv2d x", x, 4, "(N, C, H, W)")
    check_ndim("conv2d W", W, 4, "(O, C, kh, kw)")
    if x.shape[1] != W.shape[1]:
        raise ShapeError(f"conv2d x: expected {W.shape[1]} input channels to match W "
                         f"{tuple(W.shape)}, received shape {tuple(x.shape)}")
    if stride < 1 or padding < 0:
        raise ValueError(f"conv2d: expected stride >= 1 and padding >= 0, "
                         f"received stride={stride}, padding={padding}")
    O, C, kh, kw = W.shape
    N, _, H, Wd = x.shape
    if H + 2 * padding < kh or Wd + 2 * padding < kw:
        raise ShapeError(f"conv2d x: expected padded images of at least {kh}x{kw}, received "
                         f"{tuple(x.shape)} with padding {padding}")
    if b is not None:
        b = as_array("b", b)
        check_shape("conv2d b", b, (O,))
    cols, (OH, OW) = im2col(x, kh, kw, stride, padding)  # (C·kh·kw, N·OH·OW)
    y = (W.reshape(O, -1) @ cols).reshape(O, N, OH, OW)
    if b is not None:
        y += b[:, None, None, None]
    y = np.ascontiguousarray(y.transpose(1, 0, 2, 3))  # (N, O, OH, OW)
    return y, (cols, x.shape, W, b is not None, stride, padding, (OH, OW))


def conv2d_backward(dy, cache, need_dx: bool = True):
    """Gradients of the conv layer, as matrix products on the im2col rows:

    ∂L/∂W = dY · colsᵀ,  ∂L/∂b[o] = Σ dY[·, o, ·, ·],  ∂L/∂X = col2im(Wᵀ · dY),
    with dY laid out as (O, N·OH·OW) and W as (O, C·kh·kw).

    Args:
        dy: ∂L/∂Y, shape (N, O, OH, OW).
        cache: from ``conv2d_forward``.
        need_dx: skip ∂L/∂X (returned as None), e.g. for a first layer fed with data.

    Returns:
        ``(dx, dW, db)``.

    Example:
        >>> y, c = conv2d_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.zeros(1))
        >>> dx, dW, db = conv2d_backward(np.ones_like(y), c)
        >>> dW[0, 0].tolist(), db.tolist()
        ([[4.0, 4.0], [4.0, 4.0]], [4.0])
    """
    cols, x_shape, W, has_bias, stride, padding, (OH, OW) = cache
    O, C, kh, kw = W.shape
    dy = check_grad(dy, (x_shape[0], O, OH, OW), "conv2d")
    dy2 = dy.transpose(1, 0, 2, 3).reshape(O, -1)  # (O, N·OH·OW)
    dW = (dy2 @ cols.T).reshape(W.shape)
    db = dy2.sum(axis=1) if has_bias else None
    dx = None
    if need_dx:
        dx = col2im(W.reshape(O, -1).T @ dy2, x_shape, kh, kw, stride, padding, (OH, OW))
    return dx, dW, db
