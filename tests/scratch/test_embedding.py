import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fromzero.errors import ShapeError
from fromzero.scratch import embedding_backward, embedding_forward, numerical_gradient

from ._ref import assert_close


def test_embedding_matches_torch_and_finite_differences():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((6, 4))
    idx = np.array([[0, 3, 3], [5, 3, 0]])  # repeated ids: their gradients must add up; 1, 2, 4 unused
    y, cache = embedding_forward(idx, W)
    g = rng.standard_normal(y.shape)
    dW = embedding_backward(g, cache)
    t = torch.tensor(W, requires_grad=True)
    ref = F.embedding(torch.from_numpy(idx), t)
    (ref * torch.from_numpy(g)).sum().backward()
    assert_close(y, ref.detach().numpy(), "forward")
    assert_close(dW, t.grad.numpy(), "dW vs torch")
    assert_close(dW, numerical_gradient(lambda: float((embedding_forward(idx, W)[0] * g).sum()), W),
                 "dW vs finite differences")
    assert np.all(dW[[1, 2, 4]] == 0)


def test_embedding_keeps_float32_and_rejects_bad_ids():
    y, cache = embedding_forward(np.array([1]), np.ones((3, 2), np.float32))
    assert y.dtype == embedding_backward(y, cache).dtype == np.float32
    with pytest.raises(ShapeError, match=r"ids in \[0, 3\), received values in \[-1, 1\]"):
        embedding_forward(np.array([1, -1]), np.ones((3, 2)))
    with pytest.raises(ShapeError, match="integer ids, received float64"):
        embedding_forward(np.array([1.0]), np.ones((3, 2)))
    with pytest.raises(ShapeError, match=r"2-D array \(V, C\), received shape \(3,\)"):
        embedding_forward(np.array([1]), np.ones(3))
