"""Text for the scratch GPT: one character = one token, read without torch.

``fromzero.text`` (the PyTorch pipeline) imports torch, so this module reads the text itself:
the embedded Tiny Shakespeare (its file and SHA-256 from ``fromzero.datasets.corpora``, the
table ``fromzero.text`` reads too; checked) or the user's UTF-8 file, normalized as every text
reader does (``fromzero.text.normalize``, torch-free: no byte-order mark, LF line ends, Unicode
NFC, a Project Gutenberg header and licence cut), with a notice of what was removed. The
vocabulary is the sorted set of the characters that occur (as in nanoGPT's ``shakespeare_char``);
the first 90% of the ids train, the last 10% validate.

Example:
    >>> vocab = CharVocab.from_text("hello")
    >>> vocab.chars, vocab.encode("hole").tolist(), vocab.decode([3, 2])
    ('ehlo', [1, 3, 2, 0], 'ol')
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets.corpora import BUILTIN
from ..errors import DataError
from ..io import EMBEDDED, verified
from ..text.normalize import decode_error, normalize_corpus

VAL_FRACTION = 0.1


def read_text(data: str = "shakespeare", strip_gutenberg: bool = True, notice: bool = True) -> str:
    """The text of ``data``: ``"shakespeare"`` (built in) or the path of a UTF-8 text file,
    normalized (``fromzero.text.normalize.normalize_corpus``); with ``notice``, what normalization
    removed is said on stderr.

    Raises:
        DataError: no such file, a folder, not UTF-8, or no text; the message names the file.
    """
    if data == "shakespeare":
        b = BUILTIN["shakespeare"]
        path = verified(EMBEDDED / b.file, b.sha256, "built-in corpus 'shakespeare'")
    else:
        path = Path(data).expanduser()
        if path.is_dir():
            raise DataError(f"--data {data}: expected a UTF-8 text file, received a folder")
        if not path.is_file():
            raise DataError(f"--data {data!r}: expected 'shakespeare' (built in) or a UTF-8 text "
                            f"file, and no such file exists")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise decode_error(path, raw, e) from None
    text, report = normalize_corpus(text, strip_gutenberg)
    report.files = 1
    if notice and (line := report.line(f"--data {data}")):
        print(line, file=sys.stderr)
    if not text.strip():
        got = ("an empty file" if not raw else "only a Project Gutenberg header and licence (--no-strip-gutenberg "
               "keeps them)" if report.gutenberg else "only whitespace")
        raise DataError(f"{path}: expected text to learn from, received {got}")
    return text


@dataclass(frozen=True)
class CharVocab:
    """The characters of a text, sorted; a character's id is its position in ``chars``."""
    chars: str

    @classmethod
    def from_text(cls, text: str) -> "CharVocab":
        return cls("".join(sorted(set(text))))

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text`` (int64); a character outside the vocabulary is a DataError."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        table = np.frombuffer(self.chars.encode("utf-32-le"), dtype=np.uint32)  # sorted
        ids = np.searchsorted(table, codes)
        bad = (ids >= len(table)) | (table[np.minimum(ids, len(table) - 1)] != codes)
        if bad.any():
            raise DataError(f"expected characters of the training text, received "
                            f"{text[int(np.argmax(bad))]!r}, which it never contains")
        return ids.astype(np.int64)

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in np.asarray(ids).reshape(-1))


def split(ids: np.ndarray, block_size: int, what: str = "the text"):
    """(train, val): the first 90% and the last 10% of ``ids``. Each must hold one window of
    ``block_size`` inputs plus the next-character target, or a DataError says how long the
    text must be."""
    n_val = int(len(ids) * VAL_FRACTION)
    need = (block_size + 1) * round(1 / VAL_FRACTION)  # the val split then has block_size + 1
    if n_val < block_size + 1:
        raise DataError(f"{what}: expected at least {need:,} characters for --block-size "
                        f"{block_size} (the last 10% validates and needs a window of "
                        f"{block_size + 1}), received {len(ids):,}")
    return ids[:-n_val], ids[-n_val:]


def random_windows(ids: np.ndarray, batch_size: int, block_size: int, rng: np.random.Generator):
    """``batch_size`` windows at random offsets: x (B, T) and the next characters y (B, T)."""
    starts = rng.integers(0, len(ids) - block_size, size=batch_size)
    pos = starts[:, None] + np.arange(block_size)  # (B, T)
    return ids[pos], ids[pos + 1]


def even_windows(ids: np.ndarray, block_size: int, limit: int | None = None):
    """Non-overlapping windows covering ``ids`` (or ``limit`` of them, evenly spaced): x, y (N, T)."""
    n = (len(ids) - 1) // block_size
    starts = np.arange(n) * block_size
    if limit is not None and n > limit:
        starts = starts[np.linspace(0, n - 1, limit).round().astype(int)]
    pos = starts[:, None] + np.arange(block_size)
    return ids[pos], ids[pos + 1]
