"""Every error a person can meet on a staff page is an HTML page in the language set (German by
default): 404, 405 with ``Allow``, request validation errors, 500 without a traceback; ``NotSignedIn``
is the redirect to ``/login``. Only the finance system's pull API (``/finance/pull/...``) answers in
JSON. Titles and messages here and in the signals (``Forbidden``, ``BadRequest``) are German source
strings; ``error.html`` shows them with ``|tr`` (English in ``einvoice.web.texts``).

This module must never show a traceback or an exception's text to a person, and never fail to
answer when the database is down (the page is then shown as to someone not signed in).
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from einvoice.finance import pull_api
from einvoice.web.context import WebContext
from einvoice.web.errors import BadRequest, Forbidden, NotFound, NotSignedIn
from einvoice.web.sessions import identify

log = logging.getLogger("einvoice.web")

#: The error pages (German source strings; staff pages never answer with a framework's JSON).
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


def _api(request: Request) -> bool:
    # The finance system's API answers in JSON with its rule ID, never with a staff page.
    return request.url.path.startswith(pull_api.router.prefix + "/")


def _error_page(ctx: WebContext, request: Request, status: int, title: str, message: str) -> HTMLResponse:
    try:
        identify(ctx, request)
    except BadRequest:
        pass  # a refused proxy claim: the page is shown as to someone not signed in
    except Exception:  # noqa: BLE001 - an error page must render even when the database is down
        log.warning("error page without a session (%s)", status)
    return ctx.render(request, "error.html", status, title=title, message=message)


def install_error_handlers(web: FastAPI, ctx: WebContext) -> None:
    """Register the error pages on ``web``."""

    @web.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn):
        return RedirectResponse("/login", status_code=303)

    @web.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return ctx.render(request, "error.html", 404, title="Nicht gefunden",
                          message="Diese Seite oder Rechnung gibt es nicht, oder sie gehört zu einem Amt, für das Sie nicht freigeschaltet sind.")

    @web.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden):
        return ctx.render(request, "error.html", 403, title="Nicht erlaubt", message=exc.message)

    @web.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: BadRequest):
        return ctx.render(request, "error.html", 400, title="Anfrage abgelehnt", message=exc.message, viewer=None, csrf=None)

    @web.exception_handler(StarletteHTTPException)
    def _http_error(request: Request, exc: StarletteHTTPException):
        if _api(request):
            return JSONResponse({"detail": getattr(exc, "detail", "error")}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        title, message = HTTP_ERROR.get(exc.status_code, HTTP_ERROR[400])
        r = _error_page(ctx, request, exc.status_code, title, message)
        if exc.status_code == 405 and exc.headers:
            r.headers.update(exc.headers)  # "Allow"
        return r

    @web.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError):
        if _api(request):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        return _error_page(ctx, request, 400, *HTTP_ERROR["invalid"])

    @web.exception_handler(Exception)
    def _crash(request: Request, exc: Exception):
        # Starlette logs the exception itself; the person gets an error page, never a traceback.
        if _api(request):
            return JSONResponse({"detail": "internal error"}, status_code=500)
        title, message = HTTP_ERROR[500]
        return HTMLResponse(ctx.templates.get_template("error.html").render(
            request=request, title=title, message=message, viewer=None, csrf=None, today=None), status_code=500)
