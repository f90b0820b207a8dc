"""Prefect flow ``send-reminders``: remind approvers of waiting tasks and escalate overdue ones.

The rules (after how many days, who is reminded, the head of department or the deputy on
escalation, Skonto at risk) live in ``ApprovalService.send_reminders``; each reminder is recorded
there once as an audit event. This flow runs it on a schedule, shows the result as a table,
and publishes the audit trail as Prefect events (``invoice.reminder``, ``invoice.escalation``).
E-mails to approvers (new task, Skonto ending, escalation) go out through the notices outbox in
the ``send-notices`` flow (organisation file ``notices.approvers``), once per task, reason and person.
"""
from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from flows.common import app, retry_on_transient, stamp
from flows.events import publish_audit_events


@task(name="send-reminders", retries=3, retry_delay_seconds=[5, 30, 120], retry_condition_fn=retry_on_transient)
def remind(now_iso: str | None) -> list[dict]:
    now = dt.datetime.fromisoformat(now_iso) if now_iso else None
    out = app().approval.send_reminders(now)
    return [{"kind": r.kind, "invoice id": r.invoice_id, "task id": r.task_id, "step": str(r.step),
             "department": r.department, "recipients": ", ".join(r.recipients), "message": r.message,
             "skonto until": r.skonto_until.isoformat() if r.skonto_until else "-",
             "skonto at risk": str(r.skonto_amount) if r.skonto_amount is not None else "-"} for r in out]


@flow(name="send-reminders", flow_run_name=lambda: f"reminders {stamp()}")
def send_reminders(now: str | None = None) -> dict:
    """``now``: ISO timestamp to evaluate deadlines at (default: the current time)."""
    rows = remind(now)
    if rows:
        create_table_artifact(key="approval-reminders", table=rows,
                              description=f"{sum(r['kind'] == 'reminder' for r in rows)} reminders, "
                                          f"{sum(r['kind'] == 'escalation' for r in rows)} escalations")
    published = publish_audit_events()
    counts = {"reminders": sum(r["kind"] == "reminder" for r in rows),
              "escalations": sum(r["kind"] == "escalation" for r in rows), "events": published}
    get_run_logger().info("approval deadlines: %s", counts)
    return counts
