"""The finance outbox: posting records are written when an invoice is released and delivered from here.

``enqueue_posting`` runs inside the release transaction (an ``ApprovalService`` on_release hook):
it builds the posting record and stores it with its outbox row, so either the invoice is released
*and* its posting is queued, or neither. ``Outbox.deliver_pending`` delivers in three steps, each
its own transaction, so a crash between any two loses nothing and books nothing twice:

  1. claim: rows due for delivery (or whose lease ran out — a delivery that crashed) are leased
     to this worker and their attempt counted;
  2. send: the connector sends the record with its idempotency key (the same on every attempt,
     so a finance system that already booked it answers "duplicate", which counts as success);
  3. record: the outcome is stored; on success the booking number is stored and the invoice moves
     RELEASED → POSTED with its audit event, in one transaction. Transient failures are retried
     with exponential backoff; after ``retry.max_attempts`` (or at once when the finance system
     rejects the record) the row becomes a dead letter that a person resolves (retry, or record a
     booking made by hand), each resolution with an audit event.

After the confirmation the record and the confirmation are archived as a follow-up entry of the
invoice's archive entry (idempotent; ``archive_pending`` catches up after a crash or outage).

This module must never send from inside a database transaction that also changes the invoice,
never change the idempotency key of a record, and never delete an outbox row.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from einvoice import retention
from einvoice.db import Database
from einvoice.db import outbox as delivery
from einvoice.db.models import InvoiceEvent, InvoiceRow, as_utc, utcnow
from einvoice.finance import authority, errors
from einvoice.finance import messages as M
from einvoice.finance import record as rec
from einvoice.finance.connectors import Item, Outcome, make_connector
from einvoice.finance.errors import FinanceError, FinanceProblem
from einvoice.finance.tables import FinanceAttempt, FinanceOutbox, FinancePosting
from einvoice.organisation import Organisation, Role
from einvoice.states import InvoiceState, check_transition

log = logging.getLogger(__name__)

#: Called with the name of each step a delivery has just completed (``claimed``, ``sent``,
#: ``recorded``, ``archived``). Empty in the product; fault-injection tests append a hook that ends
#: the process there, as a power cut would, to prove delivery stays exactly-once.
CHECKPOINTS: list[Callable[[str], None]] = []


def crash_point(name: str) -> None:
    for hook in CHECKPOINTS:
        hook(name)

OPEN_STATUSES = ("pending", "in_flight", "awaiting_confirmation")
#: ``conflict``: the finance system reported a second, different booking number for a confirmed record.
NEEDS_A_PERSON = ("dead", "conflict")


# --------------------------------------------------------------------------------------------
# enqueue (inside the release transaction)
# --------------------------------------------------------------------------------------------
def enqueue_posting(session: Session, invoice_row: InvoiceRow, org: Organisation, *, model=None, root=None,
                    now: Callable[[], dt.datetime] = utcnow) -> None:
    """The release hook: build the posting record and queue it, in the caller's transaction.

    Raises ``FinanceError`` when the record would be incomplete (no Sachkonto, no Anordnung ...):
    the approval service then rolls the release back and shows the message to the clerk.
    Calling it twice for one invoice queues one record.
    """
    existing = session.scalar(sa.select(FinancePosting.id).where(FinancePosting.invoice_id == invoice_row.id))
    if existing is not None:
        return
    record = rec.build_record(session, invoice_row, org, model=model, root=root, now=now)
    problems = rec.completeness(record)
    if problems:
        raise FinanceError(FinanceProblem(problems[0].rule, "; ".join(p.message for p in problems),
                                          message_en="; ".join(p.message_en or p.message for p in problems)))
    posting = FinancePosting(
        invoice_id=invoice_row.id, idempotency_key=record["idempotency_key"], record_json=rec.canonical_json(record),
        record_sha256=rec.record_sha256(record), amount=invoice_row.amount_due, currency=invoice_row.currency or "EUR",
        payee_name=(record["payee"]["name"] or "")[:255], created_at=now(),
    )
    session.add(posting)
    session.flush()
    session.add(FinanceOutbox(posting_id=posting.id, status="pending", attempts=0, next_attempt_at=now(),
                              connector=org.finance.connector, updated_at=now()))
    session.flush()


def load_model(original: bytes):
    """EN 16931 model and XML root of an archived original (XML or hybrid PDF)."""
    from einvoice.intake import detect
    from einvoice.model import invoice_from_xml

    intake = detect(original)
    if intake.root is None:
        raise ValueError("; ".join(p.message for p in intake.problems) or "no invoice XML found")
    return invoice_from_xml(intake.root, intake.syntax), intake.root


def release_hook(app) -> Callable[[Session, InvoiceRow], None]:
    """The on_release hook for ``App.release_hooks()``: reads the original from the archive when there is one."""
    def hook(session: Session, row: InvoiceRow) -> None:
        model = root = None
        if row.archive_original_key:
            try:
                model, root = load_model(app.original_bytes(row))
            except Exception as exc:  # an incomplete record must not be queued: the release waits
                raise FinanceError(M.problem(
                    errors.RECORD_SOURCE, invoice_id=row.id, error=f"{type(exc).__name__}: {exc}")) from exc
        enqueue_posting(session, row, app.organisation, model=model, root=root)
    return hook


# --------------------------------------------------------------------------------------------
# views and reports
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeliveryResult:
    outbox_id: int
    invoice_id: int
    idempotency_key: str
    outcome: str  # booked | duplicate | exported | retry | rejected | dead | error
    booking_number: str | None = None
    problem: FinanceProblem | None = None
    attempts: int = 0


@dataclass(frozen=True)
class ReceiptResult:
    file: str
    line: int
    idempotency_key: str | None
    status: str | None
    problem: FinanceProblem | None = None


@dataclass
class DeliveryReport:
    delivered: int = 0      # confirmed (booked or duplicate) or exported
    failed: int = 0         # will be retried
    dead_lettered: int = 0  # needs a person
    skipped: int = 0        # not sent in this run (pull connector, lost a race, nothing due)
    results: list[DeliveryResult] = field(default_factory=list)
    problem: FinanceProblem | None = None  # the run could not start (configuration)
    archived: int = 0
    receipts: list[ReceiptResult] = field(default_factory=list)  # file connector: receipts read this run

    def as_dict(self) -> dict:
        return {"delivered": self.delivered, "failed": self.failed, "dead_lettered": self.dead_lettered,
                "skipped": self.skipped, "archived": self.archived,
                "receipts": [{**r.__dict__, "problem": r.problem.as_dict() if r.problem else None} for r in self.receipts],
                "problem": self.problem.as_dict() if self.problem else None,
                "results": [{**r.__dict__, "problem": r.problem.as_dict() if r.problem else None} for r in self.results]}


@dataclass(frozen=True)
class OutboxView:
    id: int
    posting_id: int
    invoice_id: int
    invoice_number: str | None
    payee_name: str | None
    amount: str
    currency: str
    idempotency_key: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    connector: str | None
    batch_id: str | None
    last_error_code: str | None
    last_error: str | None
    booking_number: str | None
    confirmed_at: dt.datetime | None
    archive_entry_id: str | None
    resolved_by: str | None
    resolution: str | None

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in self.__dict__.items()}


# --------------------------------------------------------------------------------------------
# the outbox
# --------------------------------------------------------------------------------------------
class Outbox:
    def __init__(self, db: Database, org: Organisation, connector=None, *, now: Callable[[], dt.datetime] = utcnow,
                 archive=None, worker_id: str | None = None):
        self.db = db
        self.org = org
        self.connector = connector if connector is not None else make_connector(org)
        self.now = now
        self.archive = archive
        self.worker_id = worker_id or delivery.new_worker_id()
        self.retry_cfg = org.finance.retry

    # ---- policy --------------------------------------------------------------------------
    def backoff(self, attempts: int) -> dt.timedelta:
        """Delay before the next attempt after ``attempts`` failed ones (``einvoice.db.outbox.backoff``)."""
        return delivery.backoff(self.retry_cfg, attempts)

    # ---- delivery ------------------------------------------------------------------------
    def deliver_pending(self, *, limit: int = 100) -> DeliveryReport:
        report = DeliveryReport()
        if self.connector.name == "file" and self.org.finance.file.receipts_directory:
            report.receipts = self.import_receipts()
        report.archived = self.archive_pending(limit=limit)
        problem = self.connector.check()
        if problem is not None:
            report.problem = problem
            return report
        if not self.connector.pushes:
            with self.db.sessions() as s:
                report.skipped = s.scalar(sa.select(sa.func.count()).select_from(FinanceOutbox)
                                          .where(FinanceOutbox.status == "pending")) or 0
            return report
        if self.connector.batch:
            claimed = self._claim(limit)
            crash_point("claimed")
            by_batch: dict[str, list[Item]] = {}
            for it in claimed:
                by_batch.setdefault(it.batch_id, []).append(it)
            for batch_id, items in by_batch.items():
                outcome = self.connector.send_batch(batch_id, self._batch_items(batch_id))
                crash_point("sent")
                for it in items:
                    self._finish(it, outcome, report)
        else:
            # Claim in chunks that can be sent well within one lease even if every request times out,
            # so no other worker takes a record over while it is still queued here.
            per_item = getattr(self.connector, "seconds_per_item", None)
            chunk = max(1, int(self.retry_cfg.lease_seconds // (2 * per_item))) if per_item else limit
            remaining = limit
            while remaining > 0:
                claimed = self._claim(min(chunk, remaining))
                crash_point("claimed")
                if not claimed:
                    break
                remaining -= len(claimed)
                for it in claimed:
                    outcome = self.connector.send(it)
                    crash_point("sent")
                    self._finish(it, outcome, report)
        return report

    def _batch_items(self, batch_id: str) -> list[Item]:
        """Every record assigned to the batch, whatever its state: the batch files' content is fixed by the id."""
        with self.db.sessions() as s:
            rows = s.execute(sa.select(FinanceOutbox, FinancePosting).join(FinancePosting, FinancePosting.id == FinanceOutbox.posting_id)
                             .where(FinanceOutbox.batch_id == batch_id).order_by(FinanceOutbox.id)).all()
            return [Item(ob.id, p.id, p.invoice_id, p.idempotency_key, p.record_json, ob.batch_id, ob.attempts) for ob, p in rows]

    def _finish(self, it: Item, outcome: Outcome, report: DeliveryReport) -> None:
        try:
            result = self._record(it, outcome)
        except Exception as exc:  # the lease runs out and the row is taken again: nothing is lost
            log.exception("recording the outcome of outbox row %s failed", it.outbox_id)
            result = DeliveryResult(it.outbox_id, it.invoice_id, it.idempotency_key, "error", outcome.booking_number,
                                    M.problem(errors.RECORD_OUTCOME, error=type(exc).__name__),
                                    it.attempts)
        crash_point("recorded")
        report.results.append(result)
        if result.outcome in ("booked", "duplicate", "exported"):
            report.delivered += 1
        elif result.outcome == "dead":
            report.dead_lettered += 1
        elif result.outcome == "skipped":
            report.skipped += 1
        else:
            report.failed += 1
        if outcome.success:
            if self._archive_one(it.posting_id):
                report.archived += 1
            crash_point("archived")

    def _claim(self, limit: int) -> list[Item]:
        now = self.now()
        leased = delivery.lease(self.retry_cfg, self.worker_id, now)
        batch_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        due = sa.or_(sa.and_(*delivery.due(FinanceOutbox, now)), sa.and_(*delivery.lease_ran_out(FinanceOutbox, now)))
        q = sa.select(FinanceOutbox).where(due).order_by(FinanceOutbox.next_attempt_at, FinanceOutbox.id).limit(limit)
        if self.db.engine.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        items: list[Item] = []
        try:
            with self.db.transaction() as s:
                for ob in s.scalars(q).all():
                    p = s.get(FinancePosting, ob.posting_id)
                    for column, value in leased.items():
                        setattr(ob, column, value)
                    ob.attempts += 1
                    if self.connector.batch and not (ob.batch_id and ob.connector == self.connector.name):
                        # A record keeps its batch for good (after a crash or a failed write too): a batch's files
                        # always hold exactly the records assigned to it, so no record lands in two batches.
                        ob.batch_id = batch_id
                    ob.connector = self.connector.name
                    items.append(Item(ob.id, p.id, p.invoice_id, p.idempotency_key, p.record_json, ob.batch_id, ob.attempts))
                s.flush()
        except (StaleDataError, OperationalError) as exc:
            # Another worker claimed (some of) these rows first; they are its to deliver.
            if isinstance(exc, OperationalError) and "lock" not in str(exc).lower():
                raise
            log.info("outbox claim lost a race (%s); nothing claimed this time", type(exc).__name__)
            return []
        return items

    def _record(self, it: Item, outcome: Outcome) -> DeliveryResult:
        now = self.now()
        with self.db.transaction() as s:
            ob = s.get(FinanceOutbox, it.outbox_id, with_for_update=True)
            p = s.get(FinancePosting, ob.posting_id)
            s.add(FinanceAttempt(outbox_id=ob.id, at=now, connector=self.connector.name, outcome=outcome.kind,
                                 error_code=outcome.problem.rule if outcome.problem else None,
                                 message=outcome.problem.message if outcome.problem else None,
                                 http_status=outcome.http_status, duration_ms=outcome.duration_ms))
            mine = delivery.holds_lease(ob, self.worker_id)
            if outcome.success:
                # Success counts whoever holds the lease now: the finance system has the record.
                self._confirm_in(s, p, ob, outcome.booking_number, status=outcome.kind, answer=outcome.answer,
                                 actor="finance-system", via=self.connector.name)
                return DeliveryResult(ob.id, p.invoice_id, p.idempotency_key, outcome.kind, p.booking_number, None, ob.attempts)
            if not mine:
                return DeliveryResult(ob.id, p.invoice_id, p.idempotency_key, "skipped", p.booking_number,
                                      M.problem(errors.LEASE_LOST),
                                      ob.attempts)
            ob.lease_until = None
            ob.updated_at = now
            if outcome.kind == "exported":
                ob.status = "awaiting_confirmation"
                ob.last_error_code = ob.last_error = None
                return DeliveryResult(ob.id, p.invoice_id, p.idempotency_key, "exported", None, None, ob.attempts)
            ob.last_error_code = outcome.problem.rule if outcome.problem else errors.UNKNOWN
            ob.last_error = outcome.problem.message if outcome.problem else "unknown failure"
            if outcome.kind == "rejected" or delivery.exhausted(self.retry_cfg, ob.attempts):
                self._dead(s, ob, p, outcome.problem if outcome.kind == "rejected" else M.problem(
                    errors.MAX_ATTEMPTS, attempts=ob.attempts, last=ob.last_error), now)
                return DeliveryResult(ob.id, p.invoice_id, p.idempotency_key, "dead", None,
                                      FinanceProblem(ob.last_error_code, ob.last_error), ob.attempts)
            delivery.retry_later(ob, self.retry_cfg, now)
            return DeliveryResult(ob.id, p.invoice_id, p.idempotency_key, "retry", None, outcome.problem, ob.attempts)

    @staticmethod
    def _dead(s: Session, ob: FinanceOutbox, p: FinancePosting, problem: FinanceProblem, now: dt.datetime) -> None:
        delivery.dead_letter(ob, problem.rule, problem.message)
        ob.dead_at = now
        inv = s.get(InvoiceRow, p.invoice_id)
        comment, texts = M.trail_of(problem)
        s.add(InvoiceEvent(invoice_id=p.invoice_id, actor="system", action="posting_dead_letter", from_state=inv.state,
                           to_state=inv.state, amount=p.amount, comment=comment,
                           details_json=json.dumps({"outbox_id": ob.id, "idempotency_key": p.idempotency_key,
                                                    "attempts": ob.attempts, **texts}, ensure_ascii=False)))

    def _confirm_in(self, s: Session, p: FinancePosting, ob: FinanceOutbox, booking_number: str | None, *, status: str,
                    answer: dict | None, actor: str, via: str, comment: str | None = None) -> bool:
        """Store the confirmation and move the invoice to POSTED (once). Returns False if it was already confirmed."""
        now = self.now()
        ob.status = "delivered"
        ob.lease_until = None
        ob.delivered_at = ob.delivered_at or now
        ob.updated_at = now
        if p.confirmed_at is not None:
            return False
        p.booking_number = booking_number
        p.confirmed_at = now
        p.confirmation_json = json.dumps({"idempotency_key": p.idempotency_key, "status": status,
                                          "booking_number": booking_number, "confirmed_at": now.isoformat(),
                                          "via": via, "by": actor, "answer": answer}, ensure_ascii=False, sort_keys=True)
        inv = s.get(InvoiceRow, p.invoice_id, with_for_update=True)
        from_state = inv.state
        if inv.state == InvoiceState.RELEASED.value:
            check_transition(InvoiceState.RELEASED, InvoiceState.POSTED)
            inv.state = InvoiceState.POSTED.value
        # a person's own comment stays as written; the system's sentence is kept in both languages
        worded, texts = (comment, {}) if comment else (
            M.trail("posted", booking=booking_number) if booking_number else M.trail("posted-no-number"))
        s.add(InvoiceEvent(invoice_id=inv.id, actor=actor, action="posted", from_state=from_state, to_state=inv.state,
                           amount=p.amount, comment=worded,
                           details_json=json.dumps({"booking_number": booking_number, "idempotency_key": p.idempotency_key,
                                                    "status": status, "via": via, **texts}, ensure_ascii=False)))
        s.flush()
        return True

    # ---- confirmations that arrive later (file import, pull acknowledgement, a clerk) ----------
    def confirm(self, idempotency_key: str, booking_number: str | None, *, actor: str = "finance-system",
                status: str = "booked", via: str | None = None, answer: dict | None = None,
                comment: str | None = None) -> FinanceProblem | None:
        """Store a confirmation for a record; idempotent (a second confirmation of the same key changes nothing)."""
        try:
            with self.db.transaction() as s:
                p = s.scalar(sa.select(FinancePosting).where(FinancePosting.idempotency_key == idempotency_key))
                if p is None:
                    return M.problem(M.NOT_FOUND_KEY, key=idempotency_key)
                ob = s.scalar(sa.select(FinanceOutbox).where(FinanceOutbox.posting_id == p.id).with_for_update())
                if p.confirmed_at is not None:
                    if booking_number and p.booking_number and booking_number != p.booking_number:
                        return self._conflict(s, p, ob, booking_number, via=via or ob.connector or "manual", answer=answer)
                    return None
                s.add(FinanceAttempt(outbox_id=ob.id, at=self.now(), connector=via or ob.connector or "manual",
                                     outcome=status, message=comment))
                self._confirm_in(s, p, ob, booking_number, status=status, answer=answer, actor=actor,
                                 via=via or ob.connector or "manual", comment=comment)
                posting_id = p.id
        except StaleDataError:
            return M.problem(M.STALE_CONFIRM)
        self._archive_one(posting_id)
        return None

    def _conflict(self, s: Session, p: FinancePosting, ob: FinanceOutbox, booking_number: str, *, via: str,
                  answer: dict | None) -> FinanceProblem:
        """A second, different booking number for a confirmed record: stored as a problem for a person.

        The record may have been booked twice in the finance system (or the receipt is wrong): the
        outbox row becomes ``conflict`` (listed with the dead letters, shown by ``finance status``)
        with an audit event, until a person settles it (``einvoice finance resolve``). The first
        booking number stays until then; the invoice is not paid twice either way.
        """
        problem = M.problem(errors.BOOKING_CONFLICT, key=p.idempotency_key, booking=p.booking_number,
                             new=booking_number, via=via)
        now = self.now()
        s.add(FinanceAttempt(outbox_id=ob.id, at=now, connector=via, outcome="conflict", error_code=problem.rule,
                             message=problem.message))
        if ob.status == "conflict" and ob.last_error == problem.message:
            return problem  # the same receipt again: already recorded
        ob.status, ob.last_error_code, ob.last_error, ob.updated_at = "conflict", problem.rule, problem.message, now
        inv = s.get(InvoiceRow, p.invoice_id)
        comment, texts = M.trail_of(problem)
        s.add(InvoiceEvent(invoice_id=inv.id, actor="finance-system", action="posting_conflict", from_state=inv.state,
                           to_state=inv.state, amount=p.amount, comment=comment,
                           details_json=json.dumps({"outbox_id": ob.id, "idempotency_key": p.idempotency_key,
                                                    "booking_number": p.booking_number, "reported": booking_number,
                                                    "via": via, "answer": answer, **texts}, ensure_ascii=False, default=str)))
        return problem

    def reject(self, idempotency_key: str, message: str, *, actor: str = "finance-system",
               via: str | None = None) -> FinanceProblem | None:
        """The finance system refuses a record it fetched or imported: it becomes a dead letter."""
        with self.db.transaction() as s:
            p = s.scalar(sa.select(FinancePosting).where(FinancePosting.idempotency_key == idempotency_key))
            if p is None:
                return M.problem(M.NOT_FOUND_KEY, key=idempotency_key)
            ob = s.scalar(sa.select(FinanceOutbox).where(FinanceOutbox.posting_id == p.id).with_for_update())
            if p.confirmed_at is not None:
                return M.problem(errors.ALREADY_CONFIRMED, key=idempotency_key, booking=p.booking_number)
            s.add(FinanceAttempt(outbox_id=ob.id, at=self.now(), connector=via or ob.connector or "manual",
                                 outcome="rejected", error_code=errors.REJECTED, message=message))
            self._dead(s, ob, p, M.problem(errors.REJECTED, reason=message), self.now())
        return None

    # ---- receipts of the file connector ---------------------------------------------------------
    def import_receipts(self, directory: str | Path | None = None) -> list[ReceiptResult]:
        """Apply receipt CSVs (``idempotency_key;booking_number;status[;message]``, status booked |
        duplicate | rejected) from the finance system, then move each file to ``processed/``.

        A crash half-way leaves the file in place and it is read again: confirmations are idempotent.
        A file that cannot be read stays where it is and is reported, never skipped silently.
        """
        folder = Path(directory or self.org.finance.file.receipts_directory or "")
        if not folder.is_dir():
            return []
        delim = self.org.finance.file.csv_delimiter
        results: list[ReceiptResult] = []
        for path in sorted(folder.glob("*.csv")):
            try:
                text = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                results.append(ReceiptResult(path.name, 0, None, None, M.problem(
                    errors.RECEIPT_UNREADABLE, file=path.name, error=exc)))
                continue
            rows = list(csv.reader(io.StringIO(text), delimiter=delim))
            if rows and rows[0] and rows[0][0].strip().lower() == "idempotency_key":
                rows = rows[1:]  # header line
            for n, row in enumerate(rows, 1):
                if not row or not any(c.strip() for c in row):
                    continue
                key, booking, status, message = ([c.strip() for c in row] + ["", "", "", ""])[:4]
                if status in ("booked", "duplicate"):
                    problem = self.confirm(key, booking or None, status=status, via="file", answer={"receipt": path.name, "line": n})
                elif status == "rejected":
                    problem = self.reject(key, message or "no reason given", via="file")
                else:
                    problem = M.problem(errors.RECEIPT_STATUS, file=path.name, line=n, status=status)
                results.append(ReceiptResult(path.name, n, key, status, problem))
            done = folder / "processed"
            done.mkdir(exist_ok=True)
            os.replace(path, done / path.name)
        return results

    # ---- pull ------------------------------------------------------------------------------
    def fetch_for_pull(self, *, limit: int = 100) -> list[dict]:
        """Records waiting for the finance system: new ones first, then fetched-but-unacknowledged ones
        (offered again, the longest unoffered first).

        A record that is never acknowledged never blocks later ones: new records always come first,
        and every fetch moves the records it hands out to the back of the re-offer queue
        (``next_attempt_at`` = the time of the fetch), so a page of stuck records rotates.
        Records exported by another connector (a file batch waiting for its receipt) are not offered.
        """
        now = self.now()
        out = []
        waiting_pull = sa.and_(FinanceOutbox.status == "awaiting_confirmation", FinanceOutbox.connector == "pull")
        new_first = sa.case((FinanceOutbox.status == "pending", 0), else_=1)
        try:
            with self.db.transaction() as s:
                rows = s.execute(
                    sa.select(FinanceOutbox, FinancePosting).join(FinancePosting, FinancePosting.id == FinanceOutbox.posting_id)
                    .where(sa.or_(FinanceOutbox.status == "pending", waiting_pull))
                    .order_by(new_first, FinanceOutbox.next_attempt_at, FinanceOutbox.id).limit(limit)
                ).all()
                for ob, p in rows:
                    if ob.status == "pending":
                        ob.status = "awaiting_confirmation"
                        ob.connector = "pull"
                    ob.next_attempt_at = now  # to the back of the re-offer queue
                    ob.updated_at = now
                    ob.attempts += 1
                    s.add(FinanceAttempt(outbox_id=ob.id, at=now, connector="pull", outcome="fetched"))
                    out.append({"idempotency_key": p.idempotency_key, "record": json.loads(p.record_json)})
        except (StaleDataError, OperationalError) as exc:
            # A concurrent fetch or acknowledgement changed these rows; the caller simply fetches again.
            if isinstance(exc, OperationalError) and "lock" not in str(exc).lower():
                raise
            return []
        return out

    # ---- a person resolves -------------------------------------------------------------------
    def retry(self, outbox_id: int, person_id: str, *, comment: str | None = None) -> FinanceProblem | None:
        """Put a dead letter (or a waiting row) back into delivery now, with a fresh attempt budget.
        Only the Finanzbuchhaltung (role ``bookkeeping``) may (``einvoice.finance.authority``)."""
        now = self.now()
        who = authority.acting_as(self.org, person_id, Role.BOOKKEEPING, what="send a posting again")
        if isinstance(who, FinanceProblem):
            return who
        with self.db.transaction() as s:
            ob = s.get(FinanceOutbox, outbox_id, with_for_update=True)
            if ob is None:
                return M.problem(M.NOT_FOUND_OUTBOX, outbox_id=outbox_id)
            if ob.status not in ("dead", "pending", "awaiting_confirmation"):
                return M.problem(errors.NOT_DEAD, outbox_id=outbox_id, status=ob.status)
            p = s.get(FinancePosting, ob.posting_id)
            inv = s.get(InvoiceRow, p.invoice_id)
            prev = ob.status
            delivery.start_over(ob, now)
            # A record keeps its batch: a retried export re-offers the same batch (its files are written
            # again only if they are gone, with the same records), so it never lands in a second batch file.
            ob.resolved_by, ob.resolved_at, ob.resolution = person_id, now, f"retry: {comment or ''}".strip()
            ob.updated_at = now
            s.add(InvoiceEvent(invoice_id=inv.id, actor=person_id, role=who.role.value, on_behalf_of=who.on_behalf_of,
                               action="posting_retry", from_state=inv.state,
                               to_state=inv.state, amount=p.amount, comment=comment,
                               details_json=json.dumps({"outbox_id": ob.id, "was": prev}, ensure_ascii=False)))
        return None

    def resolve_booked(self, outbox_id: int, person_id: str, *, booking_number: str, comment: str) -> FinanceProblem | None:
        """A person booked the record by hand in the finance system: store that booking number.

        This overrides whatever the finance system answered (a rejection too), so it needs the role
        ``bookkeeping`` (within its Wertgrenze for the amount) and a reason, and it is logged: the
        ``posted`` event names the person, and an overridden rejection gets its own
        ``finance_rejection_overridden`` event with the rejection and the reason."""
        if not booking_number:
            return M.problem(errors.BOOKING_REQUIRED)
        problem = authority.reason_required(comment, M.both("manual-booking"))
        if problem:
            return problem
        with self.db.sessions() as s:
            ob = s.get(FinanceOutbox, outbox_id)
            if ob is None:
                return M.problem(M.NOT_FOUND_OUTBOX, outbox_id=outbox_id)
            p = s.get(FinancePosting, ob.posting_id)
            key, amount = p.idempotency_key, p.amount
            rejected = (ob.last_error_code, ob.last_error) if ob.status == "dead" else None
        who = authority.acting_as(self.org, person_id, Role.BOOKKEEPING, amount=amount,
                                  what="record a booking made by hand")
        if isinstance(who, FinanceProblem):
            return who
        with self.db.transaction() as s:
            ob = s.get(FinanceOutbox, outbox_id, with_for_update=True)
            if ob.status == "conflict":
                # A person checked the finance system: the booking number that stands is stored.
                p = s.get(FinancePosting, ob.posting_id)
                now, before = self.now(), p.booking_number
                p.booking_number = booking_number
                ob.status, ob.last_error_code, ob.last_error, ob.updated_at = "delivered", None, None, now
                ob.resolved_by, ob.resolved_at, ob.resolution = person_id, now, f"booking conflict settled: {comment}"
                inv = s.get(InvoiceRow, p.invoice_id)
                s.add(InvoiceEvent(invoice_id=inv.id, actor=person_id, role=who.role.value, on_behalf_of=who.on_behalf_of,
                                   action="posting_conflict_resolved",
                                   from_state=inv.state, to_state=inv.state, amount=p.amount, comment=comment,
                                   details_json=json.dumps({"outbox_id": ob.id, "was": before, "booking_number": booking_number},
                                                           ensure_ascii=False)))
                return None
        problem = self.confirm(key, booking_number, actor=person_id, status="booked-by-hand", via="manual",
                               comment=f"booked by hand as {booking_number}: {comment}")
        if problem is None:
            with self.db.transaction() as s:
                ob = s.get(FinanceOutbox, outbox_id)
                ob.resolved_by, ob.resolved_at, ob.resolution = person_id, self.now(), f"booked by hand: {comment}"
                if rejected is not None:
                    p = s.get(FinancePosting, ob.posting_id)
                    inv = s.get(InvoiceRow, p.invoice_id)
                    s.add(InvoiceEvent(
                        invoice_id=inv.id, actor=person_id, role=who.role.value, on_behalf_of=who.on_behalf_of,
                        action="finance_rejection_overridden", from_state=inv.state, to_state=inv.state, amount=p.amount,
                        comment=comment, details_json=json.dumps(
                            {"outbox_id": ob.id, "booking_number": booking_number, "rejection_code": rejected[0],
                             "rejection": rejected[1]}, ensure_ascii=False)))
        return problem

    def confirm_by_person(self, idempotency_key: str, booking_number: str, person_id: str) -> FinanceProblem | None:
        """A clerk enters the booking number the finance system shows for an exported record (role ``bookkeeping``)."""
        who = authority.acting_as(self.org, person_id, Role.BOOKKEEPING, what="enter a booking number")
        if isinstance(who, FinanceProblem):
            return who
        return self.confirm(idempotency_key, booking_number, actor=person_id, via="file")

    # ---- archive -----------------------------------------------------------------------------
    def archive_pending(self, *, limit: int = 100) -> int:
        if self.archive is None:
            return 0
        with self.db.sessions() as s:
            ids = s.scalars(sa.select(FinancePosting.id).where(FinancePosting.confirmed_at.is_not(None),
                                                               FinancePosting.archived_at.is_(None))
                            .order_by(FinancePosting.id).limit(limit)).all()
        return sum(1 for pid in ids if self._archive_one(pid))

    def _archive_one(self, posting_id: int) -> bool:
        """Archive record + confirmation as a follow-up entry of the invoice's entry (idempotent by entry id)."""
        if self.archive is None:
            return False
        from archive import ArchiveDocument, EntryInput

        with self.db.sessions() as s:
            p = s.get(FinancePosting, posting_id)
            if p is None or p.confirmed_at is None or p.archived_at is not None:
                return False
            inv = s.get(InvoiceRow, p.invoice_id)
            entry = EntryInput(
                entry_id=f"posting-{p.idempotency_key}",
                documents=[ArchiveDocument("posting-record.json", "application/json", p.record_json.encode("utf-8")),
                           ArchiveDocument("confirmation.json", "application/json", (p.confirmation_json or "{}").encode("utf-8"))],
                metadata={"kind": "posting-record", "invoice_id": inv.id, "invoice_number": inv.invoice_number,
                          "idempotency_key": p.idempotency_key, "booking_number": p.booking_number,
                          "record_sha256": p.record_sha256},
                # Part of the books: the posting-record class (10 years from the booking, today).
                retention_class=retention.POSTING_RECORD,
                relates_to=inv.archive_entry_id, relation="posting-record" if inv.archive_entry_id else None,
            )
        try:
            receipt = self.archive.append([entry])[0]
        except Exception:
            log.exception("archiving the posting record %s failed; archive_pending will try again", posting_id)
            return False
        with self.db.transaction() as s:
            p = s.get(FinancePosting, posting_id)
            p.archive_entry_id, p.archived_at = receipt.entry_id, self.now()
        return True

    # ---- reading -----------------------------------------------------------------------------
    def list(self, *, status: str | None = None, dead: bool = False, open_only: bool = False,
             limit: int = 100) -> list[OutboxView]:
        q = (sa.select(FinanceOutbox, FinancePosting, InvoiceRow)
             .join(FinancePosting, FinancePosting.id == FinanceOutbox.posting_id)
             .join(InvoiceRow, InvoiceRow.id == FinancePosting.invoice_id).order_by(FinanceOutbox.id).limit(limit))
        if dead:  # everything a person must look at: dead letters and booking conflicts
            q = q.where(FinanceOutbox.status.in_(NEEDS_A_PERSON))
        elif status:
            q = q.where(FinanceOutbox.status == status)
        elif open_only:
            q = q.where(FinanceOutbox.status.in_(OPEN_STATUSES + NEEDS_A_PERSON))
        with self.db.sessions() as s:
            return [self._view(ob, p, inv) for ob, p, inv in s.execute(q).all()]

    def get(self, outbox_id: int) -> OutboxView | None:
        with self.db.sessions() as s:
            ob = s.get(FinanceOutbox, outbox_id)
            if ob is None:
                return None
            p = s.get(FinancePosting, ob.posting_id)
            return self._view(ob, p, s.get(InvoiceRow, p.invoice_id))

    def attempts(self, outbox_id: int) -> list[dict]:
        with self.db.sessions() as s:
            rows = s.scalars(sa.select(FinanceAttempt).where(FinanceAttempt.outbox_id == outbox_id).order_by(FinanceAttempt.id))
            return [{"at": as_utc(a.at).isoformat(), "connector": a.connector, "outcome": a.outcome, "error_code": a.error_code,
                     "message": a.message, "http_status": a.http_status, "duration_ms": a.duration_ms} for a in rows]

    @staticmethod
    def _view(ob: FinanceOutbox, p: FinancePosting, inv: InvoiceRow) -> OutboxView:
        return OutboxView(
            id=ob.id, posting_id=p.id, invoice_id=inv.id, invoice_number=inv.invoice_number, payee_name=p.payee_name,
            amount=str(p.amount), currency=p.currency, idempotency_key=p.idempotency_key, status=ob.status,
            attempts=ob.attempts, next_attempt_at=as_utc(ob.next_attempt_at), connector=ob.connector, batch_id=ob.batch_id,
            last_error_code=ob.last_error_code, last_error=ob.last_error, booking_number=p.booking_number,
            confirmed_at=as_utc(p.confirmed_at), archive_entry_id=p.archive_entry_id, resolved_by=ob.resolved_by,
            resolution=ob.resolution,
        )


def posting_record(db: Database, invoice_id: int) -> dict | None:
    """The stored posting record of an invoice (what the finance system received), or None."""
    with db.sessions() as s:
        p = s.scalar(sa.select(FinancePosting).where(FinancePosting.invoice_id == invoice_id))
        return json.loads(p.record_json) if p else None


def outbox_for_app(app, connector=None, *, archive: bool = True) -> Outbox:
    """The outbox as the CLI and the flows use it: archive follow-ups when an S3 archive is configured.

    ``archive=False``: deliver without touching the archive (it is not even opened, so posting
    goes on while S3 is down); the confirmed records wait with ``archived_at`` unset until
    ``archive_pending`` of an outbox with the archive catches up.
    """
    archive_obj = app.archive if archive and app.settings.s3_endpoint else None
    return Outbox(app.db, app.organisation, connector, archive=archive_obj)


def released_without_outbox(session: Session, *, limit: int = 1000) -> list[int]:
    """Ids of released invoices that have no outbox record: released but never queued for posting.

    The release transaction writes the outbox record (``release_hook``), so this list should stay
    empty; an invoice on it is never posted by ``deliver_pending`` and needs a person. Oldest first.
    """
    queued = (sa.select(FinanceOutbox.id).join(FinancePosting, FinancePosting.id == FinanceOutbox.posting_id)
              .where(FinancePosting.invoice_id == InvoiceRow.id))
    return list(session.scalars(sa.select(InvoiceRow.id).where(InvoiceRow.state == InvoiceState.RELEASED.value,
                                                            ~queued.exists())
                                .order_by(InvoiceRow.id).limit(limit)))


def unarchived_postings(session: Session) -> int:
    """Confirmed posting records not archived yet (``archive_pending`` archives them)."""
    return session.scalar(sa.select(sa.func.count()).select_from(FinancePosting)
                          .where(FinancePosting.confirmed_at.is_not(None), FinancePosting.archived_at.is_(None))) or 0


def finance_status(db: Database, invoice_id: int) -> dict | None:
    """What the inbox shows about an invoice's posting and payment: delivery status, booking number,
    last error, archive entry, and the payment run that paid it. None before the release."""
    from einvoice.finance.tables import PaymentItem, PaymentRun

    with db.sessions() as s:
        p = s.scalar(sa.select(FinancePosting).where(FinancePosting.invoice_id == invoice_id))
        if p is None:
            return None
        ob = s.scalar(sa.select(FinanceOutbox).where(FinanceOutbox.posting_id == p.id))
        item = s.scalar(sa.select(PaymentItem).where(PaymentItem.invoice_id == invoice_id))
        run = s.get(PaymentRun, item.run_id) if item else None
        return {
            "idempotency_key": p.idempotency_key, "outbox_id": ob.id, "status": ob.status, "attempts": ob.attempts,
            "needs_a_person": ob.status in NEEDS_A_PERSON,
            "connector": ob.connector, "last_error_code": ob.last_error_code if ob.status != "delivered" else None,
            "last_error": ob.last_error if ob.status != "delivered" else None,
            "next_attempt_at": as_utc(ob.next_attempt_at).isoformat() if ob.status == "pending" else None,
            "booking_number": p.booking_number, "confirmed_at": as_utc(p.confirmed_at).isoformat() if p.confirmed_at else None,
            "archive_entry_id": p.archive_entry_id,
            "payment": ({"run_id": run.id, "run_status": run.status, "message_id": run.message_id,
                         "execution_date": run.execution_date.isoformat(),
                         "amount_paid": str(item.amount_paid), "skonto": str(item.skonto), "end_to_end_id": item.end_to_end_id}
                        if item else None),
        }
