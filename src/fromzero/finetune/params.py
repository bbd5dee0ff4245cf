"""Which parameters train, and at what learning rate: freezing parts and discriminative learning rates.

``freeze(model, parts)`` turns off the gradients of named parts of a ``GPTClassifier``:

    embeddings   the token (and learned position) embeddings
    blocks       every Transformer block;  blocks:N  the first N blocks
    backbone     the whole GPT (only the head trains: a "linear probe")
    NAME         any parameter-name prefix, e.g. gpt.blocks.0.attn

``param_groups(model, lr, layer_decay=0.8)`` gives the head the full ``lr`` and each layer below
it ``layer_decay`` times the one above (ULMFiT's discriminative fine-tuning; BERT's layer-wise
decay): block i of L gets ``lr · decay^(L - i)``, the embeddings ``lr · decay^(L + 1)``. The
general features of the lower layers then move less than the task-specific top.

Example:
    >>> from fromzero.finetune.model import ClassifierConfig, GPTClassifier
    >>> from fromzero.models.gpt import gpt_config
    >>> m = GPTClassifier(ClassifierConfig(gpt=gpt_config("tiny").to_dict()))
    >>> frozen = freeze(m, ["embeddings", "blocks:1"])
    >>> [g["lr"] for g in param_groups(m, 1e-3, layer_decay=0.5)][:2]   # block 1, then the top
    [0.0005, 0.001]
"""
from __future__ import annotations

import re

from torch import nn

from ..errors import ConfigError

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
