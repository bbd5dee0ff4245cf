"""Recurrent networks (tutorial 1.2.4): Keras-like layers, textbook cells, a character-level LM.

Example:
    >>> from fromzero.rnn import LSTM, GRU, SimpleRNN, ExplicitLSTM
"""
from .cells import ExplicitLSTM, gru_cell, lstm_cell, rnn_cell
from .layers import GRU, LSTM, GetItem, GlobalAvgPool1D, GlobalMaxPool1D, SimpleRNN

__all__ = ["SimpleRNN", "LSTM", "GRU", "GetItem", "GlobalMaxPool1D", "GlobalAvgPool1D",
           "ExplicitLSTM", "lstm_cell", "gru_cell", "rnn_cell"]
