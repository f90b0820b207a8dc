"""Reading the inbox: what a file offered to the pipeline is, and how it is listed, read and moved.

Two inbox forms: a directory (files are read where they are) and an S3 prefix
(``s3://bucket/prefix/``; objects directly under the prefix, sub-"folders" such as ``processed/``
are not the inbox). Hidden and partial files (``.part``, ``.tmp``) are skipped in both. A file
over ``MAX_FILE_BYTES`` or one that cannot be read becomes an ``IngestOutcome`` that says why and
stays in the inbox for an operator; every other file becomes an ``InboxItem`` for
``einvoice.pipeline``. After ingest, files that reached a state are moved out of the inbox
(``move_processed``; a missing source is already moved, so a retry is harmless).

This module must never decide anything about a file's content and never import Prefect: the
``process-inbox`` flow only orchestrates these functions.
"""
from __future__ import annotations

import hashlib
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from einvoice.intake import DEFAULT_MAX_FILE_BYTES

#: Files larger than this are refused before reading them whole (they stay in the inbox); the
#: same limit detection applies to a whole input file.
MAX_FILE_BYTES = DEFAULT_MAX_FILE_BYTES


@dataclass(frozen=True)
class InboxItem:
    """One file offered to the pipeline: its name, bytes and where it came from."""

    name: str
    data: bytes
    channel: str = "directory"
    #: what the channel said about the file (JSON-able dict: e-mail message id, sender, reply
    #: address ...); stored as ``invoices.channel_json``, never read as invoice content
    channel_meta: dict | None = field(default=None, compare=False)
    #: channel evidence archived in the same entry as the file: (name, media type, bytes), e.g. the
    #: e-mail the file came in
    evidence: tuple[tuple[str, str, bytes], ...] = field(default=(), compare=False)
    #: the channel already knows this is no invoice it accepts: (rule ID, state, message). The file
    #: is then not validated; it is archived and recorded in that state (not_an_invoice or rejected)
    #: with the finding, so the supplier can be told why.
    refusal: tuple[str, str, str] | None = field(default=None, compare=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class IngestOutcome:
    """What happened to one offered file (printed by the CLI, shown as a Prefect artifact)."""

    name: str
    sha256: str | None
    state: str  # an InvoiceState value, or "unreadable"
    invoice_id: int | None = None
    syntax: str | None = None
    valid: bool | None = None
    verdict: str = ""
    department: str | None = None
    routing_reason: str | None = None
    archive_key: str | None = None
    retain_until: str | None = None
    already_received: bool = False
    channel: str | None = None
    #: findings about the file's dates (rule ID: message); retention counts from receipt regardless
    retention_findings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def read_inbox_file(path: Path, channel: str = "directory") -> InboxItem | IngestOutcome:
    """Read one inbox file, or say why it cannot be read (the file is left where it is)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return IngestOutcome(path.name, None, "unreadable", verdict=f"file is {size} bytes, larger than the limit of {MAX_FILE_BYTES}; left in the inbox")
        return InboxItem(path.name, path.read_bytes(), channel)
    except OSError as exc:
        return IngestOutcome(path.name, None, "unreadable", verdict=f"cannot read file: {exc.strerror or exc}; left in the inbox")


def list_inbox(directory: Path) -> list[Path]:
    """Regular files of an inbox directory, oldest name first; hidden and partial files are skipped."""
    return sorted(
        p for p in Path(directory).iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".part", ".tmp"))
    )


# --- S3 inbox -----------------------------------------------------------------------------------------
def split_s3(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix/`` -> (bucket, prefix)."""
    rest = url[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix


def list_s3(s3, bucket: str, prefix: str) -> list[str]:
    """Object keys directly under ``prefix`` (sub-"folders" such as processed/ are not the inbox)."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            name = obj["Key"][len(prefix):]
            if name and "/" not in name and not name.startswith(".") and not name.endswith((".part", ".tmp")):
                keys.append(obj["Key"])
    return sorted(keys)


def list_entries(inbox: str, s3=None) -> list[str]:
    """File paths (directory inbox) or object keys (S3 inbox, read with the client ``s3``), oldest name first."""
    if inbox.startswith("s3://"):
        return list_s3(s3, *split_s3(inbox))
    return [str(p) for p in list_inbox(Path(inbox))]


def read_s3_object(s3, bucket: str, key: str, channel: str) -> InboxItem | IngestOutcome:
    """Read one object of an S3 inbox, or say why it is not read (the object is left where it is)."""
    name = key.rsplit("/", 1)[-1]
    head = s3.head_object(Bucket=bucket, Key=key)
    if head["ContentLength"] > MAX_FILE_BYTES:
        return IngestOutcome(name, None, "unreadable", verdict=f"object is {head['ContentLength']} bytes, larger than "
                                                                f"the limit of {MAX_FILE_BYTES}; left in the inbox")
    return InboxItem(name, s3.get_object(Bucket=bucket, Key=key)["Body"].read(), channel)


def move_processed(sources: list[str], processed: str, *, s3=None, bucket: str | None = None, prefix: str = "") -> int:
    """Move files that reached a state out of the inbox (idempotent: a missing source is already moved).

    S3 inbox (``bucket`` given): each key under ``prefix`` is copied to ``processed`` + its name and
    deleted; directory inbox: each file is moved into the directory ``processed``."""
    moved = 0
    if bucket:
        for key in sources:
            target = processed + key[len(prefix):]
            try:
                s3.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": key})
            except s3.exceptions.NoSuchKey:
                continue
            s3.delete_object(Bucket=bucket, Key=key)
            moved += 1
        return moved
    target_dir = Path(processed)
    target_dir.mkdir(parents=True, exist_ok=True)
    for src in sources:
        p = Path(src)
        if p.exists():
            shutil.move(str(p), target_dir / p.name)
            moved += 1
    return moved
