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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from urllib.parse import quote
from xml.etree import ElementTree

from .errors import ArchiveError


@dataclass(frozen=True)
class LockInfo:
    mode: str | None
    retain_until: datetime | None
    legal_hold: bool


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
        from botocore.exceptions import ConnectionError as BotoConnectionError, HTTPClientError

        for attempt in range(self.attempts):
            try:
                r = self.session.send(self.signed_request(key, data, headers, digest))
            except (BotoConnectionError, HTTPClientError) as exc:
                if attempt + 1 >= self.attempts:
                    return 0, type(exc).__name__, str(exc)
            else:
                code, message = "", ""
                if r.status_code >= 300:
                    code, message = _error_code(r.content)
                if not (r.status_code in _RETRY_STATUS or code in _RETRY_CODES) or attempt + 1 >= self.attempts:
                    return r.status_code, code, message
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
    """A lock-enabled, versioned S3 bucket reached through a boto3 client."""

    kind = "s3"

    def __init__(self, client, bucket: str, prefix: str = "") -> None:
        """``prefix`` (e.g. "org-a/") keeps several archives apart in one bucket."""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self._direct: _DirectPut | None | bool = False  # False: not looked at yet
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

    def put_new(self, key: str, data: bytes, retain_until: datetime | None, sha256: bytes | None = None,
                content_type: str = "application/octet-stream") -> bool:
        """Create ``key`` with COMPLIANCE retention; False if it already exists (412), never overwrite."""
        digest = sha256 or hashlib.sha256(data).digest()
        if self._direct is False:
            with self._direct_lock:  # the writer's threads arrive together
                if self._direct is False:
                    self._direct = _DirectPut.for_client(self.client, self.bucket)
        if self._direct is not None:
            headers = {"If-None-Match": "*", "Content-Type": content_type,
                       # The server checks the bytes it stored against our hash.
                       "x-amz-checksum-sha256": base64.b64encode(digest).decode("ascii")}
            if retain_until is not None:
                headers["x-amz-object-lock-mode"] = "COMPLIANCE"
                headers["x-amz-object-lock-retain-until-date"] = _iso8601(retain_until)
            status, code, message = self._direct.put(self.prefix + key, bytes(data), headers, digest)
            if 200 <= status < 300:
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
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, IfNoneMatch="*",
                                   ContentType=content_type,
                                   # The server checks the bytes it stored against our hash.
                                   ChecksumSHA256=base64.b64encode(digest).decode("ascii"), **kwargs)
            return True
        except Exception as exc:  # noqa: BLE001 - botocore raises ClientError and transport errors
            if _code(exc) == "PreconditionFailed" or _status(exc) == 412:
                return False
            raise self._fail("PUT", key, exc) from exc

    def get(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except Exception as exc:  # noqa: BLE001
            if _is_missing(exc):
                return None
            raise self._fail("GET", key, exc) from exc

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[str]:
        kwargs = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        if start_after:
            kwargs["StartAfter"] = self.prefix + start_after
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                for obj in page.get("Contents", []) or []:
                    yield obj["Key"][len(self.prefix):]
        except ArchiveError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._fail("LIST", prefix, exc) from exc

    def lock_info(self, key: str) -> LockInfo | None:
        try:
            h = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except Exception as exc:  # noqa: BLE001
            if _is_missing(exc):
                return None
            raise self._fail("HEAD", key, exc) from exc
        until = h.get("ObjectLockRetainUntilDate")
        if until is not None:
            until = until.astimezone(timezone.utc)
        return LockInfo(h.get("ObjectLockMode"), until, h.get("ObjectLockLegalHoldStatus") == "ON")

    def extend_retention(self, key: str, until: datetime) -> None:
        try:
            self.client.put_object_retention(Bucket=self.bucket, Key=self.prefix + key,
                                             Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
        except Exception as exc:  # noqa: BLE001
            raise self._fail("PUT retention", key, exc) from exc

    def set_legal_hold(self, key: str, on: bool) -> None:
        try:
            self.client.put_object_legal_hold(Bucket=self.bucket, Key=self.prefix + key,
                                              LegalHold={"Status": "ON" if on else "OFF"})
        except Exception as exc:  # noqa: BLE001
            raise self._fail("PUT legal-hold", key, exc) from exc

    def has_delete_marker(self, key: str) -> bool:
        """True if a delete marker hides ``key`` (its locked versions still exist underneath)."""
        try:
            r = self.client.list_object_versions(Bucket=self.bucket, Prefix=self.prefix + key)
        except Exception as exc:  # noqa: BLE001
            raise self._fail("LIST versions", key, exc) from exc
        return any(m["Key"] == self.prefix + key and m.get("IsLatest") for m in r.get("DeleteMarkers", []) or [])


class DirStore:
    """A directory laid out like the bucket (keys become relative paths). No lock information."""

    kind = "dir"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._root_str = str(self.root)

    def describe(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ArchiveError(f"refusing key outside the archive directory: {key!r}")
        return self.root / key

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

    def get(self, key: str) -> bytes | None:
        if key.startswith("/") or ".." in key.split("/"):
            raise ArchiveError(f"refusing key outside the archive directory: {key!r}")
        # Plain string paths and os.read: pathlib and a buffered file object (fstat, ioctl, lseek)
        # cost more than the read itself for documents of a few KB (~13 vs ~22 us per object here).
        try:
            fd = os.open(os.path.join(self._root_str, key), os.O_RDONLY)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except OSError as exc:
            raise ArchiveError(f"cannot read {self._path(key)}: {exc}", kind="io") from exc
        try:
            chunks = []
            size = 1 << 16
            while True:  # to end of file: a short read is not taken as the end
                chunk = os.read(fd, size)
                if not chunk:
                    break
                chunks.append(chunk)
                size = min(size * 2, 1 << 24)
        except IsADirectoryError:
            return None
        except OSError as exc:
            raise ArchiveError(f"cannot read {self._path(key)}: {exc}", kind="io") from exc
        finally:
            os.close(fd)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[str]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.is_dir():
            return iter(())
        keys = []
        for dirpath, _dirs, files in os.walk(base):
            rel = os.path.relpath(dirpath, self._root_str).replace(os.sep, "/")
            keys += [f"{rel}/{name}" if rel != "." else name for name in files]
        keys.sort()
        return iter([k for k in keys if k.startswith(prefix) and (start_after is None or k > start_after)])

    def lock_info(self, key: str) -> LockInfo | None:
        return None
