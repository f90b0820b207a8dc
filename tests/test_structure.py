"""The code's shape stays readable: no function in ``einvoice/`` or ``archive/`` is longer than
``MAX_LINES`` lines (a long function hides its steps; split it into named ones).

``TOO_LONG_TODAY`` names the functions still over the limit when the check was introduced; each is
being split into steps, and its entry is deleted when that lands (an entry that no longer names a
too-long function fails the check, so the list only shrinks).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("einvoice", "archive")
MAX_LINES = 120

#: "path/from/repo/root.py::qualified.name" of the functions still over MAX_LINES.
TOO_LONG_TODAY: set[str] = set()


def _functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, lines from the first decorator to the last line) of every function, nested ones too."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = prefix + node.name
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            yield name, node.end_lineno - first + 1
            yield from _functions(node, name + ".")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")
        else:
            yield from _functions(node, prefix)


def long_functions() -> dict[str, int]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for name, lines in _functions(tree):
                if lines > MAX_LINES:
                    found[f"{path.relative_to(ROOT).as_posix()}::{name}"] = lines
    return found


def test_no_function_is_longer_than_the_limit():
    too_long = long_functions()
    new = {k: v for k, v in too_long.items() if k not in TOO_LONG_TODAY}
    assert not new, f"functions over {MAX_LINES} lines (split them into named steps): {new}"


def test_the_list_of_long_functions_only_names_long_ones():
    stale = TOO_LONG_TODAY - set(long_functions())
    assert not stale, f"no longer over {MAX_LINES} lines (or moved): delete from TOO_LONG_TODAY: {sorted(stale)}"


def test_the_check_sees_a_long_function():
    body = "\n".join(f"      x{i} = {i}" for i in range(MAX_LINES))
    found = dict(_functions(ast.parse(f"class C:\n  def outer():\n    def inner():\n{body}\n")))
    assert found["C.outer.inner"] == MAX_LINES + 1
    assert found["C.outer"] == MAX_LINES + 2
