"""open_index_assignee: the open-task indexes carry the delegate, so the inbox stays index-only

Revision ID: 0017_open_index_assignee
Revises: 0016_task_search_columns

Every inbox list filters on ``assignee`` (a task delegated to a named person leaves the others'
inboxes, migration 0013). Without the column in the open-task indexes, PostgreSQL must visit the
table for every task it walks to read it, and a list over a million open tasks reads thousands of
table pages instead of a few index pages. PostgreSQL only (INCLUDE); SQLite's indexes are unchanged.
"""
import sqlalchemy as sa
from alembic import op

revision = "0017_open_index_assignee"
down_revision = "0016_task_search_columns"
branch_labels = None
depends_on = None

OPEN = "status = 'open'"
COPIED = ["invoice_number", "seller_name", "leitweg_id"]
#: 0016's open-task indexes: name -> (key columns, included columns).
OPEN_INDEXES = {
    "ix_approval_tasks_open_skonto": (["department", "step", "skonto_first", "amount_due", "id"],
                                      ["signed_by", "skonto_second", "skonto_last", "due_date"]),
    "ix_approval_tasks_open_skonto_step": (["step", "skonto_first", "amount_due", "id"],
                                           ["department", "signed_by", "skonto_second", "skonto_last", "due_date"]),
    "ix_approval_tasks_open_due": (["department", "step", "due_date", "amount_due", "id"], ["signed_by", "skonto_last"]),
    "ix_approval_tasks_open_due_step": (["step", "due_date", "amount_due", "id"], ["department", "signed_by", "skonto_last"]),
}


def _recreate(extra: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    where = sa.text(OPEN)
    for name, (columns, included) in OPEN_INDEXES.items():
        op.drop_index(name, table_name="approval_tasks")
        columns = [sa.text("amount_due DESC NULLS LAST") if c == "amount_due" else c for c in columns]
        op.create_index(name, "approval_tasks", columns, postgresql_include=included + COPIED + extra,
                        postgresql_where=where)


def upgrade() -> None:
    _recreate(["assignee"])


def downgrade() -> None:
    _recreate([])
