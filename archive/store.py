"""Storage backends: an S3 bucket with Object Lock, or a directory (an export for auditors).

Both offer the same small, write-once interface: ``put_new`` creates a key only if it does not
exist yet (S3: ``If-None-Match: *`` -> 412; directory: ``O_EXCL``) and reports whether it
created it. Nothing here overwrites or deletes. S3 errors become ``ArchiveError`` values with
the operation, key and server code in the message. This module must never know what a leaf or
an invoice is, and must never send a write without ``If-None-Match: *``.

``S3Store.put_new`` is the archive's hot path (one call per document). For a plain boto3 client
it sends the conditional, locked, checksummed PUT itself (``_DirectPut``) with the client's own
endpoint, credentials, connection pool and retry budget: the request is the one ``put_object``
sends, minus ~2 ms of botocore's per-call machinery (measured). Any other client (a wrapper, a
non-SigV4 signer) goes through ``put_object``.
"""
from __future__ import annotations

import base64
import hashlib
import os
import random
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Iterator, Literal
from urllib.parse import quote
from xml.etree import ElementTree

from .dirreader import DirReader
from .errors import ArchiveError
from .versions import LockInfo, get_version, head_lock, list_versions  # noqa: E402,F401 - LockInfo re-exported


def _code(exc: Exception) -> str:
    resp = getattr(exc, "response", None) or {}
    return str(resp.get("Error", {}).get("Code", "")) or str(resp.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _status(exc: Exception) -> int:
    resp = getattr(exc, "response", None) or {}
    return int(resp.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _is_missing(exc: Exception) -> bool:
    return _code(exc) in ("NoSuchKey", "404", "NotFound") or _status(exc) == 404 and _code(exc) != "NoSuchBucket"


# Bodies up to this size are sent without ``Expect: 100-continue`` (see _small_put_no_expect).
EXPECT_CONTINUE_FROM = 1 << 20


def _small_put_no_expect(request, **kwargs) -> None:
    """botocore asks for ``Expect: 100-continue`` on every PutObject with a body: the client sends
    the headers, waits for the server's interim "100 Continue", then sends the body. For a
    document of a few KB that extra exchange costs more client and server CPU than sending the
    body (measured ~0.5 ms each per PUT); it only pays for large bodies, which a 412 or an auth
    error can then stop before they are uploaded. Nothing else about the request changes."""
    if "Expect" in request.headers:
        from botocore.utils import determine_content_length

        size = determine_content_length(request.body)
        if size is not None and size <= EXPECT_CONTINUE_FROM:
            del request.headers["Expect"]


class _Probe(Exception):
    pass


_RETRY_STATUS = {429, 500, 502, 503, 504}
_RETRY_CODES = {"Throttling", "ThrottlingException", "SlowDown", "RequestTimeout", "InternalError",
                "ServiceUnavailable", "RequestLimitExceeded"}


class _DirectPut:
    """The conditional, locked PUT of ``put_new``, signed by botocore's SigV4 signer and sent
    without botocore's per-call machinery (events, serialisers, endpoint rules, user agent):
    ~1.5 ms of client CPU per PUT instead of ~3.5 ms here, which left the client, not the server,
    the larger cost of an append.

    Everything that is configuration comes from the client: the URL is captured from one
    ``put_object`` that botocore prepares but never sends (so endpoint rules, addressing style
    and signing region are its own), credentials are read per request (refreshing credentials
    keep working), requests go through the client's connection pool (TLS, proxies, timeouts) and
    transient failures are retried within the client's attempt budget, like botocore's standard
    mode. Headers are exactly those of ``put_object``: ``If-None-Match: *``, the COMPLIANCE mode
    and retain-until, ``x-amz-checksum-sha256`` (the server checks the bytes) and the signed
    payload hash.
    """

    def __init__(self, client, url_base: str, region: str, signing_name: str, attempts: int) -> None:
        self.credentials = client._request_signer._credentials
        self.session = client._endpoint.http_session
        self.url_base = url_base
        self.region = region
        self.signing_name = signing_name
        self.attempts = attempts

    @classmethod
    def for_client(cls, client, bucket: str) -> "_DirectPut | None":
        """A direct PUT for a plain boto3 S3 client with SigV4 credentials, else None."""
        try:
            from botocore.client import BaseClient

            if not isinstance(client, BaseClient) or client._request_signer._credentials is None:
                return None
            client._endpoint.http_session.send  # noqa: B018 - present on botocore's endpoint
            marker = f"archive-url-probe-{uuid.uuid4().hex}"
            seen: dict = {}

            def probe(request, signature_version=None, region_name=None, signing_name=None, **kwargs):
                if marker not in request.url:
                    return  # another thread's real PutObject
                signing = request.context.get("signing", {}) if isinstance(request.context, dict) else {}
                seen.update(url=request.url, signature_version=signature_version,
                            region=signing.get("region") or region_name,
                            signing_name=signing.get("signing_name") or signing_name)
                raise _Probe()

            uid = f"archive-url-probe-{marker}"
            client.meta.events.register_first("before-sign.s3.PutObject", probe, unique_id=uid)
            try:
                client.put_object(Bucket=bucket, Key=marker, Body=b"", IfNoneMatch="*")  # never sent
            except _Probe:
                pass
            finally:
                client.meta.events.unregister("before-sign.s3.PutObject", unique_id=uid)
            url = seen.get("url", "")
            if seen.get("signature_version") not in ("s3v4", "v4") or f"/{marker}" not in url \
                    or not seen.get("region"):
                return None
            retries = client.meta.config.retries or {}
            attempts = retries.get("total_max_attempts") or (retries["max_attempts"] + 1
                                                             if "max_attempts" in retries else 3)
            return cls(client, url[:url.index(marker)], seen["region"], seen["signing_name"] or "s3", attempts)
        except Exception:  # noqa: BLE001 - anything unexpected: use put_object instead
            return None

    def signed_request(self, key: str, data: bytes, headers: dict[str, str], digest: bytes):
        """The prepared PUT of ``data`` to ``key``, signed by botocore's own SigV4 signer (~0.3 ms;
        the payload hash is the SHA-256 the caller gave, which the server recomputes)."""
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest("PUT", self.url_base + quote(key, safe="/~"), data=data,
                             headers={**headers, "X-Amz-Content-SHA256": digest.hex()})
        S3SigV4Auth(self.credentials.get_frozen_credentials(), self.signing_name, self.region).add_auth(request)
        return request.prepare()

    def put(self, key: str, data: bytes, headers: dict[str, str], digest: bytes) -> tuple[int, str, str]:
        """(HTTP status, error code, message) of the PUT; transient failures are retried."""
        return self.send(key, data, headers, digest)[:3]

    def send(self, key: str, data: bytes, headers: dict[str, str], digest: bytes) -> tuple[int, str, str, str | None]:
        """(HTTP status, error code, message, version id the server created) of the PUT."""
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import HTTPClientError

        for attempt in range(self.attempts):
            try:
                r = self.session.send(self.signed_request(key, data, headers, digest))
            except (BotoConnectionError, HTTPClientError) as exc:
                if attempt + 1 >= self.attempts:
                    return 0, type(exc).__name__, str(exc), None
            else:
                code, message = "", ""
                if r.status_code >= 300:
                    code, message = _error_code(r.content)
                if not (r.status_code in _RETRY_STATUS or code in _RETRY_CODES) or attempt + 1 >= self.attempts:
                    return r.status_code, code, message, r.headers.get("x-amz-version-id")
            time.sleep(min(20.0, random.random() * 2 ** attempt))  # botocore standard mode's backoff
        raise AssertionError("unreachable")


def _error_code(body: bytes) -> tuple[str, str]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return "", body[:200].decode("utf-8", "replace")
    return root.findtext("Code") or "", root.findtext("Message") or ""


def _iso8601(dt: datetime) -> str:
    """A header timestamp as botocore writes it."""
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if dt.microsecond else "%Y-%m-%dT%H:%M:%SZ")


class S3Store:
    """A lock-enabled, versioned S3 bucket reached through a boto3 client.

    Reads mean the **first version** of a key (``archive.versions``): ``list`` lists versions, so
    keys hidden by a delete marker are still listed, and ``get``/``lock_info`` address the oldest
    version by its id. Version ids this store created or listed are remembered, so the writer's
    reads cost one request.
    """

    kind = "s3"

    def __init__(self, client, bucket: str, prefix: str = "") -> None:
        """``prefix`` (e.g. "org-a/") keeps several archives apart in one bucket."""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self._direct: _DirectPut | None | Literal[False] = False  # False: not looked at yet
        self._first: dict[str, str] = {}    # relative key -> id of its first version (listed or created)
        self._created: dict[str, str | None] = {}  # relative key -> version id put_new created
        self._direct_lock = threading.Lock()
        events = getattr(getattr(client, "meta", None), "events", None)
        if events is not None:
            # Before signing (the header is never signed), after botocore added it; once per client.
            events.register("before-sign.s3.PutObject", _small_put_no_expect,
                            unique_id="archive-small-put-no-expect")

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _fail(self, op: str, key: str, exc: Exception) -> ArchiveError:
        code = _code(exc)
        if code == "NoSuchBucket":
            return ArchiveError(f"bucket {self.bucket!r} does not exist", kind="usage")
        return ArchiveError(f"S3 {op} {self.bucket}/{key} failed: {code or type(exc).__name__}: {exc}", kind="io")

    def _direct_put(self) -> _DirectPut | None:
        """The direct PUT for this client (looked at once), None if puts go through boto3."""
        direct = self._direct
        if direct is False:
            with self._direct_lock:  # the writer's threads arrive together
                direct = self._direct
                if direct is False:
                    direct = self._direct = _DirectPut.for_client(self.client, self.bucket)
        return direct

    def put_new(self, key: str, data: bytes, retain_until: datetime | None, sha256: bytes | None = None,
                content_type: str = "application/octet-stream") -> bool:
        """Create ``key`` with COMPLIANCE retention; False if it already exists (412), never overwrite."""
        digest = sha256 or hashlib.sha256(data).digest()
        direct = self._direct_put()
        if direct is not None:
            headers = {"If-None-Match": "*", "Content-Type": content_type,
                       # The server checks the bytes it stored against our hash.
                       "x-amz-checksum-sha256": base64.b64encode(digest).decode("ascii")}
            if retain_until is not None:
                headers["x-amz-object-lock-mode"] = "COMPLIANCE"
                headers["x-amz-object-lock-retain-until-date"] = _iso8601(retain_until)
            status, code, message, version_id = direct.send(self.prefix + key, bytes(data), headers, digest)
            if 200 <= status < 300:
                self._created[key] = version_id
                return True
            if status == 412 or code == "PreconditionFailed":
                return False
            if code == "NoSuchBucket":
                raise ArchiveError(f"bucket {self.bucket!r} does not exist", kind="usage")
            raise ArchiveError(f"S3 PUT {self.bucket}/{key} failed: {code or status}: {message}", kind="io")
        kwargs = {}
        if retain_until is not None:
            kwargs = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": retain_until}
        try:
            r = self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, IfNoneMatch="*",
                                       ContentType=content_type,
                                       # The server checks the bytes it stored against our hash.
                                       ChecksumSHA256=base64.b64encode(digest).decode("ascii"), **kwargs)
            self._created[key] = (r or {}).get("VersionId")
            return True
        except Exception as exc:  # noqa: BLE001 - botocore raises ClientError and transport errors
            if _code(exc) == "PreconditionFailed" or _status(exc) == 412:
                return False
            raise self._fail("PUT", key, exc) from exc

    def first_version_id(self, key: str, refresh: bool = False) -> str | None:
        """Id of the first (oldest) version of ``key``; None if it has none (or only delete markers)."""
        if not refresh and key in self._first:
            return self._first[key]
        h = list_versions(self.client, self.bucket, self.prefix + key, exact=True).get(self.prefix + key)
        if h is None or h.first is None:
            return None
        self._first[key] = h.first.version_id
        return h.first.version_id

    def created_first(self, key: str) -> bool:
        """True if the version ``put_new`` just created for ``key`` is its first version.

        ``If-None-Match: *`` also succeeds over a delete marker: then an older, hidden version
        exists and ours is only a later version of the key, which the archive must not count.
        """
        first = self.first_version_id(key, refresh=True)
        created = self._created.get(key)
        return first is not None and (created is None or first == created)

    def get(self, key: str) -> bytes | None:
        """The bytes of the first version of ``key`` (None if the key has no version)."""
        vid = self.first_version_id(key)
        if vid is None:
            return None
        return get_version(self.client, self.bucket, self.prefix + key, vid)

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[str]:
        """Every key under ``prefix`` that has a version, hidden by a delete marker or not, in order."""
        found = list_versions(self.client, self.bucket, self.prefix + prefix,
                              key_marker=self.prefix + start_after if start_after else None)
        keys = []
        for full, h in found.items():
            if h.first is not None:
                key = full[len(self.prefix):]
                self._first[key] = h.first.version_id
                keys.append(key)
        return iter(sorted(keys))

    def lock_info(self, key: str) -> LockInfo | None:
        vid = self.first_version_id(key)
        if vid is None:
            return None
        return head_lock(self.client, self.bucket, self.prefix + key, vid)

    def extend_retention(self, key: str, until: datetime) -> None:
        try:
            vid = self.first_version_id(key)
            self.client.put_object_retention(Bucket=self.bucket, Key=self.prefix + key,
                                             Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until},
                                             **({"VersionId": vid} if vid else {}))
        except Exception as exc:  # noqa: BLE001
            raise self._fail("PUT retention", key, exc) from exc

    def set_legal_hold(self, key: str, on: bool) -> None:
        try:
            vid = self.first_version_id(key)
            self.client.put_object_legal_hold(Bucket=self.bucket, Key=self.prefix + key,
                                              LegalHold={"Status": "ON" if on else "OFF"},
                                              **({"VersionId": vid} if vid else {}))
        except Exception as exc:  # noqa: BLE001
            raise self._fail("PUT legal-hold", key, exc) from exc

    def has_delete_marker(self, key: str) -> bool:
        """True if a delete marker hides ``key`` (its locked versions still exist underneath)."""
        try:
            r = self.client.list_object_versions(Bucket=self.bucket, Prefix=self.prefix + key)
        except Exception as exc:  # noqa: BLE001
            raise self._fail("LIST versions", key, exc) from exc
        return any(m["Key"] == self.prefix + key and m.get("IsLatest") for m in r.get("DeleteMarkers", []) or [])


class DirStore(DirReader):
    """A directory laid out like the bucket (keys become relative paths). No lock information."""

    def put_new(self, key: str, data: bytes, retain_until: datetime | None = None, sha256: bytes | None = None,
                content_type: str = "") -> bool:
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except FileExistsError:
            return False
        except OSError as exc:
            raise ArchiveError(f"cannot create {p}: {exc}", kind="io") from exc
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True

    def created_first(self, key: str) -> bool:
        return True  # O_EXCL: a file has one version
