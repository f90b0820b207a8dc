"""Supplier notices end to end: real intake (validation, archive on SeaweedFS, database), a real
SMTP server on loopback, the real outbox. A rejected file gets exactly one notice, delivered once
(also when sending runs twice or crashes after the server accepted it), in German and English with
the rule IDs and the validation report attached, archived byte for byte as a follow-up entry."""
from __future__ import annotations

import email
import email.policy
import json

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from einvoice.app import intake_hooks
from einvoice.db.models import InvoiceEvent, InvoiceRow
from einvoice.intake.inbox import InboxItem
from einvoice.notices import NoticeOutbox, queue_missing
from einvoice.notices.tables import SupplierNotice
from einvoice.pipeline import IntakePipeline
from tests.notices.conftest import FROM, free_port, notice_org

pytestmark = pytest.mark.s3

REJECTED = "12-broken-no-leitweg-id.xml"   # invalid, seller has BT-34 with scheme EM
MALFORMED = "10-broken-malformed.xml"      # invalid, no model: no address
PLAIN_PDF = "14-plain.pdf"                 # not an e-invoice, no address
VALID = "01-xrechnung-ubl-invoice.xml"


def _ingest(db, org, archive, samples, names):
    outcomes = IntakePipeline(db, org, archive, on_record=intake_hooks()).ingest([InboxItem(n, samples[n]) for n in names])
    return {o.name: o for o in outcomes}


def _notices(db) -> dict[int, SupplierNotice]:
    with db.sessions() as s:
        rows = s.scalars(sa.select(SupplierNotice)).all()
        s.expunge_all()
        return {r.invoice_id: r for r in rows}


def _events(db, invoice_id: int, action: str) -> list[InvoiceEvent]:
    with db.sessions() as s:
        rows = s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.invoice_id == invoice_id,
                                                       InvoiceEvent.action == action)).all()
        s.expunge_all()
        return list(rows)


def _parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


class Crash(BaseException):
    """The worker process dies here (not an Exception: nothing in the outbox catches it)."""


def test_rejected_file_gets_one_notice_delivered_once_with_report_and_archive(
        db, archive, samples, smtp_server, clock, s3, bucket_name, archive_key):
    controller, sink = smtp_server
    org = notice_org(controller.port)
    by = _ingest(db, org, archive, samples, [REJECTED, MALFORMED, PLAIN_PDF, VALID])
    assert by[REJECTED].state == "rejected" and by[PLAIN_PDF].state == "not_an_invoice"
    assert by[VALID].state == "in_approval"

    # queued in the intake transaction: one per file that was not accepted, none for the valid one
    notices = _notices(db)
    assert {inv: n.kind for inv, n in notices.items()} == {
        by[REJECTED].invoice_id: "rejected", by[MALFORMED].invoice_id: "rejected",
        by[PLAIN_PDF].invoice_id: "not_an_invoice"}
    assert all(n.status == "pending" for n in notices.values())
    # the unique constraint: a second notice of the same kind for the same file is refused
    with pytest.raises(IntegrityError):
        with db.transaction() as s:
            s.add(SupplierNotice(invoice_id=by[REJECTED].invoice_id, kind="rejected", status="pending", attempts=0))
    # the catch-up scan finds nothing missing
    assert queue_missing(db, org, since=clock() - __import__("datetime").timedelta(days=1)) == 0

    outbox = NoticeOutbox(db, org, archive=archive, now=clock)
    report = outbox.send_pending()
    assert (report.sent, report.no_address, report.failed, report.dead, report.problem) == (1, 2, 0, 0, None), report
    assert report.archived == 1
    # send runs again: nothing more goes out
    again = outbox.send_pending()
    assert (again.sent, again.no_address, again.archived) == (0, 0, 0)
    assert len(sink.messages) == 1

    got = sink.messages[0]
    row = _notices(db)[by[REJECTED].invoice_id]
    with db.sessions() as s:
        inv = s.get(InvoiceRow, by[REJECTED].invoice_id)
        report_json, entry_of_invoice = inv.report_json, inv.archive_entry_id
    assert row.status == "sent" and row.recipient_source == "BT-34" and got.rcpt_tos == [row.recipient]
    assert row.recipient == json.loads(row.addresses_json)["electronic_address"]
    assert got.mail_from == FROM
    # exactly the stored bytes went to the server (the SMTP end-of-line form)
    assert got.data.replace(b"\r\n", b"\n").rstrip() == row.message.replace(b"\r\n", b"\n").rstrip()

    m = _parse(row.message)
    assert m["Message-ID"] == row.message_id and m["Auto-Submitted"] == "auto-generated"
    assert m["To"] == row.recipient and "Rechnung nicht angenommen" in m["Subject"]
    body = m.get_body(("plain",)).get_content()
    assert "Sehr geehrte Damen und Herren" in body and "Dear Sir or Madam" in body
    assert "Was ist zu tun?" in body and "What to do next" in body
    rules = {f["rule"] for f in json.loads(report_json)["findings"] if f["severity"] in ("fatal", "error")}
    assert rules and all(r in body for r in rules), (rules, body)
    attachments = {p.get_filename(): p.get_content() for p in m.iter_attachments()}
    assert set(attachments) == {"pruefbericht.html", "pruefbericht.json"}
    att_json = attachments["pruefbericht.json"]
    assert json.loads(att_json if isinstance(att_json, (str, bytes)) else att_json.decode()) == json.loads(report_json)
    assert "Prüfbericht E-Rechnung" in attachments["pruefbericht.html"] and sorted(rules)[0] in attachments["pruefbericht.html"]

    # the audit trail says it once, with the Message-ID
    sent = _events(db, by[REJECTED].invoice_id, "notice_sent")
    assert len(sent) == 1 and json.loads(sent[0].details_json)["message_id"] == row.message_id
    assert sent[0].from_state == sent[0].to_state == "rejected"  # a notice never changes the state

    # archived: the exact message bytes, as a follow-up entry of the invoice's entry
    from archive.store import S3Store

    assert row.archive_entry_id and row.archived_at is not None
    seq = archive.lookup(row.archive_entry_id)
    _, leaf = archive.read_leaf(seq)
    assert leaf["relates_to"]["entry_id"] == entry_of_invoice and leaf["relates_to"]["relation"] == "supplier-notice"
    assert leaf["metadata"]["message_id"] == row.message_id and leaf["retention"]["class"] == "invoice"
    key = archive.receipt(row.archive_entry_id).document_keys["notice.eml"]
    assert S3Store(s3, bucket_name).get(key) == row.message
    from archive.verify import verify

    assert verify(S3Store(s3, bucket_name), archive_key.public_key(), check_lock=True).ok

    # no address: recorded for a person, never dropped
    for name in (MALFORMED, PLAIN_PDF):
        n = _notices(db)[by[name].invoice_id]
        assert n.status == "no_address" and n.message is None and "BT-34" in n.last_error
        assert len(_events(db, by[name].invoice_id, "notice_no_address")) == 1
    waiting = {v.invoice_id: v for v in outbox.list(attention=True)}
    assert set(waiting) == {by[MALFORMED].invoice_id, by[PLAIN_PDF].invoice_id}
    # a person gives the address: it is sent (once) to that address
    nid = waiting[by[PLAIN_PDF].invoice_id].id
    assert outbox.retry(nid, "h.wolf", to="not an address").rule == "NOTICE-ADDRESS"
    assert outbox.retry(nid, "a.schulz", to="buchhaltung@lieferant.example").rule == "NOTICE-ROLE"
    assert outbox.retry(nid, "h.wolf").rule == "NOTICE-NO-ADDRESS"
    assert outbox.retry(nid, "h.wolf", to="buchhaltung@lieferant.example", comment="telefonisch erfragt") is None
    third = outbox.send_pending()
    assert third.sent == 1 and len(sink.messages) == 2 and sink.messages[1].rcpt_tos == ["buchhaltung@lieferant.example"]
    pdf = _parse(_notices(db)[by[PLAIN_PDF].invoice_id].message)
    assert "keine elektronische" in pdf.get_body(("plain",)).get_content()
    assert _events(db, by[PLAIN_PDF].invoice_id, "notice_retry")[0].actor == "h.wolf"


def test_crash_after_the_server_accepted_is_never_sent_twice(db, archive, samples, smtp_server, clock, monkeypatch):
    controller, sink = smtp_server
    org = notice_org(controller.port)
    by = _ingest(db, org, archive, samples, [REJECTED])
    outbox = NoticeOutbox(db, org, now=clock)

    def crash(self, notice_id, outcome):
        raise Crash("killed after 250 to DATA, before the database knew")

    monkeypatch.setattr(NoticeOutbox, "_record", crash)
    with pytest.raises(Crash):
        outbox.send_pending()
    monkeypatch.undo()
    assert len(sink.messages) == 1
    # while the lease holds, another run leaves it alone; after it, the row is uncertain, not resent
    assert NoticeOutbox(db, org, now=clock).send_pending().sent == 0
    clock.advance(seconds=61)
    second = NoticeOutbox(db, org, now=clock).send_pending()
    assert (second.sent, second.uncertain) == (0, 1) and len(sink.messages) == 1
    clock.advance(hours=5)
    assert NoticeOutbox(db, org, now=clock).send_pending().sent == 0 and len(sink.messages) == 1
    n = _notices(db)[by[REJECTED].invoice_id]
    assert n.status == "uncertain" and n.message_id in n.last_error
    assert len(_events(db, n.invoice_id, "notice_uncertain")) == 1
    assert [v.id for v in outbox.list(attention=True)] == [n.id]
    # a person finds the Message-ID in the mail server log and settles it
    assert outbox.settle_sent(n.id, "h.wolf", comment="") is not None
    assert outbox.settle_sent(n.id, "h.wolf", comment=f"im Maillog: {n.message_id} 250 queued") is None
    assert _notices(db)[n.invoice_id].status == "sent" and outbox.list(attention=True) == []


def test_crash_before_the_hand_over_is_sent_again(db, archive, samples, smtp_server, clock, monkeypatch):
    """A worker that dies before the message content went out sent nothing: the row is simply pending again."""
    controller, sink = smtp_server
    org = notice_org(controller.port)
    by = _ingest(db, org, archive, samples, [REJECTED])
    from einvoice.notices.smtp import SmtpSender

    def dies_while_connecting(self, *a, **kw):
        raise Crash("killed while connecting")

    monkeypatch.setattr(SmtpSender, "send", dies_while_connecting)
    with pytest.raises(Crash):
        NoticeOutbox(db, org, now=clock).send_pending()
    monkeypatch.undo()
    clock.advance(seconds=61)
    report = NoticeOutbox(db, org, now=clock).send_pending()
    assert report.sent == 1 and len(sink.messages) == 1
    n = _notices(db)[by[REJECTED].invoice_id]
    assert n.status == "sent" and n.attempts == 2 and _events(db, n.invoice_id, "notice_uncertain") == []


def test_smtp_down_retries_with_backoff_then_dead_letter(db, archive, samples, clock):
    port = free_port()  # nothing listens here
    org = notice_org(port)
    by = _ingest(db, org, archive, samples, [REJECTED])
    outbox = NoticeOutbox(db, org, now=clock)
    first = outbox.send_pending()
    assert (first.sent, first.failed) == (0, 1) and "NOTICE-SMTP-CONNECT" in first.results[0].problem
    assert outbox.send_pending().failed == 0  # waits for its backoff (60 s)
    clock.advance(seconds=61)
    assert outbox.send_pending().failed == 1
    clock.advance(seconds=121)  # second backoff: 120 s
    third = outbox.send_pending()
    assert third.dead == 1
    n = _notices(db)[by[REJECTED].invoice_id]
    assert n.status == "dead" and n.attempts == 3 and "3-mal fehlgeschlagen" in n.last_error
    assert "refused" in n.last_error.lower() or "errno" in n.last_error.lower(), n.last_error
    dead = _events(db, n.invoice_id, "notice_dead_letter")
    assert len(dead) == 1 and "einvoice notices retry" in dead[0].comment
    # the trail keeps both wordings: the invoice page shows the one of the language set
    both = json.loads(dead[0].details_json)
    assert both["comment_de"] == dead[0].comment and "failed 3 times" in both["comment_en"]
    assert [(v.id, v.status) for v in outbox.list(attention=True)] == [(n.id, "dead")]
    clock.advance(days=1)
    assert outbox.send_pending().results == []  # a dead letter is never picked up on its own


def test_a_recipient_the_server_refuses_is_a_dead_letter_at_once(db, archive, samples, smtp_server, clock):
    controller, sink = smtp_server
    org = notice_org(controller.port)
    by = _ingest(db, org, archive, samples, [REJECTED])
    # what the notice is going to be sent to
    with db.sessions() as s:
        addresses = json.loads(s.scalar(sa.select(SupplierNotice.addresses_json)))
    assert addresses["electronic_address_scheme"] == "EM"
    sink.refuse.add(addresses["electronic_address"])
    report = NoticeOutbox(db, org, now=clock).send_pending()
    assert report.dead == 1 and sink.messages == []
    n = _notices(db)[by[REJECTED].invoice_id]
    assert n.status == "dead" and "550" in n.last_error and n.attempts == 1


def test_channel_reply_address_wins_and_the_notice_answers_the_mail(db, archive, samples, smtp_server, clock):
    controller, sink = smtp_server
    org = notice_org(controller.port)
    by = _ingest(db, org, archive, samples, [REJECTED])
    with db.transaction() as s:  # what the e-mail channel records for a file it received
        s.get(InvoiceRow, by[REJECTED].invoice_id).channel_json = json.dumps(
            {"reply_to": "Lieferant Buchhaltung <rechnungen@lieferant.example>", "message_id": "<abc.123@lieferant.example>"})
    assert NoticeOutbox(db, org, now=clock).send_pending().sent == 1
    assert sink.messages[0].rcpt_tos == ["rechnungen@lieferant.example"]
    m = _parse(_notices(db)[by[REJECTED].invoice_id].message)
    assert m["In-Reply-To"] == "<abc.123@lieferant.example>" and _notices(db)[by[REJECTED].invoice_id].recipient_source == "channel reply_to"


def test_acknowledgement_is_configurable_and_templates_can_be_replaced(db, archive, samples, smtp_server, clock, tmp_path):
    controller, sink = smtp_server
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "received.body.txt.j2").write_text(
        "Eingang bestätigt: {{ invoice_number }} / Receipt confirmed.\n", encoding="utf-8")
    org = notice_org(controller.port, acknowledge_received=True, templates_directory=str(tmp_path / "tpl"), attach=["json"])
    by = _ingest(db, org, archive, samples, [VALID, REJECTED])
    assert {n.kind for n in _notices(db).values()} == {"received", "rejected"}
    assert NoticeOutbox(db, org, now=clock).send_pending().sent == 2
    msgs = {n.kind: _parse(n.message) for n in _notices(db).values()}
    with db.sessions() as s:
        number = s.get(InvoiceRow, by[VALID].invoice_id).invoice_number
    assert msgs["received"].get_body(("plain",)).get_content().startswith(f"Eingang bestätigt: {number}")
    assert list(msgs["received"].iter_attachments()) == []  # a valid file: nothing to report
    # the rejection keeps the shipped template, with only the JSON report as configured
    assert "Dear Sir or Madam" in msgs["rejected"].get_body(("plain",)).get_content()
    assert [p.get_filename() for p in msgs["rejected"].iter_attachments()] == ["pruefbericht.json"]


def test_notices_off_queue_nothing_and_unconfigured_smtp_says_why(db, archive, samples, clock):
    off = notice_org(free_port(), enabled=False)
    _ingest(db, off, archive, samples, [REJECTED])
    assert _notices(db) == {}
    no_host = notice_org(1, smtp={"host": None})
    by = _ingest(db, no_host, archive, samples, [PLAIN_PDF])
    report = NoticeOutbox(db, no_host, now=clock).send_pending()
    assert report.problem is not None and report.problem.rule == "NOTICE-SMTP-CONFIG" and report.results == []
    assert _notices(db)[by[PLAIN_PDF].invoice_id].status == "pending"  # it waits, it is not lost


def test_two_workers_sending_at_once_send_each_notice_once(db, archive, samples, smtp_server, clock):
    import threading

    controller, sink = smtp_server
    org = notice_org(controller.port)
    names = ["11-broken-xsd.xml", REJECTED, "13-broken-wrong-totals.xml"]
    _ingest(db, org, archive, samples, names)
    addressed = [n for n in _notices(db).values() if json.loads(n.addresses_json).get("electronic_address")]
    assert len(addressed) >= 2, [n.addresses_json for n in _notices(db).values()]
    barrier = threading.Barrier(2)
    errors = []

    def worker(i):
        try:
            barrier.wait()
            NoticeOutbox(db, org, now=clock, worker_id=f"w{i}").send_pending()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    clock.advance(seconds=61)  # whatever a lost race left in flight is taken up again
    NoticeOutbox(db, org, now=clock).send_pending()
    ids = [_parse(m.data)["Message-ID"] for m in sink.messages]
    assert len(ids) == len(set(ids)) == len(addressed), ids
    assert {n.status for n in _notices(db).values() if n.id in {a.id for a in addressed}} == {"sent"}
    for n in addressed:
        assert len(_events(db, n.invoice_id, "notice_sent")) == 1


def _self_signed(tmp_path):
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return tmp_path / "cert.pem", tmp_path / "key.pem"


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_and_login_with_the_password_from_the_environment(db, archive, samples, clock, tmp_path, monkeypatch, security):
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from tests.notices.conftest import MailSink

    cert, key = _self_signed(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password, session.ssl is not None))
        ok = auth_data.login == b"eingang" and auth_data.password == b"geheim-aus-env"
        return AuthResult(success=ok, handled=False)

    sink = MailSink()
    port = free_port()
    # (aiosmtpd's auth_require_tls only knows STARTTLS; with implicit TLS the whole connection is TLS)
    tls = ({"tls_context": ctx, "require_starttls": True, "auth_require_tls": True} if security == "starttls"
           else {"ssl_context": ctx, "auth_require_tls": False})
    controller = Controller(sink, hostname="127.0.0.1", port=port, authenticator=authenticator, **tls)
    controller.start()
    try:
        org = notice_org(port, smtp={"security": security, "username": "eingang", "password_env": "TEST_NOTICE_SMTP_PW",
                                     "ca_file": str(cert)})
        by = _ingest(db, org, archive, samples, [REJECTED])
        # the password variable is missing: nothing is tried, the run says why
        monkeypatch.delenv("TEST_NOTICE_SMTP_PW", raising=False)
        report = NoticeOutbox(db, org, now=clock).send_pending()
        assert report.problem.rule == "NOTICE-SMTP-CONFIG" and "TEST_NOTICE_SMTP_PW" in report.problem.message
        # a wrong password: refused login, retried later
        monkeypatch.setenv("TEST_NOTICE_SMTP_PW", "falsch")
        report = NoticeOutbox(db, org, now=clock).send_pending()
        assert report.failed == 1 and report.results[0].problem.startswith("NOTICE-SMTP-LOGIN"), report.results
        clock.advance(seconds=61)
        monkeypatch.setenv("TEST_NOTICE_SMTP_PW", "geheim-aus-env")
        assert NoticeOutbox(db, org, now=clock).send_pending().sent == 1
        assert len(sink.messages) == 1 and logins[-1][:2] == (b"eingang", b"geheim-aus-env")
        if security == "starttls":
            assert logins[-1][2]  # the login came after STARTTLS
        assert _notices(db)[by[REJECTED].invoice_id].status == "sent"
    finally:
        controller.stop()


def test_catch_up_scan_queues_recent_files_without_a_notice_once(db, archive, samples, clock):
    import datetime as dt

    off = notice_org(free_port(), enabled=False)
    by = _ingest(db, off, archive, samples, [REJECTED, PLAIN_PDF, VALID])
    assert _notices(db) == {}
    with db.transaction() as s:  # received long ago: turning notices on must not write to it
        s.get(InvoiceRow, by[PLAIN_PDF].invoice_id).received_at = clock() - dt.timedelta(days=30)
    on = notice_org(free_port())
    since = clock() - dt.timedelta(days=3)
    from einvoice.finance.outbox import load_model

    originals = {by[REJECTED].invoice_id: samples[REJECTED]}
    assert queue_missing(db, on, since=since, model_of=lambda row: load_model(originals[row.id])[0]) == 1
    assert queue_missing(db, on, since=since) == 0
    notices = _notices(db)
    assert list(notices) == [by[REJECTED].invoice_id] and notices[by[REJECTED].invoice_id].kind == "rejected"
    assert json.loads(notices[by[REJECTED].invoice_id].addresses_json)["electronic_address_scheme"] == "EM"
    # a file held as not validated that later ends rejected gets the rejection notice as well
    with db.transaction() as s:
        s.add(InvoiceRow(file_sha256="f" * 64, filename="held.xml", channel="directory", size=1, state="not_validated",
                      received_at=clock()))
    assert queue_missing(db, on, since=since) == 1
    with db.transaction() as s:
        s.scalars(sa.select(InvoiceRow).where(InvoiceRow.filename == "held.xml")).one().state = "rejected"
    assert queue_missing(db, on, since=since) == 1 and queue_missing(db, on, since=since) == 0
    with db.sessions() as s:
        held = s.scalars(sa.select(SupplierNotice.kind).join(InvoiceRow, InvoiceRow.id == SupplierNotice.invoice_id)
                         .where(InvoiceRow.filename == "held.xml").order_by(SupplierNotice.id)).all()
    assert held == ["not_validated", "rejected"]


def test_a_template_that_cannot_be_rendered_ends_as_a_dead_letter_with_the_reason(db, archive, samples, smtp_server,
                                                                                   clock, tmp_path):
    controller, sink = smtp_server
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "rejected.body.txt.j2").write_text("{{ no_such_variable }}\n", encoding="utf-8")
    org = notice_org(controller.port, templates_directory=str(tmp_path / "tpl"))
    by = _ingest(db, org, archive, samples, [REJECTED])
    outbox = NoticeOutbox(db, org, now=clock)
    for _ in range(3):
        outbox.send_pending()
        clock.advance(hours=1)
    n = _notices(db)[by[REJECTED].invoice_id]
    assert n.status == "dead" and "NOTICE-BUILD" in n.last_error and "no_such_variable" in n.last_error
    assert sink.messages == [] and len(_events(db, n.invoice_id, "notice_dead_letter")) == 1
