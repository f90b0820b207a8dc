"""The verifier on an exported copy: intact passes; every kind of tampering is caught by name."""
from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from datetime import date
from pathlib import Path

import pytest

from archive import Archive, ArchiveDocument, ArchiveError, EntryInput, canonical, log, signing
from archive.export import export
from archive.store import DirStore, S3Store
from archive.verify import FAILURE, ORPHAN, verify

from .conftest import make_entry

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def golden(seaweedfs, tmp_path_factory):
    """An archive of 10 leaves in 4 batches (checkpoints at 3, 5, 9, 10), exported once."""
    import uuid

    s3 = seaweedfs.client()
    bucket = f"t-golden-{uuid.uuid4().hex[:12]}"
    Archive.init_bucket(s3, bucket)
    key = signing.generate()
    a = Archive(s3, bucket, signing_key=key)
    a.segment_size = 4
    a.append([make_entry(i) for i in range(3)])
    a.append([make_entry(3), EntryInput("entry-0/approval", [ArchiveDocument("trail.json", "application/json",
                                                                           b'{"steps":[]}')],
                                        {"kind": "approval-trail"}, relates_to="entry-0",
                                        relation="approval-trail", retention_base=date(2026, 11, 2))])
    a.append([make_entry(i, base=date(2025, 5, 5)) for i in range(5, 9)])
    a.append([make_entry(9)])
    a.close()
    out = tmp_path_factory.mktemp("golden") / "export"
    export(S3Store(s3, bucket), out, signing_key=key)
    return {"dir": out, "key": key, "s3": s3, "bucket": bucket}


def copy_of(golden, tmp_path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(golden["dir"], dst)
    for p in dst.rglob("*"):
        if p.is_file():
            p.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return dst


def run(path: Path, golden, **kw):
    return verify(DirStore(path), golden["key"].public_key(), **kw)


def codes(report, severity=FAILURE) -> set[str]:
    return {p.code for p in report.problems if p.severity == severity}


def page(path: Path, first: int) -> Path:
    return path / log.page_key(first)


def test_intact_export_verifies(golden, tmp_path):
    r = run(golden["dir"], golden)
    assert r.ok, r.to_text()
    assert (r.leaves, r.checkpoints) == (10, 4)
    assert r.documents == 19  # 9 entries x 2 distinct documents + 1 approval trail
    assert r.latest_checkpoint["tree_size"] == 10
    assert not codes(r, ORPHAN)


def test_intact_bucket_verifies_with_locks(golden):
    r = verify(S3Store(golden["s3"], golden["bucket"]), golden["key"].public_key(), check_lock=True)
    assert r.ok, r.to_text()


def test_flipped_object_byte(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    obj = sorted((d / "objects/sha256").iterdir())[3]
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0x01
    obj.write_bytes(bytes(data))
    r = run(d, golden)
    bad = [p for p in r.problems if p.code == "object-hash-mismatch"]
    assert len(bad) == 1 and bad[0].expected == obj.name and bad[0].computed != obj.name


@pytest.mark.parametrize("target", ["page", "checkpoint"])
def test_every_flipped_byte_in_leaves_and_checkpoints_is_detected(golden, tmp_path, target):
    d = copy_of(golden, tmp_path)
    f = page(d, 3) if target == "page" else d / log.checkpoint_key(5)
    original = f.read_bytes()
    step = 3 if target == "page" else 1
    for pos in range(0, len(original), step):
        data = bytearray(original)
        data[pos] ^= 0x20 if data[pos] != 0x0a else 0x01
        f.write_bytes(bytes(data))
        r = run(d, golden)
        assert not r.ok, f"flip at byte {pos} of {f.name} went unnoticed"
    f.write_bytes(original)
    assert run(d, golden).ok


def test_deleted_leaf(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    lines = page(d, 5).read_bytes().split(b"\n")
    del lines[1]
    page(d, 5).write_bytes(b"\n".join(lines))
    c = codes(run(d, golden))
    assert {"chain-broken", "leaf-seq-mismatch", "checkpoint-root-mismatch"} <= c


def test_reordered_leaves(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    lines = page(d, 5).read_bytes().split(b"\n")
    lines[0], lines[1] = lines[1], lines[0]
    page(d, 5).write_bytes(b"\n".join(lines))
    r = run(d, golden)
    msgs = [p for p in r.problems if p.code == "leaf-seq-mismatch"]
    assert msgs and msgs[0].expected == "5" and msgs[0].computed == "6"


def test_duplicated_leaf(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    lines = page(d, 5).read_bytes().split(b"\n")
    lines.insert(1, lines[0])
    page(d, 5).write_bytes(b"\n".join(lines))
    c = codes(run(d, golden))
    assert {"duplicate-entry", "leaf-seq-mismatch"} <= c


def test_deleted_page_is_a_gap(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    page(d, 3).unlink()
    r = run(d, golden)
    gap = [p for p in r.problems if p.code == "sequence-gap"]
    assert gap and "leaves 3..4 are missing" in gap[0].message


def test_replayed_old_checkpoint(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    (d / log.checkpoint_key(9)).write_bytes((d / log.checkpoint_key(5)).read_bytes())
    r = run(d, golden)
    rep = [p for p in r.problems if p.code == "checkpoint-replayed"]
    assert rep and rep[0].expected == "9" and rep[0].computed == "5"


def test_truncated_log(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    page(d, 9).unlink()
    assert "log-truncated" in codes(run(d, golden))
    # Remove the newest checkpoint too: only a checkpoint the auditor kept can tell.
    trusted = (d / log.checkpoint_key(10)).read_bytes()
    (d / log.checkpoint_key(10)).unlink()
    (d / log.checkpoint_key(10)).parent.joinpath("x").touch()
    (d / log.checkpoint_key(10)).parent.joinpath("x").unlink()
    assert "log-truncated" not in codes(run(d, golden))
    r = run(d, golden, trusted_checkpoint=trusted)
    assert "rollback" in codes(r)


def test_truncated_page_file(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    p = page(d, 5)
    p.write_bytes(p.read_bytes()[:-40])
    assert "page-truncated" in codes(run(d, golden))


def test_fork_overlapping_page(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    # A second history for positions 7.. written beside the real one.
    lines = page(d, 5).read_bytes().split(b"\n")[2:]
    page(d, 7).write_bytes(b"\n".join(lines))
    assert "fork" in codes(run(d, golden))


def test_rewritten_history_resigned_by_insider(golden, tmp_path, s3, bucket_name):
    """An insider with the key rebuilds the log differently: the auditor's old checkpoint exposes it."""
    trusted = (golden["dir"] / log.checkpoint_key(5)).read_bytes()
    Archive.init_bucket(s3, bucket_name)
    a = Archive(s3, bucket_name, signing_key=golden["key"])
    a.append([make_entry(i) for i in range(3)])
    a.append([make_entry(3), make_entry(99)])  # differs from the original at seq 4
    out = tmp_path / "forged"
    export(S3Store(s3, bucket_name), out, signing_key=golden["key"])
    assert run(out, golden).ok  # self-consistent on its own ...
    r = run(out, golden, trusted_checkpoint=trusted)
    assert "fork" in codes(r)  # ... but not the log the auditor saw


def test_deleted_object_and_orphan(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    victim = sorted((d / "objects/sha256").iterdir())[0]
    victim.unlink()
    (d / "objects/sha256" / ("ab" * 32)).write_bytes(b"left over")
    r = run(d, golden)
    assert "object-missing" in codes(r)
    assert "orphan-object" in codes(r, ORPHAN)


def test_orphans_alone_are_not_corruption(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    (d / "objects/sha256" / ("cd" * 32)).write_bytes(b"from a crashed append")
    r = run(d, golden)
    assert r.ok and codes(r, ORPHAN) == {"orphan-object"}


def _objects_of(d: Path, entry_seq: int) -> list[Path]:
    """The object files of the leaf at ``entry_seq`` (read from the copy's pages)."""
    for p in sorted((d / "log/leaves").iterdir()):
        for line in log.split_page(p.read_bytes()):
            rec = log.decode_leaf(line)
            if rec["seq"] == entry_seq:
                return [d / "objects/sha256" / doc["sha256"] for doc in rec["documents"]]
    raise AssertionError(f"no leaf {entry_seq}")


def test_documents_deleted_after_their_retention_are_expired_not_missing(golden, tmp_path):
    """Entries 5..8 have base 2025: kept until 2034-01-01. Entries of 2026: until 2035-01-01."""
    from datetime import datetime, timezone

    d = copy_of(golden, tmp_path)
    for f in _objects_of(d, 6):
        f.unlink()
    later = datetime(2034, 6, 1, tzinfo=timezone.utc)
    r = run(d, golden, as_of=later)
    assert r.ok, r.to_text()
    assert r.expired_documents == 2 and "documents-expired" in codes(r, "note")
    assert r.to_dict()["expired_documents"] == 2 and "deleted after their retention" in r.to_text()
    # judged today (or by an auditor replaying 2033), the same deletion is a missing document
    for when in (None, datetime(2033, 12, 31, 23, 59, 59, tzinfo=timezone.utc)):
        r = run(d, golden, as_of=when)
        assert "object-missing" in codes(r) and r.expired_documents == 0
    # a 2026 document deleted in mid-2034 is still one year early
    _objects_of(d, 0)[0].unlink()
    r = run(d, golden, as_of=later)
    assert codes(r) == {"object-missing"} and r.expired_documents == 2
    # worker processes judge the same
    assert run(d, golden, as_of=later, processes=2).to_dict() == r.to_dict()


def test_shared_document_expires_with_the_last_entry_that_needs_it(tmp_path):
    from datetime import datetime, timezone

    key = signing.generate()
    store = DirStore(tmp_path / "a")
    a = Archive.on_store(store, signing_key=key)
    shared = ArchiveDocument("original.xml", "application/xml", b"<Invoice>same bytes</Invoice>")
    a.append([EntryInput("old", [shared], {}, retention_base=date(2016, 1, 1)),   # kept until 2025-01-01
              EntryInput("new", [shared], {}, retention_base=date(2026, 1, 1))])  # kept until 2035-01-01
    (tmp_path / "a" / "objects/sha256" / shared.sha256).unlink()
    assert codes(verify(store, key.public_key(), as_of=datetime(2030, 1, 1, tzinfo=timezone.utc))) == {"object-missing"}
    r = verify(store, key.public_key(), as_of=datetime(2035, 1, 1, tzinfo=timezone.utc))
    assert r.ok and r.expired_documents == 1


def test_cli_verify_as_of(golden, tmp_path):
    from click.testing import CliRunner

    from archive.cli import archive_cli

    d = copy_of(golden, tmp_path)
    for f in _objects_of(d, 6):
        f.unlink()
    pub = tmp_path / "pub.pem"
    pub.write_bytes(signing.public_pem(golden["key"].public_key()))
    runner = CliRunner()
    now = runner.invoke(archive_cli, ["verify", "--dir", str(d), "--key", str(pub)])
    assert now.exit_code == 1 and "object-missing" in now.output
    later = runner.invoke(archive_cli, ["verify", "--dir", str(d), "--key", str(pub), "--as-of", "2034-06-01",
                                        "--format", "json"])
    assert later.exit_code == 0, later.output
    assert json.loads(later.output)["expired_documents"] == 2


@pytest.mark.parametrize("edit", [
    lambda d: {**d, "tree_size": str(d["tree_size"])},        # "5" still signs as 5 in a loose reader
    lambda d: {**d, "tree_size": "\u0665"},                    # Arabic-Indic five: int() accepts it
    lambda d: {**d, "note": "added later"},                    # a field the signature does not cover
    lambda d: {**d, "v": True},                                # True == 1 in Python
])
def test_checkpoint_with_the_old_signature_on_other_bytes(golden, tmp_path, edit):
    d = copy_of(golden, tmp_path)
    path = d / log.checkpoint_key(5)
    path.write_bytes(canonical.dumps(edit(json.loads(path.read_bytes()))))
    r = run(d, golden)
    assert "checkpoint-malformed" in codes(r), r.to_text()


def test_forged_leaf_file_name(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    (d / "log/leaves/000000000003.jsonl.bak").write_bytes(page(d, 3).read_bytes())
    assert "unexpected-key" in codes(run(d, golden))


def test_index_segment_tamper(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    seg = d / log.segment_key(0, 5)
    rec = json.loads(seg.read_bytes())
    rec["entries"][1] = "entry-forged"
    seg.write_bytes(canonical.dumps(rec))
    assert "index-mismatch" in codes(run(d, golden))


def test_wrong_key(golden, tmp_path):
    r = verify(DirStore(golden["dir"]), signing.generate().public_key())
    assert {"checkpoint-wrong-key", "checkpoint-signature-invalid"} <= codes(r)


def test_year_export_scopes_documents(golden, tmp_path):
    out = tmp_path / "y2025"
    export(S3Store(golden["s3"], golden["bucket"]), out, years=[2025], signing_key=golden["key"])
    r = run(out, golden)
    assert r.ok, r.to_text()
    assert "out-of-scope" in codes(r, "note")
    assert len(list((out / "objects/sha256").iterdir())) == 8
    rows = (out / "gobd/entries.csv").read_bytes().decode("utf-8").split("\r\n")
    assert len([x for x in rows if x]) == 4


def test_key_rotation_old_and_new_keys(golden, tmp_path, s3, bucket_name):
    """Checkpoints signed before and after a key rotation verify when both public keys are given."""
    new_key = signing.generate()
    Archive.init_bucket(s3, bucket_name)
    Archive(s3, bucket_name, signing_key=golden["key"]).append([make_entry(1)])
    # A writer builds only on checkpoints of keys it trusts: the rotated writer names the old key.
    with pytest.raises(ArchiveError, match="not signed by a trusted archive key"):
        Archive(s3, bucket_name, signing_key=new_key).append([make_entry(2)])
    Archive(s3, bucket_name, signing_key=new_key, trusted_keys=[golden["key"].public_key()]).append([make_entry(2)])
    store = S3Store(s3, bucket_name)
    assert "checkpoint-wrong-key" in codes(verify(store, golden["key"].public_key()))
    r = verify(store, [golden["key"].public_key(), new_key.public_key()])
    assert r.ok, r.to_text()


# -- the same checks in worker processes (large exports are verified with one process per core)

def tampered_copy(golden, tmp_path) -> Path:
    """A copy with one problem of each kind the per-leaf and per-object work finds."""
    d = copy_of(golden, tmp_path)
    first = [json.loads(x) for x in page(d, 0).read_bytes().split(b"\n")[:2]]
    flipped, deleted = (d / "objects/sha256" / leaf["documents"][0]["sha256"] for leaf in first)
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))  # object-hash-mismatch
    deleted.unlink()  # object-missing
    (d / "objects/sha256" / ("ab" * 32)).write_bytes(b"left over")  # orphan-object
    lines = page(d, 5).read_bytes().split(b"\n")
    lines[0], lines[1] = lines[1], lines[0]  # leaf-seq-mismatch, chain-broken, root mismatch
    lines[2] = lines[2].replace(b'"seq":7', b'"seq": 7')  # leaf-not-canonical
    page(d, 5).write_bytes(b"\n".join(lines))
    p3 = page(d, 3)
    p3.write_bytes(p3.read_bytes()[:-20])  # page-truncated, leaf-unreadable
    return d


def test_worker_processes_report_exactly_what_one_process_reports(golden, tmp_path):
    d = tampered_copy(golden, tmp_path)
    one = run(d, golden, processes=0)
    two = run(d, golden, processes=2)
    assert {"object-hash-mismatch", "object-missing", "leaf-seq-mismatch", "chain-broken", "leaf-not-canonical",
            "page-truncated", "leaf-unreadable", "checkpoint-root-mismatch"} <= codes(one)
    assert two.to_dict() == one.to_dict()
    assert run(golden["dir"], golden, processes=2).to_dict() == run(golden["dir"], golden, processes=0).to_dict()


def test_flipped_object_byte_in_a_worker_process(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    obj = sorted((d / "objects/sha256").iterdir())[7]
    data = bytearray(obj.read_bytes())
    data[0] ^= 0x80
    obj.write_bytes(bytes(data))
    r = run(d, golden, processes=2)
    bad = [p for p in r.problems if p.code == "object-hash-mismatch"]
    assert not r.ok and len(bad) == 1
    assert bad[0].key == f"objects/sha256/{obj.name}" and bad[0].expected == obj.name and bad[0].computed != obj.name


def test_large_export_uses_worker_processes_by_default(golden, tmp_path, monkeypatch):
    from archive import verify as verify_module

    started = []
    real = verify_module._Pool.__init__

    def spy(self, store, processes, *a):
        started.append(processes)
        real(self, store, processes, *a)

    monkeypatch.setattr(verify_module._Pool, "__init__", spy)
    monkeypatch.setattr(verify_module._Pool, "MIN_OBJECTS", 10)
    d = tampered_copy(golden, tmp_path)
    r = run(d, golden)
    assert started == ([len(os.sched_getaffinity(0))] if len(os.sched_getaffinity(0)) >= 2 else [])
    assert r.to_dict() == run(d, golden, processes=0).to_dict()


def test_dead_worker_processes_fall_back_to_this_process(golden, tmp_path, monkeypatch):
    d = tampered_copy(golden, tmp_path)
    expected = run(d, golden, processes=0)
    monkeypatch.setattr(sys, "executable", "/bin/false")  # every worker exits at once
    r = run(d, golden, processes=2)
    monkeypatch.undo()
    assert "single-process" in codes(r, "note")
    assert [p for p in r.problems if p.code != "single-process"] == expected.problems


def test_error_in_a_worker_task_propagates(golden, tmp_path):
    d = copy_of(golden, tmp_path)
    unreadable_orphan = d / "objects/sha256" / ("ee" * 32)
    os.symlink(unreadable_orphan.name, unreadable_orphan)  # opening it fails (ELOOP)
    # An orphan is never read, in this process or in a worker.
    assert run(d, golden, processes=2).to_dict() == run(d, golden, processes=0).to_dict()
    loop = d / "objects/sha256" / json.loads(page(d, 0).read_bytes().split(b"\n")[0])["documents"][0]["sha256"]
    loop.unlink()
    os.symlink(loop.name, loop)
    for processes in (0, 2):
        with pytest.raises(ArchiveError) as exc:  # a document that cannot be read is an I/O error
            run(d, golden, processes=processes)
        assert exc.value.kind == "io" and loop.name in str(exc.value)
