"""ORM tables of the web inbox: local sign-in accounts and server-side sessions.

``WebAccount`` holds an argon2 hash per person of the organisation file (who a person *is* and
which grants they hold stays in the organisation file; this table only says how they prove it).
``WebSession`` is one signed-in browser: the cookie carries a random token, the table keeps only
its SHA-256, so a copy of the database does not let anyone take over a session. ``WebDemoMarker``
says that the database was created empty for a demo, the only kind of database where
``einvoice-dev seed-web-demo`` (devtools.web_demo) may give everybody the published demo password. This module must
never store a password or a session token in clear text, and holds no business rule.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from einvoice.db.metadata import Base
from einvoice.db.models import utcnow


class WebAccount(Base):
    __tablename__ = "web_accounts"

    person_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # Person.id of the organisation file
    password_hash: Mapped[str] = mapped_column(sa.String(255))  # argon2id, salt and parameters included
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Guessing passwords gets slow: after too many failures the account waits until locked_until.
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None]


class WebSession(Base):
    __tablename__ = "web_sessions"

    token_sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))  # per session; every POST form carries it
    via: Mapped[str] = mapped_column(sa.String(16))  # password | proxy
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class WebDemoMarker(Base):
    """One row (id 1) in a demo database; written only into a fresh, empty database (see auth.mark_demo_database)."""

    __tablename__ = "web_demo_marker"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.CheckConstraint("id = 1", name="ck_web_demo_marker_single_row"),)
