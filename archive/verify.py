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
"""
from __future__ import annotations

import bisect
import hashlib
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from . import canonical, formats, log, merkle, signing
from .dirreader import DirReader
from .errors import ArchiveError
from .formats import decode_checkpoint
from .manifest import check_export
from .model import OBJECT_PREFIX, RetentionPolicy, object_key, parse_utc, utc_iso
from .problems import FAILURE, NOTE, ORPHAN, Problem  # noqa: F401 - Problem is part of this module's API
from .retention import apply_extensions
from .tree import TreeStore

EXPIRED = "expired"  # internal marker: a document deleted after its retention ended (summed up as a note)
#: How long after its append a batch may first be time-stamped. The checkpoint-archive flow stamps
#: hourly; three days leave room for a TSA outage over a weekend, not for a history written later.
DEFAULT_MAX_ANCHOR_LAG = timedelta(hours=72)
#: A TSA's clock and the writer's may differ a little; more than this is a finding.
CLOCK_SKEW = timedelta(minutes=5)


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


def _read_many(store, keys: list[str], workers: int) -> dict[str, bytes | None]:
    if len(keys) < 8 or store.kind == "dir":
        return {k: store.get(k) for k in keys}
    with ThreadPoolExecutor(workers) as ex:
        return dict(zip(keys, ex.map(store.get, keys)))


def key_ring(public_keys) -> dict[str, Any]:
    """key id -> Ed25519 public key, from one key or several (keys rotate over a 10-year retention)."""
    if not isinstance(public_keys, (list, tuple, set)):
        public_keys = [public_keys]
    return {signing.key_id(k): k for k in public_keys}


def checkpoint_signed(ring: dict[str, Any], cp) -> bool:
    """True if the checkpoint's signature verifies with the key its key id names (and that key is trusted)."""
    key = ring.get(cp.key_id)
    return key is not None and signing.signature_valid(key, cp.body(), cp.signature)


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
    report = Report(source=store.describe())
    ring = key_ring(public_key)
    view = None
    if store.kind == "s3" and hasattr(store, "client"):
        from .versions import FirstVersionReader

        view = FirstVersionReader(store.client, store.bucket, store.prefix).scan(["log/", OBJECT_PREFIX])
        store = view
    if store.kind == "dir":
        # The export's signed scope and its Z3 files, regenerated from the leaves (archive.manifest).
        signed_scope = check_export(store, ring, report.add)
        if scope_years is None:
            scope_years = signed_scope

    # -- 1. what is there
    page_keys, cp_keys, seg_keys, ts_keys, obj_keys, intent_keys = [], [], [], [], [], []
    for k in store.list("log/"):
        if formats.parse_intent_key(k) is not None:
            intent_keys.append(k)
        elif log.parse_page_key(k) is not None:
            page_keys.append(k)
        elif log.parse_checkpoint_key(k) is not None:
            cp_keys.append(k)
        elif log.parse_segment_key(k) is not None:
            seg_keys.append(k)
        elif log.parse_timestamp_key(k) is not None:
            ts_keys.append(k)
        else:
            report.add(FAILURE, "unexpected-key", f"{k} is not a page, intent, checkpoint, index segment or "
                       f"time-stamp name (a forged or renamed log file)", key=k)
    for k in store.list(OBJECT_PREFIX):
        obj_keys.append(k)

    # -- 2. leaves, streamed page by page (only hashes and ids are kept: 1,000,000 leaves fit):
    #       page order, gaps, forks, chain, sequence numbers, duplicates, links, retention,
    #       and which documents each leaf names.
    hashes: list[bytes] = []
    entry_ids: list[str | None] = []
    seen_ids: dict[str, int] = {}
    referenced: dict[str, list[tuple[int, str, int, Any]]] = defaultdict(list)
    page_until: dict[str, datetime] = {}
    # appended_at of every leaf (epoch seconds, None if unreadable), kept only to check the anchors
    # appended_at of every leaf (epoch seconds, None if unreadable): order always, anchors with a TSA
    leaf_times: list[int | None] = []
    pages_seen: list[tuple[str, int, int, str]] = []  # (key, first, leaf count, SHA-256 of the bytes)
    last_stamp: tuple[str | None, int | None] = (None, None)
    max_until: datetime | None = None
    expected_seq = 0
    prev_key = None
    prev_hex: str | None = None  # hex of hashes[-1]
    ordered = sorted(page_keys, key=log.page_first)
    pool = _Pool.start(store, processes, ordered, obj_keys, scope_years)
    try:
        for key, parsed in (pool.pages() if pool else _parsed_pages(store, ordered, workers, scope_years)):
            first = log.page_first(key)
            if parsed is None:
                report.add(FAILURE, "page-unreadable", f"{key} was listed but cannot be read", key=key)
                continue
            if first > expected_seq:
                report.add(FAILURE, "sequence-gap", f"leaves {expected_seq}..{first - 1} are missing before {key}",
                           key=key, expected=f"page starting at seq {expected_seq}",
                           computed=f"next page starts at {first}")
            elif first < expected_seq:
                report.add(FAILURE, "fork", f"{key} claims seq {first}.. but seq up to {expected_seq - 1} is "
                           f"already held by {prev_key}: two versions of the same log positions", key=key,
                           expected=f"page starting at seq {expected_seq}", computed=f"page starting at seq {first}")
                continue
            truncated, leaves, page_sha = parsed
            pages_seen.append((key, first, len(leaves), page_sha))
            if truncated:
                report.add(FAILURE, "page-truncated", f"{key} does not end with a newline: the page was cut short",
                           key=key)
            page_max = None  # the longest retain-until of the page's leaves
            for i, (lh, error, canonical_ok, seq, eid, prev_leaf, until, ret_problem, rel, in_scope,
                    docs, appended) in enumerate(leaves):
                # The page name says where its leaves sit; after a gap this differs from the tree index
                # (len(hashes)), but naming the claimed position keeps one gap from flooding the report.
                position = first + i
                if error is not None:
                    report.add(FAILURE, "leaf-unreadable", f"{key} line {i + 1} (seq {position}): {error}", key=key)
                prev = prev_hex
                hashes.append(lh)
                if appended != last_stamp[0]:  # the leaves of one batch share one time: parse it once
                    last_stamp = (appended, _epoch(appended))
                leaf_times.append(last_stamp[1])
                prev_hex = lh.hex()
                entry_ids.append(eid)
                if error is not None:
                    continue
                if not canonical_ok:
                    report.add(FAILURE, "leaf-not-canonical", f"{key} line {i + 1} (seq {position}) is not "
                               f"canonical JSON: its bytes were edited", key=key)
                if seq != position:
                    report.add(FAILURE, "leaf-seq-mismatch", f"{key} line {i + 1}: the leaf at position {position} "
                               f"says seq {seq} (reordered, duplicated or moved leaf)", key=key,
                               expected=position, computed=seq)
                if prev_leaf != prev:
                    report.add(FAILURE, "chain-broken", f"leaf {position} ({key} line {i + 1}): its prev_leaf_hash "
                               f"is not the hash of the leaf before it (one of the two was changed)", key=key,
                               expected=prev_leaf, computed=prev)
                if eid in seen_ids:
                    report.add(FAILURE, "duplicate-entry", f"entry {eid!r} appears at seq {seen_ids[eid]} and "
                               f"again at seq {position}", key=key)
                else:
                    seen_ids[eid] = position
                if ret_problem is not None:
                    code, message, expected, computed = ret_problem
                    report.add(FAILURE, code, f"leaf {position}: {message}", key=key, expected=expected,
                               computed=computed)
                if until is not None and (page_max is None or until > page_max):
                    page_max = until
                if rel is not None:
                    tgt = rel.get("seq") if isinstance(rel, dict) else None
                    if not isinstance(tgt, int) or not 0 <= tgt < min(position, len(entry_ids) - 1) \
                            or entry_ids[tgt] != rel.get("entry_id") \
                            or hashes[tgt].hex() != rel.get("leaf_hash"):
                        report.add(FAILURE, "relation-broken", f"leaf {position} relates to {rel!r}, which does not "
                                   f"match an earlier leaf", key=key)
                ref_until = until if in_scope else "out-of-scope"
                for sha, name, size in docs:
                    referenced[sha].append((position, name, size, ref_until))
            if page_max is not None:
                page_until[key] = page_max
                max_until = page_max if max_until is None or page_max > max_until else max_until
            expected_seq = first + len(leaves)
            prev_key = key
        report.leaves = len(hashes)
        # Retention extension decisions raise what documents and pages must be kept for (hook).
        apply_extensions(store, ordered, entry_ids, referenced, page_until, report.add)

        # -- 4. documents: recompute every hash from the bytes
        obj_set = set(obj_keys)
        wanted = []
        out_of_scope = 0
        for hexd, refs in referenced.items():
            key = object_key(hexd)
            if key not in obj_set and all(r[3] == "out-of-scope" for r in refs):
                out_of_scope += 1
                continue
            wanted.append(key)
        report.documents = len(wanted)
        if out_of_scope:
            report.add(NOTE, "out-of-scope", f"{out_of_scope} documents of entries outside the exported years "
                       f"{sorted(scope_years or [])} are not in this copy; their hashes are still covered by the "
                       f"leaves")

        # size and SHA-256 of each listed object, computed from its bytes by the worker processes
        hashed = pool.objects() if pool else {}

        def check_object(key: str) -> list[tuple] | tuple:
            if key in hashed:
                size, computed = hashed[key]
                if isinstance(computed, ArchiveError):
                    raise computed  # as store.get would have raised it here
            else:
                data = store.get(key)
                size, computed = (None, None) if data is None else (len(data), hashlib.sha256(data).hexdigest())
            hexd = key[len(OBJECT_PREFIX):]
            refs = referenced[hexd]
            if computed == hexd and all(r[2] == size for r in refs):
                return ()  # intact: the common case, without building findings
            return _object_findings(store, key, refs, size, computed, as_of)

        results = [check_object(k) for k in wanted] if pool else _map(store, check_object, wanted, workers)
        expired: list[datetime] = []
        for found in results:
            for f in found:
                if f[1] == EXPIRED:
                    expired.append(f[2])
                else:
                    report.add(*f)
        if expired:
            report.documents -= len(expired)
            report.expired_documents = len(expired)
            report.add(NOTE, "documents-expired", f"{len(expired)} documents are gone after their retention ended "
                       f"(retained until {min(expired):%Y-%m-%d} .. {max(expired):%Y-%m-%d}, judged at "
                       f"{utc_iso(as_of)}); their hashes are still covered by the leaves")
        for key in sorted(k for k in obj_keys if k[len(OBJECT_PREFIX):] not in referenced):
            report.add(ORPHAN, "orphan-object", f"{key} is not named by any leaf (left by an interrupted append; "
                       f"reused if the same bytes are archived again)", key=key)
        if pool and pool.broken is not None:
            report.add(NOTE, "single-process", f"the worker processes failed ({pool.broken}); the rest was "
                       f"verified in this process")
    finally:
        if pool:
            pool.close()

    # -- 5. tree and checkpoints
    tree = TreeStore.from_leaf_hashes(hashes)
    cps = []
    for key in sorted(cp_keys, key=log.checkpoint_size):
        raw = store.get(key)
        if raw is None:
            report.add(FAILURE, "checkpoint-unreadable", f"{key} was listed but cannot be read", key=key)
            continue
        try:
            cp = decode_checkpoint(raw)  # strict: exactly the canonical encoding of its typed fields
        except ArchiveError as exc:
            report.add(FAILURE, "checkpoint-malformed", f"{key}: {exc} (its bytes were edited)", key=key)
            continue
        cps.append((key, cp))
    report.checkpoints = len(cps)
    good: list[tuple[str, Any]] = []
    roots_by_size: dict[int, tuple[str, str]] = {}
    for key, cp in cps:
        named = log.parse_checkpoint_key(key)
        ok = True
        if cp.key_id not in ring:
            report.add(FAILURE, "checkpoint-wrong-key", f"{key} names a signing key you did not give", key=key,
                       expected=" or ".join(sorted(ring)), computed=cp.key_id)
            ok = False
        if not cp.signature:
            report.add(FAILURE, "checkpoint-unsigned", f"{key} carries no signature", key=key)
            ok = False
        elif not checkpoint_signed(ring, cp) and not any(signing.signature_valid(k, cp.body(), cp.signature)
                                                         for k in ring.values()):
            report.add(FAILURE, "checkpoint-signature-invalid", f"{key}: the Ed25519 signature does not match "
                       f"its content (edited checkpoint)", key=key)
            ok = False
        if cp.tree_size != named:
            report.add(FAILURE, "checkpoint-replayed", f"{key} states tree size {cp.tree_size}: an older checkpoint "
                       f"stored under a newer name", key=key, expected=named, computed=cp.tree_size)
            ok = False
        if cp.tree_size > len(tree):
            report.add(FAILURE, "log-truncated", f"{key} was signed over {cp.tree_size} leaves but only "
                       f"{len(tree)} are present: leaves were removed", key=key,
                       expected=cp.tree_size, computed=len(tree))
            ok = False
        elif tree.root(cp.tree_size).hex() != cp.root_hash:
            report.add(FAILURE, "checkpoint-root-mismatch", f"{key}: the leaves no longer give the signed root "
                       f"(leaves changed, reordered or rewritten after signing)", key=key,
                       expected=cp.root_hash, computed=tree.root(cp.tree_size).hex())
            ok = False
        if ok:
            prior = roots_by_size.get(cp.tree_size)
            if prior and prior[1] != cp.root_hash:
                report.add(FAILURE, "fork", f"two signed roots for tree size {cp.tree_size}: {prior[0]} and {key}",
                           key=key, expected=prior[1], computed=cp.root_hash)
            roots_by_size[cp.tree_size] = (key, cp.root_hash)
        if ok:
            good.append((key, cp))
    for (k1, c1), (k2, c2) in zip(good, good[1:]):
        if c2.timestamp < c1.timestamp:
            report.add(FAILURE, "checkpoint-time-reversed", f"{k2} (size {c2.tree_size}) is dated before {k1} "
                       f"(size {c1.tree_size})", key=k2, expected=f">= {c1.timestamp}", computed=c2.timestamp)
        try:
            # What an auditor holding only the older checkpoint relies on: RFC 9162 2.1.4.
            merkle.verify_consistency(c1.tree_size, c2.tree_size, bytes.fromhex(c1.root_hash),
                                      bytes.fromhex(c2.root_hash), tree.consistency_proof(c1.tree_size, c2.tree_size))
        except merkle.InvalidProofError as exc:
            report.add(FAILURE, "checkpoint-inconsistent", f"{k1} -> {k2}: {exc}", key=k2)
    if good:
        latest = good[-1][1]
        report.latest_checkpoint = {"tree_size": latest.tree_size, "root_hash": latest.root_hash,
                                    "timestamp": latest.timestamp}
        # Leaves beyond every checkpoint (valid or not) are an interrupted append; leaves that a
        # failing checkpoint claims are already reported as failures above.
        claimed = max([latest.tree_size] + [log.parse_checkpoint_key(k) for k, _ in cps])
        if latest.tree_size < len(tree):
            _check_tail(report, store, ring, pages_seen, latest.tree_size, claimed, len(tree))
    elif hashes:
        report.add(FAILURE, "no-valid-checkpoint",
                   f"none of the {len(hashes)} leaves is covered by a valid signed checkpoint (every checkpoint "
                   f"deleted or forged)")
        _check_tail(report, store, ring, pages_seen, 0, 0, len(tree), orphan_ok=False)
    elif obj_keys:
        report.add(FAILURE, "log-missing", f"{len(obj_keys)} documents but no log: the pages and checkpoints were "
                   f"deleted (or hidden by delete markers)")
    _note_unused_intents(report, intent_keys, pages_seen)
    _check_append_order(report, leaf_times)
    if trusted_checkpoint is not None:
        _check_trusted(report, tree, ring, trusted_checkpoint)
    _check_timestamps(report, store, ts_keys, [cp for _, cp in cps], {cp.tree_size for _, cp in good}, tsa_roots,
                      max_anchor_lag, leaf_times, as_of, accept_late)
    if witness is not None:
        _check_witness(report, witness, tree, ring, cps, good)
    if key_periods:
        _check_key_periods(report, cps, key_periods)

    # -- 6. index segments (derived data the writer and prover rely on)
    for key in sorted(seg_keys):
        first, end = log.segment_bounds(key)
        raw = store.get(key)
        try:
            seg = canonical.loads(raw or b"")
            ids = seg["entries"]
            seg_hashes = bytes.fromhex(seg["leaf_hashes"])
        except (ArchiveError, KeyError, TypeError, ValueError) as exc:
            report.add(FAILURE, "index-unreadable", f"{key}: {exc}", key=key)
            continue
        if end > len(hashes) or len(ids) != end - first:
            report.add(FAILURE, "index-mismatch", f"{key} covers seq {first}..{end - 1} but the log has "
                       f"{len(hashes)} leaves", key=key)
            continue
        for i in range(end - first):
            stored = seg_hashes[32 * i:32 * i + 32]
            if stored != hashes[first + i] or entry_ids[first + i] != ids[i]:
                report.add(FAILURE, "index-mismatch", f"{key} disagrees with leaf {first + i}", key=key,
                           expected=f"{entry_ids[first + i]} {hashes[first + i].hex()}",
                           computed=f"{ids[i]} {stored.hex()}")
                break

    # -- 7. Object Lock, read from the server
    if check_lock:
        if store.kind != "s3":
            report.add(FAILURE, "lock-not-checkable", "--check-lock needs a bucket; a directory has no Object Lock")
        else:
            _check_locks(report, store, referenced, page_until, cp_keys + seg_keys + ts_keys + intent_keys,
                         max_until, wanted, workers)
    if view is not None:
        _check_versions(report, view, check_lock)
    return report


def _check_versions(report: Report, view, check_lock: bool) -> None:
    """Bucket mode: later versions and delete markers under the archive's prefixes (versioncheck)."""
    from .versioncheck import bucket_findings, version_findings

    for finding in version_findings(view, check_lock):
        report.add(*finding)
    if check_lock:
        for finding in bucket_findings(view.client, view.bucket):
            report.add(*finding)


def _check_witness(report: Report, witness, tree: TreeStore, ring: dict[str, Any], cps, good) -> None:
    from .witness import witness_findings

    try:
        found = witness_findings(witness, tree, ring, {cp.tree_size: cp.raw for _, cp in cps},
                                 good[-1][1].tree_size if good else None)
    except ArchiveError as exc:
        report.add(FAILURE, "witness-unreadable", f"the witness {witness.describe()} cannot be read: {exc}")
        return
    for finding in found:
        report.add(*finding)


def _check_key_periods(report: Report, cps, periods: dict[str, tuple[datetime | None, datetime | None]]) -> None:
    """Each checkpoint's timestamp must fall in the validity period of the key that signed it."""
    for key, cp in cps:
        period = periods.get(cp.key_id)
        if period is None:
            continue
        start, end = period
        try:
            t = parse_utc(cp.timestamp)
        except ValueError:
            continue  # reported as malformed already
        if (start is not None and t < start) or (end is not None and t > end):
            report.add(FAILURE, "key-outside-validity", f"{key} is signed by key {cp.key_id}, which is valid "
                       f"{utc_iso(start) if start else '…'} .. {utc_iso(end) if end else '…'} only", key=key,
                       expected=f"{utc_iso(start) if start else '…'} .. {utc_iso(end) if end else '…'}",
                       computed=cp.timestamp)


def _check_tail(report: Report, store, ring: dict[str, Any], pages, signed: int, claimed: int, size: int,
                orphan_ok: bool = True) -> None:
    """Pages beyond the latest valid checkpoint count only with a signed intent for their exact bytes.

    With every such page authenticated, the tail is what an interrupted append leaves (an orphan
    the next writer signs); a page without one was not written by the archive (a failure)."""
    bad = 0
    for key, first, count, sha in pages:
        if first + count <= signed or not sha:
            continue
        problem = formats.intent_problem(ring, store.get(formats.intent_key(first, sha)), first, count, sha)
        if problem is not None:
            bad += 1
            report.add(FAILURE, "page-unauthenticated", f"{key} (leaves {first}..{first + count - 1}) is beyond every "
                       f"valid checkpoint and {problem}: it was not written by the archive's writer", key=key)
    if claimed < size and orphan_ok and not bad:
        report.add(ORPHAN, "unsigned-tail", f"leaves {claimed}..{size - 1} are not covered by a signed checkpoint "
                   f"yet, but each page has its signed intent (interrupted append; the next append signs them)")


def _note_unused_intents(report: Report, intent_keys: list[str], pages) -> None:
    used = {formats.intent_key(first, sha) for _, first, _, sha in pages if sha}
    unused = [k for k in intent_keys if k not in used]
    if unused:
        report.add(NOTE, "intent-unused", f"{len(unused)} signed page intents name pages that were never written "
                   f"(a writer lost a race or stopped before its page); they authenticate nothing; first: {unused[0]}")


def _check_append_order(report: Report, times: list[int | None]) -> None:
    """``appended_at`` is readable and never goes back in time, with or without time-stamps."""
    skew = int(CLOCK_SKEW.total_seconds())
    found: dict[str, list] = {}
    latest = None
    for i, t in enumerate(times):
        if t is None:
            found.setdefault("leaf-time-invalid", [0, i, ""])[0] += 1
            continue
        if latest is not None and t < latest - skew:
            found.setdefault("appended-at-reversed", [0, i, f"appended {_iso_epoch(t)}, after a leaf appended "
                                                            f"{_iso_epoch(latest)}"])[0] += 1
        latest = t if latest is None else max(latest, t)
    texts = {"leaf-time-invalid": "leaves have an unreadable appended_at (not YYYY-MM-DDTHH:MM:SSZ)",
             "appended-at-reversed": f"leaves say they were appended before the leaf ahead of them (a leaf dated "
                                     f"back, or a writer's clock off by more than {CLOCK_SKEW})"}
    for code, (count, first, detail) in found.items():
        report.add(FAILURE, code, f"{count} {texts[code]}; first: leaf {first}" + (f" ({detail})" if detail else ""))


def _object_findings(store, key: str, refs: list[tuple], size: int | None, computed: str | None,
                     as_of: datetime) -> list[tuple]:
    """Problems of one document object, from its size and SHA-256 (None, None: it could not be read).

    A missing object that no entry needs any more at ``as_of`` gives ``(EXPIRED, EXPIRED, until)``
    instead, for the caller to count."""
    found: list[tuple] = []
    hexd = key[len(OBJECT_PREFIX):]
    if size is None:
        # Out-of-scope references (entries of other years in a year export) need nothing here.
        dates = [r[3] for r in refs if r[3] != "out-of-scope"]
        if dates and all(isinstance(d, datetime) and d <= as_of for d in dates):
            return [(EXPIRED, EXPIRED, max(dates))]
        hidden = store.kind == "s3" and store.has_delete_marker(key)
        found.append((FAILURE, "object-missing", f"{key} named by leaf {refs[0][0]} ({refs[0][1]}) is missing"
                      + (" (hidden by a delete marker; the locked version still exists)" if hidden else ""), key,
                      None, None))
        return found
    if computed != hexd:
        found.append((FAILURE, "object-hash-mismatch", f"{key} (named by leaf {refs[0][0]}, {refs[0][1]}): "
                      f"bytes changed", key, hexd, computed))
    for seq, name, ref_size, _ in refs:
        if ref_size != size:
            found.append((FAILURE, "object-size-mismatch", f"{key}: leaf {seq} ({name}) records a different "
                          f"size", key, ref_size, size))
    return found


# -- Work that needs nothing but one leaf's or one object's bytes. It runs in this process or, for
#    a large export, in worker processes (_Pool); the checks and their results are the same.

def _retention(ret: dict[str, Any], cache: dict) -> tuple[datetime | None, tuple | None]:
    """(stored retain-until, problem) of a leaf's retention: it must follow from base date and years.

    Leaves share few distinct retention records (one per base date and class), so results are
    cached by value; the problem message leaves out the leaf position, which the caller adds.
    """
    cache_key = (ret["until"], ret["base"], ret["years"], type(ret["years"]))
    hit = cache.get(cache_key)
    if hit is None:
        try:
            until = parse_utc(ret["until"])
            computed = RetentionPolicy.retain_until(date.fromisoformat(ret["base"]), int(ret["years"]))
        except (KeyError, TypeError, ValueError) as exc:
            hit = (None, ("retention-invalid", f"unreadable retention ({exc})", None, None))
        else:
            hit = (until, None if computed == until else
                   ("retention-mismatch", f"retain-until does not follow from base {ret['base']} + "
                    f"{ret['years']} years", computed.isoformat(), until.isoformat()))
        if len(cache) < 100_000:
            cache[cache_key] = hit
    return hit


def _parse_leaf(line: bytes, scope_years: set[int] | None, cache: dict) -> tuple:
    """Everything about one leaf that needs no other leaf: its hash, shape, canonical form, retention.

    (leaf hash, decode error, canonical?, seq, entry_id, prev_leaf_hash, retain-until, retention
    problem, relates_to, in scope?, ((sha256, name, size), ...), appended_at); after a decode
    error only the leaf hash and the error are set.
    """
    lh = merkle.hash_leaf(line)
    try:
        rec = log.decode_leaf(line)
    except ArchiveError as exc:
        return (lh, str(exc), False, None, None, None, None, None, None, False, (), None)
    until, ret_problem = _retention(rec["retention"], cache)
    return (lh, None, canonical.encodes_to(rec, line), rec["seq"], rec["entry_id"], rec["prev_leaf_hash"], until,
            ret_problem, rec.get("relates_to"), scope_years is None or _base_year(rec) in scope_years,
            tuple((d["sha256"], d["name"], d["size"]) for d in rec["documents"]), rec["appended_at"])


def _parse_page(raw: bytes, scope_years: set[int] | None, cache: dict) -> tuple[bool, list[tuple], str]:
    """(truncated?, parsed leaves, SHA-256 of the bytes) of a page; a page must end with a newline."""
    truncated = not raw.endswith(b"\n")
    lines = raw.split(b"\n") if truncated else raw[:-1].split(b"\n")
    return truncated, [_parse_leaf(line, scope_years, cache) for line in lines], hashlib.sha256(raw).hexdigest()


def _parsed_pages(store, ordered: list[str], workers: int, scope_years: set[int] | None):
    """(key, None if unreadable else _parse_page(...)) in page order, read a window at a time."""
    cache: dict = {}
    window = 256
    for w in range(0, len(ordered), window):
        chunk = ordered[w:w + window]
        pages = _read_many(store, chunk, workers)
        for key in chunk:
            raw = pages[key]
            yield key, None if raw is None else _parse_page(raw, scope_years, cache)


def _pages_task(root: str, keys: list[str], scope_years: set[int] | None) -> list:
    """Worker process: read and parse pages of the directory ``root``."""
    store = DirReader(root)
    cache: dict = {}
    out: list[tuple[bool, list[tuple], str] | None] = []
    for key in keys:
        raw = store.get(key)
        out.append(None if raw is None else _parse_page(raw, scope_years, cache))
    return out


def _objects_task(root: str, keys: list[str]) -> list[tuple]:
    """Worker process: (size, SHA-256 hex) of each object file, (None, None) if it is missing.

    A read error is returned as (None, error), not raised: the object may be an orphan, which
    verify never reads, so only verify decides whether the error matters.
    """
    store = DirReader(root)
    out: list[tuple[int | None, str | ArchiveError | None]] = []
    for key in keys:
        try:
            data = store.get(key)
        except ArchiveError as exc:
            out.append((None, exc))
            continue
        out.append((None, None) if data is None else (len(data), hashlib.sha256(data).hexdigest()))
    return out


_TASKS: dict[str, Callable[..., list]] = {"pages": _pages_task, "objects": _objects_task}


class _WorkerBroken(Exception):
    """A worker process died or its pipe broke (not an error of the task itself)."""


class _Pool:
    """Worker processes for a directory: parsing leaves and hashing documents is CPU-bound Python
    that one process (one GIL) runs on one core.

    Pages are submitted first and consumed in order while the workers go on to hash the listed
    objects. The workers are plain ``python -c`` subprocesses fed over pipes, not
    ``multiprocessing``: its spawn start method re-imports the caller's ``__main__`` in every
    worker (a script without a ``__name__`` guard would run again there), and fork copies the
    locks of the caller's threads. If a worker dies, the tasks it could not finish are done in
    this process and the report says so in a note; an error raised by a task propagates as it
    would in this process.
    """

    PAGES_PER_TASK = 64
    OBJECTS_PER_TASK = 1000
    MIN_OBJECTS = 4000  # below this (and MIN_PAGES) starting processes costs more than it saves
    MIN_PAGES = 32

    @classmethod
    def start(cls, store, processes: int | None, pages: list[str], objects: list[str],
              scope_years: set[int] | None) -> "_Pool | None":
        if store.kind != "dir" or processes == 0:
            return None
        if processes is None:
            if len(objects) < cls.MIN_OBJECTS and len(pages) < cls.MIN_PAGES:
                return None
            processes = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            if processes < 2:
                return None
        return cls(store, processes, pages, objects, scope_years)

    def __init__(self, store, processes: int, pages: list[str], objects: list[str],
                 scope_years: set[int] | None) -> None:
        self.root = str(store.root)
        self.scope_years = scope_years
        self.broken: BaseException | None = None
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.procs: list[subprocess.Popen] = []
        self.threads: list[threading.Thread] = []
        per = max(1, min(self.PAGES_PER_TASK, len(pages) // (4 * processes)))
        self.page_chunks = [pages[i:i + per] for i in range(0, len(pages), per)]
        self.object_chunks = [objects[i:i + self.OBJECTS_PER_TASK]
                              for i in range(0, len(objects), self.OBJECTS_PER_TASK)]
        self.page_futures = [self._submit("pages", self.root, c, scope_years) for c in self.page_chunks]
        self.object_futures = [self._submit("objects", self.root, c) for c in self.object_chunks]
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        boot = f"import sys; sys.path.insert(0, {package_parent!r}); from archive.verify import _worker_main; _worker_main()"
        for _ in range(processes):
            try:
                proc = subprocess.Popen([sys.executable, "-c", boot], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            except OSError as exc:
                self.broken = exc
                break
            self.procs.append(proc)
            t = threading.Thread(target=self._serve, args=(proc,), name="archive-verify-worker", daemon=True)
            t.start()
            self.threads.append(t)
        if not self.threads:
            self._fail_queued()

    def _submit(self, name: str, *args) -> Future:
        f: Future = Future()
        self.queue.put((f, name, args))
        return f

    def _serve(self, proc: subprocess.Popen) -> None:
        """One thread per worker: send a task, wait for its result, repeat."""
        while True:
            item = self.queue.get()
            if item is None:
                return
            future, name, args = item
            if not future.set_running_or_notify_cancel():
                continue
            if self.broken is not None:
                future.set_exception(_WorkerBroken(str(self.broken)))
                continue
            try:
                _send(proc.stdin, (name, args))
                ok, value = _receive(proc.stdout)
            except (OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
                self.broken = exc if proc.poll() is None else _WorkerBroken(f"exit status {proc.poll()}")
                future.set_exception(_WorkerBroken(str(exc)))
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _queued(self):
        """Futures of the tasks no worker has taken yet (taking them off the queue)."""
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                yield item[0]

    def _fail_queued(self) -> None:
        for future in self._queued():
            if future.set_running_or_notify_cancel():
                future.set_exception(_WorkerBroken(str(self.broken)))

    def _result(self, future: Future, name: str, *args):
        try:
            return future.result()
        except _WorkerBroken:
            return _TASKS[name](*args)

    def pages(self):
        for chunk, future in zip(self.page_chunks, self.page_futures):
            yield from zip(chunk, self._result(future, "pages", self.root, chunk, self.scope_years))

    def objects(self) -> dict[str, tuple]:
        out: dict[str, tuple] = {}
        for chunk, future in zip(self.object_chunks, self.object_futures):
            out.update(zip(chunk, self._result(future, "objects", self.root, chunk)))
        return out

    def close(self) -> None:
        # Unstarted tasks are cancelled (an exception may have ended verify early).
        for future in self._queued():
            future.cancel()
        for _ in self.threads:
            self.queue.put(None)
        for proc in self.procs:
            try:
                if proc.stdin is not None:  # always a pipe (Popen(stdin=PIPE))
                    proc.stdin.close()  # the worker exits at end of input
            except OSError:
                pass
        for t in self.threads:
            t.join()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:  # always a pipe (Popen(stdout=PIPE))
                proc.stdout.close()


def _send(pipe, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(len(data).to_bytes(8, "big") + data)
    pipe.flush()


def _receive(pipe):
    head = pipe.read(8)
    if len(head) < 8:
        raise EOFError("worker process closed its pipe")
    data = pipe.read(int.from_bytes(head, "big"))
    return pickle.loads(data)


def _worker_main() -> None:
    """Entry point of a worker process (see _Pool): tasks in on stdin, results out on stdout."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the result stream
    inp = sys.stdin.buffer
    while True:
        try:
            name, args = _receive(inp)
        except EOFError:
            return
        result: tuple[bool, Any]  # (True, the task's result) or (False, the exception it raised)
        try:
            result = (True, _TASKS[name](*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller, which raises it
            result = (False, exc)
        _send(out, result)


def _base_year(rec: dict[str, Any]) -> int | None:
    try:
        return int(rec["retention"]["base"][:4])
    except (KeyError, TypeError, ValueError):
        return None


def _map(store, fn, items: list, workers: int) -> list:
    if len(items) < 8 or store.kind == "dir":
        # Threads do not pay for a directory: each small read releases and re-takes the GIL, and
        # the hand-offs between threads cost more CPU than the reads (measured: 100,000 entries,
        # 21 s CPU with 4 threads, 8-12 s without). Large exports use worker processes (_Pool).
        return [fn(i) for i in items]
    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, items))


def _check_trusted(report: Report, tree: TreeStore, ring: dict[str, Any], raw: bytes) -> None:
    try:
        cp = decode_checkpoint(raw)
    except ArchiveError as exc:
        report.add(FAILURE, "trusted-checkpoint-unreadable", str(exc))
        return
    if not checkpoint_signed(ring, cp):
        report.add(FAILURE, "trusted-checkpoint-invalid", "the checkpoint you trust is not signed by a key you gave")
        return
    if cp.tree_size > len(tree):
        report.add(FAILURE, "rollback", f"a checkpoint you hold covers {cp.tree_size} leaves, the log now has "
                   f"{len(tree)}: the log was truncated or rolled back", expected=cp.tree_size, computed=len(tree))
    elif tree.root(cp.tree_size).hex() != cp.root_hash:
        report.add(FAILURE, "fork", f"the log at size {cp.tree_size} differs from the checkpoint you hold "
                   f"(rewritten history)", expected=cp.root_hash, computed=tree.root(cp.tree_size).hex())


def _check_timestamps(report: Report, store, ts_keys: list[str], checkpoints: list[Any], good_sizes: set[int],
                      tsa_roots: list | None, max_lag: timedelta, leaf_times: list[int | None] | None,
                      as_of: datetime, accept_late) -> None:
    """RFC 3161 tokens over the readable checkpoints; only tokens over a valid one (its size in
    ``good_sizes``) anchor leaves."""
    from .timestamp import check_token

    report.timestamps = len(ts_keys)
    if tsa_roots is None:
        if ts_keys:
            report.add(NOTE, "timestamps-not-checked", f"{len(ts_keys)} RFC 3161 time-stamps are stored; give the "
                       f"TSA's root certificate (--tsa-root) to check them")
        return
    by_size = {cp.tree_size: cp for cp in checkpoints}
    anchors: list[tuple[int, datetime]] = []
    for key in sorted(ts_keys):
        n = log.parse_timestamp_key(key)
        cp = by_size.get(n)
        if cp is None:
            report.add(FAILURE, "timestamp-without-checkpoint", f"{key} time-stamps a checkpoint of size {n} that "
                       f"is not in the log (deleted or renamed checkpoint)", key=key)
            continue
        raw = store.get(key)
        info, problem = check_token(raw or b"", cp.raw, tsa_roots)
        if problem is not None:
            report.add(FAILURE, problem.code, f"{key}: {problem.message}", key=key, expected=problem.expected,
                       computed=problem.computed)
            continue
        if info is None:  # check_token returns either the token's information or a problem
            raise RuntimeError(f"{key}: check_token returned neither token information nor a problem")
        if info.gen_time < parse_utc(cp.timestamp) - CLOCK_SKEW:
            report.add(FAILURE, "timestamp-before-checkpoint", f"{key}: the TSA stamped the checkpoint before the "
                       f"time the checkpoint claims (its timestamp was forged, or the writer's clock is wrong)",
                       key=key, expected=f">= {cp.timestamp}", computed=utc_iso(info.gen_time))
            continue
        if n in good_sizes:
            anchors.append((n, info.gen_time))
    anchors.sort()
    if anchors:
        report.latest_anchor = {"tree_size": anchors[-1][0], "gen_time": utc_iso(anchors[-1][1])}
    for finding in _anchor_findings(leaf_times or [], anchors, max_lag, as_of, accept_late):
        report.add(*finding)


def _anchor_findings(times: list[int | None], anchors: list[tuple[int, datetime]], max_lag: timedelta,
                     as_of: datetime, accept_late) -> list[tuple]:
    """Findings about when each leaf was first anchored (one per kind, with the count and the first leaf).

    Leaf i is anchored by the earliest valid token over a checkpoint with more than i leaves. Each
    leaf's ``appended_at`` must not go back in time, must not come after that token, and must lie
    at most ``max_lag`` before it; a leaf with no token must be younger than ``max_lag``.
    """
    lag, skew, now = int(max_lag.total_seconds()), int(CLOCK_SKEW.total_seconds()), int(as_of.timestamp())
    sizes = [a[0] for a in anchors]
    earliest = [int(a[1].timestamp()) for a in anchors]
    for i in range(len(earliest) - 2, -1, -1):  # a smaller tree is anchored by any later stamp of a larger one
        earliest[i] = min(earliest[i], earliest[i + 1])
    excused = sorted((int(a), int(b)) for a, b in accept_late)

    def accepted(i: int) -> bool:
        k = bisect.bisect_right(excused, (i, float("inf"))) - 1
        return k >= 0 and excused[k][0] <= i <= excused[k][1]

    found: dict[str, list] = {}

    def note(code: str, i: int, detail: str) -> None:
        entry = found.setdefault(code, [0, i, detail])
        entry[0] += 1

    j = 0
    for i, t in enumerate(times):
        while j < len(sizes) and sizes[j] <= i:
            j += 1
        if t is None:
            continue  # reported by _check_append_order
        if j < len(sizes):
            anchored = earliest[j]
            if t > anchored + skew:
                note("appended-after-anchor", i, f"appended {_iso_epoch(t)}, but already time-stamped at "
                                                 f"{_iso_epoch(anchored)}")
            elif anchored - t > lag:
                note("anchor-late-accepted" if accepted(i) else "anchor-late", i,
                     f"appended {_iso_epoch(t)}, first time-stamped {_iso_epoch(anchored)}")
        elif now - t > lag:
            note("anchor-missing-accepted" if accepted(i) else "anchor-missing", i,
                 f"appended {_iso_epoch(t)}, no time-stamp covers it")
        else:
            note("unanchored-tail", i, "")
    messages = {
        "appended-after-anchor": (FAILURE, "leaves say they were appended after a time-stamp already covered "
                                           "them (dates moved forward)"),
        "anchor-late": (FAILURE, f"leaves were first time-stamped more than {max_lag} after they say they were "
                                 f"appended: a history written or rewritten later than it claims (or a TSA "
                                 f"outage: explain it and pass the range with --accept-late-anchor)"),
        "anchor-late-accepted": (NOTE, f"leaves were first time-stamped more than {max_lag} after their append, "
                                       f"in ranges you accepted"),
        "anchor-missing": (FAILURE, f"leaves older than {max_lag} are covered by no valid time-stamp (tokens "
                                    f"deleted, or never made: check the checkpoint-archive runs)"),
        "anchor-missing-accepted": (NOTE, "leaves are covered by no time-stamp, in ranges you accepted"),
        "unanchored-tail": (NOTE, "leaves are not covered by a time-stamp yet (the next checkpoint-archive run "
                                  "anchors them)"),
    }
    out = []
    for code, (count, first, detail) in found.items():
        severity, text = messages[code]
        out.append((severity, code, f"{count} {text}; first: leaf {first}" + (f" ({detail})" if detail else "")))
    return out


def _epoch(text: str | None) -> int | None:
    if text is None:  # an unreadable leaf has no appended_at
        return None
    try:
        return int(parse_utc(text).timestamp())
    except (TypeError, ValueError):
        return None


def _iso_epoch(t: int) -> str:
    return utc_iso(datetime.fromtimestamp(t, timezone.utc))


def _check_locks(report: Report, store, referenced, page_until, other_keys, max_until, object_keys, workers) -> None:
    def need(key: str) -> datetime | None:
        if key.startswith(OBJECT_PREFIX):
            dates = [r[3] for r in referenced[key[len(OBJECT_PREFIX):]] if isinstance(r[3], datetime)]
            return max(dates) if dates else None
        if key in page_until:
            return page_until[key]
        return None

    keys = list(object_keys) + list(page_until) + list(other_keys)
    infos = _map(store, lambda k: (k, store.lock_info(k)), keys, workers)
    held = 0
    for key, info in infos:
        if info is None:
            continue  # missing objects are already reported
        held += info.legal_hold
        if info.mode != "COMPLIANCE":
            report.add(FAILURE, "lock-missing", f"{key} is not locked in COMPLIANCE mode", key=key,
                       expected="COMPLIANCE", computed=info.mode)
            continue
        required = need(key)
        if required is not None and (info.retain_until is None or info.retain_until < required):
            report.add(FAILURE, "lock-too-short", f"{key} is retained for less than its entries require", key=key,
                       expected=f">= {required.isoformat()}",
                       computed=info.retain_until.isoformat() if info.retain_until else None)
    if held:
        report.add(NOTE, "legal-hold", f"{held} objects are under legal hold")
