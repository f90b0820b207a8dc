"""Skonto (cash discount): the one owner of BR-DE-18 terms, their deadlines and the deduction paid.

XRechnung writes Skonto into the payment terms (BT-20), one line per term (BR-DE-18):
``#SKONTO#TAGE=14#PROZENT=2.00#`` with an optional ``BASISBETRAG=n.nn#`` (then only that base is
discounted). An invoice may give several terms ("3 % within 10 days, 2 % within 20 days").
Everything that needs Skonto — the BR-DE-18 syntax check (``validation.brde``), the model,
intake (``pipeline``), the inbox deadlines (``approval.deadlines``), the posting record and the
payment run — uses this module, so they can never disagree.

The rule for several terms (also in einvoice/finance/README.md):

* A term is **open on a day** when its date (issue date BT-2 + TAGE days) is on or after that day.
* The term that **applies on a day** is, among the terms open on that day, the one with the
  largest deduction in euros (equal deductions: the earlier date). A term that gives less and
  ends earlier than another is never the one to aim for, so it is never shown or taken.
* The **deadline shown** (inbox, reminders) is the date of the term that applies today, or the due
  date (BT-9) when that is earlier. When every term has ended, it is the date of the best term
  there was: the task is overdue and that discount is shown as lost.
* A payment run selects an invoice when the date of the term that applies on the payment day
  (else its due date) is on or before the run's "due by" date.
* The **deduction paid** by a payment run is that of the term that applies on the payment day =
  the later of today (the day the run is made) and the requested execution date. A run with an
  execution date in the past therefore never takes a Skonto that ended before today.
* Amount paid = amount due − percent/100 × (BASISBETRAG, else the amount due), half-up to cents.

Out of range terms (more than ``MAX_DAYS`` days, a date past the calendar, a percentage not
between 0 and 100) are no usable Skonto: ``dated_terms`` drops them and returns a finding
(``SKONTO-RANGE``) instead of raising. This module must never read or write the database or
decide anything else about a payment.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Iterable

CENT = Decimal("0.01")
#: A Skonto is a reward for paying early: a term longer than a year is a typo (or an attack on the
#: date arithmetic), never a discount to wait for.
MAX_DAYS = 365

#: One BR-DE-18 line (KoSIT's expression; groups: days, percent, base amount).
LINE = re.compile(r"^#SKONTO#TAGE=([0-9]+)#PROZENT=([0-9]+\.[0-9]{2})(?:#BASISBETRAG=(-?[0-9]+\.[0-9]{2}))?#$")


@dataclass(frozen=True)
class SkontoTerm:  # one BR-DE-18 line of BT-20
    days: int
    percent: Decimal
    base_amount: Decimal | None = None  # BASISBETRAG; None means the amount due (BT-115)


@dataclass(frozen=True)
class Term:
    """A term with its date: what deadlines and payments work with."""

    until: dt.date
    percent: Decimal
    base_amount: Decimal | None = None
    days: int | None = None

    def payment(self, amount_due: Decimal) -> Decimal:
        return payment(amount_due, self.percent, self.base_amount)

    def deduction(self, amount_due: Decimal) -> Decimal:
        return (Decimal(amount_due) - self.payment(amount_due)).quantize(CENT, rounding=ROUND_HALF_UP)

    def days_from(self, issue_date: dt.date | None) -> int | None:
        """TAGE of the term: as written, else counted from the issue date (terms stored as a date only)."""
        if self.days is not None:
            return self.days
        return (self.until - issue_date).days if issue_date is not None else None


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str


# --------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------
def parse_line(line: str) -> SkontoTerm | None:
    m = LINE.match(line)
    if not m:
        return None
    # More than 9 digits is no day count (and int() refuses over 4,300 digits): kept as "too many
    # days", so the range checks (SKONTO-RANGE, validation.plausibility) report it.
    days = int(m.group(1)) if len(m.group(1)) <= 9 else 10**9
    return SkontoTerm(days, Decimal(m.group(2)), Decimal(m.group(3)) if m.group(3) else None)


def parse_terms(payment_terms: str | None) -> tuple[SkontoTerm, ...]:
    """Skonto terms from BT-20; lines that do not match are ignored here (BR-DE-18 reports them)."""
    if not payment_terms:
        return ()
    return tuple(t for t in (parse_line(ln.strip()) for ln in payment_terms.splitlines()) if t is not None)


# --------------------------------------------------------------------------------------------
# dates, range checks
# --------------------------------------------------------------------------------------------
def term_finding(term: SkontoTerm, issue_date: dt.date | None) -> Finding | None:
    """Why a term is no usable Skonto (SKONTO-RANGE), or None."""
    text = f"#SKONTO#TAGE={term.days}#PROZENT={term.percent}#"
    if term.days > MAX_DAYS:
        return Finding("SKONTO-RANGE", f"Skonto-Zeile {text}: {term.days} Tage liegen über {MAX_DAYS} Tagen; "
                                       "sie wird nicht als Skonto berücksichtigt. Bitte beim Lieferanten nachfragen.")
    if not (Decimal(0) < term.percent < Decimal(100)):
        return Finding("SKONTO-RANGE", f"Skonto-Zeile {text}: {term.percent} Prozent liegt nicht zwischen 0 und 100; "
                                       "sie wird nicht als Skonto berücksichtigt.")
    if issue_date is not None:
        try:
            issue_date + dt.timedelta(days=term.days)
        except OverflowError:
            return Finding("SKONTO-RANGE", f"Skonto-Zeile {text}: das Datum liegt außerhalb des Kalenders.")
    return None


def dated_terms(terms: Iterable[SkontoTerm], issue_date: dt.date | None) -> tuple[list[Term], list[Finding]]:
    """The usable terms with their dates (issue date + days) and findings for the unusable ones."""
    out: list[Term] = []
    findings: list[Finding] = []
    for t in terms:
        f = term_finding(t, issue_date)
        if f is not None:
            findings.append(f)
        elif issue_date is not None:
            out.append(Term(issue_date + dt.timedelta(days=t.days), Decimal(t.percent), t.base_amount, t.days))
    return out, findings


def findings(payment_terms_or_terms, issue_date: dt.date | None) -> list[Finding]:
    terms = parse_terms(payment_terms_or_terms) if isinstance(payment_terms_or_terms, str) else payment_terms_or_terms
    return dated_terms(terms or (), issue_date)[1]


# --------------------------------------------------------------------------------------------
# the rule
# --------------------------------------------------------------------------------------------
def payment(amount_due: Decimal, percent: Decimal, base_amount: Decimal | None = None) -> Decimal:
    """Amount to transfer when the discount is taken: amount − percent/100 × (base or amount), half-up to cents."""
    amount_due, percent = Decimal(amount_due), Decimal(percent)
    base = Decimal(amount_due) if base_amount is None else Decimal(base_amount)
    return (amount_due - base * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def applicable(terms: Iterable[Term], on: dt.date, amount_due: Decimal | None) -> Term | None:
    """The term that applies on ``on``: open that day, largest deduction, then earliest date."""
    open_terms = [t for t in terms if t.until >= on]
    if not open_terms:
        return None
    amount = Decimal(amount_due) if amount_due is not None else Decimal(100)
    return min(open_terms, key=lambda t: (-t.deduction(amount), t.until))


def shown(terms: Iterable[Term], today: dt.date, amount_due: Decimal | None) -> tuple[Term | None, bool]:
    """(term shown, lost): the term that applies today; when every term has ended, the best one there was
    (lost=True: that discount is gone and the task is overdue since its date)."""
    terms = list(terms)
    t = applicable(terms, today, amount_due)
    if t is None and terms:
        return applicable(terms, min(x.until for x in terms), amount_due), True
    return t, False


def deadline(terms: Iterable[Term], due_date: dt.date | None, today: dt.date, amount_due: Decimal | None) -> dt.date | None:
    """The deadline shown: the date of the term ``shown`` today, or the due date if that is earlier / there is no term."""
    t, _lost = shown(terms, today, amount_due)
    dates = [d for d in (t.until if t else None, due_date) if d is not None]
    return min(dates) if dates else None


def shown_dates(terms: Iterable[Term], amount_due: Decimal | None) -> list[dt.date]:
    """Every date ``shown`` gives as the days pass, ascending (without the lost one after the last).

    The term that applies only changes the day after a term ends, so the first day of the first
    term and the day after each term's date are all the days to look at."""
    terms = list(terms)
    if not terms:
        return []
    days = [min(t.until for t in terms)] + [t.until + dt.timedelta(days=1) for t in terms]
    seen: list[dt.date] = []
    for d in sorted(days):
        t = applicable(terms, d, amount_due)
        if t is not None and t.until not in seen:
            seen.append(t.until)
    return sorted(seen)


def payment_day(today: dt.date, execution_date: dt.date | None) -> dt.date:
    """The day whose open term a payment run takes: never before today, whatever the execution date."""
    return max(today, execution_date) if execution_date is not None else today


def payment_term(record: dict | None, row, pay_day: dt.date) -> Term | None:
    """The term a payment on ``pay_day`` takes: of the posting record's terms (else the row's), the one
    that applies that day; None when no term is open."""
    return applicable(terms_of(record, row), pay_day, row.amount_due)


def on_receipt(terms: Iterable[SkontoTerm], issue_date: dt.date | None,
               amount_due: Decimal | None) -> tuple[dt.date | None, Decimal | None, str | None]:
    """What intake stores on the invoice row: (date, percent) of the term that applies on the issue
    date, and every usable term as JSON (``to_json``). Out-of-range terms never reach the arithmetic."""
    dated, _findings = dated_terms(terms or (), issue_date)
    if not dated or issue_date is None:
        return None, None, None
    first = applicable(dated, issue_date, amount_due)
    return (first.until, first.percent, to_json(dated)) if first else (None, None, to_json(dated))


# --------------------------------------------------------------------------------------------
# storage forms (posting record, invoice row)
# --------------------------------------------------------------------------------------------
def to_json(terms: Iterable[Term]) -> str | None:
    """The invoice row's ``skonto_terms`` column: the usable dated terms as JSON (None when there are none)."""
    items = [{"until": t.until.isoformat(), "percent": str(t.percent), "days": t.days,
              "base_amount": None if t.base_amount is None else str(t.base_amount)} for t in terms]
    return json.dumps(items, sort_keys=True) if items else None


def from_dicts(items: Iterable[dict]) -> list[Term]:
    """Terms from the posting record (``payment_terms.skonto``) or the row's JSON column; bad items are skipped."""
    out = []
    for it in items or ():
        try:
            out.append(Term(dt.date.fromisoformat(it["until"]), Decimal(str(it["percent"])),
                            Decimal(str(it["base_amount"])) if it.get("base_amount") not in (None, "") else None,
                            it.get("days")))
        except (KeyError, TypeError, ValueError, InvalidOperation):
            continue
    return out


def terms_of_row(row) -> list[Term]:
    """The dated terms of an invoice row: the ``skonto_terms`` column, else its single stored term."""
    raw = getattr(row, "skonto_terms", None)
    if raw:
        try:
            return from_dicts(json.loads(raw))
        except ValueError:
            pass
    if getattr(row, "skonto_until", None) is not None and getattr(row, "skonto_percent", None) is not None:
        return [Term(row.skonto_until, Decimal(row.skonto_percent))]
    return []


def terms_of(record: dict | None, row) -> list[Term]:
    """Terms for a payment: the posting record's (what the finance system booked), else the row's."""
    if record is not None and record.get("payment_terms", {}).get("skonto") is not None:
        return from_dicts(record["payment_terms"]["skonto"])
    return terms_of_row(row)
