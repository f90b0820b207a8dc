"""page_speed_indexes: the inbox, desk and overview read open tasks only; search by substring

Revision ID: 0014_page_speed_indexes
Revises: 0013_desk_holds_substitutes

The inbox order's indexes of 0012 (and the older deadline ones, unused since 0012) covered every
task, done ones too, although the lists only ever read open tasks: done tasks pile up forever (a
sign-off record per step), open ones do not. They are replaced by partial indexes ``WHERE status =
'open'`` that also carry every column the lists filter on (the person's sign-offs, the Skonto and
due dates, the amount for Wertgrenzen): PostgreSQL answers the walk in inbox order and the counts
per group from the index alone (index-only scans), without visiting the table.

The search box matches substrings (``lower(x) LIKE '%…%'``) of the supplier, the invoice number
and the Leitweg-ID; a B-tree cannot answer that, so on PostgreSQL these get trigram GIN indexes
(``pg_trgm``). The extension is created in ``public`` when it is missing (never in a scratch or
tenant schema, whose drop would take it away from every other schema); where it cannot be created
the indexes are plain B-trees on ``lower(x)`` and the search still works, only slower. SQLite gets
the plain expression indexes (same names, so the schema matches the models). The exact amount a
search may also name gets a B-tree.
"""
import sqlalchemy as sa
from alembic import op

revision = "0014_page_speed_indexes"
down_revision = "0013_desk_holds_substitutes"
branch_labels = None
depends_on = None

OPEN = "status = 'open'"
#: name -> (key columns, included columns): each group of the inbox order read in order, per
#: (department, step) and per step (Stadtkasse, desk and overview over all steps).
OPEN_INDEXES = {
    "ix_approval_tasks_open_skonto": (["department", "step", "skonto_first", "amount_due", "id"],
                                      ["signed_by", "skonto_second", "skonto_last", "due_date"]),
    "ix_approval_tasks_open_skonto_step": (["step", "skonto_first", "amount_due", "id"],
                                           ["department", "signed_by", "skonto_second", "skonto_last", "due_date"]),
    "ix_approval_tasks_open_due": (["department", "step", "due_date", "amount_due", "id"], ["signed_by", "skonto_last"]),
    "ix_approval_tasks_open_due_step": (["step", "due_date", "amount_due", "id"], ["department", "signed_by", "skonto_last"]),
}
#: The 0004/0012 indexes the partial ones replace (name -> columns), for the downgrade.
REPLACED = {
    "ix_approval_tasks_inbox": ["status", "department", "step", "deadline", "id"],
    "ix_approval_tasks_inbox_step": ["status", "step", "deadline", "id"],
    "ix_approval_tasks_skonto": ["status", "department", "step", "skonto_first", "id"],
    "ix_approval_tasks_skonto_step": ["status", "step", "skonto_first", "id"],
    "ix_approval_tasks_due": ["status", "department", "step", "due_date", "id"],
    "ix_approval_tasks_due_step": ["status", "step", "due_date", "id"],
}
#: invoices column -> index name of the search box's substring indexes.
SEARCHED = {"seller_name": "ix_invoices_seller_name_trgm", "invoice_number": "ix_invoices_invoice_number_trgm",
            "leitweg_id": "ix_invoices_leitweg_id_trgm"}


def _trigram_schema(bind) -> str | None:
    """The schema holding pg_trgm (created in ``public`` if missing), or None if it cannot be had."""
    find = sa.text("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                   "WHERE e.extname = 'pg_trgm'")
    schema = bind.scalar(find)
    if schema is not None:
        return schema
    try:
        with bind.begin_nested():  # a refusal (no privilege, not installed) must not abort the migration
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
    except sa.exc.DBAPIError:
        pass
    return bind.scalar(find)  # also when a concurrent migration created it first


def upgrade() -> None:
    bind = op.get_bind()
    for name in REPLACED:
        op.drop_index(name, table_name="approval_tasks")
    where = sa.text(OPEN)
    for name, (columns, included) in OPEN_INDEXES.items():
        op.create_index(name, "approval_tasks", columns, postgresql_include=included,
                        postgresql_where=where, sqlite_where=where)
    op.create_index("ix_invoices_amount_due", "invoices", ["amount_due"])
    trigram = _trigram_schema(bind) if bind.dialect.name == "postgresql" else None
    for column, name in SEARCHED.items():
        if trigram is not None:
            ops = f'"{trigram}".gin_trgm_ops'
            op.execute(f"CREATE INDEX {name} ON invoices USING gin (lower({column}) {ops})")
        else:
            op.create_index(name, "invoices", [sa.text(f"lower({column})")])


def downgrade() -> None:
    for name in SEARCHED.values():
        op.drop_index(name, table_name="invoices")
    op.drop_index("ix_invoices_amount_due", table_name="invoices")
    for name in OPEN_INDEXES:
        op.drop_index(name, table_name="approval_tasks")
    for name, columns in REPLACED.items():
        op.create_index(name, "approval_tasks", columns)
