"""Built-in Peppol rules R055, R110/R111 and R120 against KoSIT's XRechnung configuration.

For every case of tests.validation.xrechnung_cases.py (generated invoices at the boundary of one
rule, UBL Invoice, UBL CreditNote and CII) the built-in engine (no pack) and the pack give the
same findings of the rule with the same effective severity, and the same verdict; the pack's
findings are also what KoSIT's XPath says (``Case.expect``), so that no case passes by both
engines missing the point. Skips when ../shared/rulepacks is absent.
"""
from __future__ import annotations

import pytest

from einvoice.validation import ValidationConfig
from tests.validation.xrechnung_cases import CASES, SEVERITY

CFG = ValidationConfig(build_model=False)


def _effective(severity: str) -> str:
    return "error" if severity in ("fatal", "error") else severity


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_built_in_rules_agree_with_the_pack(case, _kosit_installed, tmp_path, monkeypatch):
    from einvoice.validation import validate

    data = case.build()
    monkeypatch.setenv("EINVOICE_RULEPACK_DIR", str(tmp_path / "none"))
    built = validate(data, "built-in.xml", config=CFG)
    assert built.rule_pack is None
    monkeypatch.setenv("EINVOICE_RULEPACK_DIR", str(_kosit_installed))
    pack = validate(data, "pack.xml", config=CFG)
    assert pack.rule_pack is not None and pack.scenario_matched, pack.summary()
    assert pack.stages["xsd"] == "passed", pack.summary()  # the rule itself is compared, not the schema
    for rule, fires in case.expect.items():
        got = {name: sorted(_effective(f.severity) for f in rep.findings if f.rule == rule)
               for name, rep in (("built-in", built), ("pack", pack))}
        assert got["built-in"] == got["pack"], (rule, got, built.summary(), pack.summary())
        if fires is not None:
            assert got["pack"] == ([_effective(SEVERITY[rule])] if fires else []), (rule, got, pack.summary())
    assert built.valid is pack.valid, (built.summary(), pack.summary())
