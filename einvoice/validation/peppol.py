"""Peppol BIS rules (PEPPOL-EN16931-R…) that KoSIT's XRechnung schematron carries, written natively.

Why: KoSIT merges Peppol BIS Billing 3.0 rules into its XRechnung schematron (errors in CII since
XRechnung schematron 2.2.0), so an XRechnung with an empty element (R008) or a second tax total
(R053/R054) is rejected by KoSIT. They run for documents of an XRechnung scenario only, in the
XRechnung stage, like KoSIT.

Each rule is one entry with its rule ID and a test on the context node (XPath 1.0 or a small
Python function). Schematron semantics are kept: rules of one pattern are tried in order and a
node is checked only by the first context that matches it (e.g. an allowance with a percentage
but no base amount gets R041, not R040/R043). Implemented: R001, R005, R008, R010, R020, R040,
R041, R042, R043(-1/-2), R044, R046, R053, R054, R061, R101, R110/R111 (CII), R121, R130.
Not yet: R055 (sign of the tax totals), R120 (a warning: line amount arithmetic), R110/R111 for UBL.

This module must never report a Peppol rule for a document outside the XRechnung scenarios and
never look at anything but the parsed tree it is given.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from lxml import etree

from einvoice.validation.report import Finding
from einvoice.xml.namespaces import NS

_NS = dict(NS, **{"ubl-invoice": NS["ubl"], "ubl-creditnote": NS["cn"]})


def _x(expr: str) -> etree.XPath:
    return etree.XPath(expr, namespaces=_NS)


def _dec(text: str | None) -> Decimal | None:
    try:
        v = Decimal((text or "").strip())
    except (InvalidOperation, ValueError):
        return None
    return v if v.is_finite() else None


@dataclass(frozen=True)
class PRule:
    id: str
    flag: str
    ok: Callable  # (node) -> bool: True when the rule holds
    message: str


def _xp_ok(expr: str) -> Callable:
    xp = _x(f"boolean({expr})")
    return lambda node: bool(xp(node))


# ---------------------------------------------------------------- shared tests
def _doc_currency(node, path: str) -> str:
    vals = node.xpath(path, namespaces=_NS)
    return "".join(vals[0].itertext()) if vals else ""


def _cii_r053(settle) -> bool:
    cur = _doc_currency(settle, "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:InvoiceCurrencyCode")
    totals = settle.xpath("ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:TaxTotalAmount", namespaces=_NS)
    return sum(1 for t in totals if t.get("currencyID") == cur) <= 1


def _cii_r054(settle) -> bool:
    cur = _doc_currency(settle, "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:InvoiceCurrencyCode")
    totals = settle.xpath("ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:TaxTotalAmount", namespaces=_NS)
    # XPath: @currencyID != $cur is false for a missing attribute
    other = sum(1 for t in totals if t.get("currencyID") is not None and t.get("currencyID") != cur)
    want = 1 if settle.xpath("ram:TaxCurrencyCode", namespaces=_NS) else 0
    return other == want


def _cii_r046(gross) -> bool:
    if not gross.xpath("ram:ChargeAmount", namespaces=_NS):
        return True
    net = _dec(_doc_currency(gross, "../ram:NetPriceProductTradePrice/ram:ChargeAmount"))
    g = _dec(_doc_currency(gross, "ram:ChargeAmount"))
    allowance = gross.xpath("ram:AppliedTradeAllowanceCharge/ram:ActualAmount", namespaces=_NS)
    a = _dec("".join(allowance[0].itertext())) if allowance else Decimal(0)
    if net is None or g is None or a is None:
        return False  # KoSIT: xs:decimal() of a non-number is an error, the assertion fails
    return net == g - a


def _positive_or_absent(path: str) -> Callable:
    def ok(node) -> bool:
        q = node.xpath(path, namespaces=_NS)
        if not q:
            return True
        v = _dec("".join(q[0].itertext()))
        return v is not None and v > 0
    return ok


def _r040(amount_path: str, base_path: str, pct_path: str, currency_path: str) -> Callable:
    """Allowance/charge amount = base amount x percentage / 100, within 0.02 (0.5 for HUF)."""
    def ok(ac) -> bool:
        pct, base = ac.xpath(pct_path, namespaces=_NS), ac.xpath(base_path, namespaces=_NS)
        if not (pct and base):
            return True
        amounts = ac.xpath(amount_path, namespaces=_NS)
        amount = _dec("".join(amounts[0].itertext())) if amounts else Decimal(0)
        p, b = _dec("".join(pct[0].itertext())), _dec("".join(base[0].itertext()))
        if None in (amount, p, b):
            return False
        slack = Decimal("0.5") if _doc_currency(ac, currency_path) == "HUF" else Decimal("0.02")
        return abs(amount - b * p / 100) <= slack
    return ok


_R040_MSG = "Der Betrag eines Ab-/Zuschlags muss Grundbetrag x Prozentsatz / 100 sein (auf 0,02 genau)."


def _ubl_r046(ac) -> bool:
    if not ac.xpath("cbc:BaseAmount", namespaces=_NS):
        return True
    price = _dec(_doc_currency(ac, "../cbc:PriceAmount"))
    base = _dec(_doc_currency(ac, "cbc:BaseAmount"))
    amount = _dec(_doc_currency(ac, "cbc:Amount"))
    return None not in (price, base, amount) and price == base - amount


def _ubl_r130(bq) -> bool:
    qty = bq.xpath("../../cbc:InvoicedQuantity | ../../cbc:CreditedQuantity", namespaces=_NS)
    if not qty:
        return True
    return bq.get("unitCode") in {q.get("unitCode") for q in qty if q.get("unitCode") is not None}


_EMPTY_MSG = "Das Dokument darf keine leeren Elemente enthalten."
_TX = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction"

# ---------------------------------------------------------------- CII patterns (rule order as KoSIT's)
_CII_MAIN = (
    ("//rsm:ExchangedDocumentContext", (PRule("PEPPOL-EN16931-R001", "fatal", _xp_ok("ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID"),
                                              "Der Geschäftsprozess (BT-23) muss angegeben sein."),)),
    ("//ram:ApplicableHeaderTradeSettlement", (
        PRule("PEPPOL-EN16931-R005", "fatal", _xp_ok("not(ram:TaxCurrencyCode) or normalize-space(ram:TaxCurrencyCode/text()) != normalize-space(ram:InvoiceCurrencyCode/text())"),
              "Die Steuerwährung (BT-6) muss sich von der Rechnungswährung (BT-5) unterscheiden, wenn sie angegeben ist."),
        PRule("PEPPOL-EN16931-R053", "fatal", _cii_r053, "Es darf höchstens einen Steuergesamtbetrag in Rechnungswährung geben."),
        PRule("PEPPOL-EN16931-R054", "fatal", _cii_r054,
              "Ein Steuergesamtbetrag in anderer Währung darf nur (und muss genau einmal) angegeben sein, wenn eine Steuerwährung (BT-6) angegeben ist."),
    )),
    ("//ram:BuyerTradeParty", (PRule("PEPPOL-EN16931-R010", "fatal", _xp_ok("ram:URIUniversalCommunication/ram:URIID"),
                                     "Die elektronische Adresse des Käufers (BT-49) muss angegeben sein."),)),
    ("//ram:SellerTradeParty", (PRule("PEPPOL-EN16931-R020", "fatal", _xp_ok("ram:URIUniversalCommunication/ram:URIID"),
                                      "Die elektronische Adresse des Verkäufers (BT-34) muss angegeben sein."),)),
    ("//ram:SpecifiedTradeAllowanceCharge[ram:CalculationPercent and not(ram:BasisAmount)]",
     (PRule("PEPPOL-EN16931-R041", "fatal", lambda n: False, "Zu einem Prozentsatz eines Ab-/Zuschlags muss der Grundbetrag angegeben sein."),)),
    ("//ram:SpecifiedTradeAllowanceCharge[not(ram:CalculationPercent) and ram:BasisAmount]",
     (PRule("PEPPOL-EN16931-R042", "fatal", lambda n: False, "Zu einem Grundbetrag eines Ab-/Zuschlags muss der Prozentsatz angegeben sein."),)),
    ("//ram:SpecifiedTradeAllowanceCharge", (
        PRule("PEPPOL-EN16931-R040", "fatal", _r040("ram:ActualAmount", "ram:BasisAmount", "ram:CalculationPercent",
                                                   "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:InvoiceCurrencyCode"),
              _R040_MSG),
        PRule("PEPPOL-EN16931-R043-1", "fatal", _xp_ok("normalize-space(ram:ChargeIndicator/udt:Indicator/text()) = 'true' or normalize-space(ram:ChargeIndicator/udt:Indicator/text()) = 'false'"),
              "Der Ab-/Zuschlagsindikator muss 'true' oder 'false' sein."),)),
    ("//ram:AppliedTradeAllowanceCharge", (
        PRule("PEPPOL-EN16931-R043-2", "fatal", _xp_ok("normalize-space(ram:ChargeIndicator/udt:Indicator/text()) = 'true' or normalize-space(ram:ChargeIndicator/udt:Indicator/text()) = 'false'"),
              "Der Ab-/Zuschlagsindikator muss 'true' oder 'false' sein."),)),
    ("//ram:SpecifiedTradeSettlementPaymentMeans[normalize-space(ram:TypeCode) = '49' or normalize-space(ram:TypeCode) = '59']",
     (PRule("PEPPOL-EN16931-R061", "fatal", _xp_ok("../ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID"),
            "Bei Lastschrift muss die Mandatsreferenz (BT-89) angegeben sein."),)),
    ("//rsm:SupplyChainTradeTransaction[ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod/ram:StartDateTime]/ram:IncludedSupplyChainTradeLineItem/ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod/ram:StartDateTime",
     (PRule("PEPPOL-EN16931-R110", "fatal",
            lambda n: any("".join(a.itertext()) >= "".join(b.itertext())
                          for a in n.xpath("udt:DateTimeString", namespaces=_NS)
                          for b in n.xpath("../../../../ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString", namespaces=_NS)),
            "Der Beginn des Positionszeitraums muss im Rechnungszeitraum liegen."),)),
    ("//rsm:SupplyChainTradeTransaction[ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod/ram:EndDateTime]/ram:IncludedSupplyChainTradeLineItem/ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod/ram:EndDateTime",
     (PRule("PEPPOL-EN16931-R111", "fatal",
            lambda n: any("".join(a.itertext()) <= "".join(b.itertext())
                          for a in n.xpath("udt:DateTimeString", namespaces=_NS)
                          for b in n.xpath("../../../../ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString", namespaces=_NS)),
            "Das Ende des Positionszeitraums muss im Rechnungszeitraum liegen."),)),
    ("//ram:IncludedSupplyChainTradeLineItem", (
        PRule("PEPPOL-EN16931-R101", "fatal", _xp_ok("not(ram:SpecifiedLineTradeSettlement/ram:AdditionalReferencedDocument) or ram:SpecifiedLineTradeSettlement/ram:AdditionalReferencedDocument/ram:TypeCode='130'"),
              "Ein Dokumentverweis in einer Position darf nur die Objektkennung (Typ 130) sein."),)),
    ("//ram:NetPriceProductTradePrice | //ram:GrossPriceProductTradePrice",
     (PRule("PEPPOL-EN16931-R121", "fatal", _positive_or_absent("ram:BasisQuantity"), "Die Basismenge des Preises muss größer als null sein."),)),
    ("//ram:NetPriceProductTradePrice/ram:BasisQuantity[@unitCode] | //ram:GrossPriceProductTradePrice/ram:BasisQuantity[@unitCode]",
     (PRule("PEPPOL-EN16931-R130", "fatal", _xp_ok("@unitCode = ../../../ram:SpecifiedLineTradeDelivery/ram:BilledQuantity/@unitCode"),
            "Die Einheit der Preisbasismenge muss der Einheit der Rechnungsmenge entsprechen."),)),
)
_CII_EMPTY = (("//*[not(name() = 'ram:ApplicableHeaderTradeDelivery') and not(*) and not(normalize-space())]",
               (PRule("PEPPOL-EN16931-R008", "fatal", lambda n: False, _EMPTY_MSG),)),)
_CII_GROSS = ((_TX + "/ram:IncludedSupplyChainTradeLineItem/ram:SpecifiedLineTradeAgreement/ram:GrossPriceProductTradePrice", (
    PRule("PEPPOL-EN16931-R044", "fatal", _xp_ok("not(ram:AppliedTradeAllowanceCharge/ram:ActualAmount) or ram:AppliedTradeAllowanceCharge/ram:ChargeIndicator/udt:Indicator = 'false'"),
          "Zuschläge auf Preisebene sind nicht erlaubt (nur 'false')."),
    PRule("PEPPOL-EN16931-R046", "fatal", _cii_r046, "Der Nettopreis muss dem Bruttopreis abzüglich des Rabatts entsprechen."),
)),)

_UBL_ROOT = "/ubl-invoice:Invoice | /ubl-creditnote:CreditNote"
_UBL_AC = ("/ubl-invoice:Invoice/cac:AllowanceCharge | /ubl-invoice:Invoice/cac:InvoiceLine/cac:AllowanceCharge"
           " | /ubl-creditnote:CreditNote/cac:AllowanceCharge | /ubl-creditnote:CreditNote/cac:CreditNoteLine/cac:AllowanceCharge")


def _ac_sel(pred: str) -> str:
    return " | ".join(f"{p}[{pred}]" for p in _UBL_AC.split(" | "))


_UBL_EMPTY = (("//*[not(*) and not(normalize-space())]", (PRule("PEPPOL-EN16931-R008", "fatal", lambda n: False, _EMPTY_MSG),)),)
_UBL_MAIN = (
    (_UBL_ROOT, (
        PRule("PEPPOL-EN16931-R001", "fatal", _xp_ok("cbc:ProfileID"), "Der Geschäftsprozess (BT-23) muss angegeben sein."),
        PRule("PEPPOL-EN16931-R053", "fatal", _xp_ok("count(cac:TaxTotal[cac:TaxSubtotal]) = 1"),
              "Es muss genau einen Steuergesamtbetrag mit Aufschlüsselung geben."),
        PRule("PEPPOL-EN16931-R054", "fatal", _xp_ok("(cbc:TaxCurrencyCode and count(cac:TaxTotal[not(cac:TaxSubtotal)]) = 1) or (not(cbc:TaxCurrencyCode) and count(cac:TaxTotal[not(cac:TaxSubtotal)]) = 0)"),
              "Ein Steuergesamtbetrag ohne Aufschlüsselung darf nur (und muss genau einmal) angegeben sein, wenn eine Steuerwährung (BT-6) angegeben ist."),
    )),
    ("//cbc:TaxCurrencyCode", (PRule("PEPPOL-EN16931-R005", "fatal", _xp_ok("not(normalize-space(text()) = normalize-space(../cbc:DocumentCurrencyCode/text()))"),
                                     "Die Steuerwährung (BT-6) muss sich von der Rechnungswährung (BT-5) unterscheiden."),)),
    ("//cac:AccountingCustomerParty/cac:Party", (PRule("PEPPOL-EN16931-R010", "fatal", _xp_ok("cbc:EndpointID"),
                                                       "Die elektronische Adresse des Käufers (BT-49) muss angegeben sein."),)),
    ("//cac:AccountingSupplierParty/cac:Party", (PRule("PEPPOL-EN16931-R020", "fatal", _xp_ok("cbc:EndpointID"),
                                                       "Die elektronische Adresse des Verkäufers (BT-34) muss angegeben sein."),)),
    (_ac_sel("cbc:MultiplierFactorNumeric and not(cbc:BaseAmount)"),
     (PRule("PEPPOL-EN16931-R041", "fatal", lambda n: False, "Zu einem Prozentsatz eines Ab-/Zuschlags muss der Grundbetrag angegeben sein."),)),
    (_ac_sel("not(cbc:MultiplierFactorNumeric) and cbc:BaseAmount"),
     (PRule("PEPPOL-EN16931-R042", "fatal", lambda n: False, "Zu einem Grundbetrag eines Ab-/Zuschlags muss der Prozentsatz angegeben sein."),)),
    (_UBL_AC, (PRule("PEPPOL-EN16931-R040", "fatal", _r040("cbc:Amount", "cbc:BaseAmount", "cbc:MultiplierFactorNumeric", "/*/cbc:DocumentCurrencyCode"), _R040_MSG),
               PRule("PEPPOL-EN16931-R043", "fatal", _xp_ok("normalize-space(cbc:ChargeIndicator/text()) = 'true' or normalize-space(cbc:ChargeIndicator/text()) = 'false'"),
                     "Der Ab-/Zuschlagsindikator muss 'true' oder 'false' sein."),)),
    ("//cac:PaymentMeans[normalize-space(cbc:PaymentMeansCode) = '49' or normalize-space(cbc:PaymentMeansCode) = '59']",
     (PRule("PEPPOL-EN16931-R061", "fatal", _xp_ok("cac:PaymentMandate/cbc:ID"), "Bei Lastschrift muss die Mandatsreferenz (BT-89) angegeben sein."),)),
    ("//cac:InvoiceLine | //cac:CreditNoteLine", (
        PRule("PEPPOL-EN16931-R121", "fatal", _positive_or_absent("cac:Price/cbc:BaseQuantity"), "Die Basismenge des Preises muss größer als null sein."),
        PRule("PEPPOL-EN16931-R101", "fatal", _xp_ok("not(cac:DocumentReference) or cac:DocumentReference/cbc:DocumentTypeCode='130'"),
              "Ein Dokumentverweis in einer Position darf nur die Objektkennung (Typ 130) sein."),
    )),
    ("//cac:Price/cac:AllowanceCharge", (
        PRule("PEPPOL-EN16931-R044", "fatal", _xp_ok("normalize-space(cbc:ChargeIndicator) = 'false'"), "Zuschläge auf Preisebene sind nicht erlaubt (nur 'false')."),
        PRule("PEPPOL-EN16931-R046", "fatal", _ubl_r046, "Der Nettopreis muss dem Bruttopreis abzüglich des Rabatts entsprechen."),
    )),
    ("//cac:Price/cbc:BaseQuantity[@unitCode]", (PRule("PEPPOL-EN16931-R130", "fatal", _ubl_r130,
                                                      "Die Einheit der Preisbasismenge muss der Einheit der Rechnungsmenge entsprechen."),)),
)


def _compile(patterns):
    return [[(_x(sel), rules) for sel, rules in pattern] for pattern in patterns]


_PATTERNS = {
    "cii": _compile((_CII_MAIN, _CII_EMPTY, _CII_GROSS)),
    "ubl": _compile((_UBL_EMPTY, _UBL_MAIN)),
}

RULE_IDS = frozenset(r.id for pats in (_CII_MAIN, _CII_EMPTY, _CII_GROSS, _UBL_EMPTY, _UBL_MAIN) for _, rules in pats for r in rules)


def check(root: etree._Element, syntax: str) -> list[Finding]:
    """Peppol rules of KoSIT's XRechnung schematron on a UBL or CII document (stage xrechnung)."""
    key = "cii" if syntax == "cii" else "ubl" if syntax in ("ubl-invoice", "ubl-creditnote") else None
    if key is None:
        return []
    out: list[Finding] = []
    for pattern in _PATTERNS[key]:
        seen: set = set()
        for select, rules in pattern:
            for node in select(root):
                if not isinstance(node, etree._Element) or node in seen:
                    continue
                seen.add(node)
                for rule in rules:
                    if not rule.ok(node):
                        sev = "fatal" if rule.flag == "fatal" else "warning"
                        out.append(Finding(rule.id, sev, f"[{rule.id}] {rule.message}", node.getroottree().getpath(node), "xrechnung"))
    return out
