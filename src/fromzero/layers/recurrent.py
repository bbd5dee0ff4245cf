"""Keras-like recurrent layers over torch's fused modules: ``SimpleRNN``, ``LSTM``, ``GRU``.

Inputs are sequences of shape (T, features) per sample (batch first, as everywhere in fromzero).

* ``return_sequences=False``: the last step's output, (units,); ``True``: every step's, (T, units).
* ``bidirectional=True``: a second layer reads the sequence backwards; outputs are the two
  directions concatenated, so the width is ``2 * units``.
* ``num_layers``: stacked layers in one fused module (each reads the outputs of the one below).
* ``dropout``: dropout on the inputs of every stacked layer during training.
* ``return_state=True``: the layer returns ``(output, h)`` (``(output, h, c)`` for the LSTM),
  the final states of the top layer, both directions concatenated, each (D * units,).

The textbook versions of the cells, written out gate by gate, are in ``fromzero.rnn.cells``.

Example:
    >>> from fromzero import Sequential, layers as L
    >>> from fromzero.rnn import LSTM
    >>> model = Sequential([L.Input((20,)), L.Embedding(1000, 32),
    ...                     LSTM(64, bidirectional=True), L.Dense(2)])
    >>> model.output_shape
    (2,)
    >>> x = L.Input((10, 3))
    >>> seq, h, c = LSTM(16, return_sequences=True, return_state=True)(x)
    >>> seq.shape, h.shape, c.shape
    ((10, 16), (16,), (16,))
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, ShapeError
from .core import Layer, Symbol, register_layer


class StateSymbols(Symbol):
    """The symbolic result of a layer that returns several tensors: unpack it.

    ``out, h, c = LSTM(8, return_state=True)(x)``. Each item is a ``GetItem`` of this symbol,
    so the graph (and its saved config) records which output feeds which layer.
    """

    def __init__(self, shapes, layer, parents):
        super().__init__(shapes[0], layer, parents)
        self.shapes = [tuple(s) for s in shapes]
        self._items = {}

    def __len__(self):
        return len(self.shapes)

    def __getitem__(self, i: int) -> Symbol:
        if not -len(self) <= i < len(self):
            raise IndexError(f"{type(self.layer).__name__} returns {len(self)} outputs, got index {i}")
        i %= len(self)
        if i not in self._items:
            self._items[i] = GetItem(i)(self)
        return self._items[i]

    def __iter__(self):
        return (self[i] for i in range(len(self)))


@register_layer
class GetItem(Layer):
    """Pick output ``index`` of a layer that returns several tensors (``return_state=True``)."""

    def __init__(self, index: int):
        super().__init__()
        self.index = index

    def __call__(self, x):
        if isinstance(x, StateSymbols):
            self.built, self.input_shape = True, x.shape
            self.output_shape = x.shapes[self.index]
            return Symbol(self.output_shape, self, (x,))
        if isinstance(x, Symbol):
            raise ShapeError(f"GetItem: expected the result of a layer with several outputs, got {x}")
        return nn.Module.__call__(self, x)

    def forward(self, x):
        return x[self.index]


class _Recurrent(Layer):
    """Shared by SimpleRNN, LSTM and GRU: builds the fused torch module once the feature size is known."""

    kind = ""          # "RNN", "LSTM" or "GRU"
    n_states = 1       # the LSTM has two: h and c

    def __init__(self, units: int, return_sequences: bool = False, return_state: bool = False,
                 bidirectional: bool = False, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        name = type(self).__name__
        if not (isinstance(units, int) and units > 0):
            raise ConfigError(f"{name}: units must be a positive integer, got {units!r}")
        if not (isinstance(num_layers, int) and num_layers > 0):
            raise ConfigError(f"{name}: num_layers must be a positive integer, got {num_layers!r}")
        if not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
            raise ConfigError(f"{name}: dropout must be in [0, 1), got {dropout!r}")
        self.units, self.return_sequences, self.return_state = units, return_sequences, return_state
        self.bidirectional, self.num_layers, self.dropout = bidirectional, num_layers, float(dropout)
        self.directions = 2 if bidirectional else 1

    def _module_kwargs(self) -> dict:
        return {}

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ShapeError(f"{type(self).__name__}: expected inputs of shape (steps, features), "
                             f"got {input_shape}")
        cls = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[self.kind]
        # torch's dropout acts between stacked layers; call() adds it on the first layer's input
        self.rnn = cls(input_shape[1], self.units, num_layers=self.num_layers, batch_first=True,
                       bidirectional=self.bidirectional,
                       dropout=self.dropout if self.num_layers > 1 else 0.0, **self._module_kwargs())

    def compute_output_shape(self, input_shape):
        width = self.units * self.directions
        out = (input_shape[0], width) if self.return_sequences else (width,)
        if self.return_state:
            return [out] + [(width,)] * self.n_states
        return out

    def __call__(self, *args, **kwargs):
        if args and isinstance(args[0], Symbol) and self.return_state:
            self._build(args[0].shape)
            return StateSymbols(self.output_shape, self, args)
        return super().__call__(*args, **kwargs)

    def call(self, x):
        if x.dim() != 3:
            raise ShapeError(f"{type(self).__name__}: expected inputs of shape (batch, steps, features), "
                             f"got {tuple(x.shape)}")
        x, state = self.rnn(F.dropout(x, self.dropout, self.training))  # x: (B, T, D*units)
        states = state if isinstance(state, tuple) else (state,)        # each (layers*D, B, units)
        D = self.directions
        finals = [torch.cat(list(s[-D:]), dim=-1) for s in states]      # top layer: (B, D*units)
        out = x if self.return_sequences else finals[0]
        return (out, *finals) if self.return_state else out


@register_layer
class SimpleRNN(_Recurrent):
    """The simple (Elman) RNN: h_t = tanh(W x_t + U h_{t-1} + b).

    Args:
        units: size of the hidden state.
        activation: "tanh" (default) or "relu".
        return_sequences, return_state, bidirectional, num_layers, dropout: see the module docstring.
    """
    kind = "RNN"

    def __init__(self, units: int, activation: str = "tanh", return_sequences: bool = False,
                 return_state: bool = False, bidirectional: bool = False, num_layers: int = 1,
                 dropout: float = 0.0):
        super().__init__(units, return_sequences, return_state, bidirectional, num_layers, dropout)
        if activation not in ("tanh", "relu"):
            raise ConfigError(f"SimpleRNN: activation must be 'tanh' or 'relu', got {activation!r}")
        self.activation = activation

    def _module_kwargs(self):
        return {"nonlinearity": self.activation}


@register_layer
class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997) over ``nn.LSTM``.

    Args:
        units: size of the hidden and cell states.
        return_sequences, return_state, bidirectional, num_layers, dropout: see the module docstring.

    With ``return_state=True`` it returns ``(output, h, c)``.
    """
    kind, n_states = "LSTM", 2


@register_layer
class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014) over ``nn.GRU``: an LSTM-like cell with two gates.

    Args:
        units: size of the hidden state.
        return_sequences, return_state, bidirectional, num_layers, dropout: see the module docstring.
    """
    kind = "GRU"


class _GlobalPool1D(Layer):
    def compute_output_shape(self, s):
        if len(s) != 2:
            raise ShapeError(f"{type(self).__name__}: expected inputs of shape (steps, features), got {s}")
        return (s[1],)


@register_layer
class GlobalMaxPool1D(_GlobalPool1D):
    """(T, C) -> (C,): the largest value of each feature over the steps."""

    def call(self, x):
        return x.amax(dim=1)


@register_layer
class GlobalAvgPool1D(_GlobalPool1D):
    """(T, C) -> (C,): the mean of each feature over the steps."""

    def call(self, x):
        return x.mean(dim=1)
