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
    """One ``einvoice.app.App`` per worker process and environment, with its database migrated.

    ``App.from_env()`` migrates the database and loads the organisation file; doing that once per
    batch would cost more than the batch. The key is the environment, so a test that changes
    ``EINVOICE_*`` variables gets a fresh App.

    The archive is NOT opened here (opening it reads the bucket): flows that need no archive
    (posting, reminders, payments) must run while S3 is down. Steps that write to the archive
    call ``intake()`` or ``app().archive`` themselves, inside the task that can fail and retry.
    """
    from einvoice.app import App

    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(("EINVOICE_", "AWS_"))))
    with _app_lock:
        a = _apps.get(key)
        if a is None:
            a = App.from_env()
            # Under the lock: parallel batches (threads) must not run the migrations twice at once.
            a.db  # noqa: B018 - cached_property, migrates
            _apps[key] = a
        return a


def intake():
    """The intake pipeline of ``app()`` (opens the archive: S3 must be reachable).

    Built under the lock, so parallel batches (threads) share one pipeline and one thread-safe
    Archive instead of racing to build two.
    """
    a = app()
    with _app_lock:
        return a.intake


#: The deployment whose pause stops every archive write of the flows: the automation
#: ``einvoice-archive-pause-writers`` pauses it (and process-inbox) when ``verify-archive`` finds an
#: integrity failure; while it is paused, post-released and payment-run still post and pay but
#: leave their follow-up records pending (``python -m flows.setup --resume-archive-writers``).
ARCHIVE_GATE = "checkpoint-archive/checkpoint-archive"


def archive_writes_paused() -> bool:
    """True while the ``checkpoint-archive`` deployment is paused (see ``ARCHIVE_GATE``).

    Unknown (no such deployment: a flow called directly, a test; the API unreachable) counts as
    not paused: the gate follows the operators' switch, it does not invent one.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            return bool(client.read_deployment_by_name(ARCHIVE_GATE).paused)
    except ObjectNotFound:
        return False
    except Exception:  # noqa: BLE001 - see docstring
        import logging

        logging.getLogger(__name__).warning("could not read whether %s is paused; assuming not", ARCHIVE_GATE,
                                            exc_info=True)
        return False


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
        import urllib.error

        if isinstance(exc, urllib.error.HTTPError):  # the time-stamping authority (urllib client)
            return exc.code >= 500 or exc.code == 429
        if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, (ConnectionError, TimeoutError)):
            return True
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
def resource_id(kind: str, key: object) -> str:
    """The Prefect resource id of one of our things: ``einvoice.<kind>.<key>.``, with a final dot.

    The Prefect UI's resource filter matches ids by prefix: ``einvoice.invoice.1`` would also show
    invoices 10-19, 100-199 ... The final dot ends the key, so ``einvoice.invoice.1.`` matches
    invoice 1 only, for any number of digits (a fixed width would break once ids outgrow it).
    Automations and deployment triggers still match all of a kind with ``einvoice.invoice.*``.
    """
    text = str(key)
    if not text or "." in text:
        # A dot inside the key would bring the prefix problem back ("a." is a prefix of "a.xml.").
        raise ValueError(f"resource key {key!r} of {kind!r} must be non-empty and hold no dot (see resource_key)")
    return f"einvoice.{kind}.{text}."


def resource_key(text: str) -> str:
    """A free text (a file name) as a resource key: ``%`` and ``.`` percent-encoded, so it holds no dot."""
    return text.replace("%", "%25").replace(".", "%2E")


def invoice_resource_id(invoice_id: int) -> str:
    """``einvoice.invoice.<id>.``: what an operator types into the UI's event filter for one invoice."""
    return resource_id("invoice", int(invoice_id))


def invoice_resource(invoice_id: int | None) -> list[dict[str, str]]:
    if invoice_id is None:
        return []
    return [{"prefect.resource.id": invoice_resource_id(invoice_id), "prefect.resource.role": "invoice"}]


def invoice_event(event: str, invoice_id: int, *, name: str | None = None, payload: dict | None = None,
                  event_id: uuid.UUID | None = None, occurred: dt.datetime | None = None,
                  source: str = "flow") -> dict:
    """The fields of an event about one invoice: the invoice is the resource (so the UI's event
    feed filters on ``einvoice.invoice.<id>.``) and also the related resource with role ``invoice``.

    ``source`` (resource label ``einvoice.source``) says who published it: ``audit-trail`` (copied
    from our database after the fact), ``release-notifier`` (the application, right after a
    release) or ``flow``. The post-released deployment trigger listens to ``release-notifier``
    only, so re-publishing the audit trail never starts extra runs.
    """
    fields = {
        "event": event,
        "resource": {"prefect.resource.id": invoice_resource_id(invoice_id),
                     "prefect.resource.name": name or f"invoice {invoice_id}", "einvoice.source": source},
        "related": invoice_resource(invoice_id),
        "payload": payload or {},
    }
    if event_id is not None:
        fields["id"] = event_id
    if occurred is not None:
        fields["occurred"] = occurred
    return fields


def emit_invoice_event(event: str, invoice_id: int, **kwargs) -> None:
    """Emit one ``invoice_event`` (for a handful; many at once go through ``emit_events``)."""
    from prefect.events import emit_event

    emit_event(**invoice_event(event, invoice_id, **kwargs))


#: Events per POST /api/events request.
EVENTS_PER_REQUEST = 200


def emit_events(events: list[dict]) -> None:
    """Emit many events (``emit_event`` keyword arguments each) in a few requests.

    ``emit_event`` sends each event on its own over the events websocket and looks up the run's
    related resources (flow run, flow, deployment, work pool, tags) for each: measured here at
    ~1.6 ms client CPU and ~3.7 ms server CPU per event, as much as validating the invoice. We
    look them up once and POST the events in lists to the server's ``/events`` endpoint (the same
    schema the websocket takes): ~0.25 + 2.6 ms. Events are telemetry, the audit trail is in our
    database: if the POST fails, the events go the ordinary way, one by one, which retries on its
    own; a failure here never fails the flow.
    """
    if not events:
        return
    from prefect.events import Event, emit_event
    from prefect.events.utilities import should_emit_events

    if not should_emit_events():
        return
    try:
        _post_events([Event(**fields) for fields in events])
    except Exception as exc:  # noqa: BLE001 - see docstring
        import logging

        logging.getLogger(__name__).warning("posting %d events in one request failed (%s); emitting them one by one",
                                            len(events), exc)
        for fields in events:
            emit_event(**fields)


def _run_context_resources() -> list[dict[str, str]]:
    """The related resources ``emit_event`` would attach from the current run: flow run, flow,
    deployment and tags (so the events show on the flow run's page)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    fr = getattr(ctx, "flow_run", None)
    if fr is None:
        return []
    out = [{"prefect.resource.id": f"prefect.flow-run.{fr.id}", "prefect.resource.role": "flow-run",
            "prefect.resource.name": fr.name}]
    if fr.flow_id:
        out.append({"prefect.resource.id": f"prefect.flow.{fr.flow_id}", "prefect.resource.role": "flow",
                    "prefect.resource.name": getattr(ctx.flow, "name", "") or ""})
    if fr.deployment_id:
        out.append({"prefect.resource.id": f"prefect.deployment.{fr.deployment_id}", "prefect.resource.role": "deployment"})
    out += [{"prefect.resource.id": f"prefect.tag.{t}", "prefect.resource.role": "tag"} for t in sorted(fr.tags or ())]
    return out


def _post_events(events: list) -> None:
    from prefect.client.orchestration import get_client
    from prefect.events import RelatedResource
    from prefect.settings import get_current_settings

    maximum = get_current_settings().server.events.maximum_related_resources
    context = [RelatedResource.model_validate(r) for r in _run_context_resources()]
    for ev in events:
        involved = {r.id for r in ev.involved_resources}
        room = max(maximum - len(ev.related), 0)
        ev.related.extend([r for r in context if r.id not in involved][:room])
    # the synchronous client: no event loop of Prefect's is borrowed from the flow's thread
    with get_client(sync_client=True) as client:
        for i in range(0, len(events), EVENTS_PER_REQUEST):
            body = "[" + ",".join(e.model_dump_json() for e in events[i:i + EVENTS_PER_REQUEST]) + "]"
            response = client.request("POST", "/events", content=body, headers={"Content-Type": "application/json"})
            response.raise_for_status()
