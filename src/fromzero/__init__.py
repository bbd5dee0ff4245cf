"""fromzero: build and train AI models from zero, on plain PyTorch.

Example:
    >>> import fromzero as fz
    >>> from fromzero import layers as L
    >>> model = fz.Sequential([L.Input((1, 28, 28)), L.Flatten(), L.Dense(10)])

The top-level names are imported lazily, so that ``fromzero.scratch`` (NumPy only) and
``fromzero.datasets`` load without importing torch.
"""
import importlib

__version__ = "0.1.0"

_LAZY = {"layers": ("fromzero.layers", None), "Model": ("fromzero.model", "Model"),
         "Sequential": ("fromzero.model", "Sequential"), "Trainer": ("fromzero.train", "Trainer"),
         "load_model": ("fromzero.checkpoint", "load_model"),
         "save_model": ("fromzero.checkpoint", "save_model"),
         "FromzeroError": ("fromzero.errors", "FromzeroError")}
__all__ = list(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'fromzero' has no attribute {name!r}")
    module, attr = _LAZY[name]
    mod = importlib.import_module(module)
    return mod if attr is None else getattr(mod, attr)


def __dir__():
    return sorted(list(globals()) + __all__)
