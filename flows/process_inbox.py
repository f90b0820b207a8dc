"""Prefect flow ``process-inbox``: drain an inbox directory through the intake pipeline.

Orchestration only: listing, batching, retries, artifacts and events. Every decision about a
file (validation, state, routing, archiving) is made by ``einvoice.pipeline``. Invoice bytes
never travel through Prefect parameters or results: tasks get file paths and return outcomes.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event
from prefect.runtime import flow_run

from einvoice.pipeline import list_inbox, read_inbox_file

EVENT_FOR_STATE = {
    "in_approval": "invoice.received",
    "rejected": "invoice.rejected",
    "not_an_invoice": "invoice.not-an-invoice",
    "not_validated": "invoice.not-validated",
    "unreadable": "invoice.unreadable",
}


def _run_name() -> str:
    params = flow_run.parameters
    inbox = Path(params["inbox"])
    try:
        count = len(list_inbox(inbox))
    except OSError:
        count = 0
    return f"inbox {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}, {count} files"


@task(name="ingest-batch", retries=2, retry_delay_seconds=[5, 30], tags=["archive-writer"])
def ingest_batch(paths: list[str], channel: str = "directory") -> list[dict]:
    """Validate, route, archive and record one batch of inbox files; returns one outcome per file."""
    from einvoice.app import App

    app = App.from_env()
    items = [read_inbox_file(Path(p), channel) for p in paths]
    return [o.as_dict() for o in app.intake.ingest(items)]


def _emit(outcome: dict) -> None:
    if outcome["already_received"]:
        return
    emit_event(
        event=EVENT_FOR_STATE.get(outcome["state"], f"invoice.{outcome['state']}"),
        resource={"prefect.resource.id": f"einvoice.file.{outcome['sha256'] or outcome['name']}", "prefect.resource.name": outcome["name"]},
        related=[{"prefect.resource.id": f"einvoice.invoice.{outcome['invoice_id']}", "prefect.resource.role": "invoice"}] if outcome["invoice_id"] else [],
        payload={k: outcome[k] for k in ("state", "syntax", "valid", "verdict", "department", "archive_key")},
    )


@flow(name="process-inbox", flow_run_name=_run_name, log_prints=False)
def process_inbox(inbox: str, batch_size: int = 50, channel: str = "directory") -> list[dict]:
    """Ingest every file in ``inbox``; a bad file is recorded with its reason and never stops the others."""
    logger = get_run_logger()
    paths = [str(p) for p in list_inbox(Path(inbox))]
    batches = [paths[i:i + batch_size] for i in range(0, len(paths), batch_size)]
    outcomes: list[dict] = []
    for batch in batches:
        outcomes.extend(ingest_batch(batch, channel))
    for o in outcomes:
        _emit(o)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o["state"]] = counts.get(o["state"], 0) + 1
    logger.info("inbox %s: %d files, %s", inbox, len(outcomes), ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    if outcomes:
        create_table_artifact(
            key="inbox-run",
            table=[{"file": o["name"], "syntax": o["syntax"] or "-", "state": o["state"] + (" (already received)" if o["already_received"] else ""),
                    "verdict": o["verdict"], "department": o["department"] or "-", "archive key": o["archive_key"] or "-"} for o in outcomes],
            description=f"{len(outcomes)} files from {inbox}",
        )
    for o in outcomes:
        if o["state"] in ("rejected", "not_validated") and not o["already_received"]:
            create_markdown_artifact(
                key="rejected-invoice",
                markdown=f"### {o['name']}: {o['state']}\n\n{o['verdict']}\n\nArchived as `{o['archive_key']}`.",
                description=f"validation result of {o['name']}",
            )
    return outcomes
