"""Fixtures for the approval tests: the Musterhausen organisation plus test people, a migrated
database per test (SQLite, and PostgreSQL when EINVOICE_TEST_DATABASE_URL is set), a movable
clock, and a helper that inserts Invoice rows directly (no validator involved)."""
from __future__ import annotations

import copy
import datetime as dt
import uuid
from decimal import Decimal

import pytest
import yaml

from einvoice.approval import ApprovalService, start_approval
from einvoice.db import Database
from einvoice.db.models import InvoiceEvent, InvoiceRow
from einvoice.organisation import parse_organisation
from einvoice.settings import REPO_EXAMPLE_ORG

TODAY = dt.date(2026, 11, 23)
IN_ABSENCE = dt.date(2026, 12, 22)  # a.schulz is away 21.12.2026–03.01.2027, b.keller stands in

#: People the tests need beyond the example town (added here, not to the shared example file).
EXTRA_PEOPLE = [
    {"id": "l.schmitt", "name": "Lena Schmitt", "grants": [
        {"department": "66", "role": "rechnerisch"}, {"department": "66", "role": "anordnen", "limit_eur": 25000}]},
    {"id": "m.vogel", "name": "Max Vogel", "grants": [{"department": "66", "role": "sachlich", "limit_eur": 1000}]},
    {"id": "n.koch", "name": "Nora Koch", "grants": [{"department": "40", "role": "rechnerisch"}]},
    {"id": "o.berg", "name": "Olaf Berg", "grants": [{"department": "20", "role": "rechnerisch"}]},
    {"id": "p.roth", "name": "Paula Roth", "grants": [{"department": "66", "role": "anordnen"}]},
    {"id": "q.fuchs", "name": "Quirin Fuchs", "grants": [{"department": "20", "role": "treasury", "limit_eur": 5000}]},
]


def org_data() -> dict:
    data = yaml.safe_load(REPO_EXAMPLE_ORG.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    known = {p["id"] for p in data["people"]}
    data["people"].extend(p for p in EXTRA_PEOPLE if p["id"] not in known)
    return data


@pytest.fixture(scope="session")
def org():
    return parse_organisation(org_data(), "musterhausen+test-people")


@pytest.fixture
def db(database_url):
    database = Database(database_url).migrate()
    yield database
    database.dispose()


class Clock:
    def __init__(self, today: dt.date = TODAY):
        self.today = today

    def __call__(self) -> dt.date:
        return self.today


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(db, org, clock) -> ApprovalService:
    return ApprovalService(db, org, today=clock, on_release=[])


def add_invoice(db: Database, org, *, department: str | None = "66", amount: str | Decimal = "1190.00",
                number: str | None = None, seller_vat_id: str | None = "DE123456789", seller_id: str | None = None,
                issue_date: dt.date = dt.date(2026, 11, 2), due_date: dt.date | None = dt.date(2026, 12, 2),
                skonto_until: dt.date | None = None, skonto_percent: str | None = None,
                state: str = "in_approval", seller_name: str = "Tiefbau Muster GmbH",
                routing_rule: str = "leitweg-id", leitweg_id: str | None = None) -> int:
    """Insert an invoice as intake would (received event + start_approval in one transaction)."""
    with db.transaction() as s:
        row = InvoiceRow(
            file_sha256=uuid.uuid4().hex + uuid.uuid4().hex, filename="test.xml", channel="test", size=1,
            state=state, valid=True, verdict="valid", invoice_number=number or f"RE-{uuid.uuid4().hex[:8]}",
            issue_date=issue_date, type_code="380", currency="EUR", due_date=due_date,
            seller_name=seller_name, seller_vat_id=seller_vat_id, seller_id=seller_id,
            amount_due=Decimal(str(amount)), tax_inclusive_amount=Decimal(str(amount)),
            skonto_until=skonto_until, skonto_percent=Decimal(skonto_percent) if skonto_percent else None,
            department=department, routing_rule=routing_rule, routing_reason="test", leitweg_id=leitweg_id,
        )
        s.add(row)
        s.flush()
        s.add(InvoiceEvent(invoice_id=row.id, actor="system", action="received", to_state=state, amount=row.amount_due))
        start_approval(s, row, org)
        return row.id


@pytest.fixture
def new_invoice(db, org):
    def make(**kw) -> int:
        return add_invoice(db, org, **kw)
    return make
