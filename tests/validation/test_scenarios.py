"""Scenario choice, custom levels and the rules KoSIT raises, on our own generated invoices."""
from __future__ import annotations

from tests.validation.fixtures import CII, UBL, XR, mutate

EN = "urn:cen.eu:en16931:2017"
EXT = XR + "#conformant#urn:xeinkauf.de:kosit:extension:xrechnung_3.0"


def _sev(rep, rule):
    return {f.severity for f in rep.findings if f.rule == rule}


def _with_id(data: bytes, ident: str, syntax: str) -> bytes:
    path = "//cbc:CustomizationID" if syntax == "ubl" else "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"
    return mutate(data, ("text", path, ident))


def test_unit_code_is_a_warning_for_xrechnung_and_fatal_for_plain_en16931(engine):
    bad_unit = CII.replace(b'unitCode="H87"', b'unitCode="QQQQ"')
    xr = engine.validate(bad_unit, "xr.xml")
    assert xr.scenario == "EN16931 XRechnung (CII)"
    assert _sev(xr, "BR-CL-23") == {"warning"} and xr.valid is True, xr.summary()
    plain = engine.validate(_with_id(bad_unit, EN, "cii"), "en.xml")
    assert plain.scenario == "EN16931 (CII)"
    assert _sev(plain, "BR-CL-23") == {"fatal"} and plain.valid is False


def test_second_payment_terms_are_an_error_for_xrechnung_cii_only(engine):
    terms = "<ram:SpecifiedTradePaymentTerms><ram:Description>Zahlbar sofort</ram:Description></ram:SpecifiedTradePaymentTerms>"
    data = mutate(CII, ("before", "//ram:SpecifiedTradeSettlementHeaderMonetarySummation", terms))
    xr = engine.validate(data, "xr.xml")
    assert _sev(xr, "CII-SR-452") == {"error"} and xr.valid is False, xr.summary()
    plain = engine.validate(_with_id(data, EN, "cii"), "en.xml")
    assert _sev(plain, "CII-SR-452") == {"warning"}


def test_extension_turns_scheme_code_rules_into_information(engine):
    data = CII.replace(b'<ram:URIID schemeID="EM">rechnung@', b'<ram:URIID schemeID="XX">rechnung@')
    xr = engine.validate(data, "xr.xml")
    assert _sev(xr, "BR-CL-25") == {"fatal"} and xr.valid is False
    ext = engine.validate(_with_id(data, EXT, "cii"), "ext.xml")
    assert ext.scenario == "EN16931 XRechnung Extension (CII)"
    assert _sev(ext, "BR-CL-25") == {"info"}


def test_empty_element_is_a_peppol_error_in_xrechnung_only(engine):
    data = CII.replace(b"<ram:Content>Lieferung laut Bestellung</ram:Content>", b"<ram:Content>Lieferung</ram:Content><ram:SubjectCode/>")
    data = data.replace(b"<ram:SubjectCode/><ram:SubjectCode>ADU</ram:SubjectCode>", b"<ram:SubjectCode> </ram:SubjectCode>")
    xr = engine.validate(data, "xr.xml")
    assert "PEPPOL-EN16931-R008" in {f.rule for f in xr.findings if f.blocking} and xr.valid is False
    plain = engine.validate(_with_id(data, EN, "cii"), "en.xml")
    assert "PEPPOL-EN16931-R008" not in {f.rule for f in plain.findings if f.blocking}


def test_payee_equal_to_seller_breaks_br_17_in_cii(engine):
    payee = "<ram:PayeeTradeParty><ram:Name>Lieferant GmbH</ram:Name></ram:PayeeTradeParty>"
    data = mutate(CII, ("before", "//ram:SpecifiedTradeSettlementPaymentMeans", payee))
    rep = engine.validate(data, "payee.xml")
    assert "BR-17" in {f.rule for f in rep.findings if f.blocking}, rep.summary()
    other = mutate(CII, ("before", "//ram:SpecifiedTradeSettlementPaymentMeans",
                         "<ram:PayeeTradeParty><ram:Name>Factoring AG</ram:Name></ram:PayeeTradeParty>"))
    assert "BR-17" not in {f.rule for f in engine.validate(other, "payee2.xml").findings}


def test_attribute_cen_forbids_is_fatal_for_xrechnung_cii(engine):
    data = CII.replace(b"<ram:ID>RE-2026-0001</ram:ID>", b'<ram:ID schemeID="0088">RE-2026-0001</ram:ID>')
    rep = engine.validate(data, "attr.xml")
    assert rep.stages["xsd"] == "passed"
    assert "CII-DT-005" in {f.rule for f in rep.findings if f.blocking} and rep.valid is False


def test_peppol_identifier_is_judged_by_en16931_with_a_note(engine):
    data = _with_id(UBL, "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0", "ubl")
    rep = engine.validate(data, "peppol.xml")
    assert rep.scenario is None and rep.valid is True, rep.summary()
    assert _sev(rep, "KOSIT-SCENARIO") == {"info"}


def test_allowance_amount_must_match_base_and_percentage_in_xrechnung(engine):
    allowance = ("<ram:SpecifiedTradeAllowanceCharge><ram:ChargeIndicator><udt:Indicator>false</udt:Indicator></ram:ChargeIndicator>"
                 "<ram:CalculationPercent>10</ram:CalculationPercent><ram:BasisAmount>100.00</ram:BasisAmount>"
                 "<ram:ActualAmount>{}</ram:ActualAmount><ram:CategoryTradeTax><ram:TypeCode>VAT</ram:TypeCode>"
                 "<ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>19</ram:RateApplicablePercent></ram:CategoryTradeTax>"
                 "</ram:SpecifiedTradeAllowanceCharge>")
    for amount, fires in (("10.00", False), ("10.02", False), ("12.00", True)):
        data = mutate(CII, ("before", "//ram:SpecifiedTradePaymentTerms", allowance.format(amount)))
        rep = engine.validate(data, "ac.xml")
        assert ("PEPPOL-EN16931-R040" in {f.rule for f in rep.findings if f.blocking}) is fires, (amount, rep.summary())
