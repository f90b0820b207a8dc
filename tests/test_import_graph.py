"""No import cycle in ``einvoice`` or ``archive``, counting imports inside functions.

import-linter (``.importlinter``) checks the layers, but Python only loads a module when the
import statement runs, so a cycle closed by an import inside a function passes every other check
and still ties the modules together: neither can be understood, tested or moved alone. This test
reads the source with ``ast`` (module level and function level, ``from x import y`` resolved to
the module ``x.y`` when ``y`` is a submodule) and fails with the cycle's path.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("einvoice", "archive")

#: Edges allowed to close a cycle for now, each with its reason. Empty is the goal.
ALLOWED_EDGES: frozenset[tuple[str, str]] = frozenset()


def _modules() -> dict[str, Path]:
    """Every module of the packages by dotted name (a package by its ``__init__``)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(module: str, level: int, name: str | None, is_package: bool) -> str:
    """The absolute module of a relative ``from`` import."""
    if not level:
        return name or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([name] if name else []))


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` is or lies in (``a.b.C`` -> ``a.b``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    """Module -> modules of the packages it imports anywhere in its source."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, node.level, node.module, is_package)
                targets = [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"] or [base]
            for target in targets:
                owner = _owner(target, modules)
                if owner is not None and owner != name:
                    graph[name].add(owner)
    return graph


def find_cycle(graph: dict[str, set[str]], allowed: frozenset[tuple[str, str]] = frozenset()) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None (depth-first search, allowed edges skipped)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph[node]):
            if (node, nxt) in allowed:
                continue
            if colour[nxt] == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if colour[nxt] == WHITE and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        colour[node] = BLACK
        return None

    for start in sorted(graph):
        if colour[start] == WHITE and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_the_graph_sees_imports_inside_functions_and_submodules_named_in_from_imports():
    graph = import_graph()
    # einvoice.app imports the pipeline inside a cached property and the archive package lazily.
    assert any(target.startswith("einvoice.pipeline") for target in graph["einvoice.app"])
    assert "archive" in graph["einvoice.app"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_counting_imports_inside_functions():
    cycle = find_cycle(import_graph(), ALLOWED_EDGES)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_allowed_edge_still_exists():
    graph = import_graph()
    assert [edge for edge in ALLOWED_EDGES if edge[1] not in graph.get(edge[0], set())] == []
