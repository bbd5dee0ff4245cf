"""Losses by name (Keras names), each ``loss(outputs, targets) -> scalar``."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import FromzeroError, unknown_name


def _as_index(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Integer class labels from integer or one-hot/probability targets."""
    if y.dtype.is_floating_point and y.dim() >= 2 and y.shape[-1] == n_classes:
        return y  # probabilities: cross_entropy accepts them directly
    return y.long()


def categorical_crossentropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits (B, K) with one-hot (B, K) or integer (B,) targets.

    The model outputs logits; softmax is applied here (stable log-sum-exp), so the last
    layer must NOT apply a ReLU or softmax (the tutorial's bug, see README).
    """
    return F.cross_entropy(logits, _as_index(y, logits.shape[-1]))


def sparse_categorical_crossentropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with integer targets; (B, T, V) logits with (B, T) targets are flattened."""
    if logits.dim() > 2:
        return F.cross_entropy(logits.flatten(0, -2), y.reshape(-1).long())
    return F.cross_entropy(logits, y.long())


def binary_crossentropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.squeeze(-1), y.float().reshape(logits.squeeze(-1).shape))


def mse(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(outputs, y.to(outputs.dtype).reshape(outputs.shape))


def mae(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(outputs, y.to(outputs.dtype).reshape(outputs.shape))


LOSSES = {
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "cross_entropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "mse": mse, "mean_squared_error": mse,
    "mae": mae, "mean_absolute_error": mae,
}


# each named loss -> the (B,) losses of the examples of a batch, whose mean it is (differential
# privacy clips each example's gradient: fromzero.privacy.dp)
PER_EXAMPLE = {
    sparse_categorical_crossentropy: lambda logits, y: F.cross_entropy(
        logits.flatten(0, -2), y.reshape(-1).long(), reduction="none").view(logits.shape[:-1]).flatten(1).mean(1)
    if logits.dim() > 2 else F.cross_entropy(logits, y.long(), reduction="none"),
    categorical_crossentropy: lambda logits, y: F.cross_entropy(logits, _as_index(y, logits.shape[-1]),
                                                                reduction="none"),
    binary_crossentropy: lambda logits, y: F.binary_cross_entropy_with_logits(
        logits.squeeze(-1), y.float().reshape(logits.squeeze(-1).shape), reduction="none").reshape(len(y), -1).mean(1),
    mse: lambda out, y: F.mse_loss(out, y.to(out.dtype).reshape(out.shape), reduction="none").reshape(len(out), -1).mean(1),
    mae: lambda out, y: F.l1_loss(out, y.to(out.dtype).reshape(out.shape), reduction="none").reshape(len(out), -1).mean(1),
}


def get_loss(loss):
    """A loss callable from a name, a callable, or None (the model computes its own loss)."""
    if loss is None or callable(loss):
        return loss
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise unknown_name("loss", loss, LOSSES)
        return LOSSES[loss]
    raise FromzeroError(f"loss: expected a name or a callable, got {type(loss).__name__}")
