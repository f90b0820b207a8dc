"""The one ``MetaData`` every ORM table of einvoice is declared on.

Each table module (``einvoice.db.models`` for invoices and their audit trail,
``einvoice.<package>.tables`` for the tables a package owns) subclasses ``Base`` and so registers
its tables here when it is imported. This module must never import a table module: the database
layer is a foundation and knows nothing of the packages above it. Whoever needs the complete
schema imports the table modules itself (tests/test_migrations.py compares it with the migrated
database); the migrations never need it, they are written by hand.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    type_annotation_map = {
        dt.datetime: sa.DateTime(timezone=True),
        Decimal: sa.Numeric(18, 2),
    }
