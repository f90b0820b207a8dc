"""ORM tables for received invoices and their audit trail.

One ``InvoiceRow`` per received file (identified by the SHA-256 of its bytes), carrying the
state, the validation verdict, the key fields of the EN 16931 model used for routing and search,
and where the original lies in the archive. ``InvoiceEvent`` rows are the append-only audit trail:
every state change writes exactly one, in the same transaction. Nothing here deletes rows.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from einvoice.db.metadata import Base


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as an aware UTC datetime: SQLite hands back naive values for timezone-aware
    columns, and everything here is written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


class InvoiceRow(Base):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    filename: Mapped[str] = mapped_column(sa.String(512))
    channel: Mapped[str] = mapped_column(sa.String(32))
    # What the channel said about the file (JSON object): e-mail message id, sender and reply
    # address; Peppol SBDH sender/receiver participant ids, document type, instance id; uploader.
    # Kept as evidence and for answering the supplier (notices); never used as invoice content.
    channel_json: Mapped[str | None] = mapped_column(sa.Text)
    size: Mapped[int]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    state: Mapped[str] = mapped_column(sa.String(32), index=True)
    # Optimistic locking: two approvers acting at once cannot both win (UPDATE ... WHERE version = n).
    version: Mapped[int] = mapped_column(default=1)

    # Validation verdict (the full report is archived and kept here as JSON for the inbox).
    container: Mapped[str | None] = mapped_column(sa.String(16))
    syntax: Mapped[str | None] = mapped_column(sa.String(32))
    profile: Mapped[str | None] = mapped_column(sa.String(255))
    valid: Mapped[bool | None]
    verdict: Mapped[str] = mapped_column(sa.Text, default="")
    report_json: Mapped[str | None] = mapped_column(sa.Text)

    # Key EN 16931 fields (BT numbers) for routing, search and deadlines.
    invoice_number: Mapped[str | None] = mapped_column(sa.String(255), index=True)  # BT-1
    issue_date: Mapped[dt.date | None] = mapped_column(index=True)  # BT-2 (near-duplicate look-up)
    type_code: Mapped[str | None] = mapped_column(sa.String(8))  # BT-3
    currency: Mapped[str | None] = mapped_column(sa.String(3))  # BT-5
    due_date: Mapped[dt.date | None]  # BT-9
    leitweg_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)  # BT-10
    order_reference: Mapped[str | None] = mapped_column(sa.String(255))  # BT-13
    seller_name: Mapped[str | None] = mapped_column(sa.String(255))  # BT-27
    seller_vat_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)  # BT-31
    seller_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)  # BT-29 (duplicate check looks it up)
    amount_due: Mapped[Decimal | None]  # BT-115
    tax_inclusive_amount: Mapped[Decimal | None]  # BT-112
    iban: Mapped[str | None] = mapped_column(sa.String(34))  # BT-84
    skonto_until: Mapped[dt.date | None]  # from BT-20 (#SKONTO#TAGE=n#), counted from BT-2
    skonto_percent: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))
    # Every usable Skonto term (JSON: until, percent, days, base_amount; einvoice.model.skonto); the two
    # columns above hold the term that applies on the issue date, for lists and sorting.
    skonto_terms: Mapped[str | None] = mapped_column(sa.Text)

    # Routing (dezentrale Ressourcenverantwortung).
    department: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    routing_rule: Mapped[str | None] = mapped_column(sa.String(64))
    routing_reason: Mapped[str | None] = mapped_column(sa.Text)

    # Where the original lies in the archive.
    archive_entry_id: Mapped[str | None] = mapped_column(sa.String(128))
    archive_sequence: Mapped[int | None]
    archive_original_key: Mapped[str | None] = mapped_column(sa.String(255))
    archive_retain_until: Mapped[dt.datetime | None]

    events: Mapped[list["InvoiceEvent"]] = relationship(back_populates="invoice", order_by="InvoiceEvent.id")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # The search box (approval service): an exact amount, and substrings of supplier, number and
        # Leitweg-ID, which on PostgreSQL are trigram GIN indexes (pg_trgm; migration 0014).
        sa.Index("ix_invoices_amount_due", "amount_due"),
        *(sa.Index(f"ix_invoices_{column}_trgm", sa.func.lower(sa.column(column)), postgresql_using="gin")
          for column in ("seller_name", "invoice_number", "leitweg_id")),
    )


class InvoiceEvent(Base):
    """Audit event: who did what, in which role, when, with which amount and comment."""

    __tablename__ = "invoice_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(64))  # person id, or "system"
    role: Mapped[str | None] = mapped_column(sa.String(32))
    on_behalf_of: Mapped[str | None] = mapped_column(sa.String(64))  # set when a deputy acts
    action: Mapped[str] = mapped_column(sa.String(64))
    from_state: Mapped[str | None] = mapped_column(sa.String(32))
    to_state: Mapped[str | None] = mapped_column(sa.String(32))
    amount: Mapped[Decimal | None]
    comment: Mapped[str | None] = mapped_column(sa.Text)
    details_json: Mapped[str | None] = mapped_column(sa.Text)

    invoice: Mapped[InvoiceRow] = relationship(back_populates="events")


class ArchivedRecord(Base):
    """A follow-up archive entry written for a database record (``einvoice.followups.records``).

    ``kind`` says what was archived and ``source_id`` which row: ``approval-trail`` and the
    ``invoice_events.id`` of the decision that ended the approval chain, or ``payment-run`` and the
    ``payment_runs.id``. One row per source: the record is archived once.
    """

    __tablename__ = "archived_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    source_id: Mapped[int]
    invoice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    entry_id: Mapped[str] = mapped_column(sa.String(512))
    sequence: Mapped[int]
    leaf_hash: Mapped[str] = mapped_column(sa.String(64))
    archived_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.UniqueConstraint("kind", "source_id", name="uq_archived_records_source"),)


class ArchiveCursor(Base):
    """How far ``einvoice.followups.records`` has settled a kind: every source row up to ``through_id`` is archived.

    Lets the poller look only at rows after the cursor instead of the whole audit trail.
    """

    __tablename__ = "archive_cursors"

    kind: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    through_id: Mapped[int]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

