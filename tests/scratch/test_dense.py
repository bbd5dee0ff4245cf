import numpy as np
import pytest
import torch.nn.functional as F

from fromzero.errors import ShapeError
from fromzero.scratch import dense_backward, dense_forward

from ._ref import check_op


@pytest.mark.parametrize("x_shape", [(5, 4), (2, 3, 4)])
def test_dense_matches_torch_and_finite_differences(x_shape):
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal(x_shape), rng.standard_normal((3, 4)), rng.standard_normal(3)
    check_op(dense_forward, dense_backward, F.linear, [x, W, b], rng, ["x", "W", "b"])


def test_dense_without_bias_and_without_dx():
    rng = np.random.default_rng(1)
    x, W = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    y, cache = dense_forward(x, W)
    np.testing.assert_allclose(y, x @ W.T)
    dx, dW, db = dense_backward(np.ones_like(y), cache, need_dx=False)
    assert dx is None and db is None and dW.shape == W.shape


def test_dense_rejects_bad_shapes_naming_both():
    with pytest.raises(ShapeError, match=r"\(\.\.\., 4\).*received \(5, 3\)"):
        dense_forward(np.ones((5, 3)), np.ones((2, 4)))
    with pytest.raises(ShapeError, match=r"expected shape \(2,\), received \(3,\)"):
        dense_forward(np.ones((5, 4)), np.ones((2, 4)), np.ones(3))
    y, cache = dense_forward(np.ones((5, 4)), np.ones((2, 4)))
    with pytest.raises(ShapeError, match=r"\(5, 2\).*received \(5, 3\)"):
        dense_backward(np.ones((5, 3)), cache)
    assert issubclass(ShapeError, ValueError)
