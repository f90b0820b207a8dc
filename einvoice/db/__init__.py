"""Database access: engine set-up for SQLite (embedded default) and PostgreSQL, and migrations.

The database is the source of truth for invoice state and approvals. The schema is created and
changed only by Alembic migrations (``einvoice/db/migrations``), never by ``create_all``, so SQLite
and PostgreSQL installations evolve the same way.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            # WAL lets the web inbox read while a flow writes; FKs are off by default in SQLite.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


#: Key of the PostgreSQL advisory lock that serialises migrations (any constant; ours is "einv").
_MIGRATION_LOCK = 0x65696E76


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """Only one process migrates a database at a time.

    Several workers starting at once on a fresh database would otherwise run the same migration
    twice and fail ("index ... already exists"). PostgreSQL: a session advisory lock; SQLite: an
    exclusive lock on a file beside the database.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if not path or path == ":memory:":
            yield
            return
        import fcntl

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(f"{path}.migrate-lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (idempotent, safe with concurrent callers)."""
    from alembic import command

    with _migration_lock(url):
        command.upgrade(alembic_config(url), revision)


class Database:
    """An engine plus a session factory; ``Database(url).migrate()`` makes it ready to use."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> "Database":
        upgrade(self.url)
        return self

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any exception."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
