"""inbox_order: the inbox orders by open Skonto first, then due date, overdue after

Revision ID: 0012_inbox_order
Revises: 0011_supplier_notices

``approval_tasks`` gets the invoice's due date (BT-9) and the dates the Skonto shown takes as the
days pass (``einvoice.approval.deadlines.skonto_dates``: first, second, last), copied when a task
opens, so the inbox sorts in SQL: tasks whose Skonto is still open, the one ending soonest first;
then by due date; overdue tasks without an open Skonto after them. Indexes let each group be read
in order per (department, step) and per step (Stadtkasse). Open tasks are filled in here.
"""
import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0012_inbox_order"
down_revision = "0011_supplier_notices"
branch_labels = None
depends_on = None

COLUMNS = ("due_date", "skonto_first", "skonto_second", "skonto_last")


def upgrade() -> None:
    with op.batch_alter_table("approval_tasks") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Date(), nullable=True))
    op.create_index("ix_approval_tasks_skonto", "approval_tasks", ["status", "department", "step", "skonto_first", "id"])
    op.create_index("ix_approval_tasks_skonto_step", "approval_tasks", ["status", "step", "skonto_first", "id"])
    op.create_index("ix_approval_tasks_due", "approval_tasks", ["status", "department", "step", "due_date", "id"])
    op.create_index("ix_approval_tasks_due_step", "approval_tasks", ["status", "step", "due_date", "id"])
    # Invoices with several Skonto dates, after their first has passed (rare: a small partial index).
    where = sa.text("skonto_second IS NOT NULL")
    op.create_index("ix_approval_tasks_skonto_later", "approval_tasks", ["status", "skonto_last"],
                    postgresql_where=where, sqlite_where=where)

    bind = op.get_bind()
    bind.execute(sa.text("UPDATE approval_tasks SET due_date = (SELECT i.due_date FROM invoices i "
                         "WHERE i.id = approval_tasks.invoice_id) WHERE status = 'open'"))
    # The Skonto dates by the one Skonto rule (einvoice.model.skonto), for open tasks with any Skonto.
    from einvoice.approval.deadlines import skonto_dates

    class _Row:
        def __init__(self, m):
            # SQLite hands dates and numbers back as text from a plain SQL query.
            until, percent, amount = m["skonto_until"], m["skonto_percent"], m["amount_due"]
            self.skonto_terms = m["skonto_terms"]
            self.skonto_until = dt.date.fromisoformat(until[:10]) if isinstance(until, str) else until
            self.skonto_percent = None if percent is None else Decimal(str(percent))
            self.amount_due = None if amount is None else Decimal(str(amount))

    rows = bind.execute(sa.text(
        "SELECT t.id, i.skonto_terms, i.skonto_until, i.skonto_percent, i.amount_due FROM approval_tasks t "
        "JOIN invoices i ON i.id = t.invoice_id WHERE t.status = 'open' "
        "AND (i.skonto_terms IS NOT NULL OR i.skonto_until IS NOT NULL)")).mappings().all()
    updates = []
    for m in rows:
        first, second, last = skonto_dates(_Row(m))
        if first is not None:
            updates.append({"id": m["id"], "f": first, "s": second, "l": last})
    if updates:
        bind.execute(sa.text("UPDATE approval_tasks SET skonto_first = :f, skonto_second = :s, skonto_last = :l "
                             "WHERE id = :id"), updates)


def downgrade() -> None:
    for name in ("ix_approval_tasks_skonto_later", "ix_approval_tasks_due_step", "ix_approval_tasks_due",
                 "ix_approval_tasks_skonto_step", "ix_approval_tasks_skonto"):
        op.drop_index(name, table_name="approval_tasks")
    with op.batch_alter_table("approval_tasks") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
