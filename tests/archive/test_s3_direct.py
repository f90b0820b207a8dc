"""The direct conditional PUT of S3Store.put_new: the same request put_object sends, checked
against botocore's own signer and against a real SeaweedFS (lock, checksum, If-None-Match)."""
from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from unittest import mock

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from archive import Archive, ArchiveError
from archive.store import S3Store, _DirectPut

NOW = datetime(2026, 11, 22, 13, 5, 9)


def direct_for(client, bucket="my-bucket") -> _DirectPut:
    d = _DirectPut.for_client(client, bucket)
    assert d is not None
    return d


@pytest.mark.parametrize("token", [None, "session-token/+="])
@pytest.mark.parametrize("endpoint,key", [
    (None, "objects/sha256/" + "ab" * 32),
    ("http://127.0.0.1:9", "org ä+b/log/leaves/000000000000.jsonl"),
    ("https://s3.example:8443/", "x~y/(z)*'!&$=;,:@"),
])
def test_direct_request_is_the_one_put_object_sends(token, endpoint, key):
    """Same URL as put_object (captured from botocore), our headers untouched, signed by
    botocore's SigV4 signer over the SHA-256 we give as payload hash."""
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="AKIDEXAMPLE",
                          aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                          aws_session_token=token, region_name="eu-central-1")
    d = direct_for(client)
    data = b"<Invoice/>" * 100
    digest = hashlib.sha256(data).digest()
    headers = {"If-None-Match": "*", "Content-Type": "application/xml",
               "x-amz-checksum-sha256": base64.b64encode(digest).decode(),
               "x-amz-object-lock-mode": "COMPLIANCE", "x-amz-object-lock-retain-until-date": "2035-01-01T00:00:00Z"}
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW):
        ours = d.signed_request(key, data, headers, digest)
    sent = {}

    def capture(request, **kwargs):
        sent["url"], sent["headers"] = request.url, dict(request.headers)
        raise _Stop()

    class _Stop(Exception):
        pass

    client.meta.events.register_first("before-send.s3.PutObject", capture)
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW), pytest.raises(_Stop):
        client.put_object(Bucket="my-bucket", Key=key, Body=data, IfNoneMatch="*", ContentType="application/xml",
                          ChecksumSHA256=headers["x-amz-checksum-sha256"], ObjectLockMode="COMPLIANCE",
                          ObjectLockRetainUntilDate=datetime(2035, 1, 1, tzinfo=timezone.utc))
    assert ours.url == sent["url"]
    assert ours.body == data and ours.method == "PUT"
    for name in ("If-None-Match", "x-amz-checksum-sha256", "x-amz-object-lock-mode",
                 "x-amz-object-lock-retain-until-date", "Content-Type"):
        assert ours.headers[name] == headers[name]
    assert ours.headers["X-Amz-Content-SHA256"] == digest.hex()
    assert ours.headers["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{NOW:%Y%m%d}/eu-central-1/s3/aws4_request")
    assert ("X-Amz-Security-Token" in ours.headers) == (token is not None)


def test_wrapped_or_unsigned_clients_use_put_object():
    class Wrapper:
        def __init__(self, real):
            self._real = real

        def __getattr__(self, name):
            return getattr(self._real, name)

    from botocore import UNSIGNED
    from botocore.config import Config

    real = boto3.client("s3", aws_access_key_id="a", aws_secret_access_key="b", region_name="eu-central-1")
    assert _DirectPut.for_client(Wrapper(real), "my-bucket") is None
    anon = boto3.client("s3", region_name="eu-central-1", config=Config(signature_version=UNSIGNED))
    assert _DirectPut.for_client(anon, "my-bucket") is None


def test_transient_errors_are_retried_within_the_clients_budget(monkeypatch):
    client = boto3.client("s3", endpoint_url="http://127.0.0.1:9", aws_access_key_id="a",
                          aws_secret_access_key="b", region_name="eu-central-1")
    d = direct_for(client)
    monkeypatch.setattr("archive.store.time.sleep", lambda s: None)
    answers = []

    class Session:
        def send(self, request):
            status, body = answers.pop(0)
            assert request.headers["If-None-Match"] == "*"
            r = AWSResponse(request.url, status, {}, None)
            r._content = body
            return r

    d.session = Session()
    slow = b"<Error><Code>SlowDown</Code><Message>reduce your rate</Message></Error>"
    answers[:] = [(503, slow), (200, b"")]
    assert d.put("k", b"x", {"If-None-Match": "*"}, hashlib.sha256(b"x").digest())[0] == 200
    answers[:] = [(503, slow)] * d.attempts
    assert d.put("k", b"x", {"If-None-Match": "*"}, hashlib.sha256(b"x").digest()) == (503, "SlowDown",
                                                                                         "reduce your rate")
    assert not answers
    answers[:] = [(412, b"<Error><Code>PreconditionFailed</Code></Error>"), (200, b"")]
    assert d.put("k", b"x", {"If-None-Match": "*"}, hashlib.sha256(b"x").digest())[:2] == (412, "PreconditionFailed")


@pytest.mark.s3
def test_direct_put_on_seaweedfs(s3, locked_bucket):
    store = S3Store(s3, locked_bucket, prefix="org ä+b/")
    until = datetime(2035, 1, 1, tzinfo=timezone.utc)
    data = b"<Invoice><ID>R-1</ID></Invoice>"
    key = "objects/sha256/" + hashlib.sha256(data).hexdigest()
    assert store.put_new(key, data, until, content_type="application/xml")
    assert isinstance(store._direct, _DirectPut)
    assert store.get(key) == data
    info = store.lock_info(key)
    assert info.mode == "COMPLIANCE" and info.retain_until == until
    head = s3.head_object(Bucket=locked_bucket, Key="org ä+b/" + key)
    assert head["ContentType"] == "application/xml"
    # Never overwritten: the second write is refused by the server (If-None-Match: *).
    assert not store.put_new(key, b"other bytes", until)
    assert store.get(key) == data
    # The server checks the bytes against our SHA-256.
    with pytest.raises(ArchiveError, match="failed") as exc:
        store.put_new("objects/sha256/" + "00" * 32, b"tampered in transit", until, sha256=bytes(32))
    assert exc.value.kind == "io" and store.get("objects/sha256/" + "00" * 32) is None


@pytest.mark.s3
def test_archive_appends_through_the_direct_put(s3, locked_bucket, signing_key):
    from archive.verify import verify

    from .conftest import make_entry

    a = Archive(s3, locked_bucket, signing_key=signing_key)
    a.append([make_entry(i) for i in range(20)])
    assert isinstance(a.store._direct, _DirectPut)
    a.close()
    r = verify(S3Store(s3, locked_bucket), signing_key.public_key(), check_lock=True)
    assert r.ok and r.leaves == 20, r.to_text()
