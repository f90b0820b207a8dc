"""The EN 16931 semantic model: one frozen dataclass per business group (BG), fields named and
commented with the business term (BT) they hold.

Built by ``einvoice.model.ubl`` and ``einvoice.model.cii``; read by every later step. This module
must never read XML and never hold attachment bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from einvoice.model import skonto as _skonto


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
    buyer_accounting_reference: str | None = None  # BT-133 (Kostenstelle, Sachkonto ... of this line)
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

