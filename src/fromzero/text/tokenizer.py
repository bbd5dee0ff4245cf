"""Tokenizers: text <-> token ids. Character level, or byte-level BPE trained on your corpus.

Both save to one JSON file (``tokenizer.json`` in a run directory, beside the weights) and
``load_tokenizer`` reads either kind back. Nothing is ever pickled.

Example:
    >>> tok = CharTokenizer.train(["hello world", "你好"])
    >>> tok.decode(tok.encode("hello 你好"))
    'hello 你好'
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from ..errors import DataError
from ..io import atomic_write_text
from .normalize import normalize

EOT = "<|endoftext|>"  # BPE's document separator
NEWLINE = "Ċ"          # "\n" in byte-level BPE's alphabet


class CharTokenizer:
    """One token per Unicode character (Chinese included); the vocabulary is the corpus's characters.

    Args:
        chars: the vocabulary, one character per token id.
    """

    kind = "char"

    def __init__(self, chars: Iterable[str]):
        self.chars = list(chars)
        if any(len(c) != 1 for c in self.chars) or len(set(self.chars)) != len(self.chars):
            raise DataError("CharTokenizer: expected distinct single characters")
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        # code points, sorted, and the token id of each: vectorised encoding with searchsorted
        cps = np.array([ord(c) for c in self.chars], dtype=np.int64)
        self._order = np.argsort(cps)
        self._cps = cps[self._order]

    @classmethod
    def train(cls, texts: Iterable[str]) -> "CharTokenizer":
        """The sorted set of characters in ``texts`` (any iterable of strings, e.g. file chunks)."""
        seen: set[str] = set()
        for t in texts:
            seen.update(t)
        return cls(sorted(seen))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    @property
    def start_id(self) -> int:
        """The token an empty prompt starts from: newline if known, else token 0."""
        return self.stoi.get("\n", 0)

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` (normalized, as ``encode`` sees it) outside the
        vocabulary, in order of appearance."""
        return list(dict.fromkeys(c for c in normalize(text) if c not in self.stoi))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, normalized first (``fromzero.text.normalize.normalize``)."""
        return self.encode_array(normalize(text)).tolist()

    def encode_array(self, text: str) -> np.ndarray:
        """Token ids of ``text`` as an int64 array (fast: no Python loop over characters)."""
        cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        pos = np.searchsorted(self._cps, cps).clip(0, max(len(self._cps) - 1, 0))
        if len(cps) and (not len(self._cps) or (self._cps[pos] != cps).any()):
            bad = self.unknown(text)
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in bad[:10])
            raise DataError(f"cannot encode {len(bad)} character(s) that this character-level "
                            f"tokenizer never saw: {shown}{' ...' if len(bad) > 10 else ''}")
        return self._order[pos] if len(cps) else np.zeros(0, dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def to_dict(self) -> dict:
        return {"type": "char", "chars": self.chars}


class BPETokenizer:
    """Byte-level BPE (GPT-2 style) trained on your corpus with the ``tokenizers`` library.

    Any text encodes (unknown characters fall back to bytes). ``<|endoftext|>`` separates the files
    of a corpus (``eot_id``); a text starts after a newline (``start_id``), as each line of a corpus does.

    Args:
        tokenizer: a ``tokenizers.Tokenizer``; use ``BPETokenizer.train`` to make one.
    """

    kind = "bpe"

    def __init__(self, tokenizer):
        self.tk = tokenizer

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2) -> "BPETokenizer":
        if not 257 <= vocab_size <= 2**32 - 1:
            raise DataError(f"BPE vocab_size must be at least 257 (256 bytes + {EOT}), got {vocab_size}")
        tk = Tokenizer(models.BPE())
        tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tk.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=[EOT], show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tk.train_from_iterator(texts, trainer=trainer)
        return cls(tk)

    @property
    def vocab_size(self) -> int:
        return self.tk.get_vocab_size()

    @property
    def eot_id(self) -> int:
        """``<|endoftext|>``: the separator between the files of a pre-training corpus."""
        return self.tk.token_to_id(EOT)

    @property
    def start_id(self) -> int:
        """The token a text starts after (an empty prompt, each text of a classifier): the newline,
        which ends every line of a pre-training corpus, so the model has learnt it; ``<|endoftext|>``
        when the vocabulary has no newline token. (``<|endoftext|>`` itself comes once per file: a
        fromzero-trained model barely learns it.)"""
        nl = self.tk.token_to_id(NEWLINE)
        return self.eot_id if nl is None else nl

    def unknown(self, text: str) -> list[str]:
        return []  # byte-level: every string encodes

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, normalized first (``fromzero.text.normalize.normalize``; the
        corpus readers hand ``encode_batch`` normalized text already)."""
        return self.tk.encode(normalize(text)).ids

    def encode_array(self, text: str) -> np.ndarray:
        return np.asarray(self.encode(text), dtype=np.int64)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tk.encode_batch(texts)]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``, with LF line ends (a CR byte, which a tokenizer trained before
        normalization may hold, comes out as LF)."""
        text = self.tk.decode(list(ids), skip_special_tokens=False)
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text

    def to_dict(self) -> dict:
        return json.loads(self.tk.to_str())


def tokenizer_fingerprint(tok) -> str:
    """A short hash of the tokenizer's JSON: part of the key of cached token arrays."""
    blob = json.dumps(tok.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def save_tokenizer(tok, path) -> Path:
    """Write ``tok`` as JSON (atomically) to ``path`` (a file, or a run directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    atomic_write_text(path, json.dumps(tok.to_dict(), ensure_ascii=False))
    return path


def load_tokenizer(path):
    """Read a tokenizer saved by ``save_tokenizer`` (a file, or a run directory holding tokenizer.json)."""
    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise DataError(f"{path}: tokenizer file not found")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: expected a tokenizer JSON file, could not parse it ({e})") from None
    try:
        if isinstance(d, dict) and d.get("type") == "char":
            return CharTokenizer(d["chars"])
        if isinstance(d, dict) and isinstance(d.get("model"), dict) and d["model"].get("type") == "BPE":
            return BPETokenizer(Tokenizer.from_str(json.dumps(d)))
    except Exception as e:  # the tokenizers library raises plain Exceptions on bad files
        raise DataError(f"{path}: not a valid tokenizer file ({type(e).__name__}: {e})") from None
    raise DataError(f"{path}: unknown tokenizer format; expected a char tokenizer "
                    f'({{"type": "char", ...}}) or a byte-level BPE from the tokenizers library')


def make_tokenizer(kind: str, texts: Iterable[str], vocab_size: int = 4096):
    """Train a tokenizer of ``kind`` ("char" or "bpe") on ``texts``."""
    if kind == "char":
        return CharTokenizer.train(texts)
    if kind == "bpe":
        return BPETokenizer.train(texts, vocab_size=vocab_size)
    raise DataError(f"unknown tokenizer {kind!r}; expected one of: char, bpe")
