"""Findings and verdicts as clerks read them (issue #17): German by default and English when set,
each with its BMF class (Formatfehler, Geschäftsregelfehler, Inhaltsfehler), an explanation built
from the business terms, a readable location, and the official rule text beside it.

The language checks run the real validator over the conformance corpus (``../shared/corpus``,
skipped when absent) and over invoices generated here with one defect each, and fail on any word
of the other language (tests/wording.py) in the texts a clerk reads: the verdict sentence, the
explanations, the locations, the class, severity and stage names, and the HTML report's cells.
"""
from __future__ import annotations

import glob
import html as html_lib
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from einvoice.validation import explain, terms, validate
from einvoice.validation.html import render_reports
from tests.validation.conftest import CORPUS
from tests.validation.fixtures import CII, UBL, mutate
from tests.wording import foreign_words

#: one defect each, in both syntaxes where it exists: (name, bytes, rule that must be found)
DEFECTS = [
    ("ubl-br-co-15", mutate(UBL, ("text", "//cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", "120.00")), "BR-CO-15"),
    ("cii-br-co-15", mutate(CII, ("text", "//ram:GrandTotalAmount", "120.00")), "BR-CO-15"),
    ("ubl-br-de-15", mutate(UBL, ("remove", "/ubl:Invoice/cbc:BuyerReference")), "BR-DE-15"),
    ("cii-br-de-15", mutate(CII, ("remove", "//ram:ApplicableHeaderTradeAgreement/ram:BuyerReference")), "BR-DE-15"),
    ("ubl-line-name", mutate(UBL, ("text", "//cac:InvoiceLine[1]/cac:Item/cbc:Name", "")), "BR-25"),
    ("cii-line-name", mutate(CII, ("text", "//ram:IncludedSupplyChainTradeLineItem[1]/ram:SpecifiedTradeProduct/ram:Name", "")), "BR-25"),
    ("ubl-negative-price", mutate(UBL, ("text", "//cac:InvoiceLine[1]/cac:Price/cbc:PriceAmount", "-50.00")), "BR-27"),
    ("ubl-xsd", mutate(UBL, ("append", "//cac:InvoiceLine[1]", "<cbc:Note>x</cbc:Note>")), "XSD"),
    ("cii-xsd", mutate(CII, ("append", "//ram:IncludedSupplyChainTradeLineItem[1]/ram:SpecifiedLineTradeDelivery",
                             "<ram:Foo>x</ram:Foo>")), "XSD"),
    ("ubl-date", mutate(UBL, ("text", "/ubl:Invoice/cbc:IssueDate", "2150-01-01")), "DE-PLAUS-DATE"),
    ("ubl-skonto", mutate(UBL, ("text", "//cac:PaymentTerms/cbc:Note", "#SKONTO#TAGE=5000000#PROZENT=2.00#\n")), "DE-PLAUS-SKONTO"),
    ("ubl-leitweg", mutate(UBL, ("text", "/ubl:Invoice/cbc:BuyerReference", "04011000-1234512345-07")), "DE-LEITWEG-ID"),
    ("not-well-formed", UBL[:-40], "XML-SYNTAX"),
    ("plain-text", b"Rechnung Nr. 5 \xfcber 100 Euro", "INTAKE-FORMAT"),
]


def _clerk_texts(rep, lang: str) -> list[tuple[str, str]]:
    """(what, text) of everything a clerk reads about a report; the file name is data, not words."""
    name = Path(rep.path).name
    out = [("sentence", rep.sentence(lang).replace(name, "DATEI"))]
    for f in rep.findings:
        v = explain.finding_view(f, lang)
        out += [(f"{f.rule} explanation", v.explanation), (f"{f.rule} where", v.where or ""),
                (f"{f.rule} class", v.class_name), (f"{f.rule} severity", v.severity_name), (f"{f.rule} stage", v.stage_name)]
    return out


def _foreign(reports, lang: str) -> dict[str, set[str]]:
    bad: dict[str, set[str]] = {}
    for rep in reports:
        for what, text in _clerk_texts(rep, lang):
            words = foreign_words(text, lang)
            if words:
                bad.setdefault(f"{Path(rep.path).name} {what}: {text[:160]}", set()).update(words)
    return bad


def _html_cells(page: str) -> list[str]:
    """The clerk's cells of the HTML report: verdict, class, explanation, location (not the
    Originaltext, which is the rule set's own wording)."""
    cells = re.findall(r'(?s)<(?:span|div|td|dd) class="(?:sentence|explanation|where|bmf)">(.*?)</(?:span|div|td|dd)>', page)
    return [html_lib.unescape(re.sub(r"<[^>]+>", " ", c)) for c in cells]


@pytest.fixture(scope="module")
def generated(engine):
    reports = []
    for name, data, rule in DEFECTS:
        rep = validate(data, f"{name}.xml")
        assert rule in {f.rule for f in rep.findings}, (name, rep.summary())
        reports.append(rep)
    return reports


@pytest.mark.parametrize("lang", ["de", "en"])
def test_generated_invalid_invoices_speak_one_language(generated, lang, monkeypatch):
    monkeypatch.setenv("EINVOICE_LANGUAGE", lang)
    assert not _foreign(generated, lang)
    page = render_reports(generated)
    assert f'<html lang="{lang}">' in page
    cells = _html_cells(page)
    assert len(cells) > 2 * len(generated)  # sentence + explanation + location per report at least
    bad = {c: foreign_words(c.replace(".xml", ""), lang) for c in cells if foreign_words(c.replace(".xml", ""), lang)}
    # the file names in the sentences are data ("ubl-br-co-15.xml"), everything else must be clean
    bad = {c: w for c, w in bad.items() if not all(any(w_ in n for n, _, _ in DEFECTS) for w_ in w)}
    assert not bad, bad
    # the official rule text stays available beside the explanation
    assert page.count(">" + ("Originaltext" if lang == "de" else "Original text") + "<") >= len(generated) - 2
    assert "namespace-uri()" not in "".join(cells)


@pytest.mark.parametrize("lang", ["de", "en"])
def test_corpus_findings_speak_one_language(engine, lang):
    files = sorted(p for p in glob.glob(str(CORPUS / "**" / "*"), recursive=True) if p.endswith((".xml", ".pdf")))
    if not files:
        pytest.skip(f"conformance corpus not found at {CORPUS} (it is only present beside the project checkout)")
    reports = [validate(Path(p).read_bytes(), p) for p in files]
    checked = sum(len(r.findings) for r in reports)
    assert checked > 1000, checked  # the corpus has invalid files of every kind; an empty run proves nothing
    bad = _foreign(reports, lang)
    assert not bad, dict(list(bad.items())[:20])
    # every location of a finding reads as business terms or a cleaned path, never a namespace XPath
    raw = [f.where(lang) for r in reports for f in r.findings if f.location and "namespace-uri" in (f.where(lang) or "")]
    assert not raw, raw[:5]


def test_bmf_class_of_a_file_that_is_not_well_formed_is_format(engine):
    rep = validate(UBL[:-40], "kaputt.xml")
    assert rep.valid is False and rep.bmf_class == explain.FORMAT
    assert {f.bmf_class for f in rep.findings if f.blocking} == {explain.FORMAT}
    assert rep.sentence("de") == "Die Datei „kaputt.xml“ ist keine E-Rechnung: 1 Formatfehler (XML-SYNTAX)."
    assert rep.sentence("en") == "The file 'kaputt.xml' is no e-invoice: 1 format error (XML-SYNTAX)."


def test_bmf_class_of_a_plain_pdf_is_format_though_not_validated(engine):
    from tests.validation.pdfs import hybrid_pdf

    rep = validate(hybrid_pdf(None, level=None), "scan.pdf")
    assert rep.valid is None and rep.bmf_class == explain.FORMAT
    assert rep.sentence("de") == ("Die Datei „scan.pdf“ ist keine E-Rechnung (reines PDF ohne strukturierte "
                                  "Rechnungsdaten): 1 Formatfehler (PDF-NO-XML).")
    assert rep.sentence("en") == ("The file 'scan.pdf' is no e-invoice (a plain PDF without structured invoice "
                                  "data): 1 format error (PDF-NO-XML).")


def test_bmf_class_of_a_br_co_15_violation_is_business_rule(engine):
    rep = validate(DEFECTS[0][1], "x.xml")
    assert rep.valid is False and rep.bmf_class == explain.BUSINESS_RULE
    f = next(f for f in rep.findings if f.rule == "BR-CO-15")
    assert f.bmf_class == explain.BUSINESS_RULE
    assert "Gesamtbetrag einschließlich Umsatzsteuer (BT-112)" in f.explanation("de")
    assert "total with VAT (BT-112)" in f.explanation("en")
    assert rep.sentence("de") == ("Die Rechnung RE-2026-0001 vom 02.11.2026 ist keine gültige E-Rechnung: "
                                  "2 Geschäftsregelfehler (BR-CO-15, BR-CO-16).")
    assert rep.sentence("en") == ("Invoice RE-2026-0001 of 2026-11-02 is not a valid e-invoice: "
                                  "2 business rule errors (BR-CO-15, BR-CO-16).")
    d = rep.to_dict()
    assert d["bmf_class"] == "business_rule" and d["sentence"]["de"] == rep.sentence("de")
    j = next(x for x in d["findings"] if x["rule"] == "BR-CO-15")
    assert j["bmf_class"] == "business_rule" and j["message"].startswith("[BR-CO-15]")  # the official text stays
    assert j["explanation"]["de"] == f.explanation("de") and j["where"]["en"] == f.where("en")


def test_bmf_class_of_a_content_plausibility_finding_is_content(engine):
    rep = validate(mutate(UBL, ("text", "/ubl:Invoice/cbc:IssueDate", "2150-01-01")), "x.xml")
    f = next(f for f in rep.findings if f.rule == "DE-PLAUS-DATE")
    assert f.bmf_class == explain.CONTENT and rep.bmf_class == explain.CONTENT and rep.valid is False
    assert rep.sentence("de").endswith("ist keine gültige E-Rechnung: 1 Inhaltsfehler (DE-PLAUS-DATE).")
    assert f.where("de") == "Rechnungsdatum (BT-2)"
    assert "2150-01-01, Rechnungsdatum (BT-2)," in f.explanation("de") and "issue_date" not in f.explanation("de")
    # gravest first: a business rule error next to a content error makes the verdict a business rule error
    both = validate(mutate(UBL, ("text", "/ubl:Invoice/cbc:IssueDate", "2150-01-01"),
                           ("remove", "/ubl:Invoice/cbc:BuyerReference")), "x.xml")
    assert both.bmf_class == explain.BUSINESS_RULE
    assert "1 Geschäftsregelfehler (BR-DE-15) und 1 Inhaltsfehler (DE-PLAUS-DATE)" in both.sentence("de")


def test_a_valid_invoice_has_no_class_and_says_so(engine):
    rep = validate(UBL, "ok.xml")
    assert rep.valid is True and rep.bmf_class is None
    assert rep.sentence("de") == "Die Rechnung RE-2026-0001 vom 02.11.2026 ist eine gültige E-Rechnung."


@pytest.mark.parametrize("syntax", ["ubl", "cii"])
def test_line_level_findings_read_as_line_and_business_term(engine, syntax):
    data = DEFECTS[4][1] if syntax == "ubl" else DEFECTS[5][1]
    rep = validate(data, "x.xml")
    wheres = {f.rule: set() for f in rep.findings}
    for f in rep.findings:
        wheres[f.rule].add(f.where("de"))
    assert "Rechnungsposition 1 (BG-25)" in wheres["BR-25"]
    assert "Rechnungsposition 1 › Artikelname (BT-153)" in wheres["PEPPOL-EN16931-R008"]
    assert "Invoice line 1 › Item name (BT-153)" in {f.where("en") for f in rep.findings}
    xsd = validate(DEFECTS[7][1] if syntax == "ubl" else DEFECTS[8][1], "x.xml")
    where = next(f.where("de") for f in xsd.findings if f.rule == "XSD")
    assert re.fullmatch(r"Zeile \d+ der Datei › Rechnungsposition 1\b.+", where), where


@pytest.mark.parametrize("location, de, en", [
    ("/*:Invoice[namespace-uri()='urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'][1]"
     "/*:InvoiceLine[namespace-uri()='urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2'][3]"
     "/*:LineExtensionAmount[namespace-uri()='urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2'][1]",
     "Rechnungsposition 3 › Nettobetrag der Rechnungsposition (BT-131)", "Invoice line 3 › Invoice line net amount (BT-131)"),
    ("/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem[2]"
     "/ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
     "Rechnungsposition 2 › Nettobetrag der Rechnungsposition (BT-131)", "Invoice line 2 › Invoice line net amount (BT-131)"),
    ("/ubl:Invoice/cac:LegalMonetaryTotal/cbc:LineExtensionAmount", "Summe der Nettobeträge aller Rechnungspositionen (BT-106)",
     "Sum of invoice line net amount (BT-106)"),
    ("/*/cac:TaxTotal/cac:TaxSubtotal[2]/cbc:TaxAmount", "Umsatzsteueraufschlüsselung 2 › Steuerbetrag der Umsatzsteuerkategorie (BT-117)",
     "VAT breakdown 2 › VAT category tax amount (BT-117)"),
    ("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:BuyerReference",
     "Käuferreferenz (Leitweg-ID, BT-10)", "Buyer reference (BT-10)"),
    ("/*/*[3]/ram:IncludedSupplyChainTradeLineItem[4]/ram:SpecifiedLineTradeDelivery/ram:BilledQuantity/@unitCode",
     "Rechnungsposition 4 › Maßeinheit der Menge (BT-130)", "Invoice line 4 › Invoiced quantity unit of measure code (BT-130)"),
    ("/ubl:Invoice/cac:Foo[2]/cbc:Bar", "Foo[2]/Bar", "Foo[2]/Bar"),
    ("lines[2].net_amount", "Rechnungsposition 3 › Nettobetrag der Rechnungsposition (BT-131)",
     "Invoice line 3 › Invoice line net amount (BT-131)"),
])
def test_readable_locations(location, de, en):
    assert explain.where(location, "de") == de
    assert explain.where(location, "en") == en


def test_every_business_term_has_both_names():
    codes = [f"BT-{i}" for i in range(1, 166) if i != 4] + [f"BG-{i}" for i in range(1, 33)]
    assert all(terms.TERMS[c][0] and terms.TERMS[c][1] for c in codes)
    assert terms.label("BT-112", "de") == "Gesamtbetrag einschließlich Umsatzsteuer (BT-112)"
    assert terms.label("BT-2", "de") == "Rechnungsdatum (BT-2)"
    # every term the element maps name exists in the table
    for code in {*terms.UBL_ELEMENTS.values(), *terms.CII_ELEMENTS.values()}:
        assert terms.name(code, "de") and terms.name(code, "en"), code


@pytest.mark.parametrize("lang", ["de", "en"])
def test_cli_text_output_in_the_language_set(engine, tmp_path, monkeypatch, lang):
    from einvoice.validation.cli import validate_cmd

    monkeypatch.setenv("EINVOICE_LANGUAGE", lang)
    bad = tmp_path / "rechnung.xml"
    bad.write_bytes(DEFECTS[0][1])
    res = CliRunner().invoke(validate_cmd, ["-v", str(bad)], catch_exceptions=False)
    assert res.exit_code == 1
    out = res.output
    first = out.splitlines()[0]
    assert first.startswith("INVALID ") and ("2 Geschäftsregelfehler (BR-CO-15, BR-CO-16)" if lang == "de"
                                              else "2 business rule errors (BR-CO-15, BR-CO-16)") in first
    finding_lines = [line for line in out.splitlines() if line.startswith("    ") and not line.startswith("        ")]
    assert any("BR-CO-15" in line for line in finding_lines)
    for line in finding_lines:
        assert not foreign_words(line, lang), line
    assert ("Originaltext: " if lang == "de" else "original text: ") + "Invoice total amount with VAT (BT-112)" in out
