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
``invoice.posted``, ...) as Prefect events and archives the posting records and the approval
trail of every approval chain that ended (``archive_records``, tag ``archive-writer``).

Posting never waits for S3: delivery runs without the archive (it is not even opened), and the
archiving step afterwards may fail on its own; what it could not archive stays pending and the
run says so. A run that leaves dead letters, failing deliveries, released invoices that were
never queued, or records not archived ends ``Completed`` named ``Needs attention``, with the counts
in its name (``flows.attention``).
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from flows.archive_flows import archive_records_reported
from flows.attention import Attention, finish_run
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
    """One call of ``Outbox.deliver_pending`` (per-record retries and dead letters are the outbox's).

    Without the archive: the confirmed records are archived by ``archive_records`` afterwards.
    """
    from einvoice.finance import outbox_for_app

    report = outbox_for_app(app(), archive=False).deliver_pending(limit=limit)
    if report.problem is not None:
        raise FinanceConfigurationError(str(report.problem))
    # Receipt lines with a problem (a second booking number: stored by the outbox as a conflict for a
    # person; unknown keys, bad status) are kept in the flow's result and artifact, never dropped.
    receipts = [{"file": r.file, "line": r.line, "idempotency key": r.idempotency_key or "-", "status": r.status or "-",
                 "problem": str(r.problem)} for r in report.receipts if r.problem is not None]
    return {"delivered": report.delivered, "failed": report.failed, "dead_lettered": report.dead_lettered,
            "skipped": report.skipped, "results": [_result_row(r) for r in report.results], "receipt_problems": receipts}


@task(name="outbox-status", retries=3, retry_delay_seconds=[2, 10, 30], retry_condition_fn=retry_on_transient)
def outbox_status() -> dict:
    """What waits for a person in the outbox: open dead letters, and released invoices that have
    no outbox record at all (never queued: ``deliver_pending`` would never post them)."""
    from einvoice.finance import outbox_for_app
    from einvoice.finance.outbox import released_without_outbox

    a = app()
    dead = outbox_for_app(a, archive=False).list(dead=True, limit=1000)
    with a.db.sessions() as s:
        unqueued = released_without_outbox(s)
    return {"dead": [{"outbox id": d.id, "invoice id": d.invoice_id, "invoice number": d.invoice_number,
                      "error": f"{d.last_error_code}: {d.last_error}"} for d in dead],
            "released_not_queued": unqueued}


def attention_of(rows: list[dict], status: dict, archived: dict) -> Attention:
    """What this run leaves for a person (pure: from the delivery rows, the outbox status and the
    archiving result)."""
    att = Attention()
    for d in status["dead"]:
        att.add("dead-letters", d["outbox id"], f"invoice {d['invoice id']} ({d['invoice number'] or '?'}), outbox "
                                                f"{d['outbox id']}: {d['error']} (`einvoice finance outbox --dead`, then `retry` or `resolve`)")
    for r in rows:
        if r["outcome"] in ("retry", "error"):
            att.add("deliveries-failing", f"{r['outbox id']}@{r['attempts']}",
                    f"invoice {r['invoice id']}, outbox {r['outbox id']}, attempt {r['attempts']}: {r['problem']}")
    for invoice_id in status["released_not_queued"]:
        att.add("released-not-queued", invoice_id, f"invoice {invoice_id} is released but has no outbox record")
    if archived["problems"]:
        waiting = archived.get("pending", {})
        att.add_count("records-not-archived", "records", sum(waiting.values()) or len(archived["problems"]),
                      "; ".join(archived["problems"][:3]) + (" …" if len(archived["problems"]) > 3 else ""))
    return att


@flow(name="post-released", flow_run_name=lambda: f"post released {stamp()}")
def post_released(limit: int = 100, max_rounds: int = 20) -> dict:
    """Deliver pending outbox records in rounds of ``limit`` until none is left (or ``max_rounds``)."""
    logger = get_run_logger()
    base = f"post released {stamp()}"
    # First the audit trail (invoice.released shows up even if the finance connector is down) ...
    published = publish_audit_events()
    from einvoice.finance import repair_released

    repair_released(app())  # released invoices without a posting record get it queued (exactly once)
    totals = {"delivered": 0, "failed": 0, "dead_lettered": 0, "skipped": 0}
    rows: list[dict] = []
    receipt_problems: list[dict] = []
    for _ in range(max_rounds):
        got = deliver_outbox(limit)
        for k in totals:
            totals[k] += got[k]
        rows.extend(got["results"])
        receipt_problems.extend(got.get("receipt_problems", ()))
        if len(got["results"]) < limit or got["delivered"] == 0:
            break  # nothing more pending, or only records that keep failing (they wait for their backoff)
    for r in rows:
        # Success shows as invoice.posted from the audit trail; failures have no state change, so say them here.
        if r["outcome"] in ("retry", "rejected", "dead", "error"):
            emit_invoice_event(f"invoice.delivery-{r['outcome']}", r["invoice id"],
                               payload={"problem": r["problem"], "attempts": r["attempts"], "outbox_id": r["outbox id"]})
    # ... then again for what delivery recorded (invoice.posted), with who and when.
    published += publish_audit_events()
    status = outbox_status()
    # Posting records and approval trails go to the archive: the one step that needs S3. It reports
    # what it could not archive instead of failing, so an S3 outage never undoes a posted run.
    archived = archive_records_reported()
    attention = attention_of(rows, status, archived)
    for p in receipt_problems:
        attention.add("receipt-problems", f"{p['file']}:{p['line']}",
                      f"{p['file']} line {p['line']} ({p['idempotency key']}): {p['problem']} (`einvoice finance outbox --dead`)")
    if rows:
        create_table_artifact(key="finance-delivery", table=rows,
                              description=attention.describe(", ".join(f"{v} {k}" for k, v in totals.items())))
    if receipt_problems:
        logger.warning("finance receipts with problems (need a person): %s", receipt_problems)
        create_table_artifact(key="finance-receipt-problems", table=receipt_problems,
                              description=f"{len(receipt_problems)} receipt line(s) need a person "
                                          "(`einvoice finance outbox --dead`)")
    logger.info("finance outbox: %s; %d audit events published; %d posting records and %d approval trails archived",
                totals, published, archived["posting_records"], archived["approval_trails"])
    done = f"{totals['delivered']} posted" + (f", {totals['failed']} failed" if totals["failed"] else "") + (
        f", {totals['dead_lettered']} dead-lettered" if totals["dead_lettered"] else "")
    return finish_run(attention, flow_name="post-released", base_name=base, done=done,
                      result=totals | {"approval_trails_archived": archived["approval_trails"],
                                       "posting_records_archived": archived["posting_records"],
                                       "receipt_problems": len(receipt_problems),
                                       "needs_attention": attention.counts})
