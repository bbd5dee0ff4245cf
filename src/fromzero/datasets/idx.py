"""IDX files, the format of MNIST and Fashion-MNIST (NumPy only, no torch).

An IDX file is a big-endian header (magic number, then one 32-bit size per dimension) followed
by the raw values. Images: magic 0x00000803 (2051), count, rows, cols, then count*rows*cols
unsigned bytes. Labels: magic 0x00000801 (2049), count, then count unsigned bytes.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import check_sha256

# type byte of the magic number -> numpy dtype (big-endian)
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def read_bytes(path: str | Path) -> bytes:
    """The decompressed content of ``path`` (gzip when it starts with the gzip magic)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt or truncated gzip data ({e})") from None
    return raw


def parse_idx(data: bytes, name: str = "<bytes>", magic: int | None = None) -> np.ndarray:
    """Parse IDX bytes into an array, checking the magic number and the size.

    Args:
        data: the (decompressed) file content.
        name: the file name, for error messages.
        magic: the expected magic number (e.g. ``IMAGES_MAGIC``), or None to accept any.
    """
    if len(data) < 4:
        raise DataError(f"{name}: expected an IDX header of at least 4 bytes, got {len(data)} bytes")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    got_magic = struct.unpack(">I", data[:4])[0]
    if magic is not None and got_magic != magic:
        raise DataError(f"{name}: expected IDX magic number 0x{magic:08x}, got 0x{got_magic:08x}")
    if zero != 0 or dtype_code not in _DTYPES or not 1 <= ndim <= 4:
        raise DataError(f"{name}: not an IDX file (magic number 0x{got_magic:08x})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated header: expected {header} bytes, got {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_DTYPES[dtype_code])
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: 4 sizes of 2**16 overflow int64
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long"
        raise DataError(f"{name}: {what}: shape {shape} needs {expected} bytes, got {len(data)}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).copy()


def read_idx(path: str | Path, magic: int | None = None, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw), optionally verifying the SHA-256 of its content.

    Example:
        >>> x = read_idx("t10k-images-idx3-ubyte.gz", magic=IMAGES_MAGIC)  # doctest: +SKIP
        >>> x.shape
        (10000, 28, 28)
    """
    data = read_bytes(path)
    if sha256 is not None:
        check_sha256(hashlib.sha256(data).hexdigest(), sha256, f"{path}: the decompressed content")
    return parse_idx(data, str(path), magic)
