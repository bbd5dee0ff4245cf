"""Keras-like layers on plain PyTorch modules, with shape inference (tutorial 1.2.1, 1.2.3, 1.4.1).

Each layer is an ``nn.Module`` that creates its parameters once it knows its input shape, so
nobody computes ``in_features`` by hand. Shapes exclude the batch dimension and follow PyTorch's
channels-first convention: an MNIST image is ``(1, 28, 28)`` (the tutorial's tf.keras uses
``(28, 28, 1)``).

Example:
    >>> from fromzero.layers import Input, Conv2D, MaxPool2D, Flatten, Dense
    >>> x = Input((1, 28, 28))
    >>> y = Dense(10)(Flatten()(MaxPool2D(2)(Conv2D(8, 3, padding="same", activation="relu")(x))))
    >>> y.shape
    (10,)
"""
from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, ShapeError, unknown_name

ACTIVATIONS = {
    None: None, "linear": None, "relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "softmax": lambda x: F.softmax(x, dim=-1), "gelu": F.gelu, "silu": F.silu, "swish": F.silu,
    "elu": F.elu, "leaky_relu": F.leaky_relu, "relu2": lambda x: F.relu(x).square(),
}


def get_activation(name):
    if callable(name) and not isinstance(name, str):
        return name
    if name not in ACTIVATIONS:
        raise unknown_name("activation", name, [k for k in ACTIVATIONS if k])
    return ACTIVATIONS[name]


class Symbol:
    """A symbolic tensor of the functional API: a shape and the layer call that produced it."""

    def __init__(self, shape, layer=None, parents=()):
        self.shape, self.layer, self.parents = tuple(shape), layer, tuple(parents)

    def __repr__(self):
        return f"Symbol(shape={self.shape})"


def Input(shape, name: str | None = None) -> Symbol:
    """The model's input: ``shape`` excludes the batch dimension, e.g. ``(1, 28, 28)``."""
    shape = tuple(shape)
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ShapeError(f"Input: expected a shape of positive integers, got {shape!r}")
    s = Symbol(shape)
    s.name = name
    return s


class Layer(nn.Module):
    """Base layer: ``build(input_shape)`` creates parameters, ``call(x)`` computes the output.

    Calling a layer on a ``Symbol`` builds it and records the call (functional API); calling it
    on a tensor runs it, building it from the tensor's shape the first time.
    """

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        init = cls.__init__

        def __init__(self, *args, **kwargs):
            if not hasattr(self, "_config"):
                bound = inspect.signature(init).bind(self, *args, **kwargs)
                bound.apply_defaults()
                self._config = {k: v for k, v in list(bound.arguments.items())[1:]}
            init(self, *args, **kwargs)
        __init__.__signature__ = inspect.signature(init)
        __init__.__doc__ = init.__doc__
        cls.__init__ = __init__

    def __init__(self):
        super().__init__()
        self.built = False
        self.input_shape = self.output_shape = None

    def get_config(self) -> dict:
        return dict(self._config)

    def build(self, input_shape: tuple) -> None:
        """Create parameters for inputs of ``input_shape`` (no batch dimension)."""

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        with torch.device("meta"):
            return tuple(self.call(torch.empty((1, *input_shape), device="meta")).shape[1:])

    def call(self, x):
        raise NotImplementedError

    def _build(self, input_shape):
        if not self.built:
            self.build(tuple(input_shape))
            self.input_shape = tuple(input_shape)
            self.output_shape = self.compute_output_shape(self.input_shape)
            self.built = True
        elif tuple(input_shape) != self.input_shape:
            raise ShapeError(f"{type(self).__name__}: built for inputs of shape {self.input_shape}, "
                             f"got {tuple(input_shape)}")

    def __call__(self, *args, **kwargs):
        if args and isinstance(args[0], Symbol):
            self._build(args[0].shape)
            return Symbol(self.output_shape, self, args)
        return super().__call__(*args, **kwargs)

    def forward(self, x):
        if not self.built:
            self._build(x.shape[1:])
        return self.call(x)

    def extra_repr(self):
        return ", ".join(f"{k}={v!r}" for k, v in self._config.items())


def _pair(v, name):
    v = (v, v) if isinstance(v, int) else tuple(v)
    if len(v) != 2 or not all(isinstance(i, int) and i > 0 for i in v):
        raise ConfigError(f"{name}: expected a positive integer or a pair of them, got {v!r}")
    return v


class Dense(Layer):
    """Fully connected: ``y = f(x W^T + b)`` on the last axis (tutorial 1.3.1)."""

    def __init__(self, units: int, activation=None, use_bias: bool = True):
        super().__init__()
        if not (isinstance(units, int) and units > 0):
            raise ConfigError(f"Dense: units must be a positive integer, got {units!r}")
        self.units, self.use_bias, self.act = units, use_bias, get_activation(activation)

    def build(self, input_shape):
        self.linear = nn.Linear(input_shape[-1], self.units, bias=self.use_bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def call(self, x):
        y = self.linear(x)
        return self.act(y) if self.act else y


class Conv2D(Layer):
    """2-D convolution over (C, H, W) inputs (cross-correlation, as every framework computes it)."""

    def __init__(self, filters: int, kernel_size=3, strides=1, padding: str = "valid",
                 activation=None, use_bias: bool = True):
        super().__init__()
        if padding not in ("valid", "same"):
            raise ConfigError(f"Conv2D: padding must be 'valid' or 'same', got {padding!r}")
        self.filters, self.kernel = filters, _pair(kernel_size, "kernel_size")
        self.strides, self.padding = _pair(strides, "strides"), padding
        self.use_bias, self.act = use_bias, get_activation(activation)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ShapeError(f"Conv2D: expected inputs of shape (channels, height, width), "
                             f"got {input_shape}")
        if self.padding == "same" and self.strides != (1, 1):
            raise ConfigError("Conv2D: padding='same' needs strides=1 here")
        self.conv = nn.Conv2d(input_shape[0], self.filters, self.kernel, self.strides,
                              padding=self.padding, bias=self.use_bias)

    def compute_output_shape(self, s):
        if self.padding == "same":
            return (self.filters, s[1], s[2])
        h = (s[1] - self.kernel[0]) // self.strides[0] + 1
        w = (s[2] - self.kernel[1]) // self.strides[1] + 1
        if h < 1 or w < 1:
            raise ShapeError(f"Conv2D: input {s} is smaller than the kernel {self.kernel}")
        return (self.filters, h, w)

    def call(self, x):
        y = self.conv(x)
        return self.act(y) if self.act else y


class _Pool2D(Layer):
    fn = None

    def __init__(self, pool_size=2, strides=None, padding: str = "valid"):
        super().__init__()
        if padding not in ("valid", "same"):
            raise ConfigError(f"{type(self).__name__}: padding must be 'valid' or 'same', got {padding!r}")
        self.pool = _pair(pool_size, "pool_size")
        self.strides = _pair(strides, "strides") if strides is not None else self.pool
        self.padding = padding

    def compute_output_shape(self, s):
        if len(s) != 3:
            raise ShapeError(f"{type(self).__name__}: expected inputs of shape (channels, height, "
                             f"width), got {s}")
        if self.padding == "same":
            dims = [math.ceil(s[i + 1] / self.strides[i]) for i in range(2)]
        else:
            dims = [(s[i + 1] - self.pool[i]) // self.strides[i] + 1 for i in range(2)]
        if min(dims) < 1:
            raise ShapeError(f"{type(self).__name__}: input {s} is smaller than the window {self.pool}")
        return (s[0], *dims)

    def call(self, x):
        if self.padding == "same":  # pad so that out = ceil(in / stride), like Keras
            pads = []
            for i in (1, 0):
                size = x.shape[2 + i]
                total = max((math.ceil(size / self.strides[i]) - 1) * self.strides[i] + self.pool[i] - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads, value=-math.inf if type(self).fn is F.max_pool2d else 0.0)
        return type(self).fn(x, self.pool, self.strides)


class MaxPool2D(_Pool2D):
    """Max pooling: the largest value in each window (tutorial 1.3.5)."""
    fn = F.max_pool2d


class AvgPool2D(_Pool2D):
    """Average pooling: the mean of each window."""
    fn = F.avg_pool2d


class GlobalAvgPool2D(Layer):
    """(C, H, W) -> (C,): the mean over all positions."""

    def compute_output_shape(self, s):
        return (s[0],)

    def call(self, x):
        return x.mean(dim=(2, 3))


class Flatten(Layer):
    """(d1, d2, ...) -> (d1*d2*...): the step the tutorial forgot before its Dense layers."""

    def compute_output_shape(self, s):
        return (math.prod(s),)

    def call(self, x):
        return x.flatten(1)


class Reshape(Layer):
    def __init__(self, target_shape):
        super().__init__()
        self.target = tuple(target_shape)

    def compute_output_shape(self, s):
        if math.prod(s) != math.prod(self.target):
            raise ShapeError(f"Reshape: cannot reshape {s} ({math.prod(s)} values) to {self.target}")
        return self.target

    def call(self, x):
        return x.reshape(len(x), *self.target)


class _SameShape(Layer):
    """A layer whose output has the shape of its input."""

    def compute_output_shape(self, s):
        return s


class Dropout(_SameShape):
    """Zero a share ``rate`` of the values during training (scaled to keep the mean)."""

    def __init__(self, rate: float):
        super().__init__()
        if not 0 <= rate < 1:
            raise ConfigError(f"Dropout: rate must be in [0, 1), got {rate!r}")
        self.rate = rate

    def call(self, x):
        return F.dropout(x, self.rate, self.training)


class BatchNorm(_SameShape):
    """Batch normalisation over the channel axis (features for 1-D, channels for images)."""

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps

    def build(self, s):
        cls = nn.BatchNorm1d if len(s) in (1, 2) else nn.BatchNorm2d if len(s) == 3 else nn.BatchNorm3d
        self.bn = cls(s[0], eps=self.eps, momentum=self.momentum)

    def call(self, x):
        return self.bn(x)


class LayerNorm(_SameShape):
    """Layer normalisation over the last axis (per sample)."""

    def build(self, s):
        self.ln = nn.LayerNorm(s[-1])

    def call(self, x):
        return self.ln(x)


class Activation(_SameShape):
    """An activation by name: 'relu', 'sigmoid', 'tanh', 'softmax', 'gelu', ..."""

    def __init__(self, activation):
        super().__init__()
        self.act = get_activation(activation)

    def call(self, x):
        return self.act(x) if self.act else x


class Embedding(Layer):
    """Integer ids (T,) -> vectors (T, output_dim)."""

    def __init__(self, input_dim: int, output_dim: int):
        super().__init__()
        self.input_dim, self.output_dim = input_dim, output_dim
        self.emb = nn.Embedding(input_dim, output_dim)

    def compute_output_shape(self, s):
        return (*s, self.output_dim)

    def call(self, x):
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.input_dim):
            raise ShapeError(f"Embedding: ids must be in [0, {self.input_dim}), got values in "
                             f"[{int(x.min())}, {int(x.max())}]")
        return self.emb(x.long())


class _Merge(Layer):
    """A layer of several inputs, given as arguments or as one list: ``Add()([a, b])``."""

    def merged_shape(self, shapes: list[tuple]) -> tuple:
        raise NotImplementedError

    def __call__(self, *args):
        if args and isinstance(args[0], (list, tuple)):
            args = tuple(args[0])
        if args and isinstance(args[0], Symbol):
            self.built, self.input_shape = True, args[0].shape
            self.output_shape = self.merged_shape([a.shape for a in args])
            return Symbol(self.output_shape, self, args)
        return nn.Module.__call__(self, *args)


class Add(_Merge):
    """Element-wise sum of several inputs of the same shape (residual connections)."""

    def merged_shape(self, shapes):
        if len(set(shapes)) != 1:
            raise ShapeError(f"Add: inputs must have the same shape, got {sorted(set(shapes))}")
        return shapes[0]

    def forward(self, *xs):
        return sum(xs[1:], xs[0])


class Concatenate(_Merge):
    """Join inputs along ``axis`` (an axis of the per-sample shape; -1 is the last)."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def merged_shape(self, shapes):
        ax = self.axis % len(shapes[0])
        out = list(shapes[0])
        out[ax] = sum(s[ax] for s in shapes)
        return tuple(out)

    def forward(self, *xs):
        return torch.cat(xs, dim=self.axis if self.axis < 0 else self.axis + 1)


# Keras spellings
MaxPooling2D, AveragePooling2D, BatchNormalization = MaxPool2D, AvgPool2D, BatchNorm
GlobalAveragePooling2D = GlobalAvgPool2D
LAYERS = {c.__name__: c for c in (Dense, Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D, Flatten,
                                  Reshape, Dropout, BatchNorm, LayerNorm, Activation, Embedding,
                                  Add, Concatenate)}


def register_layer(cls):
    """Make a layer class known to ``Model.from_config`` (saving and loading)."""
    LAYERS[cls.__name__] = cls
    return cls

