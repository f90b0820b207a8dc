"""The per-file time budget on each way a received file is validated: an intake batch validated
without the pool (``validation_jobs`` = 1), ``einvoice validate --jobs 1`` and the supplier upload.

The slow file is real: a valid XRechnung CII invoice of 8,000 lines (devtools.samples), which the
built-in rules take seconds for (about 7 s on the 2-core machine, 0.9 ms a line); the budget is
1 s, some 20 times what a sample invoice takes in a warm worker. It ends as not validated with
VALIDATION-TIMEOUT, the files before and after it get their normal verdicts and every file is
recorded. A budget of 0 validates in this process again.
"""
from __future__ import annotations

import dataclasses
import json
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

BUDGET = "1"
SLOW_LINES = 8000


@pytest.fixture(scope="module")
def invoices() -> dict[str, bytes]:
    from devtools import samples

    base = samples._hauptamt_cii_invoice()
    lines = tuple(samples.Line(f"Position {i}", Decimal(2), "C62", Decimal("10.00"), Decimal(19)) for i in range(SLOW_LINES))
    return {
        "normal-ubl.xml": samples._xml_bytes(samples.build_ubl(samples._tiefbau_invoice())),
        "slow.xml": samples._xml_bytes(samples.build_cii(dataclasses.replace(base, lines=lines))),
        "normal-cii.xml": samples._xml_bytes(samples.build_cii(base)),
    }


def _rules(report_json: str) -> set[str]:
    return {f["rule"] for f in json.loads(report_json)["findings"]}


def _pipeline(tmp_path, s3, bucket_name, database_url):
    from archive import Archive, RetentionPolicy, signing
    from einvoice.app import intake_hooks
    from einvoice.db import Database
    from einvoice.pipeline import IntakePipeline
    from tests.finance.conftest import make_org

    Archive.init_bucket(s3, bucket_name)
    archive = Archive(s3, bucket_name, signing_key=signing.generate(), policy=RetentionPolicy())
    db = Database(database_url).migrate()
    return IntakePipeline(db, make_org(tmp_path), archive, validation_jobs=1, on_record=intake_hooks())


@pytest.mark.s3
@pytest.mark.timeout(120)
def test_an_intake_batch_ends_the_slow_file_and_records_every_file(tmp_path, s3, bucket_name, database_url, invoices,
                                                                     fresh_validation_worker, monkeypatch):
    from einvoice.db.models import InvoiceEvent, InvoiceRow
    from einvoice.intake.inbox import InboxItem

    monkeypatch.setenv("EINVOICE_VALIDATION_TIMEOUT", BUDGET)
    pipeline = _pipeline(tmp_path, s3, bucket_name, database_url)
    t0 = time.monotonic()
    outcomes = pipeline.ingest([InboxItem(name, data) for name, data in invoices.items()])
    took = time.monotonic() - t0
    by_name = {o.name: o for o in outcomes}
    assert [o.name for o in outcomes] == list(invoices)
    slow = by_name["slow.xml"]
    assert slow.state == "not_validated" and slow.valid is None and slow.invoice_id is not None, slow
    assert by_name["normal-ubl.xml"].state == "in_approval" and by_name["normal-cii.xml"].state == "in_approval"
    with pipeline.db.sessions() as s:
        rows = {r.filename: r for r in s.scalars(sa.select(InvoiceRow))}
        received = {e.invoice_id for e in s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.action == "received"))}
    assert set(rows) == set(invoices) and received == {r.id for r in rows.values()}, "every file recorded, once"
    assert "VALIDATION-TIMEOUT" in _rules(rows["slow.xml"].report_json)
    assert "länger als 1 s" in json.loads(rows["slow.xml"].report_json)["findings"][0]["message"]
    assert rows["slow.xml"].archive_original_key and rows["slow.xml"].size == len(invoices["slow.xml"])
    assert took < 30, f"the batch took {took:.1f} s: the slow file was not stopped at its budget"
    pipeline.db.dispose()


@pytest.mark.s3
@pytest.mark.timeout(120)
def test_a_budget_of_0_validates_in_this_process(tmp_path, s3, bucket_name, database_url, invoices, monkeypatch):
    """Both ways, with the validator patched to note its calls: with a budget it is called in the
    worker (which notes into its own copy of the list), with 0 in this process."""
    import einvoice.validation
    from einvoice.intake.inbox import InboxItem
    from einvoice.validation import budget

    monkeypatch.setattr(budget, "_SHARED", [])
    seen: list[str] = []
    real = einvoice.validation.validate

    def noting(data, path="", **kw):
        seen.append(path)
        return real(data, path, **kw)

    monkeypatch.setattr(einvoice.validation, "validate", noting)
    pipeline = _pipeline(tmp_path, s3, bucket_name, database_url)
    normal = ("normal-ubl.xml", "normal-cii.xml")
    try:
        monkeypatch.setenv("EINVOICE_VALIDATION_TIMEOUT", "30")
        first = pipeline.ingest([InboxItem(normal[0], invoices[normal[0]])])
        assert first[0].state == "in_approval" and seen == []
        monkeypatch.setenv("EINVOICE_VALIDATION_TIMEOUT", "0")
        second = pipeline.ingest([InboxItem(normal[1], invoices[normal[1]])])
        assert second[0].state == "in_approval" and seen == [normal[1]]
    finally:
        for workers in budget._SHARED:
            workers.close()
        pipeline.db.dispose()


@pytest.mark.timeout(120)
def test_validate_command_with_jobs_1_ends_the_slow_file(tmp_path, invoices, fresh_validation_worker):
    from einvoice.validation.cli import validate_cmd

    for name, data in invoices.items():
        (tmp_path / name).write_bytes(data)
    paths = [str(tmp_path / name) for name in invoices]
    res = CliRunner().invoke(validate_cmd, ["--jobs", "1", "--format", "json", *paths],
                             env={"EINVOICE_VALIDATION_TIMEOUT": BUDGET}, catch_exceptions=False)
    assert res.exit_code == 1, res.output
    reports = {r["path"].rsplit("/", 1)[1]: r for r in json.loads(res.stdout)}
    assert list(reports) == list(invoices)
    assert reports["normal-ubl.xml"]["valid"] is True and reports["normal-cii.xml"]["valid"] is True
    slow = reports["slow.xml"]
    assert slow["valid"] is None and [f["rule"] for f in slow["findings"]] == ["VALIDATION-TIMEOUT"]

    text = CliRunner().invoke(validate_cmd, ["--jobs", "1", "--timeout", BUDGET, paths[1]], catch_exceptions=False)
    assert text.exit_code == 1 and text.output.startswith("NOT VALIDATED ") and "VALIDATION-TIMEOUT" in text.output


def test_validate_command_with_a_budget_of_0_validates_in_this_process(tmp_path, invoices, monkeypatch):
    import einvoice.validation.cli as cli

    seen: list[str] = []
    real = cli.validate

    def noting(data, path="", **kw):
        seen.append(path.rsplit("/", 1)[1])
        return real(data, path, **kw)

    monkeypatch.setattr(cli, "validate", noting)
    path = tmp_path / "normal-ubl.xml"
    path.write_bytes(invoices["normal-ubl.xml"])
    on = CliRunner().invoke(cli.validate_cmd, ["--timeout", "30", str(path)], catch_exceptions=False)
    assert on.exit_code == 0 and seen == []
    off = CliRunner().invoke(cli.validate_cmd, [str(path)], env={"EINVOICE_VALIDATION_TIMEOUT": "0"}, catch_exceptions=False)
    assert off.exit_code == 0 and seen == ["normal-ubl.xml"]
    bad = CliRunner().invoke(cli.validate_cmd, [str(path)], env={"EINVOICE_VALIDATION_TIMEOUT": "-5"})
    assert bad.exit_code == 2 and "EINVOICE_VALIDATION_TIMEOUT must be 0 or more seconds" in bad.output
