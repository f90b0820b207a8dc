"""Follow-up archive entries (einvoice.followups.records): the approval trail when a chain ends, each payment run.

The samples go through the real intake, approval and finance code; the trail and payment entries
must point at the invoice's own archive entry, hold exactly what the database says, be written
once (also across a crash between the archive write and the database note) and verify.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
import sqlalchemy as sa

from archive import Archive, RetentionPolicy, signing
from archive.store import DirStore, S3Store
from archive.verify import verify
from einvoice.approval import ApprovalService
from einvoice.db.models import ArchivedRecord, InvoiceEvent, InvoiceRow
from einvoice.finance import payment_run
from einvoice.followups.records import RecordArchiver, approval_trail_entry_id
from tests.approval.conftest import TODAY
from tests.finance.conftest import approve_all, make_org

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "archived-records.schema.json").read_text())


def _document(store, archive, entry_id: str, name: str) -> bytes:
    return store.get(archive.receipt(entry_id).document_keys[name])


def _leaf(archive, entry_id: str) -> dict:
    return archive.read_leaf(archive.lookup(entry_id))[1]


def test_trails_and_payment_run_are_archived_once_and_point_at_the_original(db, samples_posted, tmp_path):
    org, ids, archive, store = (samples_posted[k] for k in ("org", "ids", "archive", "store"))
    archiver = RecordArchiver(db, archive)
    assert archiver.pending_counts() == {"approval-trail": 4, "payment-run": 0}

    report = archiver.archive_pending()
    assert (report.approval_trails, report.payment_runs, report.problems) == (4, 0, [])

    inv_id = ids["01-xrechnung-ubl-invoice.xml"]
    with db.sessions() as s:
        inv = s.get(InvoiceRow, inv_id)
        decision = s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.invoice_id == inv_id,
                                                           InvoiceEvent.to_state == "released")).one()
        history = s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.invoice_id == inv_id,
                                                          InvoiceEvent.id <= decision.id).order_by(InvoiceEvent.id)).all()
        entry_id = approval_trail_entry_id(decision.id, inv.archive_entry_id, inv.id)
        original_entry, amount_due = inv.archive_entry_id, inv.amount_due
        expected = [(e.id, e.actor, e.role, e.action, e.to_state) for e in history]
    leaf = _leaf(archive, entry_id)
    assert leaf["relates_to"]["entry_id"] == original_entry and leaf["relates_to"]["relation"] == "approval-trail"
    assert leaf["relates_to"]["seq"] == archive.lookup(original_entry)
    assert leaf["metadata"]["outcome"] == "released" and leaf["metadata"]["events"] == len(expected)

    trail = json.loads(_document(store, archive, entry_id, "approval-trail.json"))
    jsonschema.validate(trail, SCHEMA)
    assert trail["outcome"] == "released" and trail["invoice"]["archive_entry_id"] == original_entry
    assert [(e["id"], e["actor"], e["role"], e["action"], e["to_state"]) for e in trail["events"]] == expected
    signed = {e["action"]: e for e in trail["events"] if e["action"] in
              ("sachlich_richtig", "rechnerisch_richtig", "anordnung", "freigabe")}
    assert set(signed) >= {"sachlich_richtig", "rechnerisch_richtig", "anordnung"}
    assert signed["rechnerisch_richtig"]["amount"] == f"{amount_due:.2f}"  # "rechnerisch richtig mit … EUR"
    # separation of duties is visible in the archived trail alone
    assert signed["anordnung"]["actor"] != signed["rechnerisch_richtig"]["actor"]

    # nothing pending any more: a second run writes nothing
    size = archive.size
    again = archiver.archive_pending()
    assert (again.approval_trails, again.payment_runs, archive.size) == (0, 0, size)

    # a payment run is archived with its pain.001 byte for byte and the invoices it pays
    with db.sessions() as s:
        due = max(i.due_date or i.issue_date for i in s.scalars(sa.select(InvoiceRow).where(InvoiceRow.id.in_(ids.values()))))
    run = payment_run(db, org, due_by=due, output_dir=tmp_path / "payments", execution_date=TODAY)
    assert run.count >= 1
    # prepared, not released: nothing paid, nothing for the bank, nothing archived yet
    assert archiver.archive_pending().payment_runs == 0
    from einvoice.finance import release_payment_run

    for person in ("j.krause", "v.koenig"):
        released = release_payment_run(db, org, run.run_id, person, output_dir=tmp_path / "payments")
        assert released.ok and released.problem is None, released
    run.path = released.path
    report = archiver.archive_pending()
    assert (report.approval_trails, report.payment_runs, report.problems) == (0, 1, [])
    entry_id = f"payment-run:{run.message_id}"
    written = Path(run.path).read_bytes()
    assert _document(store, archive, entry_id, f"pain.001-{run.message_id}.xml") == written
    items = json.loads(_document(store, archive, entry_id, "payment-items.json"))
    jsonschema.validate(items, SCHEMA)
    assert {it["invoice"]["invoice_id"] for it in items["items"]} == set(run.invoices)
    assert all(it["invoice"]["archive_entry_id"] for it in items["items"])
    assert items["control_sum"] == f"{Decimal(run.control_sum):.2f}"
    assert _leaf(archive, entry_id)["retention"]["base"] == TODAY.isoformat()
    # the invoice's follow-up entries (the invoice page lists them): its trail and the run that paid it
    paid = run.invoices[0]
    assert [r.kind for r in archiver.records_of(paid)] == ["approval-trail", "payment-run"]


def test_returned_and_reopened_invoice_gets_one_trail_per_chain_on_seaweedfs(db, tmp_path, s3, bucket_name):
    """Against a real locked bucket: both trails link the original, are COMPLIANCE-locked, the archive verifies."""
    from devtools.samples import write_samples
    from einvoice.app import intake_hooks
    from einvoice.intake.inbox import InboxItem
    from einvoice.pipeline import IntakePipeline

    key = signing.generate()
    Archive.init_bucket(s3, bucket_name)
    archive = Archive(s3, bucket_name, signing_key=key, policy=RetentionPolicy())
    org = make_org(tmp_path)
    write_samples(tmp_path / "inbox")
    name = "01-xrechnung-ubl-invoice.xml"
    [outcome] = IntakePipeline(db, org, archive, on_record=intake_hooks()).ingest([InboxItem(name, (tmp_path / "inbox" / name).read_bytes())])
    inv_id = outcome.invoice_id
    svc = ApprovalService(db, org, today=lambda: TODAY, on_release=[])
    task = svc.open_task_of(inv_id)
    person = next(p for p in task.candidates)
    assert svc.reject(task.task_id, person, reason="Leistungszeitraum fehlt").ok

    archiver = RecordArchiver(db, archive)
    first = archiver.archive_pending()
    assert first.approval_trails == 1 and not first.problems
    assert svc.reopen(inv_id, "h.wolf", comment="Lieferant hat nachgereicht").ok
    assert approve_all(db, org, inv_id, hooks=[]) == "released"
    second = archiver.archive_pending()
    assert second.approval_trails == 1 and not second.problems

    records = archiver.records_of(inv_id)
    assert [r.kind for r in records] == ["approval-trail", "approval-trail"]
    store = S3Store(s3, bucket_name)
    trails = [json.loads(_document(store, archive, r.entry_id, "approval-trail.json")) for r in records]
    assert [t["outcome"] for t in trails] == ["returned", "released"]
    assert trails[0]["events"][-1]["comment"] == "Leistungszeitraum fehlt"
    # the second trail stands alone: it repeats the first chain, the reopening and the new sign-offs
    assert [e["id"] for e in trails[1]["events"]][:len(trails[0]["events"])] == [e["id"] for e in trails[0]["events"]]
    assert "reopened" in [e["action"] for e in trails[1]["events"]]
    with db.sessions() as s:
        original = archive.lookup(s.get(InvoiceRow, inv_id).archive_entry_id)
    assert original is not None
    for r in records:
        leaf = _leaf(archive, r.entry_id)
        assert leaf["relates_to"]["seq"] == original and r.sequence == archive.lookup(r.entry_id)
        lock = store.lock_info(archive.receipt(r.entry_id).document_keys["approval-trail.json"])
        assert lock.mode == "COMPLIANCE" and lock.retain_until == dt.datetime(dt.date.today().year + 9, 1, 1,
                                                                                tzinfo=dt.timezone.utc)
    rep = verify(store, key.public_key(), check_lock=True)
    assert rep.ok, rep.to_text()


def test_crash_between_archive_write_and_database_note_archives_once(db, samples_released, monkeypatch):
    archive = samples_released["archive"]
    archiver = RecordArchiver(db, archive)
    real_note = RecordArchiver._note

    def crash(self, *a, **kw):
        raise ConnectionError("database connection lost right after the archive write")

    monkeypatch.setattr(RecordArchiver, "_note", crash)
    with pytest.raises(ConnectionError):
        archiver.archive_pending()
    size = archive.size
    with db.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ArchivedRecord)) == 0
    monkeypatch.setattr(RecordArchiver, "_note", real_note)

    report = archiver.archive_pending()
    assert report.approval_trails == 4 and archive.size == size  # same entry ids: nothing written twice
    assert all(e["existing"] for e in report.entries)
    with db.sessions() as s:
        rows = s.scalars(sa.select(ArchivedRecord)).all()
        assert len(rows) == 4 and all(archive.lookup(r.entry_id) == r.sequence for r in rows)


def test_unknown_original_entry_and_archive_outage_keep_records_pending(db, samples_released, tmp_path):
    archive = samples_released["archive"]
    ids = samples_released["ids"]
    stray = ids["02-xrechnung-ubl-creditnote.xml"]
    with db.transaction() as s:
        s.get(InvoiceRow, stray).archive_entry_id = "received-not-in-this-archive"
    report = RecordArchiver(db, archive).archive_pending()
    assert report.approval_trails == 3
    [problem] = report.problems
    assert problem.kind == "approval-trail" and "received-not-in-this-archive" in problem.message

    class Down:  # an archive whose bucket is unreachable: every call fails as boto3 would
        def lookup(self, entry_id):
            from botocore.exceptions import EndpointConnectionError
            raise EndpointConnectionError(endpoint_url="http://s3.example: S3 endpoint unreachable")

        def append(self, entries):
            raise ConnectionError("S3 endpoint unreachable")

    with db.transaction() as s:
        s.get(InvoiceRow, stray).archive_entry_id = samples_released["archive"].receipt(
            f"received-{s.get(InvoiceRow, stray).file_sha256}").entry_id
    outage = RecordArchiver(db, Down()).archive_pending()  # no exception: the records wait
    assert outage.approval_trails == 0 and "S3 endpoint unreachable" in str(outage.problems[0])
    assert RecordArchiver(db, archive).pending_counts()["approval-trail"] == 1
    assert RecordArchiver(db, archive).archive_pending().approval_trails == 1


def test_archived_approval_trail_verifies_in_an_export(db, samples_released, tmp_path):
    """The trail entries are ordinary archive entries: a signed log with them verifies offline."""
    key = signing.generate()
    store = DirStore(tmp_path / "signed")
    archive = Archive.on_store(store, signing_key=key)
    archive.append([archive_entry for archive_entry in _copy_entries(samples_released["archive"])])
    report = RecordArchiver(db, archive).archive_pending()
    assert report.approval_trails == 4
    rep = verify(store, key.public_key())
    assert rep.ok and rep.leaves == 8, rep.to_text()


def _copy_entries(source):
    """The received entries of ``source`` as new inputs (same ids, documents and metadata)."""
    from archive import ArchiveDocument, EntryInput

    out = []
    for seq in range(source.size):
        _, rec = source.read_leaf(seq)
        docs = [ArchiveDocument(d["name"], d["media_type"], source.store.get(f"objects/sha256/{d['sha256']}"))
                for d in rec["documents"]]
        out.append(EntryInput(rec["entry_id"], docs, rec["metadata"], retention_class=rec["retention"]["class"],
                              retention_base=dt.date.fromisoformat(rec["retention"]["base"])))
    return out


def test_cli_counts_archives_and_says_what_stays_pending(db, tmp_path, monkeypatch, seaweedfs, bucket_name):
    from click.testing import CliRunner

    from einvoice.cli import main
    from tests.finance.conftest import org_data, released_invoice, write_org

    org = make_org(tmp_path)
    invoice_id = released_invoice(db, org)  # a row without archived original: its trail is archived unlinked
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EINVOICE_DATABASE_URL", db.url)
    monkeypatch.setenv("EINVOICE_ORGANISATION", write_org(tmp_path / "org.yaml", org_data(tmp_path)))
    monkeypatch.setenv("EINVOICE_ARCHIVE_BUCKET", bucket_name)
    monkeypatch.delenv("EINVOICE_ARCHIVE_SIGNING_KEY", raising=False)
    runner = CliRunner()
    # no lock-enabled bucket yet: the archive refuses to write, nothing is lost, exit 2
    out = runner.invoke(main, ["archive-records"])
    assert out.exit_code == 2 and "does not exist" in out.output, out.output
    assert runner.invoke(main, ["archive-records", "--pending"]).output.strip() == \
        "waiting: 1 approval trail(s), 0 payment run(s)"

    Archive.init_bucket(seaweedfs.client(), bucket_name)
    out = runner.invoke(main, ["archive-records", "--format", "json"])
    assert out.exit_code == 0, out.output
    [entry] = json.loads(out.output)["entries"]
    assert entry["kind"] == "approval-trail" and entry["invoice_id"] == invoice_id
    assert json.loads(runner.invoke(main, ["archive-records", "--pending", "--format", "json"]).output) == \
        {"approval-trail": 0, "payment-run": 0}


def test_cursor_passes_only_settled_and_archived_decisions(db, samples_released, tmp_path):
    """The poller reads only audit events after its cursor; the cursor never passes a pending decision."""
    from einvoice.db.models import ArchiveCursor
    from einvoice.followups.records import SETTLE
    from tests.finance.conftest import released_invoice

    archive, org = samples_released["archive"], samples_released["org"]
    archiver = RecordArchiver(db, archive)

    def cursor():
        with db.sessions() as s:
            row = s.get(ArchiveCursor, "approval-trail")
            return row.through_id if row else None

    def age_all_events():
        with db.transaction() as s:  # row by row: SQLite has no datetime arithmetic in SQL
            for e in s.scalars(sa.select(InvoiceEvent)):
                e.at = e.at - SETTLE - dt.timedelta(minutes=1)

    def last_event_id():
        with db.sessions() as s:
            return s.scalar(sa.select(sa.func.max(InvoiceEvent.id)))

    assert archiver.archive_pending().approval_trails == 4
    assert cursor() is None  # the decisions are younger than SETTLE: a slower transaction might still commit
    age_all_events()
    assert archiver.archive_pending().approval_trails == 0 and cursor() == last_event_id()

    # a decision whose original the archive does not hold stays pending, and holds the cursor before it
    stuck = released_invoice(db, org)
    with db.transaction() as s:
        s.get(InvoiceRow, stuck).archive_entry_id = "received-elsewhere"
        stuck_decision = s.scalar(sa.select(InvoiceEvent.id).where(InvoiceEvent.invoice_id == stuck,
                                                                   InvoiceEvent.to_state == "released"))
    later = released_invoice(db, org)
    age_all_events()
    report = archiver.archive_pending()
    assert report.approval_trails == 1 and [e["invoice_id"] for e in report.entries] == [later]
    assert len(report.problems) == 1 and cursor() == stuck_decision - 1
    assert archiver.pending_counts()["approval-trail"] == 1

    with db.transaction() as s:  # the operator points it at its entry: archived, the cursor moves on
        s.get(InvoiceRow, stuck).archive_entry_id = None
    assert archiver.archive_pending().approval_trails == 1 and cursor() == last_event_id()
    assert archiver.pending_counts()["approval-trail"] == 0


def test_stuck_decisions_do_not_hold_back_later_ones(db, samples_released):
    archive, ids = samples_released["archive"], samples_released["ids"]
    stuck = [ids["01-xrechnung-ubl-invoice.xml"], ids["02-xrechnung-ubl-creditnote.xml"]]
    with db.transaction() as s:
        for i in stuck:
            s.get(InvoiceRow, i).archive_entry_id = f"received-elsewhere-{i}"
    report = RecordArchiver(db, archive).archive_pending(limit=2)
    assert report.approval_trails == 2 and len(report.problems) == 2
    assert {e["invoice_id"] for e in report.entries} == set(ids.values()) - set(stuck)


def test_retention_year_of_a_trail_follows_german_time(db, tmp_path):
    """Released at 00:30 on 1 January 2026 in Berlin, which is still 2025 in UTC."""
    from archive.store import DirStore
    from tests.finance.conftest import released_invoice

    org = make_org(tmp_path)
    inv = released_invoice(db, org, issue_date=dt.date(2025, 12, 1), due_date=dt.date(2026, 1, 15))
    with db.transaction() as s:
        decision = s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.invoice_id == inv,
                                                           InvoiceEvent.to_state == "released")).one()
        decision.at = dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.timezone.utc)
        s.get(InvoiceRow, inv).received_at = dt.datetime(2025, 12, 2, 9, 0, tzinfo=dt.timezone.utc)
    archive = Archive.on_store(DirStore(tmp_path / "a"))
    [entry] = RecordArchiver(db, archive).archive_pending().entries
    assert _leaf(archive, entry["entry_id"])["retention"] == {
        "class": "approval-trail", "years": 8, "base": "2026-01-01", "until": "2035-01-01T00:00:00Z"}


def test_a_trail_counts_from_receipt_not_from_the_suppliers_issue_date(db, tmp_path):
    """An issue date of 2150 must not lock the trail until 2159 (the supplier controls that date)."""
    from archive.store import DirStore
    from tests.finance.conftest import released_invoice

    org = make_org(tmp_path)
    released_invoice(db, org, issue_date=dt.date(2150, 5, 1), due_date=dt.date(2150, 6, 1))
    archive = Archive.on_store(DirStore(tmp_path / "a"))
    [entry] = RecordArchiver(db, archive).archive_pending().entries
    ret = _leaf(archive, entry["entry_id"])["retention"]
    assert ret["class"] == "approval-trail" and ret["base"][:4] == str(dt.date.today().year)
