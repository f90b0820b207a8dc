"""The ASGI middleware of the web app: one access-log line per request, security headers on every
answer, relative redirects only, and a size limit on form bodies.

The access log records method, route *template* (``/invoices/{invoice_id}``), status, person id
and duration. This module must never log a query string, a form field or a header value, and
never let a ``Location`` header name a host (Starlette builds absolute URLs from the request's
Host header).
"""
from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders

from einvoice.web import forms

access_log = logging.getLogger("einvoice.web.access")

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
