"""Start posting right after a release, from code that knows nothing of Prefect's internals.

The domain layer (``einvoice``) must not import Prefect. Posting still happens without anyone
touching Prefect, in two ways:

1. always: the ``post-released`` deployment runs every minute and delivers the finance outbox
   (finance writes the outbox record in the release transaction);
2. faster, when the application is wired to it: after the release transaction has COMMITTED,
   call ``request_posting(invoice_id)`` (or ``announce_release(invoice_id)``). Both are
   best-effort and never raise: if Prefect is down, the schedule still posts the invoice.

``request_posting`` creates a flow run of ``post-released/post-released`` with the idempotency
key ``post-<invoice id>``, so calling it twice for the same release starts one run.
``announce_release`` emits the ``invoice.released`` event; the deployment trigger in
``prefect.yaml`` starts ``post-released`` from it (and the event shows in the UI's feed).

Never call these inside the release transaction (an ``on_release`` hook): the flow run could
start before the commit and find nothing to post, or the release could roll back after a run
was requested.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

POST_RELEASED = "post-released/post-released"


def request_posting(invoice_id: int, *, deployment: str = POST_RELEASED) -> str | None:
    """Start ``post-released`` now; returns the flow run id, or None if Prefect could not be reached."""
    try:
        from prefect.deployments import run_deployment

        run = run_deployment(deployment, timeout=0, idempotency_key=f"post-{invoice_id}",
                             tags=["einvoice", "finance", f"invoice-{invoice_id}"], as_subflow=False)
        return str(run.id)
    except Exception:  # noqa: BLE001 - the every-minute schedule posts it anyway; the release stands
        log.warning("could not start %s for invoice %s; the schedule will post it", deployment, invoice_id, exc_info=True)
        return None


def announce_release(invoice_id: int, **payload) -> bool:
    """Emit ``invoice.released`` (picked up by the deployment trigger); False if it could not be sent."""
    try:
        from flows.common import emit_invoice_event

        emit_invoice_event("invoice.released", invoice_id, payload=payload or None, source="release-notifier")
        return True
    except Exception:  # noqa: BLE001 - see request_posting
        log.warning("could not emit invoice.released for invoice %s", invoice_id, exc_info=True)
        return False


def after_commit_notifier(mode: str = "run_deployment"):
    """A callable ``notify(invoice_id)`` for an application's after-commit release notifier.

    ``mode``: ``run_deployment`` (default) or ``event``.
    """
    return request_posting if mode == "run_deployment" else announce_release
