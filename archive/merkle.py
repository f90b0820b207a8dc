"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing, inclusion and consistency proofs.

Modelled on sigstore-python's ``merkle.py``: small pure functions, each doing one step of the
RFC, and one exception type (``InvalidProofError``) whose message says what was expected and
what was computed. Section numbers refer to RFC 9162:

* 2.1.1  leaf hash ``SHA-256(0x00 || leaf)``, interior node ``SHA-256(0x01 || left || right)``,
  the hash of the empty tree is ``SHA-256("")``.
* 2.1.3  inclusion proofs (audit paths) and their verification.
* 2.1.4  consistency proofs between two tree sizes and their verification.

Proof *generation* takes a ``subtree`` callable ``subtree(start, end) -> bytes`` returning
MTH(D[start:end]); ``archive.tree.TreeStore`` answers that in O(log n) from stored levels, and
``root_from_leaf_hashes`` is the plain recursive definition used to cross-check it.

This module must never skip or weaken a verification step, and never touch storage or I/O.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

Subtree = Callable[[int, int], bytes]


class InvalidProofError(Exception):
    """A Merkle proof does not verify; the message names the expected and computed values."""


def hash_leaf(leaf: bytes) -> bytes:
    """RFC 9162 2.1.1: the leaf hash is SHA-256 over 0x00 followed by the leaf bytes.

    The prefix separates leaves from interior nodes (second-preimage protection).
    """
    return hashlib.sha256(LEAF_PREFIX + leaf).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """RFC 9162 2.1.1: an interior node is SHA-256 over 0x01, the left and the right child."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The split point k of RFC 9162 2.1.1: the largest power of two strictly smaller than n (n>1)."""
    if n < 2:
        raise ValueError(f"split point needs n > 1, got {n}")
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) by the recursive definition of RFC 9162 2.1.1 (reference implementation, O(n))."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = largest_power_of_two_below(n)
    return hash_children(root_from_leaf_hashes(leaf_hashes[:k]), root_from_leaf_hashes(leaf_hashes[k:]))


def inclusion_path(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """RFC 9162 2.1.3.1: PATH(m, D[n]), the audit path for leaf ``index`` in a tree of ``size``.

    At each level the range splits at k; the proof takes the hash of the half that does *not*
    contain the leaf, and descends into the half that does. Collected top-down, returned
    bottom-up as the RFC orders it.
    """
    if not 0 <= index < size:
        raise InvalidProofError(f"leaf index {index} is outside a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = largest_power_of_two_below(hi - lo)
        if index - lo < k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


def consistency_path(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    """RFC 9162 2.1.4.1: PROOF(m, D[n]) = SUBPROOF(m, D[n], true) for 0 < m <= n.

    SUBPROOF descends towards the old tree's right edge; when the old tree is a complete
    subtree of the current range it is omitted if ``b`` is true (the verifier knows its root).
    """
    if not 0 < old_size <= new_size:
        raise InvalidProofError(f"consistency needs 0 < old size <= new size, got {old_size} and {new_size}")
    path: list[bytes] = []
    m, lo, hi, b = old_size, 0, new_size, True
    while True:
        n = hi - lo
        if m == n:
            if not b:
                path.append(subtree(lo, hi))
            break
        k = largest_power_of_two_below(n)
        if m <= k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo, m, b = lo + k, m - k, False
    path.reverse()
    return path


def _shift_until_lsb_set(fn: int, sn: int) -> tuple[int, int]:
    """Right-shift fn and sn together until fn's lowest bit is set or fn is 0 (RFC 9162 steps)."""
    while fn & 1 == 0 and fn != 0:
        fn >>= 1
        sn >>= 1
    return fn, sn


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, path: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.3.2 steps 1-4: fold the audit path into the root it implies."""
    if not 0 <= index < size:
        raise InvalidProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            raise InvalidProofError(f"inclusion proof for leaf {index} of {size} is too long: expected at most "
                                    f"the path length implied by the tree size, got {len(path)} hashes")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            fn, sn = _shift_until_lsb_set(fn, sn)
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProofError(f"inclusion proof for leaf {index} of {size} is too short: "
                                f"{len(path)} hashes do not reach the root")
    return r


def verify_inclusion(index: int, size: int, leaf_hash: bytes, path: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 2.1.3.2 step 5: the folded root must equal the signed root, else InvalidProofError."""
    computed = root_from_inclusion_proof(index, size, leaf_hash, path)
    if computed != root:
        raise InvalidProofError(f"inclusion proof for leaf {index} of {size}: expected root {root.hex()}, "
                                f"computed {computed.hex()}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       path: Sequence[bytes]) -> None:
    """RFC 9162 2.1.4.2: check that the tree of ``old_size`` is a prefix of the tree of ``new_size``."""
    if old_size > new_size:
        raise InvalidProofError(f"consistency: old size {old_size} is larger than new size {new_size} (log shrank)")
    if old_size == new_size:
        # Same size: the proof is empty and the roots must be identical.
        if path:
            raise InvalidProofError(f"consistency proof between equal sizes {old_size} must be empty, "
                                    f"got {len(path)} hashes")
        if old_root != new_root:
            raise InvalidProofError(f"two roots for tree size {old_size}: expected {old_root.hex()}, "
                                    f"computed {new_root.hex()} (fork)")
        return
    if old_size == 0:
        # Every tree extends the empty tree; RFC 9162 defines no proof for it.
        if path:
            raise InvalidProofError("consistency proof from the empty tree must be empty")
        return
    if not path:
        raise InvalidProofError(f"consistency proof {old_size} -> {new_size} is empty")
    # Step 2: if the old tree is a complete subtree, its root is the first node of the walk.
    nodes = list(path)
    if old_size & (old_size - 1) == 0:
        nodes.insert(0, old_root)
    # Steps 3-4.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = nodes[0]
    # Step 6.
    for c in nodes[1:]:
        if sn == 0:
            raise InvalidProofError(f"consistency proof {old_size} -> {new_size} is too long ({len(path)} hashes)")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            fn, sn = _shift_until_lsb_set(fn, sn)
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise InvalidProofError(f"consistency proof {old_size} -> {new_size} is too short ({len(path)} hashes)")
    if fr != old_root:
        raise InvalidProofError(f"consistency {old_size} -> {new_size}: expected old root {old_root.hex()}, "
                                f"computed {fr.hex()}")
    if sr != new_root:
        raise InvalidProofError(f"consistency {old_size} -> {new_size}: expected new root {new_root.hex()}, "
                                f"computed {sr.hex()}")
