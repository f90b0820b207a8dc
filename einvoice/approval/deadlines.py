"""Deadlines: which invoice must be decided first, and how much money is lost if it is late.

The deadline of an invoice is the earlier of its Skonto date (from BT-20 ``#SKONTO#TAGE=n#``,
counted from BT-2) and its due date (BT-9): a lost cash discount is lost money, so the Skonto date
is the real deadline. With several Skonto terms the term is chosen by the one rule of
``einvoice.model.skonto`` (the term that applies today: still open, largest deduction), the same term a
payment run made today would take. This module only computes; it must never write to the
database or send anything (``ApprovalService.send_reminders`` records what was sent).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from einvoice.model import skonto


def days_left(deadline: dt.date | None, today: dt.date) -> int | None:
    return None if deadline is None else (deadline - today).days


def age_days(created_at: dt.datetime, today: dt.date) -> int:
    return (today - created_at.date()).days


@dataclass(frozen=True)
class SkontoNow:
    """The Skonto an invoice offers as of ``today`` (einvoice.model.skonto's rule)."""

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


def skonto_dates(invoice) -> tuple[dt.date | None, dt.date | None, dt.date | None]:
    """(first, second, last): the dates the Skonto shown by ``skonto_now`` takes as the days pass.

    The term that applies on a day is the one with the largest deduction among the terms still
    open (``einvoice.model.skonto.applicable``, ``shown_dates``), so as time goes on the date shown only moves forward,
    through a few distinct dates. These are stored on the task (migration 0011) so the inbox can
    order by "open Skonto ending soonest" in SQL: on a day ``d`` the date shown is the first of
    them on or after ``d``; no Skonto is open once ``last`` has passed. An invoice with more than
    three such dates (never seen in practice) sorts by ``last`` after its second date has passed;
    the page still shows the exact term.
    """
    seen = skonto.shown_dates(skonto.terms_of_row(invoice), invoice.amount_due)
    if not seen:
        return None, None, None
    return seen[0], (seen[1] if len(seen) > 2 else None), seen[-1]
