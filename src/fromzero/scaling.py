"""Scaling laws: the loss of a language model as a function of its size and its training tokens.

Hoffmann et al. 2022 ("Chinchilla", their approach 3) model the final loss of a model with ``N``
parameters trained on ``D`` tokens as

    L(N, D) = E + A / N^alpha + B / D^beta

``E`` is the loss no model reaches (the entropy of the text), the second term what a finite model
costs, the third what finite data costs. Here ``N`` counts the **non-embedding** parameters (the
token embedding, which a tied GPT also uses as its output layer, and a learned position table
are left out, as Kaplan et al. 2020 do: at character level the embedding is a large share of a
small model and would bend the fit) and ``D`` the training tokens seen (repeats included).

``fit_scaling_law`` fits the five numbers as Chinchilla does: a Huber loss on the log of the loss,
minimised by L-BFGS from the best points of a grid of initialisations. ``ScalingLaw.compute_optimal``
then splits a compute budget ``C ≈ 6 N D`` FLOPs between parameters and tokens. NumPy and SciPy
load when a fit runs (SciPy comes with ``pip install 'fromzero[compare]'``).

Example:
    >>> law = ScalingLaw(E=1.0, A=20.0, alpha=0.4, B=50.0, beta=0.3)
    >>> round(law.loss(1e6, 1e8), 4)
    1.2787
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, DataError
from .io import EMBEDDED, read_json, save_json

DEFAULT_LAWS = EMBEDDED / "scaling"    # <corpus>.json: the fits benchmarks/scaling.py measured
FIELDS = ("E", "A", "alpha", "B", "beta")


@dataclass(frozen=True)
class ScalingLaw:
    """``L(N, D) = E + A / N**alpha + B / D**beta``; ``N``: non-embedding parameters, ``D``: tokens.

    ``meta`` holds what the law was fitted on (corpus, grid, tokenizer); it does not change the law.
    """
    E: float
    A: float
    alpha: float
    B: float
    beta: float
    meta: dict = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self):
        bad = [f"{k}={getattr(self, k)!r}" for k in FIELDS
               if not (isinstance(getattr(self, k), (int, float)) and math.isfinite(getattr(self, k))
                       and (getattr(self, k) > 0 or k == "E" and getattr(self, k) >= 0))]
        if bad:
            raise ConfigError(f"ScalingLaw: expected finite positive A, alpha, B, beta and E >= 0, got {', '.join(bad)}")

    def loss(self, N, D):
        """The predicted loss of ``N`` non-embedding parameters trained on ``D`` tokens (numbers or
        NumPy arrays, broadcast)."""
        return self.E + self.A / _pos(N, "N") ** self.alpha + self.B / _pos(D, "D") ** self.beta

    def compute_optimal(self, C_flops):
        """``(N*, D*)``: the size and tokens that minimise the loss for ``C_flops = 6 N D`` FLOPs.

        Setting dL/dN = 0 along D = C / (6N) gives (Chinchilla's eq. 4)
        ``N* = G (C/6)^(beta/(alpha+beta))``, ``D* = (C/6)^(alpha/(alpha+beta)) / G`` with
        ``G = (alpha A / (beta B))^(1/(alpha+beta))``.

        Example:
            >>> law = ScalingLaw(E=1.0, A=20.0, alpha=0.4, B=50.0, beta=0.3)
            >>> n, d = law.compute_optimal(1e15)
            >>> round(6 * n * d / 1e15, 9)
            1.0
        """
        c6 = _pos(C_flops, "C_flops") / 6
        s = self.alpha + self.beta
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1 / s)
        return g * c6 ** (self.beta / s), c6 ** (self.alpha / s) / g

    def tokens_per_parameter(self, C_flops):
        """``D* / N*`` at the compute-optimal split of ``C_flops`` (Chinchilla's is ~20 at its scale)."""
        n, d = self.compute_optimal(C_flops)
        return d / n

    def to_dict(self) -> dict:
        return {**{k: float(getattr(self, k)) for k in FIELDS}, "meta": self.meta}

    def save(self, path) -> None:
        """Write the law as JSON (``ScalingLaw.load`` reads it back)."""
        save_json(path, self.to_dict())

    @classmethod
    def load(cls, path) -> "ScalingLaw":
        d = read_json(path)
        missing = [k for k in FIELDS if k not in d]
        if missing:
            raise DataError(f"{path}: a scaling law needs the keys {', '.join(FIELDS)}; missing {', '.join(missing)}")
        return cls(**{k: float(d[k]) for k in FIELDS}, meta=d.get("meta") or {})

    def __str__(self) -> str:
        return (f"L(N, D) = {self.E:.3f} + {self.A:.4g} / N^{self.alpha:.3f} + "
                f"{self.B:.4g} / D^{self.beta:.3f}")


def default_law(corpus: str = "shakespeare") -> ScalingLaw:
    """The law measured by ``benchmarks/scaling.py`` on a built-in corpus (character-level GPTs,
    docs/choosing.md), shipped with the package.

    Example:
        >>> default_law().alpha > 0
        True
    """
    path = DEFAULT_LAWS / f"{corpus}.json"
    if not path.is_file():
        have = sorted(p.stem for p in DEFAULT_LAWS.glob("*.json"))
        raise DataError(f"no measured scaling law for {corpus!r}: expected one of {', '.join(have) or '(none)'}")
    return ScalingLaw.load(path)


def _pos(x, name):
    """``x`` if every value is a positive finite number, else a ``DataError`` naming it."""
    try:
        ok = x > 0 and math.isfinite(x)
    except (TypeError, ValueError):   # an array
        import numpy as np  # lazy: only array inputs need NumPy

        x = np.asarray(x, dtype=float)
        ok = bool(np.all(np.isfinite(x)) and np.all(x > 0))
    if not ok:
        raise DataError(f"{name}: expected positive finite numbers, got {x!r}")
    return x


# --- the fit -------------------------------------------------------------------------------------

# Chinchilla's grid of initialisations (their appendix D.2): alpha, beta in {0, 0.5, ..., 2},
# e in {-1, -0.5, ..., 1}, a, b in {0, 5, ..., 25} for A = exp(a), B = exp(b), E = exp(e).
GRID = {"a": (0, 5, 10, 15, 20, 25), "alpha": (0, 0.5, 1, 1.5, 2),
        "b": (0, 5, 10, 15, 20, 25), "beta": (0, 0.5, 1, 1.5, 2), "e": (-1, -0.5, 0, 0.5, 1)}
MIN_POINTS = 6   # five parameters: fewer points leave the fit underdetermined


def _huber(r, delta):
    import numpy as np  # lazy: the fit only

    return np.where(np.abs(r) <= delta, 0.5 * r ** 2, delta * (np.abs(r) - 0.5 * delta)).mean(axis=-1)


def _log_loss(p, x, y):
    """``log(A/N^alpha + B/D^beta + E)`` for parameter rows ``p = (a, alpha, b, beta, e)``: (k, n)."""
    import numpy as np  # lazy: the fit only

    a, alpha, b, beta, e = (p[:, i:i + 1] for i in range(5))
    return np.logaddexp(np.logaddexp(a - alpha * x, b - beta * y), e + 0 * x)


def _objective(p, x, y, logl, delta):
    """Mean Huber loss of ``log L`` predicted by ``p = (a, alpha, b, beta, e)``, and its gradient."""
    import numpy as np  # lazy: the fit only

    a, alpha, b, beta, e = p
    t = np.stack([a - alpha * x, b - beta * y, np.full_like(x, e)])   # (3, n)
    top = t.max(axis=0)
    w = np.exp(t - top)
    lse = top + np.log(w.sum(axis=0))                                 # log(A/N^a + B/D^b + E)
    w /= w.sum(axis=0)                                                # softmax: d lse / d t
    r = lse - logl
    f = _huber(r, delta)
    psi = np.clip(r, -delta, delta) / len(r)                          # d Huber / d r
    grad = np.array([psi @ w[0], -psi @ (w[0] * x), psi @ w[1], -psi @ (w[1] * y), psi @ w[2]])
    return f, grad


def _check_points(N, D, L):
    import numpy as np  # lazy: the fit only

    arrays = []
    for name, v in (("N", N), ("D", D), ("L", L)):
        arr = np.asarray(v, dtype=float).ravel()
        if not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
            raise DataError(f"fit_scaling_law: {name} must be positive finite numbers, got {list(v)!r}")
        arrays.append(arr)
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        raise DataError(f"fit_scaling_law: N, D and L must have the same length, got {lengths[0]}, "
                        f"{lengths[1]} and {lengths[2]}")
    if lengths[0] < MIN_POINTS:
        raise DataError(f"fit_scaling_law: a five-parameter law needs at least {MIN_POINTS} (N, D, L) points, "
                        f"got {lengths[0]}")
    for name, arr in (("N", arrays[0]), ("D", arrays[1])):
        if len(np.unique(arr)) < 2:
            raise DataError(f"fit_scaling_law: {name} must take at least 2 different values, got only {arr[0]:g}")
    return arrays


def fit_scaling_law(N, D, L, delta: float = 1e-3, starts: int = 8, grid: dict | None = None,
                    meta: dict | None = None) -> ScalingLaw:
    """Fit ``L(N, D) = E + A/N^alpha + B/D^beta`` to measured final losses (Chinchilla's approach 3).

    The parameters are ``a = log A``, ``b = log B``, ``e = log E``, alpha, beta; the objective is
    the mean Huber loss (threshold ``delta``) of ``log L_pred - log L`` (robust to a few bad runs).
    Every point of ``grid`` (default ``GRID``, Chinchilla's) is scored, and L-BFGS starts from the
    best ``starts`` of them; the lowest minimum wins.

    Args:
        N: non-embedding parameters of each run.
        D: training tokens of each run.
        L: final validation loss of each run (nats per token).

    Example:
        >>> import numpy as np
        >>> true = ScalingLaw(E=1.2, A=30.0, alpha=0.35, B=200.0, beta=0.4)
        >>> N, D = np.meshgrid([1e4, 3e4, 1e5, 3e5, 1e6], [1e5, 1e6, 1e7])
        >>> law = fit_scaling_law(N.ravel(), D.ravel(), true.loss(N, D).ravel())
        >>> round(law.alpha, 2), round(law.beta, 2)
        (0.35, 0.4)
    """
    try:
        import numpy as np  # lazy: the fit only
        from scipy.optimize import minimize  # lazy: SciPy is an optional dependency
    except ImportError as e:
        raise ImportError("fit_scaling_law needs SciPy: pip install 'fromzero[compare]'") from e

    n, d, l = _check_points(N, D, L)
    x, y, logl = np.log(n), np.log(d), np.log(l)
    g = {**GRID, **(grid or {})}
    points = np.array(list(itertools.product(g["a"], g["alpha"], g["b"], g["beta"], g["e"])), dtype=float)
    scores = _huber(_log_loss(points, x, y) - logl, delta)
    best = None
    for p0 in points[np.argsort(scores)[:starts]]:
        res = minimize(_objective, p0, args=(x, y, logl, delta), jac=True, method="L-BFGS-B",
                       options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-10})
        if best is None or res.fun < best.fun:
            best = res
    a, alpha, b, beta, e = (float(v) for v in best.x)
    if alpha <= 0 or beta <= 0:
        raise DataError(f"fit_scaling_law: the loss does not fall with both N and D in these points "
                        f"(fitted alpha={alpha:.3g}, beta={beta:.3g}); expected both > 0")
    return ScalingLaw(E=math.exp(e), A=math.exp(a), alpha=alpha, B=math.exp(b), beta=beta,
                      meta={**(meta or {}), "points": len(n), "huber_delta": delta,
                            "objective": float(best.fun)})
