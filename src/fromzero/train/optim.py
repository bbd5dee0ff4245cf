"""Optimizers by name. ``register_optimizer`` adds more (the GPT code adds Muon)."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import FromzeroError, unknown_name

DEFAULT_LR = {"sgd": 1e-2}


def _param_groups(model: nn.Module, weight_decay: float):
    """Decay matrices and kernels; never biases and norm gains (nanoGPT/Keras practice)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not weight_decay:
        return params
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _fused_ok(model: nn.Module) -> dict:
    # fused kernels exist for CUDA (and CPU in recent torch); foreach is the safe fallback
    try:
        dev = next(model.parameters()).device
    except StopIteration:
        return {}
    return {"fused": True} if dev.type in ("cuda", "cpu") else {}


def adam(model, lr=1e-3, weight_decay=0.0, **kw):
    return torch.optim.Adam(_param_groups(model, weight_decay), lr=lr, **{**_fused_ok(model), **kw})


def adamw(model, lr=1e-3, weight_decay=0.01, **kw):
    kw.setdefault("betas", (0.9, 0.95))
    return torch.optim.AdamW(_param_groups(model, weight_decay), lr=lr, **{**_fused_ok(model), **kw})


def sgd(model, lr=1e-2, weight_decay=0.0, momentum=0.9, **kw):
    return torch.optim.SGD(_param_groups(model, weight_decay), lr=lr, momentum=momentum, **kw)


def rmsprop(model, lr=1e-3, weight_decay=0.0, **kw):
    return torch.optim.RMSprop(_param_groups(model, weight_decay), lr=lr, **kw)


OPTIMIZERS = {"adam": adam, "adamw": adamw, "sgd": sgd, "rmsprop": rmsprop}


def register_optimizer(name: str, factory) -> None:
    """Add ``factory(model, lr=..., weight_decay=..., **kw) -> torch.optim.Optimizer``."""
    OPTIMIZERS[name] = factory


def get_optimizer(optimizer, model: nn.Module, lr=None, weight_decay=None) -> torch.optim.Optimizer:
    """An optimizer from a name, an Optimizer instance, or ``callable(model)``."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise unknown_name("optimizer", optimizer, OPTIMIZERS)
        kw = {}
        if lr is not None:
            if not lr > 0:
                raise FromzeroError(f"lr: expected a positive number, got {lr}")
            kw["lr"] = lr
        if weight_decay is not None:
            kw["weight_decay"] = weight_decay
        return OPTIMIZERS[optimizer](model, **kw)
    if callable(optimizer):
        return optimizer(model)
    raise FromzeroError(f"optimizer: expected a name, an Optimizer or a callable, "
                        f"got {type(optimizer).__name__}")
