"""Labelled text for classification: TSV/CSV files with ``text`` and ``label`` columns, or JSONL.

``read_labelled(path)`` reads one file; ``load_task(task)`` reads a whole task: the built-in
``sst2`` (verified against its sha256 values), a folder with ``train.*`` (and optionally
``dev.*``/``validation.*``/``val.*`` and ``test.*``), or a single file (10% of it is held out
for model selection). Every problem is a ``DataError`` that names the file and the line.

Formats, by extension:
    .tsv  a header line, then one example per line, fields split on tabs (quotes are plain text)
    .csv  a header line, standard CSV quoting (``"a, b"``, ``""`` for a quote)
    .jsonl  one JSON object per line: ``{"text": "...", "label": "positive"}``

Example:
    >>> task = load_task("sst2")                     # doctest: +SKIP
    >>> len(task.train), task.labels, task.classes   # doctest: +SKIP
    (6920, ['0', '1'], ['negative', 'positive'])

Batches for a classifier: ``encode_texts`` turns texts into token ids and ``PaddedBatches``
pads each batch to its longest sequence with -1:
    >>> seqs = [np.array([3, 4]), np.array([5, 6, 7]), np.array([8])]
    >>> (x, y), = PaddedBatches(seqs, [0, 1, 0], batch_size=3)
    >>> x.tolist(), y.tolist()
    ([[3, 4, -1], [5, 6, 7], [8, -1, -1]], [0, 1, 0])
"""
from __future__ import annotations

import csv
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, FromzeroError
from ..io import EMBEDDED, verified
from .normalize import Report, decode_error, normalize

FORMATS = {".tsv": "tsv", ".tab": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
SPLIT_NAMES = {"train": ("train",), "dev": ("dev", "validation", "valid", "val"), "test": ("test",)}


@dataclass
class LabelledText:
    """The examples of one file: ``texts[i]`` has label ``labels[i]`` (a string) and came from
    line ``lines[i]`` of ``path``."""
    texts: list[str]
    labels: list[str]
    path: Path
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx) -> "LabelledText":
        return LabelledText([self.texts[i] for i in idx], [self.labels[i] for i in idx], self.path,
                            [self.lines[i] for i in idx] if self.lines else [])

    def label_ids(self, labels: list[str]) -> np.ndarray:
        """The position of each example's label in ``labels`` (int64); an unknown label is a DataError."""
        pos = {v: i for i, v in enumerate(labels)}
        out = np.empty(len(self.labels), dtype=np.int64)
        for i, v in enumerate(self.labels):
            if v not in pos:
                where = f"{self.path}:{self.lines[i]}" if self.lines else str(self.path)
                raise DataError(f"{where}: label {v!r} is not one of the task's labels: "
                                f"{', '.join(map(repr, labels))}")
            out[i] = pos[v]
        return out


def _label_str(v, where: str) -> str:
    """A label value as a string: strings are stripped, integers printed; anything else is an error."""
    if isinstance(v, str):
        v = v.strip()
    elif isinstance(v, int) and not isinstance(v, bool):
        v = str(v)
    else:
        raise DataError(f"{where}: label must be a string or an integer, got {type(v).__name__} {v!r}")
    if not v:
        raise DataError(f"{where}: empty label")
    return v


def _check_row(text, label, where: str, classes) -> tuple[str, str]:
    if not isinstance(text, str):
        raise DataError(f"{where}: text must be a string, got {type(text).__name__} {text!r}")
    if not text.strip():
        raise DataError(f"{where}: empty text")
    label = _label_str(label, where)
    if classes is not None and label not in classes:
        raise DataError(f"{where}: bad label value {label!r}; expected one of: "
                        f"{', '.join(map(repr, classes))}")
    return normalize(text).strip(), label        # again: a JSON string may hold an escaped "\r"


def _decode(path: Path, report: Report | None = None) -> str:
    """The file's text, normalized (``fromzero.text.normalize.normalize``: no BOM, LF, NFC)."""
    data = path.read_bytes()
    try:
        text = normalize(data.decode("utf-8"), report)
    except UnicodeDecodeError as e:
        raise decode_error(path, data, e) from None
    if report is not None:
        report.chars += len(text)
    return text


def _read_table(path: Path, text: str, fmt: str, text_col: str, label_col: str, classes):
    kw = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {}
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))    # a long document is one field (default 128 KiB)
    reader = csv.reader(io.StringIO(text, newline=""), **kw)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: the file is empty; expected a header line with columns "
                        f"{text_col!r} and {label_col!r}") from None
    missing = [c for c in (text_col, label_col) if c not in header]
    if missing:
        raise DataError(f"{path}:1: missing column(s) {', '.join(map(repr, missing))}; the header has "
                        f"{', '.join(map(repr, header))}")
    ti, li = header.index(text_col), header.index(label_col)
    texts, labels, lines = [], [], []
    try:
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not row or (len(row) == 1 and not row[0].strip()):
                continue                                                  # blank line
            if len(row) != len(header):
                raise DataError(f"{where}: expected {len(header)} fields ({', '.join(header)}), got "
                                f"{len(row)}" + (" (a tab inside the text?)" if fmt == "tsv" else ""))
            t, lab = _check_row(row[ti], row[li], where, classes)
            texts.append(t)
            labels.append(lab)
            lines.append(reader.line_num)
    except csv.Error as e:
        raise DataError(f"{path}:{reader.line_num}: malformed CSV ({e})") from None
    return texts, labels, lines


def _read_jsonl(path: Path, text: str, text_col: str, label_col: str, classes):
    texts, labels, lines = [], [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not a JSON object ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        missing = [c for c in (text_col, label_col) if c not in obj]
        if missing:
            raise DataError(f"{where}: missing key(s) {', '.join(map(repr, missing))}; the object has "
                            f"{', '.join(map(repr, obj)) or 'no keys'}")
        t, lab = _check_row(obj[text_col], obj[label_col], where, classes)
        texts.append(t)
        labels.append(lab)
        lines.append(n)
    return texts, labels, lines


def read_labelled(path, text_col: str = "text", label_col: str = "label", classes=None,
                  report: Report | None = None) -> LabelledText:
    """Read one labelled file (``.tsv``, ``.csv`` or ``.jsonl``), its text normalized first (no
    byte-order mark, LF line ends, Unicode NFC: ``fromzero.text.normalize.normalize``).

    Args:
        path: the file.
        text_col, label_col: the column (or JSON key) names.
        classes: if given, the allowed label values (strings); any other value is an error.
        report: a ``fromzero.text.normalize.Report`` that counts what normalization removed.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "toy.tsv"
        >>> _ = p.write_text("text\\tlabel\\ngreat film\\t1\\ndull\\t0\\n")
        >>> read_labelled(p).labels
        ['1', '0']
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: labelled data file not found")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown format {path.suffix!r}; expected one of: {', '.join(FORMATS)}")
    classes = None if classes is None else [str(c) for c in classes]
    if report is not None:
        report.files += 1
    text = _decode(path, report)
    if fmt == "jsonl":
        texts, labels, lines = _read_jsonl(path, text, text_col, label_col, classes)
    else:
        texts, labels, lines = _read_table(path, text, fmt, text_col, label_col, classes)
    if not texts:
        raise DataError(f"{path}: no examples (only a header or blank lines)")
    return LabelledText(texts, labels, path, lines)


# --- tasks ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BuiltinTask:
    name: str
    folder: str
    files: dict            # split -> (file name, sha256)
    labels: tuple          # label values in the files, in class order
    classes: tuple         # a readable name for each
    normalize: str | None  # how to prepare raw input text at prediction time
    about: str


BUILTIN_TASKS = {
    "sst2": BuiltinTask(
        "sst2", "sst2",
        {"train": ("train.tsv", "4173e60d2d6b6e64258540c1c92678f238e6d1249c6cd15aa26a3e4f8ee18899"),
         "dev": ("dev.tsv", "bbdb730c97f15f8b2c7e9de3154b4d185156d9cb4e3f47c2081630edb27b376a"),
         "test": ("test.tsv", "dd4b5b1ea1ab0998fae958fe4a77317be62a0650f97065d5b52e87f15ac3d72a")},
        ("0", "1"), ("negative", "positive"), "ptb",
        "SST-2 sentence-level sentiment, 6,920 train / 872 dev / 1,821 test (Socher et al. 2013; Kim 2014)"),
}


@dataclass
class LabelledTask:
    """A classification task: splits, the label values (class order) and their readable names."""
    name: str
    train: LabelledText
    dev: LabelledText
    test: LabelledText | None
    labels: list[str]
    classes: list[str]
    normalize: str | None = None
    sources: dict = field(default_factory=dict)   # split -> where it came from ("train.tsv", "10% of train.tsv")
    ignored: list = field(default_factory=list)   # labelled files in the task's folder that no split used

    def describe(self) -> str:
        """Which files gave which split, with their sizes, and the files not used (one line)."""
        sizes = {"train": len(self.train), "dev": len(self.dev), "test": len(self.test or ())}
        parts = [f"{split} {src} ({sizes[split]:,})" for split, src in self.sources.items()]
        if "test" not in self.sources:
            parts.append("no test split")
        line = f"task {self.name}: " + ", ".join(parts)
        return line + (f"; not used: {', '.join(self.ignored)}" if self.ignored else "")


def _builtin(b: BuiltinTask, data_dir, text_col, label_col) -> LabelledTask:
    folder = Path(data_dir) if data_dir else EMBEDDED / b.folder
    splits = {}
    for split, (name, sha) in b.files.items():
        path = folder / name
        if not data_dir:
            verified(path, sha, f"task {b.name!r}")
        elif not path.is_file():
            raise DataError(f"task {b.name!r}: {path} not found")
        splits[split] = read_labelled(path, text_col, label_col, classes=b.labels)
    return LabelledTask(b.name, splits["train"], splits["dev"], splits["test"], list(b.labels),
                        list(b.classes), b.normalize, sources={s: name for s, (name, _) in b.files.items()})


def find_split(folder: Path, split: str) -> Path | None:
    """The file of ``split`` (train, dev, test) in a task folder: `train.tsv`, `validation.jsonl`, ...; or None."""
    found = [p for stem in SPLIT_NAMES[split] for p in sorted(folder.glob(stem + ".*"))
             if p.suffix.lower() in FORMATS]
    return found[0] if found else None


def sort_labels(values) -> list[str]:
    """Distinct label values in class order: numerically if all are integers, else alphabetically."""
    vals = set(values)
    if all(re.fullmatch(r"-?\d+", v) for v in vals):
        return sorted(vals, key=int)
    return sorted(vals)


def hold_out(data: LabelledText, frac: float = 0.1, seed: int = 0) -> tuple[LabelledText, LabelledText]:
    """Split ``data`` into (train, held-out) at random (a fixed seed), ``frac`` of it held out."""
    if len(data) < 2:
        raise DataError(f"{data.path}: {len(data)} example(s); at least 2 are needed to hold some out "
                        f"for model selection (or give a dev file)")
    order = np.random.default_rng(seed).permutation(len(data))
    n_dev = max(1, int(round(len(data) * frac)))
    return data.subset(sorted(order[n_dev:])), data.subset(sorted(order[:n_dev]))


def load_task(task, data_dir=None, text_col: str = "text", label_col: str = "label",
              verbose: bool = True) -> LabelledTask:
    """A classification task by name (``"sst2"``) or path (a folder of splits, or one file).

    Args:
        task: ``"sst2"``; a folder with ``train.*`` and optionally ``dev.*`` (or ``validation.*``,
            ``valid.*``, ``val.*``) and ``test.*``; or a single labelled file.
        data_dir: for a built-in task, a folder holding its files instead of the embedded copy.
        text_col, label_col: the column (or JSON key) names of a task given by path.
        verbose: for a task given by path, say on stderr which file gave each split
            (``LabelledTask.describe``) and what text normalization removed.

    Without a dev split, 10% of the training examples are held out (seed 0) for model selection.
    The class order is the training labels' (``sort_labels``); dev/test labels must be among them.
    Other labelled files in a task's folder (an ``all.tsv``) are not used, and listed in ``ignored``.
    """
    if str(task) in BUILTIN_TASKS:
        return _builtin(BUILTIN_TASKS[str(task)], data_dir, text_col, label_col)
    path = Path(task).expanduser()
    report, ignored = Report(), []
    if path.is_dir():
        files = {s: find_split(path, s) for s in SPLIT_NAMES}
        if files["train"] is None:
            raise DataError(f"{path}: no training file; expected train.tsv, train.csv or train.jsonl "
                            f"(and optionally dev.* and test.*)")
        read = {s: read_labelled(f, text_col, label_col, report=report) for s, f in files.items() if f}
        train, dev, test = read["train"], read.get("dev"), read.get("test")
        ignored = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in FORMATS
                         and not p.name.startswith(".") and p not in files.values())
    elif path.is_file():
        train, dev, test = read_labelled(path, text_col, label_col, report=report), None, None
    else:
        raise DataError(f"task {str(task)!r}: not a built-in task ({', '.join(BUILTIN_TASKS)}) and no "
                        f"such file or folder")
    sources = {"train": train.path.name, "dev": dev and dev.path.name, "test": test and test.path.name}
    if dev is None:
        train, dev = hold_out(train)
        sources["dev"] = f"10% of {train.path.name}"
    labels = sort_labels(train.labels)
    if len(labels) < 2:
        every = sort_labels([*train.labels, *dev.labels, *(test.labels if test is not None else [])])
        if len(every) >= 2:     # the labels are there, but too few rows left for training
            held = " left after holding out 10% for dev" if sources["dev"].startswith("10% of") else ""
            raise DataError(f"{train.path}: too few rows: the {len(train)} training example(s){held} all have "
                            f"label {labels[0]!r}, and a classifier needs training examples of at least 2 "
                            f"classes; give more rows (at least a few of each label)")
        raise DataError(f"{train.path}: every training example has label {labels[0]!r}; a classifier "
                        f"needs at least 2 classes")
    for split in (dev, test):
        if split is not None:
            split.label_ids(labels)                                       # unknown labels: an error
    out = LabelledTask(path.stem if path.is_file() else path.name, train, dev, test, labels, labels,
                       sources={k: v for k, v in sources.items() if v}, ignored=ignored)
    if verbose:
        print(f"fromzero: {out.describe()}", file=sys.stderr)
        if notice := report.line(f"task {out.name}"):
            print(notice, file=sys.stderr)
        if notice := case_note(labels):
            print(notice, file=sys.stderr)
    return out


def case_note(labels: list[str]) -> str | None:
    """A warning when labels differ only in case ('pos', 'Pos') or as written numbers ('1', '01', '1.0'):
    they stay separate classes (a label is a string as written), which is rarely what a user meant."""
    def key(v: str) -> str:
        try:
            return repr(float(v))
        except ValueError:
            return v.casefold()
    groups: dict[str, list[str]] = {}
    for v in labels:
        groups.setdefault(key(v), []).append(v)
    same = [g for g in groups.values() if len(g) > 1]
    if not same:
        return None
    return ("warning: labels that differ only in case or in how a number is written are separate classes: "
            + "; ".join(" and ".join(map(repr, g)) for g in same)
            + f" ({len(labels)} classes in all); if they mean the same, write them the same way in the files")


# --- preparing raw input -------------------------------------------------------------------------

_PTB = [(re.compile(r"([.,!?;:\"])"), r" \1 "), (re.compile(r"(\w)n't\b"), r"\1 n't"),
        (re.compile(r"(\w)'(s|re|ve|ll|d|m)\b"), r"\1 '\2"), (re.compile(r"\s+"), " ")]


def normalize_text(text: str, how: str | None) -> str:
    """Bring raw input to the style of the training data: always normalized as the files are
    (no BOM, LF line ends, NFC: ``fromzero.text.normalize.normalize``); ``"ptb"`` (SST-2) also
    lower-cases and splits punctuation and contractions as the Penn Treebank tokeniser does.

    Example:
        >>> normalize_text("I didn't like it!", "ptb")
        "i did n't like it !"
        >>> normalize_text("cafe\\u0301\\r\\n", None)
        'café\\n'
    """
    text = normalize(text)
    if how is None:
        return text
    if how != "ptb":
        raise DataError(f"unknown text normalisation {how!r}; expected 'ptb' or none")
    text = text.lower().replace("(", " -lrb- ").replace(")", " -rrb- ")
    for pattern, repl in _PTB:
        text = pattern.sub(repl, text)
    return text.strip()


# --- token sequences and padded batches ----------------------------------------------------------

PAD = -1


def encode_texts(tokenizer, texts: list[str], block_size: int, bos: bool = True,
                 stats: dict | None = None, start: int | None = None) -> list[np.ndarray]:
    """Token ids of each text (int64 arrays), after a start token if ``bos`` (``start``, by default
    the tokenizer's ``start_id``), cut to ``block_size``.

    A character-level tokenizer drops the characters it never saw (they have no embedding).
    ``stats``, a dict, receives what was lost: ``texts``, ``cut`` (texts longer than
    ``block_size`` tokens), ``block_size`` and ``unknown`` (each dropped character: how often).
    """
    unknown_chars: dict[str, int] = {}
    if hasattr(tokenizer, "encode_batch"):
        ids = tokenizer.encode_batch(list(texts))
    else:
        ids = []
        for t in texts:
            unknown = set(tokenizer.unknown(t))
            for c in t:
                if c in unknown:
                    unknown_chars[c] = unknown_chars.get(c, 0) + 1
            ids.append(tokenizer.encode("".join(c for c in t if c not in unknown)))
    start = [tokenizer.start_id if start is None else start] if bos else []
    if stats is not None:
        stats.update(texts=len(ids), block_size=block_size, unknown=unknown_chars,
                     cut=sum(len(start) + len(s) > block_size for s in ids))
    out = [np.asarray((start + list(s))[:block_size], dtype=np.int64) for s in ids]
    empty = [i for i, s in enumerate(out) if len(s) == 0]
    if empty:
        raise DataError(f"text {empty[0]} ({texts[empty[0]]!r}) has no token the tokenizer knows")
    return out


def pad(seqs: list[np.ndarray]) -> torch.Tensor:
    """(B, T) int64, each row a sequence right-padded with -1 to the longest, T."""
    out = np.full((len(seqs), max(len(s) for s in seqs)), PAD, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return torch.from_numpy(out)


class PaddedBatches:
    """``(x, y)`` batches of variable-length sequences, right-padded with -1 per batch.

    With ``shuffle``, each epoch shuffles the examples, sorts them by length within pools of
    ``pool`` batches (so that a batch holds similar lengths and little padding) and shuffles the
    batch order. The order of epoch ``e`` depends only on ``(seed, e)``, so ``state_dict`` is
    three integers and a resumed run sees the same batches. Without ``shuffle``, the order is
    the input's (``Trainer.predict`` returns outputs in that order).

    Args:
        seqs: token-id arrays (``encode_texts``).
        labels: class indices, or None (x-only batches).
        batch_size: sequences per batch.
    """

    def __init__(self, seqs, labels=None, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                 pool: int = 50):
        if len(seqs) == 0:
            raise FromzeroError("expected at least one sequence, got none")
        if labels is not None and len(labels) != len(seqs):
            raise FromzeroError(f"{len(seqs)} sequences but {len(labels)} labels")
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise FromzeroError(f"batch_size: expected a positive integer, got {batch_size!r}")
        self.seqs = list(seqs)
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.lengths = np.array([len(s) for s in self.seqs])
        self.batch_size, self.shuffle, self.seed, self.pool = batch_size, shuffle, seed, pool
        self.epoch, self.pos = 0, 0

    def __len__(self) -> int:
        return -(-len(self.seqs) // self.batch_size)

    def _plan(self, epoch: int) -> list[np.ndarray]:
        n, bs = len(self.seqs), self.batch_size
        if not self.shuffle:
            return [np.arange(i, min(i + bs, n)) for i in range(0, n, bs)]
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(n)
        chunk = bs * self.pool
        batches = []
        for i in range(0, n, chunk):
            part = order[i:i + chunk]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches += [part[j:j + bs] for j in range(0, len(part), bs)]
        return [batches[k] for k in rng.permutation(len(batches))]

    def __iter__(self):
        plan = self._plan(self.epoch)
        while self.pos < len(plan):
            idx = plan[self.pos]
            self.pos += 1
            x = pad([self.seqs[i] for i in idx])
            yield (x,) if self.labels is None else (x, self.labels[torch.from_numpy(idx)])
        self.epoch, self.pos = self.epoch + 1, 0

    @property
    def examples(self) -> int:
        return len(self.seqs)

    def take(self, idx: torch.Tensor) -> tuple:
        """The batch of the examples at ``idx`` (int64; none gives a (0, 1) batch): ``(x,)`` or ``(x, y)``."""
        x = pad([self.seqs[i] for i in idx.tolist()]) if len(idx) else torch.full((0, 1), PAD, dtype=torch.long)
        return (x,) if self.labels is None else (x, self.labels.index_select(0, idx))

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch, self.pos = int(state["seed"]), int(state["epoch"]), int(state["pos"])
