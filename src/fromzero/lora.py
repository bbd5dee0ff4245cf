"""LoRA: low-rank adapters on linear layers (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large
Language Models").

A frozen weight ``W`` (out, in) gets a trainable update ``ΔW = (alpha / r) · B A`` with ``A`` (r, in)
and ``B`` (out, r), ``r`` much smaller than ``in`` and ``out``. ``B`` starts at zero, so an adapted
model starts exactly as the pre-trained one. After training, ``merge_lora`` folds ``ΔW`` into
``W``: the merged model is a plain model again, with no extra cost at inference.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    >>> names = add_lora(net, rank=2, targets=("0", "2"))
    >>> sum(p.numel() for p in net.parameters() if p.requires_grad)   # 2*(16+16) + 2*(16+4)
    104
    >>> x = torch.randn(3, 16)
    >>> y = net(x)
    >>> torch.allclose(merge_lora(net)(x), y, atol=1e-6)
    True
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .models.configs import LORA_TARGETS as DEFAULT_TARGETS


class LoRALinear(nn.Module):
    """``y = base(x) + (alpha / rank) · x Aᵀ Bᵀ``: a frozen ``nn.Linear`` plus a trainable low-rank update.

    Args:
        base: the linear layer to adapt (its weight and bias are frozen).
        rank: r, the rank of the update.
        alpha: the update's scale is ``alpha / rank``.
        dropout: dropout on the adapter's input.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        if not (isinstance(rank, int) and rank >= 1):
            raise ConfigError(f"LoRA rank must be an integer >= 1, got {rank!r}")
        self.base, self.rank, self.scale = base, rank, alpha / rank
        for p in base.parameters():
            p.requires_grad_(False)
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, device=w.device, dtype=w.dtype))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, device=w.device, dtype=w.dtype))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))    # as nn.Linear (and peft) initialise
        self.drop = nn.Dropout(dropout)

    def forward(self, x):                                         # (..., in)
        update = self.drop(x) @ self.lora_A.t() @ self.lora_B.t()  # (..., r) -> (..., out)
        return self.base(x) + self.scale * update

    def delta_weight(self) -> torch.Tensor:
        """ΔW = scale · B A, (out, in)."""
        return self.scale * (self.lora_B @ self.lora_A)

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with ``W + ΔW`` (and the base's bias)."""
        b = self.base
        out = nn.Linear(b.in_features, b.out_features, bias=b.bias is not None,
                        device=b.weight.device, dtype=b.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(b.weight + self.delta_weight())
            if b.bias is not None:
                out.bias.copy_(b.bias)
        return out

    def extra_repr(self) -> str:
        return f"rank={self.rank}, scale={self.scale:g}"


class LoRAEmbedding(nn.Module):
    """``E[idx] + (alpha / rank) · A[:, idx]ᵀ Bᵀ``: a frozen ``nn.Embedding`` plus a low-rank update
    of its table, ``ΔE = scale · (B A)ᵀ`` with ``A`` (r, num_embeddings) starting at zero and ``B``
    (dim, r) random, as in peft. Lets a lexical task adapt word vectors with few parameters.

    Unlike peft (``B`` ~ N(0, 1)), ``B``'s entries have the standard deviation of the table's: a
    step on ``A`` then moves a word vector in proportion to the vectors' own size. With N(0, 1)
    and a table of std 0.07, one step at lr 3e-3 moved a word vector by a quarter of its length,
    so the adapter re-learnt the word vectors from the task alone and over-fitted like a model
    trained from scratch (SST-2, ``benchmarks/pretrain_vs_scratch.py``, one base and lr 3e-3: 75.5%
    test accuracy with N(0, 1), 79.0% with this scale; full fine-tuning 80.5%).
    """

    def __init__(self, base: nn.Embedding, rank: int, alpha: float = 16.0):
        super().__init__()
        if not (isinstance(rank, int) and rank >= 1):
            raise ConfigError(f"LoRA rank must be an integer >= 1, got {rank!r}")
        self.base, self.rank, self.scale = base, rank, alpha / rank
        base.weight.requires_grad_(False)
        w = base.weight
        self.lora_A = nn.Parameter(torch.zeros(rank, base.num_embeddings, device=w.device, dtype=w.dtype))
        std = float(w.detach().float().std()) if w.numel() > 1 else 1.0
        self.lora_B = nn.Parameter(torch.randn(base.embedding_dim, rank, device=w.device, dtype=w.dtype) * std)

    def forward(self, idx):                                       # (B, T) ids
        update = F.embedding(idx, self.lora_A.t()) @ self.lora_B.t()   # (B, T, r) -> (B, T, dim)
        return self.base(idx) + self.scale * update

    def delta_weight(self) -> torch.Tensor:
        """ΔE = scale · (B A)ᵀ, (num_embeddings, dim)."""
        return self.scale * (self.lora_B @ self.lora_A).t()

    def merged(self) -> nn.Embedding:
        """The base embedding with ``E + ΔE``, updated in place, so that a weight tied to it (a
        GPT's output layer) stays tied."""
        with torch.no_grad():
            self.base.weight.add_(self.delta_weight())
        return self.base

    def extra_repr(self) -> str:
        return f"rank={self.rank}, scale={self.scale:g}"


def _matches(name: str, targets) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def add_lora(model: nn.Module, rank: int, alpha: float = 16.0, targets=DEFAULT_TARGETS,
             dropout: float = 0.0) -> list[str]:
    """Freeze every parameter of ``model`` and wrap the ``nn.Linear`` layers whose names end with one
    of ``targets`` in ``LoRALinear`` (``nn.Embedding`` layers in ``LoRAEmbedding``), in place.
    Returns the names of the adapted layers.

    Only the adapters train afterwards; unfreeze other parts (a task head) yourself.
    """
    targets = tuple(targets)
    found = [(n, m) for n, m in model.named_modules()
             if isinstance(m, (nn.Linear, nn.Embedding)) and _matches(n, targets)]
    if not found:
        linears = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ConfigError(f"LoRA targets {', '.join(targets)} match no linear layer; the model's linear "
                          f"layers end in: {', '.join(linears) or 'none'}")
    for p in model.parameters():
        p.requires_grad_(False)
    for name, lin in found:
        parent, _, attr = name.rpartition(".")
        wrapped = LoRAEmbedding(lin, rank, alpha) if isinstance(lin, nn.Embedding) else \
            LoRALinear(lin, rank, alpha, dropout)
        setattr(model.get_submodule(parent) if parent else model, attr, wrapped)
    return [n for n, _ in found]


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every ``LoRALinear``/``LoRAEmbedding`` in ``model`` by its merged layer (in place);
    return ``model``.

    A config with a ``lora_rank`` field is updated to ``lora_rank=0``, so that the saved model
    is rebuilt without adapters.
    """
    for name, m in list(model.named_modules()):
        if isinstance(m, (LoRALinear, LoRAEmbedding)):
            parent, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, attr, m.merged())
    cfg = getattr(model, "config", None)
    if dataclasses.is_dataclass(cfg) and hasattr(cfg, "lora_rank"):
        model.config = dataclasses.replace(cfg, lora_rank=0)
    return model
