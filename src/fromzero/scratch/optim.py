"""1.3.3 gradient descent, W ← W − η ∂L/∂W, and two refinements of it: momentum and Adam.

An optimiser holds a list of parameter arrays and updates them *in place* from a list of
gradients in the same order (``Sequential.params()`` and ``Sequential.grads()`` give both).
The update rules follow ``torch.optim.SGD`` and ``torch.optim.Adam`` exactly (the tests compare).
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError


def sgd_step(param: np.ndarray, grad, lr: float) -> None:
    """The tutorial's rule, in place: W = W − η ∂L/∂W (and b = b − η ∂L/∂b).

    Example:
        >>> w = np.array([1.0, 2.0])
        >>> sgd_step(w, np.array([10.0, -10.0]), lr=0.1)
        >>> w.tolist()
        [0.0, 3.0]
    """
    param -= lr * grad


class Optimizer:
    """Base: keeps ``params`` and checks each ``step``'s gradients against them."""

    def __init__(self, params, lr: float):
        self.params = list(params)
        self.lr = lr
        self.t = 0  # steps taken

    def _check(self, grads):
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ShapeError(f"{type(self).__name__}.step: expected {len(self.params)} gradients, "
                             f"received {len(grads)}")
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if np.shape(g) != p.shape:
                raise ShapeError(f"{type(self).__name__}.step: gradient {i}: expected shape "
                                 f"{p.shape}, received {np.shape(g)}")
        self.t += 1
        return grads


class SGD(Optimizer):
    """Gradient descent with optional momentum μ:  v ← μ·v + g,  W ← W − η·v.

    With μ = 0 this is exactly 1.3.3's W ← W − η ∂L/∂W.

    Example:
        >>> w = np.zeros(2)
        >>> opt = SGD([w], lr=0.5, momentum=0.9)
        >>> opt.step([np.ones(2)]); opt.step([np.ones(2)])
        >>> w.tolist()  # −0.5·1 − 0.5·(0.9 + 1)
        [-1.45, -1.45]
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0):
        super().__init__(params, lr)
        self.momentum = momentum
        self.velocity = [np.zeros_like(p) for p in self.params]

    def step(self, grads) -> None:
        for p, g, v in zip(self.params, self._check(grads), self.velocity):
            if self.momentum:
                v *= self.momentum
                v += g
                g = v
            sgd_step(p, g, self.lr)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): per-parameter step sizes from running moments of the gradient.

    m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²,  m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ),
    W ← W − η · m̂ / (√v̂ + ε)

    Example:
        >>> w = np.zeros(2)
        >>> Adam([w], lr=0.1).step([np.array([3.0, -0.01])])
        >>> w.round(6).tolist()  # the first step moves every weight by about η, whatever |g|
        [-0.1, 0.1]
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr)
        self.betas, self.eps = betas, eps
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]

    def step(self, grads) -> None:
        grads = self._check(grads)
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t  # bias corrections
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= (self.lr / c1) * m / (np.sqrt(v / c2) + self.eps)
