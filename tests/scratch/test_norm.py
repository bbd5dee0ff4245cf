import numpy as np
import pytest
import torch.nn.functional as F

from fromzero.errors import ShapeError
from fromzero.scratch import layer_norm_backward, layer_norm_forward

from ._ref import check_op


@pytest.mark.parametrize("x_shape", [(4, 6), (2, 3, 6)])
def test_layer_norm_matches_torch_and_finite_differences(x_shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape) * 2 + 1
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    check_op(layer_norm_forward, layer_norm_backward,
             lambda x, g, b: F.layer_norm(x, (6,), g, b, eps=1e-5),
             [x, gamma, beta], rng, ["x", "gamma", "beta"])


def test_layer_norm_rejects_bad_shapes_naming_both():
    with pytest.raises(ShapeError, match=r"expected shape \(\*, 5\), received \(4, 6\)"):
        layer_norm_forward(np.ones((4, 6)), np.ones(5), np.ones(5))
    with pytest.raises(ShapeError, match=r"beta: expected shape \(6,\), received \(5,\)"):
        layer_norm_forward(np.ones((4, 6)), np.ones(6), np.ones(5))
