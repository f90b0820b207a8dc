"""The shared dependencies of the web routes, as ``Annotated`` types for their signatures.

A route names what it needs (``v: CurrentViewer``, ``svc: Service``, ``form: FormFields``) and
FastAPI supplies it from the ``WebContext`` that ``create_app`` keeps on ``app.state.context``.
``PostingViewer`` is the order of checks on every staff POST: the form is read, the person must
be signed in, then the form's CSRF token must match the session's (403 otherwise); the route then
checks visibility (404) before the service decides. This module must never decide an approval
rule, never read a form field other than the CSRF token, and never log a header, cookie or field.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from einvoice.app import App
from einvoice.db import Database
from einvoice.organisation import Organisation
from einvoice.web import access, auth
from einvoice.web.context import WebContext
from einvoice.web.errors import Forbidden, NotSignedIn
from einvoice.web.search import WebApprovalService
from einvoice.web.sessions import identify
from einvoice.web.throttle import HashSlots, SignInThrottle
from einvoice.web.upload import UploadConfig


# The getters are ``async``: they only look up objects, and a plain function would cost a trip
# through the thread pool on every request.
async def _context(request: Request) -> WebContext:
    return request.app.state.context


Ctx = Annotated[WebContext, Depends(_context)]


async def _app(ctx: Ctx) -> App:
    return ctx.app


async def _db(ctx: Ctx) -> Database:
    return ctx.db


async def _org(ctx: Ctx) -> Organisation:
    return ctx.org


async def _service(ctx: Ctx) -> WebApprovalService:
    return ctx.svc


async def _auth_config(ctx: Ctx) -> auth.AuthConfig:
    return ctx.auth


async def _upload_config(ctx: Ctx) -> UploadConfig:
    return ctx.upload


async def _throttle(ctx: Ctx) -> SignInThrottle:
    return ctx.throttle


async def _hash_slots(ctx: Ctx) -> HashSlots:
    return ctx.hash_slots


EinvoiceApp = Annotated[App, Depends(_app)]
Db = Annotated[Database, Depends(_db)]
Org = Annotated[Organisation, Depends(_org)]
Service = Annotated[WebApprovalService, Depends(_service)]
AuthSettings = Annotated[auth.AuthConfig, Depends(_auth_config)]
UploadSettings = Annotated[UploadConfig, Depends(_upload_config)]
#: Sign-in attempts per client address and account (einvoice.web.throttle), checked before argon2.
Throttle = Annotated[SignInThrottle, Depends(_throttle)]
#: Argon2 checks at once in this process (EINVOICE_WEB_HASH_PARALLEL).
PasswordChecks = Annotated[HashSlots, Depends(_hash_slots)]


# identify reads the database: plain functions, run in the thread pool.
def _maybe_viewer(request: Request, ctx: Ctx) -> access.Viewer | None:
    return identify(ctx, request)


def _current_viewer(request: Request, ctx: Ctx) -> access.Viewer:
    v = identify(ctx, request)
    if v is None:
        raise NotSignedIn()
    return v


#: The signed-in person, or None (the sign-in page).
MaybeViewer = Annotated[access.Viewer | None, Depends(_maybe_viewer)]
#: The signed-in person; anyone else is sent to ``/login``.
CurrentViewer = Annotated[access.Viewer, Depends(_current_viewer)]


async def _form_fields(request: Request) -> dict:
    # Parsed on the event loop; the handlers themselves are plain functions run in the
    # thread pool, because every one of them waits for the database.
    form = await request.form()
    return {k: (val if isinstance(val, str) else "") for k, val in form.items()}


#: The posted form's text fields (files are ignored: staff forms carry none).
FormFields = Annotated[dict, Depends(_form_fields)]


def _csrf_checked(request: Request, form: FormFields, v: CurrentViewer) -> access.Viewer:
    if not auth.csrf_ok(request.state.session.csrf_token, form.get("csrf_token")):
        raise Forbidden("Das Formular ist abgelaufen oder kam nicht von dieser Seite (CSRF-Schutz). "
                        "Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.")
    return v


#: The signed-in person of a staff POST whose CSRF token matched the session's.
PostingViewer = Annotated[access.Viewer, Depends(_csrf_checked)]
