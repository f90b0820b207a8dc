"""Step over the index segments (``log/index/``): derived data the writer and the prover rely on
must agree with the leaves (entry ids and leaf hashes). Never writes."""
from __future__ import annotations

from .. import canonical, log
from ..errors import ArchiveError
from ..problems import FAILURE
from .audit import Audit


def check_index_segments(audit: Audit) -> None:
    """Each segment is readable, covers leaves the log has, and names each leaf's id and hash."""
    report, hashes, entry_ids = audit.report, audit.leaves.hashes, audit.leaves.entry_ids
    for key in sorted(audit.keys.segments):
        first, end = log.segment_bounds(key)
        raw = audit.store.get(key)
        try:
            seg = canonical.loads(raw or b"")
            ids = seg["entries"]
            seg_hashes = bytes.fromhex(seg["leaf_hashes"])
        except (ArchiveError, KeyError, TypeError, ValueError) as exc:
            report.add(FAILURE, "index-unreadable", f"{key}: {exc}", key=key)
            continue
        if end > len(hashes) or len(ids) != end - first:
            report.add(FAILURE, "index-mismatch", f"{key} covers seq {first}..{end - 1} but the log has "
                       f"{len(hashes)} leaves", key=key)
            continue
        for i in range(end - first):
            stored = seg_hashes[32 * i:32 * i + 32]
            if stored != hashes[first + i] or entry_ids[first + i] != ids[i]:
                report.add(FAILURE, "index-mismatch", f"{key} disagrees with leaf {first + i}", key=key,
                           expected=f"{entry_ids[first + i]} {hashes[first + i].hex()}",
                           computed=f"{ids[i]} {stored.hex()}")
                break
