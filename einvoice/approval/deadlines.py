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
from decimal import Decimal

from einvoice import skonto


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
