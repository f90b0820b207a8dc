"""Approver notifications: e-mails to the people of the organisation file about their tasks (a new
task, a Skonto that ends soon, an escalation), as a second kind of message of the supplier-notice
outbox (``einvoice.notices.outbox``): same table, same SMTP server, same at-most-once sending,
retries and dead letters.

``queue`` turns due notifications (``einvoice.approval.notifications.due_notifications``, handed
in by a flow) into outbox rows, one per task, reason and person: the row's ``dedupe_key`` is the
idempotency key and the database's unique constraint holds it, so running the scan again, or two
scans at once, never queues anything twice. ``recipient`` takes the person's ``email`` from the
organisation file: a person without one gets no row; one whose address is gone by the time the
message is built ends ``no_address`` for the desk.
Texts are configuration like the supplier notices' (``task.subject.txt.j2`` / ``task.body.txt.j2``
or ``<kind>.…``, in ``notices.templates_directory`` or the shipped defaults), German with English
below. This module must never import the approval layer, never send, and never write a
supplier's address into an approver's message or the other way round.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import json
from decimal import Decimal
from email.message import EmailMessage
from email.policy import SMTP

import sqlalchemy as sa

from einvoice.db import Database
from einvoice.db.models import utcnow
from einvoice.notices import message as msg
from einvoice.notices.tables import SupplierNotice

NEW_TASK, SKONTO, ESCALATION = "task_new", "task_skonto", "task_escalation"
KINDS = (NEW_TASK, SKONTO, ESCALATION)
#: Where the outbox found the address (``recipient_source``).
SOURCE = "organisation file"
#: The steps as approvers call them, in the e-mail (German / English).
STEP_NAME = {"sachlich": ("Sachlich richtig", "factual approval"),
             "rechnerisch": ("Rechnerisch richtig", "arithmetical check"),
             "anordnung": ("Anordnung", "payment order"),
             "freigabe": ("Freigabe", "payment release")}


def is_approver_kind(kind: str) -> bool:
    return kind in KINDS


def dedupe_key(task_id: int, reason: str, person_id: str) -> str:
    """The idempotency key: one message per task, reason and person."""
    return f"task:{task_id}:{reason}:{person_id}"[:200]


def _plain(value):
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def queue(db: Database, org, due, *, now: dt.datetime | None = None) -> int:
    """Queue an outbox row per (notification, person) that has none yet; returns how many were queued."""
    if not org.notices.enabled or not org.notices.approvers.enabled:
        return 0
    now = now or utcnow()
    wanted = {(n.invoice_id, n.reason, dedupe_key(n.task_id, n.reason, p)): (n, p) for n in due for p in n.recipients}
    if not wanted:
        return 0
    with db.sessions() as s:
        have = {(i, k, key) for i, k, key in s.execute(
            sa.select(SupplierNotice.invoice_id, SupplierNotice.kind, SupplierNotice.dedupe_key)
            .where(SupplierNotice.invoice_id.in_({i for i, _, _ in wanted}), SupplierNotice.kind.in_(KINDS)))}
    queued = 0
    for key, (n, person) in wanted.items():
        if key in have:
            continue
        if recipient(org, {"person": person})[0] is None:
            # No address in the organisation file: nothing to queue (`einvoice org check` names such
            # people); a row per task would only bury the desk's list of real dead letters.
            continue
        data = {"person": person, **{k: _plain(v) for k, v in n.__dict__.items() if k != "recipients"}}
        try:
            with db.transaction() as s:
                s.add(SupplierNotice(invoice_id=n.invoice_id, kind=n.reason, dedupe_key=key[2], status="pending",
                                     attempts=0, next_attempt_at=now, addresses_json=json.dumps(data, ensure_ascii=False),
                                     created_at=now, updated_at=now))
            queued += 1
        except sa.exc.IntegrityError:
            pass  # a peer queued it meanwhile: the key holds, it is sent once
    return queued


def recipient(org, data: dict) -> tuple[str | None, str | None, str | None]:
    """(address, source, why there is none) for the person a notification is for."""
    person_id = data.get("given_by_person") or data.get("person")
    if data.get("given_by_person"):
        return data["given_by_person"], "person", None
    try:
        person = org.person(person_id)
    except KeyError:
        return None, None, f"{person_id!r} is no longer a person of the organisation file"
    address = email.utils.parseaddr(person.email or "")[1]
    if not msg.is_address(address):
        return None, None, f"{person.name} ({person.id}) has no e-mail address in the organisation file (people.email)"
    return address, SOURCE, None


def _render(env, kind: str, part: str, context: dict) -> str:
    from jinja2 import TemplateNotFound

    try:
        template = env.get_template(f"{kind}.{part}.txt.j2")
    except TemplateNotFound:
        template = env.get_template(f"task.{part}.txt.j2")
    return template.render(**context)


def build_message(*, settings, org, notice_id: int, kind: str, data: dict, recipient_address: str,
                  now: dt.datetime) -> tuple[str, bytes]:
    """(Message-ID, the exact RFC 5322 bytes) of one approver notification."""
    if not settings.from_address:
        raise ValueError("notices.from_address is not set")
    domain = settings.message_id_domain or settings.from_address.rsplit("@", 1)[-1]
    message_id = f"<einvoice-task-{notice_id}-{kind}@{domain}>"
    try:
        person_name = org.person(data.get("person")).name
    except KeyError:
        person_name = data.get("person") or ""
    step_de, step_en = STEP_NAME.get(data.get("step") or "", (data.get("step") or "", data.get("step") or ""))
    base = (settings.approvers.web_url or "").rstrip("/")
    context = {
        "kind": kind, "organisation": org.name, "person": person_name, "step": step_de, "step_en": step_en,
        "department": data.get("department"), "invoice_id": data.get("invoice_id"),
        "invoice_number": data.get("invoice_number") or f"Nr. {data.get('invoice_id')}",
        "seller": data.get("seller_name") or "?", "amount_due": data.get("amount_due"),
        "currency": data.get("currency") or "EUR", "deadline": _de_date(data.get("deadline")),
        "skonto_until": _de_date(data.get("skonto_until")), "skonto_amount": data.get("skonto_amount"),
        "waiting_days": data.get("waiting_days"),
        "link": f"{base}/invoices/{data.get('invoice_id')}" if base else None, "contact": settings.contact,
    }
    env = msg._environment(settings.templates_directory)  # the same sandboxed templates as the supplier notices
    subject = " ".join(_render(env, kind, "subject", context).split())
    body = _render(env, kind, "body", context)
    m = EmailMessage(policy=SMTP)
    m["From"] = email.utils.formataddr((settings.from_name or org.name, settings.from_address))
    m["To"] = recipient_address
    m["Subject"] = subject
    m["Date"] = email.utils.format_datetime(now.astimezone(dt.timezone.utc))
    m["Message-ID"] = message_id
    m["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
    m["X-Einvoice-Notice"] = kind
    m["Content-Language"] = "de, en"
    m.set_content(body, subtype="plain", charset="utf-8", cte="quoted-printable")
    return message_id, m.as_bytes(policy=SMTP)


def _de_date(value: str | None) -> str | None:
    if not value:
        return None
    return dt.date.fromisoformat(value).strftime("%d.%m.%Y")
