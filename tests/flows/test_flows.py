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


def test_resource_ids_never_prefix_each_other():
    """The UI's resource filter matches by prefix: invoice 1's id must not match invoice 10, 100 ..."""
    from flows.common import invoice_event, invoice_resource_id, resource_id, resource_key

    ids = [invoice_resource_id(i) for i in (1, 10, 11, 19, 100, 1000000, 12345678901234)]
    assert ids[0] == "einvoice.invoice.1."
    assert not [(a, b) for a in ids for b in ids if a != b and b.startswith(a)]
    # every kind the same way; a free-text key (a file name) cannot bring the problem back
    names = [resource_id("file", resource_key(n)) for n in ("a", "a.xml", "a.xml.bak", "a%2Exml")]
    assert len(set(names)) == 4 and not [(a, b) for a in names for b in names if a != b and b.startswith(a)]
    with pytest.raises(ValueError):
        resource_id("file", "a.xml")  # a dot in a key is a programming error
    ev = invoice_event("invoice.posted", 7)
    assert ev["resource"]["prefect.resource.id"] == "einvoice.invoice.7." == ev["related"][0]["prefect.resource.id"]


def test_attention_summary_run_name_and_events():
    from flows.attention import ATTENTION_EVENT, Attention
    from flows.payment_run import attention_of as pay_attention
    from flows.post_released import attention_of as post_attention
    from flows.process_inbox import attention_of as inbox_attention
    from flows.process_inbox import done_text

    quiet = Attention()
    assert not quiet and quiet.summary() == "" and quiet.events("post-released", "x") == []
    assert quiet.run_name("post released 2026-12-06 10:05", "3 posted") == "post released 2026-12-06 10:05: 3 posted"
    assert quiet.describe("3 delivered") == "3 delivered"

    rows = [{"invoice id": 4, "outbox id": 8, "outcome": "retry", "attempts": 1, "problem": "HTTP-503: busy"},
            {"invoice id": 5, "outbox id": 9, "outcome": "booked", "attempts": 1, "problem": ""},
            {"invoice id": 6, "outbox id": 10, "outcome": "dead", "attempts": 1, "problem": "HTTP-422"}]
    status = {"dead": [{"outbox id": 10, "invoice id": 6, "invoice number": "R-6", "error": "HTTP-422: refused"},
                       {"outbox id": 3, "invoice id": 2, "invoice number": None, "error": "MAX-ATTEMPTS: 8 times"}],
              "released_not_queued": [12]}
    archived = {"problems": ["all 0: the archive could not be opened (EndpointConnectionError: ...)"],
                "pending": {"approval-trail": 2, "payment-run": 0, "posting-record": 1}}
    att = post_attention(rows, status, archived)
    assert att.counts == {"dead-letters": 2, "deliveries-failing": 1, "released-not-queued": 1, "records-not-archived": 3}
    assert att.summary() == ("2 dead letters, 1 delivery failing, 1 released invoice not queued, "
                             "3 records not archived")
    assert att.run_name("post released 2026-12-06 10:05", "1 posted") == (
        "post released 2026-12-06 10:05: 1 posted; NEEDS ATTENTION: " + att.summary())
    assert att.describe("1 delivered") == "1 delivered; needs attention: " + att.summary()
    md = att.markdown("run")
    assert "invoice 6 (R-6), outbox 10: HTTP-422: refused" in md and "EndpointConnectionError" in md

    events = att.events("post-released", "run")
    by_kind = {e["resource"]["einvoice.attention.kind"]: e for e in events}
    assert set(by_kind) == set(att.counts) and all(e["event"] == ATTENTION_EVENT for e in events)
    assert by_kind["dead-letters"]["resource"]["einvoice.attention.group"] == "dead-letters"
    assert {e["resource"]["einvoice.attention.group"] for k, e in by_kind.items() if k != "dead-letters"} == {"held-back"}
    assert by_kind["dead-letters"]["resource"]["prefect.resource.id"] == "einvoice.attention.dead-letters."
    assert by_kind["dead-letters"]["payload"]["count"] == 2 and len(by_kind["dead-letters"]["payload"]["lines"]) == 2
    # the same standing set gives the same event id (stored once); a changed set a new one
    again = post_attention(rows[:1], {"dead": list(reversed(status["dead"])), "released_not_queued": []},
                           {"problems": []})
    assert again.events("post-released", "later", kinds={"dead-letters"})[0]["id"] == by_kind["dead-letters"]["id"]
    fewer = post_attention([], {"dead": status["dead"][:1], "released_not_queued": []}, {"problems": []})
    assert fewer.events("post-released", "later")[0]["id"] != by_kind["dead-letters"]["id"]
    # the next retry of the same record is a new failing delivery (the attempt is part of its key)
    assert post_attention([dict(rows[0], attempts=2)], {"dead": [], "released_not_queued": []},
                          {"problems": []}).digest("deliveries-failing") != att.digest("deliveries-failing")

    held = pay_attention({"skipped": [{"invoice id": 3, "problem": "SEPA-IBAN: no IBAN"}]}, None)
    assert held.summary() == "1 payment held back" and "no IBAN" in held.markdown("x")

    def outcome(name, state, seen=False):
        return {"name": name, "sha256": name * 4, "state": state, "already_received": seen, "verdict": "v",
                "invoice_id": None}

    outcomes = [outcome("a", "in_approval"), outcome("b", "rejected"), outcome("c", "not_an_invoice"),
                outcome("d", "rejected", seen=True), outcome("e", "unreadable")]
    assert inbox_attention(outcomes).summary() == "3 files not accepted"  # d was reported by an earlier run
    assert done_text(outcomes) == ("5 files: 1 in approval, 1 not an invoice, 1 rejected, "
                                   "1 rejected (seen before), 1 unreadable")
    with pytest.raises(ValueError):
        Attention().add("no-such-kind", 1)


def test_processed_target_defaults():
    from flows.process_inbox import processed_target

    assert processed_target("/srv/inbox", None) is None  # called from code: files stay unless asked
    assert processed_target("/srv/inbox", "/srv/done") == "/srv/done"
    assert processed_target("/srv/inbox", "{{ $EINVOICE_INBOX_DONE }}") == "/srv/inbox/processed"
    assert processed_target("s3://in/suppliers/", None) == "processed/suppliers/"
    assert processed_target("s3://in/suppliers/", "{{ $EINVOICE_INBOX_DONE }}") == "processed/suppliers/"
    assert processed_target("s3://in/suppliers/", "done/") == "done/"


def test_shipped_automations_load():
    """Every automation file validates; the pause automation pauses the deployment the flows' archive
    gate reads; placeholders are filled (deployment ids from the server, the notification block)."""
    import uuid

    from prefect.exceptions import ObjectNotFound

    from flows.common import ARCHIVE_GATE
    from flows.setup import AUTOMATIONS, MissingDeployment, archive_writer_deployments, load_automation

    class Client:
        def __init__(self, known):
            self.known = known

        def read_deployment_by_name(self, name):
            if name not in self.known:
                raise ObjectNotFound(None)
            return type("D", (), {"id": self.known[name]})()

    names = ["process-inbox/process-inbox", "process-mailbox/process-mailbox", "checkpoint-archive/checkpoint-archive"]
    assert ARCHIVE_GATE in archive_writer_deployments() and set(archive_writer_deployments()) == set(names)
    ids = {n: uuid.uuid4() for n in names}
    block = str(uuid.uuid4())
    loaded = {p.stem: load_automation(p, block, Client(ids)) for p in sorted(AUTOMATIONS.glob("*.yaml"))}
    assert set(loaded) == {"archive-verification-failed", "dead-letters", "held-back", "archive-pause-writers"}
    pause = loaded["archive-pause-writers"]
    assert [(a.type, a.deployment_id) for a in pause.actions if a.type == "pause-deployment"] == \
        [("pause-deployment", ids[n]) for n in names]
    # the events of flows.attention reach exactly the automation of their group
    from prefect.events import Resource

    from flows.attention import Attention

    att = Attention()
    att.add("dead-letters", 1)
    att.add("payments-held-back", 2)
    for event in att.events("post-released", "run"):
        resource = Resource.model_validate(event["resource"])
        group = event["resource"]["einvoice.attention.group"]
        assert loaded["dead-letters"].trigger.match.matches(resource) == (group == "dead-letters")
        assert loaded["held-back"].trigger.match.matches(resource) == (group == "held-back")
        assert event["event"] in loaded[group].trigger.expect
    assert all(str(a.block_document_id) == block for a in loaded["held-back"].actions)
    # without a webhook: no notification actions; notification-only automations are left out
    assert load_automation(AUTOMATIONS / "dead-letters.yaml", None, Client(ids)) is None
    assert [a.type for a in load_automation(AUTOMATIONS / "archive-pause-writers.yaml", None, Client(ids)).actions] == \
        ["pause-deployment"] * 3
    with pytest.raises(MissingDeployment):
        load_automation(AUTOMATIONS / "archive-pause-writers.yaml", block, Client({}))


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
    from devtools.samples import write_samples

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


@pytest.mark.prefect
def test_archiving_step_reports_an_unreachable_archive_instead_of_failing(prefect_server, env, monkeypatch):
    """S3 on a closed port: the app (database) still opens, and the one step that archives says what
    waits instead of raising, so the flow that posted or paid is not undone (flows.archive_flows)."""
    import socket

    from flows.archive_flows import archive_records
    from flows.common import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("EINVOICE_S3_ENDPOINT", f"http://127.0.0.1:{closed}")
    assert app().db is not None  # no S3 needed to start
    result = archive_records()
    assert result["problems"] and "the archive could not be opened" in result["problems"][0], result
    assert result["pending"] == {"approval-trail": 0, "payment-run": 0, "posting-record": 0}
    assert result["posting_records"] == 0 and result["entries"] == []


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
