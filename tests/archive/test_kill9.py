"""kill -9 at every write of an append: the process dies on the spot (no exception handler, no
``finally``, no ``close()``), before the write is sent or right after the server stored it. The
next writer recovers: every entry archived exactly once, nothing lost, the log verifies.

The exception-injecting test in test_concurrency_crash.py covers the same points inside one
process; this one proves that nothing depends on cleanup code running."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from datetime import date

import pytest

from archive import Archive, ArchiveDocument, EntryInput, signing
from archive.store import S3Store
from archive.verify import ORPHAN, verify

pytestmark = pytest.mark.s3

#: The appending child: wraps its boto3 client so that the n-th write kills the process with SIGKILL.
CHILD = textwrap.dedent('''
    import os, signal, sys
    from datetime import date

    import boto3
    from botocore.config import Config

    from archive import Archive, ArchiveDocument, EntryInput, signing

    endpoint, bucket, prefix, key_file, crash_at, when = sys.argv[1:7]
    crash_at = int(crash_at)
    real = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=os.environ["K"],
                        aws_secret_access_key=os.environ["S"], region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}))

    class Killing:
        WRITES = {"put_object", "put_object_retention", "put_object_legal_hold"}
        writes = 0

        def __getattr__(self, name):
            attr = getattr(real, name)
            if name not in self.WRITES:
                return attr

            def call(*a, **kw):
                n = Killing.writes
                Killing.writes += 1
                if n == crash_at and when == "before":
                    os.kill(os.getpid(), signal.SIGKILL)
                result = attr(*a, **kw)
                if n == crash_at and when == "after":
                    os.kill(os.getpid(), signal.SIGKILL)
                return result
            return call

    shared = ArchiveDocument("agb.pdf", "application/pdf", b"%PDF shared terms")
    batch = [EntryInput(f"kill-{i}", [ArchiveDocument("original.xml", "application/xml", f"<x>{i}</x>".encode()),
                                      shared], {"n": i}, retention_base=date(2026, 1, 15)) for i in range(3)]
    a = Archive(Killing(), bucket, signing_key=signing.load_private_key(key_file), prefix=prefix)
    a.segment_size = 4
    a.append(batch)
    print("WRITES", Killing.writes)
''')


def _batch():
    shared = ArchiveDocument("agb.pdf", "application/pdf", b"%PDF shared terms")
    return [EntryInput(f"kill-{i}", [ArchiveDocument("original.xml", "application/xml", f"<x>{i}</x>".encode()),
                                     shared], {"n": i}, retention_base=date(2026, 1, 15)) for i in range(3)]


def _run_child(seaweedfs, bucket, prefix, key_file, crash_at, when):
    from devtools.seaweedfs import ACCESS_KEY, SECRET_KEY

    return subprocess.run([sys.executable, "-c", CHILD, seaweedfs.endpoint, bucket, prefix, str(key_file),
                           str(crash_at), when], capture_output=True, text=True, timeout=120,
                          env={"K": ACCESS_KEY, "S": SECRET_KEY, "PATH": "/usr/bin:/bin",
                               "PYTHONPATH": ":".join(p for p in sys.path if p)})


def _prepare(s3, bucket, key) -> str:
    prefix = f"kill-{uuid.uuid4().hex[:8]}/"
    Archive(s3, bucket, signing_key=key, prefix=prefix).append(
        [EntryInput(f"first-{i}", [ArchiveDocument("a.xml", "application/xml", f"<a>{i}</a>".encode())], {},
                    retention_base=date(2026, 1, 15)) for i in range(2)])
    return prefix


@pytest.mark.parametrize("when", ["before", "after"])
def test_kill_9_at_every_write_of_an_append_is_recovered(seaweedfs, s3, bucket_name, tmp_path, when):
    Archive.init_bucket(s3, bucket_name)
    key = signing.generate()
    key_file = tmp_path / "archive.pem"
    key_file.write_bytes(signing.private_pem(key))
    # How many writes one append makes (the child is not killed: crash_at beyond the end).
    probe = _run_child(seaweedfs, bucket_name, _prepare(s3, bucket_name, key), key_file, 10_000, when)
    assert probe.returncode == 0, probe.stderr
    total = int(probe.stdout.split("WRITES")[1])
    assert total >= 6, probe.stdout  # documents, page intent, page, checkpoint, index segment
    for n in range(total):
        prefix = _prepare(s3, bucket_name, key)
        child = _run_child(seaweedfs, bucket_name, prefix, key_file, n, when)
        assert child.returncode == -9, f"write {n} {when}: the child was not killed: {child.stdout}{child.stderr}"
        left = verify(S3Store(s3, bucket_name, prefix), key.public_key())
        assert left.ok, f"kill -9 {when} write {n}: {left.to_text()}"
        b = Archive(s3, bucket_name, signing_key=key, prefix=prefix)
        b.segment_size = 4
        receipts = b.append(_batch())
        assert [r.sequence for r in receipts] == [2, 3, 4], f"kill -9 {when} write {n}"
        final = verify(S3Store(s3, bucket_name, prefix), key.public_key())
        assert final.ok and final.leaves == 5, final.to_text()
        assert not {p.code for p in final.problems if p.severity == ORPHAN}, final.to_text()
