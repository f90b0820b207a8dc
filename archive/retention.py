"""Retention decisions after the fact: raising the locks of a year's entries, and checking them.

Tax law counts a Beleg's retention from the end of the year it was received or booked; municipal
budget law counts it from 1 January after the council's Feststellung of the annual accounts
(§ 59 (2) KomHVO NRW, § 36 GemKVO Hessen), which comes years later, and § 147 (3) AO suspends
expiry while an assessment is open. So the longer clock is only known later. An *extension
decision* says: "every entry of these retention classes whose retention base falls in these
years, archived before this decision, is kept until U". ``extend_retention`` raises the
COMPLIANCE retain-until of every object concerned (S3 allows raising it, never lowering it) and
then archives the decision itself as an entry (``retention-extension:...``) whose own retention
is exactly U, so the decision lives as long as what it extends. ``apply_extensions`` is the
verifier's side: it reads the decisions from the signed leaves and raises what each object and
page must be locked for, so ``verify --check-lock`` fails when an object's lock ends before the
latest decision that covers it.

Order of the writes: locks first, then the decision, then the entries archived meanwhile. A
crash in between leaves locks longer than any decision says (harmless; run it again), never a
decision whose locks were not raised. This module must never lower a lock, never delete, and
never know what an invoice is.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Iterable

from . import log
from .errors import ArchiveError
from .model import ArchiveDocument, EntryInput, EntryReceipt, RetentionPolicy, object_key, parse_utc, utc_iso

PREFIX = "retention-extension:"
EVENT = "retention-extension"
DOCUMENT = "retention-extension.json"
FORMAT = "einvoice-archive retention-extension/1"


@dataclass(frozen=True)
class Decision:
    """One extension decision as the leaf states it."""

    seq: int
    classes: frozenset[str]
    base_years: frozenset[int]
    until: datetime

    def covers(self, seq: int, retention: dict[str, Any]) -> bool:
        try:
            year = int(str(retention["base"])[:4])
        except (KeyError, TypeError, ValueError):
            return False
        return seq < self.seq and retention.get("class") in self.classes and year in self.base_years


@dataclass
class ExtensionResult:
    decision: EntryReceipt
    until: datetime
    affected_entries: int
    objects_raised: int


def decision_from_leaf(seq: int, rec: dict[str, Any]) -> tuple[Decision | None, str | None]:
    """(decision, None), (None, why it is malformed), or (None, None) for a leaf that is no decision."""
    if not str(rec.get("entry_id", "")).startswith(PREFIX):
        return None, None
    md = rec.get("metadata") or {}
    try:
        if md.get("event") != EVENT:
            raise ValueError(f"metadata event is {md.get('event')!r}, not {EVENT!r}")
        classes = md["retention_classes"]
        years = md["base_years"]
        if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
            raise ValueError("retention_classes is not a non-empty list of names")
        if not (isinstance(years, list) and years and all(isinstance(y, int) and not isinstance(y, bool)
                                                          for y in years)):
            raise ValueError("base_years is not a non-empty list of years")
        until = parse_utc(md["retain_until"])
        if md["retain_until"] != rec["retention"]["until"]:
            # The decision must itself be kept exactly as long as what it extends.
            raise ValueError(f"retain_until {md['retain_until']} differs from the decision's own retention "
                             f"{rec['retention']['until']}")
    except (KeyError, TypeError, ValueError) as exc:
        return None, str(exc)
    return Decision(seq, frozenset(classes), frozenset(years), until), None


# ------------------------------------------------------------------ writing
def _leaves(arch, first_seq: int, end_seq: int) -> Iterable[tuple[int, str, dict[str, Any]]]:
    """(seq, page key, record) of the leaves first_seq..end_seq-1, read page by page."""
    with arch._lock:
        starts = list(arch._sync().page_starts)
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else None
        if (end is not None and end <= first_seq) or start >= end_seq:
            continue
        key = log.page_key(start)
        raw = arch.store.get(key)
        if raw is None:
            raise ArchiveError(f"page {key} is missing: cannot tell which entries the decision covers", kind="io")
        for j, line in enumerate(log.split_page(raw)):
            seq = start + j
            if first_seq <= seq < end_seq:
                yield seq, key, log.decode_leaf(line)


def _raise_locks(arch, keys: Iterable[str], until: datetime) -> int:
    def one(key: str) -> int:
        info = arch.store.lock_info(key)
        if info is None:
            return 0  # a document deleted after its retention ended: nothing left to keep
        if info.mode == "COMPLIANCE" and info.retain_until is not None and info.retain_until >= until:
            return 0
        arch.store.extend_retention(key, until)
        return 1

    return sum(arch._executor().map(one, sorted(set(keys))))


def extend_retention(arch, classes: list[str], base_years: list[int], counted_from: date, *,
                     years: int | None = None, reason: str, reference: str = "", decided_by: str = "",
                     now: datetime | None = None) -> ExtensionResult:
    """Keep every entry of ``classes`` with a retention base in ``base_years`` until the end of
    the year of ``counted_from`` plus ``years`` (default: the longest of the classes' years).

    E.g. KomHVO NRW after the Feststellung of the 2026 accounts on 2029-06-15: classes
    ["invoice", "approval-trail", "payment-file"], base_years [2026], counted_from 2029-06-15,
    years 6 -> kept until 2036-01-01. Raises the locks of their documents and of the log, then
    archives the decision. Never shortens anything: a decision that ends earlier than an entry's
    own retention changes nothing for that entry.
    """
    if arch.read_only:
        raise ArchiveError("this archive view is read-only")
    if arch.store.kind != "s3":
        raise ArchiveError("extend-retention needs a bucket with Object Lock", kind="usage")
    classes = sorted(set(classes))
    base_years = sorted(set(int(y) for y in base_years))
    if not classes or not base_years:
        raise ArchiveError("name at least one retention class and one base year")
    if not reason or not reason.strip():
        raise ArchiveError("a retention extension needs a reason (e.g. the council's decision and its date)")
    if years is None:
        unknown = [c for c in classes if c not in arch.policy.classes]
        if unknown:
            raise ArchiveError(f"unknown retention class(es) {unknown}: give --years, or configure them "
                               f"(known: {sorted(arch.policy.classes)})")
        years = max(arch.policy.classes[c] for c in classes)
    now = now or datetime.now(timezone.utc)
    problem = RetentionPolicy.check_base(counted_from, years, now)
    if problem is not None:
        raise ArchiveError(f"retention extension: {problem}")
    until = RetentionPolicy.retain_until(counted_from, years)
    probe = Decision(1 << 62, frozenset(classes), frozenset(base_years), until)

    def scan(first: int, end: int) -> tuple[list[tuple[int, str]], set[str]]:
        affected: list[tuple[int, str]] = []
        keys: set[str] = set()
        for seq, _, rec in _leaves(arch, first, end):
            if probe.covers(seq, rec["retention"]):
                affected.append((seq, rec["entry_id"]))
                keys.update(object_key(d["sha256"]) for d in rec["documents"])
        # Every log object: the tree of every later root needs every page, checkpoint and segment.
        keys.update(arch.store.list("log/"))
        return affected, keys

    size = arch.size
    affected, keys = scan(0, size)
    raised = _raise_locks(arch, keys, until)
    stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
    doc = {"format": FORMAT, "retention_classes": classes, "base_years": base_years,
           "counted_from": counted_from.isoformat(), "years": years, "retain_until": utc_iso(until),
           "reason": reason, "reference": reference, "decided_by": decided_by, "decided_at": utc_iso(now),
           "rule": "entries of these classes with a retention base in these years, archived before this decision",
           "affected": [{"seq": s, "entry_id": e} for s, e in affected]}
    entry = EntryInput(
        entry_id=f"{PREFIX}{'+'.join(classes)}:{'+'.join(map(str, base_years))}:{stamp}",
        documents=[ArchiveDocument(DOCUMENT, "application/json",
                                   (json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode())],
        metadata={"event": EVENT, "retention_classes": classes, "base_years": base_years,
                  "counted_from": counted_from.isoformat(), "years": years, "retain_until": utc_iso(until),
                  "reason": reason, "reference": reference, "decided_by": decided_by,
                  "affected_entries": len(affected)},
        retention_class=classes[0], retention_years=years, retention_base=counted_from)
    receipt = arch.append([entry])[0]
    # Entries other writers archived between the scan and the decision are covered too.
    late, late_keys = scan(size, receipt.sequence)
    raised += _raise_locks(arch, late_keys, until)
    return ExtensionResult(receipt, until, len(affected) + len(late), raised)


# ------------------------------------------------------------------ verifying
def apply_extensions(store, ordered_pages: list[str], entry_ids: list[str | None],
                     referenced: dict[str, list[tuple]], page_until: dict[str, datetime], add) -> int:
    """Raise the required retain-until of documents and pages by the decisions in the log.

    ``referenced`` (sha256 -> [(position, name, size, until or "out-of-scope")]) and
    ``page_until`` are the verifier's; ``add(severity, code, message, key=...)`` reports a
    malformed decision. Returns the number of valid decisions. Reads the pages again only
    when the log holds a decision (found by its entry id).
    """
    if not any(isinstance(e, str) and e.startswith(PREFIX) for e in entry_ids):
        return 0
    leaves: list[tuple[int, str, dict[str, Any]]] = []
    decisions: list[Decision] = []
    for key in ordered_pages:
        first = log.page_first(key)
        raw = store.get(key)
        if raw is None:
            continue  # reported by the verifier already
        for j, line in enumerate(raw.rstrip(b"\n").split(b"\n")):
            try:
                rec = log.decode_leaf(line)
            except ArchiveError:
                continue  # reported by the verifier already
            leaves.append((first + j, key, rec))
            decision, problem = decision_from_leaf(first + j, rec)
            if problem is not None:
                add("failure", "retention-extension-invalid", f"leaf {first + j} ({rec['entry_id']}) is not a valid "
                    f"retention extension decision: {problem}", key=key)
            elif decision is not None:
                decisions.append(decision)
    if not decisions:
        return 0
    page_first = {key: log.page_first(key) for key in ordered_pages}
    for d in decisions:
        raised: dict[int, datetime] = {}
        for seq, _key, rec in leaves:
            if d.covers(seq, rec["retention"]):
                raised[seq] = d.until
        for _sha, refs in referenced.items():
            for i, (pos, name, size, until) in enumerate(refs):
                if pos in raised and isinstance(until, datetime) and until < d.until:
                    refs[i] = (pos, name, size, d.until)
        for key, first in page_first.items():
            if first < d.seq and (key not in page_until or page_until[key] < d.until):
                page_until[key] = d.until
    return len(decisions)
