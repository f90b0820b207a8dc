"""XRechnung CIUS rules (BR-DE-*, BR-TMP-*, the CVD rules BR-DE-CVD-*, and BR-DEX-* for the
extension) implemented natively, one small function per rule, with KoSIT's severity (error,
warning, or info for BR-DE-TMP-32).

Each rule function gets a ``Doc`` (parsed root + syntax) and returns its violations. Semantics
follow KoSIT's XRechnung 3.0 Schematron: the same elements, the same XPath string semantics
(``normalize-space``, existence tests, regular expressions searched rather than anchored unless
the expression anchors them), written in our own code so the rules run without an XSLT pass.

The rules work on any UBL or CII document; the engine decides whether they count (documents
that declare XRechnung) or are only reported. This module must never read anything but the
parsed tree it is given, and never normalise the text it checks beyond what the rule says
(BR-DE-18 depends on exact line breaks).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Callable, Iterable

from lxml import etree

from einvoice.model import skonto as _skonto
from einvoice.xml.namespaces import NS

UBL = ("ubl-invoice", "ubl-creditnote")


@dataclass(frozen=True)
class Violation:
    rule: str
    severity: str  # error | warning
    message: str
    location: str


_XPATHS: dict[str, etree.XPath] = {}


@dataclass
class Doc:
    root: etree._Element
    syntax: str  # ubl-invoice | ubl-creditnote | cii

    @property
    def ubl(self) -> bool:
        return self.syntax in UBL

    def x(self, el, path: str) -> list:
        xp = _XPATHS.get(path)
        if xp is None:  # compiled once per process; the rules use a fixed set of paths
            xp = _XPATHS[path] = etree.XPath(path, namespaces=NS)
        return xp(el)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    meaning: str
    check: Callable[[Doc], Iterable[str | tuple[str, str]]]  # yields locations (or (location, detail))


RULES: list[Rule] = []


def rule(rule_id: str, severity: str, meaning: str):
    def deco(fn):
        RULES.append(Rule(rule_id, severity, meaning, fn))
        return fn

    return deco


# ---------------------------------------------------------------- XPath-like helpers
_WS = re.compile(r"[ \t\r\n]+")


def nspace(text: str | None) -> str:
    """XPath normalize-space()."""
    return _WS.sub(" ", text or "").strip(" ")


def sval(el) -> str:
    """XPath string value of an element (all descendant text)."""
    if el is None:
        return ""
    if isinstance(el, str):
        return el
    return "".join(el.itertext())


def nonempty(nodes) -> bool:
    """``path[boolean(normalize-space(.))]`` is non-empty."""
    return any(nspace(sval(n)) for n in nodes)


def first_text(nodes) -> str:
    return sval(nodes[0]) if nodes else ""


def _num_eq(nodes, values: tuple[float, ...]) -> bool:
    """General comparison of untyped nodes with numbers, as ``ram:TypeCode = (30,58)``."""
    for n in nodes:
        try:
            if float(nspace(sval(n))) in values:
                return True
        except ValueError:
            continue
    return False


def _path(el) -> str:
    return el.getroottree().getpath(el) if el is not None else "/"


# ---------------------------------------------------------------- paths per syntax
def _seller(d: Doc):
    return d.x(d.root, "cac:AccountingSupplierParty" if d.ubl else "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty")


def _settlement(d: Doc):
    return d.x(d.root, "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement")


def _seller_address(d: Doc):
    if d.ubl:
        return d.x(d.root, "cac:AccountingSupplierParty/cac:Party/cac:PostalAddress")
    return d.x(d.root, "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty/ram:PostalTradeAddress")


def _seller_contacts(d: Doc):
    if d.ubl:
        return d.x(d.root, "cac:AccountingSupplierParty/cac:Party/cac:Contact")
    return d.x(d.root, "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty/ram:DefinedTradeContact")


def _buyer_address(d: Doc):
    if d.ubl:
        return d.x(d.root, "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress")
    return d.x(d.root, "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:BuyerTradeParty/ram:PostalTradeAddress")


def _deliver_to_address(d: Doc):
    if d.ubl:
        return d.x(d.root, "cac:Delivery/cac:DeliveryLocation/cac:Address")
    return d.x(d.root, "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeDelivery/ram:ShipToTradeParty/ram:PostalTradeAddress")


def _city(d: Doc, addr):
    return d.x(addr, "cbc:CityName" if d.ubl else "ram:CityName")


def _postcode(d: Doc, addr):
    return d.x(addr, "cbc:PostalZone" if d.ubl else "ram:PostcodeCode")


def _payment_means(d: Doc):
    if d.ubl:
        return d.x(d.root, "cac:PaymentMeans")
    return d.x(d.root, "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeSettlementPaymentMeans")


def _pm_code_in(d: Doc, pm, codes: tuple[str, ...]) -> bool:
    if d.ubl:
        # normalize-space(cbc:PaymentMeansCode) = ('30','58'): string comparison
        return nspace(first_text(d.x(pm, "cbc:PaymentMeansCode"))) in codes
    # ram:TypeCode = (30,58): numeric comparison in the KoSIT CII rules
    return _num_eq(d.x(pm, "ram:TypeCode"), tuple(float(c) for c in codes))


def _type_code_nodes(d: Doc):
    if d.ubl:
        return d.x(d.root, "cbc:InvoiceTypeCode | cbc:CreditNoteTypeCode")
    return d.x(d.root, "rsm:ExchangedDocument/ram:TypeCode")


# CII direct debit (BG-19) has no own element: it exists when any of BT-89, BT-90, BT-91 exists.
_CII_BT89 = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID"
_CII_BT90 = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:CreditorReferenceID"
_CII_BT91 = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeSettlementPaymentMeans/ram:PayerPartyDebtorFinancialAccount/ram:IBANID"


# ---------------------------------------------------------------- regular expressions
# The BR-DE-18 line expression is owned by einvoice.model.skonto (the same parser the payment run uses).
SKONTO_REGEX = _skonto.LINE
EMAIL_REGEX = re.compile(
    r"^[a-zA-Z0-9!#\$%&\"*+/=?^_`{|}~-]+(\.[a-zA-Z0-9!#\$%&\"*+/=?^_`{|}~-]+)*@([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$"
)
TELEPHONE_REGEX = re.compile(r".*([0-9].*){3,}.*")
XR_CIUS_ID = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
XR_EXTENSION_ID = XR_CIUS_ID + "#conformant#urn:xeinkauf.de:kosit:extension:xrechnung_3.0"
XR_CVD_ID = XR_CIUS_ID + "#compliant#urn:xeinkauf.de:kosit:xrechnung:cvd_0.9"
VAT_CODES_NEEDING_SELLER_TAX_ID = ("S", "Z", "E", "AE", "K", "G", "L", "M")
INVOICE_TYPE_CODES = ("326", "380", "384", "389", "381", "875", "876", "877")
_IBAN_SHAPE = re.compile(r"^[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{0,30}$")
_XML_WS = re.compile(r"[ \n\r\t\s]")


def iban_ok(value: str | None) -> bool:
    """IBAN test exactly as the XRechnung rules do it (BR-DE-19/20): whitespace removed, shape
    checked, ISO 13616 MOD 97 over the rearranged characters."""
    v = nspace(_XML_WS.sub("", value or ""))
    if not _IBAN_SHAPE.search(v):
        return False
    rearranged = v[4:] + v[:2].upper() + v[2:4]
    digits = "".join(str(ord(c) - 55) if ord(c) > 64 else str(ord(c) - 48) for c in rearranged)
    return int(digits) % 97 == 1


# ================================================================ the rules
@rule("BR-DE-1", "error", 'An invoice must contain payment instructions (BG-16).')
def br_de_1(d: Doc):
    if not _payment_means(d):
        yield _path(d.root)


@rule("BR-DE-2", "error", 'The group "SELLER CONTACT" (BG-6) must be given.')
def br_de_2(d: Doc):
    for s in _seller(d):
        if not d.x(s, "cac:Party/cac:Contact" if d.ubl else "ram:DefinedTradeContact"):
            yield _path(s)


@rule("BR-DE-3", "error", 'The seller city (BT-37) must be given.')
def br_de_3(d: Doc):
    for a in _seller_address(d):
        if not nonempty(_city(d, a)):
            yield _path(a)


@rule("BR-DE-4", "error", 'The seller post code (BT-38) must be given.')
def br_de_4(d: Doc):
    for a in _seller_address(d):
        if not nonempty(_postcode(d, a)):
            yield _path(a)


@rule("BR-DE-5", "error", 'The seller contact point (BT-41) must be given.')
def br_de_5(d: Doc):
    for c in _seller_contacts(d):
        if not nonempty(d.x(c, "cbc:Name" if d.ubl else "ram:PersonName | ram:DepartmentName")):
            yield _path(c)


@rule("BR-DE-6", "error", 'The seller contact telephone number (BT-42) must be given.')
def br_de_6(d: Doc):
    for c in _seller_contacts(d):
        if not nonempty(d.x(c, "cbc:Telephone" if d.ubl else "ram:TelephoneUniversalCommunication/ram:CompleteNumber")):
            yield _path(c)


@rule("BR-DE-7", "error", 'The seller contact e-mail address (BT-43) must be given.')
def br_de_7(d: Doc):
    for c in _seller_contacts(d):
        if not nonempty(d.x(c, "cbc:ElectronicMail" if d.ubl else "ram:EmailURIUniversalCommunication/ram:URIID")):
            yield _path(c)


@rule("BR-DE-8", "error", 'The buyer city (BT-52) must be given.')
def br_de_8(d: Doc):
    for a in _buyer_address(d):
        if not nonempty(_city(d, a)):
            yield _path(a)


@rule("BR-DE-9", "error", 'The buyer post code (BT-53) must be given.')
def br_de_9(d: Doc):
    for a in _buyer_address(d):
        if not nonempty(_postcode(d, a)):
            yield _path(a)


@rule("BR-DE-10", "error", 'The deliver-to city (BT-77) must be given when a deliver-to address (BG-15) is given.')
def br_de_10(d: Doc):
    for a in _deliver_to_address(d):
        if not nonempty(_city(d, a)):
            yield _path(a)


@rule("BR-DE-11", "error", 'The deliver-to post code (BT-78) must be given when a deliver-to address (BG-15) is given.')
def br_de_11(d: Doc):
    for a in _deliver_to_address(d):
        if not nonempty(_postcode(d, a)):
            yield _path(a)


@rule("BR-DE-14", "error", 'Each VAT breakdown (BG-23) must give the VAT category rate (BT-119).')
def br_de_14(d: Doc):
    if d.ubl:
        for st in d.x(d.root, "cac:TaxTotal/cac:TaxSubtotal"):
            if not nonempty(d.x(st, "cac:TaxCategory/cbc:Percent")):
                yield _path(st)
    else:
        for t in d.x(d.root, "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax"):
            if not nonempty(d.x(t, "ram:RateApplicablePercent")):
                yield _path(t)


@rule("BR-DE-15", "error", 'The buyer reference (BT-10, Leitweg-ID) must be given.')
def br_de_15(d: Doc):
    path = "cbc:BuyerReference" if d.ubl else "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:BuyerReference"
    if not nonempty(d.x(d.root, path)):
        yield _path(d.root)


@rule(
    "BR-DE-16",
    "error",
    'When VAT category codes S, Z, E, AE, K, G, L or M are used, the seller VAT identifier (BT-31), the seller tax '
    'registration identifier (BT-32) or a seller tax representative (BG-11) must be given.',
)
def br_de_16(d: Doc):
    codes = VAT_CODES_NEEDING_SELLER_TAX_ID
    if d.ubl:
        if d.syntax == "ubl-invoice":
            bt95 = d.x(d.root, "cac:AllowanceCharge[cbc:ChargeIndicator = 'false']/cac:TaxCategory/cbc:ID[following-sibling::cac:TaxScheme/cbc:ID = 'VAT']")
        else:
            bt95 = d.x(d.root, "cac:AllowanceCharge[cbc:ChargeIndicator = 'false']/cac:TaxCategory/cbc:ID")
        bt102 = d.x(d.root, "cac:AllowanceCharge[cbc:ChargeIndicator = 'true']/cac:TaxCategory/cbc:ID")
        bt151 = d.x(d.root, "(cac:InvoiceLine | cac:CreditNoteLine)/cac:Item/cac:ClassifiedTaxCategory/cbc:ID")
        used = any(sval(n) in codes for n in bt95 + bt102 + bt151)
        has_id = d.x(d.root, "cac:TaxRepresentativeParty") or nonempty(
            d.x(d.root, "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID")
        )
    else:
        tx = "rsm:SupplyChainTradeTransaction/"
        line_tax = tx + "ram:IncludedSupplyChainTradeLineItem/ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/"
        ac_tax = tx + "ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeAllowanceCharge/ram:CategoryTradeTax"
        lines_used = any(sval(n) == "VAT" for n in d.x(d.root, line_tax + "ram:TypeCode")) and any(
            sval(n) in codes for n in d.x(d.root, line_tax + "ram:CategoryCode")
        )
        # as in the KoSIT rule, the allowance/charge part compares the whole CategoryTradeTax
        # element's string value with 'VAT'
        ac_used = any(sval(n) == "VAT" for n in d.x(d.root, ac_tax)) and any(
            sval(n) in codes for n in d.x(d.root, ac_tax + "/ram:CategoryCode")
        )
        used = lines_used or ac_used
        has_id = nonempty(
            d.x(
                d.root,
                tx + "ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty/ram:SpecifiedTaxRegistration/"
                "ram:ID[@schemeID='VA' or @schemeID='VAT' or @schemeID='FC']",
            )
        ) or bool(d.x(d.root, tx + "ram:ApplicableHeaderTradeAgreement/ram:SellerTaxRepresentativeTradeParty"))
    if used and not has_id:
        yield _path(d.root)


@rule("BR-DE-17", "warning", 'The invoice type code (BT-3) should be one of 326, 380, 384, 389, 381, 875, 876, 877.')
def br_de_17(d: Doc):
    if not any(nspace(sval(n)) in INVOICE_TYPE_CODES for n in _type_code_nodes(d)):
        yield _path(d.root)


def skonto_problems(note: str) -> list[str]:
    """Problems with the Skonto lines of one BT-20 text (empty list: BR-DE-18 satisfied)."""
    lines = [ln for ln in re.split(r"\r?\n", note) if nspace(ln).startswith("#")] if note else []
    problems = []
    for ln in lines:
        if _skonto.parse_line(nspace(ln)) is None:
            problems.append(f"line {nspace(ln)!r} does not have the form #SKONTO#TAGE=n#PROZENT=n.nn#[BASISBETRAG=n.nn#]")
    if lines:
        tail = re.split(r"#.+#", note)[-1]
        if not re.match(r"^\s*\n", tail):
            problems.append("the last Skonto line is not followed by a line break")
    return problems


@rule(
    "BR-DE-18",
    "error",
    'Skonto lines in payment terms (BT-20) must read #SKONTO#TAGE=n#PROZENT=n.nn# (optionally BASISBETRAG=n.nn#), '
    'upper case, no extra whitespace, each followed by a line break.',
)
def br_de_18(d: Doc):
    if d.ubl:
        notes = d.x(d.root, "cac:PaymentTerms/cbc:Note[1]")
    else:
        notes = d.x(d.root, "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradePaymentTerms/ram:Description[1]")
    for n in notes:
        probs = skonto_problems(sval(n))
        if probs:
            yield _path(n), "; ".join(probs)


def _iban_rule(d: Doc, code: str, ubl_path: str, cii_path: str):
    for pm in _payment_means(d):
        in_context = _pm_code_in(d, pm, ("30", "58") if code == "58" else ("59",))
        if not in_context:
            continue
        if d.ubl:
            is_code = nspace(first_text(d.x(pm, "cbc:PaymentMeansCode"))) == code
            nodes = d.x(pm, ubl_path)
        else:
            is_code = any(sval(n) == code for n in d.x(pm, "ram:TypeCode"))
            nodes = d.x(pm, cii_path)
        if is_code and not iban_ok(first_text(nodes)):
            yield _path(pm)


@rule("BR-DE-19", "warning", 'The payment account identifier (BT-84) should be a correct IBAN when payment means code 58 (SEPA credit transfer) is used.')
def br_de_19(d: Doc):
    yield from _iban_rule(d, "58", "cac:PayeeFinancialAccount/cbc:ID", "ram:PayeePartyCreditorFinancialAccount/ram:IBANID")


@rule("BR-DE-20", "warning", 'The debited account identifier (BT-91) should be a correct IBAN when payment means code 59 (SEPA direct debit) is used.')
def br_de_20(d: Doc):
    yield from _iban_rule(d, "59", "cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID", "ram:PayerPartyDebtorFinancialAccount/ram:IBANID")


@rule("BR-DE-21", "warning", 'The specification identifier (BT-24) should be the XRechnung identifier.')
def br_de_21(d: Doc):
    ok = (XR_CIUS_ID, XR_EXTENSION_ID, XR_CVD_ID)
    if d.ubl:
        if not any(sval(n) in ok for n in d.x(d.root, "cbc:CustomizationID")):
            yield _path(d.root)
    else:
        for ctx in d.x(d.root, "rsm:ExchangedDocumentContext"):
            if not any(sval(n) in ok for n in d.x(ctx, "ram:GuidelineSpecifiedDocumentContextParameter/ram:ID")):
                yield _path(ctx)


@rule("BR-DE-22", "error", 'The file names of embedded attachments (BT-125) must be unique.')
def br_de_22(d: Doc):
    if d.ubl:
        refs = d.x(d.root, "cac:AdditionalDocumentReference")
        fn = "cac:Attachment/cbc:EmbeddedDocumentBinaryObject/@filename"
    else:
        refs = d.x(d.root, "//ram:AdditionalReferencedDocument")
        fn = "ram:AttachmentBinaryObject/@filename"
    for ref in refs:
        names = set(d.x(ref, fn))
        earlier = set(d.x(ref, "preceding-sibling::" + ("cac:AdditionalDocumentReference/" if d.ubl else "ram:AdditionalReferencedDocument/") + fn))
        if names & earlier:
            yield _path(ref), f"file name {sorted(names & earlier)[0]!r} is used twice"


def _cii_dd_present(d: Doc, pm) -> bool:
    return bool(d.x(d.root, _CII_BT89) or d.x(d.root, _CII_BT90) or d.x(pm, "ram:PayerPartyDebtorFinancialAccount/ram:IBANID"))


@rule("BR-DE-23-a", "error", 'With a credit-transfer payment means code (30, 58) the credit transfer group (BG-17) must be given.')
def br_de_23_a(d: Doc):
    for pm in _payment_means(d):
        if _pm_code_in(d, pm, ("30", "58")) and not d.x(pm, "cac:PayeeFinancialAccount" if d.ubl else "ram:PayeePartyCreditorFinancialAccount"):
            yield _path(pm)


@rule("BR-DE-23-b", "error", 'With a credit-transfer payment means code (30, 58) no card (BG-18) or direct debit (BG-19) data may be given.')
def br_de_23_b(d: Doc):
    for pm in _payment_means(d):
        if not _pm_code_in(d, pm, ("30", "58")):
            continue
        if d.ubl:
            bad = d.x(pm, "cac:CardAccount") or d.x(pm, "cac:PaymentMandate")
        else:
            bad = d.x(pm, "ram:ApplicableTradeSettlementFinancialCard") or _cii_dd_present(d, pm)
        if bad:
            yield _path(pm)


@rule("BR-DE-24-a", "error", 'With a card payment means code (48, 54, 55) the payment card group (BG-18) must be given.')
def br_de_24_a(d: Doc):
    for pm in _payment_means(d):
        if _pm_code_in(d, pm, ("48", "54", "55")) and not d.x(pm, "cac:CardAccount" if d.ubl else "ram:ApplicableTradeSettlementFinancialCard"):
            yield _path(pm)


@rule("BR-DE-24-b", "error", 'With a card payment means code (48, 54, 55) no credit transfer (BG-17) or direct debit (BG-19) data may be given.')
def br_de_24_b(d: Doc):
    for pm in _payment_means(d):
        if not _pm_code_in(d, pm, ("48", "54", "55")):
            continue
        if d.ubl:
            bad = d.x(pm, "cac:PayeeFinancialAccount") or d.x(pm, "cac:PaymentMandate")
        else:
            bad = (
                d.x(pm, "ram:PayeePartyCreditorFinancialAccount")
                or d.x(pm, "ram:PayeeSpecifiedCreditorFinancialInstitution")
                or _cii_dd_present(d, pm)
            )
        if bad:
            yield _path(pm)


@rule("BR-DE-25-a", "error", 'With the direct-debit payment means code (59) the direct debit group (BG-19) must be given.')
def br_de_25_a(d: Doc):
    for pm in _payment_means(d):
        if not _pm_code_in(d, pm, ("59",)):
            continue
        ok = d.x(pm, "cac:PaymentMandate") if d.ubl else _cii_dd_present(d, pm)
        if not ok:
            yield _path(pm)


@rule("BR-DE-25-b", "error", 'With the direct-debit payment means code (59) no credit transfer (BG-17) or card (BG-18) data may be given.')
def br_de_25_b(d: Doc):
    for pm in _payment_means(d):
        if not _pm_code_in(d, pm, ("59",)):
            continue
        if d.ubl:
            bad = d.x(pm, "cac:PayeeFinancialAccount") or d.x(pm, "cac:CardAccount")
        else:
            # BT-86 (creditor's bank) belongs to BG-17 too
            bad = (
                d.x(pm, "ram:PayeePartyCreditorFinancialAccount")
                or d.x(pm, "ram:PayeeSpecifiedCreditorFinancialInstitution")
                or d.x(pm, "ram:ApplicableTradeSettlementFinancialCard")
            )
        if bad:
            yield _path(pm)


@rule("BR-DE-26", "warning", 'A corrected invoice (type code 384) should reference the preceding invoice (BG-3).')
def br_de_26(d: Doc):
    if d.ubl:
        corrected = any(nspace(sval(n)) == "384" for n in _type_code_nodes(d))
        ref = d.x(d.root, "cac:BillingReference/cac:InvoiceDocumentReference")
    else:
        corrected = _num_eq(_type_code_nodes(d), (384.0,))
        ref = d.x(d.root, "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:InvoiceReferencedDocument")
    if corrected and not ref:
        yield _path(d.root)


@rule("BR-DE-27", "warning", 'The seller contact telephone number (BT-42) should contain at least three digits.')
def br_de_27(d: Doc):
    for c in _seller_contacts(d):
        nodes = d.x(c, "cbc:Telephone" if d.ubl else "ram:TelephoneUniversalCommunication/ram:CompleteNumber")
        if not TELEPHONE_REGEX.search(nspace(first_text(nodes))):
            yield _path(c)


@rule(
    "BR-DE-28",
    "warning",
    'The seller contact e-mail address (BT-43) should contain exactly one @, not at the start or end, and no leading or trailing dot.',
)
def br_de_28(d: Doc):
    for c in _seller_contacts(d):
        nodes = d.x(c, "cbc:ElectronicMail" if d.ubl else "ram:EmailURIUniversalCommunication/ram:URIID")
        if not EMAIL_REGEX.search(nspace(first_text(nodes))):
            yield _path(c)


@rule("BR-DE-30", "error", 'With direct debit (BG-19) the bank assigned creditor identifier (BT-90) must be given.')
def br_de_30(d: Doc):
    if d.ubl:
        if d.x(d.root, "cac:PaymentMeans/cac:PaymentMandate") and not d.x(
            d.root,
            "cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='SEPA'] | cac:PayeeParty/cac:PartyIdentification/cbc:ID[@schemeID='SEPA']",
        ):
            yield _path(d.root)
    else:
        # KoSIT: ((BT-89 or BT-91) and BT-90) or BG-19 absent
        bt89, bt90, bt91 = d.x(d.root, _CII_BT89), d.x(d.root, _CII_BT90), d.x(d.root, _CII_BT91)
        if (bt89 or bt90 or bt91) and not ((bt89 or bt91) and bt90):
            yield _path(d.root)


@rule("BR-DE-31", "error", 'With direct debit (BG-19) the debited account identifier (BT-91) must be given.')
def br_de_31(d: Doc):
    if d.ubl:
        if d.x(d.root, "cac:PaymentMeans/cac:PaymentMandate") and not d.x(
            d.root, "cac:PaymentMeans/cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID"
        ):
            yield _path(d.root)
    else:
        # KoSIT: ((BT-89 or BT-90) and BT-91) or BG-19 absent
        bt89, bt90, bt91 = d.x(d.root, _CII_BT89), d.x(d.root, _CII_BT90), d.x(d.root, _CII_BT91)
        if (bt89 or bt90 or bt91) and not ((bt89 or bt90) and bt91):
            yield _path(d.root)


# ---------------------------------------------------------------- XRechnung extension (BR-DEX)
# Only the extension rule that changes a verdict on its own is implemented natively: BR-DEX-09
# replaces BR-CO-16 for invoices that declare the XRechnung extension (third-party payments).
_LA = "ram:SpecifiedLineTradeAgreement/"
_BR_TMP_3 = etree.XPath(
    f"not({_LA}ram:GrossPriceProductTradePrice/ram:BasisQuantity and {_LA}ram:NetPriceProductTradePrice/ram:BasisQuantity)"
    f" or ({_LA}ram:GrossPriceProductTradePrice/ram:BasisQuantity = {_LA}ram:NetPriceProductTradePrice/ram:BasisQuantity"
    f" and (not({_LA}ram:NetPriceProductTradePrice/ram:BasisQuantity/@unitCode and {_LA}ram:GrossPriceProductTradePrice/ram:BasisQuantity/@unitCode)"
    f" or {_LA}ram:GrossPriceProductTradePrice/ram:BasisQuantity/@unitCode = {_LA}ram:NetPriceProductTradePrice/ram:BasisQuantity/@unitCode))",
    namespaces=NS,
)


@rule("BR-TMP-3", "error", 'If the item price base quantity (BT-149) is given for both the gross and the net price (CII), both must be equal, with equal units.')
def br_tmp_3(d: Doc):
    if d.ubl:
        return
    for line in d.x(d.root, "rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem"):
        if not _BR_TMP_3(line):
            yield _path(line)


_URL_REGEX = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]+:")  # KoSIT's XR-URL-REGEX, searched from the start


@rule("BR-TMP-2", "warning", 'The external document location (BT-124) must be an absolute URL with a valid scheme.')
def br_tmp_2(d: Doc):
    if d.ubl:
        for ref in d.x(d.root, "/ubl:Invoice/cac:AdditionalDocumentReference/cac:Attachment/cac:ExternalReference"
                              " | /cn:CreditNote/cac:AdditionalDocumentReference/cac:Attachment/cac:ExternalReference"):
            uri = d.x(ref, "cbc:URI")  # matches((), …) is false: an ExternalReference without URI breaks it
            if not (uri and _URL_REGEX.match(sval(uri[0]))):
                yield _path(ref)
    else:
        for ref in d.x(d.root, "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
                              "/ram:AdditionalReferencedDocument[ram:TypeCode = '916']"):
            uri = d.x(ref, "ram:URIID")
            if uri and not _URL_REGEX.match(sval(uri[0])):
                yield _path(ref)


@rule("BR-DE-TMP-32", "info", 'An invoice should give the delivery date (BT-72), the invoicing period (BG-14) or a line period (BG-26) in every line.')
def br_de_tmp_32(d: Doc):
    if d.ubl:
        contexts, dated = d.x(d.root, "/ubl:Invoice | /cn:CreditNote"), "cac:Delivery/cbc:ActualDeliveryDate or cac:InvoicePeriod"
        lines, line_period = "cac:InvoiceLine | cac:CreditNoteLine", "cac:InvoicePeriod"
    else:
        contexts = d.x(d.root, "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction")
        dated = ("ram:ApplicableHeaderTradeDelivery/ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime"
                 " or ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod")
        lines, line_period = "ram:IncludedSupplyChainTradeLineItem", "ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod"
    for ctx in contexts:
        if not (d.x(ctx, f"boolean({dated})") or all(d.x(line, line_period) for line in d.x(ctx, lines))):
            yield _path(ctx)


# ---------------------------------------------------------------- XRechnung CVD (Clean Vehicles Directive)
# KoSIT's CVD pattern applies when the specification identifier's text node is the CVD one
# ($isCVD), whichever scenario chose the document.
CVD_VEHICLE_CATEGORIES = ("M1", "M2", "M3", "N1", "N2", "N3")
CVA_CODES = ("clean", "zero-emission", "other")


def _cvd(d: Doc) -> bool:
    ids = d.x(d.root, "/ubl:Invoice/cbc:CustomizationID/text() | /cn:CreditNote/cbc:CustomizationID/text()" if d.ubl else
              "/rsm:CrossIndustryInvoice/rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text()")
    return XR_CVD_ID in ids


def _cvd_items(d: Doc):
    """CVD documents' line items (UBL cac:Item, CII ram:SpecifiedTradeProduct)."""
    if not _cvd(d):
        return []
    if d.ubl:
        return d.x(d.root, "/ubl:Invoice/cac:InvoiceLine/cac:Item | /cn:CreditNote/cac:CreditNoteLine/cac:Item")
    return d.x(d.root, "rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem/ram:SpecifiedTradeProduct")


def _classification(d: Doc) -> str:
    return "cac:CommodityClassification/cbc:ItemClassificationCode" if d.ubl else "ram:DesignatedProductClassification/ram:ClassCode"


def _cva(d: Doc) -> str:
    return "cac:AdditionalItemProperty[cbc:Name = 'cva']" if d.ubl else "ram:ApplicableProductCharacteristic[ram:Description = 'cva']"


def _cvd_header(d: Doc):
    if not _cvd(d):
        return []
    return [d.root] if d.ubl else d.x(d.root, "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement")


@rule("BR-DE-CVD-01", "error", 'A CVD invoice must give the contract reference (BT-12).')
def br_de_cvd_01(d: Doc):
    for ctx in _cvd_header(d):
        if not nonempty(d.x(ctx, "cac:ContractDocumentReference/cbc:ID" if d.ubl else "ram:ContractReferencedDocument/ram:IssuerAssignedID")):
            yield _path(ctx)


@rule("BR-DE-CVD-02", "error", 'A CVD invoice must give the tender or lot reference (BT-17).')
def br_de_cvd_02(d: Doc):
    for ctx in _cvd_header(d):
        if d.ubl:
            given = nonempty(d.x(ctx, "cac:OriginatorDocumentReference/cbc:ID"))
        else:
            given = any(nspace(first_text(d.x(ref, "ram:TypeCode"))) == "50" and nspace(first_text(d.x(ref, "ram:IssuerAssignedID")))
                        for ref in d.x(ctx, "ram:AdditionalReferencedDocument"))
        if not given:
            yield _path(ctx)


@rule("BR-DE-CVD-03", "error", "A CVD invoice must have a line whose item classification (BT-158) has scheme 'CVD' and whose item attribute name (BT-160) is 'cva'.")
def br_de_cvd_03(d: Doc):
    if not _cvd(d):
        return
    name = "cac:AdditionalItemProperty/cbc:Name" if d.ubl else "ram:ApplicableProductCharacteristic/ram:Description"
    wanted = f"boolean({_classification(d)}/@listID = 'CVD' and {name} = 'cva')"
    for ctx in [d.root] if d.ubl else d.x(d.root, "rsm:SupplyChainTradeTransaction"):
        items = d.x(ctx, "cac:InvoiceLine/cac:Item | cac:CreditNoteLine/cac:Item" if d.ubl else
                    "ram:IncludedSupplyChainTradeLineItem/ram:SpecifiedTradeProduct")
        if not any(d.x(item, wanted) for item in items):
            yield _path(ctx)


@rule("BR-DE-CVD-04", "error", "An item classification (BT-158) with scheme 'CVD' must be one of the vehicle categories M1, M2, M3, N1, N2, N3.")
def br_de_cvd_04(d: Doc):
    for item in _cvd_items(d):
        for code in d.x(item, _classification(d)):
            if nspace(code.get("listID")) == "CVD" and nspace(sval(code)) not in CVD_VEHICLE_CATEGORIES:
                yield _path(code), f"category {sval(code)!r}"


@rule("BR-DE-CVD-05", "error", "The item attribute value (BT-161) of the item attribute 'cva' (BT-160) must be clean, zero-emission or other.")
def br_de_cvd_05(d: Doc):
    for item in _cvd_items(d):
        for prop in d.x(item, _cva(d)):
            value = d.x(prop, "cbc:Value" if d.ubl else "ram:Value")
            if len(value) > 1 or nspace(first_text(value)) not in CVA_CODES:
                yield _path(prop), f"value {first_text(value)!r}"


@rule("BR-DE-CVD-06-a", "error", "A line with an item classification (BT-158) of scheme 'CVD' must have exactly one item attribute 'cva' (BT-160).")
def br_de_cvd_06_a(d: Doc):
    for item in _cvd_items(d):
        if d.x(item, f"boolean({_classification(d)}[@listID = 'CVD'])") and len(d.x(item, _cva(d))) != 1:
            yield _path(item)


@rule("BR-DE-CVD-06-b", "error", "A line with the item attribute 'cva' (BT-160) must have exactly one item classification (BT-158) of scheme 'CVD'.")
def br_de_cvd_06_b(d: Doc):
    for item in _cvd_items(d):
        if d.x(item, f"boolean({_cva(d)})") and len(d.x(item, f"{_classification(d)}[@listID = 'CVD']")) != 1:
            yield _path(item)


def _cvd_schemes() -> str:
    from einvoice.validation.codelists import lists

    # KoSIT's concat(' CVD ', ' AA AB … ') has a double space after CVD: an empty scheme passes
    return " CVD  " + " ".join(sorted(lists()["BR-CL-13"])) + " "


@rule("BR-TMP-CVD-01", "error", "In a CVD invoice the scheme of the item classification (BT-158) must come from UNTDID 7143 or be 'CVD'.")
def br_tmp_cvd_01(d: Doc):
    codes = [code for item in _cvd_items(d) for code in d.x(item, _classification(d))]
    schemes = _cvd_schemes() if codes else ""
    for code in codes:
        scheme = nspace(code.get("listID"))
        if " " in scheme or f" {scheme} " not in schemes:
            yield _path(code), f"scheme {code.get('listID')!r}"


EXTENSION_RULES: list[Rule] = []


def _xpath_round2(value: Decimal) -> Decimal:
    # XPath round(x * 100) div 100 rounds halves towards positive infinity
    return (value * 100 + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR) / 100


def _dec0(nodes) -> Decimal:
    try:
        return Decimal(nspace(first_text(nodes))) if nodes else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def br_dex_09(d: Doc):
    if d.syntax != "ubl-invoice":
        return
    for lmt in d.x(d.root, "cac:LegalMonetaryTotal"):
        paid = d.x(d.root, "cac:PrepaidPayment/cbc:PaidAmount")
        third = sum((_dec0([p]) for p in paid), Decimal(0)) if nonempty(paid) else Decimal(0)
        try:
            payable = Decimal(nspace(first_text(d.x(lmt, "cbc:PayableAmount"))))
            inclusive = Decimal(nspace(first_text(d.x(lmt, "cbc:TaxInclusiveAmount"))))
        except InvalidOperation:
            yield _path(lmt)  # a missing/non-numeric amount fails the XPath cast too
            continue
        left = _xpath_round2(payable - _dec0(d.x(lmt, "cbc:PayableRoundingAmount")))
        right = _xpath_round2(inclusive - _dec0(d.x(lmt, "cbc:PrepaidAmount")) + third)
        if left != right:
            yield _path(lmt)


EXTENSION_RULES.append(
    Rule(
        "BR-DEX-09",
        "error",
        "Amount due for payment (BT-115) = invoice total with VAT (BT-112) - paid amount (BT-113) + rounding amount "
        "(BT-114) + sum of third party payment amounts (BT-DEX-002).",
        br_dex_09,
    )
)

def ext_rule(rule_id: str, severity: str, meaning: str):
    def deco(fn):
        EXTENSION_RULES.append(Rule(rule_id, severity, meaning, fn))
        return fn

    return deco


# XRechnung extension documents may additionally use the identifier schemes XR01-XR03.
DIGA_CODES = frozenset({"XR01", "XR02", "XR03"})
_EXT_MIME = frozenset({
    "application/pdf", "image/png", "image/jpeg", "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.spreadsheet", "application/xml",
})


def _scheme_ok(value: str | None, codes: frozenset[str]) -> bool:
    v = nspace(value)
    return " " not in v and (v in codes or v in DIGA_CODES)


def _icd() -> frozenset[str]:
    from einvoice.validation.codelists import lists

    return lists()["BR-CL-10"]


def _eas() -> frozenset[str]:
    from einvoice.validation.codelists import lists

    return lists()["BR-CL-25"]


@ext_rule("BR-DEX-01", "error", "An attached document (BT-125) must use an allowed MIME code; extension documents may also use application/xml.")
def br_dex_01(d: Doc):
    if d.ubl:
        for obj in d.x(d.root, "//cbc:EmbeddedDocumentBinaryObject"):
            if obj.get("mimeCode") not in _EXT_MIME:
                yield _path(obj), f"MIME code {obj.get('mimeCode')!r}"


@ext_rule("BR-DEX-02", "warning", "The net amount (BT-131) of an invoice line or sub invoice line should equal the sum of the net amounts of its sub invoice lines.")
def br_dex_02(d: Doc):
    if d.syntax != "ubl-invoice":
        return
    for line in d.x(d.root, "cac:InvoiceLine[cac:SubInvoiceLine] | //cac:SubInvoiceLine[cac:SubInvoiceLine]"):
        try:
            total = Decimal(nspace(first_text(d.x(line, "cbc:LineExtensionAmount"))))
            parts = sum((Decimal(nspace(first_text(d.x(sub, "cbc:LineExtensionAmount")))) for sub in d.x(line, "cac:SubInvoiceLine")), Decimal(0))
        except InvalidOperation:
            yield _path(line)
            continue
        if total != parts:
            yield _path(line), f"{total} vs sum {parts}"


@ext_rule("BR-DEX-03", "error", "A sub invoice line must contain exactly one VAT information group (BG-DEX-06).")
def br_dex_03(d: Doc):
    if d.syntax != "ubl-invoice":
        return
    for item in d.x(d.root, "//cac:SubInvoiceLine/cac:Item"):
        if len(d.x(item, "cac:ClassifiedTaxCategory")) != 1:
            yield _path(item)


_DEX_SCHEME_PATHS = {
    # rule: (UBL path of the attribute's element, CII path)
    "BR-DEX-04": ("//cac:PartyIdentification/cbc:ID[@schemeID]", "//ram:GlobalID[@schemeID][not(ancestor::ram:SpecifiedTradeProduct) and not(ancestor::ram:ShipToTradeParty)]"),
    "BR-DEX-05": ("//cac:PartyLegalEntity/cbc:CompanyID[@schemeID]", "//ram:ID[@schemeID][not(ancestor::ram:SpecifiedTaxRegistration)]"),
    "BR-DEX-06": ("//cac:StandardItemIdentification/cbc:ID[@schemeID]", "//ram:SpecifiedTradeProduct/ram:GlobalID[@schemeID]"),
    "BR-DEX-07": ("//cbc:EndpointID[@schemeID]", "//ram:URIUniversalCommunication/ram:URIID[@schemeID]"),
    "BR-DEX-08": ("//cac:DeliveryLocation/cbc:ID[@schemeID]", "//ram:ApplicableHeaderTradeDelivery/ram:ShipToTradeParty/ram:GlobalID[@schemeID]"),
}


def _dex_scheme(rule_id: str, eas: bool = False):
    def check(d: Doc):
        codes = _eas() if eas else _icd()
        for el in d.x(d.root, _DEX_SCHEME_PATHS[rule_id][0 if d.ubl else 1]):
            scheme = el.get("schemeID")
            if _scheme_ok(scheme, codes):
                continue
            if rule_id == "BR-DEX-04" and d.ubl and nspace(scheme) == "SEPA" and d.x(el, "ancestor::cac:AccountingSupplierParty | ancestor::cac:PayeeParty"):
                continue  # the creditor ID (BT-90) travels as PartyIdentification with scheme SEPA
            yield _path(el), f"scheme {scheme!r}"

    return check


for _rid, _what, _eas_list in (
    ("BR-DEX-04", "party identifier (BT-29/46/60)", False),
    ("BR-DEX-05", "legal registration identifier (BT-30/47/61)", False),
    ("BR-DEX-06", "item standard identifier (BT-157)", False),
    ("BR-DEX-07", "electronic address (BT-34/49)", True),
    ("BR-DEX-08", "deliver-to location identifier (BT-71)", False),
):
    EXTENSION_RULES.append(
        Rule(_rid, "error", f"The scheme of the {_what} must come from the {'EAS' if _eas_list else 'ISO 6523 ICD'} list or be XR01, XR02, XR03.", _dex_scheme(_rid, _eas_list))
    )


def _prepaid(d: Doc):
    return d.x(d.root, "cac:PrepaidPayment") if d.syntax == "ubl-invoice" else []


@ext_rule("BR-DEX-10", "error", 'A third party payment (BG-DEX-09) must give its type (BT-DEX-001).')
def br_dex_10(d: Doc):
    for pp in _prepaid(d):
        if not nonempty(d.x(pp, "cbc:ID")):
            yield _path(pp)


@ext_rule("BR-DEX-11", "error", 'A third party payment (BG-DEX-09) must give its amount (BT-DEX-002).')
def br_dex_11(d: Doc):
    for pp in _prepaid(d):
        if not nonempty(d.x(pp, "cbc:PaidAmount")):
            yield _path(pp)


@ext_rule("BR-DEX-12", "error", 'A third party payment (BG-DEX-09) must give its description (BT-DEX-003).')
def br_dex_12(d: Doc):
    for pp in _prepaid(d):
        if not nonempty(d.x(pp, "cbc:InstructionID")):
            yield _path(pp)


@ext_rule("BR-DEX-13", "error", 'The third party payment amount (BT-DEX-002) may have at most two decimals.')
def br_dex_13(d: Doc):
    for pp in _prepaid(d):
        amount = first_text(d.x(pp, "cbc:PaidAmount"))
        if len(amount.split(".", 1)[1]) > 2 if "." in amount else False:
            yield _path(pp), f"amount {amount!r}"


@ext_rule("BR-DEX-14", "error", 'The currency of the third party payment amount (BT-DEX-002) must be the invoice currency (BT-5).')
def br_dex_14(d: Doc):
    currency = [sval(n) for n in d.x(d.root, "cbc:DocumentCurrencyCode")]
    for pp in _prepaid(d):
        amounts = d.x(pp, "cbc:PaidAmount")
        if not amounts or amounts[0].get("currencyID") not in currency:
            yield _path(pp)


@ext_rule("BR-DEX-15", "warning", "This CII file seems to use sub invoice lines (ram:ParentLineID), which XRechnung CII does not support.")
def br_dex_15(d: Doc):
    if d.syntax == "cii" and d.x(d.root, "//ram:ParentLineID"):
        for doc in d.x(d.root, "rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem/ram:AssociatedDocumentLineDocument"):
            yield _path(doc)


RULES_BY_ID = {r.id: r for r in RULES + EXTENSION_RULES}


def check(root: etree._Element, syntax: str, only: Iterable[str] | None = None, *, extension: bool = False) -> list[Violation]:
    """Run every BR-DE rule (or those in ``only``) on a UBL or CII document; with ``extension``
    (the document declares the XRechnung extension) also the BR-DEX rules."""
    if syntax not in ("ubl-invoice", "ubl-creditnote", "cii"):
        return []
    d = Doc(root, syntax)
    out = []
    for r in RULES + (EXTENSION_RULES if extension else []):
        if only is not None and r.id not in only:
            continue
        for hit in r.check(d):
            # a rule yields an XPath location, or (location, detail) when it can say more
            loc, detail = hit if isinstance(hit, tuple) else (hit, None)
            out.append(Violation(r.id, r.severity, f"[{r.id}] {r.meaning}" + (f" Found: {detail}." if detail else ""), loc))
    return out
