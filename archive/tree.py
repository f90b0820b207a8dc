"""An append-only store of RFC 9162 subtree hashes that answers proofs in O(log^2 n).

Level 0 holds the leaf hashes, level h the roots of the complete, aligned subtrees of 2**h
leaves. Any range the RFC recursion asks for is a run of such subtrees, so roots, inclusion and
consistency proofs never re-read or re-hash every leaf (1,000,000 leaves: ~64 MB, proofs in
microseconds). Levels can be saved to and loaded from a file so a proof server or auditor does
not rebuild them. This module must never decide whether a proof is valid: that is merkle.py.
"""
from __future__ import annotations

import mmap
from pathlib import Path
from typing import Iterable

from . import merkle

HASH_LEN = 32
_MAGIC = b"ARCHTREE1\n"


class TreeStore:
    def __init__(self) -> None:
        self.levels: list[bytearray] = [bytearray()]

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> "TreeStore":
        """The same levels ``append`` builds one leaf at a time, computed a level at a time (verifier)."""
        hashes = list(leaf_hashes)
        for h in hashes:
            if len(h) != HASH_LEN:
                raise ValueError(f"leaf hash must be {HASH_LEN} bytes, got {len(h)}")
        t = cls()
        level = t.levels[0]
        level += b"".join(hashes)
        # Level h+1 holds one node per complete pair of level h (an odd last node waits for its sibling).
        while len(level) >= 2 * HASH_LEN:
            flat = bytes(level)
            pair = 2 * HASH_LEN
            level = bytearray(b"".join([merkle.hash_children(flat[i:i + HASH_LEN], flat[i + HASH_LEN:i + pair])
                                        for i in range(0, len(flat) - pair + 1, pair)]))
            t.levels.append(level)
        return t

    def __len__(self) -> int:
        return len(self.levels[0]) // HASH_LEN

    def _node(self, level: int, i: int) -> bytes:
        return bytes(self.levels[level][i * HASH_LEN:(i + 1) * HASH_LEN])

    def leaf_hash(self, index: int) -> bytes:
        return self._node(0, index)

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash; completes every subtree this leaf closes (amortised one hash)."""
        if len(leaf_hash) != HASH_LEN:
            raise ValueError(f"leaf hash must be {HASH_LEN} bytes, got {len(leaf_hash)}")
        i = len(self)
        self.levels[0] += leaf_hash
        h = 0
        node = leaf_hash
        # Leaf i closes a subtree at level h+1 while its index at level h is odd.
        while i & 1:
            left = self._node(h, i - 1)
            node = merkle.hash_children(left, node)
            h += 1
            if len(self.levels) <= h:
                self.levels.append(bytearray())
            self.levels[h] += node
            i >>= 1

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range the RFC 9162 recursion produces (start aligned)."""
        n = end - start
        if n <= 0:
            return merkle.EMPTY_ROOT
        if end > len(self):
            raise ValueError(f"range [{start}, {end}) exceeds tree size {len(self)}")
        if n & (n - 1) == 0 and start % n == 0:
            level = n.bit_length() - 1
            return self._node(level, start >> level)
        k = merkle.largest_power_of_two_below(n)
        return merkle.hash_children(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        return self.subtree(0, len(self) if size is None else size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return merkle.inclusion_path(index, len(self) if size is None else size, self.subtree)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        return merkle.consistency_path(old_size, len(self) if new_size is None else new_size, self.subtree)

    # -- persistence: a flat file of levels so a 1,000,000-leaf store loads by mmap, not rehashing
    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            f.write(_MAGIC + len(self.levels).to_bytes(1, "big"))
            for lvl in self.levels:
                f.write(len(lvl).to_bytes(8, "big"))
            for lvl in self.levels:
                f.write(lvl)

    @classmethod
    def load(cls, path: Path) -> "TreeStore":
        with open(path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if mm[:len(_MAGIC)] != _MAGIC:
            raise ValueError(f"{path} is not a tree store file")
        pos = len(_MAGIC)
        count = mm[pos]
        pos += 1
        sizes = [int.from_bytes(mm[pos + 8 * i:pos + 8 * i + 8], "big") for i in range(count)]
        pos += 8 * count
        t = cls()
        t.levels = []
        for s in sizes:
            # memoryview slices of the mmap: read-only and loaded lazily by the OS. Only read, never
            # appended to (a loaded tree serves proofs), so the bytearray type of ``levels`` holds for use.
            t.levels.append(memoryview(mm)[pos:pos + s])  # type: ignore[arg-type]
            pos += s
        return t
