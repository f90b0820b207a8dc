"""One EN 16931 semantic model for UBL 2.1 and UN/CEFACT CII invoices.

Every later step of the pipeline (approval, posting, archive index) reads invoices through this
model, never through syntax-specific XPaths. Fields carry the EN 16931 business term (BT) or group
(BG) they hold. Amounts are ``Decimal`` exactly as written (never floats), dates are
``datetime.date``. The same business case in UBL and in CII gives an equal ``Invoice``.

This module must never validate (that is ``einvoice.validation``), never raise on a missing or
malformed optional element (a field is ``None`` or empty instead), and never keep attachment
bytes in the model (names and MIME codes only).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from einvoice.model import skonto as _skonto
from einvoice.xml.namespaces import NS


# lxml's find()/findtext() interpret the path in Python on every call (~11 us each, over 100 calls
# per invoice); a compiled XPath per path does the same walk in C (~2-4 us). Same semantics:
# the paths are plain child steps, and both return matches in document order.
@functools.lru_cache(maxsize=None)
def _xpath(path: str) -> etree.XPath:
    return etree.XPath(path, namespaces=NS)


def _findall(el, path: str) -> list:
    return _xpath(path)(el)


def _find(el, path: str):
    found = _xpath(path)(el)
    return found[0] if found else None


def _findtext(el, path: str) -> str | None:
    node = _find(el, path)
    return None if node is None else (node.text or "")


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Identifier:
    value: str
    scheme: str | None = None


@dataclass(frozen=True)
class Address:  # BG-5 / BG-8 / BG-12 / BG-15
    line1: str | None = None  # BT-35
    line2: str | None = None  # BT-36
    line3: str | None = None  # BT-162
    city: str | None = None  # BT-37
    post_code: str | None = None  # BT-38
    subdivision: str | None = None  # BT-39
    country_code: str | None = None  # BT-40


@dataclass(frozen=True)
class Contact:  # BG-6 / BG-9
    name: str | None = None  # BT-41 contact point
    phone: str | None = None  # BT-42
    email: str | None = None  # BT-43


@dataclass(frozen=True)
class Party:  # BG-4 seller, BG-7 buyer, BG-10 payee, BG-11 tax representative
    name: str | None = None  # BT-27 / BT-44 / BT-59 / BT-62
    trading_name: str | None = None  # BT-28 / BT-45
    identifiers: tuple[Identifier, ...] = ()  # BT-29 / BT-46 / BT-60
    legal_id: Identifier | None = None  # BT-30 / BT-47 / BT-61
    vat_id: str | None = None  # BT-31 / BT-48 / BT-63
    tax_number: str | None = None  # BT-32
    legal_info: str | None = None  # BT-33
    electronic_address: Identifier | None = None  # BT-34 / BT-49
    address: Address | None = None  # BG-5 / BG-8 / BG-12
    contact: Contact | None = None  # BG-6 / BG-9


@dataclass(frozen=True)
class Note:  # BG-1
    text: str  # BT-22
    subject_code: str | None = None  # BT-21


@dataclass(frozen=True)
class PrecedingInvoice:  # BG-3
    number: str  # BT-25
    issue_date: date | None = None  # BT-26


@dataclass(frozen=True)
class Delivery:  # BG-13
    name: str | None = None  # BT-70
    location_id: Identifier | None = None  # BT-71
    date: date | None = None  # BT-72
    address: Address | None = None  # BG-15


@dataclass(frozen=True)
class Period:  # BG-14 / BG-26
    start: date | None = None  # BT-73 / BT-134
    end: date | None = None  # BT-74 / BT-135


@dataclass(frozen=True)
class PaymentCard:  # BG-18
    pan: str | None = None  # BT-87 (last digits only, per EN 16931)
    holder: str | None = None  # BT-88


@dataclass(frozen=True)
class DirectDebit:  # BG-19
    mandate_id: str | None = None  # BT-89
    creditor_id: str | None = None  # BT-90
    debited_account: str | None = None  # BT-91


@dataclass(frozen=True)
class PaymentMeans:  # BG-16
    code: str | None = None  # BT-81
    text: str | None = None  # BT-82
    remittance_info: str | None = None  # BT-83
    iban: str | None = None  # BT-84 (payment account identifier; an IBAN for SEPA)
    account_name: str | None = None  # BT-85
    bic: str | None = None  # BT-86
    card: PaymentCard | None = None  # BG-18
    direct_debit: DirectDebit | None = None  # BG-19


# Cash discount, parsed from BT-20 per BR-DE-18: owned by einvoice.model.skonto (one parser for all users).
SkontoTerm = _skonto.SkontoTerm


@dataclass(frozen=True)
class AllowanceCharge:  # BG-20 (allowance) / BG-21 (charge)
    is_charge: bool
    amount: Decimal | None  # BT-92 / BT-99
    base_amount: Decimal | None = None  # BT-93 / BT-100
    percent: Decimal | None = None  # BT-94 / BT-101
    vat_category: str | None = None  # BT-95 / BT-102
    vat_rate: Decimal | None = None  # BT-96 / BT-103
    reason: str | None = None  # BT-97 / BT-104
    reason_code: str | None = None  # BT-98 / BT-105


@dataclass(frozen=True)
class Totals:  # BG-22
    line_total: Decimal | None = None  # BT-106
    allowances: Decimal | None = None  # BT-107 (None when absent or zero)
    charges: Decimal | None = None  # BT-108 (None when absent or zero)
    tax_exclusive: Decimal | None = None  # BT-109
    tax: Decimal | None = None  # BT-110 (in invoice currency)
    tax_accounting: Decimal | None = None  # BT-111 (in VAT accounting currency)
    tax_inclusive: Decimal | None = None  # BT-112
    prepaid: Decimal | None = None  # BT-113 (None when absent or zero)
    rounding: Decimal | None = None  # BT-114 (None when absent or zero)
    amount_due: Decimal | None = None  # BT-115


@dataclass(frozen=True)
class VatBreakdown:  # BG-23
    category: str | None  # BT-118
    rate: Decimal | None  # BT-119
    taxable_amount: Decimal | None  # BT-116
    tax_amount: Decimal | None  # BT-117
    exemption_reason: str | None = None  # BT-120
    exemption_code: str | None = None  # BT-121


@dataclass(frozen=True)
class Attachment:  # BG-24 (no bytes: equality and memory do not depend on content)
    id: str | None  # BT-122
    description: str | None = None  # BT-123
    uri: str | None = None  # BT-124
    filename: str | None = None  # BT-125 filename attribute
    mime_code: str | None = None  # BT-125 mimeCode attribute


@dataclass(frozen=True)
class InvoiceLine:  # BG-25
    id: str | None  # BT-126
    note: str | None = None  # BT-127
    quantity: Decimal | None = None  # BT-129
    unit_code: str | None = None  # BT-130
    net_amount: Decimal | None = None  # BT-131
    order_line_reference: str | None = None  # BT-132
    period: Period | None = None  # BG-26
    net_price: Decimal | None = None  # BT-146
    price_base_quantity: Decimal = Decimal(1)  # BT-149 (1 when not given)
    vat_category: str | None = None  # BT-151
    vat_rate: Decimal | None = None  # BT-152
    item_name: str | None = None  # BT-153
    item_description: str | None = None  # BT-154
    seller_item_id: str | None = None  # BT-155
    standard_item_id: Identifier | None = None  # BT-157


@dataclass(frozen=True)
class Invoice:
    invoice_number: str | None  # BT-1
    issue_date: date | None  # BT-2
    type_code: str | None  # BT-3
    currency: str | None  # BT-5
    tax_currency: str | None = None  # BT-6
    due_date: date | None = None  # BT-9
    buyer_reference: str | None = None  # BT-10 (Leitweg-ID for German public buyers)
    project_reference: str | None = None  # BT-11
    contract_reference: str | None = None  # BT-12
    order_reference: str | None = None  # BT-13
    sales_order_reference: str | None = None  # BT-14
    tender_reference: str | None = None  # BT-17
    buyer_accounting_reference: str | None = None  # BT-19
    payment_terms: str | None = None  # BT-20 (exactly as written, line breaks kept)
    notes: tuple[Note, ...] = ()  # BG-1
    process_id: str | None = None  # BT-23
    specification_id: str | None = None  # BT-24
    preceding_invoices: tuple[PrecedingInvoice, ...] = ()  # BG-3
    seller: Party = field(default_factory=Party)  # BG-4
    buyer: Party = field(default_factory=Party)  # BG-7
    payee: Party | None = None  # BG-10
    tax_representative: Party | None = None  # BG-11
    delivery: Delivery | None = None  # BG-13
    invoice_period: Period | None = None  # BG-14
    payment_means: tuple[PaymentMeans, ...] = ()  # BG-16 (XRechnung allows several)
    skonto: tuple[SkontoTerm, ...] = ()  # parsed from BT-20
    allowances_charges: tuple[AllowanceCharge, ...] = ()  # BG-20 / BG-21
    totals: Totals = field(default_factory=Totals)  # BG-22
    vat_breakdown: tuple[VatBreakdown, ...] = ()  # BG-23
    attachments: tuple[Attachment, ...] = ()  # BG-24
    lines: tuple[InvoiceLine, ...] = ()  # BG-25

    # Convenience views used by approval and posting code.
    @property
    def allowances(self) -> tuple[AllowanceCharge, ...]:  # BG-20
        return tuple(a for a in self.allowances_charges if not a.is_charge)

    @property
    def charges(self) -> tuple[AllowanceCharge, ...]:  # BG-21
        return tuple(a for a in self.allowances_charges if a.is_charge)

    @property
    def iban(self) -> str | None:  # first BT-84
        return next((pm.iban for pm in self.payment_means if pm.iban), None)

    @property
    def leitweg_id(self) -> str | None:
        return self.buyer_reference


# --------------------------------------------------------------------------------------------
# value helpers
# --------------------------------------------------------------------------------------------
def _s(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _dec(value: str | None) -> Decimal | None:
    value = _s(value)
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _opt_sum(value: Decimal | None) -> Decimal | None:
    """BT-107/108/113/114 are optional sums: absent and zero mean the same. Producers differ
    (UBL writers tend to omit them, CII writers to write 0.00), so both become None and the two
    syntaxes give equal models."""
    return None if value is None or value == 0 else value


def _base_qty(value: Decimal | None) -> Decimal:
    """BT-149 item price base quantity; EN 16931: 1 when not given."""
    return Decimal(1) if value is None else value


_DATE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_DATE_102 = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def _date(value: str | None) -> date | None:
    value = _s(value)
    if value is None:
        return None
    m = _DATE_ISO.match(value) or _DATE_102.match(value)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def parse_skonto(payment_terms: str | None) -> tuple[SkontoTerm, ...]:
    """Skonto terms from BT-20 (``einvoice.model.skonto.parse_terms``); BR-DE-18 reports lines that do not match."""
    return _skonto.parse_terms(payment_terms)


_NOTE_SUBJECT = re.compile(r"^#([A-Z]{3})#(.*)$", re.DOTALL)


def _note(text: str | None, subject: str | None = None) -> Note | None:
    if text is None:
        return None
    if subject is None:
        # UBL has no subject element; XRechnung puts it as "#AAI#text" in front of the note.
        m = _NOTE_SUBJECT.match(text.strip())
        if m:
            subject, text = m.group(1), m.group(2)
    text = text.strip()
    return Note(text=text, subject_code=_s(subject))


# --------------------------------------------------------------------------------------------
# UBL
# --------------------------------------------------------------------------------------------
def _t(el, path: str) -> str | None:
    if el is None:
        return None
    return _s(_findtext(el, path))


def _attr(el, path: str, name: str) -> str | None:
    if el is None:
        return None
    node = _find(el, path)
    return _s(node.get(name)) if node is not None else None


def _ident(el, path: str) -> Identifier | None:
    if el is None:
        return None
    node = _find(el, path)
    if node is None or not _s(node.text):
        return None
    return Identifier(_s(node.text), _s(node.get("schemeID")))


def _ubl_address(el) -> Address | None:
    if el is None:
        return None
    return Address(
        line1=_t(el, "cbc:StreetName"),
        line2=_t(el, "cbc:AdditionalStreetName"),
        line3=_t(el, "cac:AddressLine/cbc:Line"),
        city=_t(el, "cbc:CityName"),
        post_code=_t(el, "cbc:PostalZone"),
        subdivision=_t(el, "cbc:CountrySubentity"),
        country_code=_t(el, "cac:Country/cbc:IdentificationCode"),
    )


def _ubl_party(party) -> Party | None:
    if party is None:
        return None
    vat_id = tax_number = None
    for pts in _findall(party, "cac:PartyTaxScheme"):
        cid = _t(pts, "cbc:CompanyID")
        if _t(pts, "cac:TaxScheme/cbc:ID") == "VAT":
            vat_id = vat_id or cid
        else:
            tax_number = tax_number or cid
    contact = _find(party, "cac:Contact")
    idents = tuple(
        Identifier(_s(i.text), _s(i.get("schemeID")))
        for i in _findall(party, "cac:PartyIdentification/cbc:ID")
        # schemeID SEPA is the creditor ID (BT-90), not a party identifier
        if _s(i.text) and i.get("schemeID") != "SEPA"
    )
    return Party(
        name=_t(party, "cac:PartyLegalEntity/cbc:RegistrationName") or _t(party, "cac:PartyName/cbc:Name"),
        trading_name=_t(party, "cac:PartyName/cbc:Name") if _find(party, "cac:PartyLegalEntity/cbc:RegistrationName") is not None else None,
        identifiers=idents,
        legal_id=_ident(party, "cac:PartyLegalEntity/cbc:CompanyID"),
        vat_id=vat_id,
        tax_number=tax_number,
        legal_info=_t(party, "cac:PartyLegalEntity/cbc:CompanyLegalForm"),
        electronic_address=_ident(party, "cbc:EndpointID"),
        address=_ubl_address(_find(party, "cac:PostalAddress")),
        contact=Contact(_t(contact, "cbc:Name"), _t(contact, "cbc:Telephone"), _t(contact, "cbc:ElectronicMail"))
        if contact is not None
        else None,
    )


def _ubl_period(el) -> Period | None:
    if el is None:
        return None
    return Period(_date(_t(el, "cbc:StartDate")), _date(_t(el, "cbc:EndDate")))


# UBL requires cbc:ID in cac:OrderReference even when only the sales order reference (BT-14)
# is known; producers then write a placeholder (PEPPOL: "NA", the KoSIT testsuite: "Dummywert").
_ORDER_PLACEHOLDERS = {"NA", "N/A", "DUMMYWERT"}


def _ubl_order_reference(root) -> str | None:
    value = _t(root, "cac:OrderReference/cbc:ID")
    if value and value.upper() in _ORDER_PLACEHOLDERS and _t(root, "cac:OrderReference/cbc:SalesOrderID"):
        return None
    return value


def _invoice_from_ubl(root) -> Invoice:
    credit = etree.QName(root).localname == "CreditNote"
    line_tag = "cac:CreditNoteLine" if credit else "cac:InvoiceLine"
    qty_tag = "cbc:CreditedQuantity" if credit else "cbc:InvoicedQuantity"
    currency = _t(root, "cbc:DocumentCurrencyCode")

    creditor_id = _t(root, "cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='SEPA']") or _t(
        root, "cac:PayeeParty/cac:PartyIdentification/cbc:ID[@schemeID='SEPA']"
    )
    means = []
    for pm in _findall(root, "cac:PaymentMeans"):
        card = _find(pm, "cac:CardAccount")
        mandate = _find(pm, "cac:PaymentMandate")
        means.append(
            PaymentMeans(
                code=_t(pm, "cbc:PaymentMeansCode"),
                text=_attr(pm, "cbc:PaymentMeansCode", "name"),
                remittance_info=_t(pm, "cbc:PaymentID"),
                iban=_t(pm, "cac:PayeeFinancialAccount/cbc:ID"),
                account_name=_t(pm, "cac:PayeeFinancialAccount/cbc:Name"),
                bic=_t(pm, "cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID"),
                card=PaymentCard(_t(card, "cbc:PrimaryAccountNumberID"), _t(card, "cbc:HolderName")) if card is not None else None,
                direct_debit=DirectDebit(_t(mandate, "cbc:ID"), creditor_id, _t(mandate, "cac:PayerFinancialAccount/cbc:ID"))
                if mandate is not None
                else None,
            )
        )
    terms_notes = [n.text for n in _findall(root, "cac:PaymentTerms/cbc:Note") if n.text is not None]
    payment_terms = "\n".join(terms_notes) if terms_notes else None

    tax_amount = tax_accounting = None
    for tt in _findall(root, "cac:TaxTotal"):
        amt = _find(tt, "cbc:TaxAmount")
        if amt is None:
            continue
        if amt.get("currencyID") == currency and tax_amount is None:
            tax_amount = _dec(amt.text)
        else:
            tax_accounting = _dec(amt.text)
    vat = []
    for tt in _findall(root, "cac:TaxTotal"):
        for st in _findall(tt, "cac:TaxSubtotal"):
            vat.append(
                VatBreakdown(
                    category=_t(st, "cac:TaxCategory/cbc:ID"),
                    rate=_dec(_t(st, "cac:TaxCategory/cbc:Percent")),
                    taxable_amount=_dec(_t(st, "cbc:TaxableAmount")),
                    tax_amount=_dec(_t(st, "cbc:TaxAmount")),
                    exemption_reason=_t(st, "cac:TaxCategory/cbc:TaxExemptionReason"),
                    exemption_code=_t(st, "cac:TaxCategory/cbc:TaxExemptionReasonCode"),
                )
            )
    lmt = _find(root, "cac:LegalMonetaryTotal")
    totals = Totals(
        line_total=_dec(_t(lmt, "cbc:LineExtensionAmount")),
        allowances=_opt_sum(_dec(_t(lmt, "cbc:AllowanceTotalAmount"))),
        charges=_opt_sum(_dec(_t(lmt, "cbc:ChargeTotalAmount"))),
        tax_exclusive=_dec(_t(lmt, "cbc:TaxExclusiveAmount")),
        tax=tax_amount,
        tax_accounting=tax_accounting,
        tax_inclusive=_dec(_t(lmt, "cbc:TaxInclusiveAmount")),
        prepaid=_opt_sum(_dec(_t(lmt, "cbc:PrepaidAmount"))),
        rounding=_opt_sum(_dec(_t(lmt, "cbc:PayableRoundingAmount"))),
        amount_due=_dec(_t(lmt, "cbc:PayableAmount")),
    )
    acs = tuple(
        AllowanceCharge(
            is_charge=_t(ac, "cbc:ChargeIndicator") == "true",
            amount=_dec(_t(ac, "cbc:Amount")),
            base_amount=_dec(_t(ac, "cbc:BaseAmount")),
            percent=_dec(_t(ac, "cbc:MultiplierFactorNumeric")),
            vat_category=_t(ac, "cac:TaxCategory/cbc:ID"),
            vat_rate=_dec(_t(ac, "cac:TaxCategory/cbc:Percent")),
            reason=_t(ac, "cbc:AllowanceChargeReason"),
            reason_code=_t(ac, "cbc:AllowanceChargeReasonCode"),
        )
        for ac in _findall(root, "cac:AllowanceCharge")
    )
    attachments = []
    tender = None
    for adr in _findall(root, "cac:AdditionalDocumentReference"):
        code = _t(adr, "cbc:DocumentTypeCode")
        if code == "130":  # invoiced object identifier BT-18, not an attachment
            continue
        if code == "50":  # tender or lot reference in some producers' UBL
            tender = tender or _t(adr, "cbc:ID")
            continue
        obj = _find(adr, "cac:Attachment/cbc:EmbeddedDocumentBinaryObject")
        attachments.append(
            Attachment(
                id=_t(adr, "cbc:ID"),
                description=_t(adr, "cbc:DocumentDescription"),
                uri=_t(adr, "cac:Attachment/cac:ExternalReference/cbc:URI"),
                filename=_s(obj.get("filename")) if obj is not None else None,
                mime_code=_s(obj.get("mimeCode")) if obj is not None else None,
            )
        )
    lines = []
    for ln in _findall(root, line_tag):
        item = _find(ln, "cac:Item")
        lines.append(
            InvoiceLine(
                id=_t(ln, "cbc:ID"),
                note=_t(ln, "cbc:Note"),
                quantity=_dec(_t(ln, qty_tag)),
                unit_code=_attr(ln, qty_tag, "unitCode"),
                net_amount=_dec(_t(ln, "cbc:LineExtensionAmount")),
                order_line_reference=_t(ln, "cac:OrderLineReference/cbc:LineID"),
                period=_ubl_period(_find(ln, "cac:InvoicePeriod")),
                net_price=_dec(_t(ln, "cac:Price/cbc:PriceAmount")),
                price_base_quantity=_base_qty(_dec(_t(ln, "cac:Price/cbc:BaseQuantity"))),
                vat_category=_t(item, "cac:ClassifiedTaxCategory/cbc:ID"),
                vat_rate=_dec(_t(item, "cac:ClassifiedTaxCategory/cbc:Percent")),
                item_name=_t(item, "cbc:Name"),
                item_description=_t(item, "cbc:Description"),
                seller_item_id=_t(item, "cac:SellersItemIdentification/cbc:ID"),
                standard_item_id=_ident(item, "cac:StandardItemIdentification/cbc:ID"),
            )
        )
    delivery_el = _find(root, "cac:Delivery")
    delivery = None
    if delivery_el is not None:
        delivery = Delivery(
            name=_t(delivery_el, "cac:DeliveryParty/cac:PartyName/cbc:Name"),
            location_id=_ident(delivery_el, "cac:DeliveryLocation/cbc:ID"),
            date=_date(_t(delivery_el, "cbc:ActualDeliveryDate")),
            address=_ubl_address(_find(delivery_el, "cac:DeliveryLocation/cac:Address")),
        )
    due = _date(_t(root, "cbc:DueDate")) or _date(_t(root, "cac:PaymentMeans/cbc:PaymentDueDate"))
    return Invoice(
        invoice_number=_t(root, "cbc:ID"),
        issue_date=_date(_t(root, "cbc:IssueDate")),
        type_code=_t(root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode"),
        currency=currency,
        tax_currency=_t(root, "cbc:TaxCurrencyCode"),
        due_date=due,
        buyer_reference=_t(root, "cbc:BuyerReference"),
        project_reference=_t(root, "cac:ProjectReference/cbc:ID"),
        contract_reference=_t(root, "cac:ContractDocumentReference/cbc:ID"),
        order_reference=_ubl_order_reference(root),
        sales_order_reference=_t(root, "cac:OrderReference/cbc:SalesOrderID"),
        tender_reference=_t(root, "cac:OriginatorDocumentReference/cbc:ID") or tender,
        buyer_accounting_reference=_t(root, "cbc:AccountingCost"),
        payment_terms=payment_terms,
        notes=tuple(n for n in (_note(e.text) for e in _findall(root, "cbc:Note")) if n is not None),
        process_id=_t(root, "cbc:ProfileID"),
        specification_id=_t(root, "cbc:CustomizationID"),
        preceding_invoices=tuple(
            PrecedingInvoice(_t(r, "cbc:ID") or "", _date(_t(r, "cbc:IssueDate")))
            for r in _findall(root, "cac:BillingReference/cac:InvoiceDocumentReference")
        ),
        seller=_ubl_party(_find(root, "cac:AccountingSupplierParty/cac:Party")) or Party(),
        buyer=_ubl_party(_find(root, "cac:AccountingCustomerParty/cac:Party")) or Party(),
        payee=_ubl_party(_find(root, "cac:PayeeParty")),
        tax_representative=_ubl_party(_find(root, "cac:TaxRepresentativeParty")),
        delivery=delivery,
        invoice_period=_ubl_period(_find(root, "cac:InvoicePeriod")),
        payment_means=tuple(means),
        skonto=parse_skonto(payment_terms),
        allowances_charges=acs,
        totals=totals,
        vat_breakdown=tuple(vat),
        attachments=tuple(attachments),
        lines=tuple(lines),
    )


# --------------------------------------------------------------------------------------------
# CII
# --------------------------------------------------------------------------------------------
def _cii_address(el) -> Address | None:
    if el is None:
        return None
    return Address(
        line1=_t(el, "ram:LineOne"),
        line2=_t(el, "ram:LineTwo"),
        line3=_t(el, "ram:LineThree"),
        city=_t(el, "ram:CityName"),
        post_code=_t(el, "ram:PostcodeCode"),
        subdivision=_t(el, "ram:CountrySubDivisionName"),
        country_code=_t(el, "ram:CountryID"),
    )


def _cii_party(party) -> Party | None:
    if party is None:
        return None
    vat_id = tax_number = None
    for reg in _findall(party, "ram:SpecifiedTaxRegistration/ram:ID"):
        if reg.get("schemeID") == "VA":
            vat_id = vat_id or _s(reg.text)
        elif reg.get("schemeID") == "FC":
            tax_number = tax_number or _s(reg.text)
    idents = tuple(
        Identifier(_s(i.text), _s(i.get("schemeID")))
        for i in list(_findall(party, "ram:ID")) + list(_findall(party, "ram:GlobalID"))
        if _s(i.text)
    )
    contact = _find(party, "ram:DefinedTradeContact")
    return Party(
        name=_t(party, "ram:Name"),
        trading_name=_t(party, "ram:SpecifiedLegalOrganization/ram:TradingBusinessName"),
        identifiers=idents,
        legal_id=_ident(party, "ram:SpecifiedLegalOrganization/ram:ID"),
        vat_id=vat_id,
        tax_number=tax_number,
        legal_info=_t(party, "ram:Description"),
        electronic_address=_ident(party, "ram:URIUniversalCommunication/ram:URIID"),
        address=_cii_address(_find(party, "ram:PostalTradeAddress")),
        contact=Contact(
            _t(contact, "ram:PersonName") or _t(contact, "ram:DepartmentName"),
            _t(contact, "ram:TelephoneUniversalCommunication/ram:CompleteNumber"),
            _t(contact, "ram:EmailURIUniversalCommunication/ram:URIID"),
        )
        if contact is not None
        else None,
    )


def _cii_period(el) -> Period | None:
    if el is None:
        return None
    return Period(
        _date(_t(el, "ram:StartDateTime/udt:DateTimeString")), _date(_t(el, "ram:EndDateTime/udt:DateTimeString"))
    )


def _invoice_from_cii(root) -> Invoice:
    doc = _find(root, "rsm:ExchangedDocument")
    tx = _find(root, "rsm:SupplyChainTradeTransaction")
    agr = _find(tx, "ram:ApplicableHeaderTradeAgreement") if tx is not None else None
    dlv = _find(tx, "ram:ApplicableHeaderTradeDelivery") if tx is not None else None
    stl = _find(tx, "ram:ApplicableHeaderTradeSettlement") if tx is not None else None
    currency = _t(stl, "ram:InvoiceCurrencyCode")

    creditor_id = _t(stl, "ram:CreditorReferenceID")
    mandate_id = _t(stl, "ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID")
    means = []
    for pm in _findall(stl, "ram:SpecifiedTradeSettlementPaymentMeans") if stl is not None else ():
        card = _find(pm, "ram:ApplicableTradeSettlementFinancialCard")
        debited = _t(pm, "ram:PayerPartyDebtorFinancialAccount/ram:IBANID")
        means.append(
            PaymentMeans(
                code=_t(pm, "ram:TypeCode"),
                text=_t(pm, "ram:Information"),
                remittance_info=_t(stl, "ram:PaymentReference"),
                iban=_t(pm, "ram:PayeePartyCreditorFinancialAccount/ram:IBANID")
                or _t(pm, "ram:PayeePartyCreditorFinancialAccount/ram:ProprietaryID"),
                account_name=_t(pm, "ram:PayeePartyCreditorFinancialAccount/ram:AccountName"),
                bic=_t(pm, "ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID"),
                card=PaymentCard(_t(card, "ram:ID"), _t(card, "ram:CardholderName")) if card is not None else None,
                direct_debit=DirectDebit(mandate_id, creditor_id, debited) if (debited or mandate_id) else None,
            )
        )
    descs = [d.text for d in _findall(stl, "ram:SpecifiedTradePaymentTerms/ram:Description") if d.text is not None] if stl is not None else []
    payment_terms = "\n".join(descs) if descs else None
    ms = _find(stl, "ram:SpecifiedTradeSettlementHeaderMonetarySummation") if stl is not None else None
    tax_amount = tax_accounting = None
    for ta in _findall(ms, "ram:TaxTotalAmount") if ms is not None else ():
        if ta.get("currencyID") in (None, currency) and tax_amount is None:
            tax_amount = _dec(ta.text)
        else:
            tax_accounting = _dec(ta.text)
    totals = Totals(
        line_total=_dec(_t(ms, "ram:LineTotalAmount")),
        allowances=_opt_sum(_dec(_t(ms, "ram:AllowanceTotalAmount"))),
        charges=_opt_sum(_dec(_t(ms, "ram:ChargeTotalAmount"))),
        tax_exclusive=_dec(_t(ms, "ram:TaxBasisTotalAmount")),
        tax=tax_amount,
        tax_accounting=tax_accounting,
        tax_inclusive=_dec(_t(ms, "ram:GrandTotalAmount")),
        prepaid=_opt_sum(_dec(_t(ms, "ram:TotalPrepaidAmount"))),
        rounding=_opt_sum(_dec(_t(ms, "ram:RoundingAmount"))),
        amount_due=_dec(_t(ms, "ram:DuePayableAmount")),
    )
    vat = tuple(
        VatBreakdown(
            category=_t(t, "ram:CategoryCode"),
            rate=_dec(_t(t, "ram:RateApplicablePercent")),
            taxable_amount=_dec(_t(t, "ram:BasisAmount")),
            tax_amount=_dec(_t(t, "ram:CalculatedAmount")),
            exemption_reason=_t(t, "ram:ExemptionReason"),
            exemption_code=_t(t, "ram:ExemptionReasonCode"),
        )
        for t in (_findall(stl, "ram:ApplicableTradeTax") if stl is not None else ())
    )
    acs = tuple(
        AllowanceCharge(
            is_charge=_t(ac, "ram:ChargeIndicator/udt:Indicator") == "true",
            amount=_dec(_t(ac, "ram:ActualAmount")),
            base_amount=_dec(_t(ac, "ram:BasisAmount")),
            percent=_dec(_t(ac, "ram:CalculationPercent")),
            vat_category=_t(ac, "ram:CategoryTradeTax/ram:CategoryCode"),
            vat_rate=_dec(_t(ac, "ram:CategoryTradeTax/ram:RateApplicablePercent")),
            reason=_t(ac, "ram:Reason"),
            reason_code=_t(ac, "ram:ReasonCode"),
        )
        for ac in (_findall(stl, "ram:SpecifiedTradeAllowanceCharge") if stl is not None else ())
    )
    attachments = []
    tender = None
    for ard in _findall(agr, "ram:AdditionalReferencedDocument") if agr is not None else ():
        code = _t(ard, "ram:TypeCode")
        if code == "130":  # BT-18
            continue
        if code == "50":  # BT-17
            tender = tender or _t(ard, "ram:IssuerAssignedID")
            continue
        obj = _find(ard, "ram:AttachmentBinaryObject")
        attachments.append(
            Attachment(
                id=_t(ard, "ram:IssuerAssignedID"),
                description=_t(ard, "ram:Name"),
                uri=_t(ard, "ram:URIID"),
                filename=_s(obj.get("filename")) if obj is not None else None,
                mime_code=_s(obj.get("mimeCode")) if obj is not None else None,
            )
        )
    lines = []
    for li in _findall(tx, "ram:IncludedSupplyChainTradeLineItem") if tx is not None else ():
        la = _find(li, "ram:SpecifiedLineTradeAgreement")
        ld = _find(li, "ram:SpecifiedLineTradeDelivery")
        ls = _find(li, "ram:SpecifiedLineTradeSettlement")
        prod = _find(li, "ram:SpecifiedTradeProduct")
        lines.append(
            InvoiceLine(
                id=_t(li, "ram:AssociatedDocumentLineDocument/ram:LineID"),
                note=_t(li, "ram:AssociatedDocumentLineDocument/ram:IncludedNote/ram:Content"),
                quantity=_dec(_t(ld, "ram:BilledQuantity")),
                unit_code=_attr(ld, "ram:BilledQuantity", "unitCode"),
                net_amount=_dec(_t(ls, "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount")),
                order_line_reference=_t(la, "ram:BuyerOrderReferencedDocument/ram:LineID"),
                period=_cii_period(_find(ls, "ram:BillingSpecifiedPeriod")) if ls is not None else None,
                net_price=_dec(_t(la, "ram:NetPriceProductTradePrice/ram:ChargeAmount")),
                price_base_quantity=_base_qty(_dec(_t(la, "ram:NetPriceProductTradePrice/ram:BasisQuantity"))),
                vat_category=_t(ls, "ram:ApplicableTradeTax/ram:CategoryCode"),
                vat_rate=_dec(_t(ls, "ram:ApplicableTradeTax/ram:RateApplicablePercent")),
                item_name=_t(prod, "ram:Name"),
                item_description=_t(prod, "ram:Description"),
                seller_item_id=_t(prod, "ram:SellerAssignedID"),
                standard_item_id=_ident(prod, "ram:GlobalID"),
            )
        )
    ship = _find(dlv, "ram:ShipToTradeParty") if dlv is not None else None
    delivery_date = _date(_t(dlv, "ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime/udt:DateTimeString"))
    delivery = None
    if ship is not None or delivery_date is not None:
        delivery = Delivery(
            name=_t(ship, "ram:Name"),
            location_id=_ident(ship, "ram:ID") or _ident(ship, "ram:GlobalID"),
            date=delivery_date,
            address=_cii_address(_find(ship, "ram:PostalTradeAddress")) if ship is not None else None,
        )
    notes = []
    for n in _findall(doc, "ram:IncludedNote") if doc is not None else ():
        note = _note(_findtext(n, "ram:Content"), _t(n, "ram:SubjectCode"))
        if note is not None:
            notes.append(note)
    return Invoice(
        invoice_number=_t(doc, "ram:ID"),
        issue_date=_date(_t(doc, "ram:IssueDateTime/udt:DateTimeString")),
        type_code=_t(doc, "ram:TypeCode"),
        currency=currency,
        tax_currency=_t(stl, "ram:TaxCurrencyCode"),
        due_date=_date(_t(stl, "ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString")),
        buyer_reference=_t(agr, "ram:BuyerReference"),
        project_reference=_t(agr, "ram:SpecifiedProcuringProject/ram:ID"),
        contract_reference=_t(agr, "ram:ContractReferencedDocument/ram:IssuerAssignedID"),
        order_reference=_t(agr, "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID"),
        sales_order_reference=_t(agr, "ram:SellerOrderReferencedDocument/ram:IssuerAssignedID"),
        tender_reference=tender,
        buyer_accounting_reference=_t(stl, "ram:ReceivableSpecifiedTradeAccountingAccount/ram:ID"),
        payment_terms=payment_terms,
        notes=tuple(notes),
        process_id=_t(root, "rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID"),
        specification_id=_t(root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"),
        preceding_invoices=tuple(
            PrecedingInvoice(
                _t(r, "ram:IssuerAssignedID") or "",
                _date(_t(r, "ram:FormattedIssueDateTime/qdt:DateTimeString")),
            )
            for r in (_findall(stl, "ram:InvoiceReferencedDocument") if stl is not None else ())
        ),
        seller=_cii_party(_find(agr, "ram:SellerTradeParty") if agr is not None else None) or Party(),
        buyer=_cii_party(_find(agr, "ram:BuyerTradeParty") if agr is not None else None) or Party(),
        payee=_cii_party(_find(stl, "ram:PayeeTradeParty") if stl is not None else None),
        tax_representative=_cii_party(_find(agr, "ram:SellerTaxRepresentativeTradeParty") if agr is not None else None),
        delivery=delivery,
        invoice_period=_cii_period(_find(stl, "ram:BillingSpecifiedPeriod")) if stl is not None else None,
        payment_means=tuple(means),
        skonto=parse_skonto(payment_terms),
        allowances_charges=acs,
        totals=totals,
        vat_breakdown=vat,
        attachments=tuple(attachments),
        lines=tuple(lines),
    )


def invoice_from_xml(root_or_bytes, syntax: str | None = None) -> Invoice:
    """Build the model from a parsed root element (or bytes, parsed safely).

    ``syntax`` is "ubl-invoice", "ubl-creditnote" or "cii"; None detects it from the root.
    Raises ``ValueError`` for anything that is not a UBL or CII invoice.
    """
    root = root_or_bytes
    if isinstance(root_or_bytes, (bytes, bytearray)):
        from einvoice.xml.safe import parse_xml

        root, problem = parse_xml(bytes(root_or_bytes))
        if problem is not None:
            raise ValueError(problem.message)
    qn = etree.QName(root)
    if syntax is None:
        syntax = {
            (NS["ubl"], "Invoice"): "ubl-invoice",
            (NS["cn"], "CreditNote"): "ubl-creditnote",
            (NS["rsm"], "CrossIndustryInvoice"): "cii",
        }.get((qn.namespace, qn.localname))
    if syntax in ("ubl-invoice", "ubl-creditnote"):
        return _invoice_from_ubl(root)
    if syntax == "cii":
        return _invoice_from_cii(root)
    raise ValueError(f"not a UBL or CII invoice: root element {qn.text}")
