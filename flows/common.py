"""What every flow shares: the application object, the transient-failure retry rule, run names and
the Prefect events an operator filters on.

Orchestration only. Flows call the domain layer (``einvoice``, ``archive``) and hold no business
rule; the domain layer never imports Prefect. Invoice bytes never travel through Prefect
parameters, results or events: only file names, S3 keys, invoice ids and states do.
"""
from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from zoneinfo import ZoneInfo

#: Operators read times in German local time; the worker machines may run in UTC.
BERLIN = ZoneInfo("Europe/Berlin")

#: Tag concurrency limits (created by ``python -m flows.setup``): one archive writer at a time keeps
#: the hash chain free of 412 retries; the finance connector accepts only a few calls at once.
ARCHIVE_WRITER = "archive-writer"
FINANCE_CONNECTOR = "finance-connector"

#: Namespace for deterministic Prefect event ids derived from our audit-trail rows: publishing the
#: same audit row twice gives the same event id, and the Prefect server drops the duplicate.
EVENT_NAMESPACE = uuid.UUID("6f1c7a52-9b1e-4f53-8d0e-2f4a1c3b5e77")

_app_lock = threading.Lock()
_apps: dict[tuple, object] = {}


def app():
    """One ``einvoice.app.App`` per worker process and environment.

    ``App.from_env()`` migrates the database and loads the organisation file; doing that once per
    batch would cost more than the batch. The key is the environment, so a test that changes
    ``EINVOICE_*`` variables gets a fresh App.
    """
    from einvoice.app import App

    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(("EINVOICE_", "AWS_"))))
    with _app_lock:
        a = _apps.get(key)
        if a is None:
            a = App.from_env()
            # Under the lock: parallel batches (threads) must not run the migrations twice at once.
            a.db  # noqa: B018 - cached_property, migrates
            a.intake  # noqa: B018 - one pipeline (and one thread-safe Archive) for all threads
            _apps[key] = a
        return a


def now_berlin() -> dt.datetime:
    return dt.datetime.now(BERLIN)


def stamp() -> str:
    """``2026-11-22 10:05`` in Berlin time, for flow-run names."""
    return now_berlin().strftime("%Y-%m-%d %H:%M")


# --- retries: transient failures only -------------------------------------------------------------
_TRANSIENT_S3_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "Throttling",
                       "ThrottlingException", "RequestTimeTooSkewed", "503", "500", "502", "504"}


def is_transient(exc: BaseException | None) -> bool:
    """True for failures a retry can cure: lost connections, timeouts, S3 5xx/throttling, a database
    that is restarting or locked, HTTP 5xx/429 from the finance connector.

    Everything else (programming errors, validation or integrity findings, 4xx answers) fails at
    once: retrying would only repeat the same mistake and hide it for minutes.
    """
    seen = 0
    while exc is not None and seen < 5:  # look through "raise ... from exc" chains
        seen += 1
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return True
        try:
            import botocore.exceptions as bx

            if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionClosedError, bx.ReadTimeoutError,
                                bx.ConnectTimeoutError)):
                return True
            if isinstance(exc, bx.ClientError):
                err = exc.response.get("Error", {})
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
                return status >= 500 or status == 429 or str(err.get("Code")) in _TRANSIENT_S3_CODES
        except ImportError:  # pragma: no cover - boto3 is a dependency
            pass
        try:
            import sqlalchemy.exc as sx

            if isinstance(exc, sx.DBAPIError) and exc.connection_invalidated:
                return True
            if isinstance(exc, (sx.DisconnectionError, sx.TimeoutError)):
                return True
            if isinstance(exc, sx.OperationalError):
                text = str(exc).lower()
                return any(s in text for s in ("locked", "could not connect", "connection", "terminating", "timeout",
                                               "server closed", "the database system is"))
        except ImportError:  # pragma: no cover
            pass
        try:
            import httpx

            if isinstance(exc, httpx.TransportError):
                return True
            if isinstance(exc, httpx.HTTPStatusError):
                return exc.response.status_code >= 500 or exc.response.status_code == 429
        except ImportError:  # pragma: no cover
            pass
        exc = exc.__cause__ or exc.__context__
    return False


def retry_on_transient(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: go on to the task's retry policy only for transient failures."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        try:
            exc = state.result(raise_on_failure=False)
        except Exception as e:  # noqa: BLE001 - reading the result may itself raise the exception
            exc = e
    return is_transient(exc if isinstance(exc, BaseException) else None)


# --- events -----------------------------------------------------------------------------------------
def invoice_resource(invoice_id: int | None) -> list[dict[str, str]]:
    if invoice_id is None:
        return []
    return [{"prefect.resource.id": f"einvoice.invoice.{invoice_id}", "prefect.resource.role": "invoice"}]


def emit_invoice_event(event: str, invoice_id: int, *, name: str | None = None, payload: dict | None = None,
                       event_id: uuid.UUID | None = None, occurred: dt.datetime | None = None,
                       source: str = "flow") -> None:
    """An event about one invoice: the invoice is the resource (so the UI's event feed filters on
    ``einvoice.invoice.<id>``) and also the related resource with role ``invoice``.

    ``source`` (resource label ``einvoice.source``) says who published it: ``audit-trail`` (copied
    from our database after the fact), ``release-notifier`` (the application, right after a
    release) or ``flow``. The post-released deployment trigger listens to ``release-notifier``
    only, so re-publishing the audit trail never starts extra runs.
    """
    from prefect.events import emit_event

    emit_event(
        event=event,
        resource={"prefect.resource.id": f"einvoice.invoice.{invoice_id}",
                  "prefect.resource.name": name or f"invoice {invoice_id}", "einvoice.source": source},
        related=invoice_resource(invoice_id),
        payload=payload or {},
        id=event_id,
        occurred=occurred,
    )
