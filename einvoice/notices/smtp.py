"""Hand one prepared message to the SMTP server (smtplib), and say plainly how that went.

``send`` returns an outcome, it never raises for a server or network problem: ``sent`` (the
server accepted the message with 250 after DATA), ``retry`` (a temporary problem: connection,
timeout, 4xx, login), ``rejected`` (the server refused the sender or recipient with 5xx: sending
again would not help) or ``uncertain`` (the connection broke after the message content went out,
before the server's answer: it may have been delivered). ``before_data`` is called just before the
content goes out, so the caller can note that moment durably (einvoice.notices.outbox).

This module never reads the organisation file or the database; the password comes from the
environment variable the organisation file names.
"""
from __future__ import annotations

import os
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Callable

#: Rule IDs of the outcomes (shown to operators with the server's own words).
SMTP_CONNECT, SMTP_TEMPORARY, SMTP_REFUSED, SMTP_LOGIN, SMTP_UNCERTAIN, SMTP_CONFIG = (
    "NOTICE-SMTP-CONNECT", "NOTICE-SMTP-TEMPORARY", "NOTICE-SMTP-REFUSED", "NOTICE-SMTP-LOGIN",
    "NOTICE-SMTP-UNCERTAIN", "NOTICE-SMTP-CONFIG")


@dataclass(frozen=True)
class SendOutcome:
    kind: str  # sent | retry | rejected | uncertain
    rule: str | None = None  # one of the NOTICE-SMTP-* rule IDs above
    message: str | None = None
    duration_ms: int = 0

    @property
    def sent(self) -> bool:
        return self.kind == "sent"


class SmtpSender:
    """One SMTP connection per message (notices are few; a fresh connection is the simple, robust choice)."""

    def __init__(self, settings, env: dict[str, str] | None = None):
        self.settings = settings
        self.env = os.environ if env is None else env

    def check(self) -> tuple[str, str] | None:
        """(code, message) when sending cannot even start (configuration), else None."""
        s = self.settings
        if not s.host:
            return SMTP_CONFIG, "notices.smtp.host is not set: notices are queued but cannot be sent"
        if s.username and not self.env.get(s.password_env):
            return SMTP_CONFIG, (f"notices.smtp.username is set but the environment variable {s.password_env} "
                                 "(the SMTP password) is empty or missing")
        return None

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.settings.ca_file) if self.settings.ca_file else ssl.create_default_context()
        return ctx

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "ssl":
            conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=self._context())
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        conn.ehlo()
        if s.security == "starttls":
            conn.starttls(context=self._context())
            conn.ehlo()
        if s.username:
            conn.login(s.username, self.env.get(s.password_env, ""))
        return conn

    def send(self, sender: str, recipient: str, message: bytes,
             before_data: Callable[[], bool] = lambda: True) -> SendOutcome:
        """Send ``message`` (exact bytes) from ``sender`` to ``recipient``.

        ``before_data`` returns False when the message must not go out after all (another worker
        took it over): then nothing is sent and the outcome is ``retry``.
        """
        started = time.monotonic()

        def done(kind: str, code: str | None = None, message_: str | None = None) -> SendOutcome:
            return SendOutcome(kind, code, message_, int((time.monotonic() - started) * 1000))

        problem = self.check()
        if problem:
            return done("retry", *problem)
        conn = None
        handed_over = False
        try:
            conn = self._connect()
            code, reply = conn.mail(sender)
            if code != 250:
                return done("rejected" if 500 <= code < 600 else "retry", SMTP_REFUSED if code >= 500 else SMTP_TEMPORARY,
                            f"MAIL FROM <{sender}> answered {code} {_text(reply)}")
            code, reply = conn.rcpt(recipient)
            if code not in (250, 251):
                return done("rejected" if 500 <= code < 600 else "retry", SMTP_REFUSED if code >= 500 else SMTP_TEMPORARY,
                            f"RCPT TO <{recipient}> answered {code} {_text(reply)}")
            if not before_data():
                return done("retry", "NOTICE-LEASE-LOST", "another worker took this notice over; nothing was sent")
            handed_over = True
            code, reply = conn.data(message)
            if code != 250:  # pragma: no cover - smtplib raises SMTPDataError for these
                return done("retry", SMTP_TEMPORARY, f"DATA answered {code} {_text(reply)}")
            return done("sent", None, f"250 {_text(reply)}")
        except smtplib.SMTPDataError as exc:
            # The server answered the content with an error: it did not take the message.
            kind = "rejected" if 500 <= exc.smtp_code < 600 else "retry"
            return done(kind, SMTP_REFUSED if kind == "rejected" else SMTP_TEMPORARY,
                        f"DATA answered {exc.smtp_code} {_text(exc.smtp_error)}")
        except smtplib.SMTPAuthenticationError as exc:
            return done("retry", SMTP_LOGIN, f"login as {self.settings.username!r} refused: {exc.smtp_code} {_text(exc.smtp_error)}")
        except (smtplib.SMTPException, OSError, ssl.SSLError, socket.timeout) as exc:
            if handed_over:
                return done("uncertain", SMTP_UNCERTAIN, f"the connection failed while the message was handed over "
                                                         f"({type(exc).__name__}: {exc}); it may have been delivered")
            return done("retry", SMTP_CONNECT, f"{self.settings.host}:{self.settings.port}: {type(exc).__name__}: {exc}")
        finally:
            if conn is not None:
                try:
                    conn.quit()
                except Exception:  # noqa: BLE001 - the outcome is decided; closing is best effort
                    conn.close()


def _text(reply) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return str(reply)
