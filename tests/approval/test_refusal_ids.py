"""Every refusal ID of the approval layer is a constant of ``einvoice.approval.messages``, used by name.

A raise site that spelled an ID as a string could drift from the table (a typo is a KeyError at the
moment a clerk is refused). The check reads the approval modules' source: every
``M.refusal(...)`` names a constant of the table, every constant has its German and English
text, and no module outside the table spells a refusal ID as a string literal.
"""
from __future__ import annotations

import ast
from pathlib import Path

from einvoice.approval import messages as M

APPROVAL = Path(__file__).resolve().parents[2] / "einvoice" / "approval"
KEYS = set(M.REFUSALS)
IDS = KEYS | {k.split("/")[0] for k in KEYS}


def _modules():
    return [p for p in sorted(APPROVAL.glob("*.py")) if p.name != "messages.py"]


def _refusal_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "refusal":
            yield node


def _constants_named(arg: ast.expr) -> list[str] | None:
    """``M.NAME`` → [NAME]; ``M.A if … else M.B`` → [A, B]; anything else (a string, a variable) → None."""
    if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "M":
        return [arg.attr]
    if isinstance(arg, ast.IfExp):
        a, b = _constants_named(arg.body), _constants_named(arg.orelse)
        return a + b if a is not None and b is not None else None
    return None


def test_every_raise_site_names_a_constant_with_german_and_english_text():
    used = set()
    for path in _modules():
        for call in _refusal_calls(ast.parse(path.read_text(encoding="utf-8"))):
            names = _constants_named(call.args[0]) if call.args else None
            assert names is not None, f"{path.name}:{call.lineno}: M.refusal needs a constant of messages, not {ast.unparse(call.args[0])}"
            for name in names:
                key = getattr(M, name, None)
                assert key in KEYS, f"{path.name}:{call.lineno}: M.{name} is not a key of messages.REFUSALS"
                de, en = M.REFUSALS[key]
                assert de.strip() and en.strip() and de != en, key
                used.add(key)
    assert used, "no refusal found: the check reads the wrong files"


def test_every_table_key_is_a_constant_of_the_same_spelling():
    constants = {value: name for name, value in vars(M).items() if name.isupper() and isinstance(value, str)}
    for key in KEYS:
        assert constants.get(key) == key.replace("/", "_").replace("-", "_").upper(), key


def test_no_refusal_id_is_spelled_as_a_string_outside_the_table():
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in IDS, f"{path.name}:{node.lineno}: {node.value!r} is a refusal ID; use messages.{node.value.replace('/', '_').replace('-', '_').upper()}"
