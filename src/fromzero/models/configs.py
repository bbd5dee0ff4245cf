"""The model families' configs and named sizes: plain dataclasses, no torch.

Each field's default, allowed values and (where it is a command-line option) help are written
here once: the models, ``check`` and the command line read them. Sizes have upper bounds, so that
a config read from a file cannot ask for absurd memory before anything is checked.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..config import check, make_config, opt
from ..errors import ConfigError

# --- GPT (models/gpt.py) -------------------------------------------------------------------------


@dataclass
class GPTConfig:
    """Hyper-parameters of a GPT. ``vocab_size`` comes from the tokenizer when pre-training."""
    vocab_size: int = opt(50304, range="[1, 2**21]")   # GPT-2's 50257 padded to a multiple of 64
    block_size: int = opt(1024, "context length in tokens", range="[1, 2**20]")
    n_layer: int = opt(12, "Transformer blocks", range="[1, 1024]")
    n_head: int = opt(12, "attention heads", range="[1, 1024]")
    n_embd: int = opt(768, "embedding width", range="[1, 2**16]")    # C; head size = n_embd // n_head
    mlp_ratio: int = opt(4, range="[1, 64]")        # MLP hidden size = mlp_ratio * n_embd
    activation: str = opt("relu2", choices=("relu2", "gelu", "gelu_tanh"))  # ReLU squared; GELU; GPT-2's GELU
    norm: str = opt("layernorm", choices=("layernorm", "rmsnorm"))  # LayerNorm has no bias unless bias=True
    pos_emb: str = opt("rope", choices=("rope", "learned"))         # rotary | GPT-2's position table
    rope_base: float = opt(10000.0, range="> 1")
    qk_norm: bool = True         # normalise each head's queries and keys (with `norm`)
    tie_weights: bool = True     # the output layer reuses the token embedding matrix
    zero_init: bool = True       # output projections start at zero: each block starts as identity
    bias: bool = False           # biases in Linear layers and LayerNorm
    dropout: float = opt(0.0, "dropout probability", range="[0, 1)")
    attention: str = opt("sdpa", choices=("sdpa", "explicit"))      # fused kernel | the formula, written out
    init_std: float = opt(0.02, range="> 0")

    def __post_init__(self):
        problems = check(self)
        if self.n_head >= 1 and self.n_embd % self.n_head:
            problems.append(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        elif self.pos_emb == "rope" and self.n_head >= 1 and (self.n_embd // self.n_head) % 2:
            problems.append(f"rope needs an even head size, got n_embd/n_head = {self.n_embd // self.n_head}")
        if problems:
            raise ConfigError("GPTConfig: " + "; ".join(problems))

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head


# Named sizes. "shakespeare-char" is nanoGPT's CPU configuration of its shakespeare_char example.
# The CPU sizes leave QK-norm off: on Tiny Shakespeare it gained ~0.008 validation loss (about
# seed noise) for ~5% more time per step on a CPU (docs/gpt.md); the GPU sizes keep it.
_NANOGPT_CPU = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, qk_norm=False)
GPT_PRESETS: dict[str, dict] = {
    "tiny": dict(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=64),
    "shakespeare-char": _NANOGPT_CPU,
    "shakespeare-speedrun": _NANOGPT_CPU,         # the same model; its recipe differs (recipes/configs.py)
    "tang-char": dict(n_layer=4, n_head=4, n_embd=128, block_size=128, vocab_size=6431, qk_norm=False),
    "cpu-small": dict(n_layer=6, n_head=6, n_embd=192, block_size=128, vocab_size=4096, qk_norm=False),
    "cpu-medium": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=4096, qk_norm=False),
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768, block_size=1024),           # 124M
    "gpt2-medium": dict(n_layer=24, n_head=16, n_embd=1024, block_size=1024),   # 350M
    "gpt2-large": dict(n_layer=36, n_head=20, n_embd=1280, block_size=1024),    # 774M
}


def gpt_config(preset: str = "tiny", **overrides) -> GPTConfig:
    """The config of a named preset, with some fields overridden.

    Example:
        >>> gpt_config("shakespeare-char", dropout=0.1).n_embd
        128
    """
    if preset not in GPT_PRESETS:
        raise ConfigError(f"unknown GPT preset {preset!r}; expected one of: {', '.join(GPT_PRESETS)}")
    return make_config(GPTConfig, {**GPT_PRESETS[preset], **overrides}, source="GPTConfig")


# --- recurrent language model (models/rnn_lm.py) -------------------------------------------------


@dataclass
class RNNLMConfig:
    """Hyper-parameters of an ``RNNLM``. ``vocab_size`` comes from the tokenizer when pre-training."""
    vocab_size: int = opt(65, range="[1, 2**21]")
    block_size: int = opt(64, "training window in tokens (the state is reset at each window)", range="[1, 2**20]")
    cell: str = opt("lstm", "recurrent cell", choices=("lstm", "gru"))
    n_layer: int = opt(2, "stacked recurrent layers", range="[1, 1024]")
    n_embd: int = opt(64, "embedding width", range="[1, 2**16]")
    n_hidden: int = opt(256, "recurrent state width", range="[1, 2**16]")
    dropout: float = opt(0.0, "dropout probability", range="[0, 1)")  # embeddings, between layers, before the head
    init_std: float = opt(0.02, range="> 0")    # the head's initialisation (embeddings: N(0, 1); recurrent weights: torch's)

    def __post_init__(self):
        if problems := check(self):
            raise ConfigError("RNNLMConfig: " + "; ".join(problems))


RNN_PRESETS: dict[str, dict] = {
    "tiny": dict(n_layer=1, n_embd=16, n_hidden=32, block_size=32, vocab_size=64),
    # the parameter count of the GPT's "shakespeare-char" preset (0.796M): 0.796M
    "shakespeare-char": dict(n_layer=2, n_embd=64, n_hidden=243, block_size=64, vocab_size=65),
}


def rnn_lm_config(preset: str = "tiny", **overrides) -> RNNLMConfig:
    """The config of a named preset with some fields overridden."""
    if preset not in RNN_PRESETS:
        raise ConfigError(f"unknown RNN LM preset {preset!r}; expected one of: {', '.join(RNN_PRESETS)}")
    return make_config(RNNLMConfig, {**RNN_PRESETS[preset], **overrides}, source="RNNLMConfig")


# --- forecaster (models/forecaster.py) -----------------------------------------------------------


@dataclass
class ForecasterConfig:
    """Shapes and hyper-parameters of a ``Forecaster``."""
    n_series: int = opt(1, range="[1, 2**16]")         # input series (columns) C, normalised per window
    n_covariates: int = opt(0, range="[0, 2**16]")        # extra inputs (calendar features) after them, not normalised
    targets: list = field(default_factory=lambda: [0])   # which of the C series to forecast
    lookback: int = opt(96, range="[1, 2**20]")        # input steps L
    horizon: int = opt(1, range="[1, 2**20]")          # output steps H
    # no recurrent part ("none"): the linear skip alone
    cell: str = opt("lstm", choices=("lstm", "gru", "rnn", "none"))
    hidden: int = opt(64, range="[1, 2**16]")
    n_layer: int = opt(1, range="[1, 1024]")
    dropout: float = opt(0.0, range="[0, 1)")
    norm: str = opt("last", choices=("last", "mean", "none"))       # per-window normalisation
    skip: bool = True            # add a linear lookback -> horizon map
    channel_independent: bool = False  # one shared network run on each series separately

    def __post_init__(self):
        p = check(self)
        if not self.targets or any(not (isinstance(t, int) and 0 <= t < self.n_series) for t in self.targets):
            p.append(f"targets must be column indices in [0, {self.n_series}), got {self.targets!r}")
        if self.cell == "none" and not self.skip:
            p.append("cell='none' leaves only the linear skip: it needs skip=True")
        if p:
            raise ConfigError("ForecasterConfig: " + "; ".join(p))


# --- GPT classifier (models/classifier.py) -------------------------------------------------------

POOLS = ("mean", "last")
LORA_TARGETS = ("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj")   # the GPT's linear layers


@dataclass
class ClassifierConfig:
    """A ``GPTClassifier``: the backbone's ``GPTConfig`` fields, the head and the LoRA adapters."""
    gpt: dict = field(default_factory=dict)   # GPTConfig fields of the backbone
    n_classes: int = opt(2, range="[2, 2**20]")
    pool: str = opt("mean", choices=POOLS)    # mean (over the real tokens) | last (the last real token)
    head_dropout: float = opt(0.1, range="[0, 1)")
    lora_rank: int = opt(0, range="[0, 2**16]")     # > 0: LoRA adapters on lora_targets, the backbone frozen
    lora_alpha: float = opt(16.0, range="> 0")
    lora_dropout: float = opt(0.0, range="[0, 1)")
    lora_targets: str = ",".join(LORA_TARGETS)

    def __post_init__(self):
        if problems := check(self):
            raise ConfigError("ClassifierConfig: " + "; ".join(problems))
