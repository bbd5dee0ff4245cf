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

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import torch
from torch import nn

from . import distributed as dist
from .errors import CheckpointError, FromzeroError
from .io import atomic_write_bytes, read_json, save_json
from .registry import build_model, model_spec

def save_weights(path, model: nn.Module | dict) -> None:
    """Weights (of a model, or a state dict) to safetensors. Tied (shared) tensors are stored once
    and re-tied on load."""
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
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata={"aliases": json.dumps(aliases)}))


def load_weights(path, model: nn.Module, strict: bool = True) -> nn.Module:
    """Load safetensors weights into ``model``, naming the tensor and both shapes on mismatch."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        tensors = safetensors.torch.load_file(str(path))
        with safetensors.safe_open(str(path), "pt") as f:
            aliases = json.loads((f.metadata() or {}).get("aliases", "{}"))
    except (safetensors.SafetensorError, OSError, ValueError, RuntimeError) as e:
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
    dist.load_full_state_dict(model, tensors, strict=strict)  # model.load_state_dict, or into FSDP shards
    return model


# --- run directories ----------------------------------------------------------------------------

def save_model(run_dir, model: nn.Module, extra: dict | None = None) -> Path:
    """Save ``model`` (weights + config) to ``run_dir``; ``load_model`` rebuilds it.

    In a distributed run every rank calls it: the weights are gathered and rank 0 writes them.
    """
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


def rng_state() -> dict:
    """Every random generator a run draws from: torch's (and CUDA's), NumPy's and Python's."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached": float(cached)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore ``rng_state()``; several ranks then fork their streams again (``distributed.fork_rng``)."""
    n = state["numpy"]
    torch.set_rng_state(state["torch"])
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    random.setstate(_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][:torch.cuda.device_count()])
    dist.fork_rng()


def _tuples(x):  # weights_only loading gives lists for Python's state tuples
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def _named(callbacks):
    """(key, callback) pairs keyed by class name (``Name#2`` for a second one), so that a resumed
    run with other callbacks still matches each state to its callback."""
    seen = {}
    for cb in callbacks:
        name = type(cb).__name__
        seen[name] = seen.get(name, 0) + 1
        yield (name if seen[name] == 1 else f"{name}#{seen[name]}"), cb


class Checkpointer:
    """The resumable state of a training run, ``run_dir/checkpoints/step-N/``: the weights and
    ``state.pt``: the optimizer, the trainer's position (``Trainer.state_dict``), the data's, the
    callbacks' states and every random generator, so that a resumed run continues bit for bit.

    ``Trainer(run_dir=..., checkpoint_every=N, keep_checkpoints=K)`` owns one: it saves after each
    epoch or evaluation and every ``every`` steps, and restores on ``fit(resume=True)``. Every
    rank calls ``save`` and ``restore``; rank 0 writes full tensors (N processes resume on M).

    Example:
        >>> Checkpointer("runs/mine").latest()  # doctest: +SKIP
        PosixPath('runs/mine/checkpoints/step-00000100')
    """

    def __init__(self, run_dir=None, every: int | None = None, keep: int = 2):
        self.run_dir = Path(run_dir) if run_dir else None
        self.every, self.keep = every, keep

    def latest(self) -> Path | None:
        """The newest complete checkpoint, or None."""
        found = list_checkpoints(self.run_dir) if self.run_dir else []
        return found[-1] if found else None

    def state_dict(self, trainer) -> dict:
        """Everything but the weights (a collective under FSDP: every rank calls it)."""
        state = {"optimizer": dist.optimizer_state_dict(trainer.model, trainer.optimizer),
                 **trainer.state_dict(), "rng": rng_state(),
                 "callbacks": {k: cb.state_dict() for k, cb in _named(trainer.callbacks)
                               if hasattr(cb, "state_dict")}}
        if hasattr(trainer.train_data, "state_dict"):
            state["data"] = trainer.train_data.state_dict()
        return state

    def load_state_dict(self, trainer, state: dict) -> None:
        dist.load_optimizer_state_dict(trainer.model, trainer.optimizer, state["optimizer"])
        set_rng_state(state["rng"])
        named = dict(_named(trainer.callbacks))
        for k, s in state["callbacks"].items():
            if hasattr(named.get(k), "load_state_dict"):
                named[k].load_state_dict(s)
        if "data" in state and hasattr(trainer.train_data, "load_state_dict"):
            trainer.train_data.load_state_dict(state["data"])
        trainer.load_state_dict(state)

    def save(self, trainer) -> Path:
        """Write the checkpoint of ``trainer.step``; every rank calls it, rank 0 writes."""
        state, weights = self.state_dict(trainer), dist.full_state_dict(trainer.model)
        path = self.run_dir / "checkpoints" / f"step-{trainer.step:08d}"
        if dist.is_main():
            path = save_checkpoint(self.run_dir, trainer.step, weights, state, keep=self.keep)
        dist.barrier()
        return path

    def restore(self, trainer, path=None) -> bool:
        """Load ``path`` (default: the newest checkpoint) into ``trainer``; False if there is none."""
        path = path or self.latest()
        if path is None:
            return False
        self.load_state_dict(trainer, load_checkpoint(path, trainer.model))
        return True
