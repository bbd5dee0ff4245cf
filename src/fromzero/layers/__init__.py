"""Keras-like layers on plain PyTorch modules, with shape inference (tutorial 1.2.1, 1.2.3, 1.2.4).

``core`` holds the base ``Layer``, the functional API's ``Input``/``Symbol`` and the feed-forward
layers; ``recurrent`` the recurrent ones (``SimpleRNN``, ``LSTM``, ``GRU``). Importing this
package registers every layer for ``Model.from_config``.

Example:
    >>> from fromzero import layers as L
    >>> x = L.Input((20,))
    >>> L.Dense(2)(L.LSTM(8)(L.Embedding(100, 16)(x))).shape
    (2,)
"""
from .core import (ACTIVATIONS, LAYERS, Activation, Add, AveragePooling2D, AvgPool2D, BatchNorm,
                   BatchNormalization, Concatenate, Conv2D, Dense, Dropout, Embedding, Flatten,
                   GlobalAveragePooling2D, GlobalAvgPool2D, Input, Layer, LayerNorm, MaxPool2D,
                   MaxPooling2D, Reshape, Symbol, get_activation, register_layer)
from .recurrent import GRU, LSTM, GetItem, GlobalAvgPool1D, GlobalMaxPool1D, SimpleRNN, StateSymbols

__all__ = ["ACTIVATIONS", "LAYERS", "Activation", "Add", "AveragePooling2D", "AvgPool2D", "BatchNorm",
           "BatchNormalization", "Concatenate", "Conv2D", "Dense", "Dropout", "Embedding", "Flatten",
           "GlobalAveragePooling2D", "GlobalAvgPool2D", "Input", "Layer", "LayerNorm", "MaxPool2D",
           "MaxPooling2D", "Reshape", "Symbol", "get_activation", "register_layer",
           "GRU", "LSTM", "GetItem", "GlobalAvgPool1D", "GlobalMaxPool1D", "SimpleRNN", "StateSymbols"]
