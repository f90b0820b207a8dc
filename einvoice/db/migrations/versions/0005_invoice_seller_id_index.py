"""index invoices.seller_id: the duplicate check looks invoices up by seller ID (BT-29)

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_invoices_seller_id", "invoices", ["seller_id"])


def downgrade() -> None:
    op.drop_index("ix_invoices_seller_id", table_name="invoices")
