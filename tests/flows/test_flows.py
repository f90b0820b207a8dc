"""The flows under Prefect's test server (no worker): S3-prefix inbox with move-after-ingest,
parallel batches in processes, archive verification that fails loudly, checkpoint, and the
retry rule (transient failures only)."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from flows.common import is_transient
from flows.events import event_name


def test_retry_only_transient_failures():
    import urllib.error

    import botocore.exceptions as bx
    import httpx
    import sqlalchemy.exc as sx

    def s3_error(status, code):
        return bx.ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")

    transient = [ConnectionResetError(), TimeoutError(), s3_error(500, "InternalError"), s3_error(503, "SlowDown"),
                 bx.EndpointConnectionError(endpoint_url="http://x"),
                 sx.OperationalError("INSERT", {}, Exception("database is locked")),
                 httpx.ConnectError("refused"),
                 httpx.HTTPStatusError("x", request=httpx.Request("POST", "http://x"), response=httpx.Response(503)),
                 urllib.error.HTTPError("http://tsa", 503, "busy", {}, None),
                 urllib.error.URLError(ConnectionRefusedError("refused"))]
    permanent = [ValueError("bug"), KeyError("x"), TypeError(), s3_error(403, "AccessDenied"), s3_error(404, "NoSuchKey"),
                 httpx.HTTPStatusError("x", request=httpx.Request("POST", "http://x"), response=httpx.Response(400)),
                 urllib.error.HTTPError("http://tsa", 401, "unauthorised", {}, None),
                 sx.IntegrityError("INSERT", {}, Exception("duplicate key"))]
    assert all(is_transient(e) for e in transient), [e for e in transient if not is_transient(e)]
    assert not any(is_transient(e) for e in permanent), [e for e in permanent if is_transient(e)]
    try:  # a transient cause behind a domain exception still counts
        try:
            raise ConnectionResetError("peer")
        except ConnectionResetError as exc:
            raise RuntimeError("could not read") from exc
    except RuntimeError as wrapped:
        assert is_transient(wrapped)


def test_event_names_from_the_audit_trail():
    assert event_name("freigabe", "in_approval", "released") == "invoice.released"
    assert event_name("posted", "released", "posted") == "invoice.posted"
    assert event_name("sachlich_richtig", "in_approval", "in_approval") == "invoice.sachlich-richtig"
    assert event_name("escalation", "in_approval", "in_approval") == "invoice.escalation"


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def env(tmp_path, monkeypatch, seaweedfs, bucket_name):
    from archive import Archive

    key = Ed25519PrivateKey.generate()
    (tmp_path / "signing.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    (tmp_path / "wrong.pub.pem").write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    for k, v in seaweedfs.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("EINVOICE_DATABASE_URL", f"sqlite:///{tmp_path / 'einvoice.sqlite'}")
    monkeypatch.setenv("EINVOICE_ARCHIVE_BUCKET", bucket_name)
    monkeypatch.setenv("EINVOICE_ARCHIVE_SIGNING_KEY", str(tmp_path / "signing.pem"))
    monkeypatch.delenv("EINVOICE_ARCHIVE_PUBLIC_KEY", raising=False)
    Archive.init_bucket(seaweedfs.client(), bucket_name)
    return tmp_path


def _samples(directory):
    from einvoice.samples import write_samples

    write_samples(directory)
    (directory / "manifest.json").unlink(missing_ok=True)
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.s3
@pytest.mark.prefect
def test_s3_inbox_is_ingested_and_moved(prefect_server, env, s3):
    from flows.process_inbox import process_inbox

    names = _samples(env / "samples")
    inbox_bucket = f"in-{env.name[-12:].lower().replace('_', '-')}"
    s3.create_bucket(Bucket=inbox_bucket)
    for n in names:
        s3.put_object(Bucket=inbox_bucket, Key=f"suppliers/{n}", Body=(env / "samples" / n).read_bytes())
    s3.put_object(Bucket=inbox_bucket, Key="suppliers/sub/ignored.xml", Body=b"<x/>")  # not directly under the prefix

    outcomes = process_inbox(f"s3://{inbox_bucket}/suppliers/", batch_size=4)
    assert sorted(o["name"] for o in outcomes) == names
    assert {o["state"] for o in outcomes} == {"in_approval", "rejected", "not_an_invoice"}
    assert all(o["archive_key"] for o in outcomes)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=inbox_bucket)["Contents"]}
    assert keys == {f"processed/suppliers/{n}" for n in names} | {"suppliers/sub/ignored.xml"}
    assert process_inbox(f"s3://{inbox_bucket}/suppliers/") == []  # moved: nothing left to do


@pytest.mark.s3
@pytest.mark.prefect
def test_parallel_batches_in_processes_equal_sequential(prefect_server, env):
    from flows.process_inbox import process_inbox

    _samples(env / "inbox")
    outcomes = process_inbox(str(env / "inbox"), batch_size=2, parallel=2)
    assert [o["name"] for o in outcomes] == sorted(p.name for p in (env / "inbox").iterdir())
    again = process_inbox(str(env / "inbox"), batch_size=50)
    assert all(o["already_received"] for o in again)
    assert [(o["name"], o["state"], o["invoice_id"]) for o in again] == [(o["name"], o["state"], o["invoice_id"]) for o in outcomes]


@pytest.mark.s3
@pytest.mark.prefect
def test_archive_verification_fails_loudly_and_checkpoint(prefect_server, env):
    from flows.archive_flows import ArchiveIntegrityError, checkpoint_archive, verify_archive
    from flows.process_inbox import process_inbox

    _samples(env / "inbox")
    process_inbox(str(env / "inbox"))
    cp = checkpoint_archive()
    assert cp["tree_size"] == 9
    ok = verify_archive(check_lock=True)
    assert ok["intact"] and ok["leaves"] == 9 and ok["failures"] == 0
    with pytest.raises(ArchiveIntegrityError, match="integrity failures"):
        verify_archive(public_key_file=str(env / "wrong.pub.pem"))


def test_checkpoint_flow_time_stamps_and_verify_flow_checks_the_anchor(prefect_server, env, monkeypatch):
    from flows.archive_flows import ArchiveIntegrityError, checkpoint_archive, verify_archive
    from flows.process_inbox import process_inbox
    from tests.tsa import LocalTSA

    _samples(env / "inbox")
    process_inbox(str(env / "inbox"))
    with LocalTSA() as tsa, LocalTSA("Unknown TSA") as other:
        monkeypatch.setenv("EINVOICE_TSA_URL", tsa.url)
        monkeypatch.setenv("EINVOICE_TSA_ROOTS", str(tsa.root_file))
        cp = checkpoint_archive()
        assert cp["timestamp"]["tree_size"] == 9 and cp["timestamp"]["created"] and "Test TSA" in cp["timestamp"]["tsa"]
        assert checkpoint_archive()["timestamp"]["created"] is False and tsa.requests == 1  # stamped once
        assert verify_archive(check_lock=True)["intact"]
        # an operator who trusts another TSA root sees the anchor fail, loudly
        monkeypatch.setenv("EINVOICE_TSA_ROOTS", str(other.root_file))
        with pytest.raises(ArchiveIntegrityError, match="timestamp-invalid"):
            verify_archive()


@pytest.mark.s3
@pytest.mark.prefect
def test_checkpoint_flow_writes_the_witness_and_verify_flow_compares_it(prefect_server, env, monkeypatch):
    """EINVOICE_ARCHIVE_WITNESS: every checkpoint also goes to the witness; verify-archive compares
    the log with it, so a log shorter than the witness fails without a saved checkpoint."""
    from archive import canonical, signing
    from flows.archive_flows import ArchiveIntegrityError, checkpoint_archive, verify_archive
    from flows.process_inbox import process_inbox

    monkeypatch.setenv("EINVOICE_ARCHIVE_WITNESS", f"dir:{env / 'witness'}")
    _samples(env / "inbox")
    process_inbox(str(env / "inbox"))
    cp = checkpoint_archive()
    assert cp["witness"] == f"dir:{env / 'witness'}"
    witnessed = sorted(p.name for p in (env / "witness" / "checkpoints").iterdir())
    assert witnessed and witnessed[-1] == f"{cp['tree_size']:012d}.json"
    assert verify_archive(check_lock=True)["intact"]
    # The witness saw a longer log (a checkpoint over 10 leaves, signed with the archive key):
    # the bucket's log of 9 leaves is then a rollback.
    key = signing.load_private_key(env / "signing.pem")
    body = {"v": 1, "tree_size": 10, "root_hash": "ab" * 32, "timestamp": "2030-01-01T00:00:00Z",
            "key_id": signing.key_id(key.public_key())}
    (env / "witness" / "checkpoints" / "000000000010.json").write_bytes(
        canonical.dumps({**body, "signature": signing.sign_body(key, body)}))
    with pytest.raises(ArchiveIntegrityError, match="witness-rollback"):
        verify_archive()
