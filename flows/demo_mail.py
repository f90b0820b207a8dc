"""The mail side of ``make demo``: a loopback SMTP server (aiosmtpd) and, when Dovecot is installed,
an IMAP mailbox on loopback.

Mail to the town's intake address is delivered into the mailbox: by IMAP APPEND into Dovecot
(``process-mailbox`` then reads it exactly as it reads a municipal mailbox, over IMAPS), or, on a
machine without Dovecot, into a local Maildir whose messages the demo hands to the mailbox's own
intake path (``einvoice.intake.mail.classify`` and the pipeline) without IMAP. Every other mail
the server accepts is kept as sent to a supplier (the notices). The demo prints which of the two
happened. Only the demo uses this module; it must never listen on anything but 127.0.0.1.
"""
from __future__ import annotations

import email
import email.policy
import email.utils
import imaplib
import mailbox
import smtplib
import socket
import threading
from email.message import EmailMessage
from pathlib import Path

INTAKE_ADDRESS = "rechnungseingang@musterhausen.example"
SUPPLIER = "Jugendhilfe Rheinland gGmbH <rechnungen@jugendhilfe-rheinland.example>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dovecot_class():
    """The Dovecot harness the e-mail intake tests use (one harness, not two), if Dovecot is installed."""
    try:
        from devtools.dovecot import DOVECOT, Dovecot
    except ImportError:  # a copy of the project without its tests
        return None
    return Dovecot if DOVECOT else None


class DemoMail:
    """SMTP on loopback, delivering the intake address into Dovecot (if installed) or a Maildir."""

    def __init__(self, base: Path) -> None:
        self.maildir_path = base / "Maildir"
        self.sent_to_suppliers: list[tuple[list[str], bytes]] = []
        self.delivered = 0
        self.dovecot = None
        self.controller = None
        self._lock = threading.Lock()

    # -- the servers -------------------------------------------------------------------------
    def __enter__(self) -> DemoMail:
        from aiosmtpd.controller import Controller

        dovecot = _dovecot_class()
        if dovecot is not None:
            self.dovecot = dovecot().start()
        self.controller = Controller(self, hostname="127.0.0.1", port=_free_port())
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.controller is not None:
            self.controller.stop()
        if self.dovecot is not None:
            self.dovecot.stop()

    @property
    def smtp_port(self) -> int:
        return self.controller.port

    def imap_description(self) -> str:
        return f"Dovecot on 127.0.0.1:{self.dovecot.imaps_port} (IMAPS)" if self.dovecot else f"Maildir {self.maildir_path}"

    def mail_settings(self) -> dict | None:
        """The organisation file's ``mail`` section for the Dovecot mailbox (None without Dovecot)."""
        if self.dovecot is None:
            return None
        return {"server": "127.0.0.1", "port": self.dovecot.imaps_port, "tls": "imaps", "ca_file": str(self.dovecot.cert),
                "user": self.dovecot.user, "password_env": "EINVOICE_MAIL_PASSWORD"}

    @property
    def password(self) -> str | None:
        return self.dovecot.password if self.dovecot else None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        raw = envelope.original_content
        to_intake = [r for r in envelope.rcpt_tos if r.lower() == INTAKE_ADDRESS]
        others = [r for r in envelope.rcpt_tos if r.lower() != INTAKE_ADDRESS]
        if to_intake:
            self._deliver(raw)
        if others:
            with self._lock:
                self.sent_to_suppliers.append((others, raw))
        return "250 2.0.0 queued"

    def _deliver(self, raw: bytes) -> None:
        if self.dovecot is not None:
            conn = imaplib.IMAP4_SSL("127.0.0.1", self.dovecot.imaps_port, ssl_context=self.dovecot.ssl_context())
            try:
                conn.login(self.dovecot.user, self.dovecot.password)
                typ, data = conn.append("INBOX", None, None, raw)
                if typ != "OK":
                    raise RuntimeError(f"IMAP APPEND refused: {data!r}")
            finally:
                conn.logout()
        else:
            mailbox.Maildir(self.maildir_path, create=True).add(raw)
        self.delivered += 1

    # -- the supplier's side -------------------------------------------------------------------
    def send_invoice(self, filename: str, data: bytes) -> str:
        """The supplier mails one invoice to the intake address through the SMTP server; its Message-ID."""
        msg = EmailMessage()
        msg["From"] = SUPPLIER
        msg["To"] = INTAKE_ADDRESS
        msg["Subject"] = f"Rechnung {Path(filename).stem}"
        msg["Date"] = email.utils.formatdate(localtime=True)
        msg["Message-ID"] = email.utils.make_msgid(domain="jugendhilfe-rheinland.example")
        msg.set_content("Sehr geehrte Damen und Herren,\n\nanbei unsere Rechnung als ZUGFeRD/Factur-X-PDF.\n")
        maintype, subtype = ("application", "pdf") if filename.endswith(".pdf") else ("application", "xml")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10) as smtp:
            smtp.send_message(msg)
        return msg["Message-ID"]

    def maildir_messages(self) -> list[bytes]:
        """The messages delivered into the local Maildir (the path without Dovecot)."""
        box = mailbox.Maildir(self.maildir_path, create=True)
        return [box.get_bytes(key) for key in sorted(box.keys())]


def describe_notice(raw: bytes) -> list[str]:
    """A few lines about one notice as the supplier receives it: headers, attachments, opening lines."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content().strip().splitlines() if body is not None else []
    attachments = [part.get_filename() for part in msg.iter_attachments() if part.get_filename()]
    lines = [f"    To: {msg['To']}", f"    Subject: {msg['Subject']}",
             f"    attachments: {', '.join(attachments) or 'none'}"]
    lines += [f"    | {line}" for line in text[:8] if line.strip()]
    return lines
