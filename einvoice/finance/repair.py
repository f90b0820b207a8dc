"""Released invoices without a posting record: find them and queue their posting, exactly once.

Every release runs the finance hook in its own transaction (``App.approval``), so a released
invoice always has its posting record and outbox row. Installations that released through a
service built without the hook (``einvoice tasks approve`` before it used ``App.approval``) have
released invoices that nothing would ever post; ``repair_released`` finds them and runs the same
hook for each, in its own transaction, with an audit event ``posting_repaired``. It is idempotent:
the invoice is locked and checked again inside the transaction, ``enqueue_posting`` queues once,
and the database refuses a second posting per invoice, so two repairs at once queue each invoice
once. The ``post-released`` flow calls it before it delivers.

This module must never release, post or pay anything itself, and never build a record any other
way than the release hook does.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from einvoice.db import Database
from einvoice.db.models import InvoiceEvent, InvoiceRow
from einvoice.finance import errors
from einvoice.finance import messages as M
from einvoice.finance.errors import FinanceError, FinanceProblem
from einvoice.finance.tables import FinancePosting
from einvoice.states import InvoiceState

log = logging.getLogger(__name__)


@dataclass
class RepairReport:
    queued: list[int] = field(default_factory=list)  # invoices whose posting was queued now
    problems: list[tuple[int, FinanceProblem]] = field(default_factory=list)  # still without a record, and why

    def as_dict(self) -> dict:
        return {"queued": self.queued, "problems": [{"invoice_id": i, **p.as_dict()} for i, p in self.problems]}


def _missing(db: Database, limit: int | None) -> list[int]:
    has_posting = sa.exists().where(FinancePosting.invoice_id == InvoiceRow.id)
    q = (sa.select(InvoiceRow.id).where(InvoiceRow.state == InvoiceState.RELEASED.value, ~has_posting).order_by(InvoiceRow.id))
    if limit is not None:
        q = q.limit(limit)
    with db.sessions() as s:
        return list(s.scalars(q))


def released_without_posting(db: Database, limit: int | None = None) -> list[int]:
    """Released invoices that have no posting record (nothing would ever post them)."""
    return _missing(db, limit)


def queue_missing_postings(db: Database, hook: Callable[[Session, InvoiceRow], None], *, actor: str = "system",
                           limit: int | None = None) -> RepairReport:
    """Run the release ``hook`` for every released invoice without a posting record (see the module docstring)."""
    report = RepairReport()
    for invoice_id in _missing(db, limit):
        try:
            with db.transaction() as s:
                inv = s.get(InvoiceRow, invoice_id, with_for_update=True)
                exists = s.scalar(sa.select(FinancePosting.id).where(FinancePosting.invoice_id == invoice_id))
                if inv is None or inv.state != InvoiceState.RELEASED.value or exists is not None:
                    continue  # a concurrent repair (or release) got there first
                hook(s, inv)
                s.flush()
                if s.scalar(sa.select(FinancePosting.id).where(FinancePosting.invoice_id == invoice_id)) is None:
                    raise FinanceError(M.problem(errors.RECORD_NOT_QUEUED, invoice_id=invoice_id))
                comment, texts = M.trail("repaired")
                s.add(InvoiceEvent(
                    invoice_id=inv.id, actor=actor, action="posting_repaired", from_state=inv.state, to_state=inv.state,
                    amount=inv.amount_due, comment=comment,
                    details_json=json.dumps({"repair": "released-without-posting", **texts}, ensure_ascii=False)))
            report.queued.append(invoice_id)
        except FinanceError as exc:  # the record cannot be built yet (archive down, no Sachkonto): say so, go on
            report.problems.append((invoice_id, exc.problem))
        except (IntegrityError, OperationalError) as exc:
            # Another repair queued this invoice at the same moment (unique posting per invoice) or held its lock.
            if isinstance(exc, OperationalError) and "lock" not in str(exc).lower():
                raise
            log.info("invoice %s: a concurrent repair queued it (%s)", invoice_id, type(exc).__name__)
    return report


def repair_released(app, *, limit: int | None = None) -> RepairReport:
    """``queue_missing_postings`` with the application's own release hooks (the same as every release)."""
    hooks = app.release_hooks()

    def hook(session: Session, row: InvoiceRow) -> None:
        for h in hooks:
            h(session, row)

    return queue_missing_postings(app.db, hook, limit=limit)
