"""Steps that open what is verified and list it: the bucket's first versions or the export's
signed scope, then every key under ``log/`` and ``objects/`` by kind. Never writes."""
from __future__ import annotations

from .. import formats, log
from ..manifest import check_export
from ..model import OBJECT_PREFIX
from ..problems import FAILURE
from .audit import Audit


def open_source(audit: Audit) -> None:
    """A bucket is read as the first version of every key (all versions and delete markers under
    ``log/`` and ``objects/`` listed once, paged); an export directory's signed manifest and its Z3
    files are checked, and its signed years become the scope unless the caller gave one."""
    store = audit.store
    if store.kind == "s3" and hasattr(store, "client"):
        from ..versions import FirstVersionReader

        audit.view = FirstVersionReader(store.client, store.bucket, store.prefix).scan(["log/", OBJECT_PREFIX])
        audit.store = audit.view
    if audit.store.kind == "dir":
        # The export's signed scope and its Z3 files, regenerated from the leaves (archive.manifest).
        signed_scope = check_export(audit.store, audit.ring, audit.report.add)
        if audit.scope_years is None:
            audit.scope_years = signed_scope


def list_keys(audit: Audit) -> None:
    """Every key under ``log/`` is a page, intent, checkpoint, index segment or time-stamp
    (``unexpected-key`` otherwise); pages are put in log order."""
    keys = audit.keys
    pages = []
    for k in audit.store.list("log/"):
        if formats.parse_intent_key(k) is not None:
            keys.intents.append(k)
        elif log.parse_page_key(k) is not None:
            pages.append(k)
        elif log.parse_checkpoint_key(k) is not None:
            keys.checkpoints.append(k)
        elif log.parse_segment_key(k) is not None:
            keys.segments.append(k)
        elif log.parse_timestamp_key(k) is not None:
            keys.timestamps.append(k)
        else:
            audit.report.add(FAILURE, "unexpected-key", f"{k} is not a page, intent, checkpoint, index segment or "
                             f"time-stamp name (a forged or renamed log file)", key=k)
    keys.objects.extend(audit.store.list(OBJECT_PREFIX))
    keys.pages = sorted(pages, key=log.page_first)
