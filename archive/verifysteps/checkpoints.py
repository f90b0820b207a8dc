"""Steps over the signed checkpoints: rebuild the RFC 9162 tree from the leaf hashes, read every
checkpoint strictly, check its key, Ed25519 signature, name and root, the consistency proof and
time order between consecutive valid ones, the pages beyond the latest (signed intents), a
checkpoint the auditor trusts, a witness and the keys' validity periods. Never writes."""
from __future__ import annotations

from datetime import datetime

from .. import formats, log, merkle, signing
from ..errors import ArchiveError
from ..formats import decode_checkpoint
from ..model import Checkpoint, parse_utc, utc_iso
from ..problems import FAILURE, NOTE, ORPHAN
from ..tree import TreeStore
from .audit import Audit, PageSeen, checkpoint_signed


def read_checkpoints(audit: Audit) -> None:
    """The tree from the leaf hashes; every checkpoint read and decoded strictly (exactly the
    canonical encoding of its typed fields), in order of the size its name states."""
    report = audit.report
    audit.tree = TreeStore.from_leaf_hashes(audit.leaves.hashes)
    for key in sorted(audit.keys.checkpoints, key=log.checkpoint_size):
        raw = audit.store.get(key)
        if raw is None:
            report.add(FAILURE, "checkpoint-unreadable", f"{key} was listed but cannot be read", key=key)
            continue
        try:
            cp = decode_checkpoint(raw)  # strict: exactly the canonical encoding of its typed fields
        except ArchiveError as exc:
            report.add(FAILURE, "checkpoint-malformed", f"{key}: {exc} (its bytes were edited)", key=key)
            continue
        audit.checkpoints.append((key, cp))
    report.checkpoints = len(audit.checkpoints)


def check_signatures(audit: Audit) -> None:
    """Each checkpoint names a key you gave, is signed by it, states the size its name says, and
    its root is the root of the leaves at that size; two valid roots for one size are a fork.
    The valid ones go on to the next steps."""
    roots_by_size: dict[int, tuple[str, str]] = {}
    for key, cp in audit.checkpoints:
        if _checkpoint_valid(audit, key, cp):
            prior = roots_by_size.get(cp.tree_size)
            if prior and prior[1] != cp.root_hash:
                audit.report.add(FAILURE, "fork", f"two signed roots for tree size {cp.tree_size}: {prior[0]} and "
                                 f"{key}", key=key, expected=prior[1], computed=cp.root_hash)
            roots_by_size[cp.tree_size] = (key, cp.root_hash)
            audit.good.append((key, cp))


def _checkpoint_valid(audit: Audit, key: str, cp: Checkpoint) -> bool:
    """Every finding about one checkpoint on its own (all of them, not only the first)."""
    report, ring, tree = audit.report, audit.ring, audit.tree
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
    return ok


def check_consistency(audit: Audit) -> None:
    """Between consecutive valid checkpoints: time never goes back, and the RFC 9162 consistency
    proof holds (what an auditor holding only the older checkpoint relies on, 2.1.4)."""
    tree = audit.tree
    for (k1, c1), (k2, c2) in zip(audit.good, audit.good[1:]):
        if c2.timestamp < c1.timestamp:
            audit.report.add(FAILURE, "checkpoint-time-reversed", f"{k2} (size {c2.tree_size}) is dated before "
                             f"{k1} (size {c1.tree_size})", key=k2, expected=f">= {c1.timestamp}",
                             computed=c2.timestamp)
        try:
            merkle.verify_consistency(c1.tree_size, c2.tree_size, bytes.fromhex(c1.root_hash),
                                      bytes.fromhex(c2.root_hash), tree.consistency_proof(c1.tree_size, c2.tree_size))
        except merkle.InvalidProofError as exc:
            audit.report.add(FAILURE, "checkpoint-inconsistent", f"{k1} -> {k2}: {exc}", key=k2)


def check_tail(audit: Audit) -> None:
    """The latest valid checkpoint; leaves beyond it must each be announced by a signed intent
    (an interrupted append) or they are a failure; leaves without any valid checkpoint, or
    documents without a log, are failures."""
    report, tree, good = audit.report, audit.tree, audit.good
    pages = audit.leaves.pages_seen
    if good:
        latest = good[-1][1]
        report.latest_checkpoint = {"tree_size": latest.tree_size, "root_hash": latest.root_hash,
                                    "timestamp": latest.timestamp}
        # Leaves beyond every checkpoint (valid or not) are an interrupted append; leaves that a
        # failing checkpoint claims are already reported as failures above.
        claimed = max([latest.tree_size] + [log.checkpoint_size(k) for k, _ in audit.checkpoints])
        if latest.tree_size < len(tree):
            _check_pages_beyond(audit, pages, latest.tree_size, claimed, len(tree))
    elif audit.leaves.hashes:
        report.add(FAILURE, "no-valid-checkpoint",
                   f"none of the {len(audit.leaves.hashes)} leaves is covered by a valid signed checkpoint (every "
                   f"checkpoint deleted or forged)")
        _check_pages_beyond(audit, pages, 0, 0, len(tree), orphan_ok=False)
    elif audit.keys.objects:
        report.add(FAILURE, "log-missing", f"{len(audit.keys.objects)} documents but no log: the pages and "
                   f"checkpoints were deleted (or hidden by delete markers)")


def _check_pages_beyond(audit: Audit, pages: list[PageSeen], signed: int, claimed: int, size: int,
                        orphan_ok: bool = True) -> None:
    """Pages beyond the latest valid checkpoint count only with a signed intent for their exact bytes.

    With every such page authenticated, the tail is what an interrupted append leaves (an orphan
    the next writer signs); a page without one was not written by the archive (a failure)."""
    bad = 0
    for key, first, count, sha in pages:
        if first + count <= signed or not sha:
            continue
        problem = formats.intent_problem(audit.ring, audit.store.get(formats.intent_key(first, sha)), first, count,
                                         sha)
        if problem is not None:
            bad += 1
            audit.report.add(FAILURE, "page-unauthenticated", f"{key} (leaves {first}..{first + count - 1}) is "
                             f"beyond every valid checkpoint and {problem}: it was not written by the archive's "
                             f"writer", key=key)
    if claimed < size and orphan_ok and not bad:
        audit.report.add(ORPHAN, "unsigned-tail", f"leaves {claimed}..{size - 1} are not covered by a signed "
                         f"checkpoint yet, but each page has its signed intent (interrupted append; the next append "
                         f"signs them)")


def note_unused_intents(audit: Audit) -> None:
    """Signed page intents that name no page read (a writer lost a race or stopped) are a note."""
    used = {formats.intent_key(first, sha) for _, first, _, sha in audit.leaves.pages_seen if sha}
    unused = [k for k in audit.keys.intents if k not in used]
    if unused:
        audit.report.add(NOTE, "intent-unused", f"{len(unused)} signed page intents name pages that were never "
                         f"written (a writer lost a race or stopped before its page); they authenticate nothing; "
                         f"first: {unused[0]}")


def check_trusted_checkpoint(audit: Audit) -> None:
    """A checkpoint the auditor saved earlier (``--trusted-checkpoint``): the log must still hold
    its leaves (no rollback) with the same root (no rewritten history)."""
    raw = audit.options.trusted_checkpoint
    if raw is None:
        return
    report, tree = audit.report, audit.tree
    try:
        cp = decode_checkpoint(raw)
    except ArchiveError as exc:
        report.add(FAILURE, "trusted-checkpoint-unreadable", str(exc))
        return
    if not checkpoint_signed(audit.ring, cp):
        report.add(FAILURE, "trusted-checkpoint-invalid", "the checkpoint you trust is not signed by a key you gave")
        return
    if cp.tree_size > len(tree):
        report.add(FAILURE, "rollback", f"a checkpoint you hold covers {cp.tree_size} leaves, the log now has "
                   f"{len(tree)}: the log was truncated or rolled back", expected=cp.tree_size, computed=len(tree))
    elif tree.root(cp.tree_size).hex() != cp.root_hash:
        report.add(FAILURE, "fork", f"the log at size {cp.tree_size} differs from the checkpoint you hold "
                   f"(rewritten history)", expected=cp.root_hash, computed=tree.root(cp.tree_size).hex())


def check_witness(audit: Audit) -> None:
    """The checkpoints a witness co-signed or kept (``archive.witness``) against the log."""
    witness = audit.options.witness
    if witness is None:
        return
    from ..witness import witness_findings

    good = audit.good
    try:
        found = witness_findings(witness, audit.tree, audit.ring, {cp.tree_size: cp.raw for _, cp in audit.checkpoints},
                                 good[-1][1].tree_size if good else None)
    except ArchiveError as exc:
        audit.report.add(FAILURE, "witness-unreadable", f"the witness {witness.describe()} cannot be read: {exc}")
        return
    for finding in found:
        audit.report.add(*finding)


def check_key_periods(audit: Audit) -> None:
    """Each checkpoint's timestamp must fall in the validity period of the key that signed it."""
    periods: dict[str, tuple[datetime | None, datetime | None]] | None = audit.options.key_periods
    if not periods:
        return
    for key, cp in audit.checkpoints:
        period = periods.get(cp.key_id) if cp.key_id is not None else None
        if period is None:
            continue
        start, end = period
        try:
            t = parse_utc(cp.timestamp)
        except ValueError:
            continue  # reported as malformed already
        if (start is not None and t < start) or (end is not None and t > end):
            shown = f"{utc_iso(start) if start else '…'} .. {utc_iso(end) if end else '…'}"
            audit.report.add(FAILURE, "key-outside-validity", f"{key} is signed by key {cp.key_id}, which is valid "
                             f"{shown} only", key=key, expected=shown, computed=cp.timestamp)
