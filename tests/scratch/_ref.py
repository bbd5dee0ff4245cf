"""Shared checks: our forward/backward against torch autograd and against finite differences."""
from __future__ import annotations

import numpy as np
import torch

from fromzero.scratch import numerical_gradient, relative_error

TOL = 1e-6  # float64 throughout


def assert_close(ours, ref, what: str = "", tol: float = TOL) -> None:
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    err = relative_error(ours, ref)
    assert err < tol, f"{what}: relative error {err:.2e} >= {tol:.0e}"


def torch_reference(torch_fn, arrays, g):
    """torch_fn's output and the gradients of sum(output * g) w.r.t. every array."""
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    y = torch_fn(*ts)
    (y * torch.from_numpy(g)).sum().backward()
    return y.detach().numpy(), [t.grad.numpy() for t in ts]


def check_op(forward, backward, torch_fn, arrays, rng, names=None, numerical=True):
    """Forward and every gradient of ``backward(g, cache)`` (aligned with ``arrays``) against
    torch autograd and, when ``numerical``, against central differences."""
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in arrays]
    names = names or [f"arg{i}" for i in range(len(arrays))]
    y, cache = forward(*arrays)
    g = rng.standard_normal(np.shape(y))
    grads = backward(g, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    y_ref, grads_ref = torch_reference(torch_fn, arrays, g)
    assert_close(y, y_ref, "forward")
    for name, ours, ref in zip(names, grads, grads_ref):
        assert_close(ours, ref, f"d{name} vs torch")
    if numerical:
        loss = lambda: float((forward(*arrays)[0] * g).sum())  # noqa: E731
        for name, a, ours in zip(names, arrays, grads):
            assert_close(ours, numerical_gradient(loss, a), f"d{name} vs finite differences")
    return y, grads
