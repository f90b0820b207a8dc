"""The Alembic migrations build exactly the schema the ORM models describe, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from einvoice.db import Database, alembic_config
from einvoice.db.models import Base


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
