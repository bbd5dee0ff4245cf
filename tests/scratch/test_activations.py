import numpy as np
import pytest
import torch

from fromzero.errors import ShapeError
from fromzero.scratch import (gelu_backward, gelu_forward, relu_backward, relu_forward, sigmoid_backward,
                              sigmoid_forward, softmax_backward, softmax_forward, tanh_backward,
                              tanh_forward)

from ._ref import check_op

CASES = {
    "relu": (relu_forward, relu_backward, torch.relu),
    "sigmoid": (sigmoid_forward, sigmoid_backward, torch.sigmoid),
    "tanh": (tanh_forward, tanh_backward, torch.tanh),
    "softmax": (softmax_forward, softmax_backward, lambda x: torch.softmax(x, dim=-1)),
    "gelu": (gelu_forward, gelu_backward, lambda x: torch.nn.functional.gelu(x, approximate="tanh")),
}


@pytest.mark.parametrize("name", CASES)
def test_activation_matches_torch_and_finite_differences(name):
    fwd, bwd, ref = CASES[name]
    rng = np.random.default_rng(0)
    check_op(fwd, bwd, ref, [rng.standard_normal((4, 7)) * 3], rng, ["x"])


def test_sigmoid_and_softmax_are_stable_for_huge_inputs():
    x = np.array([-1000.0, 0.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, _ = sigmoid_forward(x)
        p, _ = softmax_forward(x)
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(p, [0.0, 0.0, 1.0])


def test_softmax_over_another_axis():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5))
    y, cache = softmax_forward(x, axis=0)
    np.testing.assert_allclose(y.sum(axis=0), 1.0)
    g = rng.standard_normal(y.shape)
    t = torch.tensor(x, requires_grad=True)
    (torch.softmax(t, 0) * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(softmax_backward(g, cache), t.grad.numpy(), rtol=1e-10)


def test_backward_rejects_a_gradient_of_the_wrong_shape():
    _, cache = relu_forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"\(2, 3\).*received \(3, 2\)"):
        relu_backward(np.ones((3, 2)), cache)
