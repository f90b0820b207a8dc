"""Every problem ID of the finance interface is a constant of ``einvoice.finance.errors``, used by name.

The check reads the finance modules' source: every ``FinanceProblem(...)`` names its ID as
``errors.NAME`` (or passes on an ID it received: a ``Refusal.rule`` of the approval rules, a
stored code), every name exists in ``errors``, and no module spells one of the IDs as a string.
The IDs the approval layer also uses carry the same value as its table.
"""
from __future__ import annotations

import ast
from pathlib import Path

from einvoice.approval import messages as approval_messages
from einvoice.finance import errors

ROOT = Path(__file__).resolve().parents[2]
FINANCE = ROOT / "einvoice" / "finance"
CONSTANTS = {name: value for name, value in vars(errors).items() if name.isupper() and isinstance(value, str)}
IDS = set(CONSTANTS.values())


def _modules():
    return [p for p in sorted(FINANCE.glob("*.py")) if p.name != "errors.py"]


def test_every_id_is_defined_once():
    assert len(IDS) == len(CONSTANTS), "two constants with the same ID"
    for name, value in CONSTANTS.items():
        assert name == value.replace("-", "_"), name


def test_every_problem_names_its_id_by_constant():
    seen = set()
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "FinanceProblem" and node.args):
                continue
            arg = node.args[0]
            assert not isinstance(arg, ast.Constant), f"{path.name}:{node.lineno}: FinanceProblem({arg.value!r}): use errors.NAME"
            if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "errors":
                assert arg.attr in CONSTANTS, f"{path.name}:{node.lineno}: errors.{arg.attr} does not exist"
                seen.add(arg.attr)
    assert len(seen) > 40, "the check reads the wrong files"


def test_no_module_spells_an_id_as_a_string():
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in IDS, f"{path.name}:{node.lineno}: {node.value!r}: use errors.{node.value.replace('-', '_')}"


def test_ids_shared_with_the_approval_layer_have_its_value():
    for name in ("UNKNOWN_PERSON", "STALE"):
        assert CONSTANTS[name] == getattr(approval_messages, name)
    assert CONSTANTS["REASON_REQUIRED"] in {k.split("/")[0] for k in approval_messages.REFUSALS}
