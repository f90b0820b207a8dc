"""task_search_columns: open tasks carry what the search reads, so a search walks the inbox index; signer lists

Revision ID: 0016_task_search_columns
Revises: 0015_approver_notifications

A search term that many invoices match ("lieferant 12" in a list of a million) is answered fastest
by walking the person's open tasks in inbox order and keeping the hits until the page is full: the
trigram indexes (0014) would first find every matching invoice (thousands) and then their tasks.
For that walk to stay inside the index (no table visit per task), the tasks get copies of the two
invoice columns the search box reads, ``invoice_number`` (BT-1), ``seller_name`` (BT-27) and
``leitweg_id`` (BT-10, the web's search; the amount is on the task already), all set at intake and
never changed afterwards, and the open-task indexes of 0014 carry them. Open
tasks get their values here; done tasks are never listed and keep NULL.

A scope (department, step) in which a person signed an earlier step of every open task leaves
them nothing there (separation of duties): an index of the open tasks' signer lists lets the
inbox see that from a few entries and skip the scope instead of reading all its tasks to show none.

The open-task indexes now hold the amount in the direction the inbox order reads it (larger first,
``amount_due DESC NULLS LAST``): a walk in that order then reads exactly the rows it returns. With
the amount ascending, PostgreSQL had to read and sort every task of a day before returning the
first, and for a search whose hits it cannot estimate it chose to read the whole range instead.
"""
import sqlalchemy as sa
from alembic import op

revision = "0016_task_search_columns"
down_revision = "0015_approver_notifications"
branch_labels = None
depends_on = None

OPEN = "status = 'open'"
#: The distinct signer lists of a (department, step)'s open tasks, read a few at a time: a person who
#: signed an earlier step of every one of them has nothing to do there (ApprovalService._unblocked).
SIGNED = "ix_approval_tasks_open_signed"
#: column -> length, as on invoices.
COPIED = {"invoice_number": 255, "seller_name": 255, "leitweg_id": 64}
#: 0014's open-task indexes: name -> (key columns, included columns before this migration).
OPEN_INDEXES = {
    "ix_approval_tasks_open_skonto": (["department", "step", "skonto_first", "amount_due", "id"],
                                      ["signed_by", "skonto_second", "skonto_last", "due_date"]),
    "ix_approval_tasks_open_skonto_step": (["step", "skonto_first", "amount_due", "id"],
                                           ["department", "signed_by", "skonto_second", "skonto_last", "due_date"]),
    "ix_approval_tasks_open_due": (["department", "step", "due_date", "amount_due", "id"], ["signed_by", "skonto_last"]),
    "ix_approval_tasks_open_due_step": (["step", "due_date", "amount_due", "id"], ["department", "signed_by", "skonto_last"]),
}


def _amount_desc():
    """The inbox order's direction of the amount (einvoice.approval.service.inbox_order: larger
    first, none last). SQLite sorts NULL last in DESC anyway and allows no NULLS LAST in an index."""
    postgres = op.get_bind().dialect.name == "postgresql"
    return sa.text("amount_due DESC NULLS LAST" if postgres else "amount_due DESC")


def _indexes(extra: list[str], amount=None) -> None:
    amount = amount or _amount_desc()
    where = sa.text(OPEN)
    for name, (columns, included) in OPEN_INDEXES.items():
        columns = [amount if c == "amount_due" else c for c in columns]
        op.create_index(name, "approval_tasks", columns, postgresql_include=included + extra,
                        postgresql_where=where, sqlite_where=where)


def upgrade() -> None:
    for name in OPEN_INDEXES:  # dropped first: the copy below then maintains fewer indexes
        op.drop_index(name, table_name="approval_tasks")
    for column, length in COPIED.items():
        op.add_column("approval_tasks", sa.Column(column, sa.String(length), nullable=True))
    # A correlated subquery, not UPDATE ... FROM: the same statement on SQLite and PostgreSQL.
    op.execute("UPDATE approval_tasks SET " + ", ".join(
        f"{c} = (SELECT invoices.{c} FROM invoices WHERE invoices.id = approval_tasks.invoice_id)" for c in COPIED)
        + f" WHERE {OPEN}")
    _indexes(list(COPIED))
    op.create_index(SIGNED, "approval_tasks", ["department", "step", "signed_by"], postgresql_where=sa.text(OPEN),
                    sqlite_where=sa.text(OPEN))


def downgrade() -> None:
    op.drop_index(SIGNED, table_name="approval_tasks")
    for name in OPEN_INDEXES:
        op.drop_index(name, table_name="approval_tasks")
    with op.batch_alter_table("approval_tasks") as batch:  # SQLite cannot drop a column in place
        for column in COPIED:
            batch.drop_column(column)
    _indexes([], amount="amount_due")
