"""Odd issue dates in a real intake batch (SeaweedFS with Object Lock + the database).

The supplier writes the issue date. One invoice dated 1999, 9999 or 2150 must neither stop the
batch (S3 refuses a lock that is already over; 9999 + 8 years is no date) nor lock a file for a
century: every file is archived and recorded, retention counts from receipt, the odd ones carry
a finding.
"""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.s3

ODD = {"odd-1999.xml": "1999-03-01", "odd-9999.xml": "9999-12-28", "odd-2150.xml": "2150-05-01"}


def _with_issue_date(data: bytes, issue: str, number: str) -> bytes:
    text = data.decode("utf-8")
    text = re.sub(r"<cbc:IssueDate>[^<]*</cbc:IssueDate>", f"<cbc:IssueDate>{issue}</cbc:IssueDate>", text, count=1)
    return re.sub(r"<cbc:ID>RE-[^<]*</cbc:ID>", f"<cbc:ID>{number}</cbc:ID>", text, count=1).encode("utf-8")


def test_a_batch_with_absurd_issue_dates_archives_and_records_every_file(tmp_path, s3, bucket_name, database_url):
    from archive import Archive, RetentionPolicy, signing
    from archive.store import S3Store
    from archive.verify import verify
    from devtools.samples import write_samples
    from einvoice.app import intake_hooks
    from einvoice.db import Database
    from einvoice.db.models import InvoiceEvent, InvoiceRow
    from einvoice.intake.inbox import InboxItem
    from einvoice.pipeline import IntakePipeline
    from tests.finance.conftest import make_org

    key = signing.generate()
    Archive.init_bucket(s3, bucket_name)
    archive = Archive(s3, bucket_name, signing_key=key, policy=RetentionPolicy())
    db = Database(database_url).migrate()
    org = make_org(tmp_path)
    write_samples(tmp_path / "inbox")
    base = (tmp_path / "inbox" / "01-xrechnung-ubl-invoice.xml").read_bytes()
    assert b"<cbc:IssueDate>" in base
    items = [InboxItem(name, _with_issue_date(base, issue, f"ODD-{i}")) for i, (name, issue) in enumerate(ODD.items())]
    items.insert(1, InboxItem("normal-ubl.xml", base))
    items.append(InboxItem("normal-cii.xml", (tmp_path / "inbox" / "03-xrechnung-cii-invoice.xml").read_bytes()))
    try:
        outcomes = {o.name: o for o in IntakePipeline(db, org, archive, on_record=intake_hooks()).ingest(items)}
        received = dt.date.today()
        sane = dt.datetime(received.year + 9, 1, 1, tzinfo=dt.timezone.utc)
        store = S3Store(s3, bucket_name)
        with db.sessions() as s:
            rows = {r.filename: r for r in s.scalars(sa.select(InvoiceRow))}
            events = {e.invoice_id: json.loads(e.details_json)
                      for e in s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.action == "received"))}
        assert set(rows) == {it.name for it in items}, outcomes
        for it in items:
            o, row = outcomes[it.name], rows[it.name]
            assert o.state != "unreadable" and o.invoice_id == row.id, (o.name, o.verdict)
            # archived with a sane COMPLIANCE lock: 8 years from the end of the year of receipt
            lock = store.lock_info(row.archive_original_key)
            assert lock.mode == "COMPLIANCE" and lock.retain_until == sane, (it.name, lock)
            assert row.archive_retain_until.replace(tzinfo=dt.timezone.utc) == sane
            _, leaf = archive.read_leaf(row.archive_sequence)
            assert leaf["retention"]["base"] == received.isoformat() and leaf["retention"]["class"] == "invoice"
            if it.name in ODD:
                assert len(o.retention_findings) == 1 and o.retention_findings[0].startswith(
                    "EINVOICE-ARCHIVE-ISSUE-DATE: Das Rechnungsdatum"), o.retention_findings
                assert leaf["metadata"]["findings"] == o.retention_findings
                assert events[row.id]["findings"] == o.retention_findings
                assert leaf["metadata"]["issue_date"] == ODD[it.name]
            else:
                assert o.retention_findings == [] and "findings" not in leaf["metadata"]
        # amounts for the Z3 export ride along as decimal strings
        _, leaf = archive.read_leaf(rows["normal-ubl.xml"].archive_sequence)
        assert leaf["metadata"]["currency"] == "EUR" and re.fullmatch(r"\d+\.\d\d", leaf["metadata"]["amount_due"])
        assert re.fullmatch(r"\d+\.\d\d", leaf["metadata"]["vat_amount"])
        assert verify(store, key.public_key(), check_lock=True).ok
        # a retry of the same batch changes nothing and still does not stop
        again = IntakePipeline(db, org, archive, on_record=intake_hooks()).ingest(items)
        assert all(o.already_received and o.state != "unreadable" for o in again)
    finally:
        archive.close()
        db.dispose()


def test_a_file_the_archive_refuses_costs_only_that_file(tmp_path, s3, bucket_name, database_url, monkeypatch):
    """If the archive refuses one entry (a usage error), the others are archived and recorded; the
    refused file is not recorded and stays in the inbox with the reason."""
    from archive import Archive, RetentionPolicy, signing
    from devtools.samples import write_samples
    from einvoice import pipeline
    from einvoice.app import intake_hooks
    from einvoice.db import Database
    from einvoice.db.models import InvoiceRow
    from einvoice.intake.inbox import InboxItem
    from einvoice.pipeline import IntakePipeline
    from tests.finance.conftest import make_org

    Archive.init_bucket(s3, bucket_name)
    archive = Archive(s3, bucket_name, signing_key=signing.generate(), policy=RetentionPolicy())
    db = Database(database_url).migrate()
    org = make_org(tmp_path)
    write_samples(tmp_path / "inbox")
    names = ["01-xrechnung-ubl-invoice.xml", "02-xrechnung-ubl-creditnote.xml", "03-xrechnung-cii-invoice.xml"]
    items = [InboxItem(n, (tmp_path / "inbox" / n).read_bytes()) for n in names]
    real_entry = IntakePipeline._entry

    def entry_with_a_year_9999_base(self, p):
        e = real_entry(self, p)
        if p.item.name == names[1]:  # what an archive would be handed by a faulty caller
            from dataclasses import replace
            e = replace(e, retention_base=dt.date(9999, 1, 1))
        return e

    monkeypatch.setattr(pipeline.IntakePipeline, "_entry", entry_with_a_year_9999_base)
    try:
        outcomes = IntakePipeline(db, org, archive, on_record=intake_hooks()).ingest(items)
        by = {o.name: o for o in outcomes}
        assert by[names[1]].state == "unreadable" and "9999" in by[names[1]].verdict
        assert by[names[1]].verdict.startswith("nicht archiviert")
        assert by[names[0]].state == by[names[2]].state == "in_approval"
        with db.sessions() as s:
            assert sorted(s.scalars(sa.select(InvoiceRow.filename))) == sorted([names[0], names[2]])
        assert archive.size == 2
    finally:
        archive.close()
        db.dispose()


def test_einvoice_ingest_cli_does_not_stop_on_absurd_issue_dates(tmp_path, seaweedfs, bucket_name, database_url):
    """The command that used to stop with a traceback on the first odd file, on every retry."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from archive import Archive, signing
    from devtools.samples import write_samples

    repo = Path(__file__).resolve().parents[2]
    Archive.init_bucket(seaweedfs.client(), bucket_name)
    key_file = tmp_path / "archive.key"
    key_file.write_bytes(signing.private_pem(signing.generate()))
    write_samples(tmp_path / "samples")
    base = (tmp_path / "samples" / "01-xrechnung-ubl-invoice.xml").read_bytes()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i, (name, issue) in enumerate(ODD.items()):
        (inbox / name).write_bytes(_with_issue_date(base, issue, f"CLI-{i}"))
    (inbox / "normal.xml").write_bytes(base)
    env = {**os.environ, **seaweedfs.env(), "PYTHONPATH": str(repo), "EINVOICE_DATABASE_URL": database_url,
           "EINVOICE_ARCHIVE_BUCKET": bucket_name, "EINVOICE_ARCHIVE_SIGNING_KEY": str(key_file)}
    for attempt in range(2):
        r = subprocess.run([sys.executable, "-c", "from einvoice.cli import main; main()", "ingest", str(inbox),
                            "--format", "json"],
                           capture_output=True, text=True, env=env, cwd=repo, timeout=300)
        assert r.returncode == 0 and "[" in r.stdout, r.stdout[-2000:] + r.stderr[-3000:]
        outcomes = {o["name"]: o for o in json.loads(r.stdout[r.stdout.index("["):])}
        assert set(outcomes) == set(ODD) | {"normal.xml"}
        assert all(o["invoice_id"] and o["archive_key"] for o in outcomes.values())
        assert all(o["already_received"] == (attempt == 1) for o in outcomes.values())
        if attempt == 0:
            assert all(outcomes[n]["retention_findings"] for n in ODD) and not outcomes["normal.xml"]["retention_findings"]
        assert {o["retain_until"] for o in outcomes.values()} == {f"{dt.date.today().year + 9}-01-01"}


def test_einvoice_extend_retention_uses_the_organisations_classes(tmp_path, seaweedfs, bucket_name, database_url,
                                                                   monkeypatch):
    """`einvoice extend-retention` after the Feststellung: the Belege of the budget year are kept
    longer (locks read back from SeaweedFS), the decision is archived, the archive verifies."""
    from click.testing import CliRunner

    from archive import signing
    from archive.store import S3Store
    from archive.verify import verify
    from devtools.samples import write_samples
    from einvoice.app import App
    from einvoice.cli import main
    from einvoice.intake.inbox import InboxItem

    key = signing.generate()
    key_file = tmp_path / "archive.key"
    key_file.write_bytes(signing.private_pem(key))
    for k, v in {**seaweedfs.env(), "EINVOICE_DATABASE_URL": database_url, "EINVOICE_ARCHIVE_BUCKET": bucket_name,
                 "EINVOICE_ARCHIVE_SIGNING_KEY": str(key_file)}.items():
        monkeypatch.setenv(k, v)
    from archive import Archive
    Archive.init_bucket(seaweedfs.client(), bucket_name)
    write_samples(tmp_path / "inbox")
    app = App.from_env()
    name = "01-xrechnung-ubl-invoice.xml"
    [o] = app.intake.ingest([InboxItem(name, (tmp_path / "inbox" / name).read_bytes())])
    app.archive.close()
    year = dt.date.today().year
    res = CliRunner().invoke(main, ["extend-retention", "--year", str(year), "--counted-from",
                                    dt.date.today().isoformat(), "--years", "12", "--reason",
                                    f"Feststellung Jahresabschluss {year}", "--reference", "Rat 12/2026"])
    assert res.exit_code == 0, res.output
    assert "1 entries" in res.output
    s3 = seaweedfs.client()
    lock = s3.get_object_retention(Bucket=bucket_name, Key=o.archive_key)["Retention"]
    assert lock["Mode"] == "COMPLIANCE" and lock["RetainUntilDate"].year == year + 13
    assert verify(S3Store(s3, bucket_name), key.public_key(), check_lock=True).ok
