"""Throw-away PostgreSQL schemas and databases for tests and benchmarks.

Each run gets its own schema (or database) so parallel and repeated runs never see each other's
rows, and it is dropped afterwards. This module must never be pointed at a production database's
own schema: it only creates and drops what it named itself.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa


def with_search_path(url: str, schema: str) -> str:
    """``url`` with libpq's ``options=-csearch_path=<schema>``: every connection works in that schema."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@contextmanager
def scratch_schema(base_url: str, prefix: str = "t") -> Iterator[str]:
    """Create a fresh schema, yield a URL whose connections use it, drop it (with its tables) after."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield with_search_path(base_url, schema)
        finally:
            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        engine.dispose()


@contextmanager
def scratch_database(base_url: str, prefix: str, *, extensions: tuple[str, ...] = ()) -> Iterator[sa.URL]:
    """Create a fresh database (with ``extensions``), yield its URL, drop it after.

    The Prefect server needs a database of its own with ``pg_trgm``."""
    url = sa.engine.make_url(base_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            if extensions:
                engine = sa.create_engine(url.set(database=name))
                with engine.begin() as conn:
                    for ext in extensions:
                        conn.execute(sa.text(f'CREATE EXTENSION IF NOT EXISTS "{ext}"'))
                engine.dispose()
            yield url.set(database=name)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
