import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fromzero.errors import ShapeError
from fromzero.scratch import (avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward,
                              max_pool2d_forward, tutorial_max_pool2d)

from ._ref import check_op

GEOMETRIES = [(2, None, 0), (3, 1, 1), (3, 2, 1), (2, 1, 0), ((2, 3), (1, 2), 1)]


@pytest.mark.parametrize("size,stride,padding", GEOMETRIES)
def test_max_pool_matches_torch_and_finite_differences(size, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 8))
    check_op(lambda x: max_pool2d_forward(x, size, stride, padding), max_pool2d_backward,
             lambda x: F.max_pool2d(x, size, stride or size, padding), [x], rng, ["x"])


@pytest.mark.parametrize("size,stride,padding", GEOMETRIES)
def test_avg_pool_matches_torch_and_finite_differences(size, stride, padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 8))
    check_op(lambda x: avg_pool2d_forward(x, size, stride, padding), avg_pool2d_backward,
             lambda x: F.avg_pool2d(x, size, stride or size, padding), [x], rng, ["x"])


def test_max_pool_gives_a_tied_window_gradient_to_one_entry_like_torch():
    x = np.zeros((1, 1, 4, 4))  # e.g. after a ReLU: every window is a 4-way tie
    y, cache = max_pool2d_forward(x)
    dx = max_pool2d_backward(np.ones_like(y), cache)
    t = torch.tensor(x, requires_grad=True)
    F.max_pool2d(t, 2).sum().backward()
    np.testing.assert_array_equal(dx, t.grad.numpy())
    assert dx.sum() == y.size


def test_tutorial_formula_is_a_stride_1_pooling_shifted_by_the_window():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 10))
    W = 3
    literal = np.array([[max(x[i - m, j - n] for m in range(W) for n in range(W))
                         for j in range(W - 1, 10)] for i in range(W - 1, 9)])
    np.testing.assert_array_equal(tutorial_max_pool2d(x, W), literal)
    stride1, _ = max_pool2d_forward(x[None, None], W, stride=1)
    np.testing.assert_array_equal(tutorial_max_pool2d(x, W), stride1[0, 0])
    # a CNN's pooling (stride s) keeps every s-th row and column of the stride-1 result
    strided, _ = max_pool2d_forward(x[None, None], W, stride=2)
    np.testing.assert_array_equal(strided[0, 0], stride1[0, 0, ::2, ::2])


def test_pool_rejects_bad_shapes_naming_both():
    with pytest.raises(ShapeError, match=r"4-D array \(N, C, H, W\), received shape \(4, 4\)"):
        max_pool2d_forward(np.ones((4, 4)))
    with pytest.raises(ShapeError, match=r"at least 3x3, received \(1, 1, 2, 2\)"):
        avg_pool2d_forward(np.ones((1, 1, 2, 2)), 3)
    y, cache = max_pool2d_forward(np.ones((1, 1, 4, 4)))
    with pytest.raises(ShapeError, match=r"\(1, 1, 2, 2\).*received \(1, 1, 4, 4\)"):
        max_pool2d_backward(np.ones((1, 1, 4, 4)), cache)
