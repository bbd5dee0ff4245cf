"""Metrics by name. A metric returns (sum, count) for a batch so that epoch values are exact."""
from __future__ import annotations

import torch

from ..errors import FromzeroError, unknown_name


def mean_ranks(v: torch.Tensor) -> torch.Tensor:
    """1-based ranks of ``v`` along its last axis, tied values sharing their mean rank (float64)."""
    v = v.double()
    s = v.sort(-1).values
    lo, hi = torch.searchsorted(s, v, side="left"), torch.searchsorted(s, v, side="right")
    return (lo + hi + 1).double() / 2


def accuracy(outputs: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Share of samples whose arg-max class equals the label (integer or one-hot labels)."""
    if y.dim() == outputs.dim() and y.shape == outputs.shape and outputs.shape[-1] > 1:
        y = y.argmax(-1)
    if outputs.shape[-1] == 1 and outputs.dim() == y.dim() + 1:  # binary logits
        pred = (outputs.squeeze(-1) > 0).long()
    else:
        pred = outputs.argmax(-1)
    return (pred == y.long()).sum(), y.numel()


def mae(outputs, y):
    err = (outputs - y.to(outputs.dtype).reshape(outputs.shape)).abs()
    return err.sum(), err.numel()


def mse(outputs, y):
    err = (outputs - y.to(outputs.dtype).reshape(outputs.shape)) ** 2
    return err.sum(), err.numel()


METRICS = {"accuracy": accuracy, "acc": accuracy, "mae": mae, "mse": mse}


def get_metrics(metrics) -> dict:
    """``{name: fn}`` from names and/or callables."""
    out = {}
    for m in metrics or ():
        if isinstance(m, str):
            if m not in METRICS:
                raise unknown_name("metric", m, METRICS)
            out["accuracy" if m == "acc" else m] = METRICS[m]
        elif callable(m):
            out[getattr(m, "__name__", "metric")] = m
        else:
            raise FromzeroError(f"metric: expected a name or a callable, got {type(m).__name__}")
    return out
