"""desk: clarification holds (Klärung), delegation of a task, self-set substitutes

Revision ID: 0013_desk_holds_substitutes
Revises: 0012_inbox_order

``approval_tasks`` gets the named person a task was delegated to (who, by whom, when) and a small
partial index for "delegated to me". ``clarification_holds`` records each Klärung of an invoice
(reason, expected date, who set and who released it; at most one active per invoice).
``substitutes`` holds the Abwesenheitsvertretungen people set for themselves (period, withdrawn).
"""
import sqlalchemy as sa
from alembic import op

revision = "0013_desk_holds_substitutes"
down_revision = "0012_inbox_order"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approval_tasks") as batch:
        batch.add_column(sa.Column("assignee", sa.String(64), nullable=True))
        batch.add_column(sa.Column("assigned_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
    where = sa.text("assignee IS NOT NULL")
    op.create_index("ix_approval_tasks_assignee", "approval_tasks", ["assignee", "status"],
                    postgresql_where=where, sqlite_where=where)

    op.create_table(
        "clarification_holds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("invoice_id", sa.Integer(), sa.ForeignKey("invoices.id"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_by", sa.String(64), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_note", sa.Text(), nullable=True),
    )
    op.create_index("ix_clarification_holds_invoice_id", "clarification_holds", ["invoice_id"])
    active = sa.text("released_at IS NULL")
    op.create_index("uq_clarification_holds_active", "clarification_holds", ["invoice_id"], unique=True,
                    postgresql_where=active, sqlite_where=active)

    op.create_table(
        "substitutes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person", sa.String(64), nullable=False),
        sa.Column("substitute", sa.String(64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_substitutes_person", "substitutes", ["person"])
    op.create_index("ix_substitutes_substitute", "substitutes", ["substitute"])


def downgrade() -> None:
    op.drop_index("ix_substitutes_substitute", table_name="substitutes")
    op.drop_index("ix_substitutes_person", table_name="substitutes")
    op.drop_table("substitutes")
    op.drop_index("uq_clarification_holds_active", table_name="clarification_holds")
    op.drop_index("ix_clarification_holds_invoice_id", table_name="clarification_holds")
    op.drop_table("clarification_holds")
    op.drop_index("ix_approval_tasks_assignee", table_name="approval_tasks")
    with op.batch_alter_table("approval_tasks") as batch:
        batch.drop_column("assigned_at")
        batch.drop_column("assigned_by")
        batch.drop_column("assignee")
