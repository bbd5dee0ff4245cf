"""Training: the one loop (Trainer), its callbacks, and the registries it reads names from."""
from . import schedules
from .callbacks import Callback, CSVLogger, EarlyStopping, History, PlotHistory, ProgressBar
from .data import TensorBatches
from .optim import register_optimizer
from .trainer import NonFiniteError, Trainer, as_batches

__all__ = ["Trainer", "Callback", "History", "ProgressBar", "CSVLogger", "PlotHistory",
           "EarlyStopping", "TensorBatches", "NonFiniteError", "as_batches", "register_optimizer",
           "schedules"]
