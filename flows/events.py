"""Publish the invoice audit trail as Prefect events.

Approval decisions are made in the web inbox / CLI, in the domain layer, which never imports
Prefect. The audit trail in our database (``invoice_events``) records every state change with who
and when; this task turns the rows written since the last run into Prefect events
(``invoice.released``, ``invoice.posted``, ``invoice.returned``, ``invoice.reminder`` ...) so the
Prefect UI's event feed shows each invoice's life and automations can react to them.

The watermark (last published audit row id) is a Prefect Variable. Event ids are derived from the
audit row id, so publishing a row twice (two runs racing, a crash before the watermark moved) is
harmless: the Prefect server keeps one event per id.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid

from prefect import get_run_logger, task

from flows.common import EVENT_NAMESPACE, app, emit_events, invoice_event, retry_on_transient

WATERMARK = "einvoice_audit_event_watermark"
#: Intake publishes its own, richer ``invoice.received``/``invoice.rejected`` events (process-inbox).
SKIP_ACTIONS = {"received"}


def event_name(action: str, from_state: str | None, to_state: str | None) -> str:
    """A state change is named after the new state; other audit rows after their action."""
    if to_state and to_state != from_state:
        return f"invoice.{to_state}"
    return f"invoice.{action.replace('_', '-')}"


@task(name="publish-audit-events", retries=3, retry_delay_seconds=[2, 10, 30], retry_condition_fn=retry_on_transient)
def publish_audit_events(limit: int = 1000) -> int:
    """Publish up to ``limit`` audit rows written since the last call; returns how many."""
    import sqlalchemy as sa
    from prefect.variables import Variable

    from einvoice.db.models import InvoiceEvent, InvoiceRow

    start = int(Variable.get(WATERMARK, default=0) or 0)
    a = app()
    with a.db.sessions() as s:
        rows = s.execute(
            sa.select(InvoiceEvent.id, InvoiceEvent.invoice_id, InvoiceEvent.at, InvoiceEvent.actor, InvoiceEvent.role,
                      InvoiceEvent.action, InvoiceEvent.from_state, InvoiceEvent.to_state, InvoiceEvent.amount,
                      InvoiceEvent.comment, InvoiceEvent.details_json, InvoiceRow.invoice_number, InvoiceRow.seller_name,
                      InvoiceRow.department)
            .join(InvoiceRow, InvoiceRow.id == InvoiceEvent.invoice_id)
            .where(InvoiceEvent.id > start).order_by(InvoiceEvent.id).limit(limit)
        ).all()
    last = start
    events = []
    for r in rows:
        last = r.id
        if r.action in SKIP_ACTIONS:
            continue
        at = r.at if r.at.tzinfo else r.at.replace(tzinfo=dt.timezone.utc)
        try:
            details = json.loads(r.details_json) if r.details_json else {}
        except ValueError:
            details = {}
        events.append(invoice_event(
            event_name(r.action, r.from_state, r.to_state), r.invoice_id,
            name=f"{r.invoice_number or r.invoice_id} ({r.seller_name or '?'})",
            payload={"audit_event_id": r.id, "action": r.action, "actor": r.actor, "role": r.role,
                     "from_state": r.from_state, "to_state": r.to_state,
                     "amount": str(r.amount) if r.amount is not None else None,
                     "department": r.department, "comment": r.comment, "details": details},
            event_id=uuid.uuid5(EVENT_NAMESPACE, f"audit-{r.id}"), occurred=at, source="audit-trail",
        ))
    emit_events(events)
    published = len(events)
    if last != start:
        Variable.set(WATERMARK, last, overwrite=True)
    get_run_logger().info("published %d audit events (rows %d..%d)", published, start + 1, last)
    return published
