"""The model registry: families by name, so that a run directory's ``model.json`` can be rebuilt.

A family registers its class with ``@register_model(name, config_cls)``. ``build_model`` finds a
family that is not imported yet through ``FAMILIES`` (name -> module), so loading a run imports
only the family it needs. Nothing here imports torch.
"""
from __future__ import annotations

import dataclasses
import importlib

from .config import make_config
from .errors import CheckpointError, ConfigError, FromzeroError, unknown_name

FAMILIES = {"gpt": "fromzero.models.gpt", "gpt-classifier": "fromzero.models.classifier",
            "rnn-lm": "fromzero.models.rnn_lm", "forecaster": "fromzero.models.forecaster",
            "model": "fromzero.model", "sequential": "fromzero.model"}
MODELS: dict[str, tuple[type, type | None]] = {}


def register_model(name: str, config_cls: type | None = None):
    """Class decorator: make a model family saveable and loadable by name.

    The class either has a ``.config`` dataclass and is built as ``cls(config_cls(**d))``, or
    defines ``get_config()`` and the classmethod ``from_config(d)``.
    """
    def deco(cls):
        MODELS[name] = (cls, config_cls)
        cls._fromzero_name = name
        return cls
    return deco


def model_spec(model) -> dict:
    """``{"name": ..., "config": {...}}`` of a registered model: what ``model.json`` starts with."""
    name = getattr(type(model), "_fromzero_name", None)
    if name is None:
        raise CheckpointError(f"{type(model).__name__} is not a registered model: decorate its class "
                              f"with @register_model(name, config_cls) to save it with its config")
    config = model.get_config() if hasattr(model, "get_config") else dataclasses.asdict(model.config)
    return {"name": name, "config": config}


def build_model(spec: dict):
    """A new model (random weights) from a spec that ``model_spec`` wrote."""
    name = spec.get("name")
    if name not in MODELS and name in FAMILIES:
        importlib.import_module(FAMILIES[name])   # runs the family's @register_model
    if name not in MODELS:
        raise unknown_name("model", name, set(MODELS) | set(FAMILIES))
    cls, config_cls = MODELS[name]
    try:
        if hasattr(cls, "from_config"):
            return cls.from_config(spec["config"])
        return cls(make_config(config_cls, spec["config"]))
    except FromzeroError:
        raise
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as e:
        raise ConfigError(f"config of model {name!r} does not describe a valid model: "
                          f"{type(e).__name__}: {e}") from None
