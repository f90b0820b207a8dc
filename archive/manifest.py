"""The signed scope of an export (``export.json``) and the check of everything an export adds.

An export copies the log and (some of) the documents; what it adds is not covered by the log:
the scope ("documents of 2025 only"), the Z3 tables and the named document copies. Unchecked,
a copy could lose a document and claim a year-limited export, or carry edited CSV tables an
auditor's IDEA then reads. So:

* ``export.json`` is signed with the archive key (Ed25519 over a domain string and the
  canonical JSON of its body, the same key id as the checkpoints). The verifier honours a scope
  only when the signature holds (``export-signature-invalid``, ``export-unsigned``).
* The verifier regenerates ``gobd/`` from the leaves and the signed scope (``archive.z3``) and
  compares byte for byte (``z3-table-mismatch``, ``z3-file-missing``, ``z3-unexpected-file``),
  and checks every named document copy against its SHA-256 (``z3-document-mismatch``).

This module must never write into an export or a bucket; findings are reported through the
verifier's ``add``.
"""
from __future__ import annotations

import base64
import hashlib
import os
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature

from . import canonical, signing, z3
from .errors import ArchiveError
from .model import object_key

DOMAIN = b"einvoice-archive export v1\n"
NAME = "export.json"
VERSION = 2
_FIELDS = frozenset({"v", "source", "exported_at", "years", "leaves", "entries_in_scope", "objects",
                     "latest_checkpoint", "supplier", "location", "key_id", "signature"})


def sign(private_key, body: dict[str, Any]) -> bytes:
    """The bytes of export.json: the body plus key id and signature (None without a key)."""
    body = {**body, "key_id": signing.key_id(private_key.public_key()) if private_key is not None else None}
    sig = None
    if private_key is not None:
        sig = base64.b64encode(private_key.sign(DOMAIN + canonical.dumps(body))).decode("ascii")
    return canonical.dumps({**body, "signature": sig})


def _valid(ring: dict[str, Any], body: dict[str, Any], signature: str | None) -> bool:
    key_id = body.get("key_id")
    key = ring.get(key_id) if isinstance(key_id, str) else None  # ring keys are key ids (str)
    if key is None or not isinstance(signature, str):
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), DOMAIN + canonical.dumps(body))
        return True
    except (InvalidSignature, ValueError, ArchiveError):
        return False


def check_export(store, ring: dict[str, Any], add: Callable[..., None]) -> set[int] | None:
    """Check the manifest and the Z3 files of an export directory; returns the years in scope
    (None: all) as far as a valid signature backs them."""
    raw = store.get(NAME)
    gobd = store.root / "gobd"
    if raw is None:
        if gobd.exists():
            add("failure", "export-manifest-missing", f"{NAME} is missing but gobd/ is there: the scope and the "
                f"Z3 tables of this export cannot be checked", key=NAME)
        return None
    try:
        manifest = canonical.loads(raw)
        if not isinstance(manifest, dict):
            raise ArchiveError("not a JSON object")
    except ArchiveError as exc:
        add("failure", "export-manifest-unreadable", f"{NAME}: {exc}", key=NAME)
        return None
    years = manifest.get("years")
    if manifest.get("v") != VERSION or not manifest.get("signature"):
        # An export written before exports were signed: nothing backs its scope or tables.
        add("failure" if years else "note", "export-unsigned",
            f"{NAME} carries no signature (an export of an older version, or edited): "
            + ("its year scope is not honoured, documents outside it count as missing" if years else
               "its Z3 tables are not checked"), key=NAME)
        return None
    body = {k: v for k, v in manifest.items() if k != "signature"}
    if set(manifest) != _FIELDS or not _valid(ring, body, manifest["signature"]) \
            or canonical.dumps(manifest) != raw:
        add("failure", "export-signature-invalid", f"{NAME} is not signed by a key you gave, or was edited "
            f"after signing: its scope (years {years}) is not honoured", key=NAME,
            expected=" or ".join(sorted(ring)), computed=manifest.get("key_id"))
        return None
    if years is not None and not (isinstance(years, list) and all(isinstance(y, int) for y in years)):
        add("failure", "export-manifest-unreadable", f"{NAME}: years {years!r} is not a list of years", key=NAME)
        return None
    scope = set(years) if years else None
    _check_z3(store, manifest, scope, add)
    return scope


def _check_z3(store, manifest: dict[str, Any], scope: set[int] | None, add) -> None:
    gobd = store.root / "gobd"
    leaves = [(r, h) for r, h in z3.read_leaves(store) if scope is None or z3.base_year(r) in scope]
    expected = z3.tables(leaves, sorted(scope) if scope else None, str(manifest.get("supplier", "")),
                         str(manifest.get("location", "")))
    for name, data in expected.items():
        path = gobd / name
        try:
            found = path.read_bytes()
        except FileNotFoundError:
            add("failure", "z3-file-missing", f"gobd/{name} is missing", key=f"gobd/{name}")
            continue
        if found != data:
            add("failure", "z3-table-mismatch", f"gobd/{name} differs from the table regenerated from the signed "
                f"leaves (edited after the export)", key=f"gobd/{name}",
                expected=hashlib.sha256(data).hexdigest(), computed=hashlib.sha256(found).hexdigest())
    docs = dict(z3.documents(leaves))
    root = str(gobd)
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
            if rel not in expected and rel not in docs:
                add("failure", "z3-unexpected-file", f"gobd/{rel} is not part of the export", key=f"gobd/{rel}")
    objects = os.path.join(str(store.root), object_key(""))
    for rel, sha in docs.items():
        named = os.path.join(root, rel)
        named_stat, obj_stat = _stat(named), _stat(objects + sha)
        if named_stat is None:
            if obj_stat is not None:  # without the object, the verifier reports it (missing or expired)
                add("failure", "z3-file-missing", f"gobd/{rel} is missing", key=f"gobd/{rel}")
            continue
        if obj_stat is not None and (named_stat.st_dev, named_stat.st_ino) == (obj_stat.st_dev, obj_stat.st_ino):
            continue  # a hard link to the object: its bytes are hashed by the verifier already
        with open(named, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != sha:
                add("failure", "z3-document-mismatch", f"gobd/{rel}: its bytes are not the archived document",
                    key=f"gobd/{rel}", expected=sha)


def _stat(path: str):
    try:
        return os.stat(path)
    except OSError:
        return None
