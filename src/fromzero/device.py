"""Devices: pick one, and use bf16 autocast only where the hardware supports it."""
from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from .errors import FromzeroError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then MPS, then CPU; an explicit name must be available.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if isinstance(name, torch.device):
        return name
    base = str(name).split(":")[0]
    if base not in DEVICES:
        raise FromzeroError(f"unknown device {name!r}; expected one of: {', '.join(DEVICES)}")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise FromzeroError("device 'cuda' requested, but CUDA is not available on this machine")
    if base == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise FromzeroError("device 'mps' requested, but MPS is not available on this machine")
    return torch.device(name)


def supports_bf16(device: torch.device) -> bool:
    """The Trainer's ``amp="auto"``: bf16 autocast on CUDA GPUs with bf16 support only.

    On a CPU even with native bf16 (``native_bf16``) convolutions and small element-wise
    kernels gain little, so CPU recipes opt in themselves (the GPT recipe does).
    """
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matrix products run natively (faster than fp32) on ``device``.

    CUDA GPUs with bf16 support, and CPUs with AVX512-BF16 or AMX instructions (Intel Xeon
    Cooper Lake / Sapphire Rapids and later, AMD Zen 4 and later): there a bf16 matmul is about
    twice as fast as an fp32 one. Elsewhere bf16 is emulated and slower, so it stays off.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = torch.cpu
        return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                    or getattr(cpu, "_is_amx_tile_supported", lambda: False)())
    return False


def autocast(device: torch.device, enabled: bool | str = "auto"):
    """A bf16 autocast context where it helps (``enabled="auto"``), else a no-op context."""
    use = supports_bf16(device) if enabled == "auto" else bool(enabled)
    if not use:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
