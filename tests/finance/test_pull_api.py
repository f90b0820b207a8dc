"""The pull API as the finance system sees it: mounted in the real web app (create_app), with its own
bearer token (never a staff session); unacknowledged records never block later ones; a second
booking number is a stored conflict for a person; a retried export never lands in a second batch."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient

from einvoice.db.models import InvoiceEvent, InvoiceRow
from einvoice.finance import Outbox, finance_status
from einvoice.settings import Settings
from tests.finance.conftest import make_org, org_data, released_invoice, write_org

TOKEN = "pull-token-for-the-finance-system"


@pytest.fixture
def web(database_url, tmp_path, monkeypatch):
    """(App, TestClient of create_app) for an organisation using the pull connector."""
    from devtools.web_demo import mark_demo_database, seed_demo_accounts
    from einvoice.app import App
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    monkeypatch.delenv("EINVOICE_FINANCE_PULL_TOKEN", raising=False)
    org_file = write_org(tmp_path / "org.yaml", org_data(tmp_path, connector="pull"))
    app = App(Settings(database_url=database_url, organisation_file=org_file, s3_endpoint=None, archive_bucket=None,
                       signing_key_file=None))
    mark_demo_database(app.db)
    seed_demo_accounts(app.db, app.organisation)
    client = TestClient(create_app(app, auth_config=AuthConfig()), follow_redirects=False, base_url="https://testserver")
    yield app, client
    client.close()
    app.db.dispose()


def _bearer(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_the_web_app_serves_the_pull_api_only_with_the_finance_token(web, monkeypatch):
    from tests.web.conftest import sign_in

    app, client = web
    ids = [released_invoice(app.db, app.organisation, amount=a) for a in ("10.00", "20.00")]
    # no token configured: refused, whoever asks
    r = client.get("/finance/pull/pending", headers=_bearer())
    assert r.status_code == 503 and r.json()["detail"]["code"] == "PULL-TOKEN-MISSING"
    # "message" in the language set (German by default); the English the API always gave stays as "message_en"
    detail = r.json()["detail"]
    assert "Umgebungsvariable" in detail["message"] and "environment variable" in detail["message_en"]
    monkeypatch.setenv("EINVOICE_FINANCE_PULL_TOKEN", "short")
    assert client.get("/finance/pull/pending", headers=_bearer("short")).status_code == 503  # a guessable token is no token
    monkeypatch.setenv("EINVOICE_FINANCE_PULL_TOKEN", TOKEN)
    # no token, a wrong one, another scheme: 401
    for headers in ({}, _bearer("wrong-token-of-the-same-size!!!!!"), {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):
        r = client.get("/finance/pull/pending", headers=headers)
        assert r.status_code == 401 and r.json()["detail"]["code"] == "PULL-UNAUTHORIZED", headers
        assert r.headers["www-authenticate"] == "Bearer"
    # a signed-in member of staff is not the finance system: the session cookie opens nothing
    staff = app.organisation.people[0].id
    assert sign_in(client, staff).status_code == 303 and client.get("/inbox").status_code == 200
    assert client.get("/finance/pull/pending").status_code == 401
    session_cookie = next(v for k, v in client.cookies.items() if "session" in k.lower())
    assert client.get("/finance/pull/pending", headers=_bearer(session_cookie)).status_code == 401
    assert client.post("/finance/pull/ack", json={"idempotency_key": "x", "status": "booked",
                                                  "booking_number": "1"}).status_code == 401
    client.cookies.clear()
    # the right token: the records
    got = client.get("/finance/pull/pending", headers=_bearer()).json()
    assert got["count"] == 2 and sorted(r["record"]["invoice"]["id"] for r in got["records"]) == sorted(ids)
    key = got["records"][0]["idempotency_key"]
    r = client.post("/finance/pull/ack", headers=_bearer(), json={"idempotency_key": key, "status": "booked", "booking_number": "P-1"})
    assert r.status_code == 200 and r.json()["ok"]
    # an unknown key is a JSON answer with its ID (not the staff "not found" page)
    r = client.post("/finance/pull/ack", headers=_bearer(), json={"idempotency_key": "einv-nope", "status": "booked",
                                                                  "booking_number": "P-9"})
    assert r.status_code == 404 and r.json()["detail"]["code"] == "NOT-FOUND"
    with app.db.sessions() as s:
        assert sorted(s.get(InvoiceRow, i).state for i in ids) == ["posted", "released"]


def test_unacknowledged_records_never_block_later_ones(web, monkeypatch):
    app, client = web
    monkeypatch.setenv("EINVOICE_FINANCE_PULL_TOKEN", TOKEN)
    first = [released_invoice(app.db, app.organisation, amount=a) for a in ("1.00", "2.00")]
    stuck = client.get("/finance/pull/pending?limit=2", headers=_bearer()).json()
    assert sorted(r["record"]["invoice"]["id"] for r in stuck["records"]) == sorted(first)  # never acknowledged
    later = [released_invoice(app.db, app.organisation, amount=a) for a in ("3.00", "4.00")]
    got = client.get("/finance/pull/pending?limit=2", headers=_bearer()).json()
    assert sorted(r["record"]["invoice"]["id"] for r in got["records"]) == sorted(later)
    for r in got["records"]:
        assert client.post("/finance/pull/ack", headers=_bearer(), json={
            "idempotency_key": r["idempotency_key"], "status": "booked", "booking_number": f"B-{r['record']['invoice']['id']}"}).status_code == 200
    # the unacknowledged ones are offered again (a lost answer loses nothing)
    again = client.get("/finance/pull/pending?limit=2", headers=_bearer()).json()
    assert sorted(r["record"]["invoice"]["id"] for r in again["records"]) == sorted(first)
    with app.db.sessions() as s:
        assert [s.get(InvoiceRow, i).state for i in later] == ["posted", "posted"]


def test_a_second_booking_number_is_a_stored_conflict_for_a_person(web, monkeypatch, tmp_path):
    from einvoice.cli import main

    app, client = web
    monkeypatch.setenv("EINVOICE_FINANCE_PULL_TOKEN", TOKEN)
    invoice_id = released_invoice(app.db, app.organisation, amount="99.00")
    [rec] = client.get("/finance/pull/pending", headers=_bearer()).json()["records"]
    key = rec["idempotency_key"]
    ack = {"idempotency_key": key, "status": "booked", "booking_number": "FIN-1"}
    assert client.post("/finance/pull/ack", headers=_bearer(), json=ack).status_code == 200
    assert client.post("/finance/pull/ack", headers=_bearer(), json=ack).status_code == 200  # the same again: harmless
    r = client.post("/finance/pull/ack", headers=_bearer(), json={**ack, "booking_number": "FIN-2"})
    assert r.status_code == 409 and r.json()["detail"]["code"] == "BOOKING-CONFLICT"
    st = finance_status(app.db, invoice_id)
    assert st["status"] == "conflict" and st["needs_a_person"] and st["last_error_code"] == "BOOKING-CONFLICT"
    assert "FIN-1" in st["last_error"] and "FIN-2" in st["last_error"] and st["booking_number"] == "FIN-1"
    outbox = Outbox(app.db, app.organisation)
    [listed] = outbox.list(dead=True)
    assert listed.status == "conflict" and listed.invoice_id == invoice_id
    # on the command line: finance status and the dead-letter listing show it
    monkeypatch.setenv("EINVOICE_DATABASE_URL", app.settings.database_url)
    monkeypatch.setenv("EINVOICE_ORGANISATION", str(app.settings.organisation_file))
    runner = CliRunner()
    out = runner.invoke(main, ["finance", "status", str(invoice_id)])
    assert out.exit_code == 0 and json.loads(out.output)["last_error_code"] == "BOOKING-CONFLICT"
    out = runner.invoke(main, ["finance", "outbox", "--dead"])
    assert "conflict" in out.output and "BOOKING-CONFLICT" in out.output
    with app.db.sessions() as s:
        assert s.scalars(sa.select(InvoiceEvent.action).where(InvoiceEvent.invoice_id == invoice_id,
                                                              InvoiceEvent.action == "posting_conflict")).all() == ["posting_conflict"]
    # a person checks the finance system and settles it
    assert outbox.resolve_booked(listed.id, "w.zimmermann", booking_number="FIN-2", comment="FIN-1 storniert (Tel. Kasse)") is None
    st = finance_status(app.db, invoice_id)
    assert (st["status"], st["booking_number"], st["needs_a_person"]) == ("delivered", "FIN-2", False)
    assert outbox.list(dead=True) == []


def test_a_conflicting_receipt_line_is_stored_not_only_printed(db, tmp_path, clock):
    org = make_org(tmp_path, file={"directory": str(tmp_path / "export"), "receipts_directory": str(tmp_path / "receipts")})
    invoice_id = released_invoice(db, org)
    outbox = Outbox(db, org, now=clock)
    outbox.deliver_pending()
    key = finance_status(db, invoice_id)["idempotency_key"]
    receipts = tmp_path / "receipts"
    receipts.mkdir()
    (receipts / "r1.csv").write_text(f"{key};FB-1;booked\n", encoding="utf-8")
    assert [r.problem for r in outbox.deliver_pending().receipts] == [None]
    (receipts / "r2.csv").write_text(f"{key};FB-2;booked\n", encoding="utf-8")
    report = outbox.deliver_pending()
    assert [r.problem.rule for r in report.receipts] == ["BOOKING-CONFLICT"]
    assert "receipts" in report.as_dict() and report.as_dict()["receipts"][0]["problem"]["code"] == "BOOKING-CONFLICT"
    st = finance_status(db, invoice_id)
    assert st["status"] == "conflict" and "FB-2" in st["last_error"]


def test_a_retried_export_never_lands_in_a_second_batch_file(db, tmp_path, clock):
    org = make_org(tmp_path)
    ids = [released_invoice(db, org, amount=a) for a in ("5.00", "6.00")]
    outbox = Outbox(db, org, now=clock)
    assert outbox.deliver_pending().delivered == 2
    export = tmp_path / "export"
    [batch] = list(export.glob("postings-*.json"))
    views = outbox.list(status="awaiting_confirmation")
    # the finance system rejects one; a person fixes it and retries; another is retried while waiting
    key = views[0].idempotency_key
    assert outbox.reject(key, "Kreditor gesperrt") is None
    assert outbox.retry(views[0].id, "w.zimmermann", comment="Kreditor entsperrt") is None
    assert outbox.retry(views[1].id, "w.zimmermann", comment="Rückmeldung fehlt") is None
    clock.advance(seconds=5)
    report = Outbox(db, org, now=clock).deliver_pending()
    assert {r.outcome for r in report.results} == {"exported"}
    files = list(export.glob("postings-*.json"))
    assert files == [batch], "no second batch file"
    seen = [r["invoice"]["id"] for f in files for r in json.loads(f.read_text())["records"]]
    assert sorted(seen) == sorted(ids)
    # the importer lost the batch: the retry writes the same batch again, with the same records
    batch.unlink()
    for v in Outbox(db, org, now=clock).list(status="awaiting_confirmation"):
        assert outbox.retry(v.id, "w.zimmermann", comment="Datei neu") is None
    clock.advance(seconds=5)
    Outbox(db, org, now=clock).deliver_pending()
    assert list(export.glob("postings-*.json")) == [batch]
    assert sorted(r["invoice"]["id"] for r in json.loads(batch.read_text())["records"]) == sorted(ids)
