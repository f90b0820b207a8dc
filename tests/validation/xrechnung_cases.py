"""Invoices that break, or just satisfy, rules of KoSIT's XRechnung schematron the built-in engine
copies: the Peppol rules R055, R110/R111 and R120, and BR-TMP-2, BR-DE-TMP-32 and the CVD rules.

Each case is an invoice built by ``devtools.samples`` (UBL Invoice, UBL CreditNote, CII) and
mutated here at the boundary of one rule: the sign of the tax totals (R055: 0 against a negative
total, "-0.00", a missing tax-currency total), the line period starting or ending exactly on the
invoice period's dates (R110/R111, also with time zones in UBL), the line amount arithmetic (R120:
exactly 0.02 off, Saxon's 18-place decimal division, the rounding of the summed line allowances
and charges, HUF's 0.5), URLs with and without scheme (BR-TMP-2), invoices without any delivery
date or period (BR-DE-TMP-32), Clean Vehicles Directive invoices missing one piece each (CVD).
``expect`` says what KoSIT's XPath gives for each rule (None: it depends on the process's time
zone, only the agreement with the pack is checked).

Used by tests/validation/test_xrechnung_cases.py (built-in engine) and
tests/rulepacks/test_xrechnung_cases_differential.py (built-in engine against KoSIT's pack).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from devtools.samples import SUPPLIERS, Line, SampleInvoice, build_cii, build_ubl
from einvoice.xml.namespaces import NS

R055, R110, R111, R120 = (f"PEPPOL-EN16931-{r}" for r in ("R055", "R110", "R111", "R120"))
CVD_RULES = ("BR-DE-CVD-01", "BR-DE-CVD-02", "BR-DE-CVD-03", "BR-DE-CVD-04", "BR-DE-CVD-05", "BR-DE-CVD-06-a",
             "BR-DE-CVD-06-b", "BR-TMP-CVD-01")
#: the built-in severity of each rule (KoSIT's flag; R120 and BR-TMP-2 are warnings, BR-DE-TMP-32 information)
SEVERITY = {R055: "fatal", R110: "fatal", R111: "fatal", R120: "warning", "BR-TMP-2": "warning", "BR-DE-TMP-32": "info",
            **{r: "error" for r in CVD_RULES}}
KINDS = ("ubl", "ubl-cn", "cii")


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[], bytes]
    expect: dict[str, bool | None]  # rule -> fires


def document(kind: str, *, quantity: str = "3", price: str = "10.00", delivered: bool = True) -> etree._Element:
    """One line of 3 x 10.00 EUR at 19 % (tax 5.70); a negative quantity makes every total negative."""
    inv = SampleInvoice(
        number="PD-2026-0001", issue_date=dt.date(2026, 3, 2), due_date=dt.date(2026, 4, 1),
        supplier=SUPPLIERS[0], buyer_reference="05999000-66-70", order_reference="TBA-2026-0001",
        type_code="381" if kind == "ubl-cn" else "380", delivery_date=dt.date(2026, 2, 27) if delivered else None,
        lines=(Line("Asphalt einbauen", Decimal(quantity), "C62", Decimal(price), Decimal("19")),),
    )
    return build_cii(inv) if kind == "cii" else build_ubl(inv)


def _frag(xml: str) -> list[etree._Element]:
    decl = " ".join(f'xmlns:{p}="{u}"' for p, u in NS.items())
    return list(etree.fromstring(f"<w {decl}>{xml}</w>"))


def _one(root, path: str) -> etree._Element:
    nodes = root.xpath(path, namespaces=NS)
    assert len(nodes) == 1, f"{path} matched {len(nodes)} nodes"
    return nodes[0]


def _after(root, path: str, xml: str) -> None:
    node = _one(root, path)
    for el in reversed(_frag(xml)):
        node.addnext(el)


def _before(root, path: str, xml: str) -> None:
    node = _one(root, path)
    for el in _frag(xml):
        node.addprevious(el)


def _text(root, path: str, value: str) -> None:
    _one(root, path).text = value


def _is_cii(root) -> bool:
    return etree.QName(root).localname == "CrossIndustryInvoice"


def _bytes(root) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------- R055: tax currency (BT-6) and BT-111
def _tax_currency(root, amount: str | None, *, code: bool = True) -> None:
    if _is_cii(root):
        if code:
            _before(root, "//ram:ApplicableHeaderTradeSettlement/ram:InvoiceCurrencyCode", "<ram:TaxCurrencyCode>USD</ram:TaxCurrencyCode>")
        if amount is not None:
            _after(root, "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:TaxTotalAmount",
                   f'<ram:TaxTotalAmount currencyID="USD">{amount}</ram:TaxTotalAmount>')
    else:
        if code:
            _after(root, "/*/cbc:DocumentCurrencyCode", "<cbc:TaxCurrencyCode>USD</cbc:TaxCurrencyCode>")
        if amount is not None:
            _after(root, "/*/cac:TaxTotal", f'<cac:TaxTotal><cbc:TaxAmount currencyID="USD">{amount}</cbc:TaxAmount></cac:TaxTotal>')


_SIGN = {"+": {}, "0": {"price": "0.00"}, "-": {"quantity": "-3"}}
# (sign of the tax total in EUR, BT-111 in USD or None for missing, fires in UBL, fires in CII):
# UBL asks "both <= 0 or both >= 0", CII "both < 0 or both >= 0", and only when a EUR total exists
R055_CASES = [
    ("+", "6.30", False, False),
    ("+", "-6.30", True, True),
    ("+", "0.00", False, False),
    ("-", "0.00", False, True),
    ("0", "-6.30", False, True),
    ("-", "-6.30", False, False),
    ("-", "6.30", True, True),
    # Saxon orders a negative zero below 0 (Java's Double.compare); "-0" is read as an integer
    ("-", "-0.00", False, False),
    ("+", "-0.00", True, True),
    ("+", "-0", False, False),
    ("+", None, True, True),  # no BT-111 at all (R054 and BR-53 fire too)
]


def _r055_cases():
    for kind in KINDS:
        for sign, amount, ubl_fires, cii_fires in R055_CASES:
            def build(kind=kind, sign=sign, amount=amount):
                root = document(kind, **_SIGN[sign])
                _tax_currency(root, amount)
                return _bytes(root)
            yield Case(f"R055-{kind}-eur{sign}-usd{amount}", build, {R055: cii_fires if kind == "cii" else ubl_fires})

        def no_code(kind=kind):  # opposite signs, but without BT-6 the rule does not apply
            root = document(kind, quantity="-3")
            _tax_currency(root, "6.30", code=False)
            return _bytes(root)
        yield Case(f"R055-{kind}-no-tax-currency", no_code, {R055: False})


# ---------------------------------------------------------------- R110/R111: line period within invoice period
def _period_xml(tags: tuple[str, str], dates, fmt) -> str:
    return "".join(f"<{t}>{fmt(d)}</{t}>" for t, d in zip(tags, dates) if d is not None)


def _cii_date(d: str) -> str:
    return f'<udt:DateTimeString format="102">{d.replace("-", "")}</udt:DateTimeString>'


def _periods(root, head, line) -> None:
    """Invoice period ``head`` and line period ``line`` (start, end), each None for none."""
    if _is_cii(root):
        tags = ("ram:StartDateTime", "ram:EndDateTime")
        if head is not None:
            _after(root, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax[last()]",
                   f"<ram:BillingSpecifiedPeriod>{_period_xml(tags, head, _cii_date)}</ram:BillingSpecifiedPeriod>")
        if line is not None:
            _after(root, "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax",
                   f"<ram:BillingSpecifiedPeriod>{_period_xml(tags, line, _cii_date)}</ram:BillingSpecifiedPeriod>")
    else:
        tags = ("cbc:StartDate", "cbc:EndDate")
        if head is not None:
            _before(root, "/*/cac:OrderReference", f"<cac:InvoicePeriod>{_period_xml(tags, head, str)}</cac:InvoicePeriod>")
        if line is not None:
            _after(root, "(/*/cac:InvoiceLine | /*/cac:CreditNoteLine)/cbc:LineExtensionAmount",
                   f"<cac:InvoicePeriod>{_period_xml(tags, line, str)}</cac:InvoicePeriod>")


FEB = ("2026-02-01", "2026-02-28")
UBL_KINDS = ("ubl", "ubl-cn")
# (name, invoice period, line period, fires R110, fires R111, syntaxes)
PERIOD_CASES = [
    ("same-days", FEB, FEB, False, False, KINDS),
    ("inside", FEB, ("2026-02-02", "2026-02-27"), False, False, KINDS),
    ("starts-a-day-early", FEB, ("2026-01-31", "2026-02-28"), True, False, KINDS),
    ("ends-a-day-late", FEB, ("2026-02-01", "2026-03-01"), False, True, KINDS),
    ("both-outside", FEB, ("2026-01-01", "2026-03-31"), True, True, KINDS),
    ("only-line-start", FEB, ("2026-01-31", None), True, False, KINDS),
    ("no-invoice-period", None, ("2026-01-01", "2026-03-31"), False, False, KINDS),
    ("invoice-period-end-only", (None, "2026-02-28"), ("2026-01-01", "2026-02-28"), False, False, KINDS),
    ("invoice-period-start-only", ("2026-02-01", None), ("2026-02-01", "2026-03-31"), False, False, KINDS),
    # UBL compares xs:date values: a time zone moves the day's first instant (CII compares strings)
    ("line-day-starts-earlier", ("2026-02-01Z", "2026-02-28Z"), ("2026-02-01+01:00", "2026-02-28+01:00"), True, False, UBL_KINDS),
    ("line-day-starts-later", ("2026-02-01+01:00", "2026-02-28+01:00"), ("2026-02-01Z", "2026-02-28Z"), False, True, UBL_KINDS),
    # a date without zone takes the implicit one (the process's), for the pack's Saxon as for us
    ("implicit-zone", FEB, ("2026-02-01+14:00", "2026-02-28-14:00"), None, None, UBL_KINDS),
]


def _period_cases():
    for name, head, line, r110, r111, kinds in PERIOD_CASES:
        for kind in kinds:
            def build(kind=kind, head=head, line=line):
                root = document(kind)
                _periods(root, head, line)
                return _bytes(root)
            yield Case(f"R110-R111-{kind}-{name}", build, {R110: r110, R111: r111})


# ---------------------------------------------------------------- R120: line net amount arithmetic
def _price(root, amount: str, base: str | None = None) -> None:
    if _is_cii(root):
        _text(root, "//ram:NetPriceProductTradePrice/ram:ChargeAmount", amount)
        if base is not None:
            _after(root, "//ram:NetPriceProductTradePrice/ram:ChargeAmount", f'<ram:BasisQuantity unitCode="C62">{base}</ram:BasisQuantity>')
    else:
        _text(root, "//cac:Price/cbc:PriceAmount", amount)
        if base is not None:
            _after(root, "//cac:Price/cbc:PriceAmount", f'<cbc:BaseQuantity unitCode="C62">{base}</cbc:BaseQuantity>')


def _quantity(root, value: str) -> None:
    _text(root, "//ram:BilledQuantity | //cbc:InvoicedQuantity | //cbc:CreditedQuantity", value)


def _line_ac(root, charge: bool, amount: str) -> None:
    ind, code = ("true", "ZZZ") if charge else ("false", "95")
    if _is_cii(root):
        _before(root, "//ram:SpecifiedTradeSettlementLineMonetarySummation",
                f"<ram:SpecifiedTradeAllowanceCharge><ram:ChargeIndicator><udt:Indicator>{ind}</udt:Indicator></ram:ChargeIndicator>"
                f"<ram:ActualAmount>{amount}</ram:ActualAmount><ram:ReasonCode>{code}</ram:ReasonCode>"
                "<ram:Reason>Test</ram:Reason></ram:SpecifiedTradeAllowanceCharge>")
    else:
        _before(root, "(/*/cac:InvoiceLine | /*/cac:CreditNoteLine)/cac:Item",
                f"<cac:AllowanceCharge><cbc:ChargeIndicator>{ind}</cbc:ChargeIndicator>"
                f"<cbc:AllowanceChargeReasonCode>{code}</cbc:AllowanceChargeReasonCode><cbc:AllowanceChargeReason>Test</cbc:AllowanceChargeReason>"
                f'<cbc:Amount currencyID="EUR">{amount}</cbc:Amount></cac:AllowanceCharge>')


def _gross_basis(root) -> None:
    """CII: no net base quantity, the gross price's base quantity (3) divides the net price."""
    _text(root, "//ram:NetPriceProductTradePrice/ram:ChargeAmount", "30.00")
    _before(root, "//ram:NetPriceProductTradePrice",
            '<ram:GrossPriceProductTradePrice><ram:ChargeAmount>30.00</ram:ChargeAmount>'
            '<ram:BasisQuantity unitCode="C62">3</ram:BasisQuantity></ram:GrossPriceProductTradePrice>')


def _huf(root) -> etree._Element:
    return etree.fromstring(_bytes(root).replace(b"EUR", b"HUF"))


# The line amount (BT-131) stays 3 x 10.00 = 30.00; price, base quantity, quantity and line
# allowances/charges change (EN 16931 computes nothing from them). (name, mutation, fires)
R120_CASES = [
    ("exact", lambda r: None, False),
    ("0.0198-off", lambda r: _price(r, "10.0066"), False),
    ("0.0201-off", lambda r: _price(r, "10.0067"), True),
    ("exactly-0.02-off", lambda r: (_quantity(r, "2"), _price(r, "15.01")), False),
    ("0.0202-off", lambda r: (_quantity(r, "2"), _price(r, "15.0101")), True),
    ("base-quantity", lambda r: _price(r, "30.00", "3"), False),
    ("base-quantity-with-zeros", lambda r: _price(r, "30.000", "3.000"), False),
    ("base-quantity-0.01-off", lambda r: _price(r, "30.01", "3"), False),
    # 30.02 div 3 is 10.006666666666666667 in Saxon: 3 times that is 0.020000000000000001 off
    ("base-quantity-division-above-0.02", lambda r: _price(r, "30.02", "3"), True),
    ("base-quantity-division-below-0.02", lambda r: _price(r, "29.98", "3"), True),
    ("base-quantity-0", lambda r: _price(r, "10.00", "0"), False),  # divides by 1 (R121 fires)
    ("allowance-0.0249-rounds-to-0.02", lambda r: _line_ac(r, False, "0.0249"), False),
    ("allowance-0.025-rounds-to-0.03", lambda r: _line_ac(r, False, "0.025"), True),
    ("charge-minus-0.025-rounds-to-minus-0.02", lambda r: _line_ac(r, True, "-0.025"), False),
    ("two-allowances-rounded-as-a-sum", lambda r: (_line_ac(r, False, "0.014"), _line_ac(r, False, "0.014")), True),
    ("allowance-and-charge", lambda r: (_price(r, "11.00"), _line_ac(r, False, "3.50"), _line_ac(r, True, "0.50")), False),
    ("allowance-missing", lambda r: _price(r, "11.00"), True),
]
HUF_CASES = [("huf-0.48-off", "10.16", False), ("huf-0.51-off", "10.17", True)]


def _r120_cases():
    for kind in KINDS:
        for name, mutation, fires in R120_CASES:
            def build(kind=kind, mutation=mutation):
                root = document(kind)
                mutation(root)
                return _bytes(root)
            yield Case(f"R120-{kind}-{name}", build, {R120: fires})
        for name, price, fires in HUF_CASES:
            def huf(kind=kind, price=price):
                root = document(kind)
                _price(root, price)
                return _bytes(_huf(root))
            yield Case(f"R120-{kind}-{name}", huf, {R120: fires})

    def gross():
        root = document("cii")
        _gross_basis(root)
        return _bytes(root)
    yield Case("R120-cii-gross-base-quantity", gross, {R120: False})


# ---------------------------------------------------------------- BR-TMP-2: external document location (BT-124)
def _external_reference(root, uri: str) -> None:
    if _is_cii(root):
        _after(root, "//ram:BuyerOrderReferencedDocument",
               f"<ram:AdditionalReferencedDocument><ram:IssuerAssignedID>Anlage-1</ram:IssuerAssignedID><ram:URIID>{uri}</ram:URIID>"
               "<ram:TypeCode>916</ram:TypeCode></ram:AdditionalReferencedDocument>")
    else:
        _before(root, "/*/cac:AccountingSupplierParty",
                "<cac:AdditionalDocumentReference><cbc:ID>Anlage-1</cbc:ID><cac:Attachment><cac:ExternalReference>"
                f"<cbc:URI>{uri}</cbc:URI></cac:ExternalReference></cac:Attachment></cac:AdditionalDocumentReference>")


# (URI, fires): KoSIT's XR-URL-REGEX ^([a-zA-Z])([a-zA-Z0-9+.-])+:.* wants two scheme characters
URL_CASES = [("https://example.org/anlage.pdf", False), ("urn:isbn:3-16-148410-0", False), ("x1+.-:y", False),
             ("example.org/anlage.pdf", True), ("a:b", True), (" https://example.org", True), ("1a:b", True)]


def _url_cases():
    for kind in KINDS:
        for uri, fires in URL_CASES:
            def build(kind=kind, uri=uri):
                root = document(kind)
                _external_reference(root, uri)
                return _bytes(root)
            yield Case(f"BR-TMP-2-{kind}-{uri.strip()}", build, {"BR-TMP-2": fires})


# ---------------------------------------------------------------- BR-DE-TMP-32: a delivery date or period
def _date_cases():
    for kind in KINDS:
        for name, delivered, head, line, fires in (
            ("delivery-date", True, None, None, False),
            ("nothing", False, None, None, True),
            ("invoice-period", False, FEB, None, False),
            ("line-period", False, None, FEB, False),
        ):
            def build(kind=kind, delivered=delivered, head=head, line=line):
                root = document(kind, delivered=delivered)
                _periods(root, head, line)
                return _bytes(root)
            yield Case(f"BR-DE-TMP-32-{kind}-{name}", build, {"BR-DE-TMP-32": fires})


# ---------------------------------------------------------------- CVD: Clean Vehicles Directive invoices
XR_CVD = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0#compliant#urn:xeinkauf.de:kosit:xrechnung:cvd_0.9"


def _cvd(root, *, contract=True, tender=True, scheme="CVD", category="M1", cva=("clean",), schemes=1) -> None:
    """A CVD invoice: BT-12, BT-17 and a vehicle line (classification scheme CVD, attribute 'cva')."""
    if _is_cii(root):
        _text(root, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", XR_CVD)
        refs = ("<ram:ContractReferencedDocument><ram:IssuerAssignedID>V-2026-17</ram:IssuerAssignedID></ram:ContractReferencedDocument>"
                if contract else "")
        refs += ("<ram:AdditionalReferencedDocument><ram:IssuerAssignedID>LOS-3</ram:IssuerAssignedID><ram:TypeCode>50</ram:TypeCode>"
                 "</ram:AdditionalReferencedDocument>" if tender else "")
        if refs:
            _after(root, "//ram:BuyerOrderReferencedDocument", refs)
        props = "".join(f"<ram:ApplicableProductCharacteristic><ram:Description>cva</ram:Description><ram:Value>{v}</ram:Value>"
                        "</ram:ApplicableProductCharacteristic>" for v in cva)
        classes = "".join(f'<ram:DesignatedProductClassification><ram:ClassCode listID="{scheme}">{category}</ram:ClassCode>'
                          "</ram:DesignatedProductClassification>" for _ in range(schemes))
        _after(root, "//ram:SpecifiedTradeProduct/ram:Name", props + classes)
        return
    _text(root, "/*/cbc:CustomizationID", XR_CVD)
    contract_ref = "<cac:ContractDocumentReference><cbc:ID>V-2026-17</cbc:ID></cac:ContractDocumentReference>" if contract else ""
    tender_ref = "<cac:OriginatorDocumentReference><cbc:ID>LOS-3</cbc:ID></cac:OriginatorDocumentReference>" if tender else ""
    credit = etree.QName(root).localname == "CreditNote"  # the schemas order the two differently
    _before(root, "/*/cac:AccountingSupplierParty", contract_ref + tender_ref if credit else tender_ref + contract_ref)
    _before(root, "//cac:Item/cac:ClassifiedTaxCategory", "".join(
        f'<cac:CommodityClassification><cbc:ItemClassificationCode listID="{scheme}">{category}</cbc:ItemClassificationCode>'
        "</cac:CommodityClassification>" for _ in range(schemes)))
    _after(root, "//cac:Item/cac:ClassifiedTaxCategory", "".join(
        f"<cac:AdditionalItemProperty><cbc:Name>cva</cbc:Name><cbc:Value>{v}</cbc:Value></cac:AdditionalItemProperty>" for v in cva))


# (name, _cvd arguments, rules that fire; the other CVD rules must not)
CVD_CASES = [
    ("complete", {}, ()),
    ("no-contract", {"contract": False}, ("BR-DE-CVD-01",)),
    ("no-tender", {"tender": False}, ("BR-DE-CVD-02",)),
    ("no-vehicle-line", {"schemes": 0, "cva": ()}, ("BR-DE-CVD-03",)),
    ("no-cva", {"cva": ()}, ("BR-DE-CVD-03", "BR-DE-CVD-06-a")),
    ("no-classification", {"schemes": 0}, ("BR-DE-CVD-03", "BR-DE-CVD-06-b")),
    ("unknown-category", {"category": "L3e"}, ("BR-DE-CVD-04",)),
    ("unknown-cva", {"cva": ("diesel",)}, ("BR-DE-CVD-05",)),
    ("two-cva", {"cva": ("clean", "other")}, ("BR-DE-CVD-06-a",)),
    ("two-classifications", {"schemes": 2}, ("BR-DE-CVD-06-b",)),
    ("scheme-outside-7143", {"scheme": "QQ"}, ("BR-DE-CVD-03", "BR-DE-CVD-06-b", "BR-TMP-CVD-01")),
    ("scheme-from-7143", {"scheme": "STI"}, ("BR-DE-CVD-03", "BR-DE-CVD-06-b")),
]


def _cvd_cases():
    for kind in KINDS:
        for name, args, fire in CVD_CASES:
            def build(kind=kind, args=args):
                root = document(kind)
                _cvd(root, **args)
                return _bytes(root)
            yield Case(f"CVD-{kind}-{name}", build, {r: r in fire for r in CVD_RULES})

        def not_cvd(kind=kind):  # the same broken vehicle line in a plain XRechnung: no CVD rule applies
            root = document(kind)
            _cvd(root, contract=False, category="L3e", cva=("diesel", "x"))
            ident = "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID" if _is_cii(root) else "/*/cbc:CustomizationID"
            _text(root, ident, "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0")
            return _bytes(root)
        yield Case(f"CVD-{kind}-plain-xrechnung", not_cvd, {r: False for r in CVD_RULES})


CASES: list[Case] = [*_r055_cases(), *_period_cases(), *_r120_cases(), *_url_cases(), *_date_cases(), *_cvd_cases()]
