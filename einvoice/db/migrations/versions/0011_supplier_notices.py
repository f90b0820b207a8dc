"""supplier_notices: the outbox of notices telling suppliers what became of their files

Revision ID: 0011_supplier_notices
Revises: 0010

One row per received file and kind (rejected, not_validated, not_an_invoice, received), unique,
so each notice is queued and sent at most once; the exact message bytes and Message-ID are kept.
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_supplier_notices"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supplier_notices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("invoice_id", sa.Integer(), sa.ForeignKey("invoices.id"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=64), nullable=True),
        sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("addresses_json", sa.Text(), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("recipient_source", sa.String(length=32), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("message", sa.LargeBinary(), nullable=True),
        sa.Column("message_sha256", sa.String(length=64), nullable=True),
        sa.Column("last_error_code", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archive_entry_id", sa.String(length=255), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.UniqueConstraint("invoice_id", "kind", name="uq_supplier_notices_invoice_kind"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_supplier_notices_invoice_id", "supplier_notices", ["invoice_id"])
    op.create_index("ix_supplier_notices_status", "supplier_notices", ["status"])


def downgrade() -> None:
    op.drop_index("ix_supplier_notices_status", table_name="supplier_notices")
    op.drop_index("ix_supplier_notices_invoice_id", table_name="supplier_notices")
    op.drop_table("supplier_notices")
