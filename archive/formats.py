"""Byte formats that writer and verifiers share: the checkpoint codec and the page intent codec.

Both the writer (``archive.writer``) and the verifiers (``archive.verify``, ``archive.proof``)
import this module, so a verifier never has to import the writer to read what it wrote.

* **Checkpoint** (``log/checkpoints/<tree size>.json``): canonical JSON of exactly
  ``{v, tree_size, root_hash, timestamp, key_id, signature}``; the Ed25519 signature covers
  ``"einvoice-archive checkpoint v1\\n" || canonical JSON of the five other fields``.
* **Page intent** (``log/intents/<first seq>-<SHA-256 of the page bytes>.json``): written by the
  writer *before* the page it announces, canonical JSON of exactly
  ``{v, first, count, page_sha256, key_id, signature}``; the signature covers
  ``"einvoice-archive page v1\\n" || canonical JSON of the five other fields``. A page counts as
  written by the archive only if a valid intent names its exact bytes (or a valid checkpoint
  covers its leaves). Whoever can PUT objects but lacks the signing key cannot make one.

Decoding is strict on purpose: the signature covers the fields as numbers and strings, so a
looser reader would accept other bytes with the same signature ("tree_size":"5", Unicode digits,
extra keys). This module must never perform I/O.
"""
from __future__ import annotations

import re

from . import canonical, log
from .errors import ArchiveError
from .model import Checkpoint, parse_utc

CHECKPOINT_DOMAIN = b"einvoice-archive checkpoint v1\n"
INTENT_DOMAIN = b"einvoice-archive page v1\n"
INTENTS = "log/intents/"

_CHECKPOINT_FIELDS = frozenset({"v", "tree_size", "root_hash", "timestamp", "key_id", "signature"})
_INTENT_FIELDS = frozenset({"v", "first", "count", "page_sha256", "key_id", "signature"})
_INTENT_RE = re.compile(r"log/intents/([0-9]{12})-([0-9a-f]{64})\.json")


def decode_checkpoint(raw: bytes) -> Checkpoint:
    """The checkpoint in ``raw``, which must be exactly the canonical encoding of its fields."""
    d = canonical.loads(raw)
    if not isinstance(d, dict) or set(d) != _CHECKPOINT_FIELDS:
        found = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise ArchiveError(f"checkpoint must have exactly the fields {sorted(_CHECKPOINT_FIELDS)}, found {found}",
                           kind="integrity")
    size = d["tree_size"]
    problems = []
    if d["v"] != 1 or isinstance(d["v"], bool):
        problems.append(f"version {d['v']!r} is not 1")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        problems.append(f"tree_size {size!r} is not a non-negative integer")
    if not (isinstance(d["root_hash"], str) and log.is_hex64(d["root_hash"])):
        problems.append(f"root_hash {d['root_hash']!r} is not 64 lowercase hex digits")
    try:
        parse_utc(d["timestamp"])
    except ValueError as exc:
        problems.append(str(exc))
    for name in ("key_id", "signature"):
        if d[name] is not None and not isinstance(d[name], str):
            problems.append(f"{name} {d[name]!r} is not a string")
    if problems:
        raise ArchiveError("checkpoint is malformed: " + "; ".join(problems), kind="integrity")
    cp = Checkpoint(tree_size=size, root_hash=d["root_hash"], timestamp=d["timestamp"], key_id=d["key_id"],
                    signature=d["signature"], raw=raw)
    if canonical.dumps(cp.to_dict()) != raw:
        raise ArchiveError("checkpoint bytes are not the canonical encoding of its fields (edited)", kind="integrity")
    return cp


def intent_key(first: int, page_sha256: str) -> str:
    return f"{INTENTS}{first:012d}-{page_sha256}.json"


def parse_intent_key(key: str) -> tuple[int, str] | None:
    m = _INTENT_RE.fullmatch(key)
    return (int(m.group(1)), m.group(2)) if m else None


def intent_body(first: int, count: int, page_sha256: str, key_id: str | None) -> dict:
    return {"v": 1, "first": first, "count": count, "page_sha256": page_sha256, "key_id": key_id}


def decode_intent(raw: bytes) -> dict:
    """The intent in ``raw`` (strict, like a checkpoint); the caller checks the signature."""
    d = canonical.loads(raw)
    if not isinstance(d, dict) or set(d) != _INTENT_FIELDS:
        found = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise ArchiveError(f"page intent must have exactly the fields {sorted(_INTENT_FIELDS)}, found {found}",
                           kind="integrity")
    for name in ("first", "count"):
        if not isinstance(d[name], int) or isinstance(d[name], bool) or d[name] < 0:
            raise ArchiveError(f"page intent {name} {d[name]!r} is not a non-negative integer", kind="integrity")
    if d["v"] != 1 or isinstance(d["v"], bool) or not (isinstance(d["page_sha256"], str)
                                                       and log.is_hex64(d["page_sha256"])) \
            or not isinstance(d["key_id"], str) or not isinstance(d["signature"], str):
        raise ArchiveError("page intent is malformed (v, page_sha256, key_id or signature)", kind="integrity")
    if canonical.dumps(d) != raw:
        raise ArchiveError("page intent bytes are not the canonical encoding of its fields", kind="integrity")
    return d


def encode_intent(private_key, first: int, count: int, page_sha256: str) -> bytes:
    """The signed intent for a page of ``count`` leaves at ``first`` whose bytes hash to ``page_sha256``."""
    from . import signing

    body = intent_body(first, count, page_sha256, signing.key_id(private_key.public_key()))
    return canonical.dumps({**body, "signature": signing.sign_body(private_key, body, INTENT_DOMAIN)})


def intent_problem(ring: dict, raw: bytes | None, first: int, count: int, page_sha256: str) -> str | None:
    """None if ``raw`` is a valid intent, signed by a key of ``ring`` (key id -> public key), for
    exactly this page (position, leaf count, SHA-256 of its bytes); else why not."""
    from . import signing

    if raw is None:
        return "no signed intent names these page bytes"
    try:
        d = decode_intent(raw)
    except ArchiveError as exc:
        return str(exc)
    if (d["first"], d["count"], d["page_sha256"]) != (first, count, page_sha256):
        return (f"the intent names page {d['first']} with {d['count']} leaves and SHA-256 {d['page_sha256']}, "
                f"not page {first} with {count} leaves and SHA-256 {page_sha256}")
    key = ring.get(d["key_id"])
    if key is None:
        return f"the intent is signed by key {d['key_id']}, which is not one of the trusted keys"
    body = intent_body(first, count, page_sha256, d["key_id"])
    if not signing.signature_valid(key, body, d["signature"], INTENT_DOMAIN):
        return "the intent's signature does not verify"
    return None
