"""Versions, not keys: read an S3 archive as the *first* version of every key, and list the rest.

S3 Object Lock (COMPLIANCE) protects each *version*. Whoever may PutObject can still add a new
version on top of a locked key, and whoever may DeleteObject can add a delete marker that hides
it; neither touches a locked byte, but a reader of the current version sees the forgery or
nothing. The archive therefore defines the content of every key as its **first version** (the
oldest one, the one the writer created with ``If-None-Match: *`` and a COMPLIANCE lock), reads
it by version id, and treats every later version and every delete marker as an integrity finding.

``list_versions`` pages through ``ListObjectVersions`` for a prefix (1,000 keys per request, as
fast as a plain listing); ``FirstVersionReader`` is the read-only view the verifier and the
export use. This module must never write, delete or change anything in a bucket.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

from .errors import ArchiveError


@dataclass(frozen=True)
class LockInfo:
    mode: str | None
    retain_until: datetime | None
    legal_hold: bool


@dataclass(frozen=True)
class Version:
    version_id: str
    last_modified: datetime | None
    size: int | None = None


@dataclass
class KeyHistory:
    """Every version and delete marker of one key; ``versions`` oldest first."""

    versions: list[Version] = field(default_factory=list)
    markers: list[Version] = field(default_factory=list)

    @property
    def first(self) -> Version | None:
        return self.versions[0] if self.versions else None

    @property
    def extra(self) -> list[Version]:
        return self.versions[1:]


def _code(exc: Exception) -> str:
    resp = getattr(exc, "response", None) or {}
    return str(resp.get("Error", {}).get("Code", "")) or str(resp.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _fail(op: str, bucket: str, key: str, exc: Exception) -> ArchiveError:
    code = _code(exc)
    if code == "NoSuchBucket":
        return ArchiveError(f"bucket {bucket!r} does not exist", kind="usage")
    return ArchiveError(f"S3 {op} {bucket}/{key} failed: {code or type(exc).__name__}: {exc}", kind="io")


def list_versions(client, bucket: str, prefix: str, key_marker: str | None = None,
                  exact: bool = False) -> dict[str, KeyHistory]:
    """Full key -> its history, for every key under ``prefix`` (after ``key_marker``).

    S3 lists the versions of a key newest first; the first version is the one with the earliest
    LastModified, and among equal times (second precision) the one listed last.
    """
    kwargs = {"Bucket": bucket, "Prefix": prefix}
    if key_marker:
        kwargs["KeyMarker"] = key_marker
    raw: dict[str, list[tuple[datetime | None, int, Version]]] = {}
    out: dict[str, KeyHistory] = {}
    n = 0
    try:
        for page in client.get_paginator("list_object_versions").paginate(**kwargs):
            for v in page.get("Versions", []) or []:
                if exact and v["Key"] != prefix:
                    continue
                n += 1
                lm = v.get("LastModified")
                raw.setdefault(v["Key"], []).append((lm, -n, Version(v["VersionId"], lm, v.get("Size"))))
            for m in page.get("DeleteMarkers", []) or []:
                if exact and m["Key"] != prefix:
                    continue
                out.setdefault(m["Key"], KeyHistory()).markers.append(Version(m["VersionId"], m.get("LastModified")))
    except Exception as exc:  # noqa: BLE001 - botocore raises ClientError and transport errors
        raise _fail("LIST versions", bucket, prefix, exc) from exc
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    for key, items in raw.items():
        items.sort(key=lambda t: (t[0] or epoch, t[1]))
        out.setdefault(key, KeyHistory()).versions = [t[2] for t in items]
    return out


def get_version(client, bucket: str, full_key: str, version_id: str) -> bytes | None:
    try:
        return client.get_object(Bucket=bucket, Key=full_key, VersionId=version_id)["Body"].read()
    except Exception as exc:  # noqa: BLE001
        if _code(exc) in ("NoSuchKey", "NoSuchVersion", "404", "NotFound"):
            return None
        raise _fail("GET", bucket, f"{full_key}?versionId={version_id}", exc) from exc


def head_lock(client, bucket: str, full_key: str, version_id: str | None) -> LockInfo | None:
    kwargs = {"Bucket": bucket, "Key": full_key}
    if version_id:
        kwargs["VersionId"] = version_id
    try:
        h = client.head_object(**kwargs)
    except Exception as exc:  # noqa: BLE001
        if _code(exc) in ("NoSuchKey", "NoSuchVersion", "404", "NotFound", "405"):
            return None
        raise _fail("HEAD", bucket, full_key, exc) from exc
    until = h.get("ObjectLockRetainUntilDate")
    if until is not None:
        until = until.astimezone(timezone.utc)
    return LockInfo(h.get("ObjectLockMode"), until, h.get("ObjectLockLegalHoldStatus") == "ON")


class FirstVersionReader:
    """Read-only view of an archive in a bucket in which every key is its first version.

    ``scan(prefixes)`` lists all versions and delete markers once (paged); afterwards ``list``
    names every key that has a version (also keys hidden by a delete marker), ``get`` reads the
    first version by its id, ``lock_info`` heads it, and ``histories`` holds what else is there.
    """

    kind = "s3"

    def __init__(self, client, bucket: str, prefix: str = "") -> None:
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.histories: dict[str, KeyHistory] = {}  # relative key -> history

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def scan(self, prefixes: list[str]) -> "FirstVersionReader":
        for p in prefixes:
            for full, h in list_versions(self.client, self.bucket, self.prefix + p).items():
                self.histories[full[len(self.prefix):]] = h
        return self

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[str]:
        return iter(sorted(k for k, h in self.histories.items()
                           if h.versions and k.startswith(prefix) and (start_after is None or k > start_after)))

    def get(self, key: str) -> bytes | None:
        h = self.histories.get(key)
        if h is None or h.first is None:
            return None
        return get_version(self.client, self.bucket, self.prefix + key, h.first.version_id)

    def get_version(self, key: str, version_id: str) -> bytes | None:
        return get_version(self.client, self.bucket, self.prefix + key, version_id)

    def lock_info(self, key: str, version_id: str | None = None) -> LockInfo | None:
        h = self.histories.get(key)
        if version_id is None:
            if h is None or h.first is None:
                return None
            version_id = h.first.version_id
        return head_lock(self.client, self.bucket, self.prefix + key, version_id)

    def has_delete_marker(self, key: str) -> bool:
        h = self.histories.get(key)
        return bool(h and h.markers)
