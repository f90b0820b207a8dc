"""E-mail intake against a real Dovecot IMAP server on loopback (TLS), SeaweedFS and the database.

Every message ends in exactly one folder and one record; nothing is deleted before it is stored;
a second run (and a re-delivery) ingests nothing twice; a dropped connection loses nothing.
Fixtures come from the project's sample generator (devtools.samples); see conftest.py.
"""
from __future__ import annotations

import email.policy
import hashlib
import imaplib
import json
import os
import socket
import threading

import pytest

from devtools.dovecot import DOVECOT
from tests.intake.helpers import (
    append,
    archived,
    fetch,
    folder_contents,
    message,
    rows,
    settings,
)

pytestmark = [pytest.mark.s3, pytest.mark.skipif(DOVECOT is None, reason="Dovecot is not installed (Debian package "
                                                 "dovecot-imapd: `make mailserver`); the IMAP tests need a real server")]


# ---------------------------------------------------------------------------------------------------
def test_each_kind_of_message_ends_in_one_folder_and_one_record(app, mailbox, samples, monkeypatch):
    ubl, cii = samples["01-xrechnung-ubl-invoice.xml"], samples["03-xrechnung-cii-invoice.xml"]
    pdf = samples["04-facturx-en16931.pdf"]
    from einvoice.intake import detect

    embedded = detect(pdf).xml
    mails = {
        "xml": message(("rechnung.xml", ubl), ("logo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 200)),
        # a hybrid PDF with a separate copy of its own XML is one invoice
        "hybrid": message(("rechnung.pdf", pdf), ("factur-x.xml", embedded)),
        "two": message(("r1.xml", ubl), ("r2.xml", cii), reply_to="Meyer Rechnungswesen <rw@meyer.example>"),
        "none": message(("scan.pdf", samples["14-plain.pdf"]), subject="Rechnung als PDF"),
    }
    raw = {k: m.as_bytes(policy=email.policy.SMTP) for k, m in mails.items()}  # CRLF, as IMAP stores it
    # malformed MIME: multipart without its boundary anywhere in the body
    raw["malformed"] = (b"From: x@meyer.example\r\nMessage-ID: <kaputt@meyer.example>\r\nSubject: kaputt\r\n"
                        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n"
                        b"no boundary here\r\n<Invoice>\r\n")
    for k in mails | {"malformed": None}:
        append(mailbox, raw[k])

    run = fetch(app, mailbox, monkeypatch)
    assert run.problem is None, run.problem
    kinds = {m.message_id: m for m in run.messages}
    assert len(run.messages) == 5 and all(m.folder for m in run.messages)

    where = folder_contents(mailbox)
    assert where["INBOX"] == []
    assert len(where["Verarbeitet"]) == 2 and len(where["Mehrere-Rechnungen"]) == 1 and len(where["Keine-Rechnung"]) == 2

    by_msgid = {json.loads(r.channel_json)["message_id"]: r for r in rows(app)}
    assert len(by_msgid) == 5 and all(r.channel == "email" for r in by_msgid.values())

    r = by_msgid[mails["xml"]["Message-ID"]]
    meta = json.loads(r.channel_json)
    assert (r.state, r.syntax, r.filename, r.department) == ("in_approval", "ubl-invoice", "rechnung.xml", "66")
    assert meta["attachment"] == "rechnung.xml" and meta["reply_to"] == "buchhaltung@meyer.example"
    assert meta["subject"] == "Rechnung" and meta["from"].startswith("Tiefbau Meyer") and meta["date"]
    assert archived(app, r, "rechnung.xml") == ubl
    assert archived(app, r, "e-mail.eml") == raw["xml"]  # the message as channel evidence, same entry

    r = by_msgid[mails["hybrid"]["Message-ID"]]
    assert (r.state, r.container, r.syntax, r.filename) == ("in_approval", "pdf", "cii", "rechnung.pdf")

    r = by_msgid[mails["two"]["Message-ID"]]
    assert r.state == "rejected" and "MAIL-SEVERAL-INVOICES" in r.verdict and "r1.xml, r2.xml" in r.verdict
    assert json.loads(r.channel_json)["reply_to"] == "rw@meyer.example"
    assert archived(app, r, r.filename) == raw["two"]
    shas = {x.file_sha256 for x in rows(app)}
    assert hashlib.sha256(cii).hexdigest() not in shas, "no invoice of a refused message is ingested"

    r = by_msgid[mails["none"]["Message-ID"]]
    assert r.state == "not_an_invoice" and "MAIL-NO-INVOICE" in r.verdict and "scan.pdf" in r.verdict
    r = by_msgid["<kaputt@meyer.example>"]
    assert r.state == "not_an_invoice" and "MAIL-MIME" in r.verdict
    assert kinds["<kaputt@meyer.example>"].kind == "malformed"

    # A second run, and a re-delivery of two messages (other bytes, same Message-ID), ingest nothing.
    for k in ("xml", "none"):
        append(mailbox, b"Received: from relay.example by mx.example; Sun, 6 Dec 2026 06:00:00 +0100\r\n" + raw[k])
    before = [(x.id, x.file_sha256) for x in rows(app)]
    again = fetch(app, mailbox, monkeypatch)
    assert again.problem is None and len(again.messages) == 2
    assert all(m.already_received and m.folder for m in again.messages)
    assert [(x.id, x.file_sha256) for x in rows(app)] == before
    assert folder_contents(mailbox)["INBOX"] == []
    assert fetch(app, mailbox, monkeypatch).messages == []


def test_starttls_and_a_too_large_message_is_not_downloaded(app, mailbox, samples, monkeypatch):
    big = os.urandom(60 * 1024 * 1024)
    append(mailbox, message(("rechnung.pdf", big), msgid="<gross@meyer.example>").as_bytes())
    run = fetch(app, mailbox, monkeypatch, tls="starttls")
    assert run.problem is None, run.problem
    [m] = run.messages
    assert (m.kind, m.folder) == ("too-large", "Zu-gross")
    [r] = rows(app)
    assert r.state == "rejected" and "MAIL-TOO-LARGE" in r.verdict
    assert r.size < 64 * 1024, "only the header was read and kept, not the 60 MB body"
    assert json.loads(r.channel_json)["message_size"] > 60 * 1024 * 1024
    assert folder_contents(mailbox)["Zu-gross"] == [b"Message-ID: <gross@meyer.example>"]


class CuttingProxy:
    """A TCP proxy on loopback that drops both connections after ``cut`` bytes from the server."""

    def __init__(self, target_port: int, cut: int) -> None:
        self.target, self.cut = target_port, cut
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            sent = [0]

            def pump(src, dst, counted, sent):
                try:
                    while data := src.recv(65536):
                        if counted:
                            room = self.cut - sent[0]
                            data = data[:max(room, 0)]
                            sent[0] += len(data)
                        if data:
                            dst.sendall(data)
                        if counted and sent[0] >= self.cut:
                            break
                except OSError:
                    pass
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()

            threading.Thread(target=pump, args=(client, server, False, sent), daemon=True).start()
            threading.Thread(target=pump, args=(server, client, True, sent), daemon=True).start()

    def close(self) -> None:
        self.sock.close()


def test_connection_dropped_mid_fetch_loses_nothing_and_ingests_nothing_twice(app, mailbox, samples, monkeypatch):
    names = ["01-xrechnung-ubl-invoice.xml", "02-xrechnung-ubl-creditnote.xml", "03-xrechnung-cii-invoice.xml"]
    filler = os.urandom(300 * 1024)  # each message ~400 KB base64: the cut falls inside the second fetch
    for i, name in enumerate(names):
        append(mailbox, message((name, samples[name]), ("anlage.bin", filler), msgid=f"<m{i}@meyer.example>").as_bytes())
    proxy = CuttingProxy(mailbox.imaps_port, cut=650 * 1024)
    try:
        run = fetch(app, mailbox, monkeypatch, port=proxy.port, batch_size=1)
    finally:
        proxy.close()
    assert run.problem is not None and run.problem.rule == "MAIL-CONNECTION-LOST", run.problem
    assert "nächsten Lauf" in run.problem.message
    stored = {json.loads(r.channel_json)["message_id"] for r in rows(app)}
    assert stored == {"<m0@meyer.example>"}, "the first message was stored and moved before the drop"
    where = folder_contents(mailbox)
    assert where["Verarbeitet"] == [b"Message-ID: <m0@meyer.example>"]
    assert len(where["INBOX"]) == 2

    # Stored but not moved (the connection is lost between the two): the next run moves it, once.
    from einvoice.intake import mail as intake_mail

    real_move = intake_mail._move

    def lost(conn, uid, folder):
        raise imaplib.IMAP4.abort("socket error: EOF")

    monkeypatch.setattr(intake_mail, "_move", lost)
    run = fetch(app, mailbox, monkeypatch, batch_size=1)
    assert run.problem.rule == "MAIL-CONNECTION-LOST"
    assert len(rows(app)) == 2 and len(folder_contents(mailbox)["INBOX"]) == 2
    monkeypatch.setattr(intake_mail, "_move", real_move)

    run = fetch(app, mailbox, monkeypatch)
    assert run.problem is None
    assert [m.already_received for m in run.messages] == [True, False]
    final = rows(app)
    assert sorted(r.filename for r in final) == sorted(names)
    assert len({r.file_sha256 for r in final}) == 3
    where = folder_contents(mailbox)
    assert where["INBOX"] == [] and len(where["Verarbeitet"]) == 3


def test_unreachable_mailbox_and_wrong_password_are_problems_with_reasons(app, mailbox, monkeypatch):
    from einvoice.intake.mail import fetch_mailbox

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    run = fetch(app, mailbox, monkeypatch, port=dead)
    assert run.problem.rule == "MAIL-CONNECT" and f"127.0.0.1:{dead}" in run.problem.message
    run = fetch_mailbox(settings(mailbox), app.intake, app.db, password="falsch")
    assert run.problem.rule == "MAIL-LOGIN"
    monkeypatch.delenv("TEST_MAIL_PASSWORD", raising=False)
    run = fetch_mailbox(settings(mailbox), app.intake, app.db)
    assert run.problem.rule == "MAIL-PASSWORD" and "TEST_MAIL_PASSWORD" in run.problem.message


def test_server_without_move_gets_copy_deleted_expunge_after_storing(app, mailbox, samples, monkeypatch):
    from einvoice.intake import mail as intake_mail

    real_move, seen = intake_mail._move, []

    def without_move(conn, uid, folder):
        conn.capabilities = tuple(c for c in conn.capabilities if c != "MOVE")
        # stored before it is moved: the row exists when the message leaves the inbox
        seen.append(len(rows(app)))
        real_move(conn, uid, folder)

    monkeypatch.setattr(intake_mail, "_move", without_move)
    append(mailbox, message(("rechnung.xml", samples["02-xrechnung-ubl-creditnote.xml"]), msgid="<cn@meyer.example>").as_bytes())
    run = fetch(app, mailbox, monkeypatch)
    assert run.problem is None and [m.folder for m in run.messages] == ["Verarbeitet"]
    assert seen == [1]
    where = folder_contents(mailbox)
    assert where["INBOX"] == [] and where["Verarbeitet"] == [b"Message-ID: <cn@meyer.example>"]


def test_cli_mail_fetch(app, mailbox, samples, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from einvoice.cli import main
    from tests.intake.helpers import organisation_file

    organisation_file(tmp_path, monkeypatch, mailbox, mailbox.imaps_port)
    append(mailbox, message(("rechnung.xml", samples["03-xrechnung-cii-invoice.xml"]), msgid="<cli@meyer.example>").as_bytes())
    result = CliRunner().invoke(main, ["mail", "fetch", "--format", "json"])
    assert result.exit_code == 0, result.output
    [m] = json.loads(result.output)["messages"]
    assert (m["message_id"], m["kind"], m["folder"]) == ("<cli@meyer.example>", "invoice", "Verarbeitet")
    assert m["files"][0]["state"] == "in_approval"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    organisation_file(tmp_path, monkeypatch, mailbox, dead)
    result = CliRunner().invoke(main, ["mail", "fetch"])
    assert result.exit_code == 2 and "MAIL-CONNECT" in result.output
