"""ORM tables of the finance interface: posting records, their outbox, delivery attempts, payment runs.

``FinancePosting`` is the posting record exactly as it was built when the invoice was released
(JSON, with its SHA-256), one per invoice, with the idempotency key the finance system sees on
every delivery of it. ``FinanceOutbox`` is its delivery state (one row per posting): delivery
never happens inside the release transaction, only from here. ``FinanceAttempt`` logs every
delivery attempt, so connector errors stay visible after a later success. ``PaymentRun`` and
``PaymentItem`` record SEPA payment files (an item reserves its invoice from the moment the run is
prepared; the invoice is paid at the run's second release); the unique ``invoice_id`` on ``PaymentItem`` lets the
database itself refuse to pay an invoice twice. Nothing here deletes rows, and this module holds
no business rule.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from einvoice.db.metadata import Base
from einvoice.db.models import utcnow


class FinancePosting(Base):
    __tablename__ = "finance_postings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One posting per invoice: RELEASED is entered once, and the database refuses a second record.
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), unique=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    record_json: Mapped[str] = mapped_column(sa.Text)
    record_sha256: Mapped[str] = mapped_column(sa.String(64))
    # Denormalised from the record for lists and the payment run.
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(sa.String(3))
    payee_name: Mapped[str | None] = mapped_column(sa.String(255))
    # Reconciliation: the finance system's confirmation.
    booking_number: Mapped[str | None] = mapped_column(sa.String(128))
    confirmed_at: Mapped[dt.datetime | None]
    confirmation_json: Mapped[str | None] = mapped_column(sa.Text)
    # The archive entry holding record + confirmation (a follow-up of the invoice's entry).
    archive_entry_id: Mapped[str | None] = mapped_column(sa.String(128))
    archived_at: Mapped[dt.datetime | None]


class FinanceOutbox(Base):
    __tablename__ = "finance_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    posting_id: Mapped[int] = mapped_column(sa.ForeignKey("finance_postings.id"), unique=True)
    # pending | in_flight | awaiting_confirmation | delivered | dead
    status: Mapped[str] = mapped_column(sa.String(24), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # A claimed row is leased; a delivery that crashed leaves an expired lease and is taken again.
    lease_until: Mapped[dt.datetime | None]
    leased_by: Mapped[str | None] = mapped_column(sa.String(64))
    connector: Mapped[str | None] = mapped_column(sa.String(16))
    batch_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    last_error_code: Mapped[str | None] = mapped_column(sa.String(32))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    delivered_at: Mapped[dt.datetime | None]
    dead_at: Mapped[dt.datetime | None]
    # A person resolving a dead letter (retry or mark as booked by hand) is recorded here and in the audit trail.
    resolved_by: Mapped[str | None] = mapped_column(sa.String(64))
    resolved_at: Mapped[dt.datetime | None]
    resolution: Mapped[str | None] = mapped_column(sa.Text)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (sa.Index("ix_finance_outbox_due", "status", "next_attempt_at"),)


class FinanceAttempt(Base):
    __tablename__ = "finance_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(sa.ForeignKey("finance_outbox.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    connector: Mapped[str] = mapped_column(sa.String(16))
    outcome: Mapped[str] = mapped_column(sa.String(24))  # booked | duplicate | exported | retry | failed | dead
    error_code: Mapped[str | None] = mapped_column(sa.String(32))
    message: Mapped[str | None] = mapped_column(sa.Text)
    http_status: Mapped[int | None]
    duration_ms: Mapped[int | None]


class PaymentRun(Base):
    __tablename__ = "payment_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(35), unique=True)  # pain.001 MsgId: max 35
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(64), default="system")
    due_by: Mapped[dt.date]
    execution_date: Mapped[dt.date]
    count: Mapped[int]
    control_sum: Mapped[Decimal]
    skonto_taken: Mapped[Decimal]
    # The file is kept in the database too: written after the commit, it can always be re-exported.
    xml: Mapped[str] = mapped_column(sa.Text)
    xml_sha256: Mapped[str] = mapped_column(sa.String(64))
    path: Mapped[str | None] = mapped_column(sa.String(1024))
    # Two-person release (§ 31 Abs. 3 KomHVO NRW): created -> first_release -> released. The invoices
    # are paid and the file is written for the bank only after the second release.
    status: Mapped[str] = mapped_column(sa.String(16), default="created", server_default="released")
    first_release_by: Mapped[str | None] = mapped_column(sa.String(64))
    first_released_at: Mapped[dt.datetime | None]
    second_release_by: Mapped[str | None] = mapped_column(sa.String(64))
    second_released_at: Mapped[dt.datetime | None]


class PaymentItem(Base):
    __tablename__ = "payment_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("payment_runs.id"), index=True)
    # Each invoice is paid once: the database refuses a second item for it.
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), unique=True)
    end_to_end_id: Mapped[str] = mapped_column(sa.String(35))
    amount_due: Mapped[Decimal]
    amount_paid: Mapped[Decimal]
    skonto: Mapped[Decimal]
    creditor_name: Mapped[str] = mapped_column(sa.String(140))
    creditor_iban: Mapped[str] = mapped_column(sa.String(34))
    creditor_bic: Mapped[str | None] = mapped_column(sa.String(11))
    remittance: Mapped[str] = mapped_column(sa.String(140))
