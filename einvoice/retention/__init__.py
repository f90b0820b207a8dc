"""Which retention clock an archive entry runs on: its class and its base date.

Every archive entry belongs to one retention class (the years come from the organisation file,
``archive.retention_years``): the received invoice document, its approval trail and the payment
file are Belege (8 years since BEG IV), the posting record is part of the books and the procedure
documentation is kept 10 years (§ 147 (3) AO, § 257 (4) HGB). The period runs from the end of the
calendar year of receipt or booking, a date this administration sets, never from a date the
supplier writes into the invoice alone: an issue date of 1999 would give a lock that is already
over (S3 refuses it), 9999 one past any calendar, 2150 one that nobody could ever shorten.
An implausible issue date is therefore a finding (``check_issue_date``), never the lock.

Municipal budget law can count longer (§ 59 (2) KomHVO NRW: from 1 January after the
Feststellung of the annual accounts); that is decided later, per budget year, with
``einvoice extend-retention`` (archive.retention). This module must never write
anything; it only decides dates and findings.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

# The retention classes and their legal default years are read with the organisation file.
from einvoice.organisation import (  # noqa: F401 - the classes are named here by their users
    APPROVAL_TRAIL,
    DEFAULT_YEARS,
    INVOICE,
    PAYMENT_FILE,
    POSTING_RECORD,
    PROCEDURE,
)

#: German public bodies keep books in German local time: "the year of receipt" follows it.
LOCAL_TIME = ZoneInfo("Europe/Berlin")

ISSUE_DATE_RULE = "EINVOICE-ARCHIVE-ISSUE-DATE"
#: An issue date this far after receipt is no slip of the calendar (suppliers date a few days ahead).
MAX_DAYS_AHEAD = 31
#: An invoice older than this at receipt lies beyond any retention period it could belong to.
MAX_YEARS_BACK = 10


@dataclass(frozen=True)
class RetentionFinding:
    """Something about an entry's dates a clerk should look at; the archive lock is not affected."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


def local_date(moment: dt.datetime | None = None) -> dt.date:
    """The calendar date in Germany at ``moment`` (default: now)."""
    moment = moment or dt.datetime.now(dt.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)  # stored times are UTC
    return moment.astimezone(LOCAL_TIME).date()


def check_issue_date(issue_date: dt.date | None, received: dt.date) -> RetentionFinding | None:
    """EINVOICE-ARCHIVE-ISSUE-DATE: the issue date (BT-2) must be plausible for an invoice received
    on ``received``. An implausible one is reported; retention counts from receipt either way."""
    if issue_date is None:
        return None
    if (issue_date - received).days > MAX_DAYS_AHEAD:
        return RetentionFinding(ISSUE_DATE_RULE, (
            f"Das Rechnungsdatum {issue_date:%d.%m.%Y} liegt mehr als {MAX_DAYS_AHEAD} Tage nach dem Eingang "
            f"({received:%d.%m.%Y}). Die Aufbewahrungsfrist läuft ab dem Eingang; bitte das Datum beim "
            f"Rechnungssteller klären."))
    if issue_date.year < received.year - MAX_YEARS_BACK:
        return RetentionFinding(ISSUE_DATE_RULE, (
            f"Das Rechnungsdatum {issue_date:%d.%m.%Y} liegt mehr als {MAX_YEARS_BACK} Jahre vor dem Eingang "
            f"({received:%d.%m.%Y}). Die Aufbewahrungsfrist läuft ab dem Eingang; bitte das Datum beim "
            f"Rechnungssteller klären."))
    return None


def retention_base(received: dt.date, issue_date: dt.date | None = None) -> dt.date:
    """Base date of a received document: the date of receipt. The issue date never moves it (see
    the module docstring), not even a plausible one: a December invoice received in January
    belongs to the year of receipt, the later and so the longer clock."""
    return received
