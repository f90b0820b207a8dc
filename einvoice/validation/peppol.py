"""Peppol BIS rules (PEPPOL-EN16931-R…) that KoSIT's XRechnung schematron carries, written natively.

Why: KoSIT merges Peppol BIS Billing 3.0 rules into its XRechnung schematron (errors in CII since
XRechnung schematron 2.2.0), so an XRechnung with an empty element (R008) or a second tax total
(R053/R054) is rejected by KoSIT. They run for documents of an XRechnung scenario only, in the
XRechnung stage, like KoSIT.

Each rule is one entry with its rule ID, KoSIT's flag and a test on the context node (XPath 1.0 or
a small Python function). Schematron semantics are kept: rules of one pattern are tried in order
and a node is checked only by the first context that matches it (e.g. an allowance with a
percentage but no base amount gets R041, not R040/R043). Implemented, for UBL and CII: every
Peppol rule of KoSIT's XRechnung 3.0.2 schematron, R001, R005, R008, R010, R020, R040, R041, R042,
R043 (CII: R043-1/-2), R044, R046, R053, R054, R055, R061, R101, R110, R111, R120 (a warning, as
in KoSIT), R121, R130 (``RULES_BY_SYNTAX``; tests/rulepacks/test_builtin_completeness.py checks
the list against the pack).

Where a rule's XPath 2.0 depends on how Saxon evaluates it, the Python does the same (compared
with Saxon in tests/validation/test_xrechnung_cases.py): R120 divides decimals to
max(18, scale difference + 18) places with ties towards zero (so 3 x (30.02 div 3) is
0.020000000000000001 off 30.00 and breaks the 0.02 slack) and rounds the summed line
allowances/charges with round(x * 100) div 100 (halves towards +infinity); R055 orders an amount
against 0 like Java's Double.compare (a negative zero "-0.00" is below 0); UBL R110/R111 compare
xs:date values (a date without time zone takes the process's local one, as Saxon's implicit time
zone). A value XPath cannot cast is a dynamic error that stops KoSIT's stylesheet; here the
assertion fails instead (only possible after a failed XSD, where KoSIT runs no Schematron).

This module must never report a Peppol rule for a document outside the XRechnung scenarios and
never look at anything but the parsed tree it is given.
"""
from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from types import MappingProxyType

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


_COMPILED: dict[str, etree.XPath] = {}


def _sel(node, path: str):
    """``node.xpath(path)``, the expression compiled once per process (the rules use a fixed set)."""
    xp = _COMPILED.get(path)
    if xp is None:
        xp = _COMPILED[path] = _x(path)
    return xp(node)


def _xp_ok(expr: str) -> Callable:
    xp = _x(f"boolean({expr})")
    return lambda node: bool(xp(node))


# ---------------------------------------------------------------- shared tests
def _doc_currency(node, path: str) -> str:
    vals = _sel(node, path)
    return "".join(vals[0].itertext()) if vals else ""


def _cii_r053(settle) -> bool:
    cur = _doc_currency(settle, "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:InvoiceCurrencyCode")
    totals = _sel(settle, "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:TaxTotalAmount")
    return sum(1 for t in totals if t.get("currencyID") == cur) <= 1


def _cii_r054(settle) -> bool:
    cur = _doc_currency(settle, "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:InvoiceCurrencyCode")
    totals = _sel(settle, "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:TaxTotalAmount")
    # XPath: @currencyID != $cur is false for a missing attribute
    other = sum(1 for t in totals if t.get("currencyID") is not None and t.get("currencyID") != cur)
    want = 1 if _sel(settle, "ram:TaxCurrencyCode") else 0
    return other == want


def _cii_r046(gross) -> bool:
    if not _sel(gross, "ram:ChargeAmount"):
        return True
    net = _dec(_doc_currency(gross, "../ram:NetPriceProductTradePrice/ram:ChargeAmount"))
    g = _dec(_doc_currency(gross, "ram:ChargeAmount"))
    allowance = _sel(gross, "ram:AppliedTradeAllowanceCharge/ram:ActualAmount")
    a = _dec("".join(allowance[0].itertext())) if allowance else Decimal(0)
    if net is None or g is None or a is None:
        return False  # KoSIT: xs:decimal() of a non-number is an error, the assertion fails
    return net == g - a


def _positive_or_absent(path: str) -> Callable:
    def ok(node) -> bool:
        q = _sel(node, path)
        if not q:
            return True
        v = _dec("".join(q[0].itertext()))
        return v is not None and v > 0
    return ok


def _r040(amount_path: str, base_path: str, pct_path: str, currency_path: str) -> Callable:
    """Allowance/charge amount = base amount x percentage / 100, within 0.02 (0.5 for HUF)."""
    def ok(ac) -> bool:
        pct, base = _sel(ac, pct_path), _sel(ac, base_path)
        if not (pct and base):
            return True
        amounts = _sel(ac, amount_path)
        amount = _dec("".join(amounts[0].itertext())) if amounts else Decimal(0)
        p, b = _dec("".join(pct[0].itertext())), _dec("".join(base[0].itertext()))
        if None in (amount, p, b):
            return False
        slack = Decimal("0.5") if _doc_currency(ac, currency_path) == "HUF" else Decimal("0.02")
        return abs(amount - b * p / 100) <= slack
    return ok


_R040_MSG = "Der Betrag eines Ab-/Zuschlags muss Grundbetrag x Prozentsatz / 100 sein (auf 0,02 genau)."


def _ubl_r046(ac) -> bool:
    if not _sel(ac, "cbc:BaseAmount"):
        return True
    price = _dec(_doc_currency(ac, "../cbc:PriceAmount"))
    base = _dec(_doc_currency(ac, "cbc:BaseAmount"))
    amount = _dec(_doc_currency(ac, "cbc:Amount"))
    return None not in (price, base, amount) and price == base - amount


def _ubl_r130(bq) -> bool:
    qty = _sel(bq, "../../cbc:InvoicedQuantity | ../../cbc:CreditedQuantity")
    if not qty:
        return True
    return bq.get("unitCode") in {q.get("unitCode") for q in qty if q.get("unitCode") is not None}


# ---------------------------------------------------------------- XPath 2.0 casts as Saxon does them
class _CastError(Exception):
    """A value XPath cannot cast (or a sequence of several where one is expected): Saxon stops with
    a dynamic error. After a passed XSD this cannot happen; otherwise the assertion counts as failed."""


_XML_WS = " \t\r\n"
_XML_WS_RUN = re.compile(r"[ \t\r\n]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DOUBLE = re.compile(r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|INF)|NaN")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DATE = re.compile(r"(-?)([0-9]{4,})-([0-9]{2})-([0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})?")


def _sval(el) -> str:
    return "".join(el.itertext())


def _nspace(node) -> str:
    """normalize-space() of a node (or of nothing: the empty string)."""
    return _XML_WS_RUN.sub(" ", _sval(node)).strip(" ") if node is not None else ""


def _one(nodes: list):
    """The single item an XPath cast or normalize-space() takes: None for none, an error for several."""
    if len(nodes) > 1:
        raise _CastError("more than one item")
    return nodes[0] if nodes else None


def _xs_decimal(text: str) -> tuple[int, int]:
    """xs:decimal(text) as (unscaled, scale) the way Saxon keeps it: a lexical with a decimal point
    loses all trailing zeros ("300.00" has scale -2), one without keeps scale 0 ("300")."""
    s = text.strip(_XML_WS)
    if not _DECIMAL.fullmatch(s):
        raise _CastError(s)
    d = Decimal(s)  # exact whatever its length (the context rounds arithmetic only)
    if "." not in s or not d:
        return int(d), 0
    sign, digits, exp = d.as_tuple()
    kept = len(digits)
    while digits[kept - 1] == 0:
        kept -= 1
    return int(Decimal((sign, digits[:kept], 0))), -(exp + len(digits) - kept)


def _dec_value(d: tuple[int, int]) -> Fraction:
    unscaled, scale = d
    return Fraction(unscaled, 10**scale) if scale >= 0 else Fraction(unscaled * 10**-scale)


def _saxon_div(a: tuple[int, int], b: tuple[int, int]) -> Fraction:
    """a div b for xs:decimal as Saxon computes it: exact to max(18, scale(a) - scale(b) + 18)
    decimal places, a tie rounded towards zero (so 3 * (1 div 3) is 0.999999999999999999)."""
    (ua, sa), (ub, sb) = a, b
    places = max(18, sa - sb + 18)
    num = ua * 10 ** (places - sa + sb)
    q, r = divmod(abs(num), abs(ub))
    if 2 * r > abs(ub):
        q += 1
    return Fraction(-q if (num < 0) != (ub < 0) else q, 10**places)


def _xpath_round2(x: Fraction) -> Fraction:
    """round(x * 10 * 10) div 100: XPath rounds a half towards positive infinity."""
    return Fraction((x * 100 + Fraction(1, 2)).__floor__(), 100)


def _order_to_0(text: str) -> int:
    """-1, 0 or 1: how Saxon orders an untyped value against the integer 0 (``amount < 0``). The
    value is cast to xs:double and compared like Java's Double.compare: a negative zero ("-0.00",
    "-0e0"; not "-0", which is read as an integer) is below 0 and not equal to it, NaN above all."""
    s = text.strip(_XML_WS)
    if not _DOUBLE.fullmatch(s):
        raise _CastError(s)
    if _INTEGER.fullmatch(s):
        return 0 if not s.lstrip("+-").strip("0") else -1 if s.startswith("-") else 1
    v = float(s)
    if v != v:
        return 1
    if v == 0:
        return -1 if math.copysign(1.0, v) < 0 else 0
    return 1 if v > 0 else -1


def _some(nodes: list, test: Callable[[int], bool]) -> bool:
    """``nodes op 0`` (general comparison): true when one node passes, tried in document order."""
    return any(test(_order_to_0(_sval(n))) for n in nodes)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy


def _xs_date(text: str) -> int:
    """xs:date(text) as the minute its day starts (UTC), for comparisons. A date without a time
    zone takes the implicit one, which Saxon takes from the local time zone of the process."""
    m = _DATE.fullmatch(text.strip(_XML_WS))
    # Saxon: no leading zero in a year of more than 4 digits, years within Java's int
    if not m or (len(m.group(2)) > 4 and m.group(2)[0] == "0") or len(m.group(2)) > 10:
        raise _CastError(text)
    year = int(m.group(2)) * (-1 if m.group(1) else 1)
    month, day, tz = int(m.group(3)), int(m.group(4)), m.group(5)
    if abs(year) > 2**31 - 1 or not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        raise _CastError(text)
    if tz is None:
        offset = time.localtime().tm_gmtoff // 60
    elif tz == "Z":
        offset = 0
    else:
        hours, minutes = int(tz[1:3]), int(tz[4:6])
        if hours > 14 or minutes > 59:
            raise _CastError(text)
        offset = (hours * 60 + minutes) * (-1 if tz[0] == "-" else 1)
    return _days_from_civil(year, month, day) * 1440 - offset


# ---------------------------------------------------------------- R055, R110/R111 (UBL), R120
def _ubl_r055(root) -> bool:
    """With a tax currency, the tax totals in tax and in document currency share their sign (0 counts as both)."""
    if not _sel(root, "cbc:TaxCurrencyCode"):
        return True
    try:
        amounts = _sel(root, "cac:TaxTotal/cbc:TaxAmount")
        tax_code = doc_code = ""
        if amounts:  # normalize-space(../../cbc:…) of each amount: the document element's codes
            tax_code, doc_code = (_nspace(c) for c in (_one(_sel(root, "cbc:TaxCurrencyCode")),
                                                        _one(_sel(root, "cbc:DocumentCurrencyCode"))))
        tax = [a for a in amounts if a.get("currencyID") == tax_code]
        doc = [a for a in amounts if a.get("currencyID") == doc_code]
        return ((_some(tax, lambda o: o <= 0) and _some(doc, lambda o: o <= 0))
                or (_some(tax, lambda o: o >= 0) and _some(doc, lambda o: o >= 0)))
    except _CastError:
        return False


_SETTLE = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"


def _cii_r055(settle) -> bool:
    """Like UBL, but only when a tax total in document currency exists, and 0 goes with the positives
    (a negative total in one currency and 0 in the other breaks it)."""
    if not _sel(settle, _SETTLE + "/ram:TaxCurrencyCode"):
        return True
    doc_codes = {_sval(n) for n in _sel(settle, _SETTLE + "/ram:InvoiceCurrencyCode")}
    tax_codes = {_sval(n) for n in _sel(settle, _SETTLE + "/ram:TaxCurrencyCode")}
    totals = _sel(settle, "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:TaxTotalAmount")
    doc = [t for t in totals if t.get("currencyID") in doc_codes]
    if not doc:
        return True
    tax = [t for t in totals if t.get("currencyID") in tax_codes]
    try:
        return ((_some(tax, lambda o: o < 0) and _some(doc, lambda o: o < 0))
                or (_some(tax, lambda o: o >= 0) and _some(doc, lambda o: o >= 0)))
    except _CastError:
        return False


_R055_MSG = ("Der Umsatzsteuergesamtbetrag (BT-110) und der Umsatzsteuergesamtbetrag in Abrechnungswährung (BT-111) "
             "müssen dasselbe Vorzeichen haben.")


def _ubl_period(bound: str, line_not_outside: Callable[[int, int], bool]) -> Callable:
    """R110/R111 in UBL: xs:date of the line date's text node against the invoice period's date."""
    def ok(node) -> bool:
        try:
            texts = [t for t in [node.text] + [c.tail for c in node] if t]  # the text nodes
            line = _xs_date(_one(texts)) if texts else None
            head = _one(_sel(node, f"../../../cac:InvoicePeriod/cbc:{bound}"))
            head_day = _xs_date(_sval(head)) if head is not None else None
        except _CastError:
            return False
        return line is not None and head_day is not None and line_not_outside(line, head_day)
    return ok


@dataclass(frozen=True)
class _LinePaths:
    """Where R120 reads a line's values (KoSIT's variables lineExtensionAmount, quantity, ...)."""
    amount: str
    quantity: Callable  # (line) -> path, UBL asks the document element
    price: str
    base_quantities: tuple[str, ...]  # the first one present and not 0, else 1
    allowance_charge: str
    indicator: str
    ac_amount: str
    currency: str


def _decimal_or(line, path: str, default: int) -> tuple[int, int]:
    node = _one(_sel(line, path))
    return (default, 0) if node is None else _xs_decimal(_sval(node))


def _ac_total(line, p: _LinePaths, indicator: str) -> Fraction:
    acs = [ac for ac in _sel(line, p.allowance_charge) if _nspace(_one(_sel(ac, p.indicator))) == indicator]
    if not acs:
        return Fraction(0)
    return _xpath_round2(sum((_dec_value(_xs_decimal(_sval(a))) for ac in acs for a in _sel(ac, p.ac_amount)), Fraction(0)))


def _r120(p: _LinePaths) -> Callable:
    """Line net amount = quantity x (net price / base quantity) + line charges - line allowances,
    within 0.02 (0.5 for HUF); the division and the rounding of the charge sums as in KoSIT's XPath."""
    def ok(line) -> bool:
        try:
            amount = _dec_value(_decimal_or(line, p.amount, 0))
            quantity = _dec_value(_decimal_or(line, p.quantity(line), 1))
            price = _decimal_or(line, p.price, 0)
            base = (1, 0)
            for path in p.base_quantities:
                node = _one(_sel(line, path))
                if node is not None and (b := _xs_decimal(_sval(node)))[0] != 0:
                    base = b
                    break
            expected = quantity * _saxon_div(price, base) + _ac_total(line, p, "true") - _ac_total(line, p, "false")
        except _CastError:
            return False
        huf = any(_sval(c) == "HUF" for c in _sel(line, p.currency))
        return abs(amount - expected) <= (Fraction(1, 2) if huf else Fraction(2, 100))
    return ok


_R120_MSG = ("Der Nettobetrag der Rechnungsposition (BT-131) muss Menge (BT-129) x Nettopreis (BT-146) / Basismenge (BT-149) "
             "zuzüglich Zuschlägen und abzüglich Nachlässen der Position entsprechen (auf 0,02 genau, 0,5 für HUF).")
_CII_LINE = _LinePaths(
    amount="ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
    quantity=lambda line: "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity",
    price="ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount",
    base_quantities=("ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:BasisQuantity",
                     "ram:SpecifiedLineTradeAgreement/ram:GrossPriceProductTradePrice/ram:BasisQuantity"),
    allowance_charge="ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeAllowanceCharge",
    indicator="ram:ChargeIndicator/udt:Indicator",
    ac_amount="ram:ActualAmount",
    currency=_SETTLE + "/ram:InvoiceCurrencyCode",
)
_UBL_LINE = _LinePaths(
    amount="cbc:LineExtensionAmount",
    # KoSIT asks whether the document is an Invoice, not which line element this is
    quantity=lambda line: "cbc:InvoicedQuantity" if _sel(line, "boolean(/ubl-invoice:Invoice)") else "cbc:CreditedQuantity",
    price="cac:Price/cbc:PriceAmount",
    base_quantities=("cac:Price/cbc:BaseQuantity",),
    allowance_charge="cac:AllowanceCharge",
    indicator="cbc:ChargeIndicator",
    ac_amount="cbc:Amount",
    currency="/*/cbc:DocumentCurrencyCode",
)


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
        PRule("PEPPOL-EN16931-R055", "fatal", _cii_r055, _R055_MSG),
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
                          for a in _sel(n, "udt:DateTimeString")
                          for b in _sel(n, "../../../../ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString")),
            "Der Beginn des Positionszeitraums muss im Rechnungszeitraum liegen."),)),
    ("//rsm:SupplyChainTradeTransaction[ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod/ram:EndDateTime]/ram:IncludedSupplyChainTradeLineItem/ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod/ram:EndDateTime",
     (PRule("PEPPOL-EN16931-R111", "fatal",
            lambda n: any("".join(a.itertext()) <= "".join(b.itertext())
                          for a in _sel(n, "udt:DateTimeString")
                          for b in _sel(n, "../../../../ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString")),
            "Das Ende des Positionszeitraums muss im Rechnungszeitraum liegen."),)),
    ("//ram:IncludedSupplyChainTradeLineItem", (
        PRule("PEPPOL-EN16931-R120", "warning", _r120(_CII_LINE), _R120_MSG),
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
        PRule("PEPPOL-EN16931-R055", "fatal", _ubl_r055, _R055_MSG),
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
    ("//ubl-invoice:Invoice[cac:InvoicePeriod/cbc:StartDate]/cac:InvoiceLine/cac:InvoicePeriod/cbc:StartDate"
     " | //ubl-creditnote:CreditNote[cac:InvoicePeriod/cbc:StartDate]/cac:CreditNoteLine/cac:InvoicePeriod/cbc:StartDate",
     (PRule("PEPPOL-EN16931-R110", "fatal", _ubl_period("StartDate", lambda line, head: line >= head),
            "Der Beginn des Positionszeitraums muss im Rechnungszeitraum liegen."),)),
    ("//ubl-invoice:Invoice[cac:InvoicePeriod/cbc:EndDate]/cac:InvoiceLine/cac:InvoicePeriod/cbc:EndDate"
     " | //ubl-creditnote:CreditNote[cac:InvoicePeriod/cbc:EndDate]/cac:CreditNoteLine/cac:InvoicePeriod/cbc:EndDate",
     (PRule("PEPPOL-EN16931-R111", "fatal", _ubl_period("EndDate", lambda line, head: line <= head),
            "Das Ende des Positionszeitraums muss im Rechnungszeitraum liegen."),)),
    ("//cac:InvoiceLine | //cac:CreditNoteLine", (
        PRule("PEPPOL-EN16931-R120", "warning", _r120(_UBL_LINE), _R120_MSG),
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

#: rule ID -> flag (fatal | warning) of every rule this module checks, per syntax ("cii", "ubl")
RULES_BY_SYNTAX = {
    key: MappingProxyType({r.id: r.flag for pats in patterns for _, rules in pats for r in rules})
    for key, patterns in (("cii", (_CII_MAIN, _CII_EMPTY, _CII_GROSS)), ("ubl", (_UBL_EMPTY, _UBL_MAIN)))
}
RULE_IDS = frozenset(RULES_BY_SYNTAX["cii"]) | frozenset(RULES_BY_SYNTAX["ubl"])


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
