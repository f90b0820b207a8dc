"""One EN 16931 semantic model for UBL 2.1 and UN/CEFACT CII invoices.

Every later step of the pipeline (approval, posting, archive index) reads invoices through this
model, never through syntax-specific XPaths. Fields carry the EN 16931 business term (BT) or group
(BG) they hold. Amounts are ``Decimal`` exactly as written (never floats), dates are
``datetime.date``. The same business case in UBL and in CII gives an equal ``Invoice``.

This module must never validate (that is ``einvoice.validation``), never raise on a missing or
malformed optional element (a field is ``None`` or empty instead), and never keep attachment
bytes in the model (names and MIME codes only).

The files follow the document: ``types`` (the dataclasses, one per business group), ``ubl`` and
``cii`` (one reading step per group), ``values`` (XPath and value conversions both share),
``skonto`` (the one owner of Skonto arithmetic). This package re-exports the model's names, so
``from einvoice.model import Invoice`` is the way in.
"""
from __future__ import annotations

from lxml import etree

from einvoice.model import skonto
from einvoice.model.cii import invoice_from_cii
from einvoice.model.types import (
    Address,
    AllowanceCharge,
    Attachment,
    Contact,
    Delivery,
    DirectDebit,
    Identifier,
    Invoice,
    InvoiceLine,
    Note,
    Party,
    PaymentCard,
    PaymentMeans,
    Period,
    PrecedingInvoice,
    SkontoTerm,
    Totals,
    VatBreakdown,
)
from einvoice.model.ubl import invoice_from_ubl
from einvoice.model.values import parse_skonto
from einvoice.xml.namespaces import NS

__all__ = [
    "NS",
    "Address",
    "AllowanceCharge",
    "Attachment",
    "Contact",
    "Delivery",
    "DirectDebit",
    "Identifier",
    "Invoice",
    "InvoiceLine",
    "Note",
    "Party",
    "PaymentCard",
    "PaymentMeans",
    "Period",
    "PrecedingInvoice",
    "SkontoTerm",
    "Totals",
    "VatBreakdown",
    "invoice_from_cii",
    "invoice_from_ubl",
    "invoice_from_xml",
    "parse_skonto",
    "skonto",
]


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
        return invoice_from_ubl(root)
    if syntax == "cii":
        return invoice_from_cii(root)
    raise ValueError(f"not a UBL or CII invoice: root element {qn.text}")
