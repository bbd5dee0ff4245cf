"""What a time column's spacing says: its name, the season it suggests, the timestamps that follow.

The spacing is the median step between rows, so a few missing rows do not change it. Monthly,
quarterly and yearly steps vary in length (28 to 31 days for a month), so each named spacing is
a range of days.

Example:
    >>> import numpy as np
    >>> months = np.arange("2000-01", "2003-01", dtype="datetime64[M]").astype("datetime64[s]")
    >>> spacing(months)
    ('monthly', 12)
    >>> [str(t)[:10] for t in next_times(months, 2)]
    ['2003-01-01', '2003-02-01']
"""
from __future__ import annotations

import numpy as np

DAY = 86400
# (name, shortest and longest step in days, season in rows): the season is one week of days, one
# year of weeks, months or quarters; a yearly series has none.
NAMED = [("daily", 1, 1, 7), ("weekly", 7, 7, 52), ("monthly", 28, 31, 12), ("quarterly", 89, 92, 4),
         ("yearly", 365, 366, 1)]
MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}   # calendar steps: add months, not seconds


def median_step(times) -> float:
    """The median step between rows, in seconds."""
    return float(np.median(np.diff(times).astype("timedelta64[s]").astype(np.float64)))


def spacing(times) -> tuple[str, int]:
    """``(name, season)`` of a time column: ``("hourly", 24)``, ``("daily", 7)``, ``("weekly", 52)``,
    ``("monthly", 12)``, ``("quarterly", 4)``, ``("yearly", 1)``; a sub-daily step that divides a day
    gives the rows per day (``("every 15 min", 96)``); any other step ``("irregular", 1)``."""
    if times is None or len(times) < 2:
        return "none", 1
    step = median_step(times)
    if 0 < step < DAY:
        if DAY % step:
            return "irregular", 1
        return ("hourly" if step == 3600 else f"every {_duration(step)}"), int(DAY // step)
    for name, lo, hi, season in NAMED:
        if lo * DAY <= step <= hi * DAY:
            return name, season
    return "irregular", 1


def guess_season(times) -> tuple[int, str]:
    """The season a time column suggests, and why, for messages: ``(12, "monthly timestamps")``."""
    if times is None or len(times) < 2:
        return 1, "no timestamp column; --season N to set"
    name, season = spacing(times)
    if name == "irregular":
        return 1, f"timestamps every {describe_step(times)} fit no calendar period; --season N to set"
    return season, f"{name} timestamps"


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def describe_step(times) -> str:
    """The median step in words, for messages: ``"3 days 4 h"``."""
    step = median_step(times)
    days, rest = divmod(int(step), DAY)
    parts = ([f"{days} day{'s' * (days != 1)}"] if days else []) + ([_duration(rest)] if rest else [])
    return " ".join(parts) or "0 s"


def next_times(times, n: int) -> np.ndarray:
    """The ``n`` timestamps after the last of ``times``, one spacing apart (months by the calendar)."""
    last = times[-1]
    k = np.arange(1, n + 1)
    months = MONTHS.get(spacing(times)[0])
    if months is None:
        return last + (k * median_step(times)).astype("timedelta64[s]")
    first = last.astype("datetime64[M]")                           # the last row's month
    into = last - first.astype("datetime64[s]")                    # how far into its month
    starts = (first + months * k).astype("datetime64[s]")
    ends = (first + months * k + 1).astype("datetime64[s]")
    next_start = (first + 1).astype("datetime64[s]")                # the start of the month after it
    if last.astype("datetime64[D]") + 1 == next_start.astype("datetime64[D]"):   # on a month's last day
        return ends - (next_start - last)                          # 2000-01-31 -> 2000-02-29, 2000-03-31
    return np.minimum(starts + into, ends - np.timedelta64(1, "s"))


def format_times(times) -> list[str]:
    """Timestamps as text without the parts that are zero in all of them: 2000-01-01, 2000-01-01 06:00."""
    text = [str(t).replace("T", " ") for t in times]
    if all(t.endswith("00:00:00") for t in text):
        return [t[:10] for t in text]
    return [t[:16] for t in text] if all(t.endswith(":00") for t in text) else text
