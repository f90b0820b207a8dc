"""The Alembic migrations build exactly the schema the ORM models describe, on SQLite and PostgreSQL."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from einvoice.approval import tables as _approval_tables  # each import registers its tables on Base
from einvoice.db import Database, alembic_config
from einvoice.db import models as _invoice_tables
from einvoice.db.metadata import Base
from einvoice.finance import tables as _finance_tables
from einvoice.notices import tables as _notice_tables
from einvoice.web import tables as _web_tables

#: The table modules imported above: every table the product declares must be compared.
TABLE_MODULES = {_invoice_tables, _approval_tables, _finance_tables, _notice_tables, _web_tables}


def test_every_table_module_is_compared():
    """A new ``tables.py`` (or a table declared elsewhere) must be added to the imports above."""
    package = Path(_invoice_tables.__file__).resolve().parents[1]
    declaring = {path for path in package.rglob("*.py")
                 if "(Base)" in path.read_text(encoding="utf-8") and "migrations" not in path.parts}
    assert declaring == {Path(module.__file__).resolve() for module in TABLE_MODULES}


def test_migrated_schema_equals_models_and_downgrade_works(database_url):
    db = Database(database_url).migrate()
    try:
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"models and migrations disagree; write a migration for: {diff}"
        command.downgrade(alembic_config(database_url), "base")
        command.upgrade(alembic_config(database_url), "head")
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        db.dispose()


def test_concurrent_migrations_on_a_fresh_database_do_not_collide(database_url):
    """Workers starting together on an empty database: one migrates, the others find it done."""
    import threading

    from einvoice.db import upgrade

    errors: list[BaseException] = []

    def run():
        try:
            upgrade(database_url)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "concurrent migrations hung"
    assert errors == []
    db = Database(database_url)
    try:
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        db.dispose()


def test_inbox_order_migration_fills_open_tasks(database_url):
    """0012_inbox_order copies the due date and the Skonto dates onto tasks that are open when it runs."""
    import datetime as dt
    import json

    import sqlalchemy as sa

    cfg = alembic_config(database_url)
    command.upgrade(cfg, "0011_supplier_notices")
    engine = sa.create_engine(database_url)
    terms = json.dumps([{"until": "2026-11-10", "percent": "3.00", "days": 10, "base_amount": None},
                        {"until": "2026-11-20", "percent": "2.00", "days": 20, "base_amount": None}])
    try:
        with engine.begin() as conn:
            for i, (skonto_terms, until, percent) in enumerate(((terms, None, None), (None, "2026-11-14", "2.00"), (None, None, None)), 1):
                conn.execute(sa.text(
                    "INSERT INTO invoices (id, file_sha256, filename, channel, size, received_at, updated_at, state, version, "
                    "verdict, amount_due, due_date, skonto_until, skonto_percent, skonto_terms) VALUES (:id, :sha, 'x.xml', 'test', 1, "
                    ":now, :now, 'in_approval', 1, 'valid', 1000.00, '2026-12-01', :until, :percent, :terms)"),
                    {"id": i, "sha": f"{i:064d}", "now": dt.datetime(2026, 11, 1), "until": until, "percent": percent,
                     "terms": skonto_terms})
                conn.execute(sa.text("INSERT INTO approval_tasks (id, invoice_id, step, department, status, created_at, version, "
                                     "signoff_valid) VALUES (:id, :id, 'sachlich', '66', 'open', :now, 1, false)"),
                             {"id": i, "now": dt.datetime(2026, 11, 1)})
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, due_date, skonto_first, skonto_second, skonto_last FROM approval_tasks "
                                        "ORDER BY id")).all()
        as_date = lambda v: None if v is None else (v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)[:10]))  # noqa: E731
        got = [tuple(as_date(v) for v in r[1:]) for r in rows]
        d = dt.date
        assert got == [(d(2026, 12, 1), d(2026, 11, 10), None, d(2026, 11, 20)),
                       (d(2026, 12, 1), d(2026, 11, 14), None, d(2026, 11, 14)),
                       (d(2026, 12, 1), None, None, None)]
    finally:
        engine.dispose()


def test_search_columns_migration_fills_open_tasks(database_url):
    """0016_task_search_columns copies the invoice number, supplier and Leitweg-ID onto tasks open when it runs."""
    import datetime as dt

    import sqlalchemy as sa

    cfg = alembic_config(database_url)
    command.upgrade(cfg, "0014_page_speed_indexes")
    engine = sa.create_engine(database_url)
    now = dt.datetime(2026, 11, 1)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO invoices (id, file_sha256, filename, channel, size, received_at, updated_at, state, version, "
                "verdict, invoice_number, seller_name, leitweg_id) VALUES (1, :sha, 'x.xml', 'test', 1, :now, :now, "
                "'in_approval', 1, 'valid', 'RE-2026-17', 'Kanal AG', '05999000-66-70')"), {"sha": "1" * 64, "now": now})
            for task_id, status in ((1, "done"), (2, "open")):
                conn.execute(sa.text("INSERT INTO approval_tasks (id, invoice_id, step, department, status, created_at, "
                                     "version, signoff_valid) VALUES (:id, 1, 'sachlich', '66', :status, :now, 1, false)"),
                             {"id": task_id, "status": status, "now": now})
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, invoice_number, seller_name, leitweg_id FROM approval_tasks "
                                        "ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, None, None, None), (2, "RE-2026-17", "Kanal AG", "05999000-66-70")]
    finally:
        engine.dispose()
