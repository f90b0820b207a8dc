"""Retention that follows the law: extension decisions on real Object Lock, impossible bases refused."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from archive import ArchiveError, EntryInput, retention, signing
from archive.store import S3Store
from archive.verify import verify

from .conftest import make_entry

pytestmark = pytest.mark.s3


def _lock(s3, bucket, key) -> datetime:
    r = s3.get_object_retention(Bucket=bucket, Key=key)["Retention"]
    assert r["Mode"] == "COMPLIANCE"
    return r["RetainUntilDate"].astimezone(timezone.utc)


def _archive_three(archive):
    a = make_entry(1, base=date(2025, 3, 1))  # invoice 2025: until 2034-01-01
    b = make_entry(2, base=date(2026, 3, 1))  # invoice 2026: until 2035-01-01
    c = make_entry(3, base=date(2025, 5, 1), retention_class="posting-record")  # 10 years: 2036-01-01
    return archive.append([a, b, c])


def test_extend_retention_raises_locks_records_the_decision_and_verifies(archive, s3, locked_bucket, signing_key):
    ra, rb, rc = _archive_three(archive)
    today = datetime.now(timezone.utc).date()
    result = archive.extend_retention(["invoice"], [2025], today, years=12,
                                      reason="Feststellung des Jahresabschlusses 2025 (Ratsbeschluss)",
                                      reference="Rat 2026/117", decided_by="Kämmerei")
    until = datetime(today.year + 13, 1, 1, tzinfo=timezone.utc)
    assert result.until == until and result.affected_entries == 1
    # The 2025 invoice's documents and every log page now carry the later lock, read back from S3.
    for key in ra.document_keys.values():
        assert _lock(s3, locked_bucket, key) == until
    for key in S3Store(s3, locked_bucket).list("log/leaves/"):
        assert _lock(s3, locked_bucket, key) >= until
    # Another year and another class keep their own retention.
    assert _lock(s3, locked_bucket, rb.document_keys["original.xml"]) == datetime(2035, 1, 1, tzinfo=timezone.utc)
    assert _lock(s3, locked_bucket, rc.document_keys["original.xml"]) == datetime(2036, 1, 1, tzinfo=timezone.utc)
    # The decision is an archive entry of its own, kept exactly as long as what it extends.
    _, rec = archive.read_leaf(result.decision.sequence)
    assert rec["metadata"]["event"] == "retention-extension"
    assert rec["metadata"]["base_years"] == [2025] and rec["metadata"]["retention_classes"] == ["invoice"]
    assert rec["retention"]["until"] == until.strftime("%Y-%m-%dT%H:%M:%SZ")
    doc = json.loads(s3.get_object(Bucket=locked_bucket,
                                   Key=result.decision.document_keys["retention-extension.json"])["Body"].read())
    assert doc["affected"] == [{"seq": ra.sequence, "entry_id": ra.entry_id}]
    assert doc["reason"].startswith("Feststellung")
    rep = verify(S3Store(s3, locked_bucket), signing_key.public_key(), check_lock=True)
    assert rep.ok, rep.to_text()


def test_verify_fails_when_a_lock_ends_before_a_recorded_extension(archive, s3, locked_bucket, signing_key):
    ra, _, _ = _archive_three(archive)
    today = datetime.now(timezone.utc).date()
    # A decision archived without raising the locks (what a crash-free but wrong writer would leave).
    until = datetime(today.year + 13, 1, 1, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    archive.append([EntryInput(
        entry_id=f"{retention.PREFIX}invoice:2025:test", documents=[],
        metadata={"event": "retention-extension", "retention_classes": ["invoice"], "base_years": [2025],
                  "retain_until": until, "reason": "test"},
        retention_class="invoice", retention_years=12, retention_base=today)])
    rep = verify(S3Store(s3, locked_bucket), signing_key.public_key(), check_lock=True)
    assert not rep.ok
    short = {p.key for p in rep.problems if p.code == "lock-too-short"}
    assert set(ra.document_keys.values()) <= short
    # The same archive without --check-lock is intact: only the locks are short.
    assert verify(S3Store(s3, locked_bucket), signing_key.public_key()).ok


def test_a_decision_that_does_not_match_its_own_retention_is_a_finding(archive, s3, locked_bucket, signing_key):
    today = datetime.now(timezone.utc).date()
    archive.append([make_entry(1, base=date(2025, 3, 1)), EntryInput(
        entry_id=f"{retention.PREFIX}invoice:2025:forged", documents=[],
        metadata={"event": "retention-extension", "retention_classes": ["invoice"], "base_years": [2025],
                  "retain_until": "2099-01-01T00:00:00Z", "reason": "claims more than its own lock"},
        retention_class="invoice", retention_base=today)])
    rep = verify(S3Store(s3, locked_bucket), signing_key.public_key())
    assert [p.code for p in rep.problems if p.severity == "failure"] == ["retention-extension-invalid"]


@pytest.mark.parametrize("base, why", [
    (date(1999, 5, 1), "ended on 2008-01-01"),
    (date(9999, 5, 1), "after the year 9999"),
    (date(2150, 5, 1), "could never be shortened"),
])
def test_impossible_retention_bases_are_refused_before_any_write(archive, s3, locked_bucket, base, why):
    with pytest.raises(ArchiveError, match=why) as exc:
        archive.append([make_entry(7, base=base)])
    assert exc.value.kind == "usage"
    assert list(S3Store(s3, locked_bucket).list("objects/")) == []
    assert archive.size == 0


def test_extend_retention_cli(archive, s3, locked_bucket, signing_key, tmp_path, seaweedfs):
    from click.testing import CliRunner

    from archive.cli import archive_cli

    ra, _, _ = _archive_three(archive)
    keyfile = tmp_path / "archive.key"
    keyfile.write_bytes(signing.private_pem(signing_key))
    env = seaweedfs.env()
    today = datetime.now(timezone.utc).date()
    res = CliRunner().invoke(archive_cli, [
        "extend-retention", "--endpoint", seaweedfs.endpoint, "--bucket", locked_bucket, "--signing-key",
        str(keyfile), "--class", "invoice", "--class", "posting-record", "--year", "2025",
        "--counted-from", today.isoformat(), "--years", "11", "--reason", "Betriebsprüfung 2025 offen"], env=env)
    assert res.exit_code == 0, res.output
    assert "2 entries" in res.output
    until = datetime(today.year + 12, 1, 1, tzinfo=timezone.utc)
    assert _lock(s3, locked_bucket, ra.document_keys["original.xml"]) == until
    assert verify(S3Store(s3, locked_bucket), signing_key.public_key(), check_lock=True).ok
