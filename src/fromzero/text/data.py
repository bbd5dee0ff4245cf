"""Text corpora as token streams: read, verify, tokenize once, cache on disk, sample windows.

``--data`` is a built-in name (``shakespeare``, ``tang-poems``), a UTF-8 text file, or a folder
of them. The corpus is read in chunks and encoded into a memory-mapped token array (uint16, or
uint32 for vocabularies over 65,536), cached under ``$FROMZERO_CACHE`` (default
``~/.cache/fromzero``), so corpora larger than RAM work. The first 90% of the tokens train, the
last 10% validate (as in nanoGPT).

The tokenizer only ever sees normalized text (``fromzero.text.normalize``): no byte-order mark,
LF line ends, Unicode NFC, and no Project Gutenberg header or licence (``strip_gutenberg``).

Example:
    >>> corpus = load_corpus("shakespeare")                        # doctest: +SKIP
    >>> stream = RandomWindows(corpus.train, batch_size=12, block_size=64, seed=0)  # doctest: +SKIP
    >>> x, y = next(iter(stream))                                   # doctest: +SKIP
    >>> x.shape, y.shape                                            # doctest: +SKIP
    (torch.Size([12, 64]), torch.Size([12, 64]))
"""
from __future__ import annotations

import codecs
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..datasets.corpora import BUILTIN, Builtin  # noqa: F401  (the built-in corpora: their table)
from ..errors import DataError
from ..io import EMBEDDED, atomic_open, cache_dir, save_json, sha256_file, verified
from .normalize import Cleaner, Report, decode_error
from .tokenizer import BPETokenizer, make_tokenizer, tokenizer_fingerprint

CHUNK_CHARS = 1 << 20
NORMALIZE_VERSION = 1   # part of the token cache's key: a change re-encodes


def corpus_files(data) -> list[Path]:
    """The files of ``data``: a built-in name (checked against its sha256), a file, or a folder.

    A folder contributes every non-hidden file under it, in sorted path order.
    """
    if str(data) in BUILTIN:
        b = BUILTIN[str(data)]
        return [verified(EMBEDDED / b.file, b.sha256, f"built-in corpus {b.name!r}")]
    path = Path(data).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise DataError(f"{path}: the folder has no files")
        return files
    raise DataError(f"--data {data!r}: not a built-in corpus ({', '.join(BUILTIN)}) "
                    f"and no such file or folder")


def _read_utf8(path: Path, chunk_bytes: int = CHUNK_CHARS) -> Iterator[str]:
    """The text of the UTF-8 file ``path`` in chunks; bytes that are not UTF-8 are a DataError
    naming the line and byte offset, and the likely encoding."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 0                      # bytes and line ends before ``data``
    with open(path, "rb") as f:
        while True:
            data = f.read(chunk_bytes)
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as e:
                start = offset - pending
                raise decode_error(path, e.object, e, start,
                                   lines + e.object[:e.start].count(b"\n") + 1) from None
            if text:
                yield text
            if not data:
                return
            offset += len(data)
            lines += data.count(b"\n")


def iter_text(files: list[Path], chunk_chars: int = CHUNK_CHARS, strip_gutenberg: bool = True,
              report: Report | None = None) -> Iterator[str]:
    """The files' normalized text (``fromzero.text.normalize.Cleaner``: no BOM, LF line ends, NFC,
    no Project Gutenberg header and licence unless ``strip_gutenberg`` is False) in chunks of
    about ``chunk_chars`` characters, cut at line ends; files are separated by a blank line.
    What was removed is counted into ``report``."""
    report = report if report is not None else Report()
    for i, path in enumerate(files):
        if i:
            yield "\n\n"
        clean = Cleaner(strip_gutenberg, report)
        for chunk in _read_utf8(path, chunk_chars):
            if text := clean.feed(chunk):
                yield text
        if text := clean.close():
            yield text


def _iter_lines(files: list[Path], chunk_chars: int = CHUNK_CHARS, strip_gutenberg: bool = True,
                report: Report | None = None) -> Iterator[str]:
    """Chunks cut at line ends (so that BPE never sees a word split in two by the chunking)."""
    rest = ""
    for chunk in iter_text(files, chunk_chars, strip_gutenberg, report):
        chunk = rest + chunk
        cut = chunk.rfind("\n") + 1
        if cut == 0 and len(chunk) < 16 * chunk_chars:
            rest = chunk
            continue
        cut = cut or len(chunk)
        rest = chunk[cut:]
        yield chunk[:cut]
    if rest:
        yield rest


def train_tokenizer(data, kind: str = "char", vocab_size: int = 4096, strip_gutenberg: bool = True):
    """Train a ``kind`` tokenizer ("char" or "bpe") on the corpus ``data``, normalized (``iter_text``)."""
    files = corpus_files(data)
    tok = make_tokenizer(kind, _iter_lines(files, strip_gutenberg=strip_gutenberg), vocab_size=vocab_size)
    if kind == "char" and all(c.isspace() for c in tok.stoi):     # nothing, or only blank lines
        sizes = ", ".join(f"{f.name}: {f.stat().st_size} bytes" for f in files[:3])
        raise DataError(f"--data {str(data)!r}: no text in it ({sizes}{', ...' if len(files) > 3 else ''}); "
                        f"expected a UTF-8 text file or a folder of them")
    return tok


@dataclass
class TokenCorpus:
    """A tokenized corpus: ``tokens`` (memory-mapped), split into ``train`` and ``val`` views."""
    tokens: np.ndarray
    n_train: int
    path: Path

    @property
    def train(self) -> np.ndarray:
        return self.tokens[:self.n_train]

    @property
    def val(self) -> np.ndarray:
        return self.tokens[self.n_train:]


def _cache_key(files: list[Path], tok, strip_gutenberg: bool = True) -> str:
    h = hashlib.sha256(tokenizer_fingerprint(tok).encode())
    h.update(f"normalize {NORMALIZE_VERSION}, strip_gutenberg {strip_gutenberg}\n".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def _encode_to(files: list[Path], tok, out, dtype, strip_gutenberg: bool, report: Report) -> int:
    n = 0
    if isinstance(tok, BPETokenizer):  # files separated by <|endoftext|>, lines encoded in batches
        for i, f in enumerate(files):
            if i:
                out.write(np.asarray([tok.eot_id], dtype=dtype).tobytes())
                n += 1
            for chunk in _iter_lines([f], strip_gutenberg=strip_gutenberg, report=report):
                lines = chunk.splitlines(keepends=True)
                for ids in tok.encode_batch(lines):
                    out.write(np.asarray(ids, dtype=dtype).tobytes())
                    n += len(ids)
        return n
    for chunk in iter_text(files, strip_gutenberg=strip_gutenberg, report=report):
        try:
            ids = tok.encode_array(chunk).astype(dtype)
        except DataError as e:  # name the corpus (one file, or the folder's files)
            where = str(files[0]) if len(files) == 1 else f"{files[0].parent} ({len(files)} files)"
            raise DataError(f"{where}: {e}") from None
        out.write(ids.tobytes())
        n += len(ids)
    return n


def _cached_meta(path: Path, meta_path: Path, dtype) -> tuple[dict | None, str]:
    """(the cache's metadata, "") when ``path`` holds the tokens that ``meta_path`` describes,
    with their SHA-256; else (None, what is wrong: "" when there is no cache yet)."""
    if not meta_path.is_file() and not path.is_file():
        return None, ""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        n, sha = meta["n"], meta["sha256"]
        ok = isinstance(n, int) and meta["dtype"] == np.dtype(dtype).name and isinstance(sha, str)
    except (KeyError, TypeError):
        return None, f"has incomplete metadata ({meta_path.name}: no size, dtype or sha256)"
    except (OSError, ValueError, RecursionError):
        return None, f"has unreadable metadata ({meta_path.name})"
    if not ok:
        return None, f"has unexpected metadata ({meta_path.name})"
    if not path.is_file() or path.stat().st_size != n * np.dtype(dtype).itemsize:
        return None, f"is missing or torn (expected {n * np.dtype(dtype).itemsize} bytes)"
    if sha256_file(path) != sha:
        return None, "does not match its recorded sha256 (corrupt)"
    return meta, ""


def load_corpus(data, tokenizer, val_frac: float = 0.1, cache: Path | None = None,
                strip_gutenberg: bool = True, verbose: bool = True) -> TokenCorpus:
    """Tokenize ``data``, normalized (``iter_text``), with ``tokenizer`` into a cached
    memory-mapped array, split train/val.

    The cache key covers the files (path, size, modification time), the normalization and the
    tokenizer, so a changed file or tokenizer re-encodes. The cache records its SHA-256 and is
    checked on every load: a torn or corrupt cache is rebuilt, with a one-line notice. With
    ``verbose``, what normalization removed (a BOM, CRs, a Gutenberg licence...) is said in one
    line on stderr, at every load (nothing when nothing was removed).
    """
    if not 0.0 < val_frac < 1.0:
        raise DataError(f"val_frac must be in (0, 1), got {val_frac}")
    files = corpus_files(data)
    dtype = np.uint16 if tokenizer.vocab_size <= 2**16 else np.uint32
    root = Path(cache or cache_dir()) / "tokens"
    key = _cache_key(files, tokenizer, strip_gutenberg)
    path, meta_path = root / f"{key}.bin", root / f"{key}.json"
    meta, problem = _cached_meta(path, meta_path, dtype)
    if meta is None:
        if problem:
            print(f"fromzero: the token cache {path} {problem}; rebuilding it", file=sys.stderr)
        with atomic_open(path) as out:
            report = Report()
            n = _encode_to(files, tokenizer, out, dtype, strip_gutenberg, report)
        meta = {"n": n, "dtype": np.dtype(dtype).name, "files": [str(f) for f in files],
                "sha256": sha256_file(path), "normalized": report.to_dict()}
        save_json(meta_path, meta)
    notice = Report.from_dict(meta.get("normalized")).line(f"corpus {data}")
    if verbose and notice:
        print(notice, file=sys.stderr)
    n = meta["n"]
    if n < 2:
        raise DataError(f"--data {data!r}: the corpus has {n} token(s); at least 2 are needed")
    tokens = np.memmap(path, dtype=dtype, mode="r", shape=(n,))
    return TokenCorpus(tokens, n_train=int(n * (1 - val_frac)), path=path)


# --- batches ----------------------------------------------------------------------------------

def _check_len(tokens, block_size: int, what: str):
    if len(tokens) < block_size + 1:
        raise DataError(f"the {what} split has {len(tokens)} tokens, fewer than block_size + 1 = "
                        f"{block_size + 1}: use a smaller --block-size or more text")


class RandomWindows:
    """An endless stream of ``(x, y)`` batches: random windows of the token array, ``y`` = ``x`` shifted by one.

    Batch ``n`` depends only on ``(seed, n)``, so ``state_dict()`` is two integers and a resumed
    run continues the exact same stream.

    Args:
        tokens: a 1-D token array (e.g. ``corpus.train``, memory-mapped).
        batch_size, block_size: each batch is two (batch_size, block_size) int64 tensors.
        seed: the stream's seed.
    """

    def __init__(self, tokens, batch_size: int, block_size: int, seed: int = 0):
        _check_len(tokens, block_size, "training")
        self.tokens, self.batch_size, self.block_size = tokens, batch_size, block_size
        self.seed, self.batches = seed, 0
        self._offsets = np.arange(block_size + 1)

    def __iter__(self):
        while True:
            yield self.next_batch()

    def next_batch(self):
        rng = np.random.default_rng([self.seed, self.batches])
        starts = rng.integers(0, len(self.tokens) - self.block_size, size=self.batch_size)
        buf = torch.from_numpy(self.tokens[starts[:, None] + self._offsets].astype(np.int64))  # (B, T+1)
        self.batches += 1
        return buf[:, :-1].contiguous(), buf[:, 1:].contiguous()

    def state_dict(self) -> dict:
        return {"seed": self.seed, "batches": self.batches}

    def load_state_dict(self, state: dict):
        self.seed, self.batches = int(state["seed"]), int(state["batches"])


def eval_batches(tokens, block_size: int, batch_size: int = 64, max_tokens: int | None = None) -> list:
    """A fixed list of ``(x, y)`` batches of non-overlapping windows over ``tokens``.

    Every token is predicted once (up to ``max_tokens``: then evenly spaced windows), so the
    validation loss is exact rather than a random estimate, and the same at every evaluation.
    """
    _check_len(tokens, block_size, "validation")
    n_win = (len(tokens) - 1) // block_size
    starts = np.arange(n_win) * block_size
    if max_tokens and n_win * block_size > max_tokens:
        keep = max(1, max_tokens // block_size)
        starts = starts[np.linspace(0, n_win - 1, keep).round().astype(np.int64)]
    offsets = np.arange(block_size + 1)
    out = []
    for i in range(0, len(starts), batch_size):
        buf = torch.from_numpy(tokens[starts[i:i + batch_size, None] + offsets].astype(np.int64))
        out.append((buf[:, :-1].contiguous(), buf[:, 1:].contiguous()))
    return out
