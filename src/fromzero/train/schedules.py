"""Learning-rate schedules: ``schedule(step) -> multiplier`` of the base learning rate."""
from __future__ import annotations

import math


def constant(step: int) -> float:
    return 1.0


class WarmupCosine:
    """Linear warmup to 1, then cosine decay to ``min_ratio`` at ``total`` steps.

    Example:
        >>> s = WarmupCosine(warmup=10, total=100, min_ratio=0.1)
        >>> s(0) < s(9) == 1.0 > s(50) > s(99) >= 0.1
        True
    """

    def __init__(self, warmup: int, total: int, min_ratio: float = 0.1):
        self.warmup, self.total, self.min_ratio = warmup, max(total, 1), min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        t = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


class WarmupLinear:
    """Linear warmup to 1, then a straight line down to 0 at ``total`` steps (a one-cycle shape).

    Example:
        >>> s = WarmupLinear(warmup=10, total=110)
        >>> s(9), s(60), s(110)
        (1.0, 0.5, 0.0)
    """

    def __init__(self, warmup: int, total: int):
        self.warmup, self.total = warmup, max(total, 1)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))


class WarmupStableDecay:
    """Warmup, a long constant phase, then a linear decay over the last ``decay_frac`` of steps."""

    def __init__(self, warmup: int, total: int, decay_frac: float = 0.2, min_ratio: float = 0.0):
        self.warmup, self.total = warmup, max(total, 1)
        self.decay_start = int(self.total * (1 - decay_frac))
        self.min_ratio = min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if step < self.decay_start:
            return 1.0
        t = min(1.0, (step - self.decay_start) / max(1, self.total - self.decay_start))
        return 1.0 - (1.0 - self.min_ratio) * t


SCHEDULES = {"constant": lambda total, warmup=0: constant,
             "cosine": lambda total, warmup=0: WarmupCosine(warmup, total),
             "wsd": lambda total, warmup=0: WarmupStableDecay(warmup, total)}
