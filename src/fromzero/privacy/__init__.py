"""Data privacy (tutorial 1.5): train with differential privacy, and measure what a model leaks.

- ``dp``: DP-SGD with Opacus, as a callback for any training run (``DifferentialPrivacy``).
- ``audit``: a membership-inference attack that measures how much a trained model reveals about
  which examples it was trained on.
"""
from .dp import DifferentialPrivacy, check_private_layers  # noqa: F401
