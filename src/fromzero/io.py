"""Files, in one place: atomic writes, JSON, SHA-256-verified reads of embedded data, the cache.

Every write goes to a temporary name in the same folder, is fsynced and renamed into place, so an
interrupted save never leaves a half-written file at the target name. Nothing here imports torch.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from .errors import CheckpointError, DataError

EMBEDDED = Path(__file__).resolve().parent / "_data"   # the data shipped inside the package


def cache_dir() -> Path:
    """Where derived files (token caches, decoded arrays, downloads) go: ``$FROMZERO_CACHE``,
    default ``~/.cache/fromzero``."""
    return Path(os.environ.get("FROMZERO_CACHE", Path.home() / ".cache" / "fromzero"))


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_sha256(got: str, sha256: str, what: str) -> None:
    """Raise a ``DataError`` naming ``what`` unless the digest ``got`` is the expected ``sha256``."""
    if got != sha256:
        raise DataError(f"{what} has sha256 {got}, expected {sha256} "
                        "(the file is corrupt or was modified)")


def verified(path, sha256: str, what: str) -> Path:
    """``path`` after checking that it exists and has the SHA-256 ``sha256``: the one check of
    every embedded file (``what`` names it in the error, e.g. "built-in corpus 'shakespeare'")."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what}: {path} is missing from the installation")
    check_sha256(sha256_file(path), sha256, f"{what}: {path}")
    return path


@contextlib.contextmanager
def atomic_open(path):
    """A binary file to write ``path`` through: it appears at ``path`` only once the block ends
    without an exception (written, fsynced, renamed); otherwise the target is left as it was.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a.bin"
        >>> with atomic_open(target) as f:
        ...     _ = f.write(b"abc")
        >>> target.read_bytes()
        b'abc'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


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
