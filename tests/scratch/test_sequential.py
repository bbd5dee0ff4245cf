import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fromzero.scratch import (AvgPool2D, Conv2D, Dense, Flatten, LayerNorm, MaxPool2D, ReLU,
                              SelfAttention, Sequential, Sigmoid, Tanh, numerical_gradient,
                              softmax_cross_entropy_backward, softmax_cross_entropy_forward)

from ._ref import assert_close


def small_cnn():
    return Sequential(Conv2D(2, 3, 3, padding=1, rng=0, dtype=np.float64), ReLU(), MaxPool2D(2),
                      Conv2D(3, 4, 3, rng=1, dtype=np.float64), Tanh(), AvgPool2D(2),
                      Flatten(), Dense(4, 5, rng=2, dtype=np.float64), Sigmoid(),
                      Dense(5, 3, rng=3, dtype=np.float64))


def torch_cnn(model, x):
    p = [torch.tensor(a, requires_grad=True) for a in model.params()]
    h = F.max_pool2d(F.relu(F.conv2d(x, p[0], p[1], padding=1)), 2)
    h = F.avg_pool2d(torch.tanh(F.conv2d(h, p[2], p[3])), 2).flatten(1)
    return F.linear(torch.sigmoid(F.linear(h, p[4], p[5])), p[6], p[7]), p


def test_backprop_through_a_cnn_matches_autograd_and_finite_differences():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 2, 8, 8)), np.array([0, 2, 1, 2])  # 8 -> 4 -> 2 -> 1
    model = small_cnn()
    loss, cache = softmax_cross_entropy_forward(model.forward(x), y)
    dx = model.backward(softmax_cross_entropy_backward(cache))
    xt = torch.tensor(x, requires_grad=True)
    logits, p = torch_cnn(model, xt)
    ref = F.cross_entropy(logits, torch.from_numpy(y))
    ref.backward()
    assert_close(loss, ref.item(), "loss")
    assert_close(dx, xt.grad.numpy(), "dx")
    for (name, _), ours, t in zip(model.named_params(), model.grads(), p):
        assert_close(ours, t.grad.numpy(), name)
    f = lambda: softmax_cross_entropy_forward(model.forward(x), y)[0]  # noqa: E731
    for (name, a), ours in list(zip(model.named_params(), model.grads()))[:2]:  # the first conv
        assert_close(ours, numerical_gradient(f, a), f"{name} vs finite differences")


def test_transformer_style_block_passes_a_numerical_gradient_check():
    rng = np.random.default_rng(1)
    model = Sequential(LayerNorm(4, dtype=np.float64),
                       SelfAttention(4, n_head=2, causal=True, rng=0, dtype=np.float64),
                       Dense(4, 3, rng=1, dtype=np.float64))
    x, g = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3))
    model.forward(x)
    dx = model.backward(g)
    f = lambda: float((model.forward(x) * g).sum())  # noqa: E731
    assert_close(dx, numerical_gradient(f, x), "dx")
    for (name, a), ours in zip(model.named_params(), model.grads()):
        assert_close(ours, numerical_gradient(f, a), name)


def test_first_layer_can_skip_its_input_gradient():
    model = Sequential(Conv2D(1, 2, 3, rng=0), ReLU(), Flatten(), Dense(8, 2, rng=1))
    y = model.forward(np.ones((3, 1, 4, 4), np.float32))
    assert y.dtype == np.float32
    assert model.backward(np.ones_like(y), need_dx=False) is None
    assert [g.shape for g in model.grads()] == [p.shape for p in model.params()]
    assert model.backward(np.ones_like(y)).shape == (3, 1, 4, 4)


def test_grads_before_backward_is_an_error():
    with pytest.raises(RuntimeError, match="call backward"):
        Sequential(Dense(2, 2, rng=0)).grads()
