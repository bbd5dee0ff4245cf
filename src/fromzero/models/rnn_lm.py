"""A character-level (or token-level) recurrent language model: embedding, stacked LSTM/GRU, linear head.

It has the GPT's interface, so the same pre-training, evaluation and generation code runs it:
``model(idx)`` gives logits (B, T, vocab_size), ``model(idx, targets)`` the mean cross-entropy,
and ``model(idx, cache=state)`` continues from a saved recurrent state (``new_cache``) and gives
only the last position's logits, which is what generation needs. Where the GPT keeps the keys
and values of every past position, the RNN keeps one fixed-size state: each new token costs the
same, however long the text.

Example:
    >>> import torch
    >>> model = RNNLM(rnn_lm_config("tiny", vocab_size=65))
    >>> idx = torch.randint(0, 65, (2, 16))
    >>> model(idx).shape
    torch.Size([2, 16, 65])
    >>> model(idx, idx).ndim
    0
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..recipes.configs import RNN_RECIPES as RECIPES  # noqa: F401
from ..registry import register_model
from .configs import RNN_PRESETS as PRESETS, RNNLMConfig, rnn_lm_config  # noqa: F401

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class RNNState:
    """The recurrent state carried between calls during generation (the RNN's "cache").

    It offers what the generation loop asks of a KV cache (``len``, ``max_len``, ``pos``,
    ``advance``); ``max_len`` is infinite because the state never grows.
    """

    def __init__(self):
        self.state = None
        self.len = self.pos = 0
        self.max_len = math.inf

    def advance(self, T: int):
        self.len += T
        self.pos += T

    def reset(self):
        self.state, self.len, self.pos = None, 0, 0


@register_model("rnn-lm", config_cls=RNNLMConfig)
class RNNLM(nn.Module):
    """A recurrent language model: ``model(idx)`` gives logits, ``model(idx, targets)`` the loss.

    Args:
        config: an ``RNNLMConfig`` (see ``rnn_lm_config`` for the presets).
    """

    def __init__(self, config: RNNLMConfig):
        super().__init__()
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.drop = nn.Dropout(c.dropout)
        self.rnn = CELLS[c.cell](c.n_embd, c.n_hidden, num_layers=c.n_layer, batch_first=True,
                                 dropout=c.dropout if c.n_layer > 1 else 0.0)
        self.lm_head = nn.Linear(c.n_hidden, c.vocab_size)
        nn.init.normal_(self.lm_head.weight, std=c.init_std)
        nn.init.zeros_(self.lm_head.bias)
        if c.cell == "lstm":  # forget-gate bias 1: remember by default (Jozefowicz et al. 2015)
            for name, p in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        p[c.n_hidden:2 * c.n_hidden].fill_(1.0)

    def forward(self, idx, targets=None, cache: RNNState | None = None):
        x = self.drop(self.wte(idx))                                 # (B, T, n_embd)
        state = None if cache is None else cache.state
        h, state = self.rnn(x, state)                                # (B, T, n_hidden)
        if cache is not None:
            cache.state = state
            cache.advance(idx.size(1))
            h = h[:, -1:, :]                                         # (B, 1, n_hidden)
        logits = self.lm_head(self.drop(h))                          # (B, T, vocab_size)
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)

    def new_cache(self, batch_size: int = 1, device=None, dtype=None) -> RNNState:
        """An empty state for generation (the counterpart of the GPT's ``KVCache``)."""
        return RNNState()

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count (all of them: the embedding has no positional part to leave out)."""
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, T: int | None = None) -> int:
        """Training FLOPs per token ≈ 6N (forward 2N, backward 4N); the embedding lookup is free."""
        return 6 * (self.num_params() - self.wte.weight.numel())
