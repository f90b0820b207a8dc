"""Checks of a bucket's version history: every later version and every delete marker is a finding.

The archive's content is the first version of every key (``archive.versions``); the verifier
checks that content. What else is under the archive's prefixes can only come from someone who
used PutObject or DeleteObject outside the writer's protocol, so each later version
(``extra-version``), each delete marker (``delete-marker``) and, with ``--check-lock``, each
later version without a COMPLIANCE lock (``version-unlocked``) is a failure that names the key
and the version id, and shows the original beside the forgery. This module must never write.
"""
from __future__ import annotations

import hashlib
from typing import Any

from . import log
from .problems import FAILURE, NOTE
from .versions import FirstVersionReader

#: Later versions whose bytes are fetched and compared with the original (the rest are listed).
MAX_COMPARED = 200


def _describe(data: bytes | None, version_id: str) -> str:
    if data is None:
        return f"version {version_id}: unreadable"
    return f"version {version_id}: {len(data)} bytes, SHA-256 {hashlib.sha256(data).hexdigest()}"


def _flatten(value, path: str, out: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{path}.{k}" if path else k, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(v, f"{path}[{i}]", out)
    else:
        out[path] = value


def _line_difference(x: bytes, y: bytes) -> str:
    """The fields in which two leaf lines differ (original -> later), else the bytes around the first change."""
    import json

    try:
        a: dict[str, Any] = {}
        b: dict[str, Any] = {}
        _flatten(json.loads(x), "", a)
        _flatten(json.loads(y), "", b)
        diffs = [f"{k}: {a.get(k, '(absent)')!r} -> {b.get(k, '(absent)')!r}" for k in sorted(set(a) | set(b))
                 if a.get(k, "(absent)") != b.get(k, "(absent)")]
        if diffs:
            return "; ".join(diffs[:5]) + (f"; and {len(diffs) - 5} more" if len(diffs) > 5 else "")
    except ValueError:
        pass
    i = next((i for i in range(min(len(x), len(y))) if x[i] != y[i]), min(len(x), len(y)))
    lo = max(0, i - 40)
    return (f"original …{x[lo:i + 80].decode('utf-8', 'replace')!r}… vs. later "
            f"…{y[lo:i + 80].decode('utf-8', 'replace')!r}…")


def _first_difference(key: str, original: bytes | None, forged: bytes | None) -> str:
    """For a page: the first leaf line that differs, original beside forgery."""
    if original is None or forged is None or log.parse_page_key(key) is None:
        return ""
    a, b = original.split(b"\n"), forged.split(b"\n")
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else b""
        y = b[i] if i < len(b) else b""
        if x != y:
            return f"; line {i + 1} differs: {_line_difference(x, y)}"
    return "; same bytes as the original"


def version_findings(view: FirstVersionReader, check_lock: bool) -> list[tuple]:
    """(severity, code, message, key, expected, computed) for every later version and delete marker."""
    out: list[tuple] = []
    compared = 0
    for key in sorted(view.histories):
        h = view.histories[key]
        first = h.first
        for m in h.markers:
            if first is None:
                out.append((FAILURE, "delete-marker", f"{key}: delete marker {m.version_id} on a key without any "
                            f"version", key, None, m.version_id))
                continue
            out.append((FAILURE, "delete-marker", f"{key}: delete marker {m.version_id} hides the key from plain "
                        f"GET/LIST (a DeleteObject without version id); the locked first version {first.version_id} "
                        f"is still there and is what was verified", key, f"version {first.version_id}",
                        f"delete marker {m.version_id}"))
        if first is None or not h.extra:
            continue
        original = view.get(key) if compared < MAX_COMPARED else None
        for v in h.extra:
            if compared < MAX_COMPARED:
                forged = view.get_version(key, v.version_id)
                compared += 1
                out.append((FAILURE, "extra-version", f"{key}: version {v.version_id} was put on top of the archive's "
                            f"first version {first.version_id} (a PutObject outside the writer); the first version "
                            f"is the record and was verified{_first_difference(key, original, forged)}", key,
                            _describe(original, first.version_id), _describe(forged, v.version_id)))
            else:
                out.append((FAILURE, "extra-version", f"{key}: version {v.version_id} was put on top of the first "
                            f"version {first.version_id}", key, f"version {first.version_id}",
                            f"version {v.version_id}"))
            if check_lock:
                info = view.lock_info(key, v.version_id)
                if info is None or info.mode != "COMPLIANCE":
                    out.append((FAILURE, "version-unlocked", f"{key}: later version {v.version_id} carries no "
                                f"COMPLIANCE lock (the bucket has no default retention, or it was put in GOVERNANCE "
                                f"mode)", key, "COMPLIANCE", info.mode if info else None))
    return out


def bucket_findings(client, bucket: str) -> list[tuple]:
    """Bucket-level hardening that only the bucket can tell (with --check-lock)."""
    try:
        cfg = client.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration", {})
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the objects were checked anyway
        return [(FAILURE, "bucket-lock-unreadable", f"the Object Lock configuration of {bucket} cannot be read: {exc}",
                 None, None, None)]
    rule = (cfg.get("Rule") or {}).get("DefaultRetention") or {}
    if rule.get("Mode") != "COMPLIANCE":
        return [(NOTE, "bucket-no-default-retention", f"bucket {bucket} has no COMPLIANCE default retention: a "
                 f"version put without a lock can be deleted again before anyone sees it (run `archive bucket-init`)",
                 None, "COMPLIANCE", rule.get("Mode"))]
    return []
