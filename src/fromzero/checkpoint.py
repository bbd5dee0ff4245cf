"""Checkpointing, in one module: run directories, weights, configs and resumable training state.

A run directory holds:
    model.safetensors   the weights (safetensors: loading never unpickles)
    model.json          {"name": registered model name, "config": {...}, ...extra}
    history.csv / .png  per-epoch logs and the training curves
    checkpoints/step-N/ resumable training state: model.safetensors + state.pt
                        (optimizer, step, data position, RNG; loadable with weights_only=True)

Every write goes to a temporary name and is renamed into place, so an interrupted save never
leaves a half-written file at the target name.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from .errors import CheckpointError, ConfigError, FromzeroError, unknown_name

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


def model_spec(model: nn.Module) -> dict:
    name = getattr(type(model), "_fromzero_name", None)
    if name is None:
        raise CheckpointError(f"{type(model).__name__} is not a registered model: decorate its class "
                              f"with @register_model(name, config_cls) to save it with its config")
    if hasattr(model, "get_config"):
        config = model.get_config()
    else:
        config = dataclasses.asdict(model.config)
    return {"name": name, "config": config}


def build_model(spec: dict) -> nn.Module:
    name = spec.get("name")
    if name not in MODELS:
        _import_families()
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
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


def make_config(config_cls, values: dict, source: str = "config"):
    """Build a config dataclass, reporting every unknown key and wrong type at once."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    problems = [f"unknown key {k!r}" for k in values if k not in fields]
    for k, v in values.items():
        if k in fields:
            want = fields[k].type if isinstance(fields[k].type, type) else None
            want = want or {"int": int, "float": float, "bool": bool, "str": str}.get(str(fields[k].type))
            ok = want is None or isinstance(v, want) or (want is float and isinstance(v, int)
                                                         and not isinstance(v, bool))
            if want is int and isinstance(v, bool):
                ok = False
            if not ok:
                problems.append(f"{k!r} must be {want.__name__}, got {type(v).__name__} {v!r}")
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems) +
                          f". Valid keys: {', '.join(fields)}")
    cfg = config_cls(**values)
    return cfg


def _import_families():
    """Import the model families so that their @register_model decorators run."""
    import importlib
    import pkgutil

    from . import models

    for m in pkgutil.iter_modules(models.__path__):
        importlib.import_module(f"{models.__name__}.{m.name}")
    importlib.import_module("fromzero.model")


# --- atomic files -------------------------------------------------------------------------------

def atomic_write_bytes(path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def read_json(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: expected a JSON file, could not parse it ({e})") from None


def save_weights(path, model: nn.Module | dict) -> None:
    """Weights (of a model, or a state dict) to safetensors. Tied (shared) tensors are stored once
    and re-tied on load."""
    from safetensors.torch import save_file  # imported when used: ~1 MB that training does not need

    state = model if isinstance(model, dict) else model.state_dict()
    seen, tensors, aliases = {}, {}, {}
    for k, t in state.items():
        key = (t.data_ptr(), t.shape, t.stride()) if t.numel() else None
        if key is not None and key in seen:
            aliases[k] = seen[key]
            continue
        if key is not None:
            seen[key] = k
        tensors[k] = t.detach().contiguous().cpu()
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"aliases": json.dumps(aliases)})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_weights(path, model: nn.Module, strict: bool = True) -> nn.Module:
    """Load safetensors weights into ``model``, naming the tensor and both shapes on mismatch."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
        with safe_open(str(path), "pt") as f:
            aliases = json.loads((f.metadata() or {}).get("aliases", "{}"))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a valid safetensors file (truncated or corrupt?): {e}") from None
    for k, src in aliases.items():
        if src in tensors:
            tensors[k] = tensors[src]
    own = model.state_dict()
    if strict:
        missing = sorted(set(own) - set(tensors))
        extra = sorted(set(tensors) - set(own))
        if missing or extra:
            raise CheckpointError(f"{path}: tensors do not match the model: missing {missing[:5]}, "
                                  f"unexpected {extra[:5]}")
    bad = [f"tensor {k!r} has shape {tuple(tensors[k].shape)} in the file, but the model expects "
           f"{tuple(t.shape)}" for k, t in own.items() if k in tensors and tensors[k].shape != t.shape]
    if bad:
        raise CheckpointError(f"{path}: " + "; ".join(bad))
    from .distributed import load_full_state_dict
    load_full_state_dict(model, tensors, strict=strict)  # model.load_state_dict, or into FSDP shards
    return model


# --- run directories ----------------------------------------------------------------------------

def save_model(run_dir, model: nn.Module, extra: dict | None = None) -> Path:
    """Save ``model`` (weights + config) to ``run_dir``; ``load_model`` rebuilds it.

    In a distributed run every rank calls it: the weights are gathered and rank 0 writes them.
    """
    from . import distributed as dist

    run_dir = Path(run_dir)
    state = dist.full_state_dict(model)  # model.state_dict(); under FSDP gathered to rank 0
    if dist.is_main():
        run_dir.mkdir(parents=True, exist_ok=True)
        spec = model_spec(model)
        spec.update(extra or {})
        save_weights(run_dir / "model.safetensors", state)
        save_json(run_dir / "model.json", spec)
    dist.barrier()
    return run_dir


def load_model(run_dir, device="cpu") -> nn.Module:
    """Rebuild the model saved in ``run_dir`` and load its weights (never unpickles).

    Example:
        >>> model = load_model("runs/mnist-cnn")  # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: run directory not found")
    spec = read_json(run_dir / "model.json")
    if "name" not in spec or "config" not in spec:
        raise CheckpointError(f"{run_dir / 'model.json'}: expected keys 'name' and 'config', "
                              f"got {sorted(spec)}")
    try:
        model = build_model(spec)
    except FromzeroError as e:
        raise CheckpointError(f"{run_dir / 'model.json'}: {e}") from None
    load_weights(run_dir / "model.safetensors", model)
    return model.to(device).eval()


# --- resumable training state -------------------------------------------------------------------

def list_checkpoints(run_dir) -> list[Path]:
    """Complete checkpoints in ``run_dir``, oldest first (incomplete ones are never listed)."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    done = [p for p in root.glob("step-*") if p.is_dir() and (p / "state.pt").is_file()
            and (p / "model.safetensors").is_file()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(run_dir, step: int, model: nn.Module | dict, state: dict, keep: int = 2) -> Path:
    """Write ``checkpoints/step-N`` atomically (a temp folder renamed into place); keep the last ``keep``.

    ``model`` is the model or its state dict (a distributed trainer passes the gathered one)."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    try:
        save_weights(tmp / "model.safetensors", model)
        torch.save(state, tmp / "state.pt")
        with open(tmp / "state.pt", "rb") as f:
            os.fsync(f.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path, model: nn.Module) -> dict:
    """Load a checkpoint folder into ``model`` and return its training state (weights_only=True)."""
    path = Path(path)
    load_weights(path / "model.safetensors", model)
    try:
        return torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path / 'state.pt'}: file not found") from None
    except Exception as e:  # weights_only refuses anything that could run code
        raise CheckpointError(f"{path / 'state.pt'}: cannot load training state safely "
                              f"(corrupt, or holds objects other than tensors and plain data): {e}") from None
