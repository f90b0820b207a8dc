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
