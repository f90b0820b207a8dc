"""Alembic environment: runs migrations against the URL set by einvoice.db.alembic_config."""
from alembic import context

from einvoice.db import make_engine
from einvoice.db.metadata import Base

config = context.config
# The tables of every table module imported so far; upgrading needs none of them (migrations are
# written by hand), comparing does (tests/test_migrations.py imports them all).
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        # render_as_batch: SQLite can only change tables by copying them.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
