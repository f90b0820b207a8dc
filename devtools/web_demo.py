"""Demo sign-in accounts: every person of the example town gets the published demo password.

Only on a database marked as a demo database (table ``web_demo_marker``, migration 0008), and a
database becomes one only while it is fresh (no invoice, no sign-in account): a database in use is
never turned into one where everybody's password is published. This is demo tooling; the product
(einvoice) never imports it, and it must never weaken that guard.
"""
from __future__ import annotations

import sqlalchemy as sa

from einvoice.db import Database
from einvoice.db.models import InvoiceRow
from einvoice.organisation import Organisation
from einvoice.web.auth import set_password
from einvoice.web.tables import WebAccount, WebDemoMarker

#: The published demo password: for the example town only, never for real people.
DEMO_PASSWORD = "Musterhausen-2026"


class NotADemoDatabase(Exception):
    """``seed_demo_accounts`` on a database that is not (or no longer) a demo database."""

    def __init__(self, rule: str, message: str):
        super().__init__(f"[{rule}] {message}")
        self.rule, self.message = rule, message


def mark_demo_database(db: Database) -> None:
    """Declare a *fresh* database a demo database, so ``seed_demo_accounts`` may later run on it.

    Refused (``NotADemoDatabase``) once the database holds any invoice or any sign-in account.
    Marking an already marked database is a no-op.
    """
    with db.transaction() as s:
        if s.get(WebDemoMarker, 1) is not None:
            return
        invoices = s.scalar(sa.select(sa.func.count()).select_from(InvoiceRow))
        accounts = s.scalar(sa.select(sa.func.count()).select_from(WebAccount))
        if invoices or accounts:
            raise NotADemoDatabase("DEMO-DATABASE-NOT-EMPTY", (
                f"this database already holds {invoices} invoice(s) and {accounts} sign-in account(s); only a fresh, "
                "empty database can become a demo database (every person's password would be the published demo password)"))
        s.add(WebDemoMarker(id=1))


def is_demo_database(db: Database) -> bool:
    with db.sessions() as s:
        return s.get(WebDemoMarker, 1) is not None


def seed_demo_accounts(db: Database, org: Organisation, password: str = DEMO_PASSWORD) -> dict[str, str]:
    """Give every person of the (example) organisation the known demo password; returns id -> password.

    Only on a database marked by ``mark_demo_database`` (raises ``NotADemoDatabase`` otherwise).
    """
    if not is_demo_database(db):
        raise NotADemoDatabase("DEMO-DATABASE-REQUIRED", (
            "this database is not marked as a demo database, so nobody's password is set to the published demo "
            "password; a demo marks its fresh database first (einvoice-dev seed-web-demo --new-demo-database)"))
    for p in org.people:
        set_password(db, org, p.id, password)  # the product's own path: argon2 hash, sessions ended
    return {p.id: password for p in org.people}
