"""Problems of the finance interface as values: an ID a support person can look up and a sentence a clerk can act on.

Delivery, confirmation and payment-run code returns ``FinanceProblem`` values instead of raising, so
a failing record is reported, stored on its outbox row and shown in the CLI, never swallowed.
Exceptions stay reserved for programmer errors. This module must never hold business rules.

IDs:
  RECORD-INCOMPLETE   the posting record lacks something the finance system needs
  RECORD-SOURCE       the original invoice could not be read from the archive to build the record
  ASSIGN-*            an account assignment given by an approver is not usable
  HTTP-TIMEOUT        the finance system did not answer in time (retried)
  HTTP-CONNECT        the finance system could not be reached (retried)
  HTTP-5XX            the finance system answered with a server error (retried)
  HTTP-REJECTED       the finance system refused the record (4xx / status "failed"): a person must look
  HTTP-BAD-ANSWER     the answer could not be understood (retried)
  HMAC-SECRET-MISSING the environment variable with the signing key is not set
  FILE-WRITE          the export file could not be written (retried)
  MAX-ATTEMPTS        the record failed too often and went to the dead letters
  NOT-FOUND, NOT-DEAD, NOT-RELEASED, ALREADY-CONFIRMED, BOOKING-REQUIRED  operator actions refused
  BOOKING-CONFLICT    the finance system reported a second, different booking number for a confirmed
                      record: stored on the outbox row (status ``conflict``) for a person
  PULL-*              the pull API refused a request (token missing/wrong, connector not pull)
  SEPA-*              a payment could not be included in a payment run (see einvoice.finance.sepa);
                      SEPA-CREDIT-NOTE-WAITING / -NOTHING-OPEN: a credit note not netted in this run
  SEPA-*              a payment could not be included in a payment run (see einvoice.finance.sepa)
  PAY-*, UNKNOWN-PERSON, NOT-AUTHORISED, LIMIT, REASON-REQUIRED  who may act on postings and payments
                      (see einvoice.finance.authority)
  KONTIERUNG-NACH-ANORDNUNG  a new account assignment after the Anordnung needs a reason (approval service)
"""
from __future__ import annotations

from dataclasses import dataclass

from einvoice.problems import Problem


@dataclass(frozen=True)
class FinanceProblem(Problem):
    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"

    def as_dict(self) -> dict:
        # "code": the key the finance system and the CLI's JSON output have always read
        return {"code": self.rule, "message": self.message}


class FinanceError(RuntimeError):
    """Raised only where a value cannot be returned (inside the release transaction): carries the problem."""

    def __init__(self, problem: FinanceProblem):
        super().__init__(str(problem))
        self.problem = problem
