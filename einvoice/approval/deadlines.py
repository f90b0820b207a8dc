"""Deadlines: which invoice must be decided first, and how much money is lost if it is late.

The deadline of an invoice is the earlier of its Skonto date (from BT-20 ``#SKONTO#TAGE=n#``,
counted from BT-2) and its due date (BT-9): a lost cash discount is lost money, so the Skonto date
is the real deadline. With several Skonto terms the term is chosen by the one rule of
``einvoice.skonto`` (the term that applies today: still open, largest deduction), the same term a
payment run made today would take. This module only computes; it must never write to the
database or send anything (``ApprovalService.send_reminders`` records what was sent).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from einvoice import skonto


def deadline_of(skonto_until: dt.date | None, due_date: dt.date | None) -> dt.date | None:
    dates = [d for d in (skonto_until, due_date) if d is not None]
    return min(dates) if dates else None


def skonto_amount(amount_due: Decimal | None, percent: Decimal | None) -> Decimal | None:
    """The discount that is lost if the invoice is not paid by the Skonto date."""
    if amount_due is None or percent is None:
        return None
    return (Decimal(amount_due) * Decimal(percent) / Decimal(100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def days_left(deadline: dt.date | None, today: dt.date) -> int | None:
    return None if deadline is None else (deadline - today).days


def age_days(created_at: dt.datetime, today: dt.date) -> int:
    return (today - created_at.date()).days


@dataclass(frozen=True)
class SkontoNow:
    """The Skonto an invoice offers as of ``today`` (einvoice.skonto's rule)."""

    until: dt.date | None
    percent: Decimal | None
    amount: Decimal | None  # money lost if not paid by ``until``
    lost: bool  # every term has ended: ``amount`` (of the best term there was) is already lost


def skonto_now(invoice, today: dt.date) -> SkontoNow:
    terms = skonto.terms_of_row(invoice)
    if not terms or invoice.amount_due is None:
        return SkontoNow(None, None, None, False)
    term, lost = skonto.shown(terms, today, invoice.amount_due)
    return SkontoNow(term.until, term.percent, term.deduction(invoice.amount_due), lost)


def invoice_deadline(invoice, today: dt.date) -> dt.date | None:
    """The deadline shown for an invoice today: the date of the Skonto term that applies, else the due date."""
    return skonto.deadline(skonto.terms_of_row(invoice), invoice.due_date, today, invoice.amount_due)
