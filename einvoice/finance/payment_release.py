"""Two-person release of a payment run before its file goes to the bank (§ 31 Abs. 3 KomHVO NRW).

A run prepared by ``einvoice.finance.payment_run`` (status ``created``) reserves its invoices but
pays nothing. ``release_payment_run`` is called twice, by two different persons of the Kasse (role
``treasury``, within its Wertgrenze for the run's total), neither of whom gave the Anordnung of an
invoice in the run or booked one of its invoices by hand (``einvoice.finance.authority``):

  created --first release--> first_release --second release--> released (+ file written)

The second release moves every invoice of the run POSTED → PAID with its ``paid`` audit event, in
one transaction with the run's new status; only after that commit is the file written (atomically)
to the payment directory. Every release is an audit event on each invoice of the run. A refused
release changes nothing and returns its ``FinanceProblem`` (rule ID + German message).

This module must never write a file for a run that is not released by two persons, never pay an
invoice that is not POSTED, and never let one person give both releases.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from einvoice.approval.tables import ApprovalTask
from einvoice.db import Database
from einvoice.db.models import InvoiceEvent, InvoiceRow, utcnow
from einvoice.finance import authority, errors
from einvoice.finance import messages as M
from einvoice.finance.errors import FinanceError, FinanceProblem
from einvoice.finance.tables import (
    FinanceOutbox,
    FinancePosting,
    PaymentItem,
    PaymentRun,
)
from einvoice.organisation import Organisation, Role
from einvoice.states import InvoiceState, check_transition


class _Conflict(Exception):
    """Internal: a concurrent release moved the run first; roll back and answer STALE."""


@dataclass(frozen=True)
class ReleaseResult:
    ok: bool
    problem: FinanceProblem | None
    run_id: int
    status: str | None  # the run's status after this call
    path: Path | None = None  # the file for the bank (second release only)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "problem": self.problem.as_dict() if self.problem else None, "run_id": self.run_id,
                "status": self.status, "path": str(self.path) if self.path else None}


def _anordnungen(s, invoice_ids: list[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    rows = s.execute(sa.select(ApprovalTask.invoice_id, ApprovalTask.decided_by, ApprovalTask.on_behalf_of).where(
        ApprovalTask.invoice_id.in_(invoice_ids), ApprovalTask.step == "anordnung", ApprovalTask.signoff_valid.is_(True)))
    for inv, by, behalf in rows:
        out.setdefault(inv, set()).update(p for p in (by, behalf) if p)
    return out


def _booked_by_hand(s, invoice_ids: list[int]) -> dict[int, str]:
    rows = s.execute(sa.select(FinancePosting.invoice_id, FinanceOutbox.resolved_by, FinanceOutbox.resolution)
                     .join(FinanceOutbox, FinanceOutbox.posting_id == FinancePosting.id)
                     .where(FinancePosting.invoice_id.in_(invoice_ids), FinanceOutbox.resolved_by.is_not(None)))
    return {inv: by for inv, by, resolution in rows if (resolution or "").startswith("booked by hand")}


def release_payment_run(db: Database, org: Organisation, run_id: int, person_id: str, *, output_dir: Path,
                        today: dt.date | None = None, now: Callable[[], dt.datetime] = utcnow) -> ReleaseResult:
    """The next release of run ``run_id`` by ``person_id``; the second one pays and writes the file."""
    stage = 0
    try:
        with db.transaction() as s:
            run = s.get(PaymentRun, run_id, with_for_update=True)
            if run is None:
                return ReleaseResult(False, M.problem(M.NOT_FOUND_RUN, run_id=run_id), run_id, None)
            stage = 1 if run.status == "created" else 2
            problem = authority.release_state(run.status, stage, run_id)
            if problem is None:
                who = authority.acting_as(org, person_id, Role.TREASURY, amount=run.control_sum, today=today,
                                          what=f"release payment run {run_id}")
                problem = who if isinstance(who, FinanceProblem) else None
            items = s.scalars(sa.select(PaymentItem).where(PaymentItem.run_id == run_id).order_by(PaymentItem.id)).all()
            ids = [it.invoice_id for it in items]
            problem = (problem or authority.four_eyes(run.first_release_by, person_id, run_id)
                       or authority.not_anordnender(person_id, _anordnungen(s, ids), run_id)
                       or authority.not_booker(person_id, _booked_by_hand(s, ids), run_id))
            if problem is not None:
                return ReleaseResult(False, problem, run_id, run.status)
            at = now()
            # Compare-and-set on the status: of two releases at once exactly one moves the run on
            # (PostgreSQL also holds the row lock taken above; SQLite has no row locks).
            values = ({"status": "first_release", "first_release_by": person_id, "first_released_at": at} if stage == 1
                      else {"status": "released", "second_release_by": person_id, "second_released_at": at})
            moved = s.execute(sa.update(PaymentRun).where(PaymentRun.id == run_id, PaymentRun.status == run.status)
                              .values(**values).execution_options(synchronize_session=False)).rowcount
            if moved != 1:
                raise _Conflict()
            s.refresh(run)
            invoices = {inv.id: inv for inv in s.scalars(sa.select(InvoiceRow).where(InvoiceRow.id.in_(ids)).with_for_update())}
            # A credit note's item carries the end-to-end id of the transfer it was netted with.
            netted_with = {it.end_to_end_id: it.invoice_id for it in items if it.amount_paid >= 0}
            for it in items:
                inv = invoices[it.invoice_id]
                from_state = inv.state
                if stage == 2:
                    if inv.state != InvoiceState.POSTED.value:  # a concurrent release paid it: this one loses
                        raise _Conflict()
                    check_transition(InvoiceState(inv.state), InvoiceState.PAID)
                    inv.state = InvoiceState.PAID.value
                comment, texts = M.trail(
                    "paid", message_id=run.message_id, execution=run.execution_date.isoformat(), person=person_id,
                    first=run.first_release_by,
                    skonto=M.trail_part("paid-skonto", skonto=it.skonto) if it.skonto else ("", ""),
                    credit=M.trail_part("paid-credit", amount=-it.amount_paid, invoice=netted_with.get(it.end_to_end_id))
                    if it.amount_paid < 0 else ("", "")) if stage == 2 else M.trail(
                    "first-release", message_id=run.message_id, person=person_id)
                s.add(InvoiceEvent(
                    invoice_id=inv.id, actor=person_id, role=who.role.value, on_behalf_of=who.on_behalf_of,
                    action="paid" if stage == 2 else "payment_release", from_state=from_state, to_state=inv.state,
                    amount=it.amount_paid, comment=comment,
                    details_json=json.dumps({"run_id": run.id, "message_id": run.message_id, "release": stage,
                                             "end_to_end_id": it.end_to_end_id, "amount_paid": str(it.amount_paid),
                                             "skonto": str(it.skonto), "iban": it.creditor_iban, **texts},
                                            ensure_ascii=False)))
            status = run.status
    except (StaleDataError, OperationalError, _Conflict) as exc:
        if isinstance(exc, OperationalError) and "lock" not in str(exc).lower():
            raise
        return ReleaseResult(False, M.problem(M.STALE_RUN), run_id, None)
    if stage == 1:
        return ReleaseResult(True, None, run_id, status)
    from einvoice.finance.sepa import export_run

    try:
        path = export_run(db, run_id, output_dir)
    except OSError as exc:
        return ReleaseResult(True, M.problem(
            errors.SEPA_FILE_WRITE, run_id=run_id, directory=output_dir, error=exc.strerror or exc), run_id, status)
    return ReleaseResult(True, None, run_id, status, path)


def export_released_run(db: Database, org: Organisation, run_id: int, person_id: str, output_dir: Path) -> Path | FinanceProblem:
    """A person of the Kasse writes a released run's file again (same MsgId, same bytes), e.g. after a
    lost file; refused for unknown people, other roles and runs not released by two persons."""
    who = authority.acting_as(org, person_id, Role.TREASURY, what=f"hand payment run {run_id} to the bank again")
    if isinstance(who, FinanceProblem):
        return who
    from einvoice.finance.sepa import export_run

    try:
        return export_run(db, run_id, output_dir)
    except FinanceError as exc:
        return exc.problem
