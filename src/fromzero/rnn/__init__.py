"""Recurrent networks (tutorial 1.2.4): the Keras-like layers (``fromzero.layers.recurrent``)
and the textbook cells (``fromzero.rnn.cells``); the language model is ``fromzero.models.rnn_lm``.

Example:
    >>> from fromzero.rnn import LSTM, GRU, SimpleRNN, ExplicitLSTM
"""
from ..layers.recurrent import GRU, LSTM, GetItem, GlobalAvgPool1D, GlobalMaxPool1D, SimpleRNN
from .cells import ExplicitLSTM, gru_cell, lstm_cell, rnn_cell

__all__ = ["SimpleRNN", "LSTM", "GRU", "GetItem", "GlobalMaxPool1D", "GlobalAvgPool1D",
           "ExplicitLSTM", "lstm_cell", "gru_cell", "rnn_cell"]
