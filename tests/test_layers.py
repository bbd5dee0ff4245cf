import pytest
import torch

from fromzero import Model, Sequential
from fromzero import layers as L
from fromzero.errors import ConfigError, ShapeError
from fromzero.models.cnn import build_model


@pytest.mark.parametrize("layer, shape, expected", [
    (L.Conv2D(8, 3), (1, 28, 28), (8, 26, 26)),
    (L.Conv2D(8, 3, padding="same"), (3, 28, 28), (8, 28, 28)),
    (L.Conv2D(4, (5, 3), strides=2), (1, 28, 28), (4, 12, 13)),
    (L.MaxPool2D(2), (8, 28, 28), (8, 14, 14)),
    (L.MaxPool2D(3, 2), (8, 7, 7), (8, 3, 3)),
    (L.AvgPool2D(2, padding="same"), (8, 7, 7), (8, 4, 4)),
    (L.MaxPool2D(2, padding="same"), (8, 7, 7), (8, 4, 4)),
    (L.GlobalAvgPool2D(), (8, 7, 7), (8,)),
    (L.Flatten(), (64, 7, 7), (3136,)),
    (L.Dense(5), (7, 3), (7, 5)),
    (L.Reshape((4, 6)), (24,), (4, 6)),
    (L.Dropout(0.5), (10,), (10,)),
    (L.BatchNorm(), (8, 5, 5), (8, 5, 5)),
    (L.Embedding(100, 16), (12,), (12, 16)),
])
def test_inferred_shape_equals_real_shape(layer, shape, expected):
    sym = layer(L.Input(shape))
    assert sym.shape == expected
    x = torch.randint(0, 100, (2, *shape)) if isinstance(layer, L.Embedding) else torch.randn(2, *shape)
    layer.eval()
    assert tuple(layer(x).shape[1:]) == expected


def test_tutorial_cnn_summary_counts_parameters():
    model = build_model()
    text = model.summary(print_fn=None)
    # conv 1*9*32+32, conv 32*9*64+64, dense 3136*128+128, dense 128*10+10
    assert model.count_params() == 320 + 18496 + 401536 + 1290
    assert "Total params: 421,642" in text
    assert "(None, 64, 7, 7)" in text and "(None, 3136)" in text


def test_dense_infers_in_features_and_lazy_build_on_tensor():
    d = L.Dense(3)
    out = d(torch.randn(4, 11))
    assert out.shape == (4, 3) and d.linear.in_features == 11
    with pytest.raises(ShapeError, match=r"built for inputs of shape \(11,\), got \(12,\)"):
        d(L.Input((12,)))


def test_functional_graph_with_residual_and_concat():
    x = L.Input((16,))
    h = L.Dense(16, activation="relu")(x)
    y = L.Add()(x, h)
    z = L.Concatenate()([y, x])
    out = L.Dense(2)(z)
    m = Model(x, out)
    assert m(torch.randn(3, 16)).shape == (3, 2)
    assert z.shape == (32,)


def test_sequential_needs_input_shape_and_layers():
    with pytest.raises(ConfigError, match="give the input shape"):
        Sequential([L.Dense(3)])
    with pytest.raises(ConfigError, match="item 0 must be a fromzero layer, got Linear"):
        Sequential([torch.nn.Linear(3, 3)], input_shape=(3,))


def test_bad_layer_configs_are_named():
    with pytest.raises(ConfigError, match="units must be a positive integer, got 0"):
        L.Dense(0)
    with pytest.raises(ConfigError, match="padding must be 'valid' or 'same', got 'full'"):
        L.Conv2D(3, padding="full")
    with pytest.raises(ValueError, match="unknown activation 'relu6'"):
        L.Dense(3, activation="relu6")
    with pytest.raises(ShapeError, match="smaller than the kernel"):
        L.Conv2D(3, 5)(L.Input((1, 3, 3)))


def test_dense_on_4d_input_is_the_tutorial_bug():
    """Without Flatten, Dense acts on the last axis: (64, 7, 7) -> (64, 7, 10), not (10,)."""
    x = L.Input((64, 7, 7))
    assert L.Dense(10)(x).shape == (64, 7, 10)
