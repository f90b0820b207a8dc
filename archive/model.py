"""Plain data types of the archive: what a caller hands in and what it gets back.

An *entry* is "documents plus metadata" and nothing more: this module must never learn what an
invoice is. Retention follows the German rule (AO § 147, HGB § 257): the period starts at the
end of the calendar year of the base date, so a document dated 2026-11-02 kept 8 years is
retained until 2035-01-01T00:00:00Z (the first instant after 31.12.2034).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Mapping

from .errors import ArchiveError

OBJECT_PREFIX = "objects/sha256/"
LEAF_VERSION = 1


def object_key(sha256_hex: str) -> str:
    return f"{OBJECT_PREFIX}{sha256_hex}"


def utc_iso(dt: datetime) -> str:
    """ISO 8601 in UTC with a 'Z', second precision: the one timestamp format in records."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime:
    if not (isinstance(text, str) and len(text) == 20 and text.endswith("Z")):
        raise ValueError(f"timestamp {text!r} is not YYYY-MM-DDTHH:MM:SSZ")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)


#: Retention classes and their years when the caller configures none (see RetentionPolicy).
DEFAULT_CLASSES = {"invoice": 8, "approval-trail": 8, "payment-file": 8, "posting-record": 10, "procedure": 10}
#: A retention base later than this after today is refused: nobody books a record years ahead,
#: and a lock set from such a date could never be shortened (COMPLIANCE).
MAX_BASE_AHEAD_DAYS = 366


@dataclass(frozen=True)
class RetentionPolicy:
    """Retention years per class; years count from the end of the calendar year of the base date.

    Defaults follow BEG IV: Belege (an invoice document, its approval trail, a payment file)
    8 years; books (a posting record) and the procedure documentation (Verfahrensdokumentation)
    10 years. The class names are the caller's; the archive only counts years. Municipal budget
    law or an open assessment may need longer: ``Archive.extend_retention`` raises the lock
    later and records the decision (``archive.retention``).
    """

    classes: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CLASSES))
    default_class: str = "invoice"

    def __post_init__(self) -> None:
        if self.default_class not in self.classes:
            raise ArchiveError(f"default retention class {self.default_class!r} is not one of {sorted(self.classes)}")
        for name, years in self.classes.items():
            if not isinstance(years, int) or years < 1:
                raise ArchiveError(f"retention class {name!r}: years must be a positive integer, got {years!r}")

    def years(self, retention_class: str | None) -> tuple[str, int]:
        cls = retention_class or self.default_class
        if cls not in self.classes:
            raise ArchiveError(f"unknown retention class {cls!r}; configured classes: {sorted(self.classes)}")
        return cls, self.classes[cls]

    @staticmethod
    def retain_until(base: date, years: int) -> datetime:
        """End of the calendar year of ``base`` plus ``years`` years, as the next instant (UTC)."""
        return datetime(base.year + years + 1, 1, 1, tzinfo=timezone.utc)

    @staticmethod
    def check_base(base: date, years: int, now: datetime, locking: bool = True) -> str | None:
        """Why ``base`` cannot be an entry's retention base at ``now`` (None if it can).

        A lock that ends before the PUT is refused by S3 (``locking``: a store with Object Lock),
        one that ends after year 9999 cannot be written, and one counted from a date far ahead can
        never be shortened: each is a usage error, found before anything is written.
        """
        if base.year + years + 1 > 9999:
            return f"retention base {base.isoformat()} + {years} years ends after the year 9999"
        if (base - now.date()).days > MAX_BASE_AHEAD_DAYS:
            return (f"retention base {base.isoformat()} lies more than {MAX_BASE_AHEAD_DAYS} days after today "
                    f"({now.date().isoformat()}): a COMPLIANCE lock from it could never be shortened")
        until = RetentionPolicy.retain_until(base, years)
        if locking and until <= now:
            return (f"retention base {base.isoformat()} + {years} years ended on {until.date().isoformat()}: "
                    f"nothing can be locked for a period that is over")
        return None


@dataclass(frozen=True)
class ArchiveDocument:
    """One document of an entry: exactly the bytes to keep, a name unique within the entry."""

    name: str
    media_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class EntryInput:
    """What to archive. ``entry_id`` is the caller's idempotency key (e.g. SHA-256 of the original).

    Follow-up records (approval trail, posting record, a correction) are archived as their own
    entries that point at an earlier one: ``relates_to`` names the earlier entry_id and
    ``relation`` says how (e.g. "approval-trail", "posting-record", "supersedes"). The archive
    checks that the earlier entry exists and binds the link to its sequence number and leaf hash,
    so the link itself is tamper-evident. Nothing is ever added to an existing entry.
    """

    entry_id: str
    documents: list[ArchiveDocument]
    metadata: dict[str, Any] = field(default_factory=dict)
    retention_class: str | None = None
    retention_base: date | None = None  # None: today (UTC)
    #: Years of this entry instead of its class's (a retention-extension decision counts its own).
    retention_years: int | None = None
    relates_to: str | None = None
    relation: str | None = None


@dataclass(frozen=True)
class EntryReceipt:
    entry_id: str
    sequence: int
    leaf_hash: str
    document_keys: dict[str, str]
    retain_until: datetime
    existing: bool = False  # True when the entry_id was archived before (idempotent re-append)


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement "the log had ``tree_size`` leaves with root ``root_hash`` at ``timestamp``"."""

    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str | None
    signature: str | None
    raw: bytes = b""  # the stored bytes, kept so verifiers hash exactly what was stored

    def body(self) -> dict[str, Any]:
        return {"v": 1, "tree_size": self.tree_size, "root_hash": self.root_hash,
                "timestamp": self.timestamp, "key_id": self.key_id}

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "signature": self.signature}
