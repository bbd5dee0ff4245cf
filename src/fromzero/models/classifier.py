"""A pre-trained GPT with a classification head (``GPTClassifier``), and which of its parameters
train at what learning rate.

The GPT reads the tokens; its final hidden states (B, T, C) are pooled into one vector per
sequence (the mean over the real tokens, or the last real token's state), and a linear head maps
it to class logits. Sequences are right-padded with ``-1``: with causal attention a real token
never sees the padding after it, so padding changes nothing, and the pooling skips it.

``freeze(model, parts)`` turns off the gradients of named parts:

    embeddings   the token (and learned position) embeddings
    blocks       every Transformer block;  blocks:N  the first N blocks
    backbone     the whole GPT (only the head trains: a "linear probe")
    NAME         any parameter-name prefix, e.g. gpt.blocks.0.attn

``param_groups(model, lr, layer_decay=0.8)`` gives the head the full ``lr`` and each layer below
it ``layer_decay`` times the one above (ULMFiT's discriminative fine-tuning; BERT's layer-wise
decay): block i of L gets ``lr · decay^(L - i)``, the embeddings ``lr · decay^(L + 1)``. The
general features of the lower layers then move less than the task-specific top.

Example:
    >>> import dataclasses, torch
    >>> from fromzero.models.gpt import gpt_config
    >>> model = GPTClassifier(ClassifierConfig(gpt=dataclasses.asdict(gpt_config("tiny")), n_classes=2))
    >>> idx = torch.tensor([[5, 9, 2, -1], [7, 1, 4, 3]])   # two sequences, the first padded
    >>> model(idx).shape
    torch.Size([2, 2])
    >>> frozen = freeze(model, ["embeddings", "blocks:1"])
    >>> [g["lr"] for g in param_groups(model, 1e-3, layer_decay=0.5)][:2]   # block 1, then the top
    [0.0005, 0.001]
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import load_weights
from ..config import make_config
from ..errors import CheckpointError, ConfigError
from ..lora import add_lora
from ..io import read_json
from ..registry import register_model
from .configs import ClassifierConfig
from .gpt import GPT, GPTConfig


def _targets(c: ClassifierConfig) -> list[str]:
    return [t.strip() for t in c.lora_targets.split(",") if t.strip()]


@register_model("gpt-classifier", config_cls=ClassifierConfig)
class GPTClassifier(nn.Module):
    """A GPT backbone + pooling + a linear head: ``model(idx)`` gives class logits (B, n_classes).

    Args:
        config: a ``ClassifierConfig``. With ``lora_rank > 0`` the backbone is frozen and its
            ``lora_targets`` linear layers get LoRA adapters (``fromzero.lora``).

    ``idx`` is (B, T) token ids, right-padded with -1. Load pre-trained weights into
    ``model.gpt`` (``from_pretrained`` does).
    """

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.gpt = GPT(make_config(GPTConfig, config.gpt, source="GPTConfig"))
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

    def forward(self, idx, lm: bool = False):                 # (B, T), -1 = padding
        """Class logits (B, n_classes); with ``lm``, also the language-model loss of the same texts
        (next-token cross-entropy over the real tokens: GPT-1's auxiliary fine-tuning objective)."""
        mask = idx >= 0                                       # (B, T)
        h = self.gpt.hidden_states(idx.clamp(min=0))          # (B, T, C)
        if lm:
            logits = self.gpt.lm_head(h[:, :-1])              # (B, T-1, vocab): token t+1 from 0..t
            lm_loss = F.cross_entropy(logits.flatten(0, 1).float(), idx[:, 1:].reshape(-1), ignore_index=-1)
            return self.classify(h, mask), lm_loss
        return self.classify(h, mask)

    def classify(self, h, mask):                              # (B, T, C), (B, T) -> (B, n_classes)
        if self.config.pool == "mean":
            m = mask.unsqueeze(-1).to(h.dtype)                # (B, T, 1)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)   # (B, C)
        else:
            last = (mask.sum(1) - 1).clamp(min=0)             # (B,) index of the last real token
            pooled = h[torch.arange(h.size(0), device=h.device), last]   # (B, C)
        return self.head(self.drop(pooled))                   # (B, n_classes)


# --- which parameters train, and at what learning rate ----------------------------------------

PARTS = ("embeddings", "blocks", "blocks:N", "backbone")


def _part_prefixes(model: nn.Module, part: str) -> list[str]:
    n_layer = model.gpt.config.n_layer
    if part == "embeddings":
        return ["gpt.wte.", "gpt.wpe."]
    if part == "backbone":
        return ["gpt."]
    if part == "blocks":
        return ["gpt.blocks."]
    m = re.fullmatch(r"blocks:(\d+)", part)
    if m:
        n = int(m.group(1))
        if not 1 <= n <= n_layer:
            raise ConfigError(f"freeze {part!r}: expected 1 to {n_layer} blocks (the model has {n_layer})")
        return [f"gpt.blocks.{i}." for i in range(n)]
    return [part.rstrip(".") + "."]


def freeze(model: nn.Module, parts) -> list[str]:
    """Stop the gradients of ``parts`` (see the module doc); returns the frozen parameter names.

    A part that matches no parameter is an error that lists the valid forms.
    """
    if isinstance(parts, str):
        parts = [p for p in parts.split(",")]
    names = dict(model.named_parameters())
    frozen = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        prefixes = _part_prefixes(model, part)
        hit = [n for n in names if any((n + ".").startswith(p) or n.startswith(p) for p in prefixes)]
        if not hit:
            tops = sorted({".".join(n.split(".")[:2]) for n in names})
            raise ConfigError(f"freeze {part!r} matches no parameter; expected one of "
                              f"{', '.join(PARTS)} or a parameter-name prefix such as {', '.join(tops)}")
        for n in hit:
            names[n].requires_grad_(False)
        frozen += hit
    return list(dict.fromkeys(frozen))


def depth(name: str, n_layer: int) -> int:
    """0 for the embeddings, i + 1 for block i, n_layer + 1 for the final norm and the head."""
    m = re.match(r"gpt\.blocks\.(\d+)\.", name)
    if m:
        return int(m.group(1)) + 1
    if name.startswith(("gpt.wte.", "gpt.wpe.")):
        return 0
    return n_layer + 1


def param_groups(model: nn.Module, lr: float, weight_decay: float = 0.0, layer_decay: float = 1.0) -> list[dict]:
    """Optimizer parameter groups of the trainable parameters, each with its own ``lr``.

    Matrices and embeddings are decayed, vectors (norm gains, biases) are not. ``layer_decay``
    below 1 gives lower layers smaller learning rates (see the module doc).
    """
    if not 0 < layer_decay <= 1:
        raise ConfigError(f"layer_decay must be in (0, 1], got {layer_decay!r}")
    n_layer = model.gpt.config.n_layer
    groups: dict[tuple, dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        d = depth(name, n_layer)
        wd = weight_decay if p.dim() >= 2 else 0.0
        g = groups.setdefault((d, wd), {"params": [], "names": [], "weight_decay": wd,
                                         "lr": lr * layer_decay ** (n_layer + 1 - d)})
        g["params"].append(p)
        g["names"].append(name)
    if not groups:
        raise ConfigError("every parameter is frozen: nothing to train")
    return [groups[k] for k in sorted(groups)]


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; shared (tied) tensors count once."""
    params = list(model.parameters())   # parameters() yields a shared tensor once
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
