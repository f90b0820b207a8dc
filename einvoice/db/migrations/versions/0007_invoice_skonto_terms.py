"""invoices.skonto_terms: every Skonto term of BT-20, so deadlines and payments apply one rule to all of them;
index invoices.issue_date: the duplicate check finds near duplicates by issue date and amount (it no
longer narrows by the VAT ID as written, which differs between "DE 812 345 673" and "DE812345673")

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.add_column(sa.Column("skonto_terms", sa.Text(), nullable=True))
    op.create_index("ix_invoices_issue_date", "invoices", ["issue_date"])


def downgrade() -> None:
    op.drop_index("ix_invoices_issue_date", table_name="invoices")
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.drop_column("skonto_terms")
