"""Appending to a real SeaweedFS bucket: receipts, idempotency, retention, follow-up entries."""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone

import pytest

from archive import Archive, ArchiveDocument, ArchiveError, EntryInput, log, merkle, signing
from archive.writer import decode_checkpoint

from .conftest import make_entry

pytestmark = pytest.mark.s3


def test_append_stores_bytes_leaves_and_signed_checkpoint(archive, s3, locked_bucket, signing_key):
    receipts = archive.append([make_entry(i) for i in range(3)])
    assert [r.sequence for r in receipts] == [0, 1, 2]
    r0 = receipts[0]
    xml = b"<Invoice><ID>R-0</ID></Invoice>"
    assert r0.document_keys["original.xml"] == "objects/sha256/" + hashlib.sha256(xml).hexdigest()
    assert s3.get_object(Bucket=locked_bucket, Key=r0.document_keys["original.xml"])["Body"].read() == xml
    assert r0.retain_until == datetime(2035, 1, 1, tzinfo=timezone.utc)
    page = s3.get_object(Bucket=locked_bucket, Key=log.page_key(0))["Body"].read()
    lines = log.split_page(page)
    assert len(lines) == 3 and merkle.hash_leaf(lines[0]).hex() == r0.leaf_hash
    assert log.decode_leaf(lines[1])["prev_leaf_hash"] == r0.leaf_hash
    cp = decode_checkpoint(s3.get_object(Bucket=locked_bucket, Key=log.checkpoint_key(3))["Body"].read())
    assert cp.tree_size == 3
    assert cp.root_hash == merkle.root_from_leaf_hashes([merkle.hash_leaf(x) for x in lines]).hex()
    assert signing.signature_valid(signing_key.public_key(), cp.body(), cp.signature)
    head = s3.head_object(Bucket=locked_bucket, Key=r0.document_keys["original.xml"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"].astimezone(timezone.utc) == datetime(2035, 1, 1, tzinfo=timezone.utc)


def test_reappend_returns_existing_receipt_without_new_leaf(archive, s3, locked_bucket, signing_key):
    first = archive.append([make_entry(1)])[0]
    again = archive.append([make_entry(1)])[0]
    assert again.existing and (again.sequence, again.leaf_hash) == (first.sequence, first.leaf_hash)
    # A fresh writer (another process) knows it too.
    other = Archive(s3, locked_bucket, signing_key=signing_key)
    assert other.append([make_entry(1), make_entry(2)])[0].sequence == first.sequence
    assert other.size == 2


def test_procedure_documents_kept_ten_years(archive):
    r = archive.append([make_entry(5, retention_class="procedure", base=date(2026, 3, 1))])[0]
    assert r.retain_until == datetime(2037, 1, 1, tzinfo=timezone.utc)


def test_shared_document_retention_is_extended(archive, s3, locked_bucket):
    shared = ArchiveDocument("agb.pdf", "application/pdf", b"%PDF-1.7 terms")
    archive.append([EntryInput("a", [shared], {}, "invoice", date(2026, 1, 1))])
    archive.append([EntryInput("b", [shared], {}, "procedure", date(2026, 1, 1))])
    head = s3.head_object(Bucket=locked_bucket, Key="objects/sha256/" + shared.sha256)
    assert head["ObjectLockRetainUntilDate"].astimezone(timezone.utc).year == 2037


def test_follow_up_entry_binds_to_earlier_leaf(archive):
    r = archive.append([make_entry(1)])[0]
    trail = EntryInput("entry-1/approval", [ArchiveDocument("approval.json", "application/json", b"{}")],
                       {"kind": "approval-trail"}, relates_to="entry-1", relation="approval-trail",
                       retention_base=date(2026, 11, 2))
    t = archive.append([trail])[0]
    _, rec = archive.read_leaf(t.sequence)
    assert rec["relates_to"] == {"entry_id": "entry-1", "seq": r.sequence, "leaf_hash": r.leaf_hash,
                                 "relation": "approval-trail"}
    with pytest.raises(ArchiveError, match="not in the archive"):
        archive.append([EntryInput("x", [], {}, relates_to="nope", retention_base=date(2026, 1, 1))])


def test_refuses_bucket_without_object_lock(s3, bucket_name):
    s3.create_bucket(Bucket=bucket_name)
    with pytest.raises(ArchiveError, match="has no Object Lock"):
        Archive(s3, bucket_name)
    with pytest.raises(ArchiveError, match="does not exist"):
        Archive(s3, bucket_name + "-missing")
    with pytest.raises(ArchiveError, match="not a valid bucket name") as exc:
        Archive.init_bucket(s3, "x")
    assert exc.value.kind == "usage"


def test_float_metadata_refused(archive):
    with pytest.raises(ArchiveError, match="floating-point"):
        archive.append([EntryInput("f", [], {"amount": 12.5}, retention_base=date(2026, 1, 1))])


def test_legal_hold_on_and_off_is_set_and_logged(archive, s3, locked_bucket):
    r = archive.append([make_entry(1)])[0]
    ev = archive.set_legal_hold("entry-1", True)
    key = r.document_keys["original.xml"]
    assert s3.get_object_legal_hold(Bucket=locked_bucket, Key=key)["LegalHold"]["Status"] == "ON"
    _, rec = archive.read_leaf(ev.sequence)
    assert rec["metadata"]["legal_hold"] is True and rec["relates_to"]["entry_id"] == "entry-1"
    archive.set_legal_hold("entry-1", False)
    assert s3.get_object_legal_hold(Bucket=locked_bucket, Key=key)["LegalHold"]["Status"] == "OFF"


def test_server_refuses_deleting_a_locked_version_and_shortening_retention(archive, s3, locked_bucket):
    r = archive.append([make_entry(1)])[0]
    key = r.document_keys["original.xml"]
    version = s3.head_object(Bucket=locked_bucket, Key=key)["VersionId"]
    with pytest.raises(Exception) as exc:
        s3.delete_object(Bucket=locked_bucket, Key=key, VersionId=version)
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(Exception) as exc:
        s3.put_object_retention(Bucket=locked_bucket, Key=key, VersionId=version,
                                Retention={"Mode": "COMPLIANCE",
                                           "RetainUntilDate": datetime(2030, 1, 1, tzinfo=timezone.utc)})
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(Exception) as exc:
        s3.put_object(Bucket=locked_bucket, Key=log.page_key(0), Body=b"forged\n", IfNoneMatch="*")
    assert exc.value.response["Error"]["Code"] == "PreconditionFailed"
    # The bytes are still there, unchanged.
    assert s3.get_object(Bucket=locked_bucket, Key=key, VersionId=version)["Body"].read().startswith(b"<Invoice>")


def test_delete_marker_is_reported_not_hidden(archive, s3, locked_bucket, signing_key):
    """A DELETE without version id is allowed under Object Lock (it adds a delete marker); the
    verifier must say the document is hidden, and the locked version is still there."""
    from archive.store import S3Store
    from archive.verify import verify

    r = archive.append([make_entry(1)])[0]
    key = r.document_keys["original.xml"]
    s3.delete_object(Bucket=locked_bucket, Key=key)
    rep = verify(S3Store(s3, locked_bucket), signing_key.public_key())
    # The locked first version is read (and hashed) through the marker; the marker is the finding.
    marker = [p for p in rep.problems if p.code == "delete-marker"]
    assert not rep.ok and len(marker) == 1 and marker[0].key == key, rep.to_text()
    assert "object-missing" not in {p.code for p in rep.problems} and rep.documents == 2
    versions = s3.list_object_versions(Bucket=locked_bucket, Prefix=key)["Versions"]
    assert len(versions) == 1


def test_check_lock_flags_an_unlocked_page_from_a_rogue_writer(archive, s3, locked_bucket, signing_key):
    from archive import canonical
    from archive.store import S3Store
    from archive.verify import verify

    archive.append([make_entry(1), make_entry(2)])
    prev = archive.tree().leaf_hash(1).hex()
    rogue = dict(log.decode_leaf(archive.read_leaf(1)[0]), seq=2, entry_id="rogue", prev_leaf_hash=prev, documents=[])
    s3.put_object(Bucket=locked_bucket, Key=log.page_key(2), Body=canonical.dumps(rogue) + b"\n")
    rep = verify(S3Store(s3, locked_bucket), signing_key.public_key(), check_lock=True)
    codes = {(p.code, p.key) for p in rep.problems}
    # The bucket's default retention (bucket-init) locked the rogue page for a year only: too short.
    assert ("lock-too-short", log.page_key(2)) in codes, rep.to_text()
    # No signed intent names it: not an interrupted append but a page the writer never wrote.
    assert ("page-unauthenticated", log.page_key(2)) in codes
    assert "unsigned-tail" not in {p.code for p in rep.problems}
    with pytest.raises(ArchiveError, match="not authenticated") as exc:
        Archive(s3, locked_bucket, signing_key=signing_key).append([make_entry(3)])
    assert exc.value.kind == "integrity"


def test_new_writer_starts_from_index_segments(archive, s3, locked_bucket, signing_key):
    archive.segment_size = 4
    for b in range(3):
        archive.append([make_entry(3 * b + i) for i in range(3)])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=locked_bucket, Prefix="log/index/")["Contents"]]
    assert keys == [log.segment_key(0, 6)]
    fresh = Archive(s3, locked_bucket, signing_key=signing_key)
    fresh.segment_size = 4
    again = fresh.append([make_entry(1), make_entry(7), make_entry(9)])
    assert [r.existing for r in again] == [True, True, False] and again[2].sequence == 9
    assert fresh.tree().root() == merkle.root_from_leaf_hashes(
        [fresh.tree().leaf_hash(i) for i in range(10)])


def test_writer_refuses_a_log_that_does_not_match_its_checkpoint(tmp_path, signing_key):
    from archive import canonical
    from archive.store import DirStore

    w = Archive.on_store(DirStore(tmp_path / "a"), signing_key=signing_key)
    w.segment_size = 2
    w.append([make_entry(1), make_entry(2)])
    w.append([make_entry(3)])
    seg = tmp_path / "a" / log.segment_key(0, 2)
    rec = json.loads(seg.read_bytes())
    rec["leaf_hashes"] = "00" * 32 + rec["leaf_hashes"][64:]
    seg.chmod(0o644)
    seg.write_bytes(canonical.dumps(rec))
    with pytest.raises(ArchiveError, match="inconsistent log") as exc:
        Archive.on_store(DirStore(tmp_path / "a"), signing_key=signing_key).append([make_entry(4)])
    assert exc.value.kind == "integrity"
