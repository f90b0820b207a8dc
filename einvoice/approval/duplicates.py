"""Duplicate detection: the same invoice must never be paid twice.

When an invoice enters approval it is compared with every earlier invoice of the same seller
(VAT ID BT-31 or seller ID BT-29, compared in the normalised form of ``einvoice.identifiers``:
``DE 812 345 673``, ``de812345673`` and ``812345673`` are one seller):
  * ``exact``: same seller and the same invoice number (BT-1);
  * ``near``: same seller, same amount due (BT-115) and issue date (BT-2), and invoice numbers that
    are equal once punctuation, spaces, leading zeros and case are ignored ("RE-0042" / "re 42").
A flag never stops the approval steps (the department may still certify), but it blocks the
release until a person overrides it with a logged reason. What counts is configured in the
organisation file (``duplicates:``). This module must never delete or merge invoices: it flags.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, load_only

from einvoice.approval import messages as M
from einvoice.approval.tables import DuplicateFlag
from einvoice.db.models import InvoiceRow
from einvoice.identifiers import invoice_number_key, same_seller
from einvoice.organisation import Organisation

normalise_number = invoice_number_key  # the one normalisation of invoice numbers (einvoice.identifiers)


def _same_seller(a: InvoiceRow, b: InvoiceRow) -> str | None:
    return same_seller(a.seller_vat_id, a.seller_id, b.seller_vat_id, b.seller_id)


def _seller_words(by: str) -> str:
    """``identifiers.same_seller``'s match ("VAT ID …" / "seller ID …") in the reader's language."""
    for prefix, key in (("VAT ID ", "seller-vat"), ("seller ID ", "seller-id")):
        if by.startswith(prefix):
            return M.text(key, id=by[len(prefix):])
    return by


def find_duplicates(session: Session, row: InvoiceRow, org: Organisation) -> list[DuplicateFlag]:
    """Flags (not yet added to the session) for ``row`` against earlier invoices of its seller."""
    return find_duplicates_many(session, [row], org).get(row.id, [])


def _is_candidate(row: InvoiceRow, other: InvoiceRow, near: bool) -> bool:
    """The filter of ``find_duplicates_many`` for one pair: an earlier invoice of the same seller
    (normalised VAT ID or seller ID), and the same number or (near) the same amount and date."""
    if other.id is None or row.id is None or other.id >= row.id:
        return False
    if _same_seller(row, other) is None:
        return False
    return (other.invoice_number == row.invoice_number.strip()
            or (near and other.amount_due == row.amount_due and other.issue_date == row.issue_date))


def find_duplicates_many(session: Session, rows: list[InvoiceRow], org: Organisation) -> dict[int, list[DuplicateFlag]]:
    """Flags per invoice id (not yet added to the session) for a batch of new invoices, each
    compared with the invoices of its seller received before it (lower id), two look-ups in all."""
    rules = org.duplicates
    rows = [r for r in rows if r.invoice_number and (r.seller_vat_id or r.seller_id)]
    if not rules.enabled or not rows:
        return {}
    # Only candidates can match: the same number, or (near duplicates) the same amount and issue
    # date; two indexed look-ups per batch (invoice_number, issue_date), however many invoices a
    # supplier has sent. The seller is deliberately not filtered in SQL: the stored VAT IDs are as
    # the suppliers wrote them ("DE 812 345 673"), so only the normalised comparison in
    # ``_is_candidate`` can decide "same seller"; it runs on the few rows left.
    base = (sa.select(InvoiceRow)
            .options(load_only(InvoiceRow.id, InvoiceRow.invoice_number, InvoiceRow.seller_vat_id, InvoiceRow.seller_id,
                               InvoiceRow.amount_due, InvoiceRow.issue_date, InvoiceRow.filename, InvoiceRow.state))
            .where(InvoiceRow.id < max(r.id for r in rows)))
    if rules.ignore_states:
        base = base.where(InvoiceRow.state.not_in(rules.ignore_states))
    found = {o.id: o for o in session.scalars(base.where(InvoiceRow.invoice_number.in_(sorted({r.invoice_number.strip() for r in rows}))))}
    dates = {r.issue_date for r in rows if r.issue_date is not None}
    amounts = {r.amount_due for r in rows if r.amount_due is not None}
    if rules.near_duplicates and dates and amounts:
        found.update((o.id, o) for o in session.scalars(base.where(InvoiceRow.issue_date.in_(dates), InvoiceRow.amount_due.in_(amounts))))
    others = [found[k] for k in sorted(found)]
    out: dict[int, list[DuplicateFlag]] = {}
    for row in rows:
        flags = [f for f in (_flag(row, o, rules.near_duplicates) for o in others if _is_candidate(row, o, rules.near_duplicates)) if f]
        if flags:
            out[row.id] = flags
    return out


def _flag(row: InvoiceRow, other: InvoiceRow, near: bool) -> DuplicateFlag | None:
    by = _same_seller(row, other)
    if by is None:
        return None
    if other.invoice_number and other.invoice_number.strip() == row.invoice_number.strip():
        return DuplicateFlag(
            invoice_id=row.id, other_invoice_id=other.id, kind="exact",
            reason=M.text("duplicate-exact", number=row.invoice_number, by=_seller_words(by), other=other.id, filename=other.filename,
                          state=M.state_name(other.state)))
    key = normalise_number(row.invoice_number)
    if (near and key and normalise_number(other.invoice_number) == key
            and other.amount_due == row.amount_due and other.issue_date == row.issue_date):
        return DuplicateFlag(
            invoice_id=row.id, other_invoice_id=other.id, kind="near",
            reason=M.text("duplicate-near", other=other.id, by=_seller_words(by), other_number=other.invoice_number,
                          number=row.invoice_number, amount=M.money(row.amount_due, row.currency),
                          date=M.date(row.issue_date) if row.issue_date else "–"))
    return None
