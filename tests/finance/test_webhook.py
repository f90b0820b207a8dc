"""Webhook delivery against a real HTTP server on loopback that plays the finance system."""
from __future__ import annotations

import json

import sqlalchemy as sa
from click.testing import CliRunner

from einvoice.db.models import InvoiceEvent, InvoiceRow
from einvoice.finance import Outbox
from einvoice.finance.tables import FinanceAttempt, FinanceOutbox, FinancePosting
from tests.finance.conftest import org_data, released_invoice, write_org


def _state(db, invoice_id):
    with db.sessions() as s:
        return s.get(InvoiceRow, invoice_id).state


def _outbox_row(db, invoice_id):
    with db.sessions() as s:
        return s.execute(sa.select(FinanceOutbox, FinancePosting).join(FinancePosting)
                         .where(FinancePosting.invoice_id == invoice_id)).one()


def test_normal_delivery_books_once_and_posts_the_invoice(db, webhook_org, finance_server, clock):
    ids = [released_invoice(db, webhook_org, amount=a) for a in ("100.00", "200.00")]
    report = Outbox(db, webhook_org, now=clock).deliver_pending()
    assert (report.delivered, report.failed, report.dead_lettered) == (2, 0, 0)
    assert finance_server.bad_signatures == 0
    assert sorted(finance_server.accepted.values()) == [1, 1]
    for invoice_id in ids:
        assert _state(db, invoice_id) == "posted"
        ob, p = _outbox_row(db, invoice_id)
        assert ob.status == "delivered" and p.booking_number == finance_server.bookings[p.idempotency_key]
        # the finance system received exactly the stored record
        assert finance_server.bodies[p.idempotency_key] == json.loads(p.record_json)
        with db.sessions() as s:
            ev = s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.invoice_id == invoice_id,
                                                         InvoiceEvent.action == "posted")).one()
            assert (ev.from_state, ev.to_state) == ("released", "posted") and p.booking_number in ev.comment
    # nothing left to do; a second run sends nothing
    again = Outbox(db, webhook_org, now=clock).deliver_pending()
    assert (again.delivered, again.failed, len(again.results)) == (0, 0, 0)
    assert sum(finance_server.requests.values()) == 2


def test_wrong_secret_is_refused_by_the_server_and_becomes_a_dead_letter(db, webhook_org, finance_server, clock, monkeypatch):
    invoice_id = released_invoice(db, webhook_org)
    monkeypatch.setenv("EINVOICE_FINANCE_HMAC_SECRET", "not-the-shared-secret")
    report = Outbox(db, webhook_org, now=clock).deliver_pending()
    assert report.dead_lettered == 1 and finance_server.bad_signatures == 1 and not finance_server.accepted
    assert report.results[0].problem.rule == "HTTP-REJECTED"
    assert _state(db, invoice_id) == "released"


def test_missing_secret_sends_nothing(db, webhook_org, finance_server, clock, monkeypatch):
    released_invoice(db, webhook_org)
    monkeypatch.delenv("EINVOICE_FINANCE_HMAC_SECRET")
    report = Outbox(db, webhook_org, now=clock).deliver_pending()
    assert report.problem.rule == "HMAC-SECRET-MISSING" and "EINVOICE_FINANCE_HMAC_SECRET" in report.problem.message
    assert sum(finance_server.requests.values()) == 0
    ob, _ = _outbox_row(db, 1)
    assert ob.status == "pending" and ob.attempts == 0


def test_slow_answer_times_out_and_the_retry_is_answered_as_duplicate(db, webhook_org, finance_server, clock):
    invoice_id = released_invoice(db, webhook_org)
    finance_server.script.append("slow:1.5")  # timeout is 0.5 s: the client gives up, the server books anyway
    outbox = Outbox(db, webhook_org, now=clock)
    first = outbox.deliver_pending()
    assert first.failed == 1 and first.results[0].problem.rule == "HTTP-TIMEOUT"
    ob, _ = _outbox_row(db, invoice_id)
    assert ob.status == "pending" and ob.attempts == 1 and ob.last_error_code == "HTTP-TIMEOUT"
    import time

    time.sleep(1.3)  # let the slow request finish booking on the server side
    clock.advance(seconds=1)  # backoff after one failure: 1 s
    second = outbox.deliver_pending()
    assert second.delivered == 1 and second.results[0].outcome == "duplicate"
    _, p = _outbox_row(db, invoice_id)
    assert finance_server.accepted[p.idempotency_key] == 1 and finance_server.requests[p.idempotency_key] == 2
    assert p.booking_number == finance_server.bookings[p.idempotency_key]
    assert _state(db, invoice_id) == "posted"


def test_server_errors_back_off_exponentially_then_dead_letter_then_retry_by_a_person(db, webhook_org, finance_server, clock,
                                                                                       monkeypatch, tmp_path):
    invoice_id = released_invoice(db, webhook_org)
    finance_server.default = "500"
    clock.freeze()
    outbox = Outbox(db, webhook_org, now=clock)
    r1 = outbox.deliver_pending()
    assert r1.failed == 1 and r1.results[0].problem.rule == "HTTP-5XX"
    ob, _ = _outbox_row(db, invoice_id)
    start = clock()
    assert abs((ob.next_attempt_at.replace(tzinfo=None) - start.replace(tzinfo=None)).total_seconds() - 1) < 0.01
    assert outbox.deliver_pending().results == []  # not due yet: backoff respected
    clock.advance(seconds=1)
    assert outbox.deliver_pending().failed == 1
    ob, _ = _outbox_row(db, invoice_id)
    assert abs((ob.next_attempt_at.replace(tzinfo=None) - clock().replace(tzinfo=None)).total_seconds() - 2) < 0.01
    clock.advance(seconds=2)
    r3 = outbox.deliver_pending()
    assert r3.dead_lettered == 1 and r3.results[0].outcome == "dead" and r3.results[0].problem.rule == "MAX-ATTEMPTS"
    ob, p = _outbox_row(db, invoice_id)
    assert ob.status == "dead" and ob.last_error_code == "MAX-ATTEMPTS"
    clock.advance(hours=5)
    assert outbox.deliver_pending().results == []  # dead letters are not retried automatically
    assert _state(db, invoice_id) == "released"
    with db.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(FinanceAttempt)) == 3
        assert s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.action == "posting_dead_letter")).one()

    # the operator's view and a retry by a person, through the CLI
    from einvoice.cli import main

    monkeypatch.setenv("EINVOICE_DATABASE_URL", db.url)
    org_file = write_org(tmp_path / "org.yaml", org_data(tmp_path, connector="webhook",
                                                         webhook={"url": finance_server.url, "timeout_seconds": 0.5}))
    monkeypatch.setenv("EINVOICE_ORGANISATION", org_file)
    runner = CliRunner()
    out = runner.invoke(main, ["finance", "outbox", "--dead"])
    assert out.exit_code == 0 and "dead" in out.output and "MAX-ATTEMPTS" in out.output
    refused = runner.invoke(main, ["finance", "retry", "999", "--by", "w.zimmermann"])
    assert refused.exit_code == 2 and "NOT-FOUND" in refused.output
    # the Kasse pays, the Finanzbuchhaltung handles postings: j.krause (treasury) may not retry
    refused = runner.invoke(main, ["finance", "retry", str(ob.id), "--by", "j.krause"])
    assert refused.exit_code == 1 and "NOT-AUTHORISED" in refused.output, refused.output
    finance_server.default = "ok"
    ok = runner.invoke(main, ["finance", "retry", str(ob.id), "--by", "w.zimmermann", "--comment", "Buchungsdienst wieder da"])
    assert ok.exit_code == 0, ok.output
    delivered = runner.invoke(main, ["finance", "deliver"])
    assert delivered.exit_code == 0 and "booked" in delivered.output, delivered.output
    assert _state(db, invoice_id) == "posted"
    assert finance_server.accepted[p.idempotency_key] == 1
    with db.sessions() as s:
        ev = s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.action == "posting_retry")).one()
        assert (ev.actor, ev.role) == ("w.zimmermann", "bookkeeping")


def test_duplicate_answer_counts_as_success(db, webhook_org, finance_server, clock):
    invoice_id = released_invoice(db, webhook_org)
    finance_server.script.append("duplicate")
    report = Outbox(db, webhook_org, now=clock).deliver_pending()
    assert report.delivered == 1 and report.results[0].outcome == "duplicate"
    _, p = _outbox_row(db, invoice_id)
    assert p.booking_number.startswith("ALT-") and _state(db, invoice_id) == "posted"


def test_rejection_is_a_dead_letter_at_once_and_can_be_booked_by_hand(db, webhook_org, finance_server, clock):
    invoice_id = released_invoice(db, webhook_org)
    finance_server.script.append("reject")
    outbox = Outbox(db, webhook_org, now=clock)
    report = outbox.deliver_pending()
    assert report.dead_lettered == 1
    ob, p = _outbox_row(db, invoice_id)
    assert ob.status == "dead" and ob.attempts == 1 and "gesperrt" in ob.last_error
    assert outbox.resolve_booked(ob.id, "w.zimmermann", booking_number="", comment="x").rule == "BOOKING-REQUIRED"
    assert outbox.resolve_booked(ob.id, "w.zimmermann", booking_number="HAND-1", comment="").rule == "REASON-REQUIRED"
    # nobody else overrules the finance system: unknown names, the Kasse, an approver are refused
    assert outbox.resolve_booked(ob.id, "mallory", booking_number="HAND-1", comment="x").rule == "UNKNOWN-PERSON"
    assert outbox.resolve_booked(ob.id, "j.krause", booking_number="HAND-1", comment="x").rule == "NOT-AUTHORISED"
    assert outbox.resolve_booked(ob.id, "c.wagner", booking_number="HAND-1", comment="x").rule == "NOT-AUTHORISED"
    assert _outbox_row(db, invoice_id)[0].status == "dead" and _state(db, invoice_id) == "released"
    assert outbox.resolve_booked(ob.id, "w.zimmermann", booking_number="HAND-1",
                                 comment="manuell gebucht nach Kontoentsperrung") is None
    ob, p = _outbox_row(db, invoice_id)
    assert (ob.status, p.booking_number, ob.resolved_by) == ("delivered", "HAND-1", "w.zimmermann")
    assert _state(db, invoice_id) == "posted"
    with db.sessions() as s:
        ev = s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.action == "posted")).one()
        assert ev.actor == "w.zimmermann" and "HAND-1" in ev.comment
        over = s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.action == "finance_rejection_overridden")).one()
        assert (over.actor, over.role, over.comment) == ("w.zimmermann", "bookkeeping", "manuell gebucht nach Kontoentsperrung")
        assert "gesperrt" in json.loads(over.details_json)["rejection"]
    assert outbox.retry(ob.id, "w.zimmermann").rule == "NOT-DEAD"


def test_archive_outage_after_the_booking_is_caught_up_later(db, webhook_org, finance_server, clock, tmp_path):
    from archive import Archive, RetentionPolicy
    from archive.store import DirStore

    invoice_id = released_invoice(db, webhook_org)
    archive = Archive.on_store(DirStore(tmp_path / "archive"), policy=RetentionPolicy())

    class Down:
        def append(self, entries):
            raise ConnectionError("S3 endpoint unreachable")

    report = Outbox(db, webhook_org, now=clock, archive=Down()).deliver_pending()
    assert report.delivered == 1 and report.archived == 0
    _, p = _outbox_row(db, invoice_id)
    assert p.booking_number and p.archived_at is None and _state(db, invoice_id) == "posted"
    again = Outbox(db, webhook_org, now=clock, archive=archive).deliver_pending()
    assert again.archived == 1 and again.results == []
    _, p = _outbox_row(db, invoice_id)
    assert p.archive_entry_id == f"posting-{p.idempotency_key}" and archive.lookup(p.archive_entry_id) is not None
    _line, leaf = archive.read_leaf(archive.lookup(p.archive_entry_id))
    assert leaf["metadata"]["booking_number"] == p.booking_number
    assert finance_server.accepted[p.idempotency_key] == 1


def test_claims_are_chunked_to_fit_the_lease(db, tmp_path, finance_server, clock, monkeypatch):
    """lease 30 s, timeout 5 s: at most 3 records are leased at a time, so none waits past its lease."""
    from tests.finance.conftest import make_org

    monkeypatch.setenv("EINVOICE_FINANCE_HMAC_SECRET", "test-hmac-secret-not-for-production")
    org = make_org(tmp_path, connector="webhook", webhook={"url": finance_server.url, "timeout_seconds": 5})
    for n in range(7):
        released_invoice(db, org, amount=f"{n + 1}.00")
    outbox = Outbox(db, org, now=clock)
    seen = []
    real = outbox._claim

    def spy(limit):
        got = real(limit)
        seen.append(len(got))
        return got

    outbox._claim = spy
    report = outbox.deliver_pending(limit=100)
    assert report.delivered == 7 and seen == [3, 3, 1, 0]
