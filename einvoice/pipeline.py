"""Intake pipeline: received bytes → validation → routing → archive → database, per batch.

This is the one path every received file takes. Each file ends in exactly one invoice state
(see ``einvoice.states``) or, if it could not even be read, in an outcome that says why; a bad
file never stops the others. Re-ingesting the same bytes is idempotent: the SHA-256 of the file
is the key in the database and the archive entry id. Originals are archived exactly as received,
before the database row exists, so a crash in between is healed by the next run (the archive
returns the existing entry for the same id).

This module must never import Prefect: ``flows/`` calls it in batches.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import mimetypes
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from einvoice.db import Database
from einvoice.db.models import Invoice, InvoiceEvent
from einvoice.organisation import Organisation
from einvoice.routing import RoutingDecision, route, routing_input
from einvoice.states import InvoiceState, check_transition

#: Files larger than this are refused before reading them whole (they stay in the inbox).
MAX_FILE_BYTES = 50 * 1024 * 1024
NOT_INVOICE_SYNTAXES = {"none", "unsupported", "zugferd1"}
NOT_INVOICE_PROFILES = {"MINIMUM", "BASIC WL"}


@dataclass(frozen=True)
class InboxItem:
    """One file offered to the pipeline: its name, bytes and where it came from."""

    name: str
    data: bytes
    channel: str = "directory"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class IngestOutcome:
    """What happened to one offered file (printed by the CLI, shown as a Prefect artifact)."""

    name: str
    sha256: str | None
    state: str  # an InvoiceState value, or "unreadable"
    invoice_id: int | None = None
    syntax: str | None = None
    valid: bool | None = None
    verdict: str = ""
    department: str | None = None
    routing_reason: str | None = None
    archive_key: str | None = None
    retain_until: str | None = None
    already_received: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def read_inbox_file(path: Path, channel: str = "directory") -> InboxItem | IngestOutcome:
    """Read one inbox file, or say why it cannot be read (the file is left where it is)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return IngestOutcome(path.name, None, "unreadable", verdict=f"file is {size} bytes, larger than the limit of {MAX_FILE_BYTES}; left in the inbox")
        return InboxItem(path.name, path.read_bytes(), channel)
    except OSError as exc:
        return IngestOutcome(path.name, None, "unreadable", verdict=f"cannot read file: {exc.strerror or exc}; left in the inbox")


def list_inbox(directory: Path) -> list[Path]:
    """Regular files of an inbox directory, oldest name first; hidden and partial files are skipped."""
    return sorted(
        p for p in Path(directory).iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".part", ".tmp"))
    )


def state_for(report) -> InvoiceState:
    """Which state a validation report puts a new file into.

    A file that failed as an invoice (malformed XML, schema or rule errors) is *rejected* and goes
    back to the supplier; a file that is no e-invoice at all (plain PDF, foreign format, ZUGFeRD
    1.0, MINIMUM/BASIC WL which are no invoices under § 14 UStG) is kept as a document only.
    """
    if (report.profile_name or "").upper() in NOT_INVOICE_PROFILES:
        return InvoiceState.NOT_AN_INVOICE
    if report.valid is True:
        return InvoiceState.IN_APPROVAL
    if report.valid is False:
        return InvoiceState.REJECTED
    if report.syntax in NOT_INVOICE_SYNTAXES:
        return InvoiceState.NOT_AN_INVOICE
    return InvoiceState.NOT_VALIDATED


def _media_type(name: str, report) -> str:
    if report.container == "pdf":
        return "application/pdf"
    if report.container == "xml":
        return "application/xml"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _skonto(model) -> tuple[dt.date | None, object]:
    terms = list(getattr(model, "skonto", None) or [])
    if not terms or model.issue_date is None:
        return None, None
    first = min(terms, key=lambda t: t.days)
    return model.issue_date + dt.timedelta(days=first.days), first.percent


def _internal_error_report(name: str, exc: Exception):
    """A report for a file the validator crashed on: 'not validated', never 'valid'."""
    from einvoice.validation import Finding, Report

    reason = f"the validator failed on this file ({type(exc).__name__}: {exc}); an operator must look at it"
    return Report(
        path=name, syntax="unknown", valid=None, stages={"intake": "error"}, not_validated_reason=reason,
        findings=[Finding(rule="EINVOICE-INTERNAL", severity="fatal", stage="intake", location=None, message=reason)],
    )


@dataclass
class _Pending:
    item: InboxItem
    report: object
    state: InvoiceState
    decision: RoutingDecision | None
    receipt: object = None
    summary: str = ""
    report_json: str = ""


@dataclass
class IntakePipeline:
    db: Database
    organisation: Organisation
    archive: object  # archive.Archive (kept untyped so this module imports without boto3 at hand)
    validation_config: object = None
    _validator: object = field(default=None, repr=False)

    def _validate(self, item: InboxItem):
        from einvoice.validation import validate

        return validate(item.data, item.name, config=self.validation_config)

    def _known(self, shas: list[str]) -> dict[str, Invoice]:
        if not shas:
            return {}
        with self.db.sessions() as s:
            rows = s.scalars(sa.select(Invoice).where(Invoice.file_sha256.in_(shas))).all()
            return {r.file_sha256: r for r in rows}

    def ingest(self, items: Iterable[InboxItem | IngestOutcome]) -> list[IngestOutcome]:
        """Process one batch; returns one outcome per offered item, in order."""
        items = list(items)
        outcomes: list[IngestOutcome | None] = [None] * len(items)
        readable = [(i, it) for i, it in enumerate(items) if isinstance(it, InboxItem)]
        for i, it in enumerate(items):
            if isinstance(it, IngestOutcome):
                outcomes[i] = it
        known = self._known([it.sha256 for _, it in readable])

        pending: dict[str, _Pending] = {}
        order: list[tuple[int, str]] = []
        for i, it in readable:
            sha = it.sha256
            order.append((i, sha))
            if sha in known or sha in pending:
                continue
            pending[sha] = self._assess(it)

        if pending:
            self._archive(list(pending.values()))
            self._store(list(pending.values()))
            known = self._known(list(pending)) | known

        for i, sha in order:
            row = known.get(sha)
            first = sha in pending and items[i] is pending[sha].item
            outcomes[i] = self._outcome(items[i], row, already_received=not first)
        return outcomes  # type: ignore[return-value]

    def _assess(self, item: InboxItem) -> _Pending:
        try:
            report = self._validate(item)
        except Exception as exc:  # noqa: BLE001 - a validator bug must not lose the file
            report = _internal_error_report(item.name, exc)
        state = state_for(report)
        decision = None
        if state is InvoiceState.IN_APPROVAL and report.model is not None:
            decision = route(routing_input(report.model), self.organisation)
        return _Pending(item, report, state, decision, summary=report.summary(), report_json=report.to_json())

    def _archive(self, batch: list[_Pending]) -> None:
        from archive import ArchiveDocument, EntryInput

        entries = []
        for p in batch:
            model = p.report.model
            received = dt.date.today()
            base = model.issue_date if model is not None and model.issue_date else received
            metadata = {
                "kind": "received-document",
                "filename": p.item.name,
                "channel": p.item.channel,
                "received": received.isoformat(),
                "format": p.report.syntax,
                "container": p.report.container,
                "profile": p.report.profile,
                "verdict": p.state.value,
            }
            if model is not None:
                metadata.update({
                    "invoice_number": model.invoice_number,
                    "issue_date": model.issue_date.isoformat() if model.issue_date else None,
                    "seller": model.seller.name,
                    "seller_vat_id": model.seller.vat_id,
                })
            entries.append(EntryInput(
                entry_id=f"received-{p.item.sha256}",
                documents=[
                    ArchiveDocument(name=p.item.name, media_type=_media_type(p.item.name, p.report), data=p.item.data),
                    ArchiveDocument(name="validation-report.json", media_type="application/json", data=p.report_json.encode()),
                ],
                metadata={k: v for k, v in metadata.items() if v is not None},
                retention_class="invoice",
                retention_base=base,
            ))
        receipts = self.archive.append(entries)
        for p, r in zip(batch, receipts):
            p.receipt = r

    def _row(self, p: _Pending) -> Invoice:
        """The database row of a new file: verdict, key EN 16931 fields, routing, archive location."""
        model, report, receipt = p.report.model, p.report, p.receipt
        check_transition(None, p.state)
        row = Invoice(
            file_sha256=p.item.sha256, filename=p.item.name[:512], channel=p.item.channel, size=len(p.item.data),
            state=p.state.value, container=report.container, syntax=report.syntax, profile=(report.profile or None),
            valid=report.valid, verdict=p.summary, report_json=p.report_json,
            archive_entry_id=receipt.entry_id, archive_sequence=receipt.sequence,
            archive_original_key=receipt.document_keys.get(p.item.name), archive_retain_until=receipt.retain_until,
        )
        if model is not None:
            seller = model.seller
            skonto_until, skonto_percent = _skonto(model)
            ids = routing_input(model).seller_ids
            row.invoice_number = model.invoice_number
            row.issue_date = model.issue_date
            row.type_code = model.type_code
            row.currency = model.currency
            row.due_date = model.due_date
            row.leitweg_id = model.buyer_reference
            row.order_reference = model.order_reference
            row.seller_name = seller.name
            row.seller_vat_id = seller.vat_id
            row.seller_id = ids[0] if ids else None
            row.amount_due = model.totals.amount_due
            row.tax_inclusive_amount = model.totals.tax_inclusive
            row.iban = model.iban
            row.skonto_until, row.skonto_percent = skonto_until, skonto_percent
        if p.decision is not None:
            row.department, row.routing_rule, row.routing_reason = p.decision.department, p.decision.rule, p.decision.reason
        return row

    def _insert(self, s, p: _Pending) -> None:
        """Add one new file's row, its 'received' audit event and (in approval) its first task to ``s``."""
        from einvoice.approval import start_approval

        row = self._row(p)
        details = {"verdict": p.summary, "archive_entry": p.receipt.entry_id}
        if p.decision is not None:
            details["routing"] = {"department": p.decision.department, "rule": p.decision.rule, "reason": p.decision.reason}
        s.add(row)
        s.flush()
        s.add(InvoiceEvent(
            invoice_id=row.id, actor="system", action="received", from_state=None, to_state=p.state.value,
            amount=row.amount_due, comment=p.summary, details_json=json.dumps(details, ensure_ascii=False),
        ))
        # Same transaction: an invoice in approval never exists without its first task and duplicate check.
        start_approval(s, row, self.organisation)

    def _store(self, batch: list[_Pending]) -> None:
        """Record a batch in one transaction (one commit instead of one per file).

        If another worker stored one of these files meanwhile, the unique SHA-256 refuses the
        batch; then each file is stored in its own transaction and the peer's row stands for the
        one already there. Each file still gets exactly one row and one 'received' event.
        """
        try:
            with self.db.transaction() as s:
                for p in batch:
                    self._insert(s, p)
            return
        except IntegrityError:
            pass
        for p in batch:
            try:
                with self.db.transaction() as s:
                    self._insert(s, p)
            except IntegrityError:
                if p.item.sha256 not in self._known([p.item.sha256]):
                    raise  # not the peer case: a real constraint violation must not be swallowed
                # a peer stored this file first: its row is the one record of it

    def _outcome(self, item: InboxItem, row: Invoice | None, already_received: bool) -> IngestOutcome:
        if row is None:  # pragma: no cover - _store either inserted it or a peer did
            raise RuntimeError(f"{item.name}: no database row after ingest")
        return IngestOutcome(
            name=item.name, sha256=row.file_sha256, state=row.state, invoice_id=row.id, syntax=row.syntax,
            valid=row.valid, verdict=row.verdict, department=row.department, routing_reason=row.routing_reason,
            archive_key=row.archive_original_key,
            retain_until=row.archive_retain_until.date().isoformat() if row.archive_retain_until else None,
            already_received=already_received,
        )
