"""Prefect flow ``process-inbox``: drain an inbox (a directory, or an S3 prefix) through the intake pipeline.

Orchestration only: batching, retries, artifacts and events. Listing, reading and moving inbox
files is ``einvoice.intake.inbox``; every decision about a file (validation, state, routing,
archiving) is made by ``einvoice.pipeline``. Invoice bytes
never travel through Prefect parameters or results: tasks get file paths or S3 keys and return
outcomes (name, hash, state, verdict, ids).

Files are batched, never one task per invoice: a task run costs Prefect bookkeeping on both sides
(client ~11 ms, see ../shared/docs/stack.md; server CPU too), and inside a batch the validation workers
run ahead of archiving (einvoice.pipeline). Batches of 250 rather than 100 measured ~10 % more
invoices/s end to end (bench/pipeline.py); a batch is also the unit a retry repeats, which costs
little because ingest is idempotent.

Inbox forms:
* a directory: files are read where they are; with ``processed`` set, each file that reached a
  state is moved there afterwards (unreadable files stay for an operator).
* ``s3://bucket/prefix/``: objects under the prefix are read in the task; afterwards each object
  that reached a state is moved (copy + delete) to ``processed`` (default ``processed/<prefix>``
  in the same bucket), so the next run only sees new objects.

The deployment (``prefect.yaml``) passes ``processed`` from ``EINVOICE_INBOX_DONE``; when that
variable was not set at deploy time the flow gets the bare placeholder and uses the defaults
``<inbox>/processed/`` (directory; sub-directories are not part of the inbox) or
``processed/<prefix>`` (S3), so a deployed inbox is never read again and again.

A Peppol access point's delivery folder is such an inbox: a file in an SBDH envelope is recorded
with channel ``peppol`` and its header (``einvoice.pipeline``, ``einvoice.intake.sbdh``); nothing here differs.

Files that need a person (rejected, not validated, not an e-invoice, unreadable) make the run end
``Completed`` named ``Needs attention`` with the counts in its name (``flows.attention``).
"""
from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ProcessPoolTaskRunner

from einvoice.intake.inbox import list_entries as _list_entries
from einvoice.intake.inbox import move_processed as _move_processed
from einvoice.intake.inbox import read_inbox_file, read_s3_object, split_s3
from flows.attention import Attention, finish_run
from flows.common import (
    ARCHIVE_WRITER,
    app,
    emit_events,
    intake,
    invoice_resource,
    resource_id,
    resource_key,
    retry_on_transient,
    stamp,
)

EVENT_FOR_STATE = {
    "in_approval": "invoice.received",
    "rejected": "invoice.rejected",
    "not_an_invoice": "invoice.not-an-invoice",
    "not_validated": "invoice.not-validated",
    "unreadable": "invoice.unreadable",
}
#: Show a progress bar in the UI only when a run is long enough for someone to watch it.
PROGRESS_FROM_BATCHES = 3
#: Upper bound for the ``parallel`` parameter (processes per flow run).
MAX_PARALLEL = 8
#: States of a new file that a person has to deal with (tell the supplier, fix the set-up ...).
NEEDS_A_PERSON = ("rejected", "not_validated", "not_an_invoice", "unreadable")


# --- inbox listing (einvoice.intake.inbox) ------------------------------------------------------------
def list_entries(inbox: str) -> list[str]:
    """File paths (directory inbox) or object keys (S3 inbox), oldest name first."""
    return _list_entries(inbox, app().s3 if inbox.startswith("s3://") else None)


def _base_name(inbox: str) -> str:
    where = "" if not inbox.startswith("s3://") else f" {inbox}"
    return f"inbox{where} {stamp()}"


def _run_name() -> str:
    inbox = str(flow_run.parameters["inbox"])
    try:
        count = len(list_entries(inbox))
    except Exception:  # noqa: BLE001 - a name must never stop the run; the run itself reports the error
        count = 0
    return f"{_base_name(inbox)}, {count} files"


def processed_target(inbox: str, processed: str | None) -> str | None:
    """Where files go after ingest: ``processed`` as given; an unfilled deployment placeholder
    (``{{ $EINVOICE_INBOX_DONE }}``) means the default (see the module docstring); ``None`` or an
    empty string for a directory inbox means "leave the files" (calls from code and tests)."""
    s3 = inbox.startswith("s3://")
    if processed is not None and processed.strip().startswith("{{"):
        processed = None if s3 else str(Path(inbox) / "processed")
    if s3 and not processed:
        return f"processed/{split_s3(inbox)[1]}"
    return processed or None


def attention_of(outcomes: list[dict]) -> Attention:
    """New files that need a person (pure: from the outcomes)."""
    att = Attention()
    for o in outcomes:
        if o["state"] in NEEDS_A_PERSON and not o["already_received"]:
            att.add("rejected-files", o["sha256"] or o["name"],
                    f"{o['name']}: {o['state'].replace('_', ' ')}: {o['verdict']}"
                    + (f" (invoice {o['invoice_id']})" if o["invoice_id"] else ""))
    return att


def done_text(outcomes: list[dict]) -> str:
    """``9 files: 4 in approval, 4 rejected, 1 not an invoice``."""
    counts: dict[str, int] = {}
    for o in outcomes:
        key = o["state"] + (" (seen before)" if o["already_received"] else "")
        counts[key] = counts.get(key, 0) + 1
    text = f"{len(outcomes)} files"
    return text + (": " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(counts.items())) if counts else "")


# --- the batch task -----------------------------------------------------------------------------------
@task(name="ingest-batch", retries=3, retry_delay_seconds=[5, 30, 120], retry_condition_fn=retry_on_transient,
      tags=[ARCHIVE_WRITER])
def ingest_batch(paths: list[str], channel: str = "directory", bucket: str | None = None) -> list[dict]:
    """Validate, route, archive and record one batch of inbox files; returns one outcome per file.

    Safe to retry: the pipeline is idempotent on the file's SHA-256 (archive entry id and database
    key), so a batch that failed half-way is completed, not duplicated.
    """
    items = [read_s3_object(app().s3, bucket, p, channel) if bucket else read_inbox_file(Path(p), channel) for p in paths]
    return [o.as_dict() for o in intake().ingest(items)]


@task(name="move-processed", retries=3, retry_delay_seconds=[2, 10, 30], retry_condition_fn=retry_on_transient)
def move_processed(sources: list[str], processed: str, bucket: str | None = None, prefix: str = "") -> int:
    """Move files that reached a state out of the inbox (idempotent: a missing source is already moved)."""
    return _move_processed(sources, processed, s3=app().s3 if bucket else None, bucket=bucket, prefix=prefix)


# --- UI: events and artifacts -------------------------------------------------------------------------
def _event(outcome: dict) -> dict | None:
    """The Prefect event of one file that reached a state in this run (none for a file seen before)."""
    if outcome["already_received"]:
        return None
    return dict(
        event=EVENT_FOR_STATE.get(outcome["state"], f"invoice.{outcome['state']}"),
        resource={"prefect.resource.id": resource_id("file", outcome["sha256"] or resource_key(outcome["name"])),
                  "prefect.resource.name": outcome["name"]},
        related=invoice_resource(outcome["invoice_id"]),
        payload={k: outcome[k] for k in ("name", "invoice_id", "state", "syntax", "valid", "verdict", "department",
                                         "archive_key")},
    )


def _emit(outcomes: list[dict]) -> None:
    emit_events([e for e in map(_event, outcomes) if e is not None])


def _table(outcomes: list[dict], inbox: str, attention: Attention) -> None:
    create_table_artifact(
        key="inbox-run",
        table=[{"file": o["name"], "syntax": o["syntax"] or "-",
                "state": o["state"] + (" (already received)" if o["already_received"] else ""),
                "verdict": o["verdict"], "department": o["department"] or "-", "invoice id": o["invoice_id"] or "-",
                "archive key": o["archive_key"] or "-"} for o in outcomes],
        description=attention.describe(f"{len(outcomes)} files from {inbox}"),
    )


def _findings_markdown(invoice_id: int | None) -> str:
    """The validation report's findings as a markdown table (read from our database, not passed around)."""
    if invoice_id is None:
        return ""
    import json

    from einvoice.db.models import InvoiceRow

    with app().db.sessions() as s:
        row = s.get(InvoiceRow, invoice_id)
        report = json.loads(row.report_json) if row is not None and row.report_json else {}
    findings = report.get("findings") or []
    if not findings:
        return ""
    lines = ["| rule | severity | stage | location | message |", "|---|---|---|---|---|"]
    for f in findings[:200]:
        cells = [str(f.get(k) or "").replace("|", "\\|").replace("\n", " ") for k in ("rule", "severity", "stage", "location", "message")]
        lines.append("| " + " | ".join(cells) + " |")
    if len(findings) > 200:
        lines.append(f"\n… and {len(findings) - 200} more findings (full report in the archive).")
    return "\n".join(lines)


def _rejected_artifact(o: dict) -> None:
    create_markdown_artifact(
        key="rejected-invoice",
        markdown=(f"### {o['name']}: {o['state']}\n\n{o['verdict']}\n\n"
                  f"Invoice id {o['invoice_id']}, syntax {o['syntax'] or 'unknown'}; the original and the full "
                  f"validation report are archived as `{o['archive_key']}`.\n\n{_findings_markdown(o['invoice_id'])}"),
        description=f"needs attention: {o['state'].replace('_', ' ')}: validation result of {o['name']}",
    )


# --- the flow -----------------------------------------------------------------------------------------
@flow(name="process-inbox", flow_run_name=_run_name, log_prints=False)
def process_inbox(inbox: str, batch_size: int = 250, channel: str = "directory",
                  processed: str | None = None, parallel: int = 1) -> list[dict]:
    """Ingest every file in ``inbox``; a bad file is recorded with its reason and never stops the others.

    ``inbox``: a directory or ``s3://bucket/prefix/``. ``processed``: where files that reached a
    state go afterwards (directory inbox: a directory, default: files stay; S3 inbox: a key prefix
    in the same bucket, default ``processed/<prefix>``). Each batch is validated by worker
    processes (``EINVOICE_VALIDATION_JOBS``, default one per core, see ``einvoice.pipeline``), so
    one batch at a time already uses every core of one machine. ``parallel``: batches in flight at
    once, each in its own process with its own validation workers (each process compiles the
    stylesheets once, ~1-2 s), for machines with many cores. The batches still hold the
    ``archive-writer`` tag: with its limit at 1 (the default of flows.setup) they take turns, so
    raise the limit (``flows.setup --archive-writers N``) to let them run together; the archive's
    conditional page write keeps the log linear either way.
    """
    logger = get_run_logger()
    base = _base_name(inbox)
    bucket, prefix = split_s3(inbox) if inbox.startswith("s3://") else (None, "")
    if bucket and channel == "directory":
        channel = "s3"
    processed = processed_target(inbox, processed)
    entries = list_entries(inbox)
    batches = [entries[i:i + batch_size] for i in range(0, len(entries), batch_size)]
    progress = (create_progress_artifact(0.0, key="inbox-progress", description=f"{len(entries)} files from {inbox}")
                if len(batches) >= PROGRESS_FROM_BATCHES else None)
    results: list[list[dict] | None] = [None] * len(batches)

    def record(i: int, batch_outcomes: list[dict], done: list[int]) -> None:
        results[i] = batch_outcomes
        # per batch, so the server takes the events in while the next batch is ingested
        _emit(batch_outcomes)
        done[0] += 1
        done[1] += len(batch_outcomes)
        if progress is not None:
            update_progress_artifact(progress, 100.0 * done[0] / len(batches),
                                     description=f"{done[1]} of {len(entries)} files from {inbox}")

    done = [0, 0]
    window = max(1, min(parallel, MAX_PARALLEL, len(batches)))
    if window == 1:
        for i, batch in enumerate(batches):
            record(i, ingest_batch(batch, channel, bucket), done)
    else:
        # Migrate the database here, once, before the pool processes each open it: concurrent
        # migrations of a fresh database race (alembic takes no lock).
        app()
        with ProcessPoolTaskRunner(max_workers=window) as runner:
            running: dict = {}
            pending = list(enumerate(batches))
            while pending or running:
                while pending and len(running) < window:
                    i, batch = pending.pop(0)
                    running[runner.submit(ingest_batch, {"paths": batch, "channel": channel, "bucket": bucket})] = i
                for fut in as_completed(list(running)):
                    # .result() raises if the batch failed after its retries: the run fails, loudly.
                    record(running.pop(fut), fut.result(), done)
                    break  # refill the window as soon as one batch is done
    outcomes = [o for r in results for o in (r or [])]  # one outcome per entry, in inbox order
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o["state"]] = counts.get(o["state"], 0) + 1
    logger.info("inbox %s: %d files, %s", inbox, len(outcomes), ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    attention = attention_of(outcomes)
    if outcomes:
        _table(outcomes, inbox, attention)
    for o in outcomes:
        if o["state"] in ("rejected", "not_validated") and not o["already_received"]:
            _rejected_artifact(o)
    if processed:
        done = [src for src, o in zip(entries, outcomes) if o["state"] != "unreadable"]
        moved = move_processed(done, processed, bucket, prefix)
        logger.info("moved %d files to %s", moved, processed)
    return finish_run(attention, flow_name="process-inbox", base_name=base, done=done_text(outcomes),
                      result=outcomes)
