"""approver_notifications: approver e-mails go through the supplier-notice outbox, once per task, reason and person

Revision ID: 0015_approver_notifications
Revises: 0014_page_speed_indexes

``supplier_notices`` gets ``dedupe_key`` (the outbox's idempotency key: "" for supplier notices,
"task:<id>:<reason>:<person>" for approver notifications) and the unique constraint becomes
(invoice, kind, key): supplier notices stay one per file and kind, an invoice's tasks each get
their own notifications.
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_approver_notifications"
down_revision = "0014_page_speed_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("supplier_notices") as batch:
        batch.add_column(sa.Column("dedupe_key", sa.String(200), nullable=False, server_default=""))
        batch.drop_constraint("uq_supplier_notices_invoice_kind", type_="unique")
        batch.create_unique_constraint("uq_supplier_notices_invoice_kind_key", ["invoice_id", "kind", "dedupe_key"])


def downgrade() -> None:
    # Approver notifications have no place in the old schema (one row per invoice and kind).
    op.execute("DELETE FROM supplier_notices WHERE dedupe_key <> ''")
    with op.batch_alter_table("supplier_notices") as batch:
        batch.drop_constraint("uq_supplier_notices_invoice_kind_key", type_="unique")
        batch.create_unique_constraint("uq_supplier_notices_invoice_kind", ["invoice_id", "kind"])
        batch.drop_column("dedupe_key")
