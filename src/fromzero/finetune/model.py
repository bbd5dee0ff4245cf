"""A pre-trained GPT with a classification head: ``GPTClassifier``.

The GPT reads the tokens; its final hidden states (B, T, C) are pooled into one vector per
sequence (the mean over the real tokens, or the last real token's state), and a linear head maps
it to class logits. Sequences are right-padded with ``-1``: with causal attention a real token
never sees the padding after it, so padding changes nothing, and the pooling skips it.

Example:
    >>> import torch
    >>> from fromzero.models.gpt import gpt_config
    >>> model = GPTClassifier(ClassifierConfig(gpt=gpt_config("tiny").to_dict(), n_classes=2))
    >>> idx = torch.tensor([[5, 9, 2, -1], [7, 1, 4, 3]])   # two sequences, the first padded
    >>> model(idx).shape
    torch.Size([2, 2])
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import load_weights, read_json, register_model
from ..errors import CheckpointError, ConfigError
from ..models.gpt import GPT, GPTConfig
from .lora import DEFAULT_TARGETS, add_lora

POOLS = ("mean", "last")


@dataclass
class ClassifierConfig:
    """A ``GPTClassifier``: the backbone's ``GPTConfig`` fields, the head and the LoRA adapters."""
    gpt: dict = field(default_factory=dict)   # GPTConfig fields of the backbone
    n_classes: int = 2
    pool: str = "mean"          # mean (over the real tokens) | last (the last real token)
    head_dropout: float = 0.1
    lora_rank: int = 0          # > 0: LoRA adapters on lora_targets, the backbone frozen
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_targets: str = ",".join(DEFAULT_TARGETS)

    def __post_init__(self):
        p = []
        if self.pool not in POOLS:
            p.append(f"pool={self.pool!r} is not one of {', '.join(POOLS)}")
        if not (isinstance(self.n_classes, int) and self.n_classes >= 2):
            p.append(f"n_classes must be an integer >= 2, got {self.n_classes!r}")
        if not (isinstance(self.lora_rank, int) and self.lora_rank >= 0):
            p.append(f"lora_rank must be an integer >= 0, got {self.lora_rank!r}")
        for k in ("head_dropout", "lora_dropout"):
            if not 0.0 <= getattr(self, k) < 1.0:
                p.append(f"{k} must be in [0, 1), got {getattr(self, k)!r}")
        if p:
            raise ConfigError("ClassifierConfig: " + "; ".join(p))


def _targets(c: ClassifierConfig) -> list[str]:
    return [t.strip() for t in c.lora_targets.split(",") if t.strip()]


@register_model("gpt-classifier", config_cls=ClassifierConfig)
class GPTClassifier(nn.Module):
    """A GPT backbone + pooling + a linear head: ``model(idx)`` gives class logits (B, n_classes).

    Args:
        config: a ``ClassifierConfig``. With ``lora_rank > 0`` the backbone is frozen and its
            ``lora_targets`` linear layers get LoRA adapters (``fromzero.finetune.lora``).

    ``idx`` is (B, T) token ids, right-padded with -1. Load pre-trained weights into
    ``model.gpt`` (``from_pretrained`` does).
    """

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.gpt = GPT(GPTConfig.from_dict(config.gpt))
        self.drop = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(self.gpt.config.n_embd, config.n_classes)
        nn.init.normal_(self.head.weight, std=self.gpt.config.init_std)
        nn.init.zeros_(self.head.bias)
        if config.lora_rank:
            add_lora(self.gpt, config.lora_rank, config.lora_alpha, _targets(config), config.lora_dropout)

    @classmethod
    def from_pretrained(cls, run_dir, n_classes: int, **config) -> "GPTClassifier":
        """A classifier whose backbone is the GPT saved in ``run_dir`` (``fromzero pretrain``).

        ``config`` holds ``ClassifierConfig`` fields and, under ``gpt``, backbone fields to change
        that do not touch the weights' shapes (``gpt={"dropout": 0.1}``).
        """
        spec = read_json(Path(run_dir) / "model.json")
        if spec.get("name") != "gpt":
            raise CheckpointError(f"{run_dir}: expected a pre-trained GPT run (model.json name 'gpt'), "
                                  f"got {spec.get('name')!r}")
        c = ClassifierConfig(gpt={**spec["config"], **config.pop("gpt", {})}, n_classes=n_classes, **config)
        model = cls(dataclasses.replace(c, lora_rank=0))
        load_weights(Path(run_dir) / "model.safetensors", model.gpt)
        if c.lora_rank:                  # adapters go on after loading, around the pre-trained weights
            add_lora(model.gpt, c.lora_rank, c.lora_alpha, _targets(c), c.lora_dropout)
            model.config = c
        return model

    def forward(self, idx):                                   # (B, T), -1 = padding
        mask = idx >= 0                                       # (B, T)
        h = self.gpt.hidden_states(idx.clamp(min=0))          # (B, T, C)
        if self.config.pool == "mean":
            m = mask.unsqueeze(-1).to(h.dtype)                # (B, T, 1)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)   # (B, C)
        else:
            last = (mask.sum(1) - 1).clamp(min=0)             # (B,) index of the last real token
            pooled = h[torch.arange(h.size(0), device=h.device), last]   # (B, C)
        return self.head(self.drop(pooled))                   # (B, n_classes)
