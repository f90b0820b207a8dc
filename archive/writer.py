"""The archive writer: content-addressed objects, hash-chained leaves, signed checkpoints.

One append batch goes through idempotent steps, each a write-once PUT with COMPLIANCE
retention:

1. document objects ``objects/sha256/<hex>`` in parallel (an existing object is reused; its
   retention is extended if this entry needs it longer);
2. a signed *intent* naming the exact bytes of the page it is about to write
   (``log/intents/<first>-<sha256>.json``), then the page of leaves at the next sequence number
   (``If-None-Match: *``: the one serialisation point; a losing writer re-reads the winner's page,
   drops entries that are now archived and retries at the next position);
3. a signed checkpoint for the new tree size;
4. every ``SEGMENT_SIZE`` entries, an index segment (derived data for fast start-up).

5. the new checkpoint to the witness, if one is configured (``archive.witness``).

A crash between any two writes leaves either unreferenced objects (orphans, reused on retry), an
intent without its page (harmless: it authenticates bytes nobody wrote), or a page with its
intent but without checkpoint, which the next writer that opens the log signs (recovery). Every
key is read as its first version (``archive.versions``): later versions and delete markers that
an insider with PutObject/DeleteObject adds change nothing the writer reads. Nothing is ever
overwritten or deleted. This module must never know what an invoice is, must never append to a
log whose latest checkpoint does not verify or does not match the leaves it reads, and must
never adopt or sign a page it cannot authenticate.
"""
from __future__ import annotations

import bisect
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from typing import Any, Sequence

from . import canonical, formats, log, signing
from .errors import ArchiveError
from .formats import decode_checkpoint  # noqa: F401 - the codec lives in formats; kept importable here
from .model import (
    LEAF_VERSION,
    ArchiveDocument,
    Checkpoint,
    EntryInput,
    EntryReceipt,
    RetentionPolicy,
    object_key,
    parse_utc,
    utc_iso,
)
from .store import S3Store
from .tree import TreeStore

MAX_RACE_RETRIES = 50
#: Bucket default retention set by ``init_bucket``: versions PUT without a lock of their own (a
#: forgery, a stray upload) stay for a year, long enough for the nightly verification to find them.
DEFAULT_RETENTION_DAYS = 365


class _State:
    """What a writer knows about the log: all leaf hashes, entry ids, page starts."""

    def __init__(self) -> None:
        self.tree = TreeStore()
        self.entries: dict[str, int] = {}
        self.page_starts: list[int] = []
        self.checkpoint: Checkpoint | None = None
        # Pages that end beyond this size are not covered by a checkpoint the writer verified:
        # each needs a signed intent before the writer adopts it (formats.intent_problem).
        self.auth_floor = 0
        self.segment_end = 0
        self.max_retain: datetime | None = None

    @property
    def size(self) -> int:
        return len(self.tree)

    def last_leaf_hash(self) -> str | None:
        return self.tree.leaf_hash(self.size - 1).hex() if self.size else None

    def retain(self, until: datetime) -> None:
        if self.max_retain is None or until > self.max_retain:
            self.max_retain = until


class Archive:
    """Append-only, audit-proof archive in one S3 bucket with Object Lock.

    ``signing_key`` (Ed25519) signs checkpoints; without one, checkpoints are written unsigned
    and the verifier reports them as such. One instance is safe to share between threads
    (appends are serialised inside); several instances or processes may append to the same
    bucket concurrently. ``prefix`` keeps several independent archives in one bucket.
    """

    def __init__(self, s3_client, bucket: str, signing_key=None, policy: RetentionPolicy | None = None,
                 workers: int = 16, prefix: str = "", _check_bucket: bool = True, trusted_keys=(),
                 witness=None) -> None:
        """``trusted_keys``: earlier public keys (after a key rotation) whose checkpoints and
        intents the writer accepts besides its own. ``witness``: where every checkpoint is also
        written (``archive.witness``; credentials the archive's own cannot change)."""
        self.store = S3Store(s3_client, bucket, prefix)
        self.bucket: str | None = bucket  # None for a reader on a store without a bucket (DirStore)
        self.read_only = False
        self.segment_size = log.SEGMENT_SIZE
        self._set_key(signing_key, trusted_keys)
        self.witness = witness
        self.witness_error: Exception | None = None
        self.policy = policy or RetentionPolicy()
        # More threads than the client has connections only queues them (and urllib3 warns).
        pool = getattr(getattr(getattr(s3_client, "meta", None), "config", None), "max_pool_connections", None)
        self.workers = min(workers, pool) if isinstance(pool, int) and pool > 0 else workers
        self._lock = threading.RLock()
        self._state: _State | None = None
        self._pool: ThreadPoolExecutor | None = None
        if _check_bucket:
            self.check_bucket(s3_client, bucket)

    # ------------------------------------------------------------------ bucket
    @staticmethod
    def check_bucket(s3_client, bucket: str) -> None:
        """Refuse a bucket that is missing, unversioned or without Object Lock."""
        try:
            versioning = s3_client.get_bucket_versioning(Bucket=bucket).get("Status")
        except Exception as exc:  # noqa: BLE001
            raise S3Store(s3_client, bucket)._fail("GET versioning", "", exc) from exc
        try:
            cfg = s3_client.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration", {})
            lock = cfg.get("ObjectLockEnabled")
        except Exception as exc:  # noqa: BLE001
            from .store import _code
            if _code(exc) in ("ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"):
                lock = None
            else:
                raise S3Store(s3_client, bucket)._fail("GET object-lock", "", exc) from exc
        if lock != "Enabled":
            raise ArchiveError(f"bucket {bucket!r} has no Object Lock: the archive refuses to write where documents "
                               f"could be deleted; create a lock-enabled bucket with `archive bucket-init` "
                               f"(Archive.init_bucket)")
        if versioning != "Enabled":
            raise ArchiveError(f"bucket {bucket!r} is not versioned (status {versioning!r}); "
                               f"Object Lock needs versioning")

    @staticmethod
    def init_bucket(s3_client, bucket: str, default_retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        """Create a versioned bucket with Object Lock enabled and a COMPLIANCE default retention;
        idempotent for such a bucket (an existing default retention is left as it is).

        The default retention locks every version that arrives without a lock of its own, so a
        forged version or a stray upload cannot be removed again before an auditor sees it (the
        archive's own PUTs always carry their explicit retain-until)."""
        try:
            s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        except Exception as exc:  # noqa: BLE001
            from .store import _code
            code = _code(exc)
            if code == "InvalidBucketName":
                raise ArchiveError(f"{bucket!r} is not a valid bucket name (3-63 characters: a-z, 0-9, '-', '.')",
                                   kind="usage") from exc
            if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise ArchiveError(f"cannot create bucket {bucket!r}: {code}: {exc}", kind="io") from exc
        Archive.check_bucket(s3_client, bucket)
        if Archive.default_retention(s3_client, bucket) is None:
            try:
                s3_client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": int(default_retention_days)}}})
            except Exception as exc:  # noqa: BLE001
                raise S3Store(s3_client, bucket)._fail("PUT object-lock configuration", "", exc) from exc

    @staticmethod
    def default_retention(s3_client, bucket: str) -> dict | None:
        """The bucket's default retention rule ({"Mode": ..., "Days"|"Years": n}) or None."""
        try:
            cfg = s3_client.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration", {})
        except Exception:  # noqa: BLE001 - no configuration: no rule
            return None
        return (cfg.get("Rule") or {}).get("DefaultRetention") or None

    def _set_key(self, signing_key, trusted_keys=()) -> None:
        self.signing_key = signing_key
        self.key_id = signing.key_id(signing_key.public_key()) if signing_key is not None else None
        pubs = list(trusted_keys) + ([signing_key.public_key()] if signing_key is not None else [])
        # Empty for a reader or an unsigned archive: then nothing can be authenticated.
        self._ring = {signing.key_id(k): k for k in pubs}

    @classmethod
    def on_store(cls, store, signing_key=None, policy: RetentionPolicy | None = None, workers: int = 16,
                 trusted_keys=(), witness=None) -> "Archive":
        """A writer on any store, e.g. a DirStore for demos and benchmarks.

        A directory has no Object Lock: use it only where immutability is not the point.
        """
        self = cls.reader(store)
        self.read_only = False
        self._set_key(signing_key, trusted_keys)
        self.witness = witness
        self.policy, self.workers = policy or RetentionPolicy(), workers
        return self

    @classmethod
    def reader(cls, store) -> "Archive":
        """A read-only view of the log in any store (S3Store or DirStore): lookups, leaves, proofs.

        It never writes, not even the recovery checkpoint a writer would add.
        """
        self = cls.__new__(cls)
        self.store, self.bucket = store, getattr(store, "bucket", None)
        self._set_key(None)
        self.witness, self.witness_error = None, None
        self.policy, self.workers, self.read_only = RetentionPolicy(), 16, True
        self.segment_size = log.SEGMENT_SIZE
        self._lock, self._state, self._pool = threading.RLock(), None, None
        return self

    # ------------------------------------------------------------------ lifecycle
    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="archive-put")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ reading the log
    def _load(self) -> _State:
        """Build the writer state: index segments, then pages after them, then the latest checkpoint."""
        st = _State()
        seg_keys = sorted((b, k) for k in self.store.list(log.INDEX) if (b := log.parse_segment_key(k)) is not None)
        for (first, end), key in seg_keys:
            if first != st.size:
                # A gap or overlap between segments: ignore the rest, pages will be read instead.
                break
            raw = self.store.get(key)
            if raw is None:
                break
            seg = canonical.loads(raw)
            hashes = bytes.fromhex(seg["leaf_hashes"])
            if len(seg["entries"]) != end - first or len(hashes) != 32 * (end - first):
                raise ArchiveError(f"index segment {key} is inconsistent: {end - first} entries expected, "
                                   f"{len(seg['entries'])} ids and {len(hashes) // 32} hashes found", kind="integrity")
            for i, entry_id in enumerate(seg["entries"]):
                st.entries.setdefault(entry_id, first + i)
                st.tree.append(hashes[32 * i:32 * i + 32])
            st.page_starts.extend(seg["page_starts"])
            st.retain(parse_utc(seg["max_retain_until"]))
            st.segment_end = end
        start_after = log.checkpoint_key(st.segment_end - 1) if st.segment_end > 0 else None
        latest: tuple[int, str] | None = None
        for key in self.store.list(log.CHECKPOINTS, start_after=start_after):
            size = log.parse_checkpoint_key(key)
            if size is not None and (latest is None or size > latest[0]):
                latest = (size, key)
        cp: Checkpoint | None = None
        cp_key = ""
        if latest is not None:
            cp_key = latest[1]
            raw = self.store.get(cp_key)
            if raw is None:
                raise ArchiveError(f"checkpoint {cp_key} listed but not readable", kind="io")
            cp = decode_checkpoint(raw)
            self._check_checkpoint_signed(cp, cp_key)
            st.auth_floor = cp.tree_size
        self._read_new_pages(st)
        if cp is not None:
            self._check_checkpoint_matches(st, cp, cp_key)
            st.checkpoint = cp
        return st

    def _check_checkpoint_signed(self, cp: Checkpoint, key: str) -> None:
        """A writer with a key builds only on checkpoints signed by a key it trusts: anyone who can
        PUT objects could otherwise add pages and an unsigned (or self-signed) checkpoint over them."""
        if not self._ring:
            return
        pub = self._ring.get(cp.key_id) if cp.key_id is not None else None
        if pub is None or not signing.signature_valid(pub, cp.body(), cp.signature):
            raise ArchiveError(f"{key} is not signed by a trusted archive key (key id {cp.key_id}): a forged "
                               f"checkpoint; the archive refuses to append until an auditor has run `archive verify`",
                               kind="integrity")

    def _authenticate_page(self, key: str, first: int, raw: bytes, count: int) -> None:
        """Refuse a page that no checkpoint covers and no signed intent names (see formats)."""
        if not self._ring:
            return
        sha = hashlib.sha256(raw).hexdigest()
        problem = formats.intent_problem(self._ring, self.store.get(formats.intent_key(first, sha)), first, count, sha)
        if problem is not None:
            raise ArchiveError(f"{key} is not authenticated ({problem}): it was not written by this archive's "
                               f"writer; the archive refuses to adopt or sign it until an auditor has run "
                               f"`archive verify`", kind="integrity")

    def _check_checkpoint_matches(self, st: _State, cp: Checkpoint, key: str) -> None:
        if cp.tree_size != log.parse_checkpoint_key(key):
            raise ArchiveError(f"inconsistent log: {key} states tree size {cp.tree_size}", kind="integrity")
        if cp.tree_size > st.size:
            raise ArchiveError(f"inconsistent log: checkpoint {key} covers {cp.tree_size} leaves but only "
                               f"{st.size} are readable (truncated log)", kind="integrity")
        computed = st.tree.root(cp.tree_size).hex()
        if computed != cp.root_hash:
            raise ArchiveError(f"inconsistent log: checkpoint {key} expects root {cp.root_hash}, the leaves give "
                               f"{computed}", kind="integrity")

    def _read_new_pages(self, st: _State) -> list[list[dict[str, Any]]]:
        """Read pages from the current head on (other writers' batches); check their chain."""
        new_pages: list[list[dict[str, Any]]] = []
        while True:
            key = log.page_key(st.size)
            raw = self.store.get(key)
            if raw is None:
                return new_pages
            lines = log.split_page(raw)
            first = st.size
            floor = st.checkpoint.tree_size if st.checkpoint is not None else st.auth_floor
            if first + len(lines) > floor:
                self._authenticate_page(key, first, raw, len(lines))
            recs = []
            for i, line in enumerate(lines):
                rec = log.decode_leaf(line)
                if rec["seq"] != first + i:
                    raise ArchiveError(f"inconsistent log: {key} line {i + 1} has seq {rec['seq']}, "
                                       f"expected {first + i}", kind="integrity")
                if rec["prev_leaf_hash"] != st.last_leaf_hash():
                    raise ArchiveError(f"inconsistent log: leaf {first + i} prev_leaf_hash {rec['prev_leaf_hash']}, "
                                       f"expected {st.last_leaf_hash()}", kind="integrity")
                st.tree.append(log.leaf_hash(line))
                st.entries.setdefault(rec["entry_id"], first + i)
                st.retain(parse_utc(rec["retention"]["until"]))
                recs.append(rec)
            st.page_starts.append(first)
            new_pages.append(recs)

    def _sync(self) -> _State:
        if self._state is None:
            self._state = self._load()
            if not self.read_only:
                self._recover(self._state)
        else:
            self._read_new_pages(self._state)
        return self._state

    def _recover(self, st: _State) -> None:
        """Finish what a crashed writer left: sign pages without checkpoint, write due segments."""
        if st.size and (st.checkpoint is None or st.checkpoint.tree_size < st.size):
            self._write_checkpoint(st)
        self._write_due_segments(st)

    def _page_of(self, st: _State, seq: int) -> int:
        return st.page_starts[bisect.bisect_right(st.page_starts, seq) - 1]

    def read_leaf(self, seq: int) -> tuple[bytes, dict[str, Any]]:
        """The stored bytes and decoded record of leaf ``seq``."""
        with self._lock:
            st = self._sync()
            if not 0 <= seq < st.size:
                raise ArchiveError(f"no leaf {seq}: the log has {st.size} leaves")
            first = self._page_of(st, seq)
            raw = self.store.get(log.page_key(first))
        if raw is None:
            raise ArchiveError(f"page {log.page_key(first)} is missing", kind="io")
        line = log.split_page(raw)[seq - first]
        if log.leaf_hash(line) != st.tree.leaf_hash(seq):
            raise ArchiveError(f"leaf {seq}: stored bytes hash to {log.leaf_hash(line).hex()}, expected "
                               f"{st.tree.leaf_hash(seq).hex()}", kind="integrity")
        return line, log.decode_leaf(line)

    def lookup(self, entry_id: str) -> int | None:
        with self._lock:
            return self._sync().entries.get(entry_id)

    def receipt(self, entry_id: str) -> EntryReceipt:
        seq = self.lookup(entry_id)
        if seq is None:
            raise ArchiveError(f"entry {entry_id!r} is not in the archive")
        line, rec = self.read_leaf(seq)
        return self._receipt_from_leaf(line, rec, existing=True)

    @staticmethod
    def _receipt_from_leaf(line: bytes, rec: dict[str, Any], existing: bool) -> EntryReceipt:
        return EntryReceipt(entry_id=rec["entry_id"], sequence=rec["seq"], leaf_hash=log.leaf_hash(line).hex(),
                            document_keys={d["name"]: object_key(d["sha256"]) for d in rec["documents"]},
                            retain_until=parse_utc(rec["retention"]["until"]), existing=existing)

    @property
    def size(self) -> int:
        with self._lock:
            return self._sync().size

    def tree(self) -> TreeStore:
        """The writer's tree store (read-only use: proofs)."""
        with self._lock:
            return self._sync().tree

    # ------------------------------------------------------------------ writing
    def _validate(self, e: EntryInput) -> None:
        if not isinstance(e.entry_id, str) or not e.entry_id or len(e.entry_id) > 512:
            raise ArchiveError(f"entry_id must be a non-empty string of at most 512 characters, got {e.entry_id!r}")
        names = [d.name for d in e.documents]
        if len(set(names)) != len(names):
            raise ArchiveError(f"entry {e.entry_id!r}: document names must be unique, got {names}")
        for d in e.documents:
            if not isinstance(d.data, (bytes, bytearray)):
                raise ArchiveError(f"entry {e.entry_id!r}: document {d.name!r} data must be bytes")
            if not d.name or not d.media_type:
                raise ArchiveError(f"entry {e.entry_id!r}: every document needs a name and a media_type")
        if not isinstance(e.metadata, dict):
            raise ArchiveError(f"entry {e.entry_id!r}: metadata must be a dict")
        canonical.dumps(e.metadata)  # refuses floats and non-JSON values with a clear message
        if (e.relation is None) != (e.relates_to is None) and e.relation is not None:
            raise ArchiveError(f"entry {e.entry_id!r}: 'relation' given without 'relates_to'")

    def _retention(self, e: EntryInput) -> tuple[dict[str, Any], datetime]:
        cls, years = self.policy.years(e.retention_class)
        if e.retention_years is not None:
            if not isinstance(e.retention_years, int) or isinstance(e.retention_years, bool) or e.retention_years < 1:
                raise ArchiveError(f"entry {e.entry_id!r}: retention_years must be a positive integer, "
                                   f"got {e.retention_years!r}")
            years = e.retention_years
        now = datetime.now(timezone.utc)
        base = e.retention_base or now.date()
        if not isinstance(base, date) or isinstance(base, datetime):
            raise ArchiveError(f"entry {e.entry_id!r}: retention_base must be a date, got {base!r}")
        problem = RetentionPolicy.check_base(base, years, now, locking=self.store.kind == "s3")
        if problem is not None:
            raise ArchiveError(f"entry {e.entry_id!r}: {problem}")
        until = RetentionPolicy.retain_until(base, years)
        return {"class": cls, "years": years, "base": base.isoformat(), "until": utc_iso(until)}, until

    def _put_documents(self, docs: dict[str, tuple[ArchiveDocument, datetime]]) -> None:
        def put(item: tuple[str, tuple[ArchiveDocument, datetime]]) -> None:
            hexd, (doc, until) = item
            key = object_key(hexd)
            if self.store.put_new(key, bytes(doc.data), until, sha256=bytes.fromhex(hexd),
                                  content_type=doc.media_type) or self.store.kind != "s3":
                return
            # Same bytes archived before (or left by a crashed run): make sure it is kept long enough.
            info = self.store.lock_info(key)
            if info is None:
                raise ArchiveError(f"object {key} exists but cannot be read back", kind="io")
            if info.mode != "COMPLIANCE" or info.retain_until is None or info.retain_until < until:
                self.store.extend_retention(key, until)

        list(self._executor().map(put, docs.items()))

    def append(self, entries: Sequence[EntryInput]) -> list[EntryReceipt]:
        """Archive a batch; returns one receipt per input, in order. Re-appending is a no-op."""
        entries = list(entries)
        if self.read_only:
            raise ArchiveError("this archive view is read-only")
        if not entries:
            return []
        for e in entries:
            self._validate(e)
        with self._lock:
            st = self._sync()
            # Documents first: a leaf must never point at bytes that are not stored.
            docs: dict[str, tuple[ArchiveDocument, datetime]] = {}
            # (entry, retention record, retain-until, (document, SHA-256 hex)); None, None on a re-append
            prepared: list[tuple[EntryInput, dict[str, Any] | None, datetime | None,
                                 list[tuple[ArchiveDocument, str]]]] = []
            for e in entries:
                hashes = [(d, hashlib.sha256(d.data).hexdigest()) for d in e.documents]
                if e.entry_id in st.entries:  # re-append: the first version is the record
                    prepared.append((e, None, None, hashes))
                    continue
                retention, until = self._retention(e)  # refuses an impossible lock before any write
                prepared.append((e, retention, until, hashes))
                for d, hexd in hashes:
                    if hexd not in docs or docs[hexd][1] < until:
                        docs[hexd] = (d, until)
            self._put_documents(docs)

            receipts: dict[str, EntryReceipt] = {}
            for _attempt in range(MAX_RACE_RETRIES):
                pending = [p for p in prepared if p[0].entry_id not in st.entries]
                # The same entry_id twice in one batch is archived once.
                seen: set[str] = set()
                unique = []
                for p in pending:
                    if p[0].entry_id not in seen:
                        seen.add(p[0].entry_id)
                        unique.append(p)
                pending = unique
                if not pending:
                    break
                leaves, batch_until, new_ids = self._build_leaves(st, pending)
                first = st.size
                page = log.encode_page(leaves)
                if self.signing_key is not None:
                    # The signed intent comes first: a page is adopted by other writers (and passes
                    # the verifier) only with it, so a crash after the page still recovers.
                    sha = hashlib.sha256(page).hexdigest()
                    self.store.put_new(formats.intent_key(first, sha),
                                       formats.encode_intent(self.signing_key, first, len(leaves), sha),
                                       batch_until, content_type="application/json")
                if self.store.put_new(log.page_key(first), page, batch_until, content_type="application/jsonl") \
                        and self.store.created_first(log.page_key(first)):
                    for i, line in enumerate(leaves):
                        st.tree.append(log.leaf_hash(line))
                        st.entries[new_ids[i]] = first + i
                        rec = canonical.loads(line)
                        receipts[new_ids[i]] = self._receipt_from_leaf(line, rec, existing=False)
                    st.page_starts.append(first)
                    st.retain(batch_until)
                    break
                # Lost the race for this position: read the winner's page(s) and try again after them.
                self._read_new_pages(st)
            else:
                raise ArchiveError(f"could not append after {MAX_RACE_RETRIES} races with other writers",
                                   kind="conflict")
            if st.checkpoint is None or st.checkpoint.tree_size < st.size:
                self._write_checkpoint(st)
            self._write_due_segments(st)
            out = []
            for e, _, _, _ in prepared:
                if e.entry_id not in receipts:
                    receipts[e.entry_id] = self.receipt(e.entry_id)
                out.append(receipts[e.entry_id])
            return out

    def _build_leaves(self, st: _State, pending) -> tuple[list[bytes], datetime, list[str]]:
        leaves: list[bytes] = []
        ids: list[str] = []
        prev = st.last_leaf_hash()
        batch_seq: dict[str, tuple[int, str]] = {}
        batch_until: datetime | None = None
        now = utc_iso(datetime.now(timezone.utc))
        for e, retention, until, hashes in pending:
            seq = st.size + len(leaves)
            rec: dict[str, Any] = {
                "v": LEAF_VERSION,
                "seq": seq,
                "entry_id": e.entry_id,
                "appended_at": now,
                "documents": [{"name": d.name, "media_type": d.media_type, "sha256": h, "size": len(d.data)}
                              for d, h in hashes],
                "metadata": e.metadata,
                "retention": retention,
                "prev_leaf_hash": prev,
            }
            if e.relates_to is not None:
                rec["relates_to"] = self._resolve_relation(st, batch_seq, e)
            line = canonical.dumps(rec)
            prev = log.leaf_hash(line).hex()
            batch_seq[e.entry_id] = (seq, prev)
            leaves.append(line)
            ids.append(e.entry_id)
            batch_until = until if batch_until is None or until > batch_until else batch_until
        assert batch_until is not None
        return leaves, batch_until, ids

    def _resolve_relation(self, st: _State, batch_seq: dict[str, tuple[int, str]], e: EntryInput) -> dict[str, Any]:
        target = e.relates_to
        if target in batch_seq:
            seq, lh = batch_seq[target]
        elif target in st.entries:
            seq = st.entries[target]
            lh = st.tree.leaf_hash(seq).hex()
        else:
            raise ArchiveError(f"entry {e.entry_id!r} relates to {target!r}, which is not in the archive "
                               f"(archive it first or in the same batch before this entry)")
        return {"entry_id": target, "seq": seq, "leaf_hash": lh, "relation": e.relation or "relates-to"}

    def _write_checkpoint(self, st: _State) -> Checkpoint:
        size = st.size
        stamp = utc_iso(datetime.now(timezone.utc))
        if st.checkpoint is not None and st.checkpoint.timestamp > stamp:
            # Another writer's clock ran ahead: never sign a time earlier than the previous head.
            stamp = st.checkpoint.timestamp
        body = {"v": 1, "tree_size": size, "root_hash": st.tree.root(size).hex(),
                "timestamp": stamp, "key_id": self.key_id}
        sig = signing.sign_body(self.signing_key, body) if self.signing_key is not None else None
        raw = canonical.dumps({**body, "signature": sig})
        key = log.checkpoint_key(size)
        if not self.store.put_new(key, raw, st.max_retain, content_type="application/json"):
            # Another writer (or a recovering one) signed this size first: it must agree on the root.
            existing = self.store.get(key)
            if existing is None:
                raise ArchiveError(f"checkpoint {key} exists but cannot be read", kind="io")
            cp = decode_checkpoint(existing)
            self._check_checkpoint_matches(st, cp, key)
        else:
            cp = decode_checkpoint(raw)
        st.checkpoint = cp
        if self.witness is not None:
            try:
                self.witness.put(cp, st.max_retain)
                self.witness_error = None
            except ArchiveError as exc:
                # An unreachable witness must not stop intake; checkpoint() (the checkpoint-archive
                # flow) writes the latest checkpoint again and fails loudly.
                self.witness_error = exc
        return cp

    def _write_due_segments(self, st: _State) -> None:
        while True:
            first = st.segment_end
            # Segments end on a page boundary at least SEGMENT_SIZE entries on: deterministic, so
            # racing writers produce byte-identical segments under the same key.
            bounds = [p for p in st.page_starts if p >= first + self.segment_size] + [st.size]
            end = min(bounds)
            if end - first < self.segment_size or st.checkpoint is None or st.checkpoint.tree_size < end:
                return
            max_retain = st.max_retain
            if max_retain is None:  # every leaf has a retain-until, and a segment has leaves
                raise ArchiveError(f"segment {first}..{end}: the writer knows no retain-until of its leaves",
                                   kind="integrity")
            ids = [""] * (end - first)
            for entry_id, seq in st.entries.items():
                if first <= seq < end:
                    ids[seq - first] = entry_id
            seg = {"v": 1, "first": first, "end": end, "entries": ids,
                   "leaf_hashes": b"".join(st.tree.leaf_hash(i) for i in range(first, end)).hex(),
                   "page_starts": [p for p in st.page_starts if first <= p < end],
                   "max_retain_until": utc_iso(max_retain)}
            key = log.segment_key(first, end)
            if not self.store.put_new(key, canonical.dumps(seg), st.max_retain, content_type="application/json"):
                # Another writer wrote it first: it must say the same about the leaves (its
                # max_retain_until may be later, if that writer had read further). A segment an
                # insider put there first would otherwise mislead every writer's look-ups.
                try:
                    other = canonical.loads(self.store.get(key) or b"")
                    same = isinstance(other, dict) and all(other.get(k) == seg[k] for k in
                                                           ("v", "first", "end", "entries", "leaf_hashes", "page_starts"))
                except ArchiveError:
                    same = False
                if not same:
                    raise ArchiveError(f"index segment {key} exists and does not match the leaves: not written by "
                                       f"this archive's writer", kind="integrity")
            st.segment_end = end

    def checkpoint(self) -> Checkpoint:
        """Sign the current tree size (no new file if the latest checkpoint already covers it)."""
        if self.read_only:
            raise ArchiveError("this archive view is read-only")
        with self._lock:
            st = self._sync()
            if st.checkpoint is not None and st.checkpoint.tree_size == st.size:
                cp = st.checkpoint
                if self.witness is not None:
                    self.witness.put(cp, st.max_retain)  # raises: the flow must fail when the witness does
                return cp
            cp = self._write_checkpoint(st)
            if self.witness_error is not None:
                raise ArchiveError(f"checkpoint {cp.tree_size} signed, but the witness could not store it: "
                                   f"{self.witness_error}", kind=getattr(self.witness_error, "kind", "io"))
            return cp

    def timestamp_latest(self, tsa) -> tuple[int, Any, bool]:
        """Have ``tsa`` (``archive.timestamp.TimestampAuthority``) time-stamp the latest checkpoint.

        Signs the current tree first if no checkpoint covers it. Stores the TSA's response as
        ``log/timestamps/<size>.tsr`` (write-once, locked like the checkpoints). Returns
        (tree size, token info, created?); a checkpoint that has a token already is not stamped
        again. Meant to run periodically (the ``checkpoint-archive`` flow, hourly), not per append:
        a qualified time-stamp costs money, and intake must not stop when the TSA is down.
        """
        from .timestamp import check_token

        cp = self.checkpoint()
        key = log.timestamp_key(cp.tree_size)
        existing = self.store.get(key)
        if existing is not None:
            info, problem = check_token(existing, cp.raw, tsa.roots)
            if problem is not None:
                raise ArchiveError(f"{key} exists but does not verify: {problem}", kind="integrity")
            return cp.tree_size, info, False
        token, info = tsa.stamp(cp.raw)
        with self._lock:
            until = self._sync().max_retain
        created = self.store.put_new(key, token, until, content_type="application/timestamp-reply")
        if not created:  # another writer stamped the same checkpoint a moment ago: keep the first
            return self.timestamp_latest(tsa)
        return cp.tree_size, info, True

    def prove(self, entry_id: str) -> dict[str, Any]:
        """Inclusion proof of ``entry_id`` against the latest checkpoint (the JSON `archive prove` writes)."""
        from .proof import build_proof

        return build_proof(self, entry_id)

    def latest_checkpoint(self) -> Checkpoint | None:
        with self._lock:
            return self._sync().checkpoint

    def extend_retention(self, classes: list[str], base_years: list[int], counted_from: date, *,
                         years: int | None = None, reason: str, reference: str = "", decided_by: str = ""):
        """Raise the locks of a year's entries and archive the decision (``archive.retention``)."""
        from .retention import extend_retention

        return extend_retention(self, classes, base_years, counted_from, years=years, reason=reason,
                                reference=reference, decided_by=decided_by)

    def set_legal_hold(self, entry_id: str, on: bool) -> EntryReceipt:
        """Set/clear the legal hold on an entry's documents and leaf page; logs it as a follow-up entry.

        The hold keeps objects beyond their retention while an audit needs them (AO § 147 (3)).
        Returns the receipt of the log entry that records the change.
        """
        if self.read_only:
            raise ArchiveError("this archive view is read-only")
        seq = self.lookup(entry_id)
        if seq is None:
            raise ArchiveError(f"entry {entry_id!r} is not in the archive")
        _, rec = self.read_leaf(seq)
        with self._lock:
            first = self._page_of(self._sync(), seq)
        keys = [object_key(d["sha256"]) for d in rec["documents"]] + [log.page_key(first)]
        for key in keys:
            self.store.set_legal_hold(key, on)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        event = EntryInput(entry_id=f"legal-hold:{'on' if on else 'off'}:{stamp}:{entry_id}", documents=[],
                           metadata={"event": "legal-hold", "legal_hold": on, "objects": keys},
                           retention_class=rec["retention"]["class"],
                           retention_base=date.fromisoformat(rec["retention"]["base"]),
                           relates_to=entry_id, relation="legal-hold")
        return self.append([event])[0]
