"""Every problem ID of the finance interface is a constant of ``einvoice.finance.errors``, used by name, with German and English text.

The check reads the finance modules' source: every ``M.problem(...)`` names a key of
``einvoice.finance.messages.MESSAGES`` by constant (``errors.NAME`` or a variant ``M.NAME``), every
ID has its German and English sentence there, a ``FinanceProblem(...)`` built directly only passes
on an ID it received (a ``Refusal.rule`` of the approval rules, a stored code), and no module
spells one of the IDs as a string. The IDs the approval layer also uses carry the same value as its table.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from einvoice.approval import messages as approval_messages
from einvoice.finance import errors
from einvoice.finance import messages as M

ROOT = Path(__file__).resolve().parents[2]
FINANCE = ROOT / "einvoice" / "finance"
CONSTANTS = {name: value for name, value in vars(errors).items() if name.isupper() and isinstance(value, str)}
IDS = set(CONSTANTS.values())
VARIANTS = {name: value for name, value in vars(M).items() if name.isupper() and isinstance(value, str)}
FIELDS = re.compile(r"{(\w+)[^}]*}")


def _modules():
    return [p for p in sorted(FINANCE.glob("*.py")) if p.name not in ("errors.py", "messages.py")]


def _key(arg: ast.expr) -> str | None:
    if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name):
        if arg.value.id == "errors":
            return CONSTANTS.get(arg.attr)
        if arg.value.id == "M":
            return VARIANTS.get(arg.attr)
    return None


def test_every_id_is_defined_once():
    assert len(IDS) == len(CONSTANTS), "two constants with the same ID"
    for name, value in CONSTANTS.items():
        assert name == value.replace("-", "_"), name


def test_every_id_has_german_and_english_text():
    for value in IDS:
        assert value in M.MESSAGES, f"{value} has no entry in einvoice.finance.messages.MESSAGES"
    for key, (de, en) in M.MESSAGES.items():
        assert key.split("/")[0] in IDS, f"{key}: not an ID of errors"
        assert de.strip() and en.strip() and de != en, key
        assert set(FIELDS.findall(de)) == set(FIELDS.findall(en)), f"{key}: German and English name different values"
    for name, key in VARIANTS.items():
        assert key in M.MESSAGES and name == key.replace("/", "_").replace("-", "_").upper(), name


def test_every_problem_names_its_key_by_constant():
    seen = set()
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Attribute) and node.func.attr == "problem" and getattr(node.func.value, "id", None) == "M":
                key = _key(node.args[0]) if node.args else None
                assert key in M.MESSAGES, f"{path.name}:{node.lineno}: M.problem({ast.unparse(node.args[0])}) is not a key of MESSAGES"
                seen.add(key)
            elif getattr(node.func, "id", None) == "FinanceProblem" and node.args:
                arg = node.args[0]
                # only passing on a rule received from elsewhere (a Refusal, a stored code, a first problem)
                assert isinstance(arg, ast.Attribute) and arg.value is not None and not (
                    isinstance(arg.value, ast.Name) and arg.value.id == "errors"), \
                    f"{path.name}:{node.lineno}: FinanceProblem({ast.unparse(arg)}, …): use M.problem(…) for its text"
    assert len(seen) > 50, "the check reads the wrong files"


def test_no_module_spells_an_id_as_a_string():
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in IDS, f"{path.name}:{node.lineno}: {node.value!r}: use errors.{node.value.replace('-', '_')}"


@pytest.mark.parametrize("lang", ["de", "en"])
def test_problem_is_worded_in_the_language_set(monkeypatch, lang):
    monkeypatch.setenv("EINVOICE_LANGUAGE", lang)
    p = M.problem(errors.PAY_FOUR_EYES, person="kasse1", run_id=7)
    assert p.rule == errors.PAY_FOUR_EYES and "kasse1" in p.message and "7" in p.message
    assert p.message == M.MESSAGES[errors.PAY_FOUR_EYES][0 if lang == "de" else 1].format(person="kasse1", run_id=7)
    assert p.message_en.startswith("kasse1 already gave the first release")
    assert p.as_dict() == {"code": "PAY-FOUR-EYES", "message": p.message, "message_en": p.message_en}
    pair = M.problem(errors.REASON_REQUIRED, what=M.both("manual-booking"))
    assert ("Buchung von Hand" in pair.message) == (lang == "de") and "booking made by hand" in pair.message_en


def test_ids_shared_with_the_approval_layer_have_its_value():
    for name in ("UNKNOWN_PERSON", "STALE"):
        assert CONSTANTS[name] == getattr(approval_messages, name)
    assert CONSTANTS["REASON_REQUIRED"] in {k.split("/")[0] for k in approval_messages.REFUSALS}
