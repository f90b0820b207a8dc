"""web_demo_marker: a demo database says so (seed-demo refuses every other database)

Revision ID: 0008_web_demo_marker
Revises: 0007

``einvoice web seed-demo`` gives every person the published demo password. It runs only on a
database that carries this one-row marker, which ``einvoice.web.auth.mark_demo_database`` writes
only into a fresh database (no invoice, no sign-in account).
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_web_demo_marker"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_demo_marker",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_web_demo_marker_single_row"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("web_demo_marker")
