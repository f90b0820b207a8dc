"""archived_records: follow-up archive entries (approval trails, payment runs) written for database rows

Revision ID: 0006
Revises: 0005

einvoice.followups.records archives the approval trail each time an approval chain ends and the pain.001 of
each payment run; ``archived_records`` notes which row went into which archive entry (one per
kind and source row), ``archive_cursors`` how far every source row is archived, so the poller
reads only the audit events after it instead of the whole trail.
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archived_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.String(length=512), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "source_id", name="uq_archived_records_source"),
    )
    op.create_index("ix_archived_records_invoice_id", "archived_records", ["invoice_id"])
    op.create_table(
        "archive_cursors",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("through_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind"),
    )


def downgrade() -> None:
    op.drop_table("archive_cursors")
    op.drop_index("ix_archived_records_invoice_id", table_name="archived_records")
    op.drop_table("archived_records")
