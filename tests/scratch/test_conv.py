import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fromzero.errors import ShapeError
from fromzero.scratch import (col2im, conv2d_backward, conv2d_forward, convolve2d, correlate2d,
                              im2col)

from ._ref import check_op


@pytest.mark.parametrize("stride,padding,k", [(1, 0, 3), (1, 1, 3), (2, 1, 3), (2, 0, 2), (3, 2, 5)])
def test_conv2d_matches_torch_and_finite_differences(stride, padding, k):
    rng = np.random.default_rng(stride * 10 + padding + k)
    x, W, b = rng.standard_normal((2, 3, 7, 8)), rng.standard_normal((4, 3, k, k)), rng.standard_normal(4)
    check_op(lambda x, W, b: conv2d_forward(x, W, b, stride, padding),
             conv2d_backward,
             lambda x, W, b: F.conv2d(x, W, b, stride=stride, padding=padding),
             [x, W, b], rng, ["x", "W", "b"])


def test_conv2d_rectangular_kernel_without_bias():
    rng = np.random.default_rng(3)
    x, W = rng.standard_normal((1, 2, 6, 5)), rng.standard_normal((3, 2, 2, 3))
    check_op(lambda x, W: conv2d_forward(x, W), lambda g, c: conv2d_backward(g, c)[:2],
             lambda x, W: F.conv2d(x, W), [x, W], rng, ["x", "W"])


def test_col2im_is_the_adjoint_of_im2col():
    # <im2col(x), c> == <x, col2im(c)> for all x, c: the backward of a linear map is its transpose
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 7, 6))
    cols, hw = im2col(x, 3, 2, stride=2, padding=1)
    c = rng.standard_normal(cols.shape)
    lhs = (cols * c).sum()
    rhs = (x * col2im(c, x.shape, 3, 2, 2, 1, hw)).sum()
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_tutorial_formula_is_true_convolution():
    # In 1-D, numpy's np.convolve is the textbook sum y[i] = sum_m f[m] x[i - m]: the same
    # formula as the tutorial's, so it is an independent reference for the flip.
    rng = np.random.default_rng(5)
    x, f = rng.standard_normal(9), rng.standard_normal(4)
    np.testing.assert_allclose(convolve2d(x[None], f[None], "full")[0], np.convolve(x, f, "full"))
    np.testing.assert_allclose(convolve2d(x[None], f[None])[0], np.convolve(x, f, "valid"))
    np.testing.assert_allclose(correlate2d(x[None], f[None])[0], np.correlate(x, f, "valid"))


def test_convolution_is_correlation_with_the_kernel_rotated_180_degrees():
    rng = np.random.default_rng(6)
    x, f = rng.standard_normal((8, 7)), rng.standard_normal((3, 4))
    for mode in ("valid", "full"):
        np.testing.assert_allclose(convolve2d(x, f, mode), correlate2d(x, np.rot90(f, 2), mode))
    # ... and they differ for a kernel that is not symmetric under the rotation
    assert not np.allclose(convolve2d(x, f), correlate2d(x, f))
    # conv layers (ours and torch's) compute the correlation
    layer, _ = conv2d_forward(x[None, None], f[None, None])
    np.testing.assert_allclose(layer[0, 0], correlate2d(x, f))
    ref = F.conv2d(torch.from_numpy(x[None, None]), torch.from_numpy(f[None, None]))
    np.testing.assert_allclose(ref.numpy()[0, 0], correlate2d(x, f))


def test_conv_rejects_bad_shapes_naming_both():
    with pytest.raises(ShapeError, match=r"4-D array \(N, C, H, W\), received shape \(3, 8, 8\)"):
        conv2d_forward(np.ones((3, 8, 8)), np.ones((2, 3, 3, 3)))
    with pytest.raises(ShapeError, match=r"expected 3 input channels.*received shape \(1, 2, 8, 8\)"):
        conv2d_forward(np.ones((1, 2, 8, 8)), np.ones((4, 3, 3, 3)))
    with pytest.raises(ShapeError, match=r"at least 5x5, received \(1, 1, 4, 4\)"):
        conv2d_forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 5, 5)))
    with pytest.raises(ShapeError, match=r"expected shape \(4,\), received \(3,\)"):
        conv2d_forward(np.ones((1, 3, 8, 8)), np.ones((4, 3, 3, 3)), np.ones(3))
    with pytest.raises(ShapeError, match=r"kernel's size \(3, 3\), received \(2, 5\)"):
        convolve2d(np.ones((2, 5)), np.ones((3, 3)))
