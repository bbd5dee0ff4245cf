"""The layering that docs/architecture.md states holds in the source, and the names it quotes exist.

The import graph is read from the source with ``ast`` (nothing is imported for it): module-level
and function-level imports, relative ones resolved. ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg``.
"""
import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "fromzero"
DOC = ROOT / "docs" / "architecture.md"
LAZY = re.compile(r"#\s*lazy:\s*\S")


def layer_table() -> dict[str, int]:
    """The ```layers block of the doc: ``N name name ...`` per line -> {name: N}."""
    block = re.search(r"```layers\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert block, f"{DOC}: no ```layers block"
    table = {}
    for line in block.group(1).splitlines():
        level, *names = line.split("#")[0].split()
        table.update({n: int(level) for n in names})
    return table


def modules() -> dict[str, Path]:
    """Dotted names relative to ``fromzero`` (``__init__`` is the package itself) -> file."""
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        out[".".join(parts)] = path
    return out


def _target(node: ast.ImportFrom, name: str, is_pkg: bool) -> str | None:
    if node.level == 0:
        mod = node.module or ""
        if mod != "fromzero" and not mod.startswith("fromzero."):
            return None
        base = mod.split(".")[1:]
    else:
        here = name.split(".") if name != "__init__" else []
        here = here if is_pkg else here[:-1]
        base = here[:len(here) - (node.level - 1)] + (node.module.split(".") if node.module else [])
    return ".".join(base) or "__init__"


def imports(mods: dict[str, Path]):
    """(source, target, line, function-level, has a ``# lazy:`` comment) for each import; the
    target is None for a module outside fromzero."""
    for name, path in sorted(mods.items()):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        tree = ast.parse(text)
        is_pkg = path.name == "__init__.py"
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [".".join(a.name.split(".")[1:]) or "__init__"
                           if a.name == "fromzero" or a.name.startswith("fromzero.") else None
                           for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _target(node, name, is_pkg)
                subs = [f"{base}.{a.name}" if base != "__init__" else a.name for a in node.names]
                targets = [None] if base is None else sorted({s if s in mods else base for s in subs})
            else:
                continue
            scope = parents.get(node)
            while scope is not None and not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                ast.Lambda)):
                scope = parents.get(scope)
            near = lines[max(0, node.lineno - 2):node.end_lineno]
            lazy = any(LAZY.search(ln) for ln in near)
            for t in targets:
                yield name, t, node.lineno, scope is not None, lazy


def level(name: str, table: dict[str, int]) -> int | None:
    """The layer of the longest table entry that is ``name`` or a package above it."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in table:
            return table[".".join(parts[:k])]
    return None


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def report() -> dict:
    """Everything the tests check, for them and for a person (``python tests/test_architecture.py``)."""
    mods, table = modules(), layer_table()
    found = list(imports(mods))
    edges = {(a, b) for a, b, *_ in found if b is not None}
    return {
        "modules": len(mods),
        "uncovered": sorted(m for m in mods if level(m, table) is None),
        "unknown": sorted({b for _, b in edges if b not in mods}),
        "cycles": cycles(edges),
        "upward": sorted({f"{a} ({level(a, table)}) -> {b} ({level(b, table)})" for a, b in edges
                          if None not in (level(a, table), level(b, table))
                          and level(b, table) > level(a, table)}),
        "function_level": len({(a, line) for a, b, line, inner, _ in found if inner}),
        "unexplained": sorted({f"{mods[a].relative_to(ROOT)}:{line}" for a, b, line, inner, lazy in found
                               if inner and not lazy}),
    }


@pytest.fixture(scope="module")
def graph():
    return report()


def test_every_module_is_in_the_layer_table(graph):
    assert graph["uncovered"] == [], "modules that docs/architecture.md's ```layers block does not place"


def test_every_import_names_a_module_that_exists(graph):
    assert graph["unknown"] == []


def test_no_import_cycle(graph):
    assert graph["cycles"] == []


def test_no_import_runs_upward(graph):
    assert graph["upward"] == [], "imports from a lower layer to a higher one"


def test_every_function_level_import_says_why(graph):
    assert graph["unexplained"] == [], "imports inside functions without a '# lazy: <reason>' comment"


def test_the_table_names_only_modules_that_exist():
    mods = modules()
    stale = [n for n in layer_table() if not any(m == n or m.startswith(n + ".") for m in mods)]
    assert stale == []


def _quoted_names() -> list[str]:
    spans = re.findall(r"`([^`\n]+)`", DOC.read_text(encoding="utf-8"))
    return sorted({m.group(0) for s in spans if (m := re.match(r"fromzero(\.[A-Za-z_]\w*)+", s))})


@pytest.mark.parametrize("dotted", _quoted_names())
def test_every_name_the_doc_quotes_exists(dotted):
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
            break
        except ModuleNotFoundError as e:
            if e.name != ".".join(parts[:k]):
                raise
    for attr in parts[k:]:
        assert hasattr(obj, attr), f"docs/architecture.md quotes `{dotted}`: {obj!r} has no {attr!r}"
        obj = getattr(obj, attr)


LIGHT = ["fromzero", "fromzero.errors", "fromzero.config", "fromzero.io", "fromzero.registry",
         "fromzero.models.configs", "fromzero.recipes.configs", "fromzero.datasets", "fromzero.scratch"]


def test_the_ground_floor_does_not_import_torch():
    code = (f"import sys; import {', '.join(LIGHT)}; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"torch modules imported: {out.stdout.strip()[:200]}"


if __name__ == "__main__":
    r = report()
    for key, value in r.items():
        if isinstance(value, list):
            print(f"{key}: {len(value)}")
            for v in value:
                print("   ", v)
        else:
            print(f"{key}: {value}")
