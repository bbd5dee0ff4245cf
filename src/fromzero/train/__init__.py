"""Training: the one loop (Trainer), its callbacks, and the registries it reads names from."""
from . import schedules
from .callbacks import (Callback, CSVLogger, EarlyStopping, History, KeepBest, PlotHistory, ProgressBar,
                        StillImproving, StopAtTarget, TensorBoard)
from .optim import register_optimizer
from .trainer import NonFiniteError, Trainer, place

__all__ = ["Trainer", "place", "Callback", "History", "ProgressBar", "CSVLogger", "PlotHistory",
           "EarlyStopping", "KeepBest", "StillImproving", "StopAtTarget", "TensorBoard", "NonFiniteError",
           "register_optimizer", "schedules"]
