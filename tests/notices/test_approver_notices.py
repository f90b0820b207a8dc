"""Approver notifications end to end: the real ApprovalService decides which open tasks are due
(new task, Skonto ending in N days, escalation after approval.escalate_after_days), the notices
outbox queues each once per task, reason and person, and sends it through a real SMTP server on
loopback (aiosmtpd) to the person's address from the organisation file, German with English below.
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from einvoice.approval import ApprovalService
from einvoice.approval.notifications import due_notifications
from einvoice.db.models import InvoiceEvent, utcnow
from einvoice.notices import NoticeOutbox, approvers
from einvoice.notices.tables import SupplierNotice
from einvoice.organisation import parse_organisation
from tests.approval.conftest import add_invoice
from tests.notices.conftest import notice_org_data

ANNA, CLAUDIA = "a.schulz@musterhausen.example", "c.wagner@musterhausen.example"  # 66: sachlich, head


def _org(port: int, **approver_settings):
    data = notice_org_data(port, approvers={"enabled": True, "skonto_days_before": 3, **approver_settings})
    return parse_organisation(data, "musterhausen+approver-notices")


def _scan(db, org, now):
    svc = ApprovalService(db, org, today=lambda: now.date(), on_release=[])
    return approvers.queue(db, org, due_notifications(svc, org.notices.approvers, now=now), now=now)


def _rows(db) -> list[SupplierNotice]:
    with db.sessions() as s:
        rows = s.scalars(sa.select(SupplierNotice).order_by(SupplierNotice.id)).all()
        s.expunge_all()
        return list(rows)


def _parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def test_new_task_skonto_and_escalation_each_mailed_once_to_the_right_people(db, smtp_server, clock):
    controller, sink = smtp_server
    org = _org(controller.port)
    now = utcnow()
    today = now.date()
    # 66 Tiefbauamt: Anna Schulz may certify both; Max Vogel (limit 1,000 EUR, no e-mail) only the small one.
    big = add_invoice(db, org, department="66", amount="1190.00", number="RE-SKONTO-1", issue_date=today,
                      due_date=today + dt.timedelta(days=30), skonto_until=today + dt.timedelta(days=2), skonto_percent="2")
    small = add_invoice(db, org, department="66", amount="500.00", number="RE-KLEIN-1", issue_date=today,
                        due_date=today + dt.timedelta(days=30))

    due = due_notifications(ApprovalService(db, org, on_release=[]), org.notices.approvers, now=now)
    assert sorted((n.invoice_id, n.reason, n.recipients) for n in due) == sorted([
        (big, "task_new", ("a.schulz",)), (big, "task_skonto", ("a.schulz",)),
        (small, "task_new", ("a.schulz", "m.vogel"))])
    assert _scan(db, org, now) == 3  # Max Vogel has no e-mail address in the organisation file: no row
    rows = _rows(db)
    assert sorted((r.invoice_id, r.kind, r.dedupe_key.rsplit(":", 1)[1]) for r in rows) == sorted([
        (big, "task_new", "a.schulz"), (big, "task_skonto", "a.schulz"), (small, "task_new", "a.schulz")])
    assert _scan(db, org, now) == 0  # the idempotency key: a second scan queues nothing

    clock.freeze()
    report = NoticeOutbox(db, org, now=clock).send_pending()
    assert (report.sent, report.no_address, report.archived) == (3, 0, 0)
    assert len(sink.messages) == 3 and all(m.rcpt_tos == [ANNA] for m in sink.messages)
    by_kind = {}
    for m in sink.messages:
        parsed = _parse(m.data)
        by_kind.setdefault(parsed["X-Einvoice-Notice"], []).append(parsed)
    skonto = by_kind["task_skonto"][0]
    body = skonto.get_body(("plain",)).get_content()
    assert skonto["To"] == ANNA and skonto["Auto-Submitted"] == "auto-generated"
    assert f"Skonto endet am {(today + dt.timedelta(days=2)):%d.%m.%Y}" in skonto["Subject"]
    assert "RE-SKONTO-1" in skonto["Subject"] and "23.80 EUR gehen sonst verloren" in body
    assert body.index("Guten Tag Anna Schulz") < body.index("English version") < body.index("early-payment discount")
    assert "Neue Aufgabe / New task: Sachlich richtig" in by_kind["task_new"][0]["Subject"]
    # Internal mail is recorded in the invoice's trail, never archived as part of the Beleg.
    assert NoticeOutbox(db, org, now=clock).unarchived() == 0
    with db.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(InvoiceEvent).where(
            InvoiceEvent.invoice_id == big, InvoiceEvent.action == "notice_sent")) == 2

    # Sending and scanning again sends nothing more.
    assert NoticeOutbox(db, org, now=clock).send_pending().sent == 0 and _scan(db, org, now) == 0
    assert len(sink.messages) == 3

    # Eight days later (escalate_after_days 7): the head of department hears about both, once.
    later = now + dt.timedelta(days=8)
    assert _scan(db, org, later) == 2 and _scan(db, org, later) == 0
    clock.advance(days=8)
    assert NoticeOutbox(db, org, now=clock).send_pending().sent == 2
    escalations = [_parse(m.data) for m in sink.messages[3:]]
    assert [m["To"] for m in escalations] == [CLAUDIA, CLAUDIA]
    assert all(m["X-Einvoice-Notice"] == "task_escalation" and "wartet seit 8 Tagen" in m["Subject"] for m in escalations)
    assert {m["Message-ID"] for m in escalations} & {_parse(m.data)["Message-ID"] for m in sink.messages[:3]} == set()
    # A month on, the tasks are outside every window: the scan does not even look at them again.
    month = now + dt.timedelta(days=30)
    assert due_notifications(ApprovalService(db, org, on_release=[]), org.notices.approvers, now=month) == []


def test_an_address_gone_from_the_organisation_file_is_no_address_for_the_desk(db, smtp_server, clock):
    controller, sink = smtp_server
    org = _org(controller.port)
    add_invoice(db, org, department="66", issue_date=dt.date.today())
    assert _scan(db, org, utcnow()) == 1
    data = notice_org_data(controller.port, approvers={"enabled": True})
    next(p for p in data["people"] if p["id"] == "a.schulz").pop("email")
    report = NoticeOutbox(db, parse_organisation(data, "t"), now=clock).send_pending()
    assert report.no_address == 1 and sink.messages == []
    row = _rows(db)[0]
    assert row.status == "no_address" and "Anna Schulz" in row.last_error and "people.email" in row.last_error


def test_the_database_holds_the_idempotency_key(db, smtp_server):
    controller, _ = smtp_server
    org = _org(controller.port)
    inv = add_invoice(db, org, department="66", issue_date=dt.date.today())
    assert _scan(db, org, utcnow()) == 1
    key = _rows(db)[0].dedupe_key
    with pytest.raises(IntegrityError):
        with db.transaction() as s:
            s.add(SupplierNotice(invoice_id=inv, kind="task_new", dedupe_key=key, status="pending", attempts=0))


def test_skonto_window_and_switches_come_from_the_organisation_file(db, smtp_server):
    controller, _ = smtp_server
    today = dt.date.today()
    org = _org(controller.port, new_task=False, skonto_days_before=1, escalation=False)
    add_invoice(db, org, department="66", issue_date=today, skonto_until=today + dt.timedelta(days=2), skonto_percent="3")
    add_invoice(db, org, department="66", issue_date=today, skonto_until=today + dt.timedelta(days=1), skonto_percent="3")
    assert _scan(db, org, utcnow()) == 1  # only the Skonto ending within 1 day
    assert [r.kind for r in _rows(db)] == ["task_skonto"]
    off = _org(controller.port, enabled=False)
    add_invoice(db, off, department="66", issue_date=today)
    assert _scan(db, off, utcnow()) == 0


def test_templates_are_configuration(db, smtp_server, clock, tmp_path):
    controller, sink = smtp_server
    (tmp_path / "task_new.subject.txt.j2").write_text("Bitte prüfen: {{ invoice_number }}", encoding="utf-8")
    org = parse_organisation(notice_org_data(controller.port, templates_directory=str(tmp_path),
                                             approvers={"enabled": True, "web_url": "https://rechnung.example/"}), "t")
    inv = add_invoice(db, org, department="66", number="RE-TPL-1", issue_date=dt.date.today())
    assert _scan(db, org, utcnow()) == 1
    assert NoticeOutbox(db, org, now=clock).send_pending().sent == 1
    m = _parse(sink.messages[0].data)
    assert m["Subject"] == "Bitte prüfen: RE-TPL-1"
    assert f"https://rechnung.example/invoices/{inv}" in m.get_body(("plain",)).get_content()


def test_migration_keeps_supplier_notices_one_per_file_and_kind(database_url):
    """0015_approver_notifications: a supplier notice queued before it keeps the empty key and its
    uniqueness; approver rows are removed by the downgrade (the old schema has no place for them)."""
    from alembic import command

    from einvoice.db import alembic_config

    cfg = alembic_config(database_url)
    command.upgrade(cfg, "0012_inbox_order")
    engine = sa.create_engine(database_url)
    now = dt.datetime(2026, 12, 1, 9, 0)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO invoices (id, file_sha256, filename, channel, size, received_at, updated_at, "
                                 "state, version, verdict) VALUES (1, :sha, 'x.xml', 'test', 1, :now, :now, 'rejected', 1, 'invalid')"),
                         {"sha": "1" * 64, "now": now})
            conn.execute(sa.text("INSERT INTO supplier_notices (id, invoice_id, kind, status, attempts, created_at, updated_at) "
                                 "VALUES (1, 1, 'rejected', 'pending', 0, :now, :now)"), {"now": now})
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT dedupe_key FROM supplier_notices")).scalar_one() == ""
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO supplier_notices (invoice_id, kind, status, attempts, created_at, updated_at) "
                                 "VALUES (1, 'rejected', 'pending', 0, :now, :now)"), {"now": now})
        with engine.begin() as conn:
            for key in ("task:7:task_new:a.schulz", "task:7:task_new:b.keller"):
                conn.execute(sa.text("INSERT INTO supplier_notices (invoice_id, kind, dedupe_key, status, attempts, created_at, "
                                     "updated_at) VALUES (1, 'task_new', :key, 'pending', 0, :now, :now)"), {"key": key, "now": now})
        command.downgrade(cfg, "0012_inbox_order")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT kind FROM supplier_notices")).scalars().all() == ["rejected"]
    finally:
        engine.dispose()
