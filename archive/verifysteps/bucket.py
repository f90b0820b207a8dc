"""Steps only a bucket can answer: Object Lock mode and retain-until of every object, read from the
server (``--check-lock``), and the version history under the archive's prefixes: every later
version and every delete marker is a failure (``archive.versioncheck``). Never writes."""
from __future__ import annotations

from datetime import datetime

from ..model import OBJECT_PREFIX
from ..problems import FAILURE, NOTE
from .audit import Audit, map_keys


def check_locks(audit: Audit) -> None:
    """With ``check_lock``: every object is locked in COMPLIANCE mode at least as long as its
    entries (documents) or its leaves (pages) require; legal holds are counted."""
    if not audit.options.check_lock:
        return
    report, store, keys = audit.report, audit.store, audit.keys
    if store.kind != "s3":
        report.add(FAILURE, "lock-not-checkable", "--check-lock needs a bucket; a directory has no Object Lock")
        return
    referenced, page_until = audit.leaves.referenced, audit.leaves.page_until

    def need(key: str) -> datetime | None:
        if key.startswith(OBJECT_PREFIX):
            dates = [r[3] for r in referenced[key[len(OBJECT_PREFIX):]] if isinstance(r[3], datetime)]
            return max(dates) if dates else None
        if key in page_until:
            return page_until[key]
        return None

    other_keys = keys.checkpoints + keys.segments + keys.timestamps + keys.intents
    lock_keys = list(audit.wanted) + list(page_until) + list(other_keys)
    infos = map_keys(store, lambda k: (k, store.lock_info(k)), lock_keys, audit.options.workers)
    held = 0
    for key, info in infos:
        if info is None:
            continue  # missing objects are already reported
        held += info.legal_hold
        if info.mode != "COMPLIANCE":
            report.add(FAILURE, "lock-missing", f"{key} is not locked in COMPLIANCE mode", key=key,
                       expected="COMPLIANCE", computed=info.mode)
            continue
        required = need(key)
        if required is not None and (info.retain_until is None or info.retain_until < required):
            report.add(FAILURE, "lock-too-short", f"{key} is retained for less than its entries require", key=key,
                       expected=f">= {required.isoformat()}",
                       computed=info.retain_until.isoformat() if info.retain_until else None)
    if held:
        report.add(NOTE, "legal-hold", f"{held} objects are under legal hold")


def check_versions(audit: Audit) -> None:
    """Bucket mode: later versions and delete markers under the archive's prefixes (with
    ``check_lock`` also the bucket's own lock and policy settings)."""
    view = audit.view
    if view is None:
        return
    from ..versioncheck import bucket_findings, version_findings

    for finding in version_findings(view, audit.options.check_lock):
        audit.report.add(*finding)
    if audit.options.check_lock:
        for finding in bucket_findings(view.client, view.bucket):
            audit.report.add(*finding)
