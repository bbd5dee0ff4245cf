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

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import make_config, register_model
from ..errors import ConfigError

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


@dataclass
class RNNLMConfig:
    """Hyper-parameters of an ``RNNLM``. ``vocab_size`` comes from the tokenizer when pre-training."""
    vocab_size: int = 65
    block_size: int = 64      # training window T (the state is reset at each window)
    cell: str = "lstm"        # lstm | gru
    n_layer: int = 2
    n_embd: int = 64          # embedding width
    n_hidden: int = 256       # recurrent state width
    dropout: float = 0.0      # on the embeddings, between layers and before the head
    init_std: float = 0.02    # the head's initialisation (embeddings: N(0, 1); recurrent weights: torch's)

    def __post_init__(self):
        p = []
        if self.cell not in CELLS:
            p.append(f"cell={self.cell!r} is not one of {', '.join(CELLS)}")
        for k in ("vocab_size", "block_size", "n_layer", "n_embd", "n_hidden"):
            if not (isinstance(getattr(self, k), int) and getattr(self, k) >= 1):
                p.append(f"{k} must be an integer >= 1, got {getattr(self, k)!r}")
        if not 0.0 <= self.dropout < 1.0:
            p.append(f"dropout must be in [0, 1), got {self.dropout!r}")
        if p:
            raise ConfigError("RNNLMConfig: " + "; ".join(p))

    @classmethod
    def from_dict(cls, d: dict) -> "RNNLMConfig":
        return make_config(cls, dict(d), source="RNNLMConfig")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: dict[str, dict] = {
    "tiny": dict(n_layer=1, n_embd=16, n_hidden=32, block_size=32, vocab_size=64),
    # the parameter count of the GPT's "shakespeare-char" preset (0.796M): 0.796M
    "shakespeare-char": dict(n_layer=2, n_embd=64, n_hidden=243, block_size=64, vocab_size=65),
}


# The default pre-training recipe of each preset (``recipes.gpt.PretrainConfig`` fields).
RECIPES: dict[str, dict] = {
    "tiny": dict(batch_size=8, max_iters=50, eval_interval=25, warmup=5, lr=3e-3, sample_tokens=0,
                 eval_tokens=2048),
    # the GPT preset's recipe but a higher learning rate (1e-2 beat 3e-3 at 300 steps, 2.04 vs 2.23)
    "shakespeare-char": dict(batch_size=12, max_iters=2000, eval_interval=250, warmup=100, lr=1e-2),
}


def rnn_lm_config(preset: str = "tiny", **overrides) -> RNNLMConfig:
    """The config of a named preset with some fields overridden."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown RNN LM preset {preset!r}; expected one of: {', '.join(PRESETS)}")
    return RNNLMConfig.from_dict({**PRESETS[preset], **overrides})


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
