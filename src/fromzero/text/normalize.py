"""What every text reader does to raw text before a tokenizer sees it.

``normalize(text)`` removes byte-order marks (U+FEFF), turns CRLF and CR line ends into LF and
composes Unicode (NFC: "e" + U+0301 becomes "é"). Corpora for pre-training go through a
``Cleaner``, which does the same chunk by chunk and, by default, cuts a Project Gutenberg header
(up to the ``*** START OF THE PROJECT GUTENBERG EBOOK ... ***`` line) and licence (from the
``*** END OF ...`` line on). A ``Report`` counts what was removed, for a one-line notice.

Example:
    >>> normalize("\\ufeffcafe\\u0301\\r\\nline two\\r")
    'café\\nline two\\n'
    >>> text, report = normalize_corpus("header\\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\\n"
    ...                                 "Call me Ishmael.\\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\\nlicence\\n")
    >>> text, report.removed()
    ('Call me Ishmael.\\n', 'the Project Gutenberg header (54 characters) and licence (53 characters)')
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

from ..io import decode_error, guess_encoding  # noqa: F401  (bytes that are not UTF-8; re-exported)

BOM = "\ufeff"
# The line that ends a Project Gutenberg header: today's "*** START OF THE PROJECT GUTENBERG EBOOK
# TITLE ***" (also THIS, E-BOOK, ETEXT), and the older "*END*THE SMALL PRINT! ..." of 1990s etexts.
START = re.compile(r"^[ \t]*\*{3}[ \t]*START OF (?:THE |THIS )?PROJECT GUTENBERG E-?(?:BOOK|TEXT)\b[^\n]*\n?"
                   r"|^[ \t]*\*END\*[ \t]*THE SMALL PRINT![^\n]*\n?", re.M | re.I)
# The line that starts the licence at the end: "*** END OF THE PROJECT GUTENBERG EBOOK ...", or the
# older "End of the Project Gutenberg EBook of ...", "End of Project Gutenberg's ..." a few lines above it.
END = re.compile(r"^[ \t]*(?:\*{3}[ \t]*END OF (?:THE |THIS )?PROJECT GUTENBERG E-?(?:BOOK|TEXT)\b"
                 r"|End of (?:the |this )?Project Gutenberg(?:'s)?\b)", re.M | re.I)
HEADER_MAX = 100_000   # characters: a START line further into a file is not a header's end


@dataclass
class Report:
    """What normalization removed from a corpus (summed over its files)."""
    files: int = 0
    chars: int = 0       # characters kept
    boms: int = 0
    cr: int = 0          # CR characters removed (CRLF) or turned into LF (a lone CR)
    nfc: int = 0         # characters that NFC composed or replaced
    gutenberg: int = 0   # files whose Project Gutenberg header and licence were cut
    header: int = 0      # characters of those headers
    licence: int = 0     # characters of those licences

    def removed(self) -> str:
        """What was removed, in words and numbers ("" when nothing was)."""
        parts = []
        if self.boms:
            parts.append("a BOM" if self.boms == 1 else f"{self.boms:,} BOMs")
        if self.cr:
            parts.append(f"{self.cr:,} CR")
        if self.gutenberg:
            which = "the Project Gutenberg" if self.gutenberg == 1 else f"{self.gutenberg} Project Gutenberg"
            parts.append(f"{which} header ({self.header:,} characters)"
                         + (f" and licence ({self.licence:,} characters)" if self.licence else ""))
        if self.nfc:
            parts.append(f"{self.nfc:,} character{'s' if self.nfc != 1 else ''} NFC-composed")
        return ", ".join(parts)

    def line(self, what: str) -> str:
        """The notice for the corpus ``what``: "" when nothing was removed."""
        removed = self.removed()
        if not removed:
            return ""
        files = f"{self.files:,} file{'s' if self.files != 1 else ''}"
        keep = "; --no-strip-gutenberg keeps the Gutenberg text" if self.gutenberg else ""
        return f"fromzero: {what}: {files}, {self.chars:,} characters; removed: {removed}{keep}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> "Report":
        fields = cls.__dataclass_fields__
        return cls(**{k: int(v) for k, v in (d or {}).items() if k in fields and isinstance(v, int)})


def _nfc(text: str, report: Report | None) -> str:
    if unicodedata.is_normalized("NFC", text):
        return text
    out = unicodedata.normalize("NFC", text)
    if report is not None:
        n = len(text) - len(out)
        report.nfc += n if n else sum(a != b for a, b in zip(text, out))
    return out


def _line_ends(text: str, report: Report | None) -> str:
    """BOMs out, CRLF and CR to LF."""
    if report is not None:
        report.boms += text.count(BOM)
        report.cr += text.count("\r")
    return text.replace(BOM, "").replace("\r\n", "\n").replace("\r", "\n")


def normalize(text: str, report: Report | None = None) -> str:
    """``text`` without BOMs, with LF line ends, in Unicode NFC (counted into ``report``, if given)."""
    return _nfc(_line_ends(text, report), report)


class Cleaner:
    """Normalizes one file's text chunk by chunk: ``feed`` each chunk, then ``close``.

    The text comes back in complete lines (except at ``close``), so a CRLF or a character and its
    combining accent split between two chunks are normalized as one. With ``strip_gutenberg``,
    a Project Gutenberg header (ending within the first ``HEADER_MAX`` characters) and the
    licence after the book are cut.
    """

    def __init__(self, strip_gutenberg: bool = True, report: Report | None = None):
        self.report = report if report is not None else Report()
        self.report.files += 1
        self.state = "head" if strip_gutenberg else "plain"   # head -> body -> licence, or plain
        self.rest = ""      # the text after the last line end, not yet given back
        self.head = ""      # the first lines, held until a header's end is found (or not)

    def feed(self, chunk: str) -> str:
        text = self.rest + chunk
        hold = 1 if text.endswith("\r") else 0            # maybe the CR of a CRLF cut in two
        text, self.rest = _line_ends(text[:len(text) - hold], self.report), text[len(text) - hold:]
        cut = text.rfind("\n") + 1
        if cut == 0 and len(text) < 16 * HEADER_MAX:      # no line end yet: wait for one
            self.rest = text + self.rest
            return ""
        cut = cut or len(text)
        self.rest = text[cut:] + self.rest
        return self._lines(_nfc(text[:cut], self.report))

    def close(self) -> str:
        rest, self.rest = self.rest, ""
        out = self._lines(normalize(rest, self.report))
        if self.state == "head":                          # no header's end: the text stays whole
            out, self.head, self.state = self.head + out, "", "plain"
            self.report.chars += len(out)
        return out

    def _lines(self, text: str) -> str:
        if self.state == "head":
            self.head += text
            m = START.search(self.head, 0, HEADER_MAX)
            if m is None:
                if len(self.head) < HEADER_MAX:
                    return ""
                text, self.head, self.state = self.head, "", "plain"
                self.report.chars += len(text)
                return text
            self.report.gutenberg += 1
            self.report.header += m.end()
            text, self.head, self.state = self.head[m.end():], "", "body"
        if self.state == "body":
            m = END.search(text)
            if m is not None:
                self.report.licence += len(text) - m.start()
                text, self.state = text[:m.start()], "licence"
        elif self.state == "licence":
            self.report.licence += len(text)
            return ""
        self.report.chars += len(text)
        return text


def normalize_corpus(text: str, strip_gutenberg: bool = True) -> tuple[str, Report]:
    """A whole corpus text normalized (``Cleaner``), and the ``Report`` of what was removed."""
    clean = Cleaner(strip_gutenberg)
    out = clean.feed(text)
    return out + clean.close(), clean.report
