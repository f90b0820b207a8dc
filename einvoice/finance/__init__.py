"""Posting released invoices to the municipal finance system exactly once, and paying them by SEPA.

Public API (the CLI, the web app and the Prefect flows code against these names):

* ``enqueue_posting(session, invoice_row, org)`` — the release hook: builds the posting record
  (``record``) and stores it with an outbox row, in the release transaction.
  ``release_hook(app)`` wraps it for ``App.release_hooks()`` (reads the original from the archive).
* ``Outbox(db, org, connector=None, *, now=..., archive=None)`` — ``deliver_pending(limit=)`` →
  ``DeliveryReport``; ``confirm``/``reject`` (late confirmations), ``retry``/``resolve_booked``
  (a person resolves a dead letter), ``fetch_for_pull``, ``archive_pending``, ``list``/``get``.
* ``payment_run(db, org, *, due_by, output_dir, execution_date=None, actor=None)`` → ``PaymentRunResult`` —
  one pain.001.001.09 file for the posted invoices that are due, waiting for its two releases.
* ``repair_released(app)`` / ``queue_missing_postings(db, hook)`` — released invoices without a
  posting record get it queued, exactly once (``einvoice finance repair-released``, post-released flow).
* ``release_payment_run(db, org, run_id, person_id, output_dir=)`` — first and second release of a
  payment run by two persons of the Kasse; only the second writes the file for the bank.
* ``finance_status(db, invoice_id)`` — posting/payment state, booking number, last error (for the inbox).
* ``set_account_assignment(db, org, invoice_id, person_id, lines)`` — an approver splits the
  amount over Sachkonto / Kostenstelle / Produkt before the release.
* ``einvoice.finance.pull_api.router`` — FastAPI router for the pull connector, mounted by the
  web app (``einvoice.web.app.create_app``) behind the finance system's own bearer token.

Errors are values (``FinanceProblem``: ID + sentence for a clerk). This package must never
import Prefect or a web framework outside ``pull_api``, never hold a municipality's accounts,
URLs or secrets in code (organisation file and environment), and never post or pay twice.
"""
from __future__ import annotations

from einvoice.finance.errors import FinanceError, FinanceProblem
from einvoice.finance.outbox import (
                                     DeliveryReport,
                                     DeliveryResult,
                                     Outbox,
                                     OutboxView,
                                     enqueue_posting,
                                     finance_status,
                                     outbox_for_app,
                                     posting_record,
                                     release_hook,
)
from einvoice.finance.payment_release import ReleaseResult, release_payment_run
from einvoice.finance.record import build_record, set_account_assignment
from einvoice.finance.repair import RepairReport, queue_missing_postings, released_without_posting, repair_released
from einvoice.finance.sepa import PaymentRunResult, export_run, list_runs, payment_run

__all__ = [
    "DeliveryReport", "DeliveryResult", "FinanceError", "FinanceProblem", "Outbox", "OutboxView", "PaymentRunResult",
    "build_record", "enqueue_posting", "export_run", "finance_status", "outbox_for_app", "list_runs", "payment_run", "posting_record", "release_hook",
    "set_account_assignment", "RepairReport", "queue_missing_postings", "released_without_posting", "repair_released",
    "ReleaseResult", "release_payment_run",
]
