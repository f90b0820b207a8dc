"""Export: a self-contained, verifiable copy of the archive plus a GoBD Z3 data-carrier package.

The copy is a byte-for-byte mirror of the bucket keys (``log/...`` and ``objects/...``) that
``archive verify --dir`` accepts without the bucket. With ``--year`` only the documents of
entries whose retention base date falls in those years are copied; all leaves and checkpoints
are always copied, because the tree (and so every proof) needs every leaf hash. ``export.json``
records the scope and is signed with the archive key (``archive.manifest``), so the verifier
can tell "not exported" from "missing" and a copy cannot claim a narrower scope than it has.

``gobd/`` holds the Z3 package (``archive.z3``): ``index.xml`` in the GDPdU Beschreibungsstandard
with ``gdpdu-01-09-2004.dtd`` beside it, ``entries.csv``, ``documents.csv`` and every document
once more under ``gobd/documents/`` with a file name and extension (a hard link to the object
where the file system allows it). The verifier regenerates all of it from the leaves and compares.
This module must never alter the bytes it copies and never write into the bucket.
"""
from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import log, manifest, z3
from .errors import ArchiveError
from .model import OBJECT_PREFIX, object_key, utc_iso
from .store import DirStore


def _copy(src, dst: DirStore, keys: list[str], workers: int) -> int:
    def one(key: str) -> int:
        data = src.get(key)
        if data is None:
            return 0
        dst.put_new(key, data)
        return 1

    if src.kind == "dir":
        return sum(one(k) for k in keys)
    with ThreadPoolExecutor(workers) as ex:
        return sum(ex.map(one, keys))


def export(src, to: str | Path, years: list[int] | None = None, workers: int = 16,
           supplier: str = "Archiv-Export (einvoice archive)", location: str = "",
           signing_key=None) -> dict[str, Any]:
    """Export ``src`` to the empty directory ``to``; ``signing_key`` (the archive's Ed25519 key)
    signs the scope. Without it the export is unsigned: the verifier then checks no year scope
    and no Z3 table of it (a full export still verifies, with a note)."""
    to = Path(to)
    if to.exists() and any(to.iterdir()):
        raise ArchiveError(f"export target {to} is not empty; exports are never merged or overwritten")
    dst = DirStore(to)
    to.mkdir(parents=True, exist_ok=True)
    log_keys = list(src.list("log/"))
    _copy(src, dst, log_keys, workers)
    leaves = z3.read_leaves(dst)
    in_scope = [(r, h) for r, h in leaves if years is None or z3.base_year(r) in years]
    if years is None:
        obj_keys = list(src.list(OBJECT_PREFIX))  # a faithful mirror, orphans included
    else:
        obj_keys = sorted({object_key(d["sha256"]) for r, _ in in_scope for d in r.get("documents", [])})
    copied = _copy(src, dst, obj_keys, workers)
    latest = None
    cps = sorted(k for k in dst.list(log.CHECKPOINTS) if log.parse_checkpoint_key(k) is not None)
    if cps:
        latest = json.loads(dst.get(cps[-1]) or b"null")
    body = {"v": manifest.VERSION, "source": src.describe(), "exported_at": utc_iso(datetime.now(timezone.utc)),
            "years": sorted(years) if years else None, "leaves": len(leaves), "entries_in_scope": len(in_scope),
            "objects": copied, "latest_checkpoint": latest, "supplier": supplier, "location": location}
    tables = z3.tables(in_scope, sorted(years) if years else None, supplier, location)
    problem = z3.check_index(tables["index.xml"])
    if problem is not None:  # our own bug: never hand an auditor an index IDEA cannot read
        raise ArchiveError(f"gobd/index.xml does not follow the Beschreibungsstandard: {problem}")
    gobd = to / "gobd"
    gobd.mkdir()
    for name, data in tables.items():
        (gobd / name).write_bytes(data)
    _named_copies(to, gobd, in_scope)
    dst.put_new(manifest.NAME, manifest.sign(signing_key, body))
    (to / "README.txt").write_text(_README, encoding="utf-8")
    return {**body, "signed": signing_key is not None}


def _named_copies(to: Path, gobd: Path, leaves) -> None:
    (gobd / z3.DOCUMENTS_DIR).mkdir(exist_ok=True)
    for rel, sha in z3.documents(leaves):
        obj = to / object_key(sha)
        if not obj.exists():
            continue  # not in the source (expired, or missing: the verifier says which)
        target = gobd / rel
        try:
            os.link(obj, target)  # same bytes, no second copy on disk
        except OSError:
            shutil.copyfile(obj, target)


_README = """Export of an audit-proof archive (einvoice archive).

objects/sha256/<hex>      documents, exactly the archived bytes (file name = SHA-256)
log/leaves/*.jsonl        the log: one canonical-JSON leaf per line, hash-chained
log/checkpoints/*.json    Ed25519-signed RFC 9162 tree heads
log/index/*.json          derived lookup segments (checked by the verifier)
log/timestamps/*.tsr      RFC 3161 time-stamps of checkpoints by an independent TSA (if configured)
export.json               what was exported (years in scope, latest checkpoint), signed with the archive key
gobd/index.xml            GDPdU Beschreibungsstandard description of gobd/*.csv (Z3 access),
gobd/gdpdu-01-09-2004.dtd with its DTD beside it
gobd/documents/           every exported document once more, named with its extension

Verify this copy offline with the archive's public key (obtained from the archive operator
through a separate, trusted channel):

    python -m archive verify --dir <this directory> --key archive-public.pem [--tsa-root tsa-root.pem]

The verifier also checks the signature of export.json and regenerates gobd/ from the leaves:
an edited table or document copy fails. --tsa-root (the time-stamping authority's root
certificate, from the TSA) also checks the time-stamps: a history written or re-signed later
than it claims then fails.
"""
