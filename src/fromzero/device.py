"""Devices: pick one, and use bf16 autocast only where the hardware supports it."""
from __future__ import annotations

import contextlib
import os
import platform
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


def cpu_flags() -> set[str]:
    """The CPU's instruction-set flags as the OS reports them (``/proc/cpuinfo``; empty elsewhere)."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8", errors="replace"):
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine() -> dict:
    """What a speed figure depends on, for benchmarks to print beside it: the CPU's model and the
    features that decide its kernels (AVX2, AVX-512, AVX512-BF16, AMX), torch's build and threads.

    ``bf16_native`` is what fromzero's CPU recipes use to turn bf16 autocast on (``native_bf16``).
    """
    flags = cpu_flags()
    model = platform.processor()
    try:
        model = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo", encoding="utf-8", errors="replace")
                     if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": model or "unknown", "cores": os.cpu_count(),
            "capability": torch.backends.cpu.get_cpu_capability(),
            "avx2": "avx2" in flags, "avx512f": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "amx": sorted(f for f in flags if f.startswith("amx")),
            "bf16_native": native_bf16(torch.device("cpu")),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version()}


def describe_machine(m: dict | None = None) -> str:
    """``machine()`` as one line: ``AMD EPYC 9B14, 2 cores; AVX2 AVX-512 AVX512-BF16 no-AMX ...``."""
    m = m or machine()
    yes = lambda ok, name: name if ok else f"no-{name}"  # noqa: E731
    return (f"{m['cpu']}, {m['cores']} cores; {yes(m['avx2'], 'AVX2')} {yes(m['avx512f'], 'AVX-512')} "
            f"{yes(m['avx512_bf16'], 'AVX512-BF16')} {yes(m['amx'], 'AMX')} (torch kernels: {m['capability']}; "
            f"bf16 matmul {'native' if m['bf16_native'] else 'emulated: fp32 is used'}); "
            f"torch {m['torch']}, {m['threads']} threads, Python {m['python']}")
