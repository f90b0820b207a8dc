"""Accounts, sessions and access on every supported database (SQLite, and PostgreSQL when
EINVOICE_TEST_DATABASE_URL is set), without the archive: invoices are inserted as intake would.

The archive-backed module tests run on SQLite only; this one makes sure the web tables, the
timezone handling of the idle timeout work on both (the sign-in counter under parallel guesses:
test_signin.py). The ``db_app`` fixture is in conftest.py.
"""
from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa


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
    assert re.search(r"f\.becker.*<td>sachlich richtig</td>", c.get(f"/invoices/{ids['10']}").text, re.S)

    with app.db.transaction() as s:
        s.execute(sa.update(WebSession).values(last_seen_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)))
    assert c.get("/inbox").headers["location"] == "/login"
    c.close()


def test_inbox_counts_above_the_count_limit_say_more_than(db_app, monkeypatch):
    """A group the service stopped counting is shown as "mehr als …", never as an exact figure."""
    from fastapi.testclient import TestClient

    from einvoice.approval import service
    from einvoice.web import create_app, lists
    from einvoice.web.auth import AuthConfig
    from tests.web.conftest import insert_invoice, sign_in

    app, _ids = db_app
    for i in range(3):  # with the fixture's invoice: four in 10, each with its Skonto open
        insert_invoice(app, "10", f"RE-10-{i + 2}", "100.00")
    c = TestClient(create_app(app, auth_config=AuthConfig()), follow_redirects=False, base_url="https://testserver")
    assert sign_in(c, "f.becker").status_code == 303
    assert re.search(r"<strong>4</strong> mit offenem Skonto", c.get("/inbox").text)
    for module in (service, lists):
        monkeypatch.setattr(module, "COUNT_LIMIT", 2)
    page = c.get("/inbox").text
    assert re.search(r"<strong>mehr als 2</strong> mit offenem Skonto", page)
    assert page.count('href="/invoices/') == 4  # the list itself is not cut by the count limit
