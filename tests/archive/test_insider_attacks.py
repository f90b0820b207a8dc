"""Issue 16: an insider with only the writer's S3 credentials (PutObject, DeleteObject without a
version id, both allowed under COMPLIANCE) and without the signing key cannot make the archive
lie. Each attack runs with plain boto3 against a real SeaweedFS and must fail in ``verify``
(API), ``python -m archive verify`` and ``einvoice archive verify``, with and without
``--check-lock``; the writer must neither adopt nor re-sign what the insider put there.
The same attacks on exported copies fail too, and with a witness truncation and rollback fail
without a checkpoint an auditor saved."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive import Archive, ArchiveDocument, ArchiveError, EntryInput, canonical, log, signing
from archive.export import export
from archive.store import DirStore, S3Store
from archive.verify import FAILURE, ORPHAN, verify
from archive.witness import DirWitness, S3Witness

from .conftest import make_entry

pytestmark = pytest.mark.s3
REPO = Path(__file__).resolve().parents[2]


def codes(report, severity=FAILURE) -> set[str]:
    return {p.code for p in report.problems if p.severity == severity}


@pytest.fixture
def insider(seaweedfs, tmp_path):
    """An archive of 7 leaves in 3 batches (pages 0, 3, 5; checkpoints 3, 5, 7), written with the
    writer-only identity; every checkpoint also went to a directory witness."""
    admin = seaweedfs.client()
    bucket = f"t-ins-{uuid.uuid4().hex[:12]}"
    Archive.init_bucket(admin, bucket)
    writer_s3 = seaweedfs.client(writer=True)
    key = signing.generate()
    witness_dir = tmp_path / "witness"
    a = Archive(writer_s3, bucket, signing_key=key, witness=DirWitness(witness_dir))
    a.append([make_entry(i) for i in range(3)])
    a.append([make_entry(3), make_entry(4)])
    a.append([make_entry(5), make_entry(6)])
    a.close()
    pub = tmp_path / "archive.pub.pem"
    pub.write_bytes(signing.public_pem(key.public_key()))
    return {"admin": admin, "s3": writer_s3, "bucket": bucket, "key": key, "pub": pub, "seaweedfs": seaweedfs,
            "witness": witness_dir, "tmp": tmp_path}


def verify_everywhere(ctx, expected: set[str], extra_args=()) -> dict:
    """The attack must fail in every verifier, bucket mode, with and without --check-lock; returns
    the JSON report of the ``python -m archive verify --check-lock`` run."""
    for check_lock in (False, True):
        r = verify(S3Store(ctx["admin"], ctx["bucket"]), ctx["key"].public_key(), check_lock=check_lock)
        assert not r.ok and expected <= codes(r), f"check_lock={check_lock}: {r.to_text()}"
    sw = ctx["seaweedfs"]
    env = {**os.environ, **sw.env(), "PYTHONPATH": str(REPO)}
    args = ["verify", "--endpoint", sw.endpoint, "--bucket", ctx["bucket"], "--key", str(ctx["pub"]), *extra_args]
    from einvoice.cli import main as einvoice_main

    runner = CliRunner()
    for extra in ([], ["--check-lock"]):
        out = runner.invoke(einvoice_main, ["archive", *args, *extra, "--format", "json"], env=sw.env())
        assert out.exit_code == 1, out.output
        assert expected <= {p["code"] for p in json.loads(out.output)["problems"] if p["severity"] == FAILURE}
    for extra in ([], ["--check-lock"]):
        proc = subprocess.run([sys.executable, "-m", "archive", *args, *extra, "--format", "json"], env=env,
                              capture_output=True, text=True, cwd=REPO, timeout=120)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        report = json.loads(proc.stdout)
        assert "INTACT" not in proc.stdout and not report["intact"]
        assert expected <= {p["code"] for p in report["problems"] if p["severity"] == FAILURE}
    return report


def test_intact_archive_passes_everywhere(insider):
    r = verify(S3Store(insider["admin"], insider["bucket"]), insider["key"].public_key(), check_lock=True,
               witness=DirWitness(insider["witness"]))
    assert r.ok and r.leaves == 7 and not r.problems, r.to_text()


def test_delete_markers_on_newest_page_and_checkpoint(insider):
    s3, bucket = insider["s3"], insider["bucket"]
    for key in (log.page_key(5), log.checkpoint_key(7)):
        s3.delete_object(Bucket=bucket, Key=key)  # no version id: allowed, adds a delete marker
    report = verify_everywhere(insider, {"delete-marker"})
    markers = [p for p in report["problems"] if p["code"] == "delete-marker"]
    assert {p["key"] for p in markers} == {log.page_key(5), log.checkpoint_key(7)}
    # The hidden first versions were read and verified: the log still has its 7 leaves.
    assert report["leaves"] == 7 and report["latest_checkpoint"]["tree_size"] == 7
    # The writer reads through the markers: it appends at seq 7 and never writes a version over them.
    a = Archive(s3, bucket, signing_key=insider["key"])
    [r] = a.append([make_entry(7)])
    assert r.sequence == 7
    versions = insider["admin"].list_object_versions(Bucket=bucket, Prefix=log.page_key(5))["Versions"]
    assert len(versions) == 1
    r = verify(S3Store(insider["admin"], bucket), insider["key"].public_key())
    assert codes(r) == {"delete-marker"} and r.leaves == 8, r.to_text()


def test_delete_markers_on_the_whole_log(insider):
    s3, bucket = insider["s3"], insider["bucket"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="log/")["Contents"]]
    assert len(keys) >= 8
    for key in keys:
        s3.delete_object(Bucket=bucket, Key=key)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="log/")  # hidden from a plain LIST
    report = verify_everywhere(insider, {"delete-marker"})
    assert report["leaves"] == 7 and not [p for p in report["problems"] if p["code"] == "orphan-object"]
    assert len([p for p in report["problems"] if p["code"] == "delete-marker"]) == len(keys)


def test_forged_page_version_then_writer_appends(insider):
    """New version of page 0 with one invoice's document swapped, later pages and checkpoints
    hidden, then the writer appends: it must build on the original history, not the forgery."""
    s3, bucket, admin = insider["s3"], insider["bucket"], insider["admin"]
    original = admin.get_object(Bucket=bucket, Key=log.page_key(0))["Body"].read()
    lines = log.split_page(original)
    forged_doc = b"<Invoice><ID>R-1</ID><Amount>999999.00</Amount></Invoice>"
    import hashlib

    rec = json.loads(lines[1])
    rec["documents"][0].update(sha256=hashlib.sha256(forged_doc).hexdigest(), size=len(forged_doc))
    lines[1] = canonical.dumps(rec)
    s3.put_object(Bucket=bucket, Key="objects/sha256/" + hashlib.sha256(forged_doc).hexdigest(), Body=forged_doc)
    s3.put_object(Bucket=bucket, Key=log.page_key(0), Body=log.encode_page(lines))
    for key in (log.page_key(3), log.page_key(5), log.checkpoint_key(3), log.checkpoint_key(5), log.checkpoint_key(7)):
        s3.delete_object(Bucket=bucket, Key=key)
    a = Archive(s3, bucket, signing_key=insider["key"])
    [r] = a.append([make_entry(7)])
    assert r.sequence == 7  # on top of the original 7 leaves
    _, leaf1 = a.read_leaf(1)
    assert leaf1["documents"][0]["sha256"] == json.loads(log.split_page(original)[1])["documents"][0]["sha256"]
    # The writer signed the original history: no checkpoint covers the forged page.
    cp = json.loads(admin.get_object(Bucket=bucket, Key=log.checkpoint_key(8))["Body"].read())
    assert cp["root_hash"] == a.tree().root(8).hex()
    report = verify_everywhere(insider, {"extra-version", "delete-marker"})
    extra = [p for p in report["problems"] if p["code"] == "extra-version" and p["key"] == log.page_key(0)]
    assert len(extra) == 1
    # The original beside the forgery: both versions' hashes, and the line that differs.
    assert hashlib.sha256(original).hexdigest() in extra[0]["expected"]
    assert hashlib.sha256(log.encode_page(lines)).hexdigest() in extra[0]["computed"]
    forged_sha = hashlib.sha256(forged_doc).hexdigest()
    assert "line 2 differs: documents[0].sha256: " in extra[0]["message"] and forged_sha in extra[0]["message"]
    # The forged document is not named by any verified leaf.
    assert any(p["code"] == "orphan-object" for p in report["problems"])
    assert report["leaves"] == 8 and report["latest_checkpoint"]["tree_size"] == 8
    # An export copies first versions: the copy holds the original history, intact.
    out = insider["tmp"] / "export-after-forgery"
    export(S3Store(admin, bucket), out)
    assert (out / log.page_key(0)).read_bytes() == original
    r = verify(DirStore(out), insider["key"].public_key())
    assert r.ok and r.leaves == 8 and codes(r, ORPHAN) == {"orphan-object"}, r.to_text()


def test_fake_next_page_with_its_own_lock(insider):
    s3, bucket = insider["s3"], insider["bucket"]
    a = Archive.reader(S3Store(s3, bucket))
    prev = a.tree().leaf_hash(6).hex()
    line, rec = a.read_leaf(6)
    fake = dict(rec, seq=7, entry_id="fake-invoice", prev_leaf_hash=prev)
    s3.put_object(Bucket=bucket, Key=log.page_key(7), Body=canonical.dumps(fake) + b"\n", IfNoneMatch="*",
                  ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=datetime(2040, 1, 1, tzinfo=timezone.utc))
    report = verify_everywhere(insider, {"page-unauthenticated"})
    assert not [p for p in report["problems"] if p["code"] == "unsigned-tail"]
    # The writer neither adopts nor signs it.
    with pytest.raises(ArchiveError, match="not authenticated") as exc:
        Archive(s3, bucket, signing_key=insider["key"]).append([make_entry(8)])
    assert exc.value.kind == "integrity"
    with pytest.raises(ArchiveError, match="not authenticated"):
        Archive(s3, bucket, signing_key=insider["key"]).checkpoint()
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=log.checkpoint_key(8))


def test_forged_unsigned_checkpoint_is_refused_by_the_writer(insider):
    """Page plus a checkpoint over it, both forged (no key): the writer refuses, verify fails."""
    s3, bucket = insider["s3"], insider["bucket"]
    a = Archive.reader(S3Store(s3, bucket))
    line, rec = a.read_leaf(6)
    fake = canonical.dumps(dict(rec, seq=7, entry_id="fake", prev_leaf_hash=a.tree().leaf_hash(6).hex()))
    s3.put_object(Bucket=bucket, Key=log.page_key(7), Body=fake + b"\n")
    tree = a.tree()
    from archive import merkle

    tree.append(merkle.hash_leaf(fake))
    cp = {"v": 1, "tree_size": 8, "root_hash": tree.root(8).hex(), "timestamp": "2030-01-01T00:00:00Z",
          "key_id": insider["key"].public_key() and signing.key_id(insider["key"].public_key()), "signature": "AAAA"}
    s3.put_object(Bucket=bucket, Key=log.checkpoint_key(8), Body=canonical.dumps(cp))
    with pytest.raises(ArchiveError, match="not signed by a trusted archive key"):
        Archive(s3, bucket, signing_key=insider["key"]).append([make_entry(8)])
    verify_everywhere(insider, {"checkpoint-signature-invalid", "page-unauthenticated"})


# -- the same attacks on exported copies

@pytest.fixture
def exported(insider):
    out = insider["tmp"] / "export"
    export(S3Store(insider["admin"], insider["bucket"]), out, signing_key=insider["key"])
    return out


def copy_of(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        if p.is_file():
            p.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return dst


def run_dir(d: Path, insider, **kw):
    r = verify(DirStore(d), insider["key"].public_key(), **kw)
    out = CliRunner().invoke(__import__("archive.cli", fromlist=["archive_cli"]).archive_cli,
                             ["verify", "--dir", str(d), "--key", str(insider["pub"])]
                             + (["--witness", f"dir:{kw['witness'].root}"] if kw.get("witness") else []))
    assert out.exit_code == (0 if r.ok else 1), out.output
    return r


def test_export_copy_intact(exported, insider):
    r = run_dir(exported, insider, witness=DirWitness(insider["witness"]))
    assert r.ok and not r.problems, r.to_text()


def test_export_copy_every_checkpoint_deleted(exported, insider, tmp_path):
    d = copy_of(exported, tmp_path / "c")
    shutil.rmtree(d / "log/checkpoints")
    assert "no-valid-checkpoint" in codes(run_dir(d, insider))


def test_export_copy_whole_log_deleted(exported, insider, tmp_path):
    d = copy_of(exported, tmp_path / "c")
    shutil.rmtree(d / "log")
    r = run_dir(d, insider)
    assert "log-missing" in codes(r) and r.leaves == 0


def test_export_copy_forged_page_and_fake_page(exported, insider, tmp_path):
    d = copy_of(exported, tmp_path / "c")
    lines = log.split_page((d / log.page_key(0)).read_bytes())
    rec = json.loads(lines[1])
    rec["metadata"]["invoice_number"] = "R-forged"
    lines[1] = canonical.dumps(rec)
    (d / log.page_key(0)).write_bytes(log.encode_page(lines))
    assert {"checkpoint-root-mismatch", "chain-broken"} <= codes(run_dir(d, insider))
    d2 = copy_of(exported, tmp_path / "c2")
    last = json.loads(log.split_page((d2 / log.page_key(5)).read_bytes())[-1])
    from archive import merkle

    prev = merkle.hash_leaf(log.split_page((d2 / log.page_key(5)).read_bytes())[-1]).hex()
    (d2 / log.page_key(7)).write_bytes(canonical.dumps(dict(last, seq=7, entry_id="fake", prev_leaf_hash=prev)) + b"\n")
    assert "page-unauthenticated" in codes(run_dir(d2, insider))


def test_export_copy_truncated_is_caught_by_the_witness(exported, insider, tmp_path):
    d = copy_of(exported, tmp_path / "c")
    for key in (log.page_key(5), log.checkpoint_key(7)):
        (d / key).unlink()
    # The signed export.json and its Z3 tables still name the lost entries (archive.manifest) ...
    assert "z3-table-mismatch" in codes(run_dir(d, insider))
    # ... so the attacker hands over the bare log and objects instead: a consistent shorter log.
    (d / "export.json").unlink()
    shutil.rmtree(d / "gobd")
    r = run_dir(d, insider)
    assert r.ok, r.to_text()  # without a witness nothing can tell ...
    r = run_dir(d, insider, witness=DirWitness(insider["witness"]))
    assert "witness-rollback" in codes(r), r.to_text()  # ... with one, no saved checkpoint is needed


def test_rollback_and_rewrite_resigned_by_the_key_holder_are_caught_by_the_witness(insider, tmp_path, s3,
                                                                                   bucket_name):
    """Someone with the key rebuilds a different history in a new bucket: self-consistent, but
    not the history the witness saw."""
    Archive.init_bucket(s3, bucket_name)
    a = Archive(s3, bucket_name, signing_key=insider["key"])
    a.append([make_entry(i) for i in range(3)])
    a.append([make_entry(3), make_entry(99)])  # differs from the original at seq 4
    out = tmp_path / "forged"
    export(S3Store(s3, bucket_name), out)
    assert run_dir(out, insider).ok
    r = run_dir(out, insider, witness=DirWitness(insider["witness"]))
    assert {"witness-fork", "witness-rollback"} <= codes(r), r.to_text()


def test_leaf_dated_back_is_caught_without_a_tsa(tmp_path, monkeypatch):
    """An appended_at before its predecessor's, signed with the archive key: always checked."""
    import archive.writer as writer_module

    current = [datetime(2026, 5, 1, 12, tzinfo=timezone.utc)]

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return current[0]

    monkeypatch.setattr(writer_module, "datetime", Clock)
    key = signing.generate()
    w = Archive.on_store(DirStore(tmp_path / "a"), signing_key=key)
    w.append([EntryInput("a", [ArchiveDocument("x", "text/plain", b"a")], {}, retention_base=date(2026, 1, 1))])
    current[0] = datetime(2026, 4, 1, 12, tzinfo=timezone.utc)  # the second batch claims an earlier time
    w.append([EntryInput("b", [ArchiveDocument("x", "text/plain", b"b")], {}, retention_base=date(2026, 1, 1))])
    monkeypatch.undo()
    r = verify(DirStore(tmp_path / "a"), key.public_key())
    assert codes(r) == {"appended-at-reversed"}, r.to_text()


# -- the witness in a second bucket, with credentials of its own

def test_s3_witness_in_a_second_bucket(seaweedfs, tmp_path):
    admin = seaweedfs.client()
    bucket, wbucket = f"t-a-{uuid.uuid4().hex[:12]}", f"t-w-{uuid.uuid4().hex[:12]}"
    Archive.init_bucket(admin, bucket)
    Archive.init_bucket(admin, wbucket)
    key = signing.generate()
    witness = S3Witness(admin, wbucket, "archive-a/")
    a = Archive(seaweedfs.client(writer=True), bucket, signing_key=key, witness=witness)
    a.append([make_entry(i) for i in range(3)])
    a.append([make_entry(3)])
    assert [k for k, _ in witness.checkpoints()] == ["checkpoints/000000000003.json", "checkpoints/000000000004.json"]
    # Witness and log agree; a CLI run with the witness's own credentials says so.
    pub = tmp_path / "pub.pem"
    pub.write_bytes(signing.public_pem(key.public_key()))
    from devtools.seaweedfs import ACCESS_KEY, SECRET_KEY, WRITER_ACCESS_KEY, WRITER_SECRET_KEY

    env = {**seaweedfs.env(), "AWS_ACCESS_KEY_ID": WRITER_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": WRITER_SECRET_KEY,
           "ARCHIVE_WITNESS_ACCESS_KEY_ID": ACCESS_KEY, "ARCHIVE_WITNESS_SECRET_ACCESS_KEY": SECRET_KEY}
    from archive.cli import archive_cli

    args = ["verify", "--endpoint", seaweedfs.endpoint, "--bucket", bucket, "--key", str(pub), "--check-lock",
            "--witness", f"s3://{wbucket}/archive-a", "--format", "json"]
    out = CliRunner().invoke(archive_cli, args, env=env)
    assert out.exit_code == 0, out.output
    # Checkpoint 4 and its page hidden in the archive bucket, the witness still has it.
    w = seaweedfs.client(writer=True)
    w.delete_object(Bucket=bucket, Key=log.checkpoint_key(4))
    out = CliRunner().invoke(archive_cli, args, env=env)
    assert out.exit_code == 1 and "delete-marker" in out.output
    # The writer's `checkpoint` re-writes the same bytes idempotently; a different checkpoint of a
    # size the witness holds is refused as a fork.
    assert a.checkpoint().tree_size == 4
    from archive.formats import decode_checkpoint

    other = decode_checkpoint(witness.checkpoints()[0][1])
    forged = canonical.dumps({**other.to_dict(), "timestamp": "2030-01-01T00:00:00Z"})
    with pytest.raises(ArchiveError, match="fork"):
        witness.put(decode_checkpoint(forged))


def test_crash_leftover_tail_is_an_orphan_not_a_failure(insider):
    """A page with its signed intent but without checkpoint (the writer died in between) stays
    an orphan the next writer signs; contrast with the fake page above."""
    from .test_concurrency_crash import CrashingClient

    s3, bucket = insider["s3"], insider["bucket"]
    c = CrashingClient(s3, None, False)
    Archive(c, bucket, signing_key=insider["key"]).append([make_entry(100)])
    per_batch = c.writes  # 2 documents, intent, page, checkpoint
    a = Archive(CrashingClient(s3, per_batch - 1, False), bucket, signing_key=insider["key"])
    with pytest.raises((ArchiveError, RuntimeError), match="injected crash"):
        a.append([make_entry(101)])
    r = verify(S3Store(insider["admin"], bucket), insider["key"].public_key())
    assert r.ok and codes(r, ORPHAN) == {"unsigned-tail"}, r.to_text()
    Archive(s3, bucket, signing_key=insider["key"]).checkpoint()
    r = verify(S3Store(insider["admin"], bucket), insider["key"].public_key(), witness=DirWitness(insider["witness"]))
    assert r.ok and not codes(r, ORPHAN), r.to_text()


def test_key_validity_periods(exported, insider):
    """A key is trusted only for checkpoints dated in its published period (rotation, a leak)."""
    from archive.cli import archive_cli

    today = datetime.now(timezone.utc).date().isoformat()
    base = ["verify", "--dir", str(exported), "--key", str(insider["pub"])]
    ok = CliRunner().invoke(archive_cli, base + ["--key-period", f"{insider['pub']}={today}.."])
    assert ok.exit_code == 0, ok.output
    out = CliRunner().invoke(archive_cli, base + ["--key-period", f"{insider['pub']}=2020-01-01..2020-12-31",
                                                  "--format", "json"])
    assert out.exit_code == 1
    found = [p for p in json.loads(out.output)["problems"] if p["code"] == "key-outside-validity"]
    assert len(found) == 3 and found[0]["expected"] == "2020-01-01T00:00:00Z .. 2020-12-31T23:59:59Z"


def test_forged_index_segment_put_first_is_refused(seaweedfs, tmp_path):
    """A segment an insider puts at the next segment's key before the writer gets there (right
    leaf hashes, wrong entry ids) is refused by the writer and fails verification."""
    admin = seaweedfs.client()
    bucket = f"t-seg-{uuid.uuid4().hex[:12]}"
    Archive.init_bucket(admin, bucket)
    key = signing.generate()
    s3 = seaweedfs.client(writer=True)
    a = Archive(s3, bucket, signing_key=key)
    a.segment_size = 4
    a.append([make_entry(i) for i in range(2)])
    a.append([make_entry(i) for i in range(2, 4)])
    seg_key = log.segment_key(0, 4)
    real = json.loads(admin.get_object(Bucket=bucket, Key=seg_key)["Body"].read())
    # The same kind of segment for the next range, with the entry ids shuffled.
    b = Archive(admin, bucket, signing_key=key)
    b.segment_size = 100  # this writer writes no segment itself
    b.append([make_entry(i) for i in range(4, 8)])
    hashes = "".join(b.tree().leaf_hash(i).hex() for i in range(4, 8))
    forged = dict(real, first=4, end=8, entries=[f"entry-{i}" for i in (5, 4, 7, 6)], leaf_hashes=hashes,
                  page_starts=[4])
    s3.put_object(Bucket=bucket, Key=log.segment_key(4, 8), Body=canonical.dumps(forged))
    with pytest.raises(ArchiveError, match="does not match the leaves") as exc:
        a.append([make_entry(8)])
    assert exc.value.kind == "integrity"
    r = verify(S3Store(admin, bucket), key.public_key())
    assert "index-mismatch" in codes(r), r.to_text()


def test_pipeline_serves_the_first_version_of_an_original(insider):
    """The web app and the finance record read originals through App.original_bytes: a version
    put on top, or a delete marker, must not change what they get."""
    from types import SimpleNamespace

    from einvoice.app import App
    from einvoice.settings import Settings

    s3, bucket = insider["s3"], insider["bucket"]
    a = Archive.reader(S3Store(s3, bucket))
    key = a.receipt("entry-1").document_keys["original.xml"]
    original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    app = App(Settings.from_env({"EINVOICE_ARCHIVE_BUCKET": bucket}))
    app.__dict__["s3"] = insider["admin"]  # the cached client
    row = SimpleNamespace(archive_original_key=key)
    s3.put_object(Bucket=bucket, Key=key, Body=b"<Invoice><ID>R-1</ID><Amount>999999.00</Amount></Invoice>")
    assert app.original_bytes(row) == original
    s3.delete_object(Bucket=bucket, Key=key)
    assert app.original_bytes(row) == original
