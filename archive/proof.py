"""Inclusion proofs an auditor can check offline: one JSON file, one public key.

A proof file carries the leaf (its exact bytes, as a UTF-8 string), the RFC 9162 audit path and
the signed checkpoint it leads to. ``verify_proof`` checks the checkpoint signature, that the
leaf hashes to the stated leaf hash, that the audit path folds to the signed root, and, if the
auditor passes document files, that each file's SHA-256 is one the leaf names. This module must
never accept a proof whose checkpoint is unsigned or signed by another key.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import canonical, merkle
from .errors import ArchiveError
from .formats import decode_checkpoint
from .problems import FAILURE, NOTE, Problem

PROOF_TYPE = "einvoice-archive-inclusion-proof"


def build_proof(reader, entry_id: str) -> dict[str, Any]:
    """The inclusion proof of ``entry_id`` against the latest checkpoint that covers it.

    ``reader``: an ``archive.writer.Archive`` (usually ``Archive.reader(store)``); passed in, so
    this module (which auditors use to check proofs) never imports the writer."""
    seq = reader.lookup(entry_id)
    if seq is None:
        raise ArchiveError(f"entry {entry_id!r} is not in the archive")
    cp = reader.latest_checkpoint()
    if cp is None or cp.tree_size <= seq:
        raise ArchiveError(f"entry {entry_id!r} (seq {seq}) is not covered by a signed checkpoint yet; "
                           f"run an append or `checkpoint` first", kind="usage")
    line, rec = reader.read_leaf(seq)
    path = reader.tree().inclusion_proof(seq, cp.tree_size)
    return {"v": 1, "type": PROOF_TYPE, "entry_id": entry_id, "leaf_index": seq, "tree_size": cp.tree_size,
            "leaf": line.decode("utf-8"), "leaf_hash": merkle.hash_leaf(line).hex(),
            "inclusion_path": [h.hex() for h in path], "checkpoint": canonical.loads(cp.raw)}


def verify_proof(proof: dict[str, Any], public_key, documents: Sequence[Path] = ()) -> list[Problem]:
    """Every problem of a proof file; no failure means the proof holds. ``public_key``: one or a list."""
    from . import signing

    ring = {signing.key_id(k): k for k in (public_key if isinstance(public_key, (list, tuple, set)) else [public_key])}

    def checkpoint_signed(ring, cp) -> bool:
        key = ring.get(cp.key_id)
        return key is not None and signing.signature_valid(key, cp.body(), cp.signature)

    out: list[Problem] = []

    def fail(code: str, msg: str, expected: Any = None, computed: Any = None) -> None:
        out.append(Problem(FAILURE, code, msg, None, None if expected is None else str(expected),
                           None if computed is None else str(computed)))

    try:
        if proof.get("type") != PROOF_TYPE:
            fail("proof-type", "not an archive inclusion proof", PROOF_TYPE, proof.get("type"))
            return out
        cp = decode_checkpoint(canonical.dumps(proof["checkpoint"]))
        leaf = proof["leaf"].encode("utf-8")
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        path = [bytes.fromhex(h) for h in proof["inclusion_path"]]
    except (KeyError, TypeError, ValueError, ArchiveError) as exc:
        fail("proof-unreadable", f"the proof file lacks or garbles a field: {exc}")
        return out
    if cp.key_id not in ring:
        fail("checkpoint-wrong-key", "the checkpoint names a signing key you did not give", " or ".join(sorted(ring)),
             cp.key_id)
    if not checkpoint_signed(ring, cp):
        fail("checkpoint-signature-invalid", "the checkpoint signature does not verify with the key it names")
    if cp.tree_size != size:
        fail("tree-size-mismatch", "the proof's tree size differs from the checkpoint's", cp.tree_size, size)
    computed_leaf_hash = merkle.hash_leaf(leaf).hex()
    if computed_leaf_hash != proof.get("leaf_hash"):
        fail("leaf-hash-mismatch", "the leaf bytes do not give the stated leaf hash", proof.get("leaf_hash"),
             computed_leaf_hash)
    try:
        rec = canonical.loads(leaf)
    except ArchiveError as exc:
        fail("leaf-unreadable", str(exc))
        rec = {}
    if rec.get("entry_id") != proof.get("entry_id") or rec.get("seq") != index:
        fail("leaf-identity-mismatch", "the leaf is not the one the proof names",
             f"{proof.get('entry_id')}@{index}", f"{rec.get('entry_id')}@{rec.get('seq')}")
    try:
        merkle.verify_inclusion(index, cp.tree_size, merkle.hash_leaf(leaf), path, bytes.fromhex(cp.root_hash))
    except (merkle.InvalidProofError, ValueError) as exc:
        fail("inclusion-invalid", str(exc))
    named = {d.get("sha256"): d.get("name") for d in rec.get("documents", [])}
    for doc in documents:
        try:
            h = hashlib.sha256(Path(doc).read_bytes()).hexdigest()
        except OSError as exc:
            raise ArchiveError(f"cannot read document {doc}: {exc}", kind="io") from exc
        if h not in named:
            fail("document-not-in-entry", f"{doc} is not one of the documents of entry {proof.get('entry_id')!r}",
                 sorted(named), h)
        else:
            out.append(Problem(NOTE, "document-matches", f"{doc} is document {named[h]!r} of the entry"))
    return out
