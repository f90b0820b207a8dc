"""Two writers at once, and a crash at every write: the log never forks, nothing is lost twice."""
from __future__ import annotations

import threading
import uuid
from datetime import date

import pytest

from archive import Archive, ArchiveDocument, ArchiveError, EntryInput
from archive.store import S3Store
from archive.verify import ORPHAN, verify

from .conftest import make_entry

pytestmark = pytest.mark.s3


def test_two_concurrent_writers_never_fork(seaweedfs, locked_bucket, signing_key):
    barrier = threading.Barrier(2)
    results: dict[str, list] = {}
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            a = Archive(seaweedfs.client(), locked_bucket, signing_key=signing_key)
            barrier.wait()
            out = []
            for b in range(8):
                batch = [make_entry(f"{name}-{b}-{i}".__hash__() & 0xFFFFFF) for i in range(3)]
                # Both writers also race on the same ids: each must be archived exactly once.
                batch.append(make_entry(1000 + b))
                out += a.append(batch)
            results[name] = out
            a.close()
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    report = verify(S3Store(seaweedfs.client(), locked_bucket), signing_key.public_key())
    assert report.ok, report.to_text()
    ids = {r.entry_id for rs in results.values() for r in rs}
    assert report.leaves == len(ids)
    # Shared ids got the same receipt in both writers.
    by_a = {r.entry_id: r.sequence for r in results["A"]}
    for r in results["B"]:
        if r.entry_id in by_a:
            assert by_a[r.entry_id] == r.sequence
    seqs = sorted({r.sequence for rs in results.values() for r in rs})
    assert seqs == list(range(len(ids)))


class CrashingClient:
    """A boto3 client that dies at its n-th write: before sending it, or after the server stored it."""

    WRITES = {"put_object", "put_object_retention", "put_object_legal_hold"}

    def __init__(self, real, crash_at: int | None, after: bool) -> None:
        self._real, self._crash_at, self._after = real, crash_at, after
        self.writes = 0
        self._lock = threading.Lock()

    def __getattr__(self, name):
        attr = getattr(self._real, name)
        if name not in self.WRITES:
            return attr

        def call(*a, **kw):
            with self._lock:
                n = self.writes
                self.writes += 1
            if n == self._crash_at and not self._after:
                raise RuntimeError(f"injected crash before write {n}")
            result = attr(*a, **kw)
            if n == self._crash_at and self._after:
                raise RuntimeError(f"injected crash after write {n}")
            return result

        return call


def _batch():
    shared = ArchiveDocument("agb.pdf", "application/pdf", b"%PDF shared terms")
    return [EntryInput(f"crash-{i}", [ArchiveDocument("original.xml", "application/xml", f"<x>{i}</x>".encode()),
                                      shared], {"n": i}, retention_base=date(2026, 1, 15)) for i in range(3)]


def _prepare(s3, bucket, signing_key) -> str:
    """A fresh archive with two entries under its own prefix (buckets are costly in SeaweedFS)."""
    prefix = f"run-{uuid.uuid4().hex[:8]}/"
    Archive(s3, bucket, signing_key=signing_key, prefix=prefix).append([make_entry(1), make_entry(2)])
    return prefix


def _writes_per_batch(s3, bucket, signing_key) -> int:
    prefix = _prepare(s3, bucket, signing_key)
    c = CrashingClient(s3, None, False)
    a = Archive(c, bucket, signing_key=signing_key, prefix=prefix)
    a.segment_size = 4
    a.append(_batch())
    return c.writes


@pytest.mark.parametrize("after", [False, True], ids=["crash-before-write", "crash-after-write"])
def test_crash_at_every_write_is_recovered(s3, locked_bucket, signing_key, after):
    bucket = locked_bucket
    total = _writes_per_batch(s3, bucket, signing_key)
    assert total == 8  # 4 distinct documents (one shared), page intent, page, checkpoint, index segment
    for n in range(total):
        prefix = _prepare(s3, bucket, signing_key)
        a = Archive(CrashingClient(s3, n, after), bucket, signing_key=signing_key, prefix=prefix)
        a.segment_size = 4
        with pytest.raises((ArchiveError, RuntimeError)):
            a.append(_batch())
        a.close()
        # What the crash left is reported as leftovers, never as corruption.
        left = verify(S3Store(s3, bucket, prefix), signing_key.public_key())
        assert left.ok, f"crash at write {n} ({'after' if after else 'before'}): {left.to_text()}"
        # The next run recovers and archives every entry exactly once.
        b = Archive(s3, bucket, signing_key=signing_key, prefix=prefix)
        b.segment_size = 4
        receipts = b.append(_batch())
        assert [r.sequence for r in receipts] == [2, 3, 4], f"crash at write {n}"
        final = verify(S3Store(s3, bucket, prefix), signing_key.public_key())
        assert final.ok and final.leaves == 5, final.to_text()
        assert not {p.code for p in final.problems if p.severity == ORPHAN}, final.to_text()
        assert final.latest_checkpoint["tree_size"] == 5


def test_losing_writer_rereads_and_retries_after_the_winner(s3, locked_bucket, signing_key):
    """Deterministic race: B decides on position 2 before A's page lands there, gets 412, re-reads
    A's page, drops the entry A already archived, and writes its page at position 4."""
    a = Archive(s3, locked_bucket, signing_key=signing_key)
    b = Archive(s3, locked_bucket, signing_key=signing_key)
    a.append([make_entry(0), make_entry(1)])
    assert b.size == 2  # B has read the log (2 leaves)
    real = b._read_new_pages
    calls = []

    def stale_once(st):
        calls.append(st.size)
        return [] if len(calls) == 1 else real(st)  # the first sync misses A's page: the race window

    b._read_new_pages = stale_once
    a.append([make_entry(2), make_entry(3)])
    receipts = b.append([make_entry(3), make_entry(4), make_entry(5)])
    assert calls[:2] == [2, 2]  # B tried position 2, lost, re-read from there
    assert [(r.entry_id, r.sequence, r.existing) for r in receipts] == [
        ("entry-3", 3, True), ("entry-4", 4, False), ("entry-5", 5, False)]
    report = verify(S3Store(s3, locked_bucket), signing_key.public_key())
    assert report.ok and report.leaves == 6, report.to_text()
