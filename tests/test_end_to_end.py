"""End to end: the process-inbox flow under a real Prefect test server, SeaweedFS and the database.

Each generated sample must end in its expected state with its database row, its audit event and
its original archived byte-for-byte under COMPLIANCE Object Lock; a second run changes nothing.
"""
from __future__ import annotations

import datetime as dt
import json
import os

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

pytestmark = [pytest.mark.s3, pytest.mark.prefect]

EXPECTED = {
    # file: (state, department, syntax)
    "01-xrechnung-ubl-invoice.xml": ("in_approval", "66", "ubl-invoice"),
    "02-xrechnung-ubl-creditnote.xml": ("in_approval", "40", "ubl-creditnote"),
    "03-xrechnung-cii-invoice.xml": ("in_approval", "10", "cii"),
    "04-facturx-en16931.pdf": ("in_approval", "51", "cii"),
    "10-broken-malformed.xml": ("rejected", None, None),
    "11-broken-xsd.xml": ("rejected", None, "ubl-invoice"),
    "12-broken-no-leitweg-id.xml": ("rejected", None, "ubl-invoice"),
    "13-broken-wrong-totals.xml": ("rejected", None, "ubl-invoice"),
    "14-plain.pdf": ("not_an_invoice", None, None),
}
REASON = {
    "10-broken-malformed.xml": "well-formed",
    "12-broken-no-leitweg-id.xml": "BR-DE-15",
    "13-broken-wrong-totals.xml": "BR-CO-",
    "14-plain.pdf": "without structured invoice data",
}


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def environment(tmp_path, monkeypatch, seaweedfs, database_url, bucket_name):
    from archive import Archive

    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EINVOICE_DATABASE_URL", database_url)
    monkeypatch.setenv("EINVOICE_ARCHIVE_BUCKET", bucket_name)
    monkeypatch.setenv("EINVOICE_ARCHIVE_SIGNING_KEY", str(key_file))
    Archive.init_bucket(seaweedfs.client(), bucket_name)
    return {"database_url": database_url, "bucket": bucket_name, "public_key": key.public_key()}


@pytest.fixture
def inbox(tmp_path):
    from devtools.samples import write_samples

    directory = tmp_path / "inbox"
    write_samples(directory)
    (directory / "manifest.json").unlink(missing_ok=True)  # the generator's index, not an invoice
    return directory


def _rows(database_url):
    from einvoice.db import Database
    from einvoice.db.models import InvoiceEvent, InvoiceRow

    db = Database(database_url)
    try:
        with db.sessions() as s:
            invoices = {r.filename: r for r in s.scalars(sa.select(InvoiceRow))}
            events = s.scalars(sa.select(InvoiceEvent)).all()
        return invoices, events
    finally:
        db.dispose()


def test_process_inbox_flow_end_to_end(prefect_server, environment, inbox, s3):
    from flows.process_inbox import process_inbox

    outcomes = {o["name"]: o for o in process_inbox(str(inbox), batch_size=4)}
    assert set(outcomes) == set(EXPECTED)
    invoices, events = _rows(environment["database_url"])
    assert set(invoices) == set(EXPECTED), "every file is exactly one row"

    for name, (state, department, syntax) in EXPECTED.items():
        o, row = outcomes[name], invoices[name]
        assert (o["state"], row.state) == (state, state), f"{name}: {o['verdict']}"
        assert row.department == department, f"{name}: {row.routing_reason}"
        if syntax:
            assert row.syntax == syntax
        if name in REASON:
            assert REASON[name].lower() in row.verdict.lower(), f"{name}: verdict {row.verdict!r}"
        assert [e.action for e in events if e.invoice_id == row.id] == ["received"]

        # The original is archived exactly as received, locked in COMPLIANCE mode.
        original = (inbox / name).read_bytes()
        assert row.archive_original_key == o["archive_key"]
        obj = s3.get_object(Bucket=environment["bucket"], Key=row.archive_original_key)
        assert obj["Body"].read() == original
        assert obj["ObjectLockMode"] == "COMPLIANCE"
        until = obj["ObjectLockRetainUntilDate"]
        base_year = (row.issue_date.year if row.issue_date else dt.date.today().year)
        assert dt.datetime(base_year + 8, 12, 31, tzinfo=dt.timezone.utc) <= until < dt.datetime(base_year + 9, 1, 2, tzinfo=dt.timezone.utc)

    ubl = invoices["01-xrechnung-ubl-invoice.xml"]
    assert ubl.leitweg_id == "05999000-66-70" and ubl.routing_rule == "leitweg-id"
    assert ubl.invoice_number and ubl.amount_due is not None and ubl.seller_vat_id
    assert json.loads(ubl.report_json)["valid"] is True

    # Idempotent: the second run recognises every file, stores nothing twice.
    again = process_inbox(str(inbox), batch_size=50)
    assert all(o["already_received"] for o in again)
    invoices2, events2 = _rows(environment["database_url"])
    assert len(invoices2) == len(invoices) and len(events2) == len(events)


def test_bad_files_never_stop_the_others(environment, inbox, monkeypatch):
    """A validator crash, an oversized file and garbage are each recorded with a reason."""
    import einvoice.pipeline as pipeline
    import einvoice.validation
    from einvoice.app import App
    from einvoice.intake import inbox as intake_inbox

    real_validate = einvoice.validation.validate

    def crashing(data, name="", **kw):
        if name == "03-xrechnung-cii-invoice.xml":
            raise RuntimeError("simulated validator bug")
        if name == "04-facturx-en16931.pdf":
            os._exit(3)  # the validator process itself dies (a crash in native code looks like this)
        return real_validate(data, name, **kw)

    # forked validation workers inherit the patch; the batch (> POOL_FROM_FILES) uses them
    monkeypatch.setattr(einvoice.validation, "validate", crashing)
    monkeypatch.setenv("EINVOICE_VALIDATION_JOBS", "2")
    (inbox / "99-garbage.bin").write_bytes(b"\x00\xffnot an invoice at all")
    (inbox / "98-huge.xml").write_bytes(b"<a>" + b"x" * 600_000 + b"</a>")
    monkeypatch.setattr(intake_inbox, "MAX_FILE_BYTES", 500_000)

    app = App.from_env()
    paths = intake_inbox.list_inbox(inbox)
    outcomes = {o.name: o for o in app.intake.ingest([intake_inbox.read_inbox_file(p) for p in paths])}
    assert len(outcomes) == len(paths)
    assert len(paths) >= pipeline.POOL_FROM_FILES and app.intake.validation_jobs == 2
    assert outcomes["03-xrechnung-cii-invoice.xml"].state == "not_validated"
    assert "simulated validator bug" in outcomes["03-xrechnung-cii-invoice.xml"].verdict
    assert outcomes["04-facturx-en16931.pdf"].state == "not_validated"
    assert "validator process died" in outcomes["04-facturx-en16931.pdf"].verdict
    assert outcomes["98-huge.xml"].state == "unreadable" and "limit" in outcomes["98-huge.xml"].verdict
    assert outcomes["99-garbage.bin"].state in ("not_an_invoice", "rejected")
    assert outcomes["99-garbage.bin"].verdict
    assert outcomes["01-xrechnung-ubl-invoice.xml"].state == "in_approval"
    invoices, _ = _rows(environment["database_url"])
    assert "98-huge.xml" not in invoices, "an unreadable file is left in the inbox, not recorded"
    assert len(invoices) == len(paths) - 1


def test_a_peer_storing_the_same_file_first_costs_nothing(environment, inbox, monkeypatch):
    """Two workers see the same new file: the second one's batch insert is refused by the unique
    SHA-256, falls back to one transaction per file, and every file still has exactly one row and
    one 'received' event."""
    import einvoice.pipeline as pipeline
    from einvoice.app import App
    from einvoice.intake.inbox import read_inbox_file

    first, second = (read_inbox_file(inbox / n) for n in ("01-xrechnung-ubl-invoice.xml", "02-xrechnung-ubl-creditnote.xml"))
    peer = App.from_env()
    assert peer.intake.ingest([first])[0].state == "in_approval"

    app = App.from_env()
    real_known = pipeline.IntakePipeline._known
    calls = {"n": 0}

    def stale_known(self, shas):
        calls["n"] += 1
        return {} if calls["n"] == 1 else real_known(self, shas)  # looked before the peer committed

    monkeypatch.setattr(pipeline.IntakePipeline, "_known", stale_known)
    outcomes = app.intake.ingest([first, second])
    assert [o.state for o in outcomes] == ["in_approval", "in_approval"]
    invoices, events = _rows(environment["database_url"])
    assert sorted(invoices) == ["01-xrechnung-ubl-invoice.xml", "02-xrechnung-ubl-creditnote.xml"]
    assert sorted(e.invoice_id for e in events if e.action == "received") == sorted(r.id for r in invoices.values())
