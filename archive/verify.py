"""The offline verifier: needs nothing but the bucket (or an export directory) and a public key.

It recomputes, from the stored bytes and without trusting any writer state:

* every document's SHA-256 (against its key and against every leaf that names it);
* every leaf (canonical JSON, sequence number, the chain of ``prev_leaf_hash``), page order,
  gaps, overlaps (forks), duplicate entry ids, follow-up links;
* the RFC 9162 tree: every checkpoint's root at its size, its Ed25519 signature and key id,
  the consistency proof between consecutive checkpoints, time order, replayed checkpoints;
* that every page beyond the latest valid checkpoint is named by a signed intent
  (``page-unauthenticated`` otherwise), and that ``appended_at`` never goes back;
* the index segments against the leaves; optionally Object Lock mode/retain-until per object;
* in a bucket: the *first* version of every key (``archive.versions``), and every later version
  and delete marker as a failure (``archive.versioncheck``); optionally a witness
  (``archive.witness``).

Findings are values (``Problem``) in three classes: ``failure`` (integrity broken: exit 1),
``orphan`` (leftovers of an interrupted append, e.g. unreferenced objects or leaves not yet
signed: not corruption) and ``note``. This module must never write to the store, never stop at
the first problem, and never skip a check silently: a check that cannot run is a finding.

A large export directory is verified with one worker process per core: they parse the leaves
and hash the documents (the work that needs one leaf's or one object's bytes); everything that
relates leaves to each other, the tree and the signatures stay in this process. The report is
the same with or without them.

The verifier is an ordered tuple of named steps (``STEPS``, one function each in
``archive.verifysteps``) that share one ``Audit`` and fill one ``Report``; like this module they
import only the archive's format modules, never the writer, the store's write path, the export or
the CLI (the ``verifier-reads-only-the-format`` contract in ``.importlinter``).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from .problems import FAILURE, NOTE, ORPHAN, Problem  # noqa: F401 - part of this module's API
from .verifysteps import bucket, checkpoints, documents, index, leaves, sources, timestamps, workers
from .verifysteps.audit import (  # noqa: F401 - part of this module's API
    CLOCK_SKEW,
    DEFAULT_MAX_ANCHOR_LAG,
    Audit,
    Options,
    Report,
    Step,
    checkpoint_signed,
    key_ring,
)

#: The worker processes of a large export (kept under this name for callers that tune or observe them).
_Pool = workers.WorkerPool

#: The verifier, in order. Each step reads what earlier ones left in the ``Audit`` and adds its
#: findings to the report; the order is the order of the findings in the report.
STEPS: tuple[Step, ...] = (
    sources.open_source,
    sources.list_keys,
    workers.start_workers,
    leaves.read_leaves,
    leaves.apply_retention_extensions,
    documents.check_documents,
    documents.note_orphan_objects,
    workers.stop_workers,
    checkpoints.read_checkpoints,
    checkpoints.check_signatures,
    checkpoints.check_consistency,
    checkpoints.check_tail,
    checkpoints.note_unused_intents,
    timestamps.check_append_order,
    checkpoints.check_trusted_checkpoint,
    timestamps.check_timestamps,
    checkpoints.check_witness,
    checkpoints.check_key_periods,
    index.check_index_segments,
    bucket.check_locks,
    bucket.check_versions,
)


def verify(store, public_key, *, check_lock: bool = False, trusted_checkpoint: bytes | None = None,
           workers: int = 16, scope_years: set[int] | None = None, processes: int | None = None,
           as_of: datetime | None = None, tsa_roots: list | None = None,
           max_anchor_lag: timedelta = DEFAULT_MAX_ANCHOR_LAG,
           accept_late: Sequence[tuple[int, int]] = (), witness=None,
           key_periods: dict[str, tuple[datetime | None, datetime | None]] | None = None) -> Report:
    """Verify everything in ``store`` (S3Store or DirStore) against ``public_key``.

    ``public_key`` is one Ed25519 public key or a list of them (old and new keys after a rotation).
    ``workers`` threads read from a bucket. ``processes`` worker processes parse leaves and hash
    documents of a directory (None: one per usable core when the export is large, 0: none); they
    run exactly the checks this process would, and the report is the same either way.

    ``as_of`` (default: now, UTC) is the moment the retention periods are judged at: a document
    whose every entry's retention ended by then may have been deleted (GoBD/AO § 147: kept for
    the period, then deletable; DSGVO: then to be deleted) and is counted as expired, not as
    missing. The retention dates come from the leaves, which the signed roots cover, so nobody
    can make a document "expire" early without breaking the tree.

    ``tsa_roots`` (X.509 root certificates of the time-stamping authorities you trust) checks the
    RFC 3161 tokens over checkpoints (``archive.timestamp``): each must stamp exactly its
    checkpoint's bytes and chain to a root; and every batch of leaves must have been anchored
    within ``max_anchor_lag`` of its ``appended_at``, which a history rewritten later (and
    re-signed with the archive key) cannot achieve; leaves older than that without any token
    fail too (deleted tokens). ``accept_late`` lists leaf ranges (first, last) an operator has
    explained (anchoring switched on for an existing archive, a TSA outage): they are notes.
    Without ``tsa_roots`` the tokens are only counted.

    A bucket (an ``S3Store``) is read as the first version of every key: all versions and delete
    markers under ``log/`` and ``objects/`` are listed once (paged), every later version and every
    marker is a failure. ``witness`` (``archive.witness``) is compared with the log.
    ``key_periods`` (key id -> (valid from, valid until), either may be None) limits each key to
    the checkpoints whose timestamp lies in its period (key rotation, a key that leaked).
    """
    as_of = as_of or datetime.now(timezone.utc)
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (UTC)")
    options = Options(check_lock=check_lock, trusted_checkpoint=trusted_checkpoint, workers=workers,
                      processes=processes, as_of=as_of, tsa_roots=tsa_roots, max_anchor_lag=max_anchor_lag,
                      accept_late=accept_late, witness=witness, key_periods=key_periods)
    audit = Audit(store=store, ring=key_ring(public_key), options=options, report=Report(source=store.describe()),
                  scope_years=scope_years)
    try:
        for step in STEPS:
            step(audit)
    finally:
        if audit.pool is not None:  # a step raised while the worker processes ran
            audit.pool.close()
    return audit.report
