"""Helpers of the e-mail intake tests: messages built from the project's samples, IMAP look-ups."""
from __future__ import annotations

import email.policy
import email.utils
import imaplib
from email.message import EmailMessage

import sqlalchemy as sa

FOLDERS = ("INBOX", "Verarbeitet", "Keine-Rechnung", "Mehrere-Rechnungen", "Zu-gross")


def _imap(dovecot) -> imaplib.IMAP4_SSL:
    conn = imaplib.IMAP4_SSL("127.0.0.1", dovecot.imaps_port, ssl_context=dovecot.ssl_context())
    conn.login(dovecot.user, dovecot.password)
    return conn


def settings(dovecot, port: int | None = None, tls: str = "imaps", **kw):
    from einvoice.organisation import MailSettings

    return MailSettings(server="127.0.0.1", port=port or (dovecot.imaps_port if tls == "imaps" else dovecot.imap_port),
                        tls=tls, ca_file=str(dovecot.cert), user=dovecot.user, password_env="TEST_MAIL_PASSWORD", **kw)


def message(*attachments: tuple[str, bytes], subject: str = "Rechnung", msgid: str | None = None,
            reply_to: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Tiefbau Meyer GmbH <buchhaltung@meyer.example>"
    msg["To"] = "rechnungseingang@musterhausen.example"
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = msgid or email.utils.make_msgid(domain="meyer.example")
    msg.set_content("Sehr geehrte Damen und Herren,\nanbei unsere Rechnung.\n")
    for name, data in attachments:
        maintype, subtype = ("application", "pdf") if name.endswith(".pdf") else (
            ("application", "xml") if name.endswith(".xml") else ("application", "octet-stream"))
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def append(dovecot, raw: bytes, folder: str = "INBOX") -> None:
    conn = _imap(dovecot)
    typ, data = conn.append(folder, None, None, raw)
    assert typ == "OK", data
    conn.logout()


def folder_contents(dovecot) -> dict[str, list[bytes]]:
    conn = _imap(dovecot)
    out = {}
    for folder in FOLDERS:
        out[folder] = []
        if conn.select(folder, readonly=True)[0] != "OK":
            continue
        _, data = conn.search(None, "ALL")
        for num in data[0].split():
            _, parts = conn.fetch(num, "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            out[folder].append(parts[0][1].strip())
    conn.logout()
    return out


def rows(app):
    from einvoice.db.models import InvoiceRow

    with app.db.sessions() as s:
        return list(s.scalars(sa.select(InvoiceRow).order_by(InvoiceRow.id)))


def fetch(app, dovecot, monkeypatch, **kw):
    from einvoice.intake.mail import fetch_mailbox

    monkeypatch.setenv("TEST_MAIL_PASSWORD", dovecot.password)
    return fetch_mailbox(settings(dovecot, **kw), app.intake, app.db)


def archived(app, row, name: str) -> bytes:
    key = app.archive.receipt(row.archive_entry_id).document_keys[name]
    return app.s3.get_object(Bucket=app.archive_bucket, Key=key)["Body"].read()


def organisation_file(tmp_path, monkeypatch, dovecot, port: int) -> None:
    """An organisation file (the example's, with a mail section for ``dovecot`` at ``port``) in the environment."""
    import yaml

    from einvoice.settings import REPO_EXAMPLE_ORG

    data = yaml.safe_load(REPO_EXAMPLE_ORG.read_text(encoding="utf-8"))
    data["mail"] = {"server": "127.0.0.1", "port": port, "tls": "imaps", "ca_file": str(dovecot.cert),
                    "user": dovecot.user, "password_env": "TEST_MAIL_PASSWORD"}
    path = tmp_path / f"org-{port}.yaml"  # flows.common caches one App per environment
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("EINVOICE_ORGANISATION", str(path))
    monkeypatch.setenv("TEST_MAIL_PASSWORD", dovecot.password)
