"""Who is asking: the staff session cookie, the SSO proxy's claim, the client address.

Used by the dependencies (``einvoice.web.deps``) and by the error pages, which show the menu of a
signed-in person. This module must never accept a proxy header from an untrusted peer (that is
``einvoice.web.auth.proxy_claim``'s rule), never log a cookie, token or header value, and never
decide what a person may see beyond "signed in as whom".
"""
from __future__ import annotations

import logging

from fastapi import Request

from einvoice.web import access, auth
from einvoice.web.context import WebContext
from einvoice.web.errors import BadRequest

log = logging.getLogger("einvoice.web")


def cookie(name: str, value: str, *, secure: bool, max_age: int | None = None, delete: bool = False) -> str:
    parts = [f"{name}={'' if delete else value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    if delete:
        parts.append("Max-Age=0")
    elif max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


def start_session(ctx: WebContext, request: Request, person_id: str, via: str) -> auth.SessionInfo:
    """A new session row and its cookie (sent by the middleware with the response)."""
    cfg = ctx.auth
    token, info = auth.create_session(ctx.db, person_id, via)
    request.state.set_cookies = [*getattr(request.state, "set_cookies", []), cookie(cfg.cookie_name, token, secure=cfg.cookie_secure)]
    return info


def peer(request: Request) -> str | None:
    return request.client.host if request.client else None


def client_address(ctx: WebContext, request: Request) -> str:
    cfg = ctx.auth
    values = request.headers.getlist(cfg.client_ip_header) if cfg.client_ip_header else []
    return auth.client_address(cfg, peer(request), values)


def identify(ctx: WebContext, request: Request) -> access.Viewer | None:
    """The signed-in person (session cookie or the trusted proxy's claim), kept on ``request.state``."""
    cfg, org = ctx.auth, ctx.org
    sess = auth.load_session(ctx.db, cfg, request.cookies.get(cfg.cookie_name))
    claimed = None
    if cfg.proxy_header:
        claim = auth.proxy_claim(cfg, peer(request), request.headers.getlist(cfg.proxy_header),
                                 request.headers.getlist(auth.PROXY_SECRET_HEADER))
        if isinstance(claim, auth.ProxyRefusal):
            log.warning("proxy sign-in refused (%s: %s): header %s from %s", claim.rule, claim.message, cfg.proxy_header,
                        peer(request))
            if claim.bad_request:
                raise BadRequest("Die Anmeldung über das Single Sign-on war nicht eindeutig und wurde abgelehnt. "
                                 "Bitte wenden Sie sich an die IT, falls das wieder vorkommt.")
        else:
            claimed = claim
    if sess is not None and sess.via == "proxy" and claimed != sess.person_id:
        sess = None  # a proxy session lasts only while the proxy vouches for the same person
    if claimed and (sess is None or sess.person_id != claimed):
        if access.viewer(org, claimed, ctx.svc.today()) is None:
            log.warning("proxy sign-in refused: the proxy named a person who is not in the organisation file")
            return None
        sess = start_session(ctx, request, claimed, "proxy")
    if sess is None:
        return None
    if sess.via == "password" and not cfg.local_accounts:
        return None
    v = access.viewer(org, sess.person_id, ctx.svc.today())
    if v is None:
        return None
    request.state.session = sess
    request.state.viewer = v
    request.state.person_id = v.person_id
    return v
