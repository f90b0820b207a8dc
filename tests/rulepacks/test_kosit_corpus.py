"""The official KoSIT XRechnung configuration (../shared/rulepacks) on the corpus.

- conformance: with the pack installed, every file of ../shared/corpus/expected-dev-kosit.json
  (KoSIT's own decisions) gets the same ``valid``, the same accept decision and scenario, and the
  same rule IDs per layer and effective severity (errors, warnings, information);
- the native report step equals the pack's own report stylesheet (messages, levels, accept) on
  every file, and the corpus covers every scenario of the pack;
- differential: built-in engine vs pack, every divergence listed with the rule that explains it
  (``DIVERGENCES``); a new divergence fails, and so does one that disappeared (then shrink the
  list: the built-in rules are being aligned with KoSIT). To see the current list:
  ``pytest tests/rulepacks/test_kosit_corpus.py -k differential -s`` prints every divergence;
- the pack's stylesheets are compiled once per process, also for workers forked after ``warm``.

Skips with the reason when ../shared (corpus, rule pack) is absent.
"""
from __future__ import annotations

import json
import multiprocessing

import pytest

from einvoice.validation import ValidationConfig
from tests.rulepacks.conftest import CORPUS, EXPECTED_KOSIT

CFG = ValidationConfig(build_model=False)
EXPECTED = json.loads(EXPECTED_KOSIT.read_text(encoding="utf-8")) if EXPECTED_KOSIT.is_file() else {}
KEYS = sorted(EXPECTED) or ["<expected-dev-kosit.json missing>"]
_SEV = {"errors": "error", "warnings": "warning", "information": "info"}


def _corpus_or_skip():
    if not EXPECTED_KOSIT.is_file():
        pytest.skip(f"KoSIT's decisions not found at {EXPECTED_KOSIT} (the corpus is only present beside the project checkout)")


def _layers(rep) -> dict[str, list[str]]:
    out = {}
    for layer in ("en16931", "xrechnung"):
        for key, sev in _SEV.items():
            out[f"{layer}_{key}"] = sorted({f.rule for f in rep.findings if f.stage == layer and f.severity == sev})
    return out


@pytest.mark.corpus
@pytest.mark.parametrize("key", KEYS)
def test_pack_agrees_with_kosit(key, kosit_pack):
    _corpus_or_skip()
    from einvoice.validation import validate

    exp = EXPECTED[key]
    rep = validate((CORPUS / key).read_bytes(), key, config=CFG)
    assert rep.rule_pack and rep.rule_pack.startswith("xrechnung-3.0.2-kosit-2026-01-31-cen-1.3.16 ")
    assert rep.accepted is exp["kosit_accept"]
    assert (rep.scenario if rep.scenario_matched else None) == exp["scenario"]
    assert rep.stages["xsd"] == ("passed" if exp["xsd_ok"] else "failed")
    got = _layers(rep)
    assert got == {k: sorted(set(exp[k])) for k in got}
    assert rep.valid is exp["valid"], rep.summary()
    # no stage that failed (or could not run) ever yields "valid"
    assert rep.valid is not True or not any(v in ("failed", "error") for v in rep.stages.values()), rep.stages
    if exp["scenario"] is None:
        f = next(f for f in rep.findings if f.rule == "KOSIT-NO-SCENARIO")
        assert repr(exp["customization"]) in f.message


@pytest.mark.corpus
def test_native_report_equals_the_packs_report_stylesheet(kosit_pack):
    """The report step builds KoSIT's report without running the pack's report stylesheet (whose
    HTML rendering of the invoice costs more than all Schematron). Same messages, same levels,
    same custom levels, same acceptMatch result, for every scenario of the pack."""
    _corpus_or_skip()
    from einvoice.rulepacks import check, integration

    packs, problem = integration.active()
    assert problem is None and packs
    from tests.validation.fixtures import CII, UBL

    scenarios = set()
    mismatches = []
    docs = [(key, (CORPUS / key).read_bytes()) for key in sorted(EXPECTED)]
    # the corpus has no schema-invalid file: our fixtures with an element the XSD forbids
    docs += [(f"{name}-xsd-broken", doc.replace(b"<cbc:InvoiceTypeCode>", b"<cbc:Bogus/><cbc:InvoiceTypeCode>", 1)
              .replace(b"<rsm:ExchangedDocument>", b"<rsm:Bogus/><rsm:ExchangedDocument>", 1)) for name, doc in (("ubl", UBL), ("cii", CII))]
    for key, data in docs:
        results = {}
        for mode in ("native", "stylesheet"):
            check.REPORT_MODE = mode
            try:
                bag = check.run(data, packs, reference=key)
            finally:
                check.REPORT_MODE = "native"
            assert not bag.errors, bag.errors
            assert bool(bag.xsd_errors) is key.endswith("xsd-broken")
            results[mode] = (bag.accept, check.en16931_verdict(bag),
                             sorted((m.step, m.rule, m.level, m.effective, m.location or "", m.text) for m in bag.messages))
            if bag.judged_by:
                scenarios.add(bag.judged_by.name)
        if results["native"] != results["stylesheet"]:
            mismatches.append(key)
    assert not mismatches
    assert scenarios == {s.name for s in packs[0][1].scenarios}


# Built-in engine vs the pack (file, side, layer, rule) / (file, "valid", built-in, pack).
# Every rule row is explained in REASONS; a "valid" row follows from the rule rows of its file.
#: Rule ID -> why the built-in rules and the pack may differ on it. Empty: since the built-in
#: engine applies KoSIT's scenarios, custom levels, the raised CII/UBL rules, the native CEN CII
#: rules and the merged Peppol rules (einvoice.validation.scenarios, cii_cen, peppol), no file of the
#: corpus diverges. A new divergence fails the test below; name it here with its rule to accept it.
REASONS: dict[str, str] = {}
#: (file, side, layer, rule) or (file, "valid", built-in, pack) rows accepted as divergences.
DIVERGENCES: list[tuple[str, str, str, str]] = []


def _blocking(rep) -> set[tuple[str, str]]:
    return {(f.stage, f.rule) for f in rep.findings if f.blocking and f.stage in ("xsd", "en16931", "xrechnung")}


@pytest.mark.corpus
def test_differential_built_in_vs_pack(_kosit_installed, tmp_path, monkeypatch):
    _corpus_or_skip()
    from einvoice.validation import validate

    monkeypatch.setenv("EINVOICE_RULEPACK_DIR", str(tmp_path / "none"))
    built = {}
    for key in sorted(EXPECTED):
        rep = validate((CORPUS / key).read_bytes(), key, config=CFG)
        assert rep.rule_pack is None
        built[key] = (rep.valid, _blocking(rep))
    monkeypatch.setenv("EINVOICE_RULEPACK_DIR", str(_kosit_installed))
    found = []
    for key in sorted(EXPECTED):
        rep = validate((CORPUS / key).read_bytes(), key, config=CFG)
        b_valid, b_rules = built[key]
        found += [(key, "built-in only", st, rule) for st, rule in sorted(b_rules - _blocking(rep))]
        found += [(key, "pack only", st, rule) for st, rule in sorted(_blocking(rep) - b_rules)]
        if b_valid is not rep.valid:
            found.append((key, "valid", str(b_valid), str(rep.valid)))
    for row in found:
        print("divergence:", *row, "--", REASONS.get(row[3], "(verdict)"))
    new = [r for r in found if r not in DIVERGENCES]
    gone = [r for r in DIVERGENCES if r not in found]
    assert not new, f"new divergences between built-in rules and the KoSIT pack: {new}"
    assert not gone, f"divergences that disappeared (shrink DIVERGENCES): {gone}"
    for key, side, _a, rule in DIVERGENCES:
        if side == "valid":
            assert any(r[0] == key and r[1] != "valid" for r in DIVERGENCES), f"{key}: a verdict divergence without a rule"
        else:
            assert rule in REASONS, f"{rule} has no documented reason"


def _child_compiles(_):
    from einvoice.rulepacks import pack
    from einvoice.validation import validate

    before = len(pack._xslts)
    for key in sorted(EXPECTED)[:20]:
        validate((CORPUS / key).read_bytes(), key, config=CFG)
    return before, len(pack._xslts)


@pytest.mark.corpus
def test_stylesheets_compile_once_and_forked_workers_inherit_them(kosit_pack):
    _corpus_or_skip()
    from einvoice.rulepacks import pack
    from einvoice.validation import warm

    warm(facturx=False)
    compiled = len(pack._xslts)
    assert compiled >= 4  # CEN UBL + CII, XRechnung UBL + CII
    with multiprocessing.get_context("fork").Pool(1) as pool:
        before, after = pool.map(_child_compiles, [0])[0]
    assert before == after == compiled  # the worker compiled nothing
    _child_compiles(0)
    assert len(pack._xslts) == compiled


def test_our_xrechnung_fixtures_and_hybrid_pdfs_with_the_pack(kosit_pack):
    """XML: the pack decides. PDF: built-in profile rules plus the pack's verdict for the
    embedded XML when it has a scenario; a Factur-X profile without scenario keeps its rules."""
    from einvoice.validation import validate
    from tests.validation.fixtures import CII, UBL, mutate  # noqa: F401  (our own documents)
    from tests.validation.pdfs import hybrid_pdf

    for data, scenario in ((UBL, "EN16931 XRechnung (UBL Invoice)"), (CII, "EN16931 XRechnung (CII)")):
        rep = validate(data, "x.xml", config=CFG)
        assert (rep.valid, rep.accepted, rep.scenario) == (True, True, scenario), rep.summary()
        assert "official KoSIT configuration" in rep.rules_basis
    rep = validate(hybrid_pdf(CII, level="XRECHNUNG"), "x.pdf", config=CFG)
    assert rep.container == "pdf" and rep.valid is True and rep.accepted is True
    assert rep.scenario == "EN16931 XRechnung (CII)" and rep.stages["rulepack"] == "passed" and rep.stages["profile"] == "passed"
    assert rep.rules_basis.startswith("profile rules (built-in) and official KoSIT configuration")
    basic = CII.replace(b"urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0",
                        b"urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic")
    rep = validate(hybrid_pdf(basic, level="BASIC"), "x.pdf", config=CFG)
    assert rep.rule_pack is None and rep.rules_basis.startswith("built-in rules, not the official KoSIT configuration")
    assert any(f.rule == "KOSIT-NO-SCENARIO" and f.severity == "info" for f in rep.findings)
    # an XRechnung whose XSD fails: invalid, and no Schematron ran (KoSIT stops there)
    broken = UBL.replace(b"<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>", b"<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode><cbc:Bogus/>")
    rep = validate(broken, "x.xml", config=CFG)
    assert rep.valid is False and rep.accepted is False and rep.stages["xsd"] == "failed"
    assert rep.stages["en16931"] == rep.stages["xrechnung"] == "skipped"
    assert not [f for f in rep.findings if f.stage in ("en16931", "xrechnung")]


@pytest.mark.parametrize("case", ["utf16", "bom", "latin1", "doctype", "truncated", "empty", "junk"])
def test_encodings_and_hostile_input_with_the_pack(case, kosit_pack):
    """The pack runs on the bytes as received in any declared encoding; hostile or broken input
    is refused before any rule runs and is never valid."""
    from einvoice.validation import validate
    from tests.validation.fixtures import UBL

    text = UBL.decode("utf-8")
    data = {
        "utf16": text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
        "bom": b"\xef\xbb\xbf" + UBL,
        "latin1": text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("Lieferant GmbH", "Lieferant Müller GmbH").encode("latin-1"),
        "doctype": UBL.replace(b"?>\n", b'?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n', 1),
        "truncated": UBL[:500],
        "empty": b"",
        "junk": b"\x00\x01garbage",
    }[case]
    rep = validate(data, case, config=CFG)
    if case in ("utf16", "bom", "latin1"):
        assert (rep.valid, rep.accepted, rep.scenario) == (True, True, "EN16931 XRechnung (UBL Invoice)"), rep.summary()
    else:
        assert rep.valid is not True and rep.accepted is not True and rep.rule_pack is None
