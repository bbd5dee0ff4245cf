"""1.3.2 backpropagation over a whole network: the chain rule, applied layer by layer in reverse.

For y = f_L(… f_2(f_1(x))), ∂L/∂x = ∂L/∂y · ∂f_L/∂… · … · ∂f_1/∂x: every layer turns the
gradient of its output into the gradient of its input (and of its own parameters), so going
through the layers backwards yields every ∂L/∂W and ∂L/∂b in one pass.
"""
from __future__ import annotations

import numpy as np


class Sequential:
    """Layers applied one after the other; ``backward`` runs the chain rule through them.

    Example:
        >>> from fromzero.scratch import Dense, ReLU, Adam
        >>> from fromzero.scratch import softmax_cross_entropy_forward as ce, softmax_cross_entropy_backward as ce_back
        >>> model = Sequential(Dense(4, 8, rng=0), ReLU(), Dense(8, 3, rng=1))
        >>> opt = Adam(model.params(), lr=0.01)
        >>> x, y = np.random.default_rng(0).normal(size=(16, 4)), np.arange(16) % 3
        >>> loss, cache = ce(model.forward(x), y)
        >>> _ = model.backward(ce_back(cache))
        >>> opt.step(model.grads())
        >>> ce(model.forward(x), y)[0] < loss
        True
    """

    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, dy, need_dx: bool = True):
        """Backpropagate ∂L/∂(output); fills every layer's ``grads`` and returns ∂L/∂(input)
        (None when ``need_dx`` is False and the first layer can skip it)."""
        for i in range(len(self.layers) - 1, -1, -1):
            dy = self.layers[i].backward(dy, need_dx=need_dx or i > 0)
        return dy

    def named_params(self) -> list[tuple[str, np.ndarray]]:
        """``[("0.W", array), ("0.b", array), ...]``, in a fixed order."""
        return [(f"{i}.{k}", v) for i, layer in enumerate(self.layers)
                for k, v in layer.params.items()]

    def params(self) -> list[np.ndarray]:
        """The parameter arrays, in the order ``grads()`` uses (optimisers update them in place)."""
        return [v for _, v in self.named_params()]

    def grads(self) -> list[np.ndarray]:
        """The gradients from the last ``backward``, aligned with ``params()``."""
        out = []
        for i, layer in enumerate(self.layers):
            for k in layer.params:
                if k not in layer.grads:
                    raise RuntimeError(f"layer {i} ({type(layer).__name__}) has no gradient for "
                                       f"{k!r}: call backward() first")
                out.append(layer.grads[k])
        return out

    def n_params(self) -> int:
        return sum(p.size for p in self.params())

    def __repr__(self):
        inner = "".join(f"\n  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"
