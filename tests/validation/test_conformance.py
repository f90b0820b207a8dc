"""Conformance against the official verdicts (KoSIT/CEN) in ../shared/corpus/expected-dev-kosit.json.

- every file in expected-dev.json: our ``valid`` equals the expected one, our BR-DE error IDs equal
  the expected ``xrechnung_errors`` filtered to BR-DE-*, our EN 16931 error IDs equal
  ``en16931_errors`` and our BR-DE warnings and information equal the expected BR-DE ones;
- every xrechnung-testsuite file is covered by expected-dev.json;
- the CEN unit tests (en16931/test/): each ``<error>``/``<warning>`` rule fires, each
  ``<success>`` rule does not, for the fragments of every testSet (UBL Invoice, UBL CreditNote, CII).

Against expected-dev-kosit.json (KoSIT's scenario choice, custom levels and merged Peppol rules),
2026-12-06: 295/295 verdicts, 295/295 EN 16931 and 295/295 XRechnung-layer error sets (before the
scenario/custom-level/Peppol work: 275/295 verdicts, 266 and 290 error sets; see
bench/kosit_agreement.py). No file is marked as an expected failure.
"""
from __future__ import annotations

import glob
from pathlib import Path

import pytest
from lxml import etree

from tests.validation.conftest import CORPUS, corpus_or_skip, load_expected

EXPECTED = load_expected()
KEYS = sorted(EXPECTED) or ["<corpus missing>"]


def _brde(ids) -> set[str]:
    return {r for r in ids if r.startswith(("BR-DE-", "BR-TMP-"))}


@pytest.mark.corpus
@pytest.mark.parametrize("key", KEYS)
def test_expected_dev(key, engine):
    corpus = corpus_or_skip()
    exp = EXPECTED[key]
    rep = engine.validate((corpus / key).read_bytes(), key)
    errors = {f.rule for f in rep.findings if f.blocking}
    assert rep.syntax == {"ubl-inv": "ubl-invoice", "ubl-cn": "ubl-creditnote", "cii": "cii"}[exp["syntax"]]
    assert rep.stages["xsd"] == ("passed" if exp["xsd_ok"] else "failed")
    # compare our native BR-DE rule functions directly, independent of whether they affect `valid`
    from einvoice.validation import brde

    # KoSIT runs the XRechnung rules only in the XRechnung scenarios
    if "XRechnung" in (exp["scenario"] or ""):
        viol = brde.check(rep_root(rep), rep.syntax)
        assert {v.rule for v in viol if v.severity == "error"} == _brde(exp["xrechnung_errors"])
        assert {v.rule for v in viol if v.severity == "warning"} == _brde(exp["xrechnung_warnings"])
        assert {v.rule for v in viol if v.severity == "info"} == _brde(exp["xrechnung_information"])
    assert {f.rule for f in rep.findings if f.stage == "en16931" and f.blocking} == set(exp["en16931_errors"])
    if exp["is_xrechnung"]:
        assert {r for r in errors if r.startswith(("BR-DE-", "BR-TMP-"))} == _brde(exp["xrechnung_errors"])
        assert {f.rule for f in rep.findings if f.stage == "xrechnung" and f.blocking} == set(exp["xrechnung_errors"])
    if exp["customization"] == brde.XR_EXTENSION_ID:
        # the extension rules (BR-DEX-*) that KoSIT reports for extension documents
        ext = brde.check(rep_root(rep), rep.syntax, extension=True)
        assert {v.rule for v in ext if v.rule.startswith("BR-DEX") and v.severity == "error"} == {
            r for r in exp["xrechnung_errors"] if r.startswith("BR-DEX")}
        assert {v.rule for v in ext if v.rule.startswith("BR-DEX") and v.severity == "warning"} == {
            r for r in exp["xrechnung_warnings"] if r.startswith("BR-DEX")}
    if exp["scenario"] is not None:
        assert rep.scenario == exp["scenario"]
    assert rep.valid is exp["valid"], rep.summary()


def rep_root(rep):
    from einvoice.xml.safe import parse_xml

    root, problem = parse_xml(rep.xml)
    assert problem is None
    return root


@pytest.mark.corpus
def test_every_testsuite_file_has_an_expected_verdict():
    corpus = corpus_or_skip()
    files = sorted(Path(p).relative_to(corpus).as_posix() for p in glob.glob(str(corpus / "xrechnung-testsuite" / "**" / "*.xml"), recursive=True))
    assert len(files) == 86
    missing = [f for f in files if f not in EXPECTED]
    assert not missing


def _cen_unit_cases():
    if not CORPUS.is_dir():
        return [pytest.param(None, id="corpus-missing")]
    out = []
    for f in sorted(glob.glob(str(CORPUS / "en16931" / "test" / "*" / "*.xml"))):
        if "/testfiles/" in f:
            continue
        out.append(pytest.param(f, id=Path(f).parent.name + "/" + Path(f).name))
    return out


V = "{http://difi.no/xsd/vefa/validator/1.0}"
ROOT_SYNTAX = {"Invoice": "ubl-invoice", "CreditNote": "ubl-creditnote", "CrossIndustryInvoice": "cii"}


@pytest.mark.corpus
@pytest.mark.parametrize("path", _cen_unit_cases())
def test_cen_unit_tests(path, engine):
    corpus_or_skip()
    from einvoice.validation import en16931

    failures = []
    for test in etree.parse(path).getroot().iter(V + "test"):
        expectations = [(etree.QName(e).localname, (e.text or "").strip()) for e in test.find(V + "assert") if isinstance(e.tag, str)]
        docs = [c for c in test if isinstance(c.tag, str) and not c.tag.startswith(V)]
        if not docs:
            continue
        # the fragment is embedded in the test file, so it has to be serialised on its own
        data = etree.tostring(docs[0], encoding="UTF-8", xml_declaration=True)
        root = etree.fromstring(data)
        syntax = ROOT_SYNTAX[etree.QName(root).localname]
        fired = {f.rule for f in en16931.run(data, root, syntax, facturx=False)}
        for kind, rule in expectations:
            if kind in ("error", "warning") and rule not in fired:
                failures.append(f"{rule} expected to fire")
            elif kind == "success" and rule in fired:
                failures.append(f"{rule} fired but the test expects success")
    assert not failures


def _testsuite_files():
    if not CORPUS.is_dir():
        return [pytest.param(None, id="corpus-missing")]
    return [pytest.param(p, id=Path(p).name) for p in sorted(glob.glob(str(CORPUS / "xrechnung-testsuite" / "**" / "*.xml"), recursive=True))]


def _equivalence_files():
    """Valid testsuite invoices plus the rule instances, which break rules on purpose, so the
    comparison covers failed assertions, not only silence."""
    if not CORPUS.is_dir():
        return [pytest.param(None, id="corpus-missing")]
    paths = sorted(glob.glob(str(CORPUS / "xrechnung-testsuite" / "**" / "*.xml"), recursive=True))
    paths += sorted(glob.glob(str(CORPUS / "xrechnung-rule-instances" / "**" / "*.xml"), recursive=True))
    # Factur-X/ZUGFeRD 2 (BASIC and EXTENDED stylesheets) and the XML-Rechnung collection
    for sub in ("ZUGFeRDv2", "XML-Rechnung"):
        paths += sorted(p for p in glob.glob(str(CORPUS / "zugferd" / sub / "**" / "*"), recursive=True) if p.lower().endswith((".xml", ".pdf")))
    return [pytest.param(p, id=str(Path(p).relative_to(CORPUS))) for p in paths]


@pytest.mark.corpus
@pytest.mark.parametrize("path", _equivalence_files())
def test_optimised_stylesheets_report_exactly_what_the_originals_report(path, engine):
    """schematron.py loads the pinned XSLTs with load-time optimisations (code list as a
    parameter, one shared document walk or a direct select per pattern, Factur-X-only patterns
    left out for non-Factur-X documents). They must not change a single assertion."""
    corpus_or_skip()
    from einvoice.intake import detect, is_facturx, is_xrechnung
    from einvoice.validation import schematron
    from einvoice.validation.en16931 import schematron_key
    from einvoice.xml.safe import declared_encoding

    it = detect(Path(path).read_bytes(), path)
    if it.root is None or it.syntax not in ("ubl-invoice", "ubl-creditnote", "cii"):
        pytest.skip(f"no UBL/CII document to run the Schematron on ({it.syntax})")
    # the same choice of stylesheet as the engine (einvoice.validation.engine.detect_profile / en16931.run)
    facturx = is_facturx(it.profile) or (it.container == "pdf" and not is_xrechnung(it.profile))
    key = schematron_key(it.syntax, it.profile_name, facturx)
    cen_only = it.syntax == "cii" and not facturx and key == "en16931-cii-facturx"
    enc = declared_encoding(it.root)
    original = schematron.run(key, it.xml, enc, optimise=False)
    optimised = schematron.run(key, it.xml, enc, cen_only=cen_only)

    def norm(results, drop_fx):
        return sorted((r.rule, r.flag, r.location, r.message) for r in results if not (drop_fx and (r.rule.startswith("FX-SCH-") or r.rule == "?")))

    assert norm(optimised, False) == norm(original, cen_only)
