"""Built for German clerks (issue #17): German HTML error pages for every error, times in
Europe/Berlin. Runs on SQLite and, with EINVOICE_TEST_DATABASE_URL, on PostgreSQL (``db_app``)."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.web.conftest import HTTPS, sign_in


@pytest.fixture
def web_app(db_app):
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, ids = db_app
    return create_app(app, auth_config=AuthConfig(client_attempts_per_minute=100_000, client_failures=100_000)), app, ids


@pytest.fixture
def client(web_app):
    from fastapi.testclient import TestClient

    web, _, _ = web_app
    with TestClient(web, follow_redirects=False, base_url=HTTPS, raise_server_exceptions=False) as c:
        assert sign_in(c, "a.schulz").status_code == 303
        yield c


def _german_page(r, status: int, *words: str) -> str:
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"].startswith("text/html"), r.headers["content-type"]
    assert '<html lang="de">' in r.text and '"detail"' not in r.text
    for w in words:
        assert w in r.text, w
    return r.text


def test_every_error_is_a_german_html_page(client, web_app, monkeypatch):
    _german_page(client.get("/invoices/abc"), 404, "Nicht gefunden")
    _german_page(client.get("/invoices/99999999999999999999"), 404, "Nicht gefunden")
    _german_page(client.get("/gibt-es-nicht"), 404, "Nicht gefunden")
    r = client.get("/tasks/1/approve")  # a form action opened as a link
    _german_page(r, 405, "Nicht möglich", "Schaltflächen")
    assert r.headers["allow"] == "POST"
    _german_page(client.post("/inbox", data={}), 405, "Nicht möglich")
    # A request validation error (a parameter of the wrong type) on any staff route.
    web, _, _ = web_app

    @web.get("/probe/{number}")
    def probe(number: int):
        return {"number": number}

    _german_page(client.get("/probe/abc"), 400, "Ungültige Adresse oder Eingabe")
    # A crash inside a page: a German page, never a traceback or JSON.
    from einvoice.web.app import WebApprovalService

    def boom(*a, **kw):
        raise RuntimeError("database gone")

    monkeypatch.setattr(WebApprovalService, "inbox", boom)
    text = _german_page(client.get("/inbox"), 500, "Fehler", "wenden Sie sich an die IT")
    assert "RuntimeError" not in text and "database gone" not in text
    # The finance system's pull API keeps answering in JSON.
    r = client.get("/finance/pull/nothing-here")
    assert r.headers["content-type"].startswith("application/json")


def test_times_are_shown_in_berlin(client, web_app):
    from einvoice.db.models import InvoiceEvent

    _, app, ids = web_app
    invoice_id = ids["66"]
    with app.db.transaction() as s:
        for at, text in ((dt.datetime(2026, 7, 1, 10, 5, tzinfo=dt.timezone.utc), "Sommerzeit"),
                         (dt.datetime(2026, 1, 15, 23, 30, tzinfo=dt.timezone.utc), "Winterzeit")):
            s.add(InvoiceEvent(invoice_id=invoice_id, actor="a.schulz", action="comment", at=at, comment=text,
                               from_state="in_approval", to_state="in_approval"))
    text = client.get(f"/invoices/{invoice_id}").text
    assert "01.07.2026 12:05" in text  # UTC+2 in summer
    assert "16.01.2026 00:30" in text  # UTC+1 in winter: already the next day in Berlin
    assert "01.07.2026 10:05" not in text
