"""Time series from CSV files: one or many numeric columns, an optional time column (NumPy only).

``load_series`` reads a built-in series (``ett``: ETTh1, hourly, 7 columns; ``melbourne``: daily
minimum temperatures) after checking its SHA-256, or any CSV file. Every problem with a file is
a ``DataError`` that names the file and the line or column: a missing column, a value that is
not a number, a missing value, a date that does not parse or goes backwards, too few rows.

Example:
    >>> s = load_series("melbourne")
    >>> s.values.shape, s.columns, str(s.times[0])
    ((3650, 1), ['Temp'], '1981-01-01T00:00:00')
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import EMBEDDED, verified


@dataclass(frozen=True)
class Builtin:
    """A series shipped with fromzero, and its standard forecasting setup."""
    name: str
    file: str
    sha256: str
    time_col: str
    target: str            # the standard target: a column name, or "all" (multivariate)
    split: tuple           # rows of train, validation, test (later rows are not used)
    season: int            # the seasonal period in rows, for the seasonal-naive baseline
    lookback: int
    horizon: int
    about: str


BUILTIN = {
    "ett": Builtin("ett", "ett/ETTh1.csv",
                   "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
                   "date", "all", (8640, 2880, 2880), 24, 96, 96,
                   "ETTh1, hourly electricity-transformer loads and oil temperature, 17,420 rows x 7 "
                   "(zhouhaoyi/ETDataset, CC BY-ND 4.0); standard 12/4/4-month split"),
    "melbourne": Builtin("melbourne", "melbourne/daily-min-temperatures.csv",
                         "8b9de63ed6789492bf497625e7f9beb96a63d367b4b0a21754006f749fa5e5da",
                         "Date", "Temp", (2920, 365, 365), 365, 30, 1,
                         "Melbourne daily minimum temperature 1981-1990, 3,650 rows (jbrownlee/Datasets; "
                         "Australian Bureau of Meteorology); train 1981-88, validation 1989, test 1990"),
}
ALIASES = {"etth1": "ett", "ETTh1": "ett", "melbourne-min-temp": "melbourne"}


@dataclass
class TimeSeries:
    """Numeric columns of a CSV file: ``values`` (N, C) float64, ``times`` (N,) datetime64 or None."""
    values: np.ndarray
    columns: list
    times: np.ndarray | None
    source: str
    time_col: str | None = None    # the time column's name in the file

    def __len__(self) -> int:
        return len(self.values)

    def index(self, names) -> list[int]:
        """Column positions of ``names`` (a list, or ``"all"``); a DataError lists the columns."""
        if names == "all":
            return list(range(len(self.columns)))
        missing = [n for n in names if n not in self.columns]
        if missing:
            raise DataError(f"{self.source}: no column {', '.join(map(repr, missing))}; its numeric "
                            f"columns are: {', '.join(self.columns)}")
        return [self.columns.index(n) for n in names]


def builtin_path(name: str) -> Path:
    """The embedded file of a built-in series, after checking its SHA-256."""
    b = BUILTIN[ALIASES.get(name, name)]
    return verified(EMBEDDED / b.file, b.sha256, f"built-in series {b.name!r}")


def builtin(name: str) -> Builtin | None:
    return BUILTIN.get(ALIASES.get(str(name), str(name)))


def load_series(data, time_col: str | None = "auto", columns=None) -> TimeSeries:
    """A built-in series name (``ett``, ``melbourne``) or a CSV path -> ``TimeSeries``.

    Args:
        data: a name from ``BUILTIN`` or the path of a CSV file with a header line.
        time_col: the time column's name; ``"auto"`` takes the first column if its values are
            dates, ``None`` means there is none.
        columns: the numeric columns to read (default: every column but the time column).
    """
    b = builtin(data)
    if b is not None:
        return read_csv(builtin_path(b.name), b.time_col if time_col == "auto" else time_col, columns)
    return read_csv(data, time_col, columns)


def _is_time_column(name: str, first: str) -> bool:
    """Dates, or the years of a column named like one (``Year``: 1949, 1950, ...), not other numbers."""
    if _parse_time(first) is None:
        return False
    return not _is_number(first) or ("year" in name.lower() and len(first.strip()) == 4 and first.strip().isdigit())


def _parse_time(text: str):
    try:
        return np.datetime64(text.strip(), "s")
    except ValueError:
        return None


def read_csv(path, time_col: str | None = "auto", columns=None) -> TimeSeries:
    """Read a CSV file of numeric columns (and a time column); see ``load_series``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected a CSV file, or one of: {', '.join(BUILTIN)})")
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise DataError(f"{path}: not a valid CSV file ({e})") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise DataError(f"{path}: the file is empty; expected a header line of column names")
    header = [h.strip() for h in rows[0]]
    body = [(i + 2, r) for i, r in enumerate(rows[1:]) if any(cell.strip() for cell in r)]
    if not body:
        raise DataError(f"{path}: the file has a header but no data rows")
    if time_col == "auto":
        time_col = header[0] if _is_time_column(header[0], body[0][1][0]) else None
    if time_col is not None and time_col not in header:
        raise DataError(f"{path}: no time column {time_col!r}; columns are: {', '.join(header)}")
    if columns is None:
        columns = [h for h in header if h != time_col]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path}: no column {', '.join(map(repr, missing))}; columns are: "
                        f"{', '.join(header)}")
    if not columns:
        raise DataError(f"{path}: expected at least one numeric column besides the time column {time_col!r}")
    pos = [header.index(c) for c in columns]
    values = np.empty((len(body), len(columns)))
    for k, (line, r) in enumerate(body):
        if len(r) != len(header):
            raise DataError(f"{path}, line {line}: expected {len(header)} fields ({', '.join(header)}), "
                            f"got {len(r)}")
        for j, (p, name) in enumerate(zip(pos, columns)):
            values[k, j] = _number(r[p], path, line, name)
    times = None
    if time_col is not None:
        times = _times(body, header.index(time_col), time_col, path)
    return TimeSeries(values, list(columns), times, str(path), time_col)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _number(text: str, path, line: int, column: str) -> float:
    text = text.strip()
    if not text:
        raise DataError(f"{path}, line {line}, column {column!r}: missing value (empty field); "
                        "fill or drop the row before forecasting")
    try:
        v = float(text)
    except ValueError:
        raise DataError(f"{path}, line {line}, column {column!r}: expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise DataError(f"{path}, line {line}, column {column!r}: expected a finite number, got {text!r}")
    return v


def _times(body, col: int, name: str, path) -> np.ndarray:
    out = np.empty(len(body), dtype="datetime64[s]")
    for k, (line, r) in enumerate(body):
        t = _parse_time(r[col])
        if t is None:
            raise DataError(f"{path}, line {line}, column {name!r}: expected a date such as "
                            f"2016-07-01 or 2016-07-01 00:00:00, got {r[col]!r}")
        if k and t <= out[k - 1]:
            raise DataError(f"{path}, line {line}, column {name!r}: time {r[col]!r} is not after the "
                            f"previous row's {str(out[k - 1])!r}; rows must be in increasing time order")
        out[k] = t
    return out
