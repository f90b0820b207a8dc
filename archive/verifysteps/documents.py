"""Steps over the document objects: recompute every named document's size and SHA-256 from its
bytes, count documents deleted after their retention ended as expired (not missing), and list
objects no leaf names as orphans. Never writes."""
from __future__ import annotations

import hashlib
from datetime import datetime

from ..errors import ArchiveError
from ..model import OBJECT_PREFIX, object_key, utc_iso
from ..problems import FAILURE, NOTE, ORPHAN
from .audit import EXPIRED, Audit, DocumentRef, map_keys


def check_documents(audit: Audit) -> None:
    """Every document a leaf names (in scope, or present) must exist with the hash of its key and
    the size every leaf records; documents of entries outside an export's years are a note."""
    report, store, referenced = audit.report, audit.store, audit.leaves.referenced
    obj_set = set(audit.keys.objects)
    wanted = []
    out_of_scope = 0
    for hexd, refs in referenced.items():
        key = object_key(hexd)
        if key not in obj_set and all(r[3] == "out-of-scope" for r in refs):
            out_of_scope += 1
            continue
        wanted.append(key)
    audit.wanted = wanted
    report.documents = len(wanted)
    if out_of_scope:
        report.add(NOTE, "out-of-scope", f"{out_of_scope} documents of entries outside the exported years "
                   f"{sorted(audit.scope_years or [])} are not in this copy; their hashes are still covered by the "
                   f"leaves")

    # size and SHA-256 of each listed object, computed from its bytes by the worker processes
    pool = audit.pool
    hashed = pool.objects() if pool else {}
    as_of = audit.options.as_of

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

    results = [check_object(k) for k in wanted] if pool else map_keys(store, check_object, wanted,
                                                                       audit.options.workers)
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


def note_orphan_objects(audit: Audit) -> None:
    """Objects no leaf names are what an interrupted append leaves behind (orphans, not corruption)."""
    referenced = audit.leaves.referenced
    for key in sorted(k for k in audit.keys.objects if k[len(OBJECT_PREFIX):] not in referenced):
        audit.report.add(ORPHAN, "orphan-object", f"{key} is not named by any leaf (left by an interrupted append; "
                         f"reused if the same bytes are archived again)", key=key)


def _object_findings(store, key: str, refs: list[DocumentRef], size: int | None, computed: str | None,
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
