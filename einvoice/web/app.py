"""The web inbox as a FastAPI application: pages, actions, sign-in, CSRF, access log.

Routes (numeric IDs only in paths; filters and search are query parameters, which the access log
never records — it logs method, the route *template* such as ``/invoices/{invoice_id}``, status,
person and duration):

  GET  /login, POST /login, POST /logout
  GET  /inbox        the signed-in person's open tasks (own grants, and as deputy), deadline first
  GET  /desk         central desk queue (unroutable/forwarded to the central desk, returned invoices)
  GET  /overview     all open tasks of the departments a person may see (heads, auditors)
  GET  /treasury     released, posted and paid invoices
  GET  /invoices/{invoice_id}                        the invoice page
  GET  /invoices/{invoice_id}/original               the received file as archived
  GET  /invoices/{invoice_id}/attachments/{index}    an embedded attachment (BG-24)
  POST /tasks/{task_id}/approve|reject|send-back|forward
  POST /invoices/{invoice_id}/comment|override-duplicate
  GET  /finance/pull/pending, POST /finance/pull/ack   the finance system's pull API
                     (einvoice.finance.pull_api: its own bearer token, no staff session)
  GET  /einreichen, POST /einreichen, POST /api/upload  suppliers hand in one invoice and get an
                     Eingangsbestätigung (einvoice.web.upload: no staff session, rate limits, optional token)

Path ids are numbers the id columns can hold (``{...:dbid}``, einvoice.web.forms); others are "not found".
Every action goes to ``ApprovalService``, which decides; a refusal is shown with its rule ID.
Order of checks on a POST: signed in, CSRF token, may this person see the invoice (else 404, so
other departments' invoice numbers do not even leak as "forbidden"), then the service. This
module must never decide an approval rule, never log form fields or query strings, never
render user-supplied text unescaped, and never build a URL from the request's Host header
(redirects are relative).
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import load_only
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from einvoice.app import App
from einvoice.approval import ActionResult, ApprovalService, Refusal
from einvoice.approval import messages as approval_messages
from einvoice.approval.deadlines import skonto_now
from einvoice.approval.rules import STEP_LABEL, steps
from einvoice.approval.service import SORTS
from einvoice.db.models import Invoice
from einvoice.finance import pull_api
from einvoice.finance.record import account_assignment
from einvoice.records import RecordArchiver
from einvoice.web import access, auth, forms, rendering, upload
from einvoice.web.throttle import HashSlots, SignInThrottle

log = logging.getLogger("einvoice.web")
access_log = logging.getLogger("einvoice.web.access")

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 50
MAX_QUERY = 100

STEP_TITLE = {  # what staff call the steps (German labels on the pages)
    "sachlich": "Sachlich richtig",
    "rechnerisch": "Rechnerisch richtig",
    "anordnung": "Anordnung",
    "freigabe": "Freigabe",
}
STATE_TITLE = {k: de for k, (de, _en) in approval_messages.STATES.items()}  # the pages are German
THROTTLED = ("Zu viele Anmeldeversuche in kurzer Zeit. Bitte warten Sie einige Minuten und versuchen Sie es dann erneut; "
             "wenn Sie Ihr Passwort vergessen haben, wenden Sie sich an die IT.")
BUSY = "Die Anmeldung ist gerade ausgelastet. Bitte versuchen Sie es in einigen Sekunden noch einmal."
#: The list orders (?sort=..., einvoice.approval.service.SORTS) as the column headers and the caption name them.
SORT_TITLE = {
    "frist": "Frist (Skonto zuerst)",
    "faellig": "Fälligkeit",
    "betrag": "Betrag (höchster zuerst)",
    "lieferant": "Lieferant (A–Z)",
    "eingang": "Eingang (älteste zuerst)",
}
GROUP_TITLE = {
    "skonto": "mit offenem Skonto",
    "faellig": "fällig",
    "ueberfaellig": "überfällig",
    "ohne_frist": "ohne Fälligkeit",
}
#: The error pages (German: staff pages never answer with a framework's English JSON).
HTTP_ERROR = {
    400: ("Anfrage abgelehnt", "Diese Anfrage kann nicht bearbeitet werden. Bitte gehen Sie zurück und versuchen Sie es erneut."),
    401: ("Nicht angemeldet", "Bitte melden Sie sich an."),
    403: ("Nicht erlaubt", "Das dürfen Sie nicht."),
    404: ("Nicht gefunden", "Diese Seite gibt es nicht."),
    405: ("Nicht möglich", "Diese Seite kann so nicht aufgerufen werden (z. B. ein Formular als Link geöffnet). "
                           "Bitte gehen Sie zurück und benutzen Sie die Schaltflächen der Seite."),
    413: ("Zu groß", "Das Formular ist zu groß und wurde nicht angenommen. Bitte kürzen Sie den Text."),
    429: ("Zu viele Anfragen", "Zu viele Anfragen in kurzer Zeit. Bitte warten Sie einen Moment."),
    500: ("Fehler", "Bei der Bearbeitung ist ein Fehler aufgetreten. Bitte versuchen Sie es später erneut; "
                    "wenn es wieder vorkommt, wenden Sie sich an die IT."),
    503: ("Nicht erreichbar", "Der Dienst ist gerade nicht erreichbar. Bitte versuchen Sie es später erneut."),
    "invalid": ("Ungültige Adresse oder Eingabe", "Die Adresse oder eine Eingabe hat nicht das erwartete Format "
                                                  "(z. B. eine Rechnungsnummer statt der internen Nummer). Bitte gehen "
                                                  "Sie zum Posteingang zurück."),
}
DONE_MESSAGE = {  # ?done=... after a successful action (fixed texts: nothing user-supplied in URLs)
    "approve": "Der Schritt wurde bestätigt.",
    "reject": "Die Rechnung wurde zurückgewiesen.",
    "send-back": "Die Rechnung wurde an den vorigen Schritt zurückgegeben.",
    "forward": "Die Rechnung wurde weitergeleitet.",
    "comment": "Der Kommentar wurde gespeichert.",
    "override-duplicate": "Der Dublettenverdacht wurde mit Begründung aufgehoben.",
}


class NotSignedIn(Exception):
    pass


class NotFound(Exception):
    pass


class Forbidden(Exception):
    def __init__(self, message: str):
        self.message = message


class BadRequest(Exception):
    def __init__(self, message: str):
        self.message = message


# --- search -----------------------------------------------------------------------------------
_AMOUNT = re.compile(r"^-?\d{1,3}(\.\d{3})*(,\d{1,2})?$|^-?\d+([.,]\d{1,2})?$")


def parse_amount(text: str | None) -> Decimal | None:
    """'1.234,56', '1234,56' or '1234.56' as a Decimal; None if it is not an amount."""
    t = (text or "").strip().replace("€", "").replace("EUR", "").replace("\u00a0", "").replace(" ", "")
    if not t or not _AMOUNT.match(t):
        return None
    if "," in t:
        t = t.replace(".", "").replace(",", ".")
    elif t.count(".") == 1 and len(t.split(".")[1]) == 3:  # "1.234" is German thousands, not 1.234 EUR
        t = t.replace(".", "")
    try:
        return Decimal(t)
    except InvalidOperation:
        return None


class WebApprovalService(ApprovalService):
    """``ApprovalService`` whose free-text search also matches the Leitweg-ID and the exact amount.

    The inbox search box promises supplier, number, amount and Leitweg-ID; the service searches
    the first two. Only the *search predicate* is widened here; every rule and every action is
    the inherited one.
    """

    @staticmethod
    def _search(text: str):
        clauses = [ApprovalService._search(text),
                   sa.func.lower(Invoice.leitweg_id).contains(text.strip().lower(), autoescape=True)]
        amount = parse_amount(text)
        if amount is not None:
            clauses.append(Invoice.amount_due == amount)
        return sa.or_(*clauses)


# --- middleware -------------------------------------------------------------------------------
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


#: Sent over HTTPS (cfg.cookie_secure): browsers then refuse plain HTTP to this host for a year.
HSTS = "max-age=31536000"

FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data")


def _relative(location: str) -> str:
    """An absolute redirect target reduced to path and query: never send a browser to whatever
    host the request's Host header named (Starlette builds absolute URLs from it)."""
    parts = urlsplit(location)
    if not (parts.scheme or parts.netloc):
        return location
    path = "/" + parts.path.lstrip("/")  # "//evil.example" would be protocol-relative
    return path + (f"?{parts.query}" if parts.query else "")


class AccessLogMiddleware:
    """One log line per request (method, route template, status, person, ms) plus security headers,
    relative redirects only, and form bodies of at most ``forms.MAX_FORM_BYTES``."""

    def __init__(self, app, hsts: bool = False, large_forms: dict[str, int] | None = None):
        self.app = app
        self.hsts = hsts
        #: paths whose form bodies may be larger (the supplier upload page: path -> byte limit)
        self.large_forms = dict(large_forms or {})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        state = scope.setdefault("state", {})
        status = [500]
        static = scope.get("path", "").startswith("/static/")
        request_headers = dict(scope.get("headers") or [])
        if request_headers.get(b"content-type", b"").split(b";")[0].strip().lower() in FORM_TYPES:
            large = scope.get("path", "") in self.large_forms
            limit = self.large_forms.get(scope.get("path", ""), forms.MAX_FORM_BYTES)
            try:
                declared = int(request_headers.get(b"content-length", b"0"))
            except ValueError:
                declared = limit + 1
            # an upload page refuses a declared oversize body itself (with its own message)
            if declared > limit and not large:
                return await self._too_large(scope, receive, send, start)
            receive = self._limited(receive, limit)

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    headers.setdefault(k, v)
                if self.hsts:
                    headers.setdefault("strict-transport-security", HSTS)
                if "location" in headers:
                    headers["location"] = _relative(headers["location"])
                if not static:
                    headers.setdefault("cache-control", "no-store")  # invoice content must not sit in shared caches
                for cookie in state.get("set_cookies", ()):
                    headers.append("set-cookie", cookie)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except _BodyTooLarge:
            if status[0] == 500:  # nothing sent yet
                await self._too_large(scope, receive, send, start, log_it=False)
                status[0] = 413
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or ("/static/*" if static else "(no route)")
            access_log.info("%s %s %s user=%s %.1fms", scope.get("method"), template, status[0],
                            state.get("person_id", "-"), (time.perf_counter() - start) * 1000)

    @staticmethod
    def _limited(receive, limit: int = forms.MAX_FORM_BYTES):
        """A body that declared less (or chunked) but sends more than the limit is cut off."""
        seen = [0]

        async def wrapped():
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > limit:
                    raise _BodyTooLarge()
            return message

        return wrapped

    async def _too_large(self, scope, receive, send, start, log_it: bool = True):
        body = ("<!doctype html><html lang=\"de\"><meta charset=\"utf-8\"><title>Zu groß</title>"
                "<p>Das Formular ist zu groß und wurde nicht angenommen. Bitte kürzen Sie den Text.</p></html>").encode()
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close"), (b"cache-control", b"no-store")]
        headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        if self.hsts:
            headers.append((b"strict-transport-security", HSTS.encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if log_it:
            access_log.info("%s %s 413 user=- %.1fms", scope.get("method"), "(form too large)",
                            (time.perf_counter() - start) * 1000)


class _BodyTooLarge(Exception):
    pass


def _cookie(name: str, value: str, *, secure: bool, max_age: int | None = None, delete: bool = False) -> str:
    parts = [f"{name}={'' if delete else value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    if delete:
        parts.append("Max-Age=0")
    elif max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


# --- application ------------------------------------------------------------------------------
def create_app(app: App | None = None, *, auth_config: auth.AuthConfig | None = None,
               upload_config: upload.UploadConfig | None = None) -> FastAPI:
    """The ASGI app over ``app`` (default ``App.from_env()``) with ``auth_config`` and
    ``upload_config`` (the supplier upload, einvoice.web.upload; defaults from the environment)."""
    app = app or App.from_env()
    cfg = auth_config or auth.AuthConfig.from_env()
    upload_cfg = upload_config or upload.UploadConfig.from_env()
    org = app.organisation
    db = app.db
    base = app.approval
    svc = WebApprovalService(db, org, today=base.today, on_release=base.on_release)
    cache = rendering.ModelCache()
    chain = [s.value for s in steps(org)]

    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters.update(money=rendering.money, number=rendering.number, date=rendering.date,
                       action_name=approval_messages.action_name, role_name=approval_messages.role_name,
                       state_name=approval_messages.state_name, outcome_name=approval_messages.outcome_name,
                       report_view=rendering.report_view)
    env.globals.update(STEP_TITLE=STEP_TITLE, STATE_TITLE=STATE_TITLE, STEP_LABEL={s.value: v for s, v in STEP_LABEL.items()},
                       org=org, TEXT_LIMIT={k: limit for k, (limit, _) in forms.MAX_TEXT.items()})

    web = FastAPI(title="einvoice Posteingang", docs_url=None, redoc_url=None, openapi_url=None)
    # No "/inbox/" -> "/inbox" redirects: Starlette builds their absolute URL from the Host header.
    web.router.redirect_slashes = False
    web.state.einvoice = app
    web.state.auth_config = cfg
    web.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    web.add_middleware(AccessLogMiddleware, hsts=cfg.cookie_secure,
                       large_forms={upload.PAGE_PATH: upload_cfg.max_bytes + upload.FORM_OVERHEAD})
    throttle = SignInThrottle.from_config(cfg)
    hash_slots = HashSlots(cfg.hash_parallel)

    # The pull connector's API for the finance system (einvoice.finance.pull_api): its own bearer
    # token from the environment, never a staff session; the outbox is this app's (with its archive).
    outbox_lock = threading.Lock()
    outbox_box: list = []

    def pull_outbox():
        with outbox_lock:
            if not outbox_box:
                from einvoice.finance.outbox import outbox_for_app

                outbox_box.append(outbox_for_app(app))
            return outbox_box[0]

    web.include_router(pull_api.router)
    web.dependency_overrides[pull_api.outbox_dependency] = pull_outbox

    def page(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
        v = getattr(request.state, "viewer", None)
        sess = getattr(request.state, "session", None)
        ctx.setdefault("viewer", v)
        ctx.setdefault("csrf", sess.csrf_token if sess else None)
        ctx.setdefault("today", svc.today())
        return HTMLResponse(env.get_template(name).render(request=request, **ctx), status_code=status)

    # --- who is this? -------------------------------------------------------------------------
    def _start_session(request: Request, person_id: str, via: str) -> auth.SessionInfo:
        token, info = auth.create_session(db, person_id, via)
        request.state.set_cookies = [*getattr(request.state, "set_cookies", []), _cookie(cfg.cookie_name, token, secure=cfg.cookie_secure)]
        return info

    def peer(request: Request) -> str | None:
        return request.client.host if request.client else None

    def client_address(request: Request) -> str:
        values = request.headers.getlist(cfg.client_ip_header) if cfg.client_ip_header else []
        return auth.client_address(cfg, peer(request), values)

    # Suppliers' upload page and API (einvoice.web.upload): no staff session, own access rule.
    web.include_router(upload.make_router(app, upload_cfg, client_address, page))

    def identify(request: Request) -> access.Viewer | None:
        sess = auth.load_session(db, cfg, request.cookies.get(cfg.cookie_name))
        claimed = None
        if cfg.proxy_header:
            claim = auth.proxy_claim(cfg, peer(request), request.headers.getlist(cfg.proxy_header),
                                     request.headers.getlist(auth.PROXY_SECRET_HEADER))
            if isinstance(claim, auth.ProxyRefusal):
                log.warning("proxy sign-in refused (%s): header %s from %s", claim.reason, cfg.proxy_header, peer(request))
                if claim.bad_request:
                    raise BadRequest("Die Anmeldung über das Single Sign-on war nicht eindeutig und wurde abgelehnt. "
                                     "Bitte wenden Sie sich an die IT, falls das wieder vorkommt.")
            else:
                claimed = claim
        if sess is not None and sess.via == "proxy" and claimed != sess.person_id:
            sess = None  # a proxy session lasts only while the proxy vouches for the same person
        if claimed and (sess is None or sess.person_id != claimed):
            if access.viewer(org, claimed, svc.today()) is None:
                log.warning("proxy sign-in refused: the proxy named a person who is not in the organisation file")
                return None
            sess = _start_session(request, claimed, "proxy")
        if sess is None:
            return None
        if sess.via == "password" and not cfg.local_accounts:
            return None
        v = access.viewer(org, sess.person_id, svc.today())
        if v is None:
            return None
        request.state.session = sess
        request.state.viewer = v
        request.state.person_id = v.person_id
        return v

    def signed_in(request: Request) -> access.Viewer:
        v = identify(request)
        if v is None:
            raise NotSignedIn()
        return v

    async def form_fields(request: Request) -> dict:
        # Parsed on the event loop; the handlers themselves are plain functions run in the
        # thread pool, because every one of them waits for the database.
        form = await request.form()
        return {k: (val if isinstance(val, str) else "") for k, val in form.items()}

    def posted(request: Request, form: dict) -> access.Viewer:
        v = signed_in(request)
        if not auth.csrf_ok(request.state.session.csrf_token, form.get("csrf_token")):
            raise Forbidden("Das Formular ist abgelaufen oder kam nicht von dieser Seite (CSRF-Schutz). "
                            "Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.")
        return v

    @web.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn):
        return RedirectResponse("/login", status_code=303)

    @web.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return page(request, "error.html", 404, title="Nicht gefunden",
                    message="Diese Seite oder Rechnung gibt es nicht, oder sie gehört zu einem Amt, für das Sie nicht freigeschaltet sind.")

    @web.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden):
        return page(request, "error.html", 403, title="Nicht erlaubt", message=exc.message)

    @web.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: BadRequest):
        return page(request, "error.html", 400, title="Anfrage abgelehnt", message=exc.message, viewer=None, csrf=None)

    def _api(request: Request) -> bool:
        # The finance system's API answers in JSON with its rule ID, never with a staff page.
        return request.url.path.startswith(pull_api.router.prefix + "/")

    def _error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
        try:
            identify(request)
        except BadRequest:
            pass  # a refused proxy claim: the page is shown as to someone not signed in
        except Exception:  # noqa: BLE001 - an error page must render even when the database is down
            log.warning("error page without a session (%s)", status)
        return page(request, "error.html", status, title=title, message=message)

    @web.exception_handler(StarletteHTTPException)
    def _http_error(request: Request, exc: StarletteHTTPException):
        if _api(request):
            return JSONResponse({"detail": getattr(exc, "detail", "error")}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        title, message = HTTP_ERROR.get(exc.status_code, HTTP_ERROR[400])
        r = _error_page(request, exc.status_code, title, message)
        if exc.status_code == 405 and exc.headers:
            r.headers.update(exc.headers)  # "Allow"
        return r

    @web.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError):
        if _api(request):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        return _error_page(request, 400, *HTTP_ERROR["invalid"])

    @web.exception_handler(Exception)
    def _crash(request: Request, exc: Exception):
        # Starlette logs the exception itself; the person gets a German page, never a traceback.
        if _api(request):
            return JSONResponse({"detail": "internal error"}, status_code=500)
        title, message = HTTP_ERROR[500]
        return HTMLResponse(env.get_template("error.html").render(request=request, title=title, message=message,
                                                                   viewer=None, csrf=None, today=None), status_code=500)

    # --- sign-in ------------------------------------------------------------------------------
    def login_page(request: Request, status: int = 200, error: str | None = None, user: str = "") -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        request.state.set_cookies = [_cookie(cfg.login_cookie_name, token, secure=cfg.cookie_secure, max_age=3600)]
        return page(request, "login.html", status, login_csrf=token, error=error, user=user, cfg=cfg, viewer=None,
                    bye=request.query_params.get("bye") == "1")

    @web.get("/login", response_class=HTMLResponse)
    def login_form(request: Request):
        if identify(request) is not None:
            return RedirectResponse("/inbox", status_code=303)
        return login_page(request)

    @web.post("/login")
    async def login(request: Request, form: dict = Depends(form_fields)):
        # async: the cheap refusals below and the wait for a hash slot hold no worker thread;
        # the database and argon2 work run in the thread pool.
        # Sign-in CSRF (double submit): the form's token must equal the cookie set with the form.
        if not auth.csrf_ok(request.cookies.get(cfg.login_cookie_name), form.get("csrf_token")):
            raise Forbidden("Das Anmeldeformular ist abgelaufen (CSRF-Schutz). Bitte laden Sie die Anmeldeseite neu.")
        if not cfg.local_accounts:
            raise Forbidden("Die Anmeldung mit Passwort ist abgeschaltet; bitte melden Sie sich über das Single Sign-on an.")
        user = str(form.get("username") or "").strip().lower()[:64]
        password = str(form.get("password") or "")
        client = client_address(request)
        wait = throttle.admit(client, user)
        if wait > 0:
            log.warning("sign-in refused before the password check (too many attempts): account=%s client=%s",
                        auth.loggable_account(user), client)
            r = login_page(request, 429, error=THROTTLED, user=user)
            r.headers["retry-after"] = str(int(wait) + 1)
            return r
        if not await hash_slots.acquire(cfg.hash_wait_seconds):
            log.warning("sign-in refused: all password checks busy: account=%s client=%s", auth.loggable_account(user), client)
            r = login_page(request, 503, error=BUSY, user=user)
            r.headers["retry-after"] = "5"
            return r
        try:
            result = await run_in_threadpool(auth.check_password, db, org, cfg, user, password)
        finally:
            hash_slots.release()
        if isinstance(result, auth.SignInFailure):
            throttle.failed(client, user)
            # Never the password; the name only if it looks like one (see auth.loggable_account).
            log.warning("sign-in failed (%s): account=%s client=%s", result.reason, auth.loggable_account(user), client)
            return login_page(request, 401, error=auth.GENERIC_FAILURE, user=user)
        throttle.succeeded(user)
        log.info("signed in with password: account=%s client=%s", result, client)
        return await run_in_threadpool(signed_in_now, request, result)

    def signed_in_now(request: Request, result: str):
        old = auth.load_session(db, cfg, request.cookies.get(cfg.cookie_name))
        if old is not None:
            auth.end_session(db, old.token_sha256)
        _start_session(request, result, "password")
        auth.purge_expired(db, cfg)  # sign-ins are rare enough to carry the housekeeping
        request.state.person_id = result
        request.state.set_cookies.append(_cookie(cfg.login_cookie_name, "", secure=cfg.cookie_secure, delete=True))
        return RedirectResponse("/inbox", status_code=303)

    @web.post("/logout")
    def logout(request: Request, form: dict = Depends(form_fields)):
        posted(request, form)
        auth.end_session(db, request.state.session.token_sha256)
        request.state.set_cookies = [_cookie(cfg.cookie_name, "", secure=cfg.cookie_secure, delete=True)]
        return RedirectResponse("/login?bye=1", status_code=303)

    # --- lists --------------------------------------------------------------------------------
    def list_params(request: Request, v: access.Viewer) -> dict:
        q = (request.query_params.get("q") or "").strip()[:MAX_QUERY]
        step = request.query_params.get("step") or ""
        dept = request.query_params.get("department") or ""
        try:
            pg = max(1, min(10_000, int(request.query_params.get("page") or 1)))
        except ValueError:
            pg = 1
        sort = request.query_params.get("sort") or "frist"
        return {"q": q, "step": step if step in chain else "", "department": dept if any(d.code == dept for d in org.departments) else "",
                "page": pg, "sort": sort if sort in SORTS else "frist"}

    def task_list(request: Request, v: access.Viewer, *, title: str, tasks, params: dict, view: str, intro: str,
                  department_choices, counts: dict | None, extra=None) -> HTMLResponse:
        # counts: tasks per group of the inbox order; None for a search (its hits are few, and counting
        # them would search every invoice a second time).
        more = len(tasks) > PAGE_SIZE
        return page(request, "inbox.html", title=title, tasks=tasks[:PAGE_SIZE], params=params, view=view, intro=intro,
                    more=more, chain=chain, department_choices=department_choices, extra=extra or {}, counts=counts,
                    SORT_TITLE=SORT_TITLE, GROUP_TITLE=GROUP_TITLE)

    @web.get("/", include_in_schema=False)
    def root(request: Request):
        signed_in(request)
        return RedirectResponse("/inbox", status_code=303)

    @web.get("/inbox", response_class=HTMLResponse)
    def inbox(request: Request):
        v = signed_in(request)
        p = list_params(request, v)
        where = dict(department=p["department"] or None, search=p["q"] or None, state=p["step"] or None)
        tasks = svc.inbox(v.person_id, **where, limit=PAGE_SIZE + 1, offset=(p["page"] - 1) * PAGE_SIZE, sort=p["sort"])
        choices = [d for d in org.departments if v.all_departments or v.treasury or d.code in v.departments]
        return task_list(request, v, title="Posteingang", tasks=tasks, params=p, view="inbox", department_choices=choices,
                         counts=None if p["q"] else svc.inbox_counts(v.person_id, **where),
                         intro="Ihre offenen Aufgaben (auch als Vertretung). Zuerst Rechnungen mit offenem Skonto, das "
                               "am frühesten endet (verpasstes Skonto ist verlorenes Geld), dann nach Fälligkeit; "
                               "überfällige Rechnungen ohne offenes Skonto danach.")

    @web.get("/desk", response_class=HTMLResponse)
    def desk(request: Request):
        v = signed_in(request)
        if not v.central_desk:
            raise Forbidden("Die Warteschlange der zentralen Rechnungseingangsstelle sehen nur deren Mitarbeitende.")
        p = list_params(request, v)
        where = dict(department=org.central_desk, search=p["q"] or None, state=p["step"] or None)
        tasks = svc.open_tasks(**where, limit=PAGE_SIZE + 1, offset=(p["page"] - 1) * PAGE_SIZE, sort=p["sort"])
        with db.sessions() as s:
            returned = s.scalars(sa.select(Invoice).options(load_only(
                Invoice.id, Invoice.invoice_number, Invoice.seller_name, Invoice.amount_due, Invoice.currency,
                Invoice.department, Invoice.updated_at)).where(Invoice.state == "returned")
                .order_by(Invoice.updated_at.desc()).limit(PAGE_SIZE)).all()
        return task_list(request, v, title="Zentrale Rechnungseingangsstelle", tasks=tasks, params=p, view="desk",
                         department_choices=[], extra={"returned": returned},
                         counts=None if p["q"] else svc.open_task_counts(**where),
                         intro=f"Rechnungen, die keinem Amt zugeordnet werden konnten oder an die Rechnungseingangsstelle "
                               f"({org.department(org.central_desk).name}) weitergeleitet wurden.")

    @web.get("/overview", response_class=HTMLResponse)
    def overview(request: Request):
        v = signed_in(request)
        p = list_params(request, v)
        visible = access.visible_departments(org, v)
        if visible is not None:
            if not visible:
                raise Forbidden("Sie sind für kein Amt freigeschaltet.")
            if p["department"] not in visible:
                p["department"] = visible[0]
        where = dict(department=p["department"] or None, search=p["q"] or None, state=p["step"] or None)
        tasks = svc.open_tasks(**where, limit=PAGE_SIZE + 1, offset=(p["page"] - 1) * PAGE_SIZE, sort=p["sort"])
        choices = [d for d in org.departments if visible is None or d.code in visible]
        return task_list(request, v, title="Übersicht offener Aufgaben", tasks=tasks, params=p, view="overview",
                         department_choices=choices, counts=None if p["q"] else svc.open_task_counts(**where),
                         intro="Alle offenen Aufgaben der Ämter, für die Sie freigeschaltet sind (nur lesen; entscheiden "
                               "kann nur, wer im Posteingang die Aufgabe hat).")

    @web.get("/treasury", response_class=HTMLResponse)
    def treasury(request: Request):
        v = signed_in(request)
        visible = None if (v.treasury or v.all_departments) else access.visible_departments(org, v)
        if not v.treasury_view:
            raise Forbidden("Die Kassenansicht sehen die Stadtkasse, die Rechnungsprüfung und die Anordnungsbefugten.")
        state = request.query_params.get("state") or ""
        states = [state] if state in access.TREASURY_STATES else sorted(access.TREASURY_STATES)
        try:
            pg = max(1, min(10_000, int(request.query_params.get("page") or 1)))
        except ValueError:
            pg = 1
        q = sa.select(Invoice).options(load_only(
            Invoice.id, Invoice.invoice_number, Invoice.seller_name, Invoice.amount_due, Invoice.currency, Invoice.state,
            Invoice.department, Invoice.due_date, Invoice.skonto_until, Invoice.updated_at, Invoice.iban)).where(Invoice.state.in_(states))
        if visible is not None:
            q = q.where(Invoice.department.in_(visible))
        q = q.order_by(Invoice.updated_at.desc(), Invoice.id.desc()).limit(PAGE_SIZE + 1).offset((pg - 1) * PAGE_SIZE)
        with db.sessions() as s:
            rows = s.scalars(q).all()
        return page(request, "treasury.html", title="Stadtkasse", rows=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE,
                    state=state, page_no=pg)

    # --- the invoice --------------------------------------------------------------------------
    def load_invoice(invoice_id: int, v: access.Viewer):
        with db.sessions() as s:
            row = s.get(Invoice, invoice_id)
        if row is None:
            raise NotFound()
        open_task = svc.open_task_of(invoice_id)
        if not access.may_see(org, v, department=row.department, state=row.state,
                              open_step=open_task.step.value if open_task else None,
                              candidates=open_task.candidates if open_task else ()):
            raise NotFound()
        return row, open_task

    def rendered(row: Invoice) -> rendering.Rendered:
        if not row.archive_original_key:
            return rendering.Rendered(None, "Für diese Rechnung ist kein Original im Archiv verzeichnet.")
        hit = cache.get(row.file_sha256)
        if hit is not None:
            return hit
        try:
            data = app.original_bytes(row)
        except Exception as exc:  # noqa: BLE001 - the page still shows everything the database knows
            log.warning("original of invoice %s not readable from the archive: %s", row.id, type(exc).__name__)
            return rendering.Rendered(None, "Das Original ist im Archiv gerade nicht erreichbar; die Angaben unten "
                                            "stammen aus der Datenbank.")
        r = rendering.render_original(data, row.filename)
        cache.put(row.file_sha256, r)
        return r

    def invoice_page(request: Request, v: access.Viewer, invoice_id: int, *, refusal: Refusal | None = None,
                     refused_action: str | None = None, form: dict | None = None, status: int = 200) -> HTMLResponse:
        row, open_task = load_invoice(invoice_id, v)
        r = rendered(row)
        report = json.loads(row.report_json) if row.report_json else None
        allowed = svc.allowed(open_task.task_id, v.person_id) if open_task else {}
        dups = svc.duplicates(invoice_id)
        done = DONE_MESSAGE.get(request.query_params.get("done") or "")
        sk = skonto_now(row, svc.today())  # the Skonto term by einvoice.skonto's rule, as the inbox shows it
        channel_meta = json.loads(row.channel_json) if row.channel_json else None  # Peppol header, reply address ...
        kontierung = None
        if row.amount_due is not None and row.department:
            try:  # the Kontierung as finance builds the posting record from it (einvoice.finance.record)
                with db.sessions() as s:
                    kontierung = account_assignment(s, row, org, r.model, r.root)
            except Exception as exc:  # noqa: BLE001 - the page still shows the invoice
                log.warning("Kontierung of invoice %s not computable: %s", row.id, type(exc).__name__)
        return page(request, "invoice.html", status, title=f"Rechnung {row.id}", inv=row, m=r.model, rendered=r, sk=sk,
                    channel_meta=channel_meta if isinstance(channel_meta, dict) else None,
                    report=report, task=open_task, kontierung=kontierung, allowed=allowed, tasks=svc.tasks_of(invoice_id),
                    history=svc.history(invoice_id), duplicates=dups, open_duplicates=[d for d in dups if d.open],
                    follow_ups=RecordArchiver(db, None).records_of(invoice_id),
                    refusal=refusal, refused_action=refused_action, form=form or {}, done=done,
                    departments=[d for d in org.departments if not open_task or d.code != open_task.department])

    @web.get("/invoices/{invoice_id:dbid}", response_class=HTMLResponse)
    def invoice(request: Request, invoice_id: int):
        v = signed_in(request)
        return invoice_page(request, v, invoice_id)

    def _download(data: bytes, filename: str, media_type: str) -> Response:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:120] or "download"
        return Response(data, media_type=media_type, headers={
            "content-disposition": f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(filename[:200])}",
            "content-security-policy": "default-src 'none'; sandbox",
        })

    @web.get("/invoices/{invoice_id:dbid}/original")
    def original(request: Request, invoice_id: int):
        v = signed_in(request)
        row, _ = load_invoice(invoice_id, v)
        if not row.archive_original_key:
            raise NotFound()
        try:
            data = app.original_bytes(row)
        except Exception as exc:  # noqa: BLE001
            log.warning("original of invoice %s not readable from the archive: %s", row.id, type(exc).__name__)
            return page(request, "error.html", 503, title="Archiv nicht erreichbar",
                        message="Das Original kann gerade nicht aus dem Archiv gelesen werden. Bitte später erneut versuchen.")
        media = {"pdf": "application/pdf", "xml": "application/xml"}.get(row.container or "", "application/octet-stream")
        return _download(data, row.filename, media)

    @web.get("/invoices/{invoice_id:dbid}/attachments/{index:dbid}")
    def attachment(request: Request, invoice_id: int, index: int):
        v = signed_in(request)
        row, _ = load_invoice(invoice_id, v)
        if not row.archive_original_key:
            raise NotFound()
        try:
            data = app.original_bytes(row)
        except Exception:  # noqa: BLE001
            raise NotFound() from None
        att = rendering.embedded_attachment(data, index)
        if att is None:
            raise NotFound()
        # Always a download, never rendered inline: an attachment is supplier-supplied content.
        return _download(att.data, att.filename, "application/octet-stream")

    # --- actions ------------------------------------------------------------------------------
    def task_for_action(task_id: int, v: access.Viewer):
        try:
            t = svc.task(task_id)
        except LookupError:
            raise NotFound() from None
        # Visibility is judged on the invoice as it is now (the task may be closed already).
        load_invoice(t.invoice_id, v)
        return t

    def too_long(form: dict):
        """TEXT-TOO-LONG before the service sees the text (the page keeps it, so nothing typed is lost)."""
        refusal = forms.text_too_long(form)
        return None if refusal is None else ActionResult(False, refusal, None, None)

    def outcome(request: Request, v, invoice_id: int, result, action: str, form: dict):
        if result.ok:
            return RedirectResponse(f"/invoices/{invoice_id}?done={action}", status_code=303)
        return invoice_page(request, v, invoice_id, refusal=result.refusal, refused_action=action, form=form, status=409)

    @web.post("/tasks/{task_id:dbid}/approve")
    def approve(request: Request, task_id: int, form: dict = Depends(form_fields)):
        v = posted(request, form)
        t = task_for_action(task_id, v)
        raw = form.get("amount", "").strip()
        amount = parse_amount(raw) if raw else None
        if raw and amount is None:
            result = ActionResult(False, Refusal("AMOUNT-FORMAT", f"„{raw[:40]}“ ist kein Betrag; bitte z. B. 1.234,56 eingeben."),
                                  t.state, None)
        else:
            result = too_long(form) or svc.approve(task_id, v.person_id, amount=amount, comment=form.get("comment") or None)
        return outcome(request, v, t.invoice_id, result, "approve", form)

    @web.post("/tasks/{task_id:dbid}/reject")
    def reject(request: Request, task_id: int, form: dict = Depends(form_fields)):
        v = posted(request, form)
        t = task_for_action(task_id, v)
        result = too_long(form) or svc.reject(task_id, v.person_id, reason=form.get("reason", ""))
        return outcome(request, v, t.invoice_id, result, "reject", form)

    @web.post("/tasks/{task_id:dbid}/send-back")
    def send_back(request: Request, task_id: int, form: dict = Depends(form_fields)):
        v = posted(request, form)
        t = task_for_action(task_id, v)
        result = too_long(form) or svc.send_back(task_id, v.person_id, reason=form.get("reason", ""))
        return outcome(request, v, t.invoice_id, result, "send-back", form)

    @web.post("/tasks/{task_id:dbid}/forward")
    def forward(request: Request, task_id: int, form: dict = Depends(form_fields)):
        v = posted(request, form)
        t = task_for_action(task_id, v)
        result = too_long(form) or svc.forward(task_id, v.person_id, department=form.get("department", ""),
                                               comment=form.get("comment") or None)
        if result.ok:
            # The invoice may now be out of this person's sight (another department): back to the inbox.
            return RedirectResponse("/inbox", status_code=303)
        return outcome(request, v, t.invoice_id, result, "forward", form)

    @web.post("/invoices/{invoice_id:dbid}/comment")
    def comment(request: Request, invoice_id: int, form: dict = Depends(form_fields)):
        v = posted(request, form)
        load_invoice(invoice_id, v)
        result = too_long(form) or svc.comment(invoice_id, v.person_id, form.get("text", ""))
        return outcome(request, v, invoice_id, result, "comment", form)

    @web.post("/invoices/{invoice_id:dbid}/override-duplicate")
    def override_duplicate(request: Request, invoice_id: int, form: dict = Depends(form_fields)):
        v = posted(request, form)
        load_invoice(invoice_id, v)
        result = too_long(form) or svc.override_duplicate(invoice_id, v.person_id, reason=form.get("reason", ""))
        return outcome(request, v, invoice_id, result, "override-duplicate", form)

    @web.get("/healthz", include_in_schema=False)
    def healthz():
        return {"ok": True}

    return web
