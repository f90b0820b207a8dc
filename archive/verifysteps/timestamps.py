"""Steps over time: every leaf's ``appended_at`` is readable and never goes back, and the RFC 3161
tokens over checkpoints (``archive.timestamp``) stamp exactly their checkpoint's bytes, chain to a
TSA root you trust and anchor every batch within the allowed lag. Never writes."""
from __future__ import annotations

import bisect
from datetime import datetime, timedelta

from .. import log
from ..model import parse_utc, utc_iso
from ..problems import FAILURE, NOTE
from .audit import CLOCK_SKEW, Audit, iso_epoch


def check_append_order(audit: Audit) -> None:
    """``appended_at`` is readable and never goes back in time, with or without time-stamps."""
    skew = int(CLOCK_SKEW.total_seconds())
    found: dict[str, list] = {}
    latest = None
    for i, t in enumerate(audit.leaves.times):
        if t is None:
            found.setdefault("leaf-time-invalid", [0, i, ""])[0] += 1
            continue
        if latest is not None and t < latest - skew:
            found.setdefault("appended-at-reversed", [0, i, f"appended {iso_epoch(t)}, after a leaf appended "
                                                            f"{iso_epoch(latest)}"])[0] += 1
        latest = t if latest is None else max(latest, t)
    texts = {"leaf-time-invalid": "leaves have an unreadable appended_at (not YYYY-MM-DDTHH:MM:SSZ)",
             "appended-at-reversed": f"leaves say they were appended before the leaf ahead of them (a leaf dated "
                                     f"back, or a writer's clock off by more than {CLOCK_SKEW})"}
    for code, (count, first, detail) in found.items():
        audit.report.add(FAILURE, code, f"{count} {texts[code]}; first: leaf {first}"
                         + (f" ({detail})" if detail else ""))


def check_timestamps(audit: Audit) -> None:
    """RFC 3161 tokens over the readable checkpoints; only tokens over a valid one anchor leaves.
    Without ``tsa_roots`` the tokens are only counted."""
    from ..timestamp import check_token

    report, opts, ts_keys = audit.report, audit.options, audit.keys.timestamps
    report.timestamps = len(ts_keys)
    if opts.tsa_roots is None:
        if ts_keys:
            report.add(NOTE, "timestamps-not-checked", f"{len(ts_keys)} RFC 3161 time-stamps are stored; give the "
                       f"TSA's root certificate (--tsa-root) to check them")
        return
    by_size = {cp.tree_size: cp for _, cp in audit.checkpoints}
    good_sizes = {cp.tree_size for _, cp in audit.good}
    anchors: list[tuple[int, datetime]] = []
    for key in sorted(ts_keys):
        n = log.parse_timestamp_key(key)
        cp = by_size.get(n) if n is not None else None
        if cp is None:
            report.add(FAILURE, "timestamp-without-checkpoint", f"{key} time-stamps a checkpoint of size {n} that "
                       f"is not in the log (deleted or renamed checkpoint)", key=key)
            continue
        raw = audit.store.get(key)
        info, problem = check_token(raw or b"", cp.raw, opts.tsa_roots)
        if problem is not None:
            report.add(FAILURE, problem.code, f"{key}: {problem.message}", key=key, expected=problem.expected,
                       computed=problem.computed)
            continue
        if info is None:  # check_token returns either the token's information or a problem
            raise RuntimeError(f"{key}: check_token returned neither token information nor a problem")
        if info.gen_time < parse_utc(cp.timestamp) - CLOCK_SKEW:
            report.add(FAILURE, "timestamp-before-checkpoint", f"{key}: the TSA stamped the checkpoint before the "
                       f"time the checkpoint claims (its timestamp was forged, or the writer's clock is wrong)",
                       key=key, expected=f">= {cp.timestamp}", computed=utc_iso(info.gen_time))
            continue
        if n in good_sizes:
            anchors.append((n, info.gen_time))
    anchors.sort()
    if anchors:
        report.latest_anchor = {"tree_size": anchors[-1][0], "gen_time": utc_iso(anchors[-1][1])}
    for finding in _anchor_findings(audit.leaves.times, anchors, opts.max_anchor_lag, opts.as_of, opts.accept_late):
        report.add(*finding)


def _anchor_findings(times: list[int | None], anchors: list[tuple[int, datetime]], max_lag: timedelta,
                     as_of: datetime, accept_late) -> list[tuple]:
    """Findings about when each leaf was first anchored (one per kind, with the count and the first leaf).

    Leaf i is anchored by the earliest valid token over a checkpoint with more than i leaves. Each
    leaf's ``appended_at`` must not go back in time, must not come after that token, and must lie
    at most ``max_lag`` before it; a leaf with no token must be younger than ``max_lag``.
    """
    lag, skew, now = int(max_lag.total_seconds()), int(CLOCK_SKEW.total_seconds()), int(as_of.timestamp())
    sizes = [a[0] for a in anchors]
    earliest = [int(a[1].timestamp()) for a in anchors]
    for i in range(len(earliest) - 2, -1, -1):  # a smaller tree is anchored by any later stamp of a larger one
        earliest[i] = min(earliest[i], earliest[i + 1])
    excused = sorted((int(a), int(b)) for a, b in accept_late)

    def accepted(i: int) -> bool:
        k = bisect.bisect_right(excused, (i, float("inf"))) - 1
        return k >= 0 and excused[k][0] <= i <= excused[k][1]

    found: dict[str, list] = {}

    def note(code: str, i: int, detail: str) -> None:
        entry = found.setdefault(code, [0, i, detail])
        entry[0] += 1

    j = 0
    for i, t in enumerate(times):
        while j < len(sizes) and sizes[j] <= i:
            j += 1
        if t is None:
            continue  # reported by check_append_order
        if j < len(sizes):
            anchored = earliest[j]
            if t > anchored + skew:
                note("appended-after-anchor", i, f"appended {iso_epoch(t)}, but already time-stamped at "
                                                 f"{iso_epoch(anchored)}")
            elif anchored - t > lag:
                note("anchor-late-accepted" if accepted(i) else "anchor-late", i,
                     f"appended {iso_epoch(t)}, first time-stamped {iso_epoch(anchored)}")
        elif now - t > lag:
            note("anchor-missing-accepted" if accepted(i) else "anchor-missing", i,
                 f"appended {iso_epoch(t)}, no time-stamp covers it")
        else:
            note("unanchored-tail", i, "")
    messages = {
        "appended-after-anchor": (FAILURE, "leaves say they were appended after a time-stamp already covered "
                                           "them (dates moved forward)"),
        "anchor-late": (FAILURE, f"leaves were first time-stamped more than {max_lag} after they say they were "
                                 f"appended: a history written or rewritten later than it claims (or a TSA "
                                 f"outage: explain it and pass the range with --accept-late-anchor)"),
        "anchor-late-accepted": (NOTE, f"leaves were first time-stamped more than {max_lag} after their append, "
                                       f"in ranges you accepted"),
        "anchor-missing": (FAILURE, f"leaves older than {max_lag} are covered by no valid time-stamp (tokens "
                                    f"deleted, or never made: check the checkpoint-archive runs)"),
        "anchor-missing-accepted": (NOTE, "leaves are covered by no time-stamp, in ranges you accepted"),
        "unanchored-tail": (NOTE, "leaves are not covered by a time-stamp yet (the next checkpoint-archive run "
                                  "anchors them)"),
    }
    out = []
    for code, (count, first, detail) in found.items():
        severity, text = messages[code]
        out.append((severity, code, f"{count} {text}; first: leaf {first}" + (f" ({detail})" if detail else "")))
    return out
