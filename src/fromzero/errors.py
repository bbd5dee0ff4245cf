"""The project's exception types.

Every error caused by user input (a file, a config, a shape, a name) is a subclass of
``FromzeroError``, which is itself a ``ValueError``: ``except ValueError`` catches them all.
"""


class FromzeroError(ValueError):
    """Bad input at a boundary: the message names what was expected and what was received."""


class DataError(FromzeroError):
    """A data file or folder is missing, corrupt, truncated or of the wrong format."""


class ConfigError(FromzeroError):
    """A configuration has unknown keys, wrong types or values out of range."""


class ShapeError(FromzeroError):
    """A tensor does not have the shape a model or layer expects."""


class CheckpointError(FromzeroError):
    """A checkpoint or run directory is missing, corrupt or does not fit the model."""


class NonFiniteError(FromzeroError):
    """Training produced NaN or Inf (in the loss, a gradient or a parameter), or tensors about to
    be saved hold them: the step was not taken, or nothing was saved."""


def unknown_name(kind: str, name, valid) -> FromzeroError:
    """The error for an unknown name: lists the valid choices."""
    return FromzeroError(f"unknown {kind} {name!r}; expected one of: {', '.join(sorted(valid))}")
