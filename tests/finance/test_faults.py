"""Fault injection: the delivering process is killed (os._exit, no cleanup) between every two steps,
then delivery runs again. The finance system on loopback counts bookings per idempotency key:
every record must be booked exactly once and every invoice end up posted — nothing twice, nothing lost."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from devtools.faults import ENV, EXIT_CODE
from einvoice.db.models import InvoiceRow
from einvoice.finance import Outbox
from einvoice.finance.tables import FinanceOutbox, FinancePosting
from tests.finance.conftest import SECRET, org_data, released_invoice, write_org

REPO = Path(__file__).resolve().parents[2]

DELIVER = """
import json, sys
import devtools.faults; devtools.faults.install()
from einvoice.db import Database
from einvoice.organisation import load_organisation
from einvoice.finance import Outbox
db = Database(sys.argv[1])
report = Outbox(db, load_organisation(sys.argv[2])).deliver_pending()
print(json.dumps(report.as_dict(), default=str))
"""


def run_delivery(db_url: str, org_file: str, crash: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "EINVOICE_FINANCE_HMAC_SECRET": SECRET}
    env.pop(ENV, None)
    if crash:
        env[ENV] = crash
    return subprocess.run([sys.executable, "-c", DELIVER, db_url, org_file], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def _keys_and_states(db):
    with db.sessions() as s:
        rows = s.execute(sa.select(FinancePosting.idempotency_key, FinancePosting.booking_number, InvoiceRow.state,
                                   FinanceOutbox.status)
                         .join(InvoiceRow, InvoiceRow.id == FinancePosting.invoice_id)
                         .join(FinanceOutbox, FinanceOutbox.posting_id == FinancePosting.id)).all()
    return rows


@pytest.mark.parametrize("crash", ["claimed", "sent", "sent:2", "recorded:2"])
def test_webhook_delivery_killed_at_each_step_books_exactly_once(db, tmp_path, finance_server, clock, monkeypatch, crash):
    data = org_data(tmp_path, connector="webhook", webhook={"url": finance_server.url, "timeout_seconds": 5})
    org_file = write_org(tmp_path / "org.yaml", data)
    from einvoice.organisation import parse_organisation

    org = parse_organisation(data)
    ids = [released_invoice(db, org, amount=a) for a in ("10.00", "20.00", "30.00")]

    killed = run_delivery(db.url, org_file, crash)
    assert killed.returncode == EXIT_CODE, (killed.stdout, killed.stderr)

    # A second worker starting while the dead one's lease still runs must leave the leased rows alone.
    monkeypatch.setenv("EINVOICE_FINANCE_HMAC_SECRET", SECRET)
    leased = {key for key, _b, _s, status in _keys_and_states(db) if status == "in_flight"}
    assert leased, "the killed worker left leased rows behind"
    before = {k: finance_server.requests[k] for k in leased}
    Outbox(db, org, now=clock).deliver_pending()
    assert {k: finance_server.requests[k] for k in leased} == before

    clock.advance(seconds=org.finance.retry.lease_seconds + 1)  # the dead worker's lease runs out
    for _ in range(3):
        Outbox(db, org, now=clock).deliver_pending()
        clock.advance(seconds=5)

    rows = _keys_and_states(db)
    assert len(rows) == 3
    for key, booking, state, status in rows:
        assert finance_server.accepted[key] == 1, (crash, key, dict(finance_server.accepted))
        assert booking == finance_server.bookings[key]
        assert (state, status) == ("posted", "delivered")
    assert set(finance_server.bookings) == {r[0] for r in rows}
    with db.sessions() as s:
        assert [s.get(InvoiceRow, i).state for i in ids] == ["posted"] * 3


@pytest.mark.parametrize("crash", ["claimed", "sent", "recorded"])
def test_file_export_killed_at_each_step_writes_each_record_once(db, tmp_path, clock, crash):
    data = org_data(tmp_path, connector="file")
    org_file = write_org(tmp_path / "org.yaml", data)
    from einvoice.organisation import parse_organisation

    org = parse_organisation(data)
    for a in ("10.00", "20.00", "30.00"):
        released_invoice(db, org, amount=a)
    killed = run_delivery(db.url, org_file, crash)
    assert killed.returncode == EXIT_CODE, (killed.stdout, killed.stderr)
    clock.advance(seconds=org.finance.retry.lease_seconds + 1)
    Outbox(db, org, now=clock).deliver_pending()
    Outbox(db, org, now=clock).deliver_pending()

    export = tmp_path / "export"
    seen: dict[str, int] = {}
    for f in export.glob("postings-*.json"):
        for rec in json.loads(f.read_text())["records"]:
            seen[rec["idempotency_key"]] = seen.get(rec["idempotency_key"], 0) + 1
    rows = _keys_and_states(db)
    assert seen == {r[0]: 1 for r in rows}, seen
    assert not list(export.glob(".*tmp")), "no temporary files are left behind"
    assert {r[3] for r in rows} == {"awaiting_confirmation"}


def test_two_workers_at_once_book_every_record_exactly_once(db, webhook_org, finance_server):
    import threading

    ids = [released_invoice(db, webhook_org, amount=f"{n}.00") for n in range(1, 9)]
    errors = []

    def worker():
        try:
            outbox = Outbox(db, webhook_org)
            for _ in range(6):
                outbox.deliver_pending(limit=3)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    Outbox(db, webhook_org).deliver_pending()  # whatever a lost race left over
    rows = _keys_and_states(db)
    assert {r[2] for r in rows} == {"posted"} and len(rows) == len(ids)
    assert all(finance_server.accepted[r[0]] == 1 for r in rows)
    assert sum(finance_server.requests.values()) == len(ids), "no record was sent twice"
