"""payment_runs: two-person release before the file goes to the bank

Revision ID: 0009
Revises: 0008_web_demo_marker

A payment run is prepared (status ``created``), released by a first and then by a second person of
the Kasse (§ 31 Abs. 3 KomHVO NRW: ``first_release`` → ``released``); only then are its invoices
paid and its file written for the bank. Runs recorded before this migration were paid and written
at once, so they count as ``released``.
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008_web_demo_marker"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_runs") as batch:
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="released"))
        batch.add_column(sa.Column("first_release_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("first_released_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("second_release_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("second_released_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payment_runs") as batch:
        for col in ("second_released_at", "second_release_by", "first_released_at", "first_release_by", "status"):
            batch.drop_column(col)
