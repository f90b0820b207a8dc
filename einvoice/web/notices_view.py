"""What staff read about the e-mails the outbox (``einvoice.notices``) sent or holds: the notices of
one invoice (supplier notices and approver notifications) for the invoice page, and the notices
waiting for a person (dead letters, no address, delivery uncertain) for the central desk.

Read only, straight from the outbox table: this module must never send, retry or settle a notice
(``einvoice notices retry|settle`` and ``NoticeOutbox`` do), never show a message's body (it may
quote the supplier's data; the archive keeps it), and never show notices of an invoice the person
may not see (the routes check visibility first).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from einvoice.db import Database
from einvoice.db.models import InvoiceRow, as_utc
from einvoice.notices import NEEDS_A_PERSON
from einvoice.notices.tables import SupplierNotice

#: The outbox's statuses as staff read them.
STATUS_TITLE = {
    "pending": "wartet auf Versand",
    "in_flight": "wird gesendet",
    "sent": "gesendet",
    "dead": "nicht zustellbar",
    "no_address": "keine E-Mail-Adresse",
    "uncertain": "Zustellung ungewiss",
}
#: The kinds of message (einvoice.notices.message.KINDS and einvoice.notices.approvers.KINDS).
KIND_TITLE = {
    "rejected": "Zurückweisung an den Lieferanten",
    "not_validated": "Hinweis „nicht geprüft“ an den Lieferanten",
    "not_an_invoice": "Hinweis „keine E-Rechnung“ an den Lieferanten",
    "received": "Eingangsbestätigung an den Lieferanten",
    "task_new": "Neue Aufgabe (an Bearbeitende)",
    "task_skonto": "Skonto endet bald (an Bearbeitende)",
    "task_escalation": "Eskalation: Aufgabe überfällig (an Amtsleitung)",
}
#: The codes the outbox records, in words (the code itself is shown beside them).
ERROR_TITLE = {
    "NOTICE-NO-ADDRESS": "Keine E-Mail-Adresse des Empfängers bekannt.",
    "NOTICE-SMTP-REFUSED": "Der Mailserver hat die Nachricht abgelehnt.",
    "NOTICE-SMTP-CONNECT": "Der Mailserver war nicht erreichbar.",
    "NOTICE-SMTP-TEMPORARY": "Der Mailserver hat vorübergehend abgelehnt.",
    "NOTICE-SMTP-LOGIN": "Die Anmeldung am Mailserver wurde abgelehnt.",
    "NOTICE-SMTP-UNCERTAIN": "Die Verbindung brach bei der Übergabe ab; die Nachricht ist vielleicht angekommen.",
    "NOTICE-SMTP-CONFIG": "Der Versand ist nicht eingerichtet.",
    "NOTICE-BUILD": "Die Nachricht konnte nicht erstellt werden.",
}
#: A code without words of its own (the page shows the code beside it).
ERROR_UNKNOWN = "Siehe Code."


@dataclass(frozen=True)
class NoticeLine:
    id: int
    invoice_id: int
    kind: str
    status: str
    recipient: str | None
    attempts: int
    at: dt.datetime  # when it was sent, or else when its status last changed (UTC; pages show Europe/Berlin)
    created_at: dt.datetime
    error_code: str | None
    resolved_by: str | None
    invoice_number: str | None = None
    seller_name: str | None = None
    filename: str | None = None

    @property
    def kind_title(self) -> str:
        return KIND_TITLE.get(self.kind, self.kind)

    @property
    def status_title(self) -> str:
        return STATUS_TITLE.get(self.status, self.status)

    @property
    def error_title(self) -> str | None:
        return ERROR_TITLE.get(self.error_code or "", ERROR_UNKNOWN) if self.error_code else None

    @property
    def needs_a_person(self) -> bool:
        return self.status in NEEDS_A_PERSON


def _line(n: SupplierNotice, inv: InvoiceRow | None = None) -> NoticeLine:
    at = n.sent_at if n.status == "sent" and n.sent_at else (n.updated_at or n.created_at)
    return NoticeLine(id=n.id, invoice_id=n.invoice_id, kind=n.kind, status=n.status, recipient=n.recipient,
                      attempts=n.attempts, at=as_utc(at), created_at=as_utc(n.created_at), error_code=n.last_error_code,
                      resolved_by=n.resolved_by, invoice_number=inv.invoice_number if inv else None,
                      seller_name=inv.seller_name if inv else None, filename=inv.filename if inv else None)


def notices_of(db: Database, invoice_id: int) -> list[NoticeLine]:
    """Every message of one invoice, oldest first."""
    with db.sessions() as s:
        rows = s.scalars(sa.select(SupplierNotice).where(SupplierNotice.invoice_id == invoice_id)
                         .order_by(SupplierNotice.id)).all()
        return [_line(n) for n in rows]


def waiting_for_a_person(db: Database, *, limit: int = 200) -> list[NoticeLine]:
    """Dead letters, address-less and uncertain notices, the longest waiting first."""
    q = (sa.select(SupplierNotice, InvoiceRow).join(InvoiceRow, InvoiceRow.id == SupplierNotice.invoice_id)
         .where(SupplierNotice.status.in_(NEEDS_A_PERSON)).order_by(SupplierNotice.updated_at, SupplierNotice.id)
         .limit(limit))
    with db.sessions() as s:
        return [_line(n, inv) for n, inv in s.execute(q).all()]
