"""Sign-in and sign-out: ``GET /login``, ``POST /login``, ``POST /logout``.

Password sign-in is throttled per client address and account *before* argon2 runs, at most
``EINVOICE_WEB_HASH_PARALLEL`` hashes at once; the sign-in form uses a double-submit CSRF cookie.
This router must never log a password, never reveal whether an account exists (every failure gets
the same sentence), and never keep an old session token across a sign-in.
"""
from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from einvoice.web import auth
from einvoice.web.context import WebContext
from einvoice.web.deps import Ctx, FormFields, MaybeViewer, PasswordChecks, PostingViewer, Throttle
from einvoice.web.errors import Forbidden
from einvoice.web.sessions import client_address, cookie, start_session

log = logging.getLogger("einvoice.web")
router = APIRouter()

THROTTLED = ("Zu viele Anmeldeversuche in kurzer Zeit. Bitte warten Sie einige Minuten und versuchen Sie es dann erneut; "
             "wenn Sie Ihr Passwort vergessen haben, wenden Sie sich an die IT.")
BUSY = "Die Anmeldung ist gerade ausgelastet. Bitte versuchen Sie es in einigen Sekunden noch einmal."


def login_page(ctx: WebContext, request: Request, status: int = 200, error: str | None = None, user: str = "") -> HTMLResponse:
    cfg = ctx.auth
    token = secrets.token_urlsafe(24)
    request.state.set_cookies = [cookie(cfg.login_cookie_name, token, secure=cfg.cookie_secure, max_age=3600)]
    return ctx.render(request, "login.html", status, login_csrf=token, error=error, user=user, cfg=cfg, viewer=None,
                      bye=request.query_params.get("bye") == "1")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, ctx: Ctx, v: MaybeViewer):
    if v is not None:
        return RedirectResponse("/inbox", status_code=303)
    return login_page(ctx, request)


@router.post("/login")
async def login(request: Request, form: FormFields, ctx: Ctx, throttle: Throttle, hash_slots: PasswordChecks):
    # async: the cheap refusals below and the wait for a hash slot hold no worker thread;
    # the database and argon2 work run in the thread pool.
    # Sign-in CSRF (double submit): the form's token must equal the cookie set with the form.
    cfg = ctx.auth
    if not auth.csrf_ok(request.cookies.get(cfg.login_cookie_name), form.get("csrf_token")):
        raise Forbidden("Das Anmeldeformular ist abgelaufen (CSRF-Schutz). Bitte laden Sie die Anmeldeseite neu.")
    if not cfg.local_accounts:
        raise Forbidden("Die Anmeldung mit Passwort ist abgeschaltet; bitte melden Sie sich über das Single Sign-on an.")
    user = str(form.get("username") or "").strip().lower()[:64]
    password = str(form.get("password") or "")
    client = client_address(ctx, request)
    wait = throttle.admit(client, user)
    if wait > 0:
        log.warning("sign-in refused before the password check (too many attempts): account=%s client=%s",
                    auth.loggable_account(user), client)
        r = login_page(ctx, request, 429, error=THROTTLED, user=user)
        r.headers["retry-after"] = str(int(wait) + 1)
        return r
    if not await hash_slots.acquire(cfg.hash_wait_seconds):
        log.warning("sign-in refused: all password checks busy: account=%s client=%s", auth.loggable_account(user), client)
        r = login_page(ctx, request, 503, error=BUSY, user=user)
        r.headers["retry-after"] = "5"
        return r
    try:
        result = await run_in_threadpool(auth.check_password, ctx.db, ctx.org, cfg, user, password)
    finally:
        hash_slots.release()
    if isinstance(result, auth.SignInFailure):
        throttle.failed(client, user)
        # Never the password; the name only if it looks like one (see auth.loggable_account).
        log.warning("sign-in failed (%s): account=%s client=%s", result.reason, auth.loggable_account(user), client)
        return login_page(ctx, request, 401, error=auth.GENERIC_FAILURE, user=user)
    throttle.succeeded(user)
    log.info("signed in with password: account=%s client=%s", result, client)
    return await run_in_threadpool(_signed_in_now, ctx, request, result)


def _signed_in_now(ctx: WebContext, request: Request, result: str):
    cfg = ctx.auth
    old = auth.load_session(ctx.db, cfg, request.cookies.get(cfg.cookie_name))
    if old is not None:
        auth.end_session(ctx.db, old.token_sha256)
    start_session(ctx, request, result, "password")
    auth.purge_expired(ctx.db, cfg)  # sign-ins are rare enough to carry the housekeeping
    request.state.person_id = result
    request.state.set_cookies.append(cookie(cfg.login_cookie_name, "", secure=cfg.cookie_secure, delete=True))
    return RedirectResponse("/inbox", status_code=303)


@router.post("/logout")
def logout(request: Request, v: PostingViewer, ctx: Ctx):
    auth.end_session(ctx.db, request.state.session.token_sha256)
    request.state.set_cookies = [cookie(ctx.auth.cookie_name, "", secure=ctx.auth.cookie_secure, delete=True)]
    return RedirectResponse("/login?bye=1", status_code=303)
