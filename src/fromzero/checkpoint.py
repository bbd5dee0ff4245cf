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

import contextlib
import dataclasses
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

try:
    import fcntl                 # POSIX; elsewhere the lock relies on the pid alone
except ImportError:
    fcntl = None
import numpy as np
import safetensors
import safetensors.torch
import torch
from torch import nn

from . import distributed as dist
from .config import make_config
from .errors import CheckpointError, ConfigError, FromzeroError, NonFiniteError
from .io import atomic_open, fsync_dir, read_json, remove_tmp_leftovers, save_json, sha256_file
from .registry import build_model, model_spec

def nonfinite(obj, name: str = "") -> list[str]:
    """The names of the floating-point tensors in ``obj`` (a tensor, or dicts and lists of them,
    such as a state dict or an optimizer's state) that hold a NaN or an Inf."""
    if isinstance(obj, torch.Tensor):
        return [name or "tensor"] if obj.is_floating_point() and not bool(torch.isfinite(obj).all()) else []
    if isinstance(obj, dict):
        return [b for k, v in obj.items() for b in nonfinite(v, f"{name}.{k}" if name else str(k))]
    if isinstance(obj, (list, tuple)):
        return [b for i, v in enumerate(obj) for b in nonfinite(v, f"{name}[{i}]")]
    return []


def refuse_nonfinite(obj, path) -> None:
    """A checkpoint is good only if every tensor in it is finite: raise ``NonFiniteError`` (nothing
    is written) when ``obj`` holds a NaN or an Inf."""
    bad = nonfinite(obj)
    if bad:
        raise NonFiniteError(f"{path}: refusing to save NaN or Inf values (in {len(bad)} tensor(s): "
                             f"{', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); nothing was written")


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
    refuse_nonfinite(tensors, path)
    blob = safetensors.torch.save(tensors, metadata={"aliases": json.dumps(aliases)})
    n = int.from_bytes(blob[:8], "little")
    data = memoryview(blob)[8 + n:]
    header = json.loads(blob[8:8 + n])
    header["__metadata__"]["sha256"] = hashlib.sha256(data).hexdigest()   # checked by load_weights
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)                      # the format's 8-byte alignment of the data
    with atomic_open(path) as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        f.write(data)


# safetensors' dtype names of the dtypes a model holds
DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
          torch.uint8: "U8", torch.bool: "BOOL"}
MAX_HEADER_BYTES = 100 << 20    # safetensors' own limit


def read_header(path) -> tuple[dict, dict]:
    """``(tensors, metadata)`` of a safetensors file, read from its header alone (nothing of the
    tensor data is read or allocated): ``tensors`` maps each name to ``{"dtype", "shape",
    "data_offsets"}``, checked to lie inside the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    size = path.stat().st_size
    bad = f"{path}: not a valid safetensors file (truncated or corrupt?)"
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < n <= min(size - 8, MAX_HEADER_BYTES):
            raise CheckpointError(f"{bad}: header length {n} does not fit a file of {size} bytes")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise CheckpointError(f"{bad}: the header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{bad}: the header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    end = size - 8 - n
    for k, t in header.items():
        ok = (isinstance(t, dict) and isinstance(t.get("dtype"), str) and isinstance(t.get("shape"), list)
              and all(isinstance(d, int) and d >= 0 for d in t["shape"])
              and isinstance(t.get("data_offsets"), list) and len(t["data_offsets"]) == 2
              and all(isinstance(o, int) for o in t["data_offsets"])
              and 0 <= t["data_offsets"][0] <= t["data_offsets"][1] <= end)
        if not ok:
            raise CheckpointError(f"{bad}: tensor {k!r} has an invalid entry {str(t)[:200]}")
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{bad}: the metadata is not a map of strings")
    return header, meta


def _check_header(path, header: dict, meta: dict, own: dict, strict: bool = True) -> None:
    """Refuse a file whose tensors (names, shapes, dtypes) do not match the state dict ``own``."""
    try:
        aliases = json.loads(meta.get("aliases", "{}"))
        aliases = {k: v for k, v in aliases.items() if isinstance(k, str) and v in header}
    except (ValueError, RecursionError, AttributeError, TypeError):
        raise CheckpointError(f"{path}: the metadata's alias table is not valid JSON") from None
    entries = {**header, **{k: header[v] for k, v in aliases.items()}}
    if strict:
        missing = sorted(set(own) - set(entries))
        extra = sorted(set(entries) - set(own))
        if missing or extra:
            raise CheckpointError(f"{path}: tensors do not match the model: missing {missing[:5]}, "
                                  f"unexpected {extra[:5]}")
    bad = []
    for k, t in own.items():
        if k not in entries:
            continue
        e = entries[k]
        if tuple(e["shape"]) != tuple(t.shape):
            bad.append(f"tensor {k!r} has shape {tuple(e['shape'])} in the file, but the model "
                       f"expects {tuple(t.shape)}")
        elif e["dtype"] != DTYPES.get(t.dtype, str(t.dtype)):
            bad.append(f"tensor {k!r} has dtype {e['dtype']} in the file, but the model expects "
                       f"{DTYPES.get(t.dtype, str(t.dtype))}")
    if bad:
        raise CheckpointError(f"{path}: " + "; ".join(bad[:5]) + (f" (and {len(bad) - 5} more)"
                                                                  if len(bad) > 5 else ""))


def _check_sha256(path, meta: dict) -> None:
    """Compare the data section with the SHA-256 that ``save_weights`` recorded (older files have none)."""
    if "sha256" not in meta:
        return
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        f.seek(8 + n)
        h = hashlib.sha256()
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != meta["sha256"]:
        raise CheckpointError(f"{path}: the tensor data has sha256 {h.hexdigest()}, but the file "
                              f"records {meta['sha256']} (the file is corrupt or was modified)")


def load_weights(path, model: nn.Module, strict: bool = True) -> nn.Module:
    """Load safetensors weights into ``model``: names, shapes and dtypes are checked against the
    model from the file's header before any tensor is read (a wrong dtype is refused, never
    cast), then the data against the SHA-256 that ``save_weights`` recorded."""
    path = Path(path)
    header, meta = read_header(path)      # names, shapes and dtypes, before any tensor is read
    _check_header(path, header, meta, model.state_dict(), strict)
    _check_sha256(path, meta)
    try:
        tensors = safetensors.torch.load_file(str(path))
    except (safetensors.SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a valid safetensors file (truncated or corrupt?): {e}") from None
    for k, src in json.loads(meta.get("aliases", "{}")).items():
        if src in tensors:
            tensors[k] = tensors[src]
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
    weights = run_dir / "model.safetensors"
    header, meta = read_header(weights)
    try:
        with torch.device("meta"):     # shapes and dtypes only: nothing is allocated
            skeleton = build_model(spec)
    except FromzeroError as e:
        raise CheckpointError(f"{run_dir / 'model.json'}: {e}") from None
    except (RuntimeError, NotImplementedError):  # a family that cannot be built on "meta":
        skeleton = None                          # load_weights checks it once built
    if skeleton is not None:  # the config against the weights, before the model takes memory
        try:
            _check_header(weights, header, meta, skeleton.state_dict())
        except CheckpointError as e:
            raise CheckpointError(f"{run_dir / 'model.json'} does not describe the weights: {e}") from None
        del skeleton
    model = build_model(spec)
    load_weights(weights, model)
    return model.to(device).eval()


# --- resumable training state -------------------------------------------------------------------

_ANY = object()


def checkpoint_run_id(path) -> str | None:
    """The id of the run that wrote the checkpoint folder ``path`` (None: a legacy checkpoint)."""
    try:
        return (Path(path) / "run_id").read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def list_checkpoints(run_dir, run_id=_ANY) -> list[Path]:
    """Complete checkpoints in ``run_dir``, oldest first (incomplete ones are never listed); with
    ``run_id``, only those of that run (``None``, a legacy run directory without run.json: all, as
    before run ids)."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    done = [p for p in root.glob("step-*") if p.name[5:].isdigit() and p.is_dir()
            and (p / "state.pt").is_file() and (p / "model.safetensors").is_file()]
    if run_id is not _ANY and run_id is not None:
        done = [p for p in done if checkpoint_run_id(p) == run_id]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(run_dir, step: int, model: nn.Module | dict, state: dict, keep: int = 2) -> Path:
    """Write ``checkpoints/step-N`` atomically (a temp folder renamed into place); keep the last ``keep``.

    ``model`` is the model or its state dict (a distributed trainer passes the gathered one)."""
    root = Path(run_dir) / "checkpoints"
    final = root / f"step-{step:08d}"
    refuse_nonfinite(state, final / "state.pt")   # the weights: save_weights checks them
    if not root.is_dir():
        root.mkdir(parents=True)
        fsync_dir(root.parent)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    try:
        save_weights(tmp / "model.safetensors", model)
        if state.get("run_id"):   # beside state.pt too: listing and rotating read no state.pt
            (tmp / "run_id").write_text(state["run_id"], encoding="ascii")
        torch.save(state, tmp / "state.pt")
        with open(tmp / "state.pt", "rb") as f:
            os.fsync(f.fileno())
        # torch.load does not check the zip's CRCs: a flipped byte in a tensor would load silently
        (tmp / "state.sha256").write_text(sha256_file(tmp / "state.pt"), encoding="ascii")
        fsync_dir(tmp)
        if final.exists():
            _remove_dir(final)
        os.replace(tmp, final)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _drop_previous(Path(run_dir))     # the new run has a checkpoint: the run it replaced goes
    for old in list_checkpoints(run_dir, state.get("run_id"))[:-keep] if keep > 0 else []:  # this run's only
        _remove_dir(old)
    fsync_dir(root)
    return final


def _remove_dir(path: Path) -> None:
    """Delete a checkpoint folder without ever leaving a half-deleted ``step-N``: it is renamed to
    ``.tmp-del-*`` first (which ``clean_leftovers`` removes if the deletion is interrupted)."""
    aside = path.with_name(f".tmp-del-{path.name}-{os.urandom(4).hex()}")
    os.replace(path, aside)
    shutil.rmtree(aside, ignore_errors=True)


def clean_leftovers(run_dir) -> list[Path]:
    """Remove what an interrupted run left in ``run_dir``: ``.tmp-*`` folders and incomplete
    ``step-N`` folders in checkpoints/, and ``atomic_open``'s ``.*.tmp`` files. Returns them.
    Call it only while no other process writes the run (holding its lock)."""
    run_dir, gone = Path(run_dir), []
    root = run_dir / "checkpoints"
    for folder in (run_dir, root):
        gone += remove_tmp_leftovers(folder)
    if root.is_dir() and not root.is_symlink():
        done = set(list_checkpoints(run_dir))
        for p in sorted(root.iterdir()):
            if p.is_dir() and not p.is_symlink() and (p.name.startswith(".tmp-")
                                                       or (p.name.startswith("step-") and p not in done)):
                shutil.rmtree(p, ignore_errors=True)
                gone.append(p)
        fsync_dir(root)
    return gone


def load_checkpoint(path, model: nn.Module) -> dict:
    """Load a checkpoint folder into ``model`` and return its training state (weights_only=True)."""
    path = Path(path)
    digest = path / "state.sha256"    # absent in checkpoints written before it existed
    if digest.is_file() and (path / "state.pt").is_file() and \
            sha256_file(path / "state.pt") != digest.read_text(encoding="ascii", errors="replace").strip():
        raise CheckpointError(f"{path / 'state.pt'}: corrupt: its SHA-256 does not match the one saved with it "
                              f"({digest.name}); resume from another checkpoint")
    try:   # first: a corrupt state.pt leaves the model untouched
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path / 'state.pt'}: file not found") from None
    except Exception as e:  # weights_only refuses anything that could run code
        raise CheckpointError(f"{path / 'state.pt'}: cannot load training state safely "
                              f"(corrupt, or holds objects other than tensors and plain data): {e}") from None
    load_weights(path / "model.safetensors", model)
    return state


# What Checkpointer.state_dict writes into state.pt (and load_state_dict needs): key -> type.
STATE_KEYS = {"optimizer": dict, "step": int, "epoch": int, "rng": dict, "callbacks": dict}


def check_state(state, path) -> None:
    """Raise a ``CheckpointError`` naming ``path`` unless ``state`` has the structure of a
    ``Checkpointer`` training state (a file that loads safely may still be any dict)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a training state (a dict with keys {', '.join(STATE_KEYS)}), "
                              f"got {type(state).__name__}")
    bad = [f"{k!r} missing" if k not in state else f"{k!r} is {type(state[k]).__name__}, expected {t.__name__}"
           for k, t in STATE_KEYS.items() if not isinstance(state.get(k), t) or isinstance(state.get(k), bool)]
    rng = state.get("rng") if isinstance(state.get("rng"), dict) else {}
    bad += [f"'rng' has no {k!r}" for k in ("torch", "python", "numpy") if k not in rng and "rng" in state]
    if bad:
        raise CheckpointError(f"{path}: not a training state written by fromzero: {'; '.join(bad)}")


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
        self._run_id = None   # the run this Checkpointer wrote (``run``)
        self._cleaned = False  # leftovers of an interrupted run removed (``_clean``)

    @property
    def run_id(self) -> str | None:
        """The id of the run whose checkpoints this one saves, restores and rotates (None: legacy)."""
        return open_run_id(self.run_dir)

    def run(self, resume=False, overwrite: bool = False, kind: str = "trainer"):
        """``open_run`` for ``Trainer.fit``: a context manager (nothing without a run directory)."""
        if self.run_dir is None:
            return contextlib.nullcontext()
        return self._open(bool(resume), overwrite, kind)

    @contextlib.contextmanager
    def _open(self, resume: bool, overwrite: bool, kind: str):
        with open_run(self.run_dir, kind, resume=resume, overwrite=overwrite, same_as=self._run_id) as run:
            self._run_id = run.run_id
            yield run

    def latest(self) -> Path | None:
        """The newest complete checkpoint of this run, or None."""
        found = list_checkpoints(self.run_dir, self.run_id) if self.run_dir else []
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

    def _clean(self) -> None:
        """Once per Checkpointer, on rank 0: remove what an interrupted run left (``clean_leftovers``)."""
        if self._cleaned or self.run_dir is None or not dist.is_main():
            return
        self._cleaned = True
        gone = clean_leftovers(self.run_dir)
        if gone:
            print(f"fromzero: removed {len(gone)} leftover(s) of an interrupted save in {self.run_dir}: "
                  + ", ".join(str(p.relative_to(self.run_dir)) for p in gone[:5]), file=sys.stderr)

    def _newest_intact(self, model) -> tuple[Path | None, dict | None]:
        """The newest checkpoint of this run that loads into ``model``, and its state; each corrupt
        newer one is named in a warning. Raises the newest's error when none loads."""
        found = list_checkpoints(self.run_dir, self.run_id) if self.run_dir else []
        errors = []
        for path in reversed(found):
            try:
                state = load_checkpoint(path, model)
            except CheckpointError as e:
                errors.append((path, e))
                continue
            if errors and dist.is_main():
                for bad, e in errors:
                    print(f"fromzero: warning: checkpoint {bad} is corrupt ({e}); resuming from the "
                          f"previous intact one, {path}", file=sys.stderr)
            return path, state
        if errors:
            raise CheckpointError(f"no intact checkpoint in {self.run_dir / 'checkpoints'}: "
                                  + "; ".join(str(e) for _, e in errors[:3])) from None
        return None, None

    def save(self, trainer) -> Path:
        """Write the checkpoint of ``trainer.step``; every rank calls it, rank 0 writes."""
        self._clean()
        state, weights = self.state_dict(trainer), dist.full_state_dict(trainer.model)
        if self.run_id:
            state["run_id"] = self.run_id
        path = self.run_dir / "checkpoints" / f"step-{trainer.step:08d}"
        if dist.is_main():
            path = save_checkpoint(self.run_dir, trainer.step, weights, state, keep=self.keep)
        dist.barrier()
        return path

    def restore(self, trainer, path=None) -> bool:
        """Load ``path`` (default: the newest intact checkpoint) into ``trainer``; False if there is
        none. A corrupt newest checkpoint is skipped for the previous one, with a warning."""
        self._clean()
        if path is None:
            path, state = self._newest_intact(trainer.model)
        else:
            state = load_checkpoint(path, trainer.model)
        if path is None:
            if dist.is_main():
                print(f"fromzero: no checkpoint of this run in {self.run_dir} yet: training from step 0",
                      file=sys.stderr)
            return False
        where = Path(path) / "state.pt"
        check_state(state, where)
        try:
            self.load_state_dict(trainer, state)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as e:
            if isinstance(e, FromzeroError):
                raise
            raise CheckpointError(f"{where}: not a training state that this run can continue "
                                  f"({type(e).__name__}: {e})") from None
        if dist.is_main():
            where_now = trainer.position() if hasattr(trainer, "position") else f"step {trainer.step}"
            print(f"fromzero: resuming {self.run_dir} (run {self.run_id or 'without id'}) from {where_now} "
                  f"(checkpoint {Path(path).name})", file=sys.stderr)
        return True


# --- run identity and the lock -------------------------------------------------------------------
#
# run.json   {"run_id", "kind", "config", "created"}: written when a run starts; a checkpoint records
#            the id of the run that wrote it (state.pt's "run_id" and the file step-N/run_id), and a run
#            resumes and rotates only its own checkpoints. A directory without run.json is a legacy run
#            (written before run ids): it loads and resumes as before, from any checkpoint in it.
# run.lock   {"pid", "host", ...} while a process writes the run: created with O_CREAT|O_EXCL and
#            flock-ed, removed when the run ends (exceptions and SIGTERM/SIGHUP/SIGINT included); a lock
#            whose process is gone (its pid no longer runs on this host) is taken over with a notice.

RUN_FILE, LOCK_FILE = "run.json", "run.lock"
PREVIOUS = ".previous-run"   # --overwrite: the replaced run's files, until the new run's first checkpoint
# What the run commands write: ``overwrite`` replaces these (and atomic-write leftovers), nothing else.
RUN_FILES = (RUN_FILE, "model.safetensors", "model.json", "history.csv", "history.png", "checkpoints",
             "tokenizer.json", "pretrain.json", "finetune.json", "train_config.json", "metrics.json",
             "scaler.json", "vocab.json", "forecast.png")
_OPEN: dict = {}   # resolved run dir -> [Run, depth]: the runs this process has open
# the task that model.json records for each kind of run (a legacy run is checked against it)
TASKS = {"pretrain": "language-modeling", "train mnist-cnn": "image-classification",
         "finetune": "text-classification", "train forecast": "forecast",
         "train text-rnn": "rnn-text-classification"}


class RunInUseError(CheckpointError):
    """Another process holds the run directory's lock."""


@dataclasses.dataclass
class Run:
    """An open run directory: ``run_id`` is None for a legacy run (no run.json)."""
    dir: Path
    run_id: str | None
    kind: str | None
    config: dict | None       # the config the run was started with (None: unknown, a legacy run)
    resumed: bool = False


def _start_ticks(pid: int):
    """The start time of process ``pid`` (Linux clock ticks since boot), to tell a reused pid; None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(info: dict) -> bool:
    """Whether the process that wrote the lock ``info`` still runs (True when it cannot be told)."""
    if info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
        return True
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    start = info.get("start")
    return start is None or _start_ticks(info["pid"]) in (None, start)


class RunLock:
    """The exclusive lock of a run directory, ``run_dir/run.lock``: one writer at a time.

    Example:
        >>> with RunLock("runs/mine"):     # doctest: +SKIP
        ...     ...                        # a second process gets RunInUseError("runs/mine is in use by pid N")
    """

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.fd, self._handlers = None, {}

    def _busy(self, info: dict) -> RunInUseError:
        where = "" if info.get("host") == socket.gethostname() else f" on host {info.get('host')}"
        return RunInUseError(f"{self.run_dir} is in use by pid {info.get('pid')}{where} (since "
                             f"{info.get('since', '?')}; lock file {self.path}): wait for it to finish or stop "
                             f"it; if that process is gone, delete {self.path}")

    def _info(self) -> bytes:
        return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "start": _start_ticks(os.getpid()),
                           "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": sys.argv[:20]}).encode()

    @staticmethod
    def _read(fd) -> dict:
        try:
            info = json.loads(os.pread(fd, 1 << 16, 0) or b"{}")
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}

    def acquire(self) -> "RunLock":
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CheckpointError(f"{self.run_dir}: cannot create the run directory: {e.strerror or e}") from None
        flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        for _ in range(50):
            try:
                fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o644)
                _flock(fd, block=True)           # waits only while a contender checks the new file
                os.write(fd, self._info())
                os.fsync(fd)
                return self._took(fd)
            except FileExistsError:
                pass
            except OSError as e:
                raise CheckpointError(f"{self.path}: cannot create the lock file: {e.strerror or e}") from None
            try:
                fd = os.open(self.path, flags)
            except FileNotFoundError:
                continue                          # released meanwhile: try again
            except OSError as e:
                raise CheckpointError(f"{self.path}: cannot open the lock file: {e.strerror or e}") from None
            if not _flock(fd, block=False):      # its writer holds it: alive
                info = self._read(fd)
                os.close(fd)
                raise self._busy(info)
            info = self._read(fd)
            same_file = os.path.exists(self.path) and os.stat(self.path).st_ino == os.fstat(fd).st_ino
            if not info or not same_file:         # being created, or already released: look again
                os.close(fd)
                time.sleep(0.02)
                continue
            if _alive(info):                      # a live writer that holds no flock (another host, ...)
                os.close(fd)
                raise self._busy(info)
            print(f"fromzero: {self.run_dir}: taking over the stale lock of pid {info.get('pid')} "
                  f"(since {info.get('since', '?')}; that process no longer runs)", file=sys.stderr)
            os.ftruncate(fd, 0)
            os.pwrite(fd, self._info(), 0)
            os.fsync(fd)
            return self._took(fd)
        raise CheckpointError(f"{self.path}: could not take the lock (it keeps changing)")

    def _took(self, fd) -> "RunLock":
        self.fd = fd
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):  # exit through the finally blocks
                if s is not None and signal.getsignal(s) == signal.SIG_DFL:
                    self._handlers[s] = signal.signal(s, _exit_on_signal)
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        for s, h in self._handlers.items():
            signal.signal(s, h)
        self._handlers = {}
        try:
            if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _flock(fd, block: bool) -> bool:
    """flock ``fd`` exclusively; False when another process holds it (True where flock is missing)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:          # a file system without flock: the pid check decides
        return True
    return True


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


def _read_run_file(run_dir: Path) -> dict | None:
    path = run_dir / RUN_FILE
    if not path.is_file():
        return None
    info = read_json(path)
    if not (isinstance(info, dict) and isinstance(info.get("run_id"), str) and info["run_id"]):
        raise CheckpointError(f"{path}: expected {{\"run_id\": \"...\", \"kind\": ..., \"config\": ...}}, "
                              f"got {str(info)[:200]}")
    return info


def _entries(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir() if p.name != LOCK_FILE) if run_dir.is_dir() else []


def _describe(run_dir: Path, names: list[str], info: dict | None) -> str:
    what = f"run {info['run_id']} ({info.get('kind')}, started {info.get('created', '?')}): " if info else ""
    steps = [p.name for p in list_checkpoints(run_dir)]
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return what + shown + (f"; checkpoints up to {steps[-1]}" if steps else "")


def _run_file(name: str) -> bool:
    """Whether a run wrote ``name`` (``RUN_FILES``, or a temporary leftover)."""
    return name in RUN_FILES or name.startswith(".tmp-") or (name.startswith(".") and name.endswith(".tmp"))


def _clear(run_dir: Path, keep=(LOCK_FILE, RUN_FILE)) -> None:
    """Delete the files a previous run wrote (``_run_file``; links are removed, never followed);
    other files stay, and so do ``keep``."""
    for p in run_dir.iterdir():
        if p.name in keep or not _run_file(p.name):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
    fsync_dir(run_dir)


def _set_aside(run_dir: Path) -> None:
    """``--overwrite``: move the files the previous run wrote into ``PREVIOUS``, so that a new run that
    fails before its first checkpoint (a typo in a file name, bad data) can put them back."""
    prev = run_dir / PREVIOUS
    if prev.exists():     # left by a new run killed before its first checkpoint: overwritten twice now
        _remove_dir(prev)
    prev.mkdir()
    for p in run_dir.iterdir():
        if p.name not in (LOCK_FILE, PREVIOUS) and _run_file(p.name):
            os.replace(p, prev / p.name)
    fsync_dir(prev)
    fsync_dir(run_dir)


def _put_back(run_dir: Path) -> bool:
    """Undo ``_set_aside`` (the new run's files are cleared first); False when nothing was set aside."""
    prev = run_dir / PREVIOUS
    if not prev.is_dir():
        return False
    for p in prev.iterdir():
        os.replace(p, run_dir / p.name)
    prev.rmdir()
    fsync_dir(run_dir)
    return True


def _drop_previous(run_dir: Path) -> None:
    if (run_dir / PREVIOUS).is_dir():
        _remove_dir(run_dir / PREVIOUS)


def _begin(run_dir: Path, kind: str, config, resume: bool, overwrite: bool, same_as) -> Run:
    """Rank 0, holding the lock: the run to continue, or a new one (run.json written)."""
    info = _read_run_file(run_dir)
    if info and same_as and info["run_id"] == same_as:   # this process's own run, again (fit() twice)
        return Run(run_dir, same_as, info.get("kind"), info.get("config"), resumed=True)
    names = _entries(run_dir)
    if resume:
        if info:
            if info.get("kind") != kind:
                raise CheckpointError(f"{run_dir} holds a `{info.get('kind')}` run ({info['run_id']}); it "
                                      f"cannot be continued as `{kind}`")
            return Run(run_dir, info["run_id"], kind, info.get("config"), resumed=True)
        if names:                                        # a legacy run: no id; it resumes as before
            task = (read_json(run_dir / "model.json").get("task") if (run_dir / "model.json").is_file()
                    else None)
            if task and TASKS.get(kind.split()[0] if kind.startswith("pretrain") else kind, task) != task:
                raise CheckpointError(f"{run_dir} holds a {task} run; it cannot be continued as `{kind}`")
            return Run(run_dir, None, kind, None, resumed=True)
        print(f"fromzero: nothing to resume in {run_dir}: starting a new run", file=sys.stderr)
    elif names and not overwrite:
        raise CheckpointError(f"{run_dir} is not empty, it holds {_describe(run_dir, names, info)}. Continue that "
                              "run with --resume (resume=True), replace it with --overwrite (overwrite=True: its "
                              "files are deleted once the new run has a checkpoint), or choose another output "
                              "directory")
    new = {"run_id": uuid.uuid4().hex[:16], "kind": kind, "config": config,
           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if names and overwrite:
        print(f"fromzero: {run_dir}: --overwrite: replacing the previous run ({_describe(run_dir, names, info)}); "
              f"its files wait in {PREVIOUS} until the new run's first checkpoint, and come back if it fails "
              "before", file=sys.stderr)
        _set_aside(run_dir)
    save_json(run_dir / RUN_FILE, new)
    return Run(run_dir, new["run_id"], kind, config)


@contextlib.contextmanager
def open_run(run_dir, kind: str, config: dict | None = None, resume: bool = False, overwrite: bool = False,
             same_as: str | None = None):
    """Open the run directory ``run_dir`` for writing; yields its ``Run``. Rank 0 holds its lock
    (``RunLock``) until the block ends.

    A new run (``resume=False``) needs an empty or new directory, or ``overwrite=True``, which
    deletes the files an earlier run wrote there (``RUN_FILES``); it writes run.json with a new
    run id, the ``kind`` of run and its ``config``. ``resume=True`` continues the run that
    run.json names (a legacy run directory: the one without an id), only if it is of the same
    ``kind``; in an empty directory it starts a new run. ``same_as``: the id of a run this process
    already wrote (``Trainer.fit`` called again). Opening a run this process has open already
    just yields it. In a distributed run call it on every rank after ``distributed.init``.

    Example:
        >>> with open_run("runs/mine", "my-script", {"lr": 0.01}) as run:   # doctest: +SKIP
        ...     trainer = Trainer(model, run_dir=run.dir); trainer.fit(data)
    """
    run_dir = Path(run_dir)
    key = run_dir.resolve()
    if key in _OPEN:
        entry = _OPEN[key]
        entry[1] += 1
        try:
            yield entry[0]
        finally:
            entry[1] -= 1
        return
    if resume and overwrite:
        raise ConfigError("resume and overwrite: give one of them, not both (resume continues the run in "
                          f"{run_dir}, overwrite replaces it)")
    created = dist.is_main() and not run_dir.exists()
    try:
        with _locked_run(run_dir, kind, config, resume, overwrite, same_as, key) as run:
            yield run
    except BaseException:
        if created:   # a folder this call made and the failed run left empty: gone too
            with contextlib.suppress(OSError):
                run_dir.rmdir()
        raise


@contextlib.contextmanager
def _locked_run(run_dir: Path, kind, config, resume, overwrite, same_as, key):
    """``open_run``'s body: the lock (rank 0), the run chosen, and the clean-up of a failed new run."""
    with RunLock(run_dir) if dist.is_main() else contextlib.nullcontext():
        run = _begin(run_dir, kind, config, resume, overwrite, same_as) if dist.is_main() else None
        dist.barrier()
        if run is None:                                  # the other ranks: the run that rank 0 chose
            info = _read_run_file(run_dir)
            run = Run(run_dir, info and info["run_id"], kind, info and info.get("config"), resumed=resume)
        _OPEN[key] = [run, 1]
        try:
            yield run
        except BaseException:
            # a new run that fails before its first checkpoint (bad data, a bad option) leaves no
            # half-made run behind, so the same command can be run again once the input is fixed,
            # and the run it was to replace (--overwrite) comes back
            if dist.is_main() and not run.resumed and run.run_id and not (run_dir / "checkpoints").is_dir():
                _clear(run_dir, (LOCK_FILE, PREVIOUS))
                if _put_back(run_dir):
                    print(f"fromzero: {run_dir}: the new run failed before its first checkpoint; the previous "
                          "run's files are back", file=sys.stderr)
            raise
        else:
            if dist.is_main():
                _drop_previous(run_dir)
        finally:
            _OPEN.pop(key, None)


def open_run_id(run_dir) -> str | None:
    """The id of the run open in this process at ``run_dir``, else the one run.json names (None: legacy)."""
    if run_dir is None:
        return None
    entry = _OPEN.get(Path(run_dir).resolve())
    if entry is not None:
        return entry[0].run_id
    info = _read_run_file(Path(run_dir))
    return info and info["run_id"]


def run_config(run_dir) -> dict | None:
    """The config a run directory's run was started with (run.json), or None (a legacy or no run)."""
    info = _read_run_file(Path(run_dir)) if Path(run_dir).is_dir() else None
    return info.get("config") if info else None


def _plain(v):
    return json.loads(json.dumps(v, default=str))


def resume_changes(saved: dict, given: dict, may_change=(), where: str = "--resume") -> dict:
    """The options in ``given`` whose value differs from the resumed run's ``saved`` ones: those in
    ``may_change`` are returned (to apply); any other is refused, all of them in one ``ConfigError``.
    Options the saved config does not hold cannot be compared and are returned too."""
    changed = {k: v for k, v in given.items() if k not in saved or _plain(saved[k]) != _plain(v)}
    bad = [f"{k} {saved[k]!r} -> {v!r}" for k, v in changed.items() if k in saved and k not in may_change]
    if bad:
        raise ConfigError(f"{where}: these options differ from the run being resumed, which keeps the ones it "
                          f"was started with: {', '.join(bad)}. Drop them, or start a new run (another output "
                          f"directory, or --overwrite)" + (f"; options that may change on resume: "
                                                            f"{', '.join(may_change)}" if may_change else ""))
    return changed


def continue_config(run: Run, config, cls, may_change=(), where: str = "--resume", saved: dict | None = None):
    """The config (a ``cls`` dataclass) to train ``run`` with: ``config`` (or ``cls()``) for a new or
    legacy run; for a resumed run, the config it was started with (``saved``, default run.json's)
    with only the changes of ``config`` that ``may_change`` allows (``resume_changes``), so that
    what a run records is what it trained with. ``config=None``: the saved config as it is."""
    saved = saved if saved is not None else run.config
    if not (run.resumed and isinstance(saved, dict)):
        return config if config is not None else cls()
    base = make_config(cls, saved, source=str(run.dir / RUN_FILE))
    if config is None:
        return base
    changes = resume_changes(dataclasses.asdict(base), dataclasses.asdict(config), may_change, where)
    if changes:
        record_config(run, {**run.config, **changes} if saved is run.config
                      else {**run.config, **dataclasses.asdict(config)})
    return dataclasses.replace(base, **changes)


def record_config(run: Run, config: dict) -> None:
    """Make ``config`` the config of ``run`` (run.json; rank 0), logging what changed and when, so
    that a later resume continues with it."""
    if not run.run_id or not dist.is_main() or _plain(config) == _plain(run.config):
        return
    info = _read_run_file(run.dir) or {}
    old = run.config or {}
    changed = {k: [old.get(k), v] for k, v in config.items() if _plain(old.get(k)) != _plain(v)}
    info["changes"] = [*info.get("changes", []), {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "changed": changed}]
    info["config"] = config
    save_json(run.dir / RUN_FILE, info)
    run.config = config
