import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fromzero.errors import ShapeError
from fromzero.scratch import (mse_backward, mse_forward, numerical_gradient,
                              softmax_cross_entropy_backward, softmax_cross_entropy_forward)

from ._ref import assert_close


def test_cross_entropy_matches_torch_and_finite_differences():
    rng = np.random.default_rng(0)
    z, y = rng.standard_normal((6, 5)) * 3, rng.integers(0, 5, 6)
    loss, cache = softmax_cross_entropy_forward(z, y)
    dz = softmax_cross_entropy_backward(cache, dloss=2.0)
    t = torch.tensor(z, requires_grad=True)
    ref = F.cross_entropy(t, torch.from_numpy(y))
    (2.0 * ref).backward()
    assert_close(loss, ref.item(), "loss")
    assert_close(dz, t.grad.numpy(), "dz vs torch")
    num = numerical_gradient(lambda: 2.0 * softmax_cross_entropy_forward(z, y)[0], z)
    assert_close(dz, num, "dz vs finite differences")


def test_cross_entropy_is_stable_for_huge_logits():
    loss, _ = softmax_cross_entropy_forward(np.array([[1000.0, 0.0]]), np.array([1]))
    assert loss == pytest.approx(1000.0)


def test_mse_matches_torch_and_finite_differences():
    rng = np.random.default_rng(1)
    p, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    loss, cache = mse_forward(p, y)
    t = torch.tensor(p, requires_grad=True)
    ref = F.mse_loss(t, torch.from_numpy(y))
    ref.backward()
    assert_close(loss, ref.item(), "loss")
    assert_close(mse_backward(cache), t.grad.numpy(), "dpred vs torch")
    assert_close(mse_backward(cache), numerical_gradient(lambda: mse_forward(p, y)[0], p),
                 "dpred vs finite differences")


def test_losses_reject_bad_labels_and_shapes():
    with pytest.raises(ShapeError, match=r"\(3,\), received float64 \(3,\)"):
        softmax_cross_entropy_forward(np.zeros((3, 4)), np.zeros(3))
    with pytest.raises(ShapeError, match=r"\[0, 4\).*\[0, 4\]"):
        softmax_cross_entropy_forward(np.zeros((3, 4)), np.array([0, 4, 1]))
    with pytest.raises(ShapeError, match=r"2-D array \(N, C\), received shape \(4,\)"):
        softmax_cross_entropy_forward(np.zeros(4), np.array([0]))
    with pytest.raises(ShapeError, match=r"\(2, 3\), received \(3, 2\)"):
        mse_forward(np.zeros((2, 3)), np.zeros((3, 2)))
