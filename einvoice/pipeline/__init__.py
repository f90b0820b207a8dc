"""Intake pipeline: received bytes → validation → routing → archive → database, per batch.

This is the one path every received file takes. Each file ends in exactly one invoice state
(see ``einvoice.states``) or, if it could not even be read, in an outcome that says why; a bad
file never stops the others. Re-ingesting the same bytes is idempotent: the SHA-256 of the file
is the key in the database and the archive entry id. Originals are archived exactly as received,
before the database row exists, so a crash in between is healed by the next run (the archive
returns the existing entry for the same id). Their retention counts from the date of receipt,
never from the supplier's issue date (``einvoice.retention``: an implausible issue date is a
finding on the outcome, the audit event and the archive entry); if the archive still refuses
one entry, only that file is left in the inbox with the reason, the rest of the batch goes on.

Peppol: a file that is a Standard Business Document (SBDH envelope, ``einvoice.intake.sbdh``) is the
received original and is archived as such; intake validates its payload, which is archived beside
it as a second document. A delivery folder's file in an envelope is recorded with channel
``peppol``; the header (participants, document type, instance id) goes to ``invoices.channel_json``
and the receiver ``0204:<Leitweg-ID>`` is routing evidence (``einvoice.routing``).

Validation is CPU-bound (Saxon, lxml): with ``validation_jobs`` > 1 a batch is validated in
worker processes forked after the stylesheets are compiled, while this process archives and
records the files validated so far (sub-batches of ``ARCHIVE_CHUNK``). A worker that dies on a
file (a crash, not a finding) costs only that file: it is recorded as not validated, with the
reason, and the other files are validated again in a fresh worker.

Every file is validated under the per-file time budget (``EINVOICE_VALIDATION_TIMEOUT``, default
120 s, ``einvoice.validation.budget``): a file over it is recorded as not validated with the
finding VALIDATION-TIMEOUT and the rest of the batch gets its normal results. Saxon cannot be
interrupted in a process, so smaller batches (and ``validation_jobs`` = 1) are validated in the
process's one warm validation worker, kept across batches (``budget.shared_worker``); only a
budget of 0 validates them in this process.

This module must never import Prefect: ``flows/`` calls it in batches.
"""
from __future__ import annotations

import datetime as dt
import json
import mimetypes
import multiprocessing
import os
import time
import weakref
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from einvoice import retention
from einvoice.db import Database
from einvoice.db.models import InvoiceEvent, InvoiceRow
from einvoice.intake import not_an_invoice, sbdh
from einvoice.intake.inbox import InboxItem, IngestOutcome
from einvoice.organisation import Organisation
from einvoice.routing import RoutingDecision, route, routing_input
from einvoice.states import InvoiceState, check_transition
from einvoice.validation.budget import default_time_budget, died_report, shared_worker, timeout_report
from einvoice.validation.plausibility import sane_date, sane_decimal
from einvoice.xml.safe import parse_xml

NOT_INVOICE_SYNTAXES = {"none", "unsupported", "zugferd1"}
#: Batches with fewer files to validate than this are validated in this process (forking and
#: feeding workers would cost more than it saves).
POOL_FROM_FILES = 8
#: With worker processes, the files validated so far are archived and recorded (one archive page
#: and one transaction) while the workers validate the next ones: at most ARCHIVE_CHUNK at once,
#: and at least MIN_ARCHIVE_CHUNK unless no further file is ready yet.
ARCHIVE_CHUNK = 50
MIN_ARCHIVE_CHUNK = 10
#: Channels that are a folder someone delivers into: an SBDH envelope there is a Peppol delivery
#: (an access point's delivery folder or S3 prefix), so the file's channel becomes ``peppol``.
FOLDER_CHANNELS = {"directory", "s3", "peppol"}


def state_for(report) -> InvoiceState:
    """Which state a validation report puts a new file into.

    A file that failed as an invoice (malformed XML, schema or rule errors) is *rejected* and goes
    back to the supplier; a file that is no e-invoice at all (plain PDF, foreign format, ZUGFeRD
    1.0, MINIMUM/BASIC WL which are no invoices under § 14 UStG) is kept as a document only.
    """
    if not_an_invoice(report.profile_name):
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


def _decimal(value) -> str | None:
    return None if value is None else str(value)


def _skonto(model) -> tuple[dt.date | None, object, str | None]:
    """(date, percent) of the term that applies on the issue date, and all usable terms as JSON
    (einvoice.model.skonto: out-of-range terms, e.g. 3 million days or a date past 9999, are not usable
    and never reach the calendar arithmetic)."""
    from einvoice.model import skonto

    return skonto.on_receipt(getattr(model, "skonto", None) or (), model.issue_date, model.totals.amount_due)


def _sane(value):
    """A model value the database can hold (rejected invoices may carry absurd ones)."""
    if isinstance(value, Decimal):
        return value if sane_decimal(value) else None
    if isinstance(value, dt.date):
        return value if sane_date(value) else None
    return value


def _clip_strings(row: InvoiceRow) -> None:
    """Cut values read from the invoice to their column's length: a rejected invoice may carry a
    4-letter currency or a 300-character number, and PostgreSQL refuses the whole batch for it.
    The archived original and the report keep the full values."""
    for col in InvoiceRow.__table__.columns:
        length = getattr(col.type, "length", None)
        value = getattr(row, col.key, None)
        if length and isinstance(value, str) and len(value) > length:
            setattr(row, col.key, value[: length - 1] + "…")


def _internal_error_report(name: str, exc: Exception):
    """A report for a file the validator crashed on: 'not validated', never 'valid'."""
    return died_report(name, f"{type(exc).__name__}: {exc}")


def _refusal_report(name: str, rule: str, state: str, message: str):
    """The report of a file its channel refused (``InboxItem.refusal``): no stage ran on it."""
    from einvoice.validation import Finding, Report

    report = Report(path=name, syntax="none", valid=False if state == InvoiceState.REJECTED.value else None,
                    stages={"intake": "failed"}, not_validated_reason=f"{rule} {message}",
                    findings=[Finding(rule=rule, severity="fatal", stage="intake", location=None, message=message)])
    return report, report.summary(), report.to_json()


def _validated(name: str, data: bytes, config) -> tuple[object, str, str]:
    """Validation report, its one-line summary and its JSON, for one file; never raises."""
    from einvoice.validation import validate

    try:
        report = validate(data, name, config=config)
    except Exception as exc:  # noqa: BLE001 - a validator bug must not lose the file
        report = _internal_error_report(name, exc)
    return report, report.summary(), report.to_json()


_WORKER_CONFIG = None


def _worker_init(config) -> None:
    global _WORKER_CONFIG
    _WORKER_CONFIG = config


def _validated_in_worker(name: str, data: bytes) -> tuple[object, str, str]:
    return _validated_elsewhere(name, data, _WORKER_CONFIG)


def _validated_elsewhere(name: str, data: bytes, config) -> tuple[object, str, str]:
    report, summary, as_json = _validated(name, data, config)
    report.xml = None  # the bytes are the caller's already; do not send them back
    return report, summary, as_json


def _as_result(_name: str, report) -> tuple[object, str, str]:
    return report, report.summary(), report.to_json()


def _validated_under_budget(items: list["InboxItem"], config, budget: float) -> Iterator[tuple[tuple[object, str, str], bool]]:
    """((report, summary, JSON), True) per item, in order, from this process's warm validation
    worker: a file over ``budget`` seconds is not validated (VALIDATION-TIMEOUT), the others are."""
    with shared_worker() as workers:
        # next_ready is always True: as in this process, the batch is archived in one page
        for result, _ready in workers.run(_validated_elsewhere, ((it.name, it.data) for it in items),
                                          config=config, budget=budget, failed=_as_result):
            yield result, True


class ValidatorPool:
    """Worker processes that validate the files of one batch; forked after compiling the
    stylesheets so each worker starts warm (as ``einvoice validate --jobs`` does without a budget)."""

    def __init__(self, jobs: int, config, time_budget: float | None = None) -> None:
        self.jobs, self.config = jobs, config
        #: seconds one file may take (counted from when the previous result arrived); a file over
        #: it is ended by stopping the workers and recorded as not validated (VALIDATION-TIMEOUT)
        self.time_budget = default_time_budget() if time_budget is None else time_budget
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self, facturx: bool = False) -> ProcessPoolExecutor:
        if self._executor is None:
            from einvoice.validation import warm

            # Before the fork, so the children inherit the compiled stylesheets (this process
            # keeps them for the next batch). The Factur-X ones only when the batch has a PDF:
            # a flow run is a fresh process, and most runs see none.
            warm(facturx=facturx)
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self._executor = ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context(method),
                                                 initializer=_worker_init, initargs=(self.config,))
            weakref.finalize(self, self._executor.shutdown, wait=False, cancel_futures=True)
        return self._executor

    def _kill(self) -> None:
        """Stop the worker processes now (their running calls cannot be cancelled)."""
        if self._executor is not None:
            for proc in list(getattr(self._executor, "_processes", {}).values()):
                try:
                    proc.kill()
                except (OSError, AttributeError):
                    pass
            self._reset()

    def _reset(self, wait: bool = False) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=True)
            self._executor = None

    def close(self) -> None:
        """Stop the workers and wait for them to exit."""
        self._reset(wait=True)

    def validate(self, items: list["InboxItem"]) -> Iterator[tuple[tuple[object, str, str], bool]]:
        """((report, summary, JSON), next_ready) per item, in order, as soon as each is done;
        ``next_ready`` says whether the next item's result is already there."""
        pool = self._pool(facturx=any(it.data[:1024].lstrip().startswith(b"%PDF") for it in items))
        futures = [pool.submit(_validated_in_worker, it.name, it.data) for it in items]
        since = time.monotonic()
        for i, fut in enumerate(futures):
            try:
                timeout = None
                if self.time_budget and self.time_budget > 0:
                    timeout = max(0.01, self.time_budget - (time.monotonic() - since))
                result = fut.result(timeout=timeout)
                since = time.monotonic()
                yield result, i + 1 < len(futures) and futures[i + 1].done()
            except FuturesTimeout:
                # A pathological file: stop the workers (a Saxon call cannot be interrupted
                # otherwise), record it, keep the results already there and validate the rest
                # in fresh workers.
                self._kill()
                report = timeout_report(items[i].name, self.time_budget)
                yield (report, report.summary(), report.to_json()), True
                rest = list(zip(items[i + 1:], futures[i + 1:]))
                again = [item for item, f in rest if not (f.done() and not f.cancelled() and f.exception() is None)]
                redone = self.validate(again) if again else iter(())
                for _item, other in rest:
                    if other.done() and not other.cancelled() and other.exception() is None:
                        yield other.result(), True
                    else:
                        result, _ = next(redone)
                        yield result, True
                return
            except BrokenProcessPool:
                # Some file killed a worker, and the pool with it. Files whose result is in
                # stand; the others are validated one at a time in fresh workers, so the file
                # that kills a worker again is found and only it is recorded as not validated.
                yield self._alone(items[i]), True
                for item, other in zip(items[i + 1:], futures[i + 1:]):
                    done = other.done() and not other.cancelled() and other.exception() is None
                    yield (other.result() if done else self._alone(item)), True
                return

    def _alone(self, item: "InboxItem") -> tuple[object, str, str]:
        try:
            fut = self._pool().submit(_validated_in_worker, item.name, item.data)
        except BrokenProcessPool:  # broken by another file: start afresh
            self._reset()
            fut = self._pool().submit(_validated_in_worker, item.name, item.data)
        try:
            return fut.result()
        except BrokenProcessPool:
            self._reset()
            report = _internal_error_report(item.name, RuntimeError("the validator process died on this file"))
            return report, report.summary(), report.to_json()


def default_validation_jobs() -> int:
    """Worker processes for validation: ``EINVOICE_VALIDATION_JOBS``, else one per core."""
    value = os.environ.get("EINVOICE_VALIDATION_JOBS", "").strip()
    if value:
        jobs = int(value)
        if jobs < 1:
            raise ValueError(f"EINVOICE_VALIDATION_JOBS must be 1 or more, not {value!r}")
        return jobs
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class Received:
    """How a file arrived: its channel, the channel's metadata, and for a Peppol envelope its payload."""

    channel: str
    meta: dict | None = None
    envelope: sbdh.Unwrapped | None = None

    @property
    def receiver(self) -> str | None:
        return self.envelope.header.receiver if self.envelope is not None and self.envelope.header else None


def received_via(item: InboxItem) -> Received:
    """The channel of ``item``: a folder's SBDH envelope makes it a Peppol delivery (never raises).

    Validation unwraps the envelope itself (``einvoice.intake``); this second, cheap look (only for
    files that name the SBDH namespace) keeps the header as channel metadata, in this process."""
    meta = dict(item.channel_meta) if item.channel_meta else None
    if not sbdh.looks_like_sbdh(item.data):
        return Received(item.channel, meta)
    root, _problem = parse_xml(item.data)
    if root is None or not sbdh.is_envelope(root):
        return Received(item.channel, meta)  # validation reports why it could not be read
    env = sbdh.unwrap(root)
    header = env.header.as_dict() if env.header is not None else {}
    if item.channel in FOLDER_CHANNELS:
        return Received("peppol", {**header, **({"inbox": item.channel} if item.channel != "peppol" else {}), **(meta or {})}, env)
    # an envelope that came another way (upload, e-mail) keeps its channel; the header is kept too
    return Received(item.channel, {**(meta or {}), "sbdh": header}, env)


@dataclass
class _Pending:
    item: InboxItem
    report: object
    state: InvoiceState
    decision: RoutingDecision | None
    received: Received | None = None
    receipt: object = None
    summary: str = ""
    report_json: str = ""
    retention_findings: list[str] = field(default_factory=list)
    #: why the archive refused this file (it is then not recorded and stays in the inbox)
    archive_problem: str | None = None


def _without_model(p: _Pending, exc: Exception) -> _Pending:
    """The file's record without anything read from it, when its row could not be stored:
    'not validated' with the reason, so an operator looks at it; the original stays archived."""
    reason = f"the invoice data could not be recorded ({type(exc).__name__}); an operator must look at it"
    p.report.model = None
    p.report.valid = None
    p.report.not_validated_reason = reason
    state = InvoiceState.NOT_VALIDATED
    return _Pending(p.item, p.report, state, None, receipt=p.receipt, summary="not validated: " + reason,
                    report_json=p.report_json)


#: What ``IntakePipeline.on_record`` runs: (session, [(new invoice row, its EN 16931 model or None)],
#: organisation).
RecordHook = Callable[[Session, list[tuple[InvoiceRow, object]], Organisation], None]


@dataclass
class IntakePipeline:
    db: Database
    organisation: Organisation
    archive: object  # archive.Archive (kept untyped so this module imports without boto3 at hand)
    validation_config: object = None
    #: worker processes for validating batches of POOL_FROM_FILES files or more (1: smaller
    #: batches' way for every batch)
    validation_jobs: int = 1
    #: run in order inside the transaction that records a batch, after its rows are flushed: the
    #: approval chain's first tasks and the supplier notices (``einvoice.app.intake_hooks``). Passed
    #: in, so intake knows nothing of the stages after it; required, so no caller forgets them.
    on_record: Sequence[RecordHook] = field(kw_only=True)
    #: seconds one file may take (0: no limit, smaller batches are then validated in this
    #: process); None: ``EINVOICE_VALIDATION_TIMEOUT`` at each batch, default 120
    time_budget: float | None = None
    _pool: ValidatorPool | None = field(default=None, repr=False)

    def close(self) -> None:
        """Stop the pool's validation workers (``ingest`` does so after each batch)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _known(self, shas: list[str]) -> dict[str, InvoiceRow]:
        if not shas:
            return {}
        with self.db.sessions() as s:
            rows = s.scalars(sa.select(InvoiceRow).where(InvoiceRow.file_sha256.in_(shas))).all()
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

        new: dict[str, InboxItem] = {}
        order: list[tuple[int, str]] = []
        for i, it in readable:
            sha = it.sha256
            order.append((i, sha))
            if sha not in known and sha not in new:
                new[sha] = it

        pending: dict[str, _Pending] = {}
        chunk: list[_Pending] = []
        # without the pool, as in one process: the whole batch in one archive page (cheapest)
        limit = ARCHIVE_CHUNK if self._uses_pool(len(new)) else max(1, len(new))
        assessed = self._assess_all(list(new.values()))
        try:
            for p, next_ready in assessed:
                pending[p.item.sha256] = p
                chunk.append(p)
                if len(chunk) >= limit or (not next_ready and len(chunk) >= MIN_ARCHIVE_CHUNK):
                    self._archive(chunk)
                    self._store(chunk)
                    chunk = []
        finally:
            # Now, not when collected: a file still in a worker stops that worker.
            assessed.close()
            # The pool's workers live for one batch: forking them again costs a few ms per batch,
            # and no idle process copies of this one (its threads' sockets, its memory) outlive
            # it. The one warm worker of smaller batches stays (budget.shared_worker): it spares
            # each of them the compile of the stylesheets.
            self.close()
        if chunk:
            self._archive(chunk)
            self._store(chunk)
        if pending:
            known = self._known(list(pending)) | known

        for i, sha in order:
            row = known.get(sha)
            first = sha in pending and items[i] is pending[sha].item
            if row is None and sha in pending and pending[sha].archive_problem is not None:
                p = pending[sha]
                outcomes[i] = IngestOutcome(
                    items[i].name, sha, "unreadable", syntax=p.report.syntax, valid=p.report.valid,
                    verdict=f"nicht archiviert, bleibt im Eingang: {p.archive_problem}",
                    retention_findings=p.retention_findings, already_received=not first)
                continue
            outcomes[i] = self._outcome(items[i], row, already_received=not first)
            if first:
                outcomes[i].retention_findings = pending[sha].retention_findings
        return outcomes  # type: ignore[return-value]

    def _uses_pool(self, files: int) -> bool:
        return self.validation_jobs > 1 and files >= POOL_FROM_FILES

    def _assess_all(self, items: list[InboxItem]) -> Iterator[tuple[_Pending, bool]]:
        """Validate and route ``items``, yielding them in order as they are done, each with
        whether the next one is ready too (in this process: it is, once asked for; archiving
        the batch in one go then costs one archive page). Files their channel refused
        (``InboxItem.refusal``) come first: they are not validated."""
        refused = [it for it in items if it.refusal is not None]
        for it in refused:
            yield self._assess(it, *_refusal_report(it.name, *it.refusal)), True
        items = [it for it in items if it.refusal is None]
        budget = default_time_budget() if self.time_budget is None else self.time_budget
        if self._uses_pool(len(items)):
            if self._pool is None:
                self._pool = ValidatorPool(self.validation_jobs, self.validation_config, time_budget=budget)
            results = self._pool.validate(items)
        elif budget > 0:
            results = _validated_under_budget(items, self.validation_config, budget)
        else:  # no budget: nothing needs a process boundary
            results = ((_validated(it.name, it.data, self.validation_config), True) for it in items)
        for item, ((report, summary, as_json), next_ready) in zip(items, results):
            yield self._assess(item, report, summary, as_json), next_ready

    def _assess(self, item: InboxItem, report, summary: str, report_json: str) -> _Pending:
        state = state_for(report)
        via = received_via(item)
        decision = None
        if state is InvoiceState.IN_APPROVAL and report.model is not None:
            decision = route(routing_input(report.model, peppol_receiver=via.receiver), self.organisation)
        return _Pending(item, report, state, decision, received=via, summary=summary, report_json=report_json)

    def _archive(self, batch: list[_Pending]) -> None:
        """Archive a batch in one append; if the archive refuses it, each file alone, so one file
        the archive cannot take costs only that file (it stays in the inbox, with the reason)."""
        from archive import ArchiveError

        entries = [self._entry(p) for p in batch]
        try:
            receipts = self.archive.append(entries)
        except ArchiveError as exc:
            if exc.kind != "usage":
                raise  # storage down or integrity: the batch is retried later, nothing is recorded
            receipts = [self._append_alone(p, e) for p, e in zip(batch, entries)]
        for p, r in zip(batch, receipts):
            p.receipt = r

    def _append_alone(self, p: _Pending, entry):
        """One file's entry on its own; a refusal of this entry is noted on it, not raised."""
        from archive import ArchiveError

        try:
            return self.archive.append([entry])[0]
        except ArchiveError as exc:
            if exc.kind != "usage":
                raise
            p.archive_problem = str(exc)
            return None

    def _entry(self, p: _Pending):
        """The archive entry of a received file: original + validation report, kept from receipt."""
        from archive import ArchiveDocument, EntryInput

        model = p.report.model
        received = retention.local_date()
        issue_date = model.issue_date if model is not None else None
        finding = retention.check_issue_date(issue_date, received)
        p.retention_findings = [str(finding)] if finding else []
        metadata = {
            "kind": "received-document",
            "filename": p.item.name,
            "channel": p.received.channel,
            "received": received.isoformat(),
            "format": p.report.syntax,
            "container": p.report.container,
            "profile": p.report.profile,
            "verdict": p.state.value,
        }
        if model is not None:
            totals = model.totals
            metadata.update({
                "invoice_number": model.invoice_number,
                "issue_date": model.issue_date.isoformat() if model.issue_date else None,
                "seller": model.seller.name,
                "seller_vat_id": model.seller.vat_id,
                # Amounts as decimal strings (the archive refuses floats); the Z3 export
                # types a column of decimal strings as numeric.
                "currency": model.currency,
                "amount_due": _decimal(totals.amount_due if totals else None),
                "tax_exclusive_amount": _decimal(totals.tax_exclusive if totals else None),
                "vat_amount": _decimal(totals.tax if totals else None),
                "tax_inclusive_amount": _decimal(totals.tax_inclusive if totals else None),
            })
        if p.retention_findings:
            metadata["findings"] = p.retention_findings
        documents = [
            ArchiveDocument(name=p.item.name, media_type=_media_type(p.item.name, p.report), data=p.item.data),
            ArchiveDocument(name="validation-report.json", media_type="application/json", data=p.report_json.encode()),
        ]
        env = p.received.envelope
        if env is not None:
            # Flat keys: the Z3 export makes a column of every scalar metadata key.
            header = env.header.as_dict() if env.header is not None else {}
            for key in ("sender", "receiver", "document_type", "instance_id"):
                metadata[f"peppol_{key}"] = header.get(key)
            if env.payload is not None:
                # The envelope above is the original as received; this is the payload that was
                # validated (serialised from it, einvoice.intake.sbdh), kept so an auditor sees both.
                documents.append(ArchiveDocument(name=f"{p.item.name}.payload.xml", media_type="application/xml",
                                                 data=env.payload))
        # The channel's evidence (e.g. the e-mail the file came in) in the same entry.
        documents += [ArchiveDocument(name=n, media_type=m, data=d) for n, m, d in p.item.evidence]
        # The channel's facts as flat text columns (the Z3 export makes a column of each key).
        for key, value in ((p.received.meta or {}) if p.received else {}).items():
            if isinstance(value, str) and value:
                metadata.setdefault(f"{p.received.channel}_{key}", value[:1000])
        return EntryInput(
            entry_id=f"received-{p.item.sha256}",
            documents=documents,
            metadata={k: v for k, v in metadata.items() if v is not None},
            retention_class=retention.INVOICE,
            # From receipt, never from the supplier's issue date (einvoice.retention).
            retention_base=retention.retention_base(received, issue_date),
        )

    def _row(self, p: _Pending) -> InvoiceRow:
        """The database row of a new file: verdict, key EN 16931 fields, routing, archive location."""
        model, report, receipt = p.report.model, p.report, p.receipt
        check_transition(None, p.state)
        row = InvoiceRow(
            file_sha256=p.item.sha256, filename=p.item.name[:512], channel=p.received.channel[:32],
            channel_json=json.dumps(p.received.meta, ensure_ascii=False, sort_keys=True) if p.received.meta else None,
            size=len(p.item.data),
            state=p.state.value, container=report.container, syntax=report.syntax, profile=(report.profile or None),
            valid=report.valid, verdict=p.summary, report_json=p.report_json,
            archive_entry_id=receipt.entry_id, archive_sequence=receipt.sequence,
            archive_original_key=receipt.document_keys.get(p.item.name), archive_retain_until=receipt.retain_until,
        )
        if model is not None:
            seller = model.seller
            skonto_until, skonto_percent, skonto_terms = _skonto(model)
            ids = routing_input(model).seller_ids
            row.invoice_number = model.invoice_number
            row.issue_date = _sane(model.issue_date)
            row.type_code = model.type_code
            row.currency = model.currency
            row.due_date = _sane(model.due_date)
            row.leitweg_id = model.buyer_reference
            row.order_reference = model.order_reference
            row.seller_name = seller.name
            row.seller_vat_id = seller.vat_id
            row.seller_id = ids[0] if ids else None
            row.amount_due = _sane(model.totals.amount_due)
            row.tax_inclusive_amount = _sane(model.totals.tax_inclusive)
            row.iban = model.iban
            row.skonto_until, row.skonto_percent, row.skonto_terms = skonto_until, skonto_percent, skonto_terms
        if p.decision is not None:
            row.department, row.routing_rule, row.routing_reason = p.decision.department, p.decision.rule, p.decision.reason
        _clip_strings(row)
        return row

    def _insert(self, s, batch: list[_Pending]) -> None:
        """Add new files' rows, their 'received' audit events and (in approval) their first tasks
        to ``s``: one INSERT per table for the batch, not a round trip per file."""
        rows = [self._row(p) for p in batch]
        s.add_all(rows)
        s.flush()
        for p, row in zip(batch, rows):
            details = {"verdict": p.summary, "archive_entry": p.receipt.entry_id}
            if p.retention_findings:
                details["findings"] = p.retention_findings
            if p.decision is not None:
                details["routing"] = {"department": p.decision.department, "rule": p.decision.rule, "reason": p.decision.reason}
            s.add(InvoiceEvent(
                invoice_id=row.id, actor="system", action="received", from_state=None, to_state=p.state.value,
                amount=row.amount_due, comment=p.summary, details_json=json.dumps(details, ensure_ascii=False),
            ))
        # Same transaction: an invoice in approval never exists without its first task and duplicate
        # check, a rejected (not validated, not an invoice) file never without its supplier notice.
        recorded = [(row, p.report.model) for p, row in zip(batch, rows)]
        for hook in self.on_record:
            hook(s, recorded, self.organisation)

    def _store(self, batch: list[_Pending]) -> None:
        """Record a batch in one transaction (one commit instead of one per file).

        If another worker stored one of these files meanwhile, the unique SHA-256 refuses the
        batch; then each file is stored in its own transaction and the peer's row stands for the
        one already there. Each file still gets exactly one row and one 'received' event. A file
        the archive refused gets none: its original must be archived before it is recorded.
        """
        batch = [p for p in batch if p.receipt is not None]
        if not batch:
            return
        try:
            with self.db.transaction() as s:
                self._insert(s, batch)
            return
        except IntegrityError:
            pass
        except Exception:  # noqa: BLE001 - one file's data must not stop the batch: store one by one
            pass
        for p in batch:
            try:
                with self.db.transaction() as s:
                    self._insert(s, [p])
            except IntegrityError:
                if p.item.sha256 not in self._known([p.item.sha256]):
                    raise  # not the peer case: a real constraint violation must not be swallowed
                # a peer stored this file first: its row is the one record of it
            except Exception as exc:  # noqa: BLE001 - this file's values broke its row: keep the file
                with self.db.transaction() as s:
                    self._insert(s, [_without_model(p, exc)])

    def _outcome(self, item: InboxItem, row: InvoiceRow | None, already_received: bool) -> IngestOutcome:
        if row is None:  # pragma: no cover - _store either inserted it or a peer did
            raise RuntimeError(f"{item.name}: no database row after ingest")
        return IngestOutcome(
            name=item.name, sha256=row.file_sha256, state=row.state, invoice_id=row.id, syntax=row.syntax,
            valid=row.valid, verdict=row.verdict, department=row.department, routing_reason=row.routing_reason,
            archive_key=row.archive_original_key,
            retain_until=row.archive_retain_until.date().isoformat() if row.archive_retain_until else None,
            already_received=already_received, channel=row.channel,
        )
