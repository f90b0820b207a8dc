"""Prefect flow ``post-released``: deliver released invoices to the finance system (the outbox).

Approval happens in the web inbox / CLI (domain layer, no Prefect). Finance writes an outbox
record in the same transaction that releases an invoice (``App.release_hooks``); this flow only
delivers what is pending. It runs

* every minute from its schedule, so a release is posted within about a minute without anyone
  touching Prefect, and
* at once when something asks for it: ``flows.triggers.request_posting(invoice_id)`` (a
  ``run_deployment`` with an idempotency key) or an ``invoice.released`` event matched by the
  deployment trigger in ``prefect.yaml``.

Delivery itself (HTTP to the finance connector, retries per record, dead letters, the state
change to ``posted``) is ``einvoice.finance.Outbox``'s business; this flow adds the tag
concurrency limit on the finance connector, task retries for transient failures, a table
artifact and events. After delivering it publishes the audit trail (``invoice.released``,
``invoice.posted``, ...) as Prefect events and archives the approval trail of every approval chain
that ended (``einvoice.records``, tag ``archive-writer``).
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from flows.archive_flows import archive_records
from flows.common import FINANCE_CONNECTOR, app, emit_invoice_event, retry_on_transient, stamp
from flows.events import publish_audit_events


class FinanceConfigurationError(RuntimeError):
    """The outbox could not start (connector misconfigured): fail the run so an operator sees it."""


def _result_row(r) -> dict:
    """One delivery result as plain data (ids, outcome, booking number: never the invoice document)."""
    return {"invoice id": r.invoice_id, "outbox id": r.outbox_id, "outcome": r.outcome,
            "booking number": r.booking_number or "-", "attempts": r.attempts,
            "problem": str(r.problem) if r.problem else ""}


@task(name="deliver-outbox", retries=3, retry_delay_seconds=[5, 30, 120], retry_condition_fn=retry_on_transient,
      tags=[FINANCE_CONNECTOR])
def deliver_outbox(limit: int) -> dict:
    """One call of ``Outbox.deliver_pending`` (per-record retries and dead letters are the outbox's)."""
    from einvoice.finance import outbox_for_app

    report = outbox_for_app(app()).deliver_pending(limit=limit)
    if report.problem is not None:
        raise FinanceConfigurationError(str(report.problem))
    return {"delivered": report.delivered, "failed": report.failed, "dead_lettered": report.dead_lettered,
            "skipped": report.skipped, "results": [_result_row(r) for r in report.results]}


@flow(name="post-released", flow_run_name=lambda: f"post released {stamp()}")
def post_released(limit: int = 100, max_rounds: int = 20) -> dict:
    """Deliver pending outbox records in rounds of ``limit`` until none is left (or ``max_rounds``)."""
    logger = get_run_logger()
    # First the audit trail (invoice.released shows up even if the finance connector is down) ...
    published = publish_audit_events()
    from einvoice.finance import repair_released

    repair_released(app())  # released invoices without a posting record get it queued (exactly once)
    totals = {"delivered": 0, "failed": 0, "dead_lettered": 0, "skipped": 0}
    rows: list[dict] = []
    for _ in range(max_rounds):
        got = deliver_outbox(limit)
        for k in totals:
            totals[k] += got[k]
        rows.extend(got["results"])
        if len(got["results"]) < limit or got["delivered"] == 0:
            break  # nothing more pending, or only records that keep failing (they wait for their backoff)
    for r in rows:
        # Success shows as invoice.posted from the audit trail; failures have no state change, so say them here.
        if r["outcome"] in ("retry", "rejected", "dead", "error"):
            emit_invoice_event(f"invoice.delivery-{r['outcome']}", r["invoice id"],
                               payload={"problem": r["problem"], "attempts": r["attempts"], "outbox_id": r["outbox id"]})
    if rows:
        create_table_artifact(key="finance-delivery", table=rows,
                              description=", ".join(f"{v} {k}" for k, v in totals.items()))
    # ... then again for what delivery recorded (invoice.posted), with who and when.
    published += publish_audit_events()
    # Approval trails of chains that ended (released or returned) go to the archive.
    archived = archive_records()
    logger.info("finance outbox: %s; %d audit events published; %d approval trails archived", totals, published,
                archived["approval_trails"])
    return totals | {"approval_trails_archived": archived["approval_trails"]}
