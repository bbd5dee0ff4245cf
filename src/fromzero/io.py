"""Files, in one place: atomic writes, JSON, SHA-256-verified reads of embedded data, the cache,
and the error for a file that is not UTF-8 (``decode_error``).

Every write goes to a temporary name in the same folder, is fsynced and renamed into place, so an
interrupted save never leaves a half-written file at the target name. Nothing here imports torch.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
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
        os.replace(tmp, path)   # replaces a symlink at ``path`` itself: never writes through it
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(path) -> None:
    """Make a rename or a new entry in the folder ``path`` durable (a no-op where folders cannot
    be opened, as on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_tmp_leftover(path: Path) -> bool:
    """A file that an interrupted ``atomic_open`` left behind: ``.<name>.<random>.tmp``."""
    return path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file() \
        and not path.is_symlink()


def remove_tmp_leftovers(folder) -> list[Path]:
    """Delete the ``atomic_open`` leftovers in ``folder`` (not in its subfolders); returns them."""
    folder = Path(folder)
    gone = [p for p in folder.glob(".*.tmp") if is_tmp_leftover(p)] if folder.is_dir() else []
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def check_writable_dir(path) -> Path:
    """``path`` as a folder that files can be written into (created if missing), checked before a
    run starts rather than at its first save: a ``CheckpointError`` names the folder and why not
    (it is a file, a parent is a file, it is read-only, the disk is full).

    Example:
        >>> check_writable_dir(tempfile.mkdtemp()).is_dir()
        True
    """
    path = Path(path)
    expected = f"{path}: expected a folder to write the run into"
    for p in (path, *path.parents):
        if p.is_dir():
            break
        if p.exists() or p.is_symlink():
            raise CheckpointError(f"{expected}, but {'it' if p == path else str(p)} is "
                                  f"{'a broken link' if not p.exists() else 'a file'}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path, prefix=".write-check.", suffix=".tmp")
        try:
            os.write(fd, b"fromzero")   # a full disk may accept the empty file and refuse its data
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as e:
        raise CheckpointError(f"{expected}, but writing there failed: {e.strerror or e}") from None
    return path


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


MAX_JSON_BYTES = 16 << 20   # configs, metadata and tokenizers are far smaller


def read_json(path, max_bytes: int = MAX_JSON_BYTES) -> dict:
    """Parse a JSON file of at most ``max_bytes`` (checked before reading), as a ``CheckpointError``
    naming the file when it is missing, too large, too deeply nested or not JSON."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    size = path.stat().st_size
    if size > max_bytes:
        raise CheckpointError(f"{path}: expected a JSON file of at most {max_bytes:,} bytes, "
                              f"got {size:,} bytes")
    try:
        with open(path, "rb") as f:
            return json.loads(f.read(size + 1).decode("utf-8"))   # never more than the size checked
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: expected a JSON file, could not parse it ({e})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: expected a JSON file, got one nested too deeply to parse") from None


def data_ref(data, builtins=()) -> str:
    """What a run records as its data: a built-in name as it is, a user's file or folder as an
    absolute path, so that ``evaluate``/``--resume`` find it from any working directory.

    Example:
        >>> data_ref("shakespeare", ["shakespeare"]), data_ref("no-such-file.txt")
        ('shakespeare', 'no-such-file.txt')
    """
    data = str(data)
    if data in builtins:
        return data
    path = Path(data).expanduser()
    return str(path.resolve()) if path.exists() else data


# --- bytes that are not UTF-8 ------------------------------------------------------------------

def guess_encoding(data: bytes) -> str:
    """A likely encoding of ``data`` (bytes around a UTF-8 error): UTF-16 when it has a UTF-16
    byte-order mark or NUL bytes; when its non-ASCII bytes come in pairs, Shift-JIS if they decode as
    such into Japanese (hiragana), else GB18030 if they decode as such (Chinese; the window may cut a
    character at either end); else CP1252 (Western European), or ISO-8859-1 where a byte is one
    CP1252 leaves undefined."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data:
        return "UTF-16"
    high = [i for i, b in enumerate(data) if b >= 0x80]
    paired = sum(1 for i in high if (i + 1 < len(data) and data[i + 1] >= 0x80) or (i and data[i - 1] >= 0x80))
    if high and paired >= 0.8 * len(high):
        for enc in ("shift_jis", "gb18030"):
            for a, b in ((0, 0), (1, 0), (0, 1), (1, 1)):
                try:
                    text = data[a:len(data) - b].decode(enc)
                except UnicodeDecodeError:
                    continue
                wide = [c for c in text if ord(c) >= 0x80]
                if enc == "gb18030" or sum("\u3040" <= c <= "\u309f" for c in wide) >= 0.1 * len(wide):
                    return enc.upper()
                break
    return "ISO-8859-1" if any(b in (0x81, 0x8D, 0x8F, 0x90, 0x9D) for b in data) else "CP1252"


def decode_error(path, data: bytes, e: UnicodeDecodeError, offset: int = 0, line: int | None = None) -> DataError:
    """The DataError for ``e`` raised decoding ``data`` (which starts at byte ``offset`` of the
    file ``path``): where the bad byte is, and how to convert the file."""
    at = offset + e.start
    line = line if line is not None else data[:e.start].count(b"\n") + 1
    enc = guess_encoding(data[max(0, e.start - 2000):e.start + 2000])
    p = Path(str(path))
    new = p.with_name(p.stem + ".utf8" + p.suffix)
    fix = (f"iconv -f {enc} -t UTF-8 {shlex.quote(str(path))} > {shlex.quote(str(new))}, check that the text "
           f"reads right, and use that file (in a folder: in place of the old one)"
           if str(path) != "standard input" else f"iconv -f {enc} -t UTF-8 YOUR-FILE | fromzero ...")
    return DataError(f"{path}:{line}: not UTF-8 text (byte {at:,} of the file is 0x{data[e.start]:02x}: "
                     f"{e.reason}); it may be {enc}: convert it, e.g. {fix}")
