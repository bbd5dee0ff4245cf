"""fromzero: build and train AI models from zero, on plain PyTorch.

Example:
    >>> import fromzero as fz
    >>> from fromzero import layers as L
    >>> model = fz.Sequential([L.Input((1, 28, 28)), L.Flatten(), L.Dense(10)])
"""
__version__ = "0.1.0"

from . import layers
from .checkpoint import load_model, save_model
from .errors import FromzeroError
from .model import Model, Sequential
from .train import Trainer

__all__ = ["layers", "Model", "Sequential", "Trainer", "load_model", "save_model", "FromzeroError"]
