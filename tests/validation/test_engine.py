"""The engine's contract: verdicts, stages, report formats, configuration, profiles."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from einvoice.validation import Report, ValidationConfig, schematron, validate
from einvoice.validation.html import render_reports
from tests.validation.fixtures import CII, UBL, XR, mutate
from tests.validation.pdfs import hybrid_pdf

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "report.schema.json").read_text())
PLAIN = "urn:cen.eu:en16931:2017"


def _check_schema(rep: Report):
    jsonschema.validate(rep.to_dict(), SCHEMA)
    jsonschema.validate(json.loads(rep.to_json()), SCHEMA)


@pytest.mark.parametrize("data, syntax", [(UBL, "ubl-invoice"), (CII, "cii")])
def test_clean_xrechnung_is_valid(engine, data, syntax):
    rep = validate(data, "re.xml")
    assert rep.valid is True, rep.summary()
    assert rep.syntax == syntax and rep.container == "xml" and rep.profile == XR and rep.profile_name == "XRECHNUNG"
    assert rep.stages == {"intake": "passed", "parse": "passed", "xsd": "passed", "en16931": "passed", "xrechnung": "passed"}
    assert rep.xml is data  # the bytes exactly as received
    assert rep.summary().startswith("valid")
    _check_schema(rep)


def test_invalid_xrechnung_names_the_rule(engine):
    rep = validate(mutate(UBL, ("remove", "/ubl:Invoice/cbc:BuyerReference")), "x.xml")
    assert rep.valid is False
    assert rep.stages["xrechnung"] == "failed"
    assert rep.summary().startswith("invalid: [BR-DE-15]")
    f = next(f for f in rep.findings if f.rule == "BR-DE-15")
    assert f.severity == "error" and f.stage == "xrechnung" and "BT-10" in f.message
    _check_schema(rep)


def test_xsd_failure_is_reported_with_line(engine):
    rep = validate(UBL.replace(b"<cbc:IssueDate>2026-11-02</cbc:IssueDate>", b"<cbc:IssueDate>2.11.2026</cbc:IssueDate>"), "x.xml")
    assert rep.valid is False and rep.stages["xsd"] == "failed"
    xsd = [f for f in rep.findings if f.stage == "xsd"]
    assert xsd and xsd[0].location.startswith("line ")


def test_cen_rule_fires(engine):
    rep = validate(mutate(UBL, ("text", "//cac:LegalMonetaryTotal/cbc:PayableAmount", "118.00")), "x.xml")
    assert rep.valid is False
    assert "BR-CO-16" in {f.rule for f in rep.findings if f.stage == "en16931"}


def test_non_xrechnung_document_skips_br_de(engine):
    data = mutate(CII, ("text", "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", PLAIN), ("remove", "//ram:BuyerReference"))
    rep = validate(data, "plain.xml")
    assert rep.valid is True, rep.summary()
    assert rep.profile_name == "EN16931"
    assert rep.stages["xrechnung"] == "skipped"
    assert not any(f.rule.startswith("BR-DE") for f in rep.findings)
    # ... but they can be shown as advice
    rep = validate(data, "plain.xml", config=ValidationConfig(xrechnung_rules_for_all=True))
    assert rep.valid is True
    assert {f.severity for f in rep.findings if f.rule.startswith("BR-DE")} == {"info"}
    assert "BR-DE-15" in {f.rule for f in rep.findings}


def test_severity_overrides(engine):
    data = mutate(UBL, ("remove", "/ubl:Invoice/cbc:BuyerReference"))
    cfg = ValidationConfig.from_dict({"validation": {"severity_overrides": {"BR-DE-15": "warning"}}})
    rep = validate(data, "x.xml", config=cfg)
    assert rep.valid is True
    assert next(f for f in rep.findings if f.rule == "BR-DE-15").severity == "warning"
    assert rep.stages["xrechnung"] == "passed"
    rep = validate(mutate(UBL, ("text", "//cac:Contact/cbc:Telephone", "Zentrale")), "x.xml",
                   config=ValidationConfig(severity_overrides={"BR-DE-27": "error"}))
    assert rep.valid is False and rep.summary().startswith("invalid: [BR-DE-27]")


def test_config_rejects_typos(tmp_path):
    with pytest.raises(ValueError, match="severity"):
        ValidationConfig(severity_overrides={"BR-DE-15": "eror"})
    with pytest.raises(ValueError, match="unknown validation settings"):
        ValidationConfig.from_dict({"max_xml_byte": 5})
    p = tmp_path / "v.yaml"
    p.write_text("validation:\n  max_xml_bytes: 1000000\n  severity_overrides:\n    BR-DE-21: INFO\n")
    cfg = ValidationConfig.load(p)
    assert cfg.max_xml_bytes == 1000000 and cfg.severity_overrides == {"BR-DE-21": "info"}


def test_saxon_failure_means_not_validated(engine, monkeypatch):
    def boom(*a, **k):
        raise schematron.SchematronError("simulated Saxon crash")

    monkeypatch.setattr(schematron, "run", boom)
    rep = validate(UBL, "x.xml")
    assert rep.valid is None
    assert rep.stages["en16931"] == "error"
    assert rep.summary().startswith("not validated")
    assert "EN16931-ERROR" in {f.rule for f in rep.findings}


def test_schematron_switched_off_is_not_validated(engine):
    rep = validate(UBL, "x.xml", config=ValidationConfig(schematron=False))
    assert rep.valid is None and rep.stages["en16931"] == "error"


def test_internal_error_is_not_a_verdict(engine, monkeypatch):
    from einvoice.validation import xsd

    monkeypatch.setattr(xsd, "xsd_key", lambda *a: 1 / 0)
    rep = validate(UBL, "x.xml")
    assert rep.valid is None and "ENGINE-ERROR" in {f.rule for f in rep.findings}


def test_compiled_once_and_reused(engine):
    ex1 = schematron.executable("en16931-ubl")
    validate(UBL)
    assert schematron.executable("en16931-ubl") is ex1


def test_leitweg_id_advice(engine):
    rep = validate(mutate(UBL, ("text", "/ubl:Invoice/cbc:BuyerReference", "04011000-1234512345-07")), "x.xml")
    assert rep.valid is True
    f = next(f for f in rep.findings if f.rule == "DE-LEITWEG-ID")
    assert f.severity == "info" and "check digits" in f.message


# ---------------------------------------------------------------- containers and profiles
def test_hybrid_pdf_with_xrechnung_attachment(engine):
    pdf = hybrid_pdf(UBL, "xrechnung.xml", level="XRECHNUNG")
    rep = validate(pdf, "re.pdf")
    assert rep.container == "pdf" and rep.syntax == "ubl-invoice"
    assert rep.xml == UBL  # extracted unchanged
    assert rep.valid is True, rep.summary()
    assert rep.stages["profile"] == "passed"
    _check_schema(rep)


def test_xmp_level_mismatch_is_a_warning(engine):
    rep = validate(hybrid_pdf(CII, "factur-x.xml", level="BASIC"), "re.pdf")
    assert "FX-PROFILE-MISMATCH" in {f.rule for f in rep.findings if f.severity == "warning"}
    rep = validate(hybrid_pdf(CII, "factur-x.xml", level=None), "re.pdf")
    assert "FX-XMP-LEVEL" in {f.rule for f in rep.findings}


def test_plain_pdf_is_not_validated(engine):
    rep = validate(hybrid_pdf(None, level=None), "scan.pdf")
    assert rep.valid is None and rep.container == "pdf" and rep.syntax == "none"
    assert rep.summary() == "not validated: plain PDF without structured invoice data"
    _check_schema(rep)


@pytest.mark.parametrize("guideline, name", [("urn:factur-x.eu:1p0:minimum", "MINIMUM"), ("urn:factur-x.eu:1p0:basicwl", "BASIC WL")])
def test_minimum_and_basic_wl_are_no_invoices(engine, guideline, name):
    data = mutate(CII, ("text", "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", guideline))
    rep = validate(hybrid_pdf(data, level=name), "mini.pdf")
    assert rep.profile_name == name
    assert rep.valid is False
    f = next(f for f in rep.findings if f.rule == "DE-USTG-14")
    assert "§ 14 UStG" in f.message
    assert rep.stages["en16931"] == "skipped"


def test_zugferd1_is_recognised_as_legacy(engine):
    zf1 = b"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryDocument xmlns:rsm="urn:ferd:CrossIndustryDocument:invoice:1p0"
  xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12">
  <rsm:SpecifiedExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter>
  <ram:ID>urn:ferd:CrossIndustryDocument:invoice:1p0:comfort</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>
  </rsm:SpecifiedExchangedDocumentContext></rsm:CrossIndustryDocument>"""
    rep = validate(hybrid_pdf(zf1, "ZUGFeRD-invoice.xml", level="COMFORT"), "zf1.pdf")
    assert rep.syntax == "zugferd1" and rep.profile_name == "COMFORT"
    assert rep.valid is None
    assert "ZUGFeRD 1.0" in rep.summary()
    _check_schema(rep)


def test_other_xml_is_unsupported(engine):
    fattura = b'<?xml version="1.0"?><p:FatturaElettronica xmlns:p="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2" versione="FPR12"/>'
    rep = validate(fattura, "it.xml")
    assert rep.valid is None and rep.syntax == "unsupported"
    assert "FatturaPA" in rep.findings[0].message


def test_html_report_escapes_and_summarises(engine):
    rep = validate(mutate(UBL, ("text", "//cac:PaymentTerms/cbc:Note", "#SKONTO#<script>x</script>#\n")), "<b>.xml")
    html = render_reports([rep])
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "BR-DE-18" in html and "ungültig" in html


def test_validate_from_worker_threads(engine):
    """The pipeline may validate from worker threads; results must not depend on it."""
    import concurrent.futures as cf

    bad = mutate(UBL, ("remove", "/ubl:Invoice/cbc:BuyerReference"))
    inputs = [UBL, CII, bad] * 6
    with cf.ThreadPoolExecutor(4) as pool:
        got = [r.valid for r in pool.map(lambda d: validate(d, "t.xml"), inputs)]
    assert got == [True, True, False] * 6


def test_match_patterns_become_selects_only_where_the_meaning_is_kept():
    """schematron._direct_pattern_selects turns a rule's match pattern into a select from the
    document node; branches it cannot translate faithfully must be refused (walk kept)."""
    from einvoice.validation.schematron import _branch_as_select, _pattern_branches

    assert _pattern_branches("cac:A | cac:B[@x = 'a|b'] | /ubl:Invoice") == ["cac:A", "cac:B[@x = 'a|b']", "/ubl:Invoice"]
    assert _pattern_branches("a[(b | c)] | d") == ["a[(b | c)]", "d"]
    assert _pattern_branches("a union b") is None
    assert _branch_as_select("cac:A/cbc:B[1]") == "//cac:A/cbc:B[1]"
    assert _branch_as_select("//ram:X[. = 'Z']") == "//ram:X[. = 'Z']"
    assert _branch_as_select("/rsm:CrossIndustryInvoice") == "/rsm:CrossIndustryInvoice"
    assert _branch_as_select("@unitCode") == "//@unitCode"
    assert _branch_as_select("element(x)") == "//element(x)"
    assert _branch_as_select("key('k', 'v')") is None
    assert _branch_as_select("x[. = current()/y]") is None
    assert _branch_as_select("(a)") is None
