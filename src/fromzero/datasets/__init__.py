"""Datasets: readers that verify what they read, and the copies embedded in the package."""
from .idx import read_idx
from .mnist import load_mnist

__all__ = ["load_mnist", "read_idx"]
