"""What one verification run shares between its steps: the caller's options, what the steps found
so far, and the ``Report`` they fill.

The report is the verifier's only output (``to_dict`` for JSON, ``to_text`` for people); the rest
of ``Audit`` is working state that one step leaves for a later one (the sorted page keys, the leaf
hashes, the readable checkpoints, ...). This module must never do I/O.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from .. import signing
from ..model import Checkpoint, parse_utc, utc_iso
from ..problems import FAILURE, NOTE, ORPHAN, Problem
from ..tree import TreeStore

EXPIRED = "expired"  # internal marker: a document deleted after its retention ended (summed up as a note)
#: How long after its append a batch may first be time-stamped. The checkpoint-archive flow stamps
#: hourly; three days leave room for a TSA outage over a weekend, not for a history written later.
DEFAULT_MAX_ANCHOR_LAG = timedelta(hours=72)
#: A TSA's clock and the writer's may differ a little; more than this is a finding.
CLOCK_SKEW = timedelta(minutes=5)
#: Where a document is named: (leaf position, file name, size, retain-until, or "out-of-scope" for
#: an entry outside the years of an export). A plain tuple: ``archive.retention`` rewrites them.
DocumentRef = tuple[int, str, int, Any]


@dataclass
class Report:
    source: str
    leaves: int = 0
    documents: int = 0
    expired_documents: int = 0
    checkpoints: int = 0
    timestamps: int = 0
    latest_anchor: dict[str, Any] | None = None
    latest_checkpoint: dict[str, Any] | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == FAILURE for p in self.problems)

    def add(self, severity: str, code: str, message: str, key: str | None = None,
            expected: Any = None, computed: Any = None) -> None:
        self.problems.append(Problem(severity, code, message, key,
                                     None if expected is None else str(expected),
                                     None if computed is None else str(computed)))

    def count(self, severity: str) -> int:
        return sum(1 for p in self.problems if p.severity == severity)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "intact": self.ok, "leaves": self.leaves, "documents": self.documents,
                "expired_documents": self.expired_documents, "checkpoints": self.checkpoints,
                "timestamps": self.timestamps, "latest_anchor": self.latest_anchor, "latest_checkpoint": self.latest_checkpoint,
                "failures": self.count(FAILURE), "orphans": self.count(ORPHAN),
                "problems": [asdict(p) for p in self.problems]}

    def to_text(self) -> str:
        lines = [f"archive {self.source}: {'INTACT' if self.ok else 'INTEGRITY FAILURE'}",
                 f"  leaves {self.leaves}, documents {self.documents}, checkpoints {self.checkpoints}"
                 + (f", {self.expired_documents} documents deleted after their retention" if self.expired_documents else "")]
        if self.latest_checkpoint:
            lc = self.latest_checkpoint
            lines.append(f"  latest valid checkpoint: size {lc['tree_size']} root {lc['root_hash']} "
                         f"at {lc['timestamp']}")
        if self.latest_anchor:
            la = self.latest_anchor
            lines.append(f"  latest RFC 3161 anchor: size {la['tree_size']} time-stamped at {la['gen_time']}")
        lines.append(f"  failures {self.count(FAILURE)}, orphans {self.count(ORPHAN)}, notes {self.count(NOTE)}")
        lines += ["  " + p.text() for p in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class Options:
    """What the caller asked for (the keyword arguments of ``archive.verify.verify``)."""

    check_lock: bool = False
    trusted_checkpoint: bytes | None = None
    workers: int = 16
    processes: int | None = None
    as_of: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    tsa_roots: list | None = None
    max_anchor_lag: timedelta = DEFAULT_MAX_ANCHOR_LAG
    accept_late: Sequence[tuple[int, int]] = ()
    witness: Any = None
    key_periods: dict[str, tuple[datetime | None, datetime | None]] | None = None


@dataclass
class LogKeys:
    """The keys under ``log/`` and ``objects/``, by kind (step ``list_keys``)."""

    pages: list[str] = field(default_factory=list)  # in page order (by first sequence number)
    checkpoints: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)
    timestamps: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)


class PageSeen(NamedTuple):
    """A page that was read: where it starts, how many leaves it holds, the SHA-256 of its bytes."""

    key: str
    first: int
    leaf_count: int
    sha256: str


@dataclass
class Leaves:
    """What the verifier keeps of the leaves (step ``read_leaves``): hashes and ids, never the leaves
    themselves, so a log of 1,000,000 leaves fits."""

    hashes: list[bytes] = field(default_factory=list)
    entry_ids: list[str | None] = field(default_factory=list)
    seen_ids: dict[str | None, int] = field(default_factory=dict)  # entry id -> its first position
    #: document SHA-256 -> where it is named
    referenced: defaultdict[str, list[DocumentRef]] = field(default_factory=lambda: defaultdict(list))
    #: page key -> the longest retain-until of its leaves
    page_until: dict[str, datetime] = field(default_factory=dict)
    #: appended_at of every leaf (epoch seconds, None if unreadable): order always, anchors with a TSA
    times: list[int | None] = field(default_factory=list)
    pages_seen: list[PageSeen] = field(default_factory=list)


@dataclass
class Audit:
    """One run of the verifier: inputs, the working state the steps hand on, and the report."""

    store: Any  # a DirStore/DirReader, or in bucket mode the first-version view of the bucket
    ring: dict[str, Any]  # key id -> Ed25519 public key
    options: Options
    report: Report
    scope_years: set[int] | None = None  # an export's years (None: everything)
    view: Any = None  # bucket mode: the FirstVersionReader (also ``store``), for the version history
    keys: LogKeys = field(default_factory=LogKeys)
    leaves: Leaves = field(default_factory=Leaves)
    pool: Any = None  # worker processes for a large export (``workers.WorkerPool``), while they run
    wanted: list[str] = field(default_factory=list)  # object keys the leaves need (step check_documents)
    tree: TreeStore = field(default_factory=lambda: TreeStore.from_leaf_hashes([]))
    checkpoints: list[tuple[str, Checkpoint]] = field(default_factory=list)  # readable, by size
    good: list[tuple[str, Checkpoint]] = field(default_factory=list)  # valid: signed, consistent with the leaves


Step = Callable[[Audit], None]


def key_ring(public_keys) -> dict[str, Any]:
    """key id -> Ed25519 public key, from one key or several (keys rotate over a 10-year retention)."""
    if not isinstance(public_keys, (list, tuple, set)):
        public_keys = [public_keys]
    return {signing.key_id(k): k for k in public_keys}


def checkpoint_signed(ring: dict[str, Any], cp) -> bool:
    """True if the checkpoint's signature verifies with the key its key id names (and that key is trusted)."""
    key = ring.get(cp.key_id)
    return key is not None and signing.signature_valid(key, cp.body(), cp.signature)


def read_many(store, keys: list[str], workers: int) -> dict[str, bytes | None]:
    """The bytes of ``keys`` (None for a missing key), read by ``workers`` threads from a bucket."""
    if len(keys) < 8 or store.kind == "dir":
        return {k: store.get(k) for k in keys}
    with ThreadPoolExecutor(workers) as ex:
        return dict(zip(keys, ex.map(store.get, keys)))


def map_keys(store, fn, items: list, workers: int) -> list:
    """``[fn(i) for i in items]``, on ``workers`` threads for a bucket."""
    if len(items) < 8 or store.kind == "dir":
        # Threads do not pay for a directory: each small read releases and re-takes the GIL, and
        # the hand-offs between threads cost more CPU than the reads (measured: 100,000 entries,
        # 21 s CPU with 4 threads, 8-12 s without). Large exports use worker processes (WorkerPool).
        return [fn(i) for i in items]
    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, items))


def epoch(text: str | None) -> int | None:
    """Epoch seconds of a leaf's ``appended_at`` (None if it has none or it is unreadable)."""
    if text is None:  # an unreadable leaf has no appended_at
        return None
    try:
        return int(parse_utc(text).timestamp())
    except (TypeError, ValueError):
        return None


def iso_epoch(t: int) -> str:
    return utc_iso(datetime.fromtimestamp(t, timezone.utc))
