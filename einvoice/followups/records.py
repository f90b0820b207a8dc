"""Follow-up archive entries: the approval trail when an approval chain ends, and each payment run.

The archive is append-only, so nothing is ever added to the entry intake wrote for a received
file (original + validation report). What happens to the invoice afterwards is archived as
*follow-up entries* pointing at that entry (``relates_to``), so an auditor finds the whole story of
a Beleg in the archive alone, years later and without our database (GoBD: Nachvollziehbarkeit):

* ``approval-trail`` (relation ``approval-trail``): each time an approval chain ends, i.e. the
  invoice is released or returned by an approver, the audit events up to that decision: who
  certified sachliche and rechnerische Richtigkeit (with the amount), who gave the Anordnung and
  the Freigabe, in which role and on whose behalf, every send-back, forward, comment and
  duplicate override (``schemas/archived-records.schema.json``). An invoice that is reopened and
  released again gets a second trail that repeats the first part: each trail stands alone.
* ``payment-run``: the pain.001 file of each payment run, exactly as written, and the list of
  invoices it pays with their archive entries.
* (Posting record and booking confirmation are archived by ``einvoice.finance`` when the finance
  system confirms a booking.)

Archiving runs after the decision has committed, from a poller (``RecordArchiver.archive_pending``,
called by the ``post-released`` and ``payment-run`` flows and by ``einvoice archive-records``): a
web request never waits for S3, and an S3 outage only delays the entries. A cursor
(``ArchiveCursor``) keeps the poller to the audit events after the last settled decision, so a
run costs the same in year ten as in year one. Entry ids are derived
from the database rows (``approval-trail:<event id>:<invoice entry>``), so a crash between the
archive write and the database note repeats an idempotent append and never a second entry.

This module must never change an invoice, its state or its audit trail: it reads them and notes
what it archived (``ArchivedRecord``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from einvoice import retention
from einvoice.db import Database
from einvoice.db.models import ArchiveCursor, ArchivedRecord, InvoiceEvent, InvoiceRow, as_utc, utcnow
from einvoice.finance.tables import PaymentItem, PaymentRun
from einvoice.problems import Problem
from einvoice.states import InvoiceState

log = logging.getLogger(__name__)

APPROVAL_TRAIL = "approval-trail"
PAYMENT_RUN = "payment-run"
TRAIL_VERSION = "einvoice-approval-trail/1"
PAYMENT_ITEMS_VERSION = "einvoice-payment-items/1"

#: The state changes that end an approval chain: released (ready to post) or returned by an approver.
CHAIN_ENDS = (InvoiceState.RELEASED.value, InvoiceState.RETURNED.value)

#: The cursor only passes audit events older than this. Ids are handed out at INSERT and become
#: visible at COMMIT, so a slow transaction can show a lower id after a higher one; ours take well
#: under a second, and this margin also covers clock differences between application servers.
SETTLE = dt.timedelta(minutes=15)

#: Pages of ``limit`` pending rows one run reads past rows that cannot be archived now.
MAX_PAGES = 10

#: German public bodies keep books in German local time: the retention year follows it.
LOCAL_TIME = ZoneInfo("Europe/Berlin")


def unreachable_errors() -> tuple[type[BaseException], ...]:
    """What an unreachable or failing archive raises: a stored record then waits for the next run."""
    from archive import ArchiveError

    errors: tuple[type[BaseException], ...] = (ArchiveError, OSError)
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        errors += (BotoCoreError, ClientError)
    except ImportError:  # pragma: no cover - boto3 is a dependency
        pass
    return errors


_UNREACHABLE = unreachable_errors()


class _ArchiveDown(Exception):
    """Reading the archive failed before anything was written (its cause says why)."""


@dataclass(frozen=True)
class RecordProblem(Problem):
    """A record that could not be archived this time (it stays pending and is tried again)."""

    kind: str
    source_id: int

    def __str__(self) -> str:
        return f"{self.kind} {self.source_id}: {self.message}"


@dataclass
class ArchiveRecordsReport:
    approval_trails: int = 0
    payment_runs: int = 0
    entries: list[dict[str, Any]] = field(default_factory=list)  # kind, source id, invoice id, entry id, sequence
    problems: list[RecordProblem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"approval_trails": self.approval_trails, "payment_runs": self.payment_runs, "entries": self.entries,
                "problems": [str(p) for p in self.problems]}


# --- the documents (pure functions of database rows) ---------------------------------------------
def _utc(value: dt.datetime | None) -> str | None:
    return None if value is None else as_utc(value).astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else f"{Decimal(value):.2f}"


def _json_bytes(doc: dict[str, Any]) -> bytes:
    # Sorted keys and a fixed layout: the same rows always give the same bytes (and archive object).
    return (json.dumps(doc, sort_keys=True, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _invoice_head(inv: InvoiceRow) -> dict[str, Any]:
    """The fields an auditor needs to find the Beleg, with their EN 16931 business terms."""
    return {
        "invoice_id": inv.id,
        "archive_entry_id": inv.archive_entry_id,
        "file_sha256": inv.file_sha256,
        "invoice_number": inv.invoice_number,            # BT-1
        "issue_date": inv.issue_date.isoformat() if inv.issue_date else None,  # BT-2
        "currency": inv.currency,                        # BT-5
        "leitweg_id": inv.leitweg_id,                    # BT-10
        "seller_name": inv.seller_name,                  # BT-27
        "seller_vat_id": inv.seller_vat_id,              # BT-31
        "amount_due": _amount(inv.amount_due),           # BT-115
        "department": inv.department,
    }


def approval_trail_document(inv: InvoiceRow, events: list[InvoiceEvent], decision: InvoiceEvent) -> bytes:
    """The approval trail of ``inv`` up to and including ``decision`` (the event that ended the chain)."""
    trail = [e for e in events if e.id <= decision.id]
    return _json_bytes({
        "format": TRAIL_VERSION,
        "invoice": _invoice_head(inv),
        "outcome": decision.to_state,
        "decided_at": _utc(decision.at),
        "decision_event_id": decision.id,
        "events": [{
            "id": e.id,
            "at": _utc(e.at),
            "actor": e.actor,
            "role": e.role,
            "on_behalf_of": e.on_behalf_of,
            "action": e.action,
            "from_state": e.from_state,
            "to_state": e.to_state,
            "amount": _amount(e.amount),
            "comment": e.comment,
            "details": json.loads(e.details_json) if e.details_json else {},
        } for e in sorted(trail, key=lambda e: e.id)],
    })


def payment_items_document(run: PaymentRun, items: list[tuple[PaymentItem, InvoiceRow]]) -> bytes:
    """The invoices a payment run pays, each with the archive entry of its original."""
    return _json_bytes({
        "format": PAYMENT_ITEMS_VERSION,
        "message_id": run.message_id,
        "created_at": _utc(run.created_at),
        "created_by": run.created_by,
        "execution_date": run.execution_date.isoformat(),
        "count": run.count,
        "control_sum": _amount(run.control_sum),
        "skonto_taken": _amount(run.skonto_taken),
        "pain001_sha256": run.xml_sha256,
        "items": [{
            "invoice": _invoice_head(inv),
            "end_to_end_id": it.end_to_end_id,
            "amount_due": _amount(it.amount_due),
            "amount_paid": _amount(it.amount_paid),
            "skonto": _amount(it.skonto),
            "creditor_name": it.creditor_name,
            "creditor_iban": it.creditor_iban,
            "creditor_bic": it.creditor_bic,
            "remittance": it.remittance,
        } for it, inv in sorted(items, key=lambda x: x[0].id)],
    })


def approval_trail_entry_id(decision_event_id: int, invoice_entry_id: str | None, invoice_id: int) -> str:
    return f"{APPROVAL_TRAIL}:{decision_event_id}:{invoice_entry_id or f'invoice-{invoice_id}'}"


def payment_run_entry_id(message_id: str) -> str:
    return f"{PAYMENT_RUN}:{message_id}"


# --- the poller ---------------------------------------------------------------------------------
class RecordArchiver:
    """Archives approval trails and payment runs that are not archived yet (idempotent, resumable)."""

    def __init__(self, db: Database, archive) -> None:
        self.db = db
        self.archive = archive

    def archive_pending(self, *, limit: int = 200) -> ArchiveRecordsReport:
        """Archive up to ``limit`` pending approval trails and payment runs, each kind in one batch."""
        report = ArchiveRecordsReport()
        if self.archive is None:
            return report
        for kind, step in ((APPROVAL_TRAIL, self._archive_trails), (PAYMENT_RUN, self._archive_payment_runs)):
            try:
                step(report, limit)
            except _ArchiveDown as down:  # the archive is down: the records wait, nothing is lost
                exc = down.__cause__
                log.warning("archive unreachable while archiving %s records: %s", kind, exc)
                report.problems.append(RecordProblem("ARCHIVE-UNREACHABLE", f"the archive could not be reached "
                                                  f"({type(exc).__name__}: {exc}); all stay pending", kind, 0))
        self._advance_trail_cursor()
        return report

    def pending_counts(self) -> dict[str, int]:
        with self.db.sessions() as s:
            trails = self._pending_trails(self._cursor(s))
            return {APPROVAL_TRAIL: s.scalar(sa.select(sa.func.count()).select_from(trails.subquery())),
                    PAYMENT_RUN: s.scalar(sa.select(sa.func.count()).select_from(self._pending_runs().subquery()))}

    @staticmethod
    def _not_archived(kind: str, source_id) -> sa.ColumnElement[bool]:
        return ~sa.exists().where(ArchivedRecord.kind == kind, ArchivedRecord.source_id == source_id)

    @staticmethod
    def _cursor(s) -> int:
        return s.scalar(sa.select(ArchiveCursor.through_id).where(ArchiveCursor.kind == APPROVAL_TRAIL)) or 0

    def _pending_trail_filter(self, after: int) -> list[sa.ColumnElement[bool]]:
        """Decisions after the cursor that ended an approval chain and are not archived yet."""
        return [InvoiceEvent.id > after, InvoiceEvent.to_state.in_(CHAIN_ENDS),
                InvoiceEvent.from_state == InvoiceState.IN_APPROVAL.value,
                self._not_archived(APPROVAL_TRAIL, InvoiceEvent.id)]

    def _pending_trails(self, after: int):
        return sa.select(InvoiceEvent.id).where(*self._pending_trail_filter(after)).order_by(InvoiceEvent.id)

    def _advance_trail_cursor(self) -> None:
        """Move the cursor to just before the first decision still pending (or to the settled end).

        Without it every run would read the whole audit trail (measured: ~1 s per run on
        PostgreSQL at 300,000 invoices); with it, only what came after the cursor.
        """
        try:
            with self.db.transaction() as s:
                after = self._cursor(s)
                settled = s.scalar(sa.select(sa.func.max(InvoiceEvent.id)).where(
                    InvoiceEvent.id > after, InvoiceEvent.at < utcnow() - SETTLE))
                if settled is None:
                    return
                first_pending = s.scalar(sa.select(sa.func.min(InvoiceEvent.id)).where(
                    *self._pending_trail_filter(after), InvoiceEvent.id <= settled))
                through = first_pending - 1 if first_pending is not None else settled
                if through <= after:
                    return
                row = s.get(ArchiveCursor, APPROVAL_TRAIL)
                if row is None:
                    s.add(ArchiveCursor(kind=APPROVAL_TRAIL, through_id=through))
                else:
                    row.through_id = max(row.through_id, through)
        except IntegrityError:
            pass  # a peer created the cursor at the same moment; the next run moves it

    def _pending_runs(self):
        # Only runs released by two persons: a prepared run has paid nothing and may never reach the bank.
        return (sa.select(PaymentRun.id).where(self._not_archived(PAYMENT_RUN, PaymentRun.id), PaymentRun.status == "released")
                .order_by(PaymentRun.id))

    def _relation_target(self, inv: InvoiceRow, kind: str, source_id: int, report: ArchiveRecordsReport) -> tuple[bool, str | None]:
        """(usable, relates_to): the invoice's own entry, which the archive must hold."""
        if not inv.archive_entry_id:
            return True, None  # a row without archived original (imported by hand): archive unlinked
        try:
            held = self.archive.lookup(inv.archive_entry_id)
        except _UNREACHABLE as exc:
            raise _ArchiveDown() from exc
        if held is None:
            report.problems.append(RecordProblem(
                "ARCHIVE-ENTRY-MISSING", f"the archive does not hold entry {inv.archive_entry_id!r} of invoice {inv.id} "
                                         f"(another bucket or prefix?); the record stays pending until it does",
                kind, source_id))
            return False, None
        return True, inv.archive_entry_id

    def _archive_trails(self, report: ArchiveRecordsReport, limit: int) -> None:
        """Up to ``limit`` trails in one batch; decisions that cannot be archived now are passed over
        (and reported), so a few stuck ones never hold back those after them."""
        todo: list = []
        with self.db.sessions() as s:
            after = self._cursor(s)
        for _ in range(MAX_PAGES):
            with self.db.sessions() as s:
                ids = s.scalars(self._pending_trails(after).limit(limit)).all()
            if not ids:
                break
            todo += self._trail_entries(ids, report)[:limit - len(todo)]
            after = ids[-1]
            if len(todo) >= limit or len(ids) < limit:
                break
        report.approval_trails += self._append(todo, report)

    def _trail_entries(self, ids: list[int], report: ArchiveRecordsReport) -> list:
        from archive import ArchiveDocument, EntryInput

        with self.db.sessions() as s:
            decisions = {e.id: e for e in s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.id.in_(ids)))}
            invoice_ids = {e.invoice_id for e in decisions.values()}
            invoices = {i.id: i for i in s.scalars(sa.select(InvoiceRow).where(InvoiceRow.id.in_(invoice_ids)))}
            events: dict[int, list[InvoiceEvent]] = {i: [] for i in invoice_ids}
            for e in s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.invoice_id.in_(invoice_ids))
                               .order_by(InvoiceEvent.id)):
                events[e.invoice_id].append(e)
            todo = []
            for event_id in ids:
                decision = decisions[event_id]
                inv = invoices[decision.invoice_id]
                usable, relates_to = self._relation_target(inv, APPROVAL_TRAIL, event_id, report)
                if not usable:
                    continue
                n_events = sum(1 for e in events[inv.id] if e.id <= event_id)
                # The calendar year of the decision where it was taken: 00:30 on 1 January in Berlin
                # is still 31 December in UTC, and the period would end a year early.
                decided = as_utc(decision.at).astimezone(LOCAL_TIME)
                entry = EntryInput(
                    entry_id=approval_trail_entry_id(event_id, inv.archive_entry_id, inv.id),
                    documents=[ArchiveDocument("approval-trail.json", "application/json",
                                               approval_trail_document(inv, events[inv.id], decision))],
                    metadata={k: v for k, v in {
                        "kind": APPROVAL_TRAIL, "invoice_id": inv.id, "invoice_number": inv.invoice_number,
                        "seller": inv.seller_name, "outcome": decision.to_state, "decision_event_id": event_id,
                        "events": n_events, "decided_at": _utc(decision.at)}.items() if v is not None},
                    retention_class=retention.APPROVAL_TRAIL,
                    # Kept from the end of the year of the decision (§ 147 (4) AO: the year the
                    # record was made), never shorter than the original it belongs to, which counts
                    # from receipt. Never from the supplier's issue date (einvoice.retention).
                    retention_base=max(decided.date(), retention.local_date(inv.received_at)),
                    relates_to=relates_to, relation=APPROVAL_TRAIL if relates_to else None,
                )
                todo.append((APPROVAL_TRAIL, event_id, inv.id, entry))
        return todo

    def _archive_payment_runs(self, report: ArchiveRecordsReport, limit: int) -> None:
        from archive import ArchiveDocument, EntryInput

        with self.db.sessions() as s:
            ids = s.scalars(self._pending_runs().limit(limit)).all()
            todo = []
            for run_id in ids:
                run = s.get(PaymentRun, run_id)
                pain001 = run.xml.encode("utf-8")
                if hashlib.sha256(pain001).hexdigest() != run.xml_sha256:
                    report.problems.append(RecordProblem(
                        "PAYMENT-FILE-HASH", f"the stored pain.001 of {run.message_id} does not match its SHA-256 "
                                             f"{run.xml_sha256}: not archived, an operator must look at it",
                        PAYMENT_RUN, run_id))
                    continue
                items = s.execute(sa.select(PaymentItem, InvoiceRow).join(InvoiceRow, InvoiceRow.id == PaymentItem.invoice_id)
                                  .where(PaymentItem.run_id == run_id)).all()
                entry = EntryInput(
                    entry_id=payment_run_entry_id(run.message_id),
                    documents=[ArchiveDocument(f"pain.001-{run.message_id}.xml", "application/xml", pain001),
                               ArchiveDocument("payment-items.json", "application/json",
                                               payment_items_document(run, [(it, inv) for it, inv in items]))],
                    metadata={"kind": PAYMENT_RUN, "message_id": run.message_id, "count": run.count,
                              "control_sum": _amount(run.control_sum), "execution_date": run.execution_date.isoformat(),
                              "invoice_ids": sorted(inv.id for _, inv in items)},
                    retention_class=retention.PAYMENT_FILE,
                    retention_base=run.execution_date,
                )
                todo.append((PAYMENT_RUN, run_id, None, entry))
        report.payment_runs += self._append(todo, report)

    def _append(self, todo: list[tuple[str, int, int | None, Any]], report: ArchiveRecordsReport) -> int:
        """One archive batch for ``todo``, then one transaction noting what was archived."""
        if not todo:
            return 0
        try:
            receipts = self.archive.append([entry for *_, entry in todo])
        except _UNREACHABLE as exc:  # S3 down, integrity refusal: say so, keep them pending
            log.exception("archiving %d follow-up records failed; they stay pending", len(todo))
            for kind, source_id, _, _ in todo:
                report.problems.append(RecordProblem("ARCHIVE-WRITE", f"not archived: {type(exc).__name__}: {exc}", kind, source_id))
            return 0
        self._note(todo, receipts, report)
        return len(todo)

    def _note(self, todo, receipts, report: ArchiveRecordsReport) -> None:
        """Note the archived records in one transaction; rows a peer noted meanwhile are skipped."""
        for attempt in range(3):
            added = []
            try:
                with self.db.transaction() as s:
                    noted = set(s.execute(sa.select(ArchivedRecord.kind, ArchivedRecord.source_id).where(
                        ArchivedRecord.kind.in_({k for k, *_ in todo}),
                        ArchivedRecord.source_id.in_([i for _, i, *_ in todo]))).all())
                    now = utcnow()
                    for (kind, source_id, invoice_id, _), r in zip(todo, receipts):
                        if (kind, source_id) in noted:
                            continue  # a peer archived the same entry (same id, same receipt) and noted it
                        s.add(ArchivedRecord(kind=kind, source_id=source_id, invoice_id=invoice_id, entry_id=r.entry_id,
                                             sequence=r.sequence, leaf_hash=r.leaf_hash, archived_at=now))
                        added.append({"kind": kind, "source_id": source_id, "invoice_id": invoice_id,
                                      "entry_id": r.entry_id, "sequence": r.sequence, "existing": r.existing})
            except IntegrityError:
                if attempt == 2:
                    raise
                continue  # a peer noted one of them between our read and our insert: read again
            report.entries.extend(added)
            return

    def records_of(self, invoice_id: int) -> list[ArchivedRecord]:
        """The follow-up entries archived for one invoice, the payment runs that paid it included."""
        paid_by = sa.select(PaymentItem.run_id).where(PaymentItem.invoice_id == invoice_id)
        with self.db.sessions() as s:
            rows = s.scalars(sa.select(ArchivedRecord).where(sa.or_(
                ArchivedRecord.invoice_id == invoice_id,
                sa.and_(ArchivedRecord.kind == PAYMENT_RUN, ArchivedRecord.source_id.in_(paid_by))))
                .order_by(ArchivedRecord.id)).all()
            s.expunge_all()
            return list(rows)
