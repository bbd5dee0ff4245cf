"""Does generated text have the shape of a Tang regulated verse?

The ``tang-poems`` corpus has one couplet per line: two half-lines of 5 characters
(``XXXXX，XXXXX。``) or of 7 (``XXXXXXX，XXXXXXX。``). ``line_shapes`` counts how many lines
of a text have exactly that shape: a measure of whether a model learnt the form.

Example:
    >>> line_shapes("秦川雄帝宅，函谷壯皇居。\\n綺殿千尋起，離宮百雉\\n")["fraction"]
    0.5
"""
from __future__ import annotations

import re

PUNCT = "，。？！；：、,.?!;:"
COUPLET = {n: re.compile(rf"^[^{PUNCT}\s]{{{n}}}，[^{PUNCT}\s]{{{n}}}[。？！]$") for n in (5, 7)}


def line_shapes(text: str, drop_last: bool = False) -> dict:
    """Count the non-empty lines of ``text`` that are a 5- or 7-character couplet.

    Args:
        drop_last: ignore the last line unless the text ends with a newline (a generated sample
            is usually cut mid-line).
    Returns:
        ``{"lines", "five", "seven", "fraction"}``; fraction = (five + seven) / lines.
    """
    lines = [ln.strip() for ln in text.split("\n")]
    if drop_last and not text.endswith("\n"):
        lines = lines[:-1]
    lines = [ln for ln in lines if ln]
    five = sum(bool(COUPLET[5].match(ln)) for ln in lines)
    seven = sum(bool(COUPLET[7].match(ln)) for ln in lines)
    return {"lines": len(lines), "five": five, "seven": seven,
            "fraction": (five + seven) / len(lines) if lines else 0.0}
