"""ORM table of the supplier-notice outbox (``einvoice.notices``).

One row per received file and kind of notice (unique), so a file is never told twice what
happened to it. Approver notifications (``einvoice.notices.approvers``: new task, Skonto ending,
escalation) share the table as a second kind of message: their ``dedupe_key`` names the task,
the reason and the person (the outbox's idempotency key), so each is sent at most once; supplier
notices keep the empty key, one per file and kind. The message is built once, on the first attempt, and its exact bytes (RFC 5322)
and Message-ID are stored: every retry sends, and the archive keeps, the same message. Rows are
never deleted.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from einvoice.db.metadata import Base
from einvoice.db.models import utcnow


class SupplierNotice(Base):
    __tablename__ = "supplier_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    # rejected | not_validated | not_an_invoice | received (acknowledgement)
    kind: Mapped[str] = mapped_column(sa.String(32))
    # The idempotency key within (invoice, kind): "" for supplier notices, "task:<id>:<reason>:<person>"
    # for approver notifications.
    dedupe_key: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    # pending | in_flight | sent | dead | no_address | uncertain
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    lease_until: Mapped[dt.datetime | None]
    leased_by: Mapped[str | None] = mapped_column(sa.String(64))
    # set (committed) just before the message content goes to the server: a crash after it may
    # have delivered the message, so the row is not sent again on its own (see einvoice.notices)
    handed_over_at: Mapped[dt.datetime | None]
    # What the intake knew about the seller's addresses (BT-34 with scheme, BT-43), JSON.
    addresses_json: Mapped[str | None] = mapped_column(sa.Text)
    recipient: Mapped[str | None] = mapped_column(sa.String(320))
    recipient_source: Mapped[str | None] = mapped_column(sa.String(32))
    message_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    message: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    message_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    last_error_code: Mapped[str | None] = mapped_column(sa.String(64))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    archive_entry_id: Mapped[str | None] = mapped_column(sa.String(255))
    archived_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(sa.String(64))
    resolution: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (sa.UniqueConstraint("invoice_id", "kind", "dedupe_key", name="uq_supplier_notices_invoice_kind_key"),)
