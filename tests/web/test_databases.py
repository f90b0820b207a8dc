"""Accounts, sessions and access on every supported database (SQLite, and PostgreSQL when
EINVOICE_TEST_DATABASE_URL is set), without the archive: invoices are inserted as intake would.

The archive-backed module tests run on SQLite only; this one makes sure the web tables, the
timezone handling of the idle timeout and the row locks of the sign-in counter work on both.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from einvoice.settings import REPO_EXAMPLE_ORG, Settings


@pytest.fixture
def db_app(database_url):
    from einvoice.app import App
    from einvoice.approval import start_approval
    from einvoice.db.models import Invoice, InvoiceEvent
    from einvoice.web.auth import mark_demo_database, seed_demo_accounts

    app = App(Settings(database_url=database_url, organisation_file=REPO_EXAMPLE_ORG, s3_endpoint=None,
                       archive_bucket=None, signing_key_file=None))
    mark_demo_database(app.db)
    ids = {}
    today = dt.date.today()
    with app.db.transaction() as s:
        for i, dept in enumerate(["66", "10"]):
            row = Invoice(file_sha256=f"{i:064d}", filename=f"f{i}.xml", channel="test", size=1, state="in_approval",
                          verdict="valid", invoice_number=f"RE-{dept}-1", seller_name="Muster GmbH", currency="EUR",
                          amount_due=Decimal("1190.00"), issue_date=today, due_date=today + dt.timedelta(days=20),
                          skonto_until=today + dt.timedelta(days=3), skonto_percent=Decimal("2.00"), department=dept,
                          leitweg_id=f"05999000-{dept}-00")
            s.add(row)
            s.flush()
            s.add(InvoiceEvent(invoice_id=row.id, actor="system", action="received", to_state="in_approval"))
            start_approval(s, row, app.organisation)
            ids[dept] = row.id
    seed_demo_accounts(app.db, app.organisation)
    yield app, ids
    app.db.dispose()


def test_sign_in_session_expiry_csrf_and_access(db_app):
    from fastapi.testclient import TestClient

    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig
    from einvoice.web.tables import WebSession
    from tests.web.conftest import csrf_of, sign_in

    app, ids = db_app
    c = TestClient(create_app(app, auth_config=AuthConfig()), follow_redirects=False, base_url="https://testserver")
    assert sign_in(c, "f.becker", "falsch").status_code == 401
    assert sign_in(c, "f.becker").status_code == 303
    inbox = c.get("/inbox").text
    assert f'href="/invoices/{ids["10"]}"' in inbox and f'href="/invoices/{ids["66"]}"' not in inbox
    assert "Skonto bis" in inbox and "noch 3 Tage" in inbox
    assert c.get(f"/invoices/{ids['66']}").status_code == 404
    page = c.get(f"/invoices/{ids['10']}")
    assert page.status_code == 200 and "kein Original" in page.text  # no archive here: the page says so

    task = app.approval.open_task_of(ids["10"]).task_id
    assert c.post(f"/tasks/{task}/approve", data={"csrf_token": "forged"}).status_code == 403
    r = c.post(f"/tasks/{task}/approve", data={"csrf_token": csrf_of(c)})
    assert r.status_code == 303
    assert re.search(r"f\.becker.*sachlich_richtig", c.get(f"/invoices/{ids['10']}").text, re.S)

    with app.db.transaction() as s:
        s.execute(sa.update(WebSession).values(last_seen_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)))
    assert c.get("/inbox").headers["location"] == "/login"
    c.close()
