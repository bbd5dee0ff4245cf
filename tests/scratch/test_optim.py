import numpy as np
import pytest
import torch

from fromzero.errors import ShapeError
from fromzero.scratch import SGD, Adam, sgd_step

from ._ref import assert_close

CASES = {
    "sgd": (lambda p: SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd-momentum": (lambda p: SGD(p, lr=0.1, momentum=0.9),
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    "adam": (lambda p: Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    "adam-betas": (lambda p: Adam(p, lr=0.03, betas=(0.8, 0.9), eps=1e-6),
                   lambda p: torch.optim.Adam(p, lr=0.03, betas=(0.8, 0.9), eps=1e-6)),
}


@pytest.mark.parametrize("name", CASES)
def test_optimizer_steps_match_torch(name):
    ours_f, theirs_f = CASES[name]
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    tparams = [torch.tensor(p, requires_grad=True) for p in params]
    ours, theirs = ours_f(params), theirs_f(tparams)
    for _ in range(6):
        grads = [rng.standard_normal(p.shape) for p in params]
        ours.step(grads)
        for t, g in zip(tparams, grads):
            t.grad = torch.from_numpy(g)
        theirs.step()
    for p, t in zip(params, tparams):
        assert_close(p, t.detach().numpy(), name, tol=1e-12)


def test_sgd_step_is_the_tutorials_rule():
    W, dW = np.array([[1.0, -2.0]]), np.array([[0.5, 0.5]])
    sgd_step(W, dW, lr=0.2)
    np.testing.assert_array_equal(W, [[0.9, -2.1]])


def test_gradient_descent_minimises_a_quadratic():
    w = np.array([5.0, -3.0])
    opt = SGD([w], lr=0.1, momentum=0.5)
    for _ in range(100):
        opt.step([2 * w])  # L = |w|², ∂L/∂w = 2w
    assert np.abs(w).max() < 1e-6


def test_step_rejects_mismatched_gradients():
    opt = Adam([np.zeros((2, 3))])
    with pytest.raises(ShapeError, match=r"gradient 0: expected shape \(2, 3\), received \(3, 2\)"):
        opt.step([np.zeros((3, 2))])
    with pytest.raises(ShapeError, match="expected 1 gradients, received 2"):
        opt.step([np.zeros((2, 3))] * 2)
