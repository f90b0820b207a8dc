"""Layout of the log in a bucket or export directory, and the encoding of its records.

Keys (all written once, never overwritten)::

    objects/sha256/<hex>                     document bytes exactly as received
    log/leaves/<first seq, 12 digits>.jsonl  a *page*: the leaves of one append batch, one
                                             canonical-JSON leaf per line, seq first..first+n-1
    log/checkpoints/<tree size, 12 digits>.json   signed checkpoint after that batch
    log/index/<first>-<end>.json             derived lookup segment (entry ids, leaf hashes,
                                             page starts) so a writer or prover need not
                                             re-read every page; checked by the verifier
    log/timestamps/<tree size, 12 digits>.tsr     RFC 3161 time-stamp response over the bytes
                                             of the checkpoint of that size (archive.timestamp)

Why pages and not one object per leaf: the conditional PUT of the page is the single
serialisation point between writers (``If-None-Match: *`` on the key of the next sequence
number). One locked PUT per leaf would cap appends at the sequential PUT rate (~130/s here);
one per batch leaves the parallel document PUTs as the only per-entry cost. Each leaf is still
its own RFC 9162 leaf (leaf hash = SHA-256(0x00 || line bytes)) with its own inclusion proof.

A page key is the first sequence number it holds, and a writer only writes the page that starts
where the last page it read ends. So page keys form one chain: a second writer racing for the
same position gets 412 and can never fork the log. This module must never perform I/O.
"""
from __future__ import annotations

import re
from typing import Any

from . import canonical, merkle
from .errors import ArchiveError

LEAVES = "log/leaves/"
CHECKPOINTS = "log/checkpoints/"
INDEX = "log/index/"
TIMESTAMPS = "log/timestamps/"
SEGMENT_SIZE = 5000  # entries per index segment: ~200 GETs to load 1,000,000 entries

_PAGE_RE = re.compile(r"log/leaves/([0-9]{12})\.jsonl")
_CP_RE = re.compile(r"log/checkpoints/([0-9]{12})\.json")
_SEG_RE = re.compile(r"log/index/([0-9]{12})-([0-9]{12})\.json")
_TS_RE = re.compile(r"log/timestamps/([0-9]{12})\.tsr")


def page_key(first: int) -> str:
    return f"{LEAVES}{first:012d}.jsonl"


def checkpoint_key(size: int) -> str:
    return f"{CHECKPOINTS}{size:012d}.json"


def segment_key(first: int, end: int) -> str:
    return f"{INDEX}{first:012d}-{end:012d}.json"


def timestamp_key(size: int) -> str:
    return f"{TIMESTAMPS}{size:012d}.tsr"


def parse_timestamp_key(key: str) -> int | None:
    m = _TS_RE.fullmatch(key)
    return int(m.group(1)) if m else None


def parse_page_key(key: str) -> int | None:
    m = _PAGE_RE.fullmatch(key)
    return int(m.group(1)) if m else None


def page_first(key: str) -> int:
    """The first sequence number of ``key``, which the caller already knows to be a page key."""
    first = parse_page_key(key)
    if first is None:
        raise ValueError(f"{key!r} is not a page key")  # a caller's bug: pages are listed by parse_page_key
    return first


def parse_checkpoint_key(key: str) -> int | None:
    m = _CP_RE.fullmatch(key)
    return int(m.group(1)) if m else None


def checkpoint_size(key: str) -> int:
    """The tree size of ``key``, which the caller already knows to be a checkpoint key."""
    size = parse_checkpoint_key(key)
    if size is None:
        raise ValueError(f"{key!r} is not a checkpoint key")  # a caller's bug: listed by parse_checkpoint_key
    return size


def parse_segment_key(key: str) -> tuple[int, int] | None:
    m = _SEG_RE.fullmatch(key)
    return (int(m.group(1)), int(m.group(2))) if m else None


def segment_bounds(key: str) -> tuple[int, int]:
    """(first, end) of ``key``, which the caller already knows to be an index segment key."""
    bounds = parse_segment_key(key)
    if bounds is None:
        raise ValueError(f"{key!r} is not an index segment key")  # a caller's bug: listed by parse_segment_key
    return bounds


def encode_page(leaves: list[bytes]) -> bytes:
    return b"".join(leaf + b"\n" for leaf in leaves)


def split_page(data: bytes) -> list[bytes]:
    """The leaf lines of a page; a page must end with a newline (else it was truncated)."""
    if not data.endswith(b"\n"):
        raise ArchiveError("page does not end with a newline (truncated)", kind="integrity")
    return data[:-1].split(b"\n")


def leaf_hash(leaf: bytes) -> bytes:
    return merkle.hash_leaf(leaf)


_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_hex64(text: str) -> bool:
    return _HEX64.fullmatch(text) is not None


def _bad(msg: str) -> ArchiveError:
    return ArchiveError(msg, kind="integrity")


_LEAF_FIELDS = ("v", "seq", "entry_id", "appended_at", "documents", "metadata", "retention", "prev_leaf_hash")
_LEAF_FIELD_SET = frozenset(_LEAF_FIELDS)


def decode_leaf(leaf: bytes) -> dict[str, Any]:
    """Decode a leaf and check its shape (schemas/archive-leaf.schema.json says the same in JSON Schema)."""
    # Written out check by check (no generators): the verifier runs this once per leaf.
    rec = canonical.loads(leaf)
    if not isinstance(rec, dict):
        raise _bad("leaf is not a JSON object")
    if not _LEAF_FIELD_SET.issubset(rec):
        for name in _LEAF_FIELDS:
            if name not in rec:
                raise _bad(f"leaf lacks field {name!r}")
    if rec["v"] != 1:
        raise _bad(f"leaf version {rec['v']!r} is not 1")
    seq = rec["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise _bad(f"leaf seq {seq!r} is not a non-negative integer")
    entry_id = rec["entry_id"]
    if not isinstance(entry_id, str) or not entry_id:
        raise _bad("leaf entry_id is not a non-empty string")
    prev = rec["prev_leaf_hash"]
    if prev is not None and not (isinstance(prev, str) and _HEX64.fullmatch(prev)):
        raise _bad(f"leaf prev_leaf_hash {prev!r} is not 64 lowercase hex digits or null")
    documents = rec["documents"]
    if not isinstance(documents, list):
        raise _bad("leaf documents is not a list")
    for i, d in enumerate(documents):
        if not isinstance(d, dict) or not isinstance(d.get("name"), str) or not isinstance(d.get("media_type"), str):
            raise _bad(f"leaf document {i} lacks a name or media_type")
        sha = d.get("sha256")
        if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
            raise _bad(f"leaf document {i} sha256 {sha!r} is not 64 lowercase hex digits")
        size = d.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _bad(f"leaf document {i} size {size!r} is not a non-negative integer")
    if not isinstance(rec["metadata"], dict):
        raise _bad("leaf metadata is not an object")
    ret = rec["retention"]
    if not (isinstance(ret, dict) and isinstance(ret.get("class"), str) and isinstance(ret.get("years"), int)
            and isinstance(ret.get("base"), str) and isinstance(ret.get("until"), str)):
        raise _bad("leaf retention lacks class, years, base or until")
    return rec
