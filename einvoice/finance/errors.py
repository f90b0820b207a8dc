"""Problems of the finance interface as values: an ID a support person can look up and a sentence a clerk can act on.

Delivery, confirmation and payment-run code returns ``FinanceProblem`` values instead of raising, so
a failing record is reported, stored on its outbox row and shown in the CLI, never swallowed.
Exceptions stay reserved for programmer errors. This module must never hold business rules.

Every ID is a constant below, defined once; raise sites name the constant, never a string, and
build the problem with ``einvoice.finance.messages.problem`` (German and English text per ID;
``tests/finance/test_problem_ids.py``). IDs the approval layer also uses (UNKNOWN-PERSON,
REASON-REQUIRED, STALE; NOT-AUTHORISED, LIMIT, … reach finance as ``Refusal.rule`` from
``einvoice.approval.rules``) carry the same value as there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from einvoice.problems import Problem

# -- the posting record
RECORD_INCOMPLETE = "RECORD-INCOMPLETE"  # the record lacks something the finance system needs
RECORD_SOURCE = "RECORD-SOURCE"  # the original invoice could not be read from the archive to build the record
RECORD_NOT_QUEUED = "RECORD-NOT-QUEUED"  # repair: the release hook queued no posting record
RECORD_OUTCOME = "RECORD-OUTCOME"  # the finance system's answer could not be stored (the record is sent again)
# -- an account assignment given by an approver is not usable
ASSIGN_AMOUNT = "ASSIGN-AMOUNT"
ASSIGN_DEPARTMENT = "ASSIGN-DEPARTMENT"
ASSIGN_EMPTY = "ASSIGN-EMPTY"
ASSIGN_KOSTENSTELLE = "ASSIGN-KOSTENSTELLE"
ASSIGN_PERSON = "ASSIGN-PERSON"
ASSIGN_PRODUKT = "ASSIGN-PRODUKT"
ASSIGN_ROLE = "ASSIGN-ROLE"
ASSIGN_SACHKONTO = "ASSIGN-SACHKONTO"
ASSIGN_STATE = "ASSIGN-STATE"
ASSIGN_SUM = "ASSIGN-SUM"
# -- delivery to the finance system (HTTP-TIMEOUT, -CONNECT, -5XX, -BAD-ANSWER and FILE-WRITE are retried)
HTTP_TIMEOUT = "HTTP-TIMEOUT"  # the finance system did not answer in time
HTTP_CONNECT = "HTTP-CONNECT"  # the finance system could not be reached
HTTP_5XX = "HTTP-5XX"  # the finance system answered with a server error
HTTP_REJECTED = "HTTP-REJECTED"  # the finance system refused the record (4xx / status "failed"): a person must look
HTTP_BAD_ANSWER = "HTTP-BAD-ANSWER"  # the answer could not be understood
HMAC_SECRET_MISSING = "HMAC-SECRET-MISSING"  # the environment variable with the signing key is not set
WEBHOOK_URL_MISSING = "WEBHOOK-URL-MISSING"  # finance.webhook.url is not set in the organisation file
FILE_WRITE = "FILE-WRITE"  # the export file could not be written
UNKNOWN = "UNKNOWN"  # a delivery failed without naming its problem
MAX_ATTEMPTS = "MAX-ATTEMPTS"  # the record failed too often and went to the dead letters
LEASE_LOST = "LEASE-LOST"  # another worker took over the outbox row while it was being delivered
REJECTED = "REJECTED"  # the finance system confirmed the record as refused
# -- confirmations (receipt files, the pull API) and operator actions refused
RECEIPT_STATUS = "RECEIPT-STATUS"  # a receipt file names a status the outbox does not know
RECEIPT_UNREADABLE = "RECEIPT-UNREADABLE"  # a receipt file cannot be read
NOT_FOUND = "NOT-FOUND"
NOT_DEAD = "NOT-DEAD"
ALREADY_CONFIRMED = "ALREADY-CONFIRMED"
BOOKING_REQUIRED = "BOOKING-REQUIRED"
#: the finance system reported a second, different booking number for a confirmed record: stored on
#: the outbox row (status ``conflict``) for a person
BOOKING_CONFLICT = "BOOKING-CONFLICT"
STALE = "STALE"  # someone else changed the row or run meanwhile (the approval layer's ID)
# -- the pull API refused a request
PULL_DISABLED = "PULL-DISABLED"  # the organisation does not use the pull connector
PULL_TOKEN_MISSING = "PULL-TOKEN-MISSING"  # the pull token's environment variable is not set or too short
PULL_UNAUTHORIZED = "PULL-UNAUTHORIZED"  # the bearer token is missing or wrong
# -- a payment could not be included in a payment run (einvoice.finance.sepa)
SEPA_AMOUNT = "SEPA-AMOUNT"
SEPA_BIC = "SEPA-BIC"
SEPA_CONFLICT = "SEPA-CONFLICT"
SEPA_CREDIT_NOTE = "SEPA-CREDIT-NOTE"
SEPA_CREDIT_NOTE_WAITING = "SEPA-CREDIT-NOTE-WAITING"  # a credit note not netted in this run (no invoice paid)
SEPA_CREDIT_NOTE_NOTHING_OPEN = "SEPA-CREDIT-NOTE-NOTHING-OPEN"  # a credit note with nothing open to net it against
SEPA_CURRENCY = "SEPA-CURRENCY"
SEPA_FILE_WRITE = "SEPA-FILE-WRITE"
SEPA_IBAN = "SEPA-IBAN"
SEPA_IBAN_CHANGED = "SEPA-IBAN-CHANGED"
SEPA_PAYER_MISSING = "SEPA-PAYER-MISSING"
SEPA_TOTALS = "SEPA-TOTALS"
SEPA_XSD = "SEPA-XSD"
# -- who may act on postings and payments (einvoice.finance.authority; NOT-AUTHORISED, LIMIT,
# DEPUTY-NOT-ABSENT and AUDITOR-READ-ONLY come from the approval rules as they are)
UNKNOWN_PERSON = "UNKNOWN-PERSON"  # the approval layer's ID
REASON_REQUIRED = "REASON-REQUIRED"  # the approval layer's ID
PAY_FOUR_EYES = "PAY-FOUR-EYES"
PAY_NOT_RELEASED = "PAY-NOT-RELEASED"
PAY_RELEASE_ANORDNUNG = "PAY-RELEASE-ANORDNUNG"
PAY_RELEASE_BOOKED = "PAY-RELEASE-BOOKED"
PAY_RUN_STATE = "PAY-RUN-STATE"


@dataclass(frozen=True)
class FinanceProblem(Problem):
    #: the English sentence (``message`` is in the language set, German by default): the pull API
    #: promised English messages to the finance system; None where only one wording is known
    message_en: str | None = field(default=None, kw_only=True, compare=False)
    #: the German sentence, where both wordings are known (kept with the trail entry)
    message_de: str | None = field(default=None, kw_only=True, compare=False)

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"

    def as_dict(self) -> dict:
        # "code": the key the finance system and the CLI's JSON output have always read
        # "message" is in the language set; "message_en" keeps the English the API always gave
        out = {"code": self.rule, "message": self.message}
        if self.message_en is not None:
            out["message_en"] = self.message_en
        return out


class FinanceError(RuntimeError):
    """Raised only where a value cannot be returned (inside the release transaction): carries the problem."""

    def __init__(self, problem: FinanceProblem):
        super().__init__(str(problem))
        self.problem = problem
