"""Steps over the leaves: read every page in log order and check what relates leaves to each
other (page order, gaps, forks, the ``prev_leaf_hash`` chain, sequence numbers, duplicate entry
ids, follow-up links, retention dates), then apply the retention extensions the log records.

Parsing one leaf needs nothing but its bytes (``parse_page``), so a large export parses in worker
processes (``workers``); the checks here run in this process. Never writes.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any, NamedTuple

from .. import canonical, log, merkle
from ..errors import ArchiveError
from ..model import RetentionPolicy, parse_utc
from ..problems import FAILURE
from ..retention import apply_extensions
from .audit import Audit, PageSeen, epoch, read_many


class ParsedLeaf(NamedTuple):
    """Everything about one leaf that needs no other leaf. After a decode error only ``leaf_hash``
    and ``error`` are set."""

    leaf_hash: bytes
    error: str | None
    canonical: bool  # the bytes are exactly the canonical JSON of the record
    seq: int | None
    entry_id: str | None
    prev_leaf_hash: str | None
    retain_until: datetime | None
    retention_problem: tuple | None  # (code, message, expected, computed)
    relates_to: Any
    in_scope: bool  # within the years of an export
    documents: tuple[tuple[str, str, int], ...]  # (sha256, name, size)
    appended_at: str | None


class ParsedPage(NamedTuple):
    truncated: bool  # the page does not end with a newline
    leaves: list[ParsedLeaf]
    sha256: str  # of the page's bytes


def _retention(ret: dict[str, Any], cache: dict) -> tuple[datetime | None, tuple | None]:
    """(stored retain-until, problem) of a leaf's retention: it must follow from base date and years.

    Leaves share few distinct retention records (one per base date and class), so results are
    cached by value; the problem message leaves out the leaf position, which the caller adds.
    """
    cache_key = (ret["until"], ret["base"], ret["years"], type(ret["years"]))
    hit = cache.get(cache_key)
    if hit is None:
        try:
            until = parse_utc(ret["until"])
            computed = RetentionPolicy.retain_until(date.fromisoformat(ret["base"]), int(ret["years"]))
        except (KeyError, TypeError, ValueError) as exc:
            hit = (None, ("retention-invalid", f"unreadable retention ({exc})", None, None))
        else:
            hit = (until, None if computed == until else
                   ("retention-mismatch", f"retain-until does not follow from base {ret['base']} + "
                    f"{ret['years']} years", computed.isoformat(), until.isoformat()))
        if len(cache) < 100_000:
            cache[cache_key] = hit
    return hit


def _base_year(rec: dict[str, Any]) -> int | None:
    try:
        return int(rec["retention"]["base"][:4])
    except (KeyError, TypeError, ValueError):
        return None


def parse_leaf(line: bytes, scope_years: set[int] | None, cache: dict) -> ParsedLeaf:
    """One leaf's hash, shape, canonical form and retention (``cache``: see ``_retention``)."""
    lh = merkle.hash_leaf(line)
    try:
        rec = log.decode_leaf(line)
    except ArchiveError as exc:
        return ParsedLeaf(lh, str(exc), False, None, None, None, None, None, None, False, (), None)
    until, ret_problem = _retention(rec["retention"], cache)
    return ParsedLeaf(lh, None, canonical.encodes_to(rec, line), rec["seq"], rec["entry_id"], rec["prev_leaf_hash"],
                      until, ret_problem, rec.get("relates_to"),
                      scope_years is None or _base_year(rec) in scope_years,
                      tuple((d["sha256"], d["name"], d["size"]) for d in rec["documents"]), rec["appended_at"])


def parse_page(raw: bytes, scope_years: set[int] | None, cache: dict) -> ParsedPage:
    """The parsed leaves of a page; a page must end with a newline."""
    truncated = not raw.endswith(b"\n")
    lines = raw.split(b"\n") if truncated else raw[:-1].split(b"\n")
    return ParsedPage(truncated, [parse_leaf(line, scope_years, cache) for line in lines],
                      hashlib.sha256(raw).hexdigest())


def _parsed_pages(store, ordered: list[str], workers: int, scope_years: set[int] | None):
    """(key, None if unreadable else parse_page(...)) in page order, read a window at a time."""
    cache: dict = {}
    window = 256
    for w in range(0, len(ordered), window):
        chunk = ordered[w:w + window]
        pages = read_many(store, chunk, workers)
        for key in chunk:
            raw = pages[key]
            yield key, None if raw is None else parse_page(raw, scope_years, cache)


def read_leaves(audit: Audit) -> None:
    """Every page in log order (streamed; only hashes and ids are kept): unreadable pages, gaps,
    forks and truncated pages, then each leaf (``_check_leaf``); records which documents each leaf
    names and how long each page must be kept."""
    report, idx = audit.report, audit.leaves
    expected_seq = 0
    prev_key = None
    last_stamp: tuple[str | None, int | None] = (None, None)
    pages = audit.pool.pages() if audit.pool else _parsed_pages(audit.store, audit.keys.pages,
                                                                  audit.options.workers, audit.scope_years)
    for key, parsed in pages:
        first = log.page_first(key)
        if parsed is None:
            report.add(FAILURE, "page-unreadable", f"{key} was listed but cannot be read", key=key)
            continue
        if first > expected_seq:
            report.add(FAILURE, "sequence-gap", f"leaves {expected_seq}..{first - 1} are missing before {key}",
                       key=key, expected=f"page starting at seq {expected_seq}",
                       computed=f"next page starts at {first}")
        elif first < expected_seq:
            report.add(FAILURE, "fork", f"{key} claims seq {first}.. but seq up to {expected_seq - 1} is "
                       f"already held by {prev_key}: two versions of the same log positions", key=key,
                       expected=f"page starting at seq {expected_seq}", computed=f"page starting at seq {first}")
            continue
        idx.pages_seen.append(PageSeen(key, first, len(parsed.leaves), parsed.sha256))
        if parsed.truncated:
            report.add(FAILURE, "page-truncated", f"{key} does not end with a newline: the page was cut short",
                       key=key)
        page_max = None  # the longest retain-until of the page's leaves
        for i, leaf in enumerate(parsed.leaves):
            if leaf.appended_at != last_stamp[0]:  # the leaves of one batch share one time: parse it once
                last_stamp = (leaf.appended_at, epoch(leaf.appended_at))
            until = _check_leaf(audit, key, first, i, leaf, last_stamp[1])
            if until is not None and (page_max is None or until > page_max):
                page_max = until
        if page_max is not None:
            idx.page_until[key] = page_max
        expected_seq = first + len(parsed.leaves)
        prev_key = key
    report.leaves = len(idx.hashes)


def _check_leaf(audit: Audit, key: str, first: int, i: int, leaf: ParsedLeaf, appended: int | None) -> datetime | None:
    """Line ``i`` of page ``key``: readable, canonical, at its sequence number, chained to the leaf
    before it, a new entry id, its retention and its link to an earlier leaf. Returns its
    retain-until (None if unreadable)."""
    report, idx = audit.report, audit.leaves
    # The page name says where its leaves sit; after a gap this differs from the tree index
    # (len(hashes)), but naming the claimed position keeps one gap from flooding the report.
    position = first + i
    if leaf.error is not None:
        report.add(FAILURE, "leaf-unreadable", f"{key} line {i + 1} (seq {position}): {leaf.error}", key=key)
    prev = idx.hashes[-1].hex() if idx.hashes else None
    idx.hashes.append(leaf.leaf_hash)
    idx.times.append(appended)
    idx.entry_ids.append(leaf.entry_id)
    if leaf.error is not None:
        return None
    if not leaf.canonical:
        report.add(FAILURE, "leaf-not-canonical", f"{key} line {i + 1} (seq {position}) is not "
                   f"canonical JSON: its bytes were edited", key=key)
    if leaf.seq != position:
        report.add(FAILURE, "leaf-seq-mismatch", f"{key} line {i + 1}: the leaf at position {position} "
                   f"says seq {leaf.seq} (reordered, duplicated or moved leaf)", key=key,
                   expected=position, computed=leaf.seq)
    if leaf.prev_leaf_hash != prev:
        report.add(FAILURE, "chain-broken", f"leaf {position} ({key} line {i + 1}): its prev_leaf_hash "
                   f"is not the hash of the leaf before it (one of the two was changed)", key=key,
                   expected=leaf.prev_leaf_hash, computed=prev)
    eid = leaf.entry_id
    if eid in idx.seen_ids:
        report.add(FAILURE, "duplicate-entry", f"entry {eid!r} appears at seq {idx.seen_ids[eid]} and "
                   f"again at seq {position}", key=key)
    else:
        idx.seen_ids[eid] = position
    if leaf.retention_problem is not None:
        code, message, expected, computed = leaf.retention_problem
        report.add(FAILURE, code, f"leaf {position}: {message}", key=key, expected=expected, computed=computed)
    rel = leaf.relates_to
    if rel is not None:
        tgt = rel.get("seq") if isinstance(rel, dict) else None
        if not isinstance(tgt, int) or not 0 <= tgt < min(position, len(idx.entry_ids) - 1) \
                or idx.entry_ids[tgt] != rel.get("entry_id") \
                or idx.hashes[tgt].hex() != rel.get("leaf_hash"):
            report.add(FAILURE, "relation-broken", f"leaf {position} relates to {rel!r}, which does not "
                       f"match an earlier leaf", key=key)
    ref_until = leaf.retain_until if leaf.in_scope else "out-of-scope"
    for sha, name, size in leaf.documents:
        idx.referenced[sha].append((position, name, size, ref_until))
    return leaf.retain_until


def apply_retention_extensions(audit: Audit) -> None:
    """Retention extension decisions in the log raise what documents and pages must be kept for
    (``archive.retention``); a malformed decision is a finding."""
    idx = audit.leaves
    apply_extensions(audit.store, audit.keys.pages, idx.entry_ids, idx.referenced, idx.page_until, audit.report.add)
