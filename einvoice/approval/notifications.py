"""Which approvers should hear about which open task now, and why: a new task (everyone who may
decide it), a Skonto that ends in N days or fewer (the same people), an escalation after
``approval.escalate_after_days`` (the head of department, the deputy when absent, else the
central desk: ``ApprovalService._heads``, the same rule as the reminders). Each reason is looked
for within a window (new and escalated: the last ``catch_up_days``; Skonto: the next N days), so
a scan stays cheap however many tasks are open; a flow that did not run for longer misses those.

Pure decisions over the open tasks, with the service's own views (candidates, the Skonto as of
today by ``einvoice.skonto``'s rule). This module must never send or queue anything and never
write to the database: ``einvoice.notices.approvers`` queues the e-mails, at most once per task,
reason and person, and a flow connects the two.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from einvoice.approval.deadlines import age_days
from einvoice.approval.tables import ApprovalTask

#: The reasons, as the outbox's message kinds (einvoice.notices.approvers.KINDS).
NEW_TASK, SKONTO, ESCALATION = "task_new", "task_skonto", "task_escalation"


@dataclass(frozen=True)
class TaskNotification:
    reason: str  # task_new | task_skonto | task_escalation
    task_id: int
    invoice_id: int
    step: str
    department: str
    recipients: tuple[str, ...]  # person ids of the organisation file
    invoice_number: str | None
    seller_name: str | None
    amount_due: Decimal | None
    currency: str | None
    deadline: dt.date | None
    skonto_until: dt.date | None
    skonto_amount: Decimal | None
    waiting_days: int


def due_notifications(svc, settings, *, now: dt.datetime) -> list[TaskNotification]:
    """The notifications due at ``now`` under ``settings`` (organisation ``notices.approvers``)."""
    if not settings.enabled:
        return []
    today = now.date()  # as ApprovalService.send_reminders counts days
    escalate_after = svc.org.approval.escalate_after_days
    new_since = now - dt.timedelta(days=settings.catch_up_days)
    # Only the open tasks one of the reasons can apply to, each within a window, so a run costs the
    # same at 1,000 or 1,000,000 open tasks (the outbox's key makes the repeats within a window free):
    # opened in the last catch_up_days; a Skonto date within the next N days; crossed the
    # escalation age in the last catch_up_days.
    conds = []
    if settings.new_task:
        conds.append(ApprovalTask.created_at >= new_since)
    if settings.skonto_days_before is not None:
        until = today + dt.timedelta(days=settings.skonto_days_before)
        conds.append(sa.or_(*(col.between(today, until) for col in (
            ApprovalTask.skonto_first, ApprovalTask.skonto_second, ApprovalTask.skonto_last))))
    if settings.escalation:
        crossed = now - dt.timedelta(days=escalate_after)
        conds.append(ApprovalTask.created_at.between(crossed - dt.timedelta(days=settings.catch_up_days + 1), crossed))
    if not conds:
        return []
    with svc.db.sessions() as s:
        invoice_ids = s.scalars(sa.select(ApprovalTask.invoice_id)
                                .where(ApprovalTask.status == "open", sa.or_(*conds)).order_by(ApprovalTask.id)).all()
    out: list[TaskNotification] = []
    for invoice_id in invoice_ids:
        t = svc.open_task_of(invoice_id)
        if t is None:  # decided meanwhile
            continue
        waiting = age_days(t.created_at, today)
        reasons: list[tuple[str, tuple[str, ...]]] = []
        candidates = t.candidates or svc._heads(t.department, today)  # nobody may decide: whom can fix it
        if settings.new_task and _utc(t.created_at) >= new_since:
            reasons.append((NEW_TASK, candidates))
        if (settings.skonto_days_before is not None and t.skonto_until is not None and not t.skonto_lost
                and 0 <= (t.skonto_until - today).days <= settings.skonto_days_before):
            reasons.append((SKONTO, candidates))
        if settings.escalation and waiting >= escalate_after:
            reasons.append((ESCALATION, svc._heads(t.department, today)))
        for reason, recipients in reasons:
            out.append(TaskNotification(
                reason=reason, task_id=t.task_id, invoice_id=t.invoice_id, step=t.step.value, department=t.department,
                recipients=tuple(recipients), invoice_number=t.invoice_number, seller_name=t.seller_name,
                amount_due=t.amount_due, currency=t.currency, deadline=t.deadline, skonto_until=t.skonto_until,
                skonto_amount=t.skonto_amount, waiting_days=waiting))
    return out


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
