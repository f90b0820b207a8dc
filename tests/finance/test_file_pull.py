"""File export (atomic batch files, confirmation later) and the pull API (fetch + acknowledge)."""
from __future__ import annotations

import csv
import json
import os

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from einvoice.db.models import InvoiceRow
from einvoice.finance import Outbox, connectors
from einvoice.finance.tables import FinanceOutbox
from tests.finance.conftest import make_org, released_invoice

TOKEN = "pull-token-for-tests"


def _state(db, invoice_id):
    with db.sessions() as s:
        return s.get(InvoiceRow, invoice_id).state


def test_file_export_writes_one_json_and_one_csv_per_batch(db, org, tmp_path, clock):
    ids = [released_invoice(db, org, amount=a) for a in ("100.00", "250.50")]
    report = Outbox(db, org, now=clock).deliver_pending()
    assert report.delivered == 2 and {r.outcome for r in report.results} == {"exported"}
    export = tmp_path / "export"
    [jf] = list(export.glob("postings-*.json"))
    [cf] = list(export.glob("postings-*.csv"))
    assert jf.stem == cf.stem
    batch = json.loads(jf.read_text())
    assert batch["count"] == 2 and {r["invoice"]["id"] for r in batch["records"]} == set(ids)
    rows = list(csv.DictReader(cf.read_text(encoding="utf-8").splitlines(), delimiter=";"))
    assert [r["amount_due"] for r in rows] == ["100.00", "250.50"] and rows[0]["sachkonto"] == "5221000"
    assert not [p for p in export.iterdir() if p.name.startswith(".")]
    # exported is not booked: the invoices stay released until the finance system confirms
    assert [_state(db, i) for i in ids] == ["released", "released"]
    outbox = Outbox(db, org, now=clock)
    key = batch["records"][0]["idempotency_key"]
    assert outbox.confirm(key, "FIN-77") is None
    assert outbox.confirm(key, "FIN-77") is None  # confirming twice is harmless
    assert outbox.confirm(key, "FIN-78").rule == "BOOKING-CONFLICT"  # stored for a person (test_pull_api.py)
    assert outbox.confirm("einv-unknown", "FIN-1").rule == "NOT-FOUND"
    assert _state(db, batch["records"][0]["invoice"]["id"]) == "posted"
    # a second run exports nothing new
    assert Outbox(db, org, now=clock).deliver_pending().results == []
    assert len(list(export.glob("postings-*.json"))) == 1


def test_file_write_failure_leaves_no_partial_file_and_is_retried(db, org, tmp_path, clock, monkeypatch):
    released_invoice(db, org)
    real_replace = os.replace

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(connectors.os, "replace", failing_replace)
    report = Outbox(db, org, now=clock).deliver_pending()
    assert report.failed == 1 and report.results[0].problem.rule == "FILE-WRITE"
    export = tmp_path / "export"
    assert not list(export.glob("postings-*")), "no half-written batch file is visible"
    monkeypatch.setattr(connectors.os, "replace", real_replace)
    clock.advance(seconds=2)
    report = Outbox(db, org, now=clock).deliver_pending()
    assert report.delivered == 1
    assert len(list(export.glob("postings-*.json"))) == 1
    with db.sessions() as s:
        assert s.scalars(sa.select(FinanceOutbox)).one().status == "awaiting_confirmation"


def test_write_atomic_never_shows_a_partial_file(tmp_path):
    target = tmp_path / "a" / "x.json"
    connectors.write_atomic(target, b"1" * 100000)
    assert target.read_bytes() == b"1" * 100000
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


@pytest.fixture
def pull(db, tmp_path, monkeypatch, clock):
    from einvoice.finance import pull_api

    org = make_org(tmp_path, connector="pull")
    monkeypatch.setenv("EINVOICE_FINANCE_PULL_TOKEN", TOKEN)
    app = FastAPI()
    app.include_router(pull_api.router)
    outbox = Outbox(db, org, now=clock)
    app.dependency_overrides[pull_api.outbox_dependency] = lambda: outbox
    return org, TestClient(app), outbox


def test_pull_api_fetch_and_acknowledge(db, pull):
    org, client, outbox = pull
    ids = [released_invoice(db, org, amount=a) for a in ("10.00", "20.00", "30.00")]
    assert outbox.deliver_pending().skipped == 3  # pull: the outbox pushes nothing
    assert client.get("/finance/pull/pending").status_code == 401
    assert client.get("/finance/pull/pending", headers={"Authorization": "Bearer wrong"}).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    first = client.get("/finance/pull/pending", headers=auth).json()
    assert first["count"] == 3 and {r["record"]["invoice"]["id"] for r in first["records"]} == set(ids)
    k1, k2, k3 = [r["idempotency_key"] for r in first["records"]]
    assert client.post("/finance/pull/ack", headers=auth, json={"idempotency_key": k1, "status": "booked",
                                                                 "booking_number": "P-1"}).json()["ok"]
    assert client.post("/finance/pull/ack", headers=auth, json={"idempotency_key": k2, "status": "duplicate",
                                                                 "booking_number": "P-2"}).status_code == 200
    r = client.post("/finance/pull/ack", headers=auth, json={"idempotency_key": k3, "status": "rejected",
                                                              "message": "Kreditor unbekannt"})
    assert r.status_code == 200
    # ack again: harmless; unknown key: 404; booked without number: 422
    assert client.post("/finance/pull/ack", headers=auth, json={"idempotency_key": k1, "status": "booked",
                                                                 "booking_number": "P-1"}).status_code == 200
    assert client.post("/finance/pull/ack", headers=auth, json={"idempotency_key": "nope", "status": "booked",
                                                                 "booking_number": "X"}).status_code == 404
    assert client.post("/finance/pull/ack", headers=auth, json={"idempotency_key": k1, "status": "booked"}).status_code == 422
    states = {i: _state(db, i) for i in ids}
    assert sorted(states.values()) == ["posted", "posted", "released"]
    assert client.get("/finance/pull/pending", headers=auth).json()["count"] == 0
    [dead] = outbox.list(dead=True)
    assert "Kreditor unbekannt" in dead.last_error


def test_pull_offers_unacknowledged_records_again(db, pull):
    org, client, outbox = pull
    released_invoice(db, org)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    a = client.get("/finance/pull/pending", headers=auth).json()
    b = client.get("/finance/pull/pending", headers=auth).json()  # the first response got lost
    assert a["records"] == b["records"] and a["count"] == 1


def test_pull_without_configured_token_says_so(db, pull, monkeypatch):
    org, client, outbox = pull
    monkeypatch.delenv("EINVOICE_FINANCE_PULL_TOKEN")
    r = client.get("/finance/pull/pending", headers={"Authorization": "Bearer x"})
    assert r.status_code == 503 and r.json()["detail"]["code"] == "PULL-TOKEN-MISSING"


def test_receipt_files_confirm_and_reject_exported_records(db, tmp_path, clock):
    org = make_org(tmp_path, file={"directory": str(tmp_path / "export"), "receipts_directory": str(tmp_path / "receipts")})
    ids = [released_invoice(db, org, amount=a) for a in ("1.00", "2.00", "3.00")]
    outbox = Outbox(db, org, now=clock)
    outbox.deliver_pending()
    [jf] = list((tmp_path / "export").glob("postings-*.json"))
    keys = [r["idempotency_key"] for r in json.loads(jf.read_text())["records"]]
    receipts = tmp_path / "receipts"
    receipts.mkdir()
    (receipts / "rueckmeldung-1.csv").write_text(
        "idempotency_key;booking_number;status;message\n"
        f"{keys[0]};FB-100;booked;\n{keys[1]};FB-101;duplicate;\n{keys[2]};;rejected;Kreditor gesperrt\n"
        "einv-unknown;FB-1;booked;\n", encoding="utf-8")
    report = outbox.deliver_pending()
    assert [(r.idempotency_key, r.problem.rule if r.problem else None) for r in report.receipts] == [
        (keys[0], None), (keys[1], None), (keys[2], None), ("einv-unknown", "NOT-FOUND")]
    assert not list(receipts.glob("*.csv")) and (receipts / "processed" / "rueckmeldung-1.csv").exists()
    assert sorted(_state(db, i) for i in ids) == ["posted", "posted", "released"]
    [dead] = outbox.list(dead=True)
    assert "Kreditor gesperrt" in dead.last_error
    from einvoice.finance import finance_status

    first_invoice = json.loads(jf.read_text())["records"][0]["invoice"]["id"]
    st = finance_status(db, first_invoice)
    assert st["booking_number"] == "FB-100" and st["status"] == "delivered" and st["payment"] is None


def test_a_half_written_batch_is_completed_with_the_same_records(db, org, tmp_path, clock, monkeypatch):
    """JSON written, CSV failed: the retry writes the CSV of the same batch, never a second JSON with the record."""
    ids = [released_invoice(db, org, amount=a) for a in ("5.00", "6.00")]
    real = connectors.write_atomic

    def csv_fails(path, data):
        if path.suffix == ".csv":
            raise OSError(5, "I/O error")
        return real(path, data)

    monkeypatch.setattr(connectors, "write_atomic", csv_fails)
    assert Outbox(db, org, now=clock).deliver_pending().failed == 2
    monkeypatch.setattr(connectors, "write_atomic", real)
    clock.advance(seconds=2)
    assert Outbox(db, org, now=clock).deliver_pending().delivered == 2
    export = tmp_path / "export"
    [jf], [cf] = list(export.glob("postings-*.json")), list(export.glob("postings-*.csv"))
    assert jf.stem == cf.stem
    assert sorted(r["invoice"]["id"] for r in json.loads(jf.read_text())["records"]) == sorted(ids)
    assert len(cf.read_text().splitlines()) == 3
