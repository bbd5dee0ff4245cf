"""Config dataclasses: building them from untrusted dicts (JSON, the command line), checking their
values, and the command-line options they declare (``opt``, ``add_options``).

Nothing here imports torch.
"""
from __future__ import annotations

import argparse
import dataclasses
import math

from .errors import ConfigError

_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def make_config(config_cls, values: dict, source: str = "config"):
    """Build a config dataclass, reporting every unknown key and wrong type at once."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    problems = [f"unknown key {k!r}" for k in values if k not in fields]
    for k, v in values.items():
        if k in fields:
            want = fields[k].type if isinstance(fields[k].type, type) else _TYPES.get(str(fields[k].type))
            ok = want is None or isinstance(v, want) or (want is float and isinstance(v, int)
                                                         and not isinstance(v, bool))
            if want is int and isinstance(v, bool):
                ok = False
            if not ok:
                problems.append(f"{k!r} must be {want.__name__}, got {type(v).__name__} {v!r}")
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems) + f". Valid keys: {', '.join(fields)}")
    return config_cls(**values)


# --- fields that are also command-line options --------------------------------------------------

def opt(default=dataclasses.MISSING, help: str = "", *, choices=None, range: str | None = None,
        flag: str | None = None, const=dataclasses.MISSING, positional: bool = False,
        shown: str | None = None, metavar: str | None = None, explicit: bool = False, parse=None,
        default_factory=dataclasses.MISSING):
    """A dataclass field that is also a command-line option: its default, help, choices and range.

    Args:
        help: the option's help; a field without help is no option (``--set KEY=VALUE`` still
            reaches it where a command offers ``--set``).
        choices: the allowed values. ``range``: an interval such as ``"[0, 1)"``, ``">= 1"``, ``"> 0"``.
            ``check`` validates both; the command line rejects a value outside them.
        flag: the option's name when it is not ``--field-name``. ``const``: the option is a flag
            that stores this value. Booleans are flags (``--x``, or ``--no-x`` when the default is
            True) unless ``explicit``: then they take ``true`` or ``false``.
        shown: the default as the help states it, when the value alone does not say it.
        parse: converts the option's text (default: by the field's type); a ``list`` field
            collects every use of the option.

    Example:
        >>> @dataclasses.dataclass
        ... class C:
        ...     lr: float = opt(1e-3, "learning rate", range="> 0")
        >>> check(C(lr=0.0))
        ['lr must be a number > 0, got 0.0']
    """
    meta = dict(help=help, choices=choices, range=range and _parse_range(range),
                range_text=range and _range_text(range), flag=flag,
                const=const, positional=positional, shown=shown, metavar=metavar, explicit=explicit,
                parse=parse)
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={k: v for k, v in meta.items()
                                       if not (v is None or v is False or v == "" or v is dataclasses.MISSING)})


def _number(text: str):
    """``"1"`` -> 1, ``"0.5"`` -> 0.5, ``"2**63"`` -> 2**63 (exact: integer bounds stay integers)."""
    if "**" in text:
        base, exp = text.split("**")
        return int(base) ** int(exp)
    try:
        return int(text)
    except ValueError:
        return float(text)


def _parse_range(text: str) -> tuple:
    """``"[0, 1)"`` -> (0, 1, True, False); ``">= 1"`` -> (1, None, True, None)."""
    t = text.replace(" ", "")
    if t.startswith((">=", ">")):
        return _number(t.lstrip(">=")), None, t.startswith(">="), None
    lo, hi = t[1:-1].split(",")
    return _number(lo), _number(hi), t[0] == "[", t[-1] == "]"


def _range_text(text: str) -> str:
    """The range as the messages state it: ``">= 1"``, ``"in [0, 2**63)"``."""
    t = text.replace(" ", "")
    if t.startswith(">="):
        return ">= " + t[2:]
    if t.startswith(">"):
        return "> " + t[1:]
    return "in " + t.replace(",", ", ")


def _base(f) -> str:
    """A field's type name without ``| None``: int, float, str, bool, ..."""
    t = f.type.__name__ if isinstance(f.type, type) else str(f.type)
    return t.replace(" | None", "").replace("None | ", "")


def _finite(v) -> bool:
    return isinstance(v, int) or math.isfinite(v)   # an int is finite however large


def _in_range(v, r) -> bool:
    """``v`` lies in the range ``r``; NaN and infinities never do (a range is always finite)."""
    lo, hi, lo_in, hi_in = r
    return (_finite(v) and (v >= lo if lo_in else v > lo)
            and (hi is None or (v <= hi if hi_in else v < hi)))


def _expected(f) -> str:
    """What a field's values must be, in words: "an integer >= 1", "a number in [0, 1)"."""
    kind = "an integer" if _base(f) == "int" else "a number"
    return f"{kind} {f.metadata['range_text']}" if "range" in f.metadata else kind


def check(config) -> list[str]:
    """The values of ``config`` that break their field's ``choices`` or ``range`` (empty: none)."""
    problems = []
    for f in dataclasses.fields(config):
        v, m = getattr(config, f.name), f.metadata
        if v is None:
            continue
        if "choices" in m and v not in m["choices"]:
            problems.append(f"{f.name}={v!r} is not one of {', '.join(map(str, m['choices']))}")
        elif "range" in m and not (isinstance(v, (int, float)) and not isinstance(v, bool)
                                   and (_base(f) != "int" or isinstance(v, int)) and _in_range(v, m["range"])):
            problems.append(f"{f.name} must be {_expected(f)}, got {v!r}")
        elif _base(f) == "float" and isinstance(v, float) and not math.isfinite(v):
            problems.append(f"{f.name} must be a finite number, got {v!r}")
    return problems


def _show(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v).lower() if isinstance(v, bool) else str(v)


def _each(values: dict, names) -> str:
    """``"tiny: 1, shakespeare-char: 4"``: the value under each name (a nameless one alone)."""
    return ", ".join(f"{n}: {_show(values[n])}" if n else _show(values[n]) for n in names)


def _default_help(f, presets: dict | None, example: str | None) -> str:
    """" (default: ...)": the field's default, or each preset's where they differ."""
    m = f.metadata
    if "shown" in m:
        return f" (default: {m['shown']})"
    default = f.default if f.default is not dataclasses.MISSING else None
    values = {name: p.get(f.name, default) for name, p in (presets or {}).items()}
    if len(set(map(repr, values.values()))) > 1:
        if example in values:  # the default preset's value first, then every other preset's
            others = _each(values, [n for n in values if n != example])
            return f" (default: {_each(values, [example])}; other presets: {others})"
        return f" (default: {_each(values, values)})"
    default = next(iter(values.values()), default)
    return "" if default in (None, "") else f" (default: {_show(default)})"


def _value_parser(f):
    """The argparse ``type`` of a field: converts, checks the range, names what it expected."""
    base, rng = _base(f), f.metadata.get("range")

    def parse(text: str):
        if base == "bool":
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
            return text.lower() in ("true", "1", "yes")
        try:
            v = {"int": int, "float": float}.get(base, str)(text)
        except ValueError:
            v = None
        if v is None or (rng and not _in_range(v, rng)) or (base == "float" and not math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"expected {_expected(f)}, got {text!r}")
        return v
    return parse


def add_options(parser, config_cls, presets: dict | None = None, example: str | None = None,
                seen: set | None = None) -> None:
    """Add an option to ``parser`` for each field of ``config_cls`` that has help (see ``opt``).

    An option that is not given is absent from the parsed namespace (``argparse.SUPPRESS``): the
    command fills it from the config's default or the preset. ``presets`` (name -> field values)
    make the help state each preset's default; ``seen`` skips names another config already added.
    """
    for f in dataclasses.fields(config_cls):
        m = f.metadata
        if "help" not in m or (seen is not None and f.name in seen):
            continue
        if seen is not None:
            seen.add(f.name)
        is_flag = "const" in m or (_base(f) == "bool" and not m.get("explicit"))
        help_text = m["help"] + ("" if is_flag else _default_help(f, presets, example))
        if m.get("positional"):
            many = {"nargs": "*"} if _base(f) == "list" else {}   # a list: every remaining argument
            parser.add_argument(f.name, help=help_text.replace("%", "%%"), metavar=m.get("metavar"), **many)
            continue
        kw = dict(dest=f.name, default=argparse.SUPPRESS, help=help_text.replace("%", "%%"))
        flag = m.get("flag") or "--" + f.name.replace("_", "-")
        if is_flag:
            if "const" not in m and f.default is True and "flag" not in m:
                flag = "--no-" + f.name.replace("_", "-")
            kw.update(action="store_const", const=m.get("const", not f.default))
        else:
            kw.update(type=m.get("parse") or _value_parser(f), choices=m.get("choices"), metavar=m.get("metavar"))
            if _base(f) == "list":
                kw["action"] = "append"
        parser.add_argument(flag, **kw)
