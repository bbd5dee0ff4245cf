"""The tutorial's CNN (1.2.3, 1.4.1), written with fromzero's layers, with its bugs fixed.

The tutorial's ``build_model``:
    conv(32, 3x3, same) -> maxpool(2) -> conv(64, 3x3, same) -> maxpool(2) -> Dense(128, relu) -> Dense(10, relu)
has three bugs, fixed here:
1. Dense is applied to a 4-D tensor (N, 7, 7, 64) with no Flatten: Keras then applies it to the
   last axis only and the model outputs (N, 7, 7, 10), which does not match the (N, 10) labels.
   Fix: ``Flatten()`` before the Dense layers.
2. The convolutions have no activation, so conv -> pool -> conv is still (piecewise) linear.
   Fix: ``activation="relu"`` on each convolution.
3. The last layer is a ReLU fed to categorical cross-entropy, which expects probabilities (or
   logits): ReLU outputs are not a distribution and a zero output has log(0). Fix: the last
   Dense outputs logits (no activation) and the loss applies softmax internally.
"""
from __future__ import annotations

from ..layers import Conv2D, Dense, Flatten, Input, MaxPool2D
from ..model import Model


def conv_layer(x, filters, kernel_size, strides, padding):
    return Conv2D(filters, kernel_size, strides, padding, activation="relu")(x)  # fix 2


def pool_layer(x, pool_size, strides):
    return MaxPool2D(pool_size, strides)(x)


def dense_layer(x, units, activation="relu"):
    return Dense(units, activation=activation)(x)


def build_model(input_shape=(1, 28, 28), num_classes: int = 10) -> Model:
    """The tutorial's ``build_model`` (channels-first input), bugs fixed.

    Example:
        >>> build_model().output_shape
        (10,)
    """
    inputs = Input(input_shape)
    x = conv_layer(inputs, 32, (3, 3), (1, 1), "same")
    x = pool_layer(x, (2, 2), (2, 2))
    x = conv_layer(x, 64, (3, 3), (1, 1), "same")
    x = pool_layer(x, (2, 2), (2, 2))
    x = Flatten()(x)  # fix 1
    x = dense_layer(x, 128)
    outputs = dense_layer(x, num_classes, activation=None)  # fix 3: logits
    return Model(inputs, outputs, name="mnist_cnn")
