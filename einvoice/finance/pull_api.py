"""Pull connector: the finance system fetches pending posting records over HTTP and acknowledges each.

The web app (``einvoice.web.app.create_app``) mounts ``router``. Endpoints, both behind the
finance system's own credential ``Authorization: Bearer <token>`` (the token is read from the
environment variable named by ``finance.pull.token_env``, at least 16 characters; compared in
constant time; a staff session is never accepted; refused when no token is configured or the
organisation does not use the pull connector):

* ``GET  /finance/pull/pending?limit=N`` → ``{"count": n, "records": [{"idempotency_key", "record"}]}``.
  Returns new records first, then records fetched before but not yet acknowledged (offered again
  until acknowledged, so a lost response loses nothing; never blocking new ones); the receiver
  deduplicates by idempotency key.
* ``POST /finance/pull/ack`` with ``{"idempotency_key", "status": "booked"|"duplicate"|"rejected",
  "booking_number", "message"}`` → stores the confirmation (invoice RELEASED → POSTED) or, for
  "rejected", makes the record a dead letter for a person. Acknowledging twice is harmless; a
  second, different booking number is a conflict stored for a person (409 BOOKING-CONFLICT).
* A refusal is ``{"detail": {"code", "message", "message_en"}}``: ``message`` in the language set
  (German by default), ``message_en`` the English one the API always gave.

The outbox comes from the dependency ``outbox_dependency``, which whoever mounts ``router`` must
provide with ``app.dependency_overrides`` (the web app passes its App's outbox, tests their own):
this module never builds an App. It must never hand out records without a valid token, and never
hold a token in code.
"""
from __future__ import annotations

import hmac
import os
from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from pydantic import BaseModel, Field

from einvoice.finance import errors
from einvoice.finance import messages as M
from einvoice.finance.outbox import Outbox


def outbox_dependency() -> Outbox:
    """The outbox the endpoints work on; a placeholder the mounting app overrides with its provider."""
    raise RuntimeError("einvoice.finance.pull_api.router is mounted without an outbox: set "
                       "app.dependency_overrides[pull_api.outbox_dependency] to a function returning it")


#: A shorter token is guessable; the API refuses to run with one.
MIN_TOKEN_LENGTH = 16


def require_token(authorization: str | None = Header(default=None),
                  outbox: Outbox = Depends(outbox_dependency)) -> Outbox:
    """The finance system's own credential: ``Authorization: Bearer <token>``, nothing else.

    Staff sign-in (session cookies, the proxy header) is never looked at: a clerk's browser cannot
    fetch or acknowledge posting records. Refused when the organisation does not use the pull
    connector, when no token (or a too short one) is configured, and on a missing or wrong token
    (compared in constant time).
    """
    if outbox.org.finance.connector != "pull":
        raise HTTPException(404, detail=M.problem(errors.PULL_DISABLED).as_dict())
    env = outbox.org.finance.pull.token_env
    expected = os.environ.get(env) or ""
    if len(expected.strip()) < MIN_TOKEN_LENGTH:
        raise HTTPException(503, detail=M.problem(errors.PULL_TOKEN_MISSING, env=env, min=MIN_TOKEN_LENGTH).as_dict())
    scheme, _, given = (authorization or "").strip().partition(" ")
    ok = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.strip().encode())
    if not ok:
        raise HTTPException(401, detail=M.problem(errors.PULL_UNAUTHORIZED).as_dict(),
                            headers={"WWW-Authenticate": "Bearer"})
    return outbox


class Ack(BaseModel):
    idempotency_key: str = Field(min_length=1, max_length=64)
    status: Literal["booked", "duplicate", "rejected"]
    booking_number: str | None = Field(default=None, max_length=128)
    message: str | None = Field(default=None, max_length=2000)


router = APIRouter(prefix="/finance/pull", tags=["finance"])


@router.get("/pending")
def pending(limit: int = Query(default=100, ge=1, le=1000), outbox: Outbox = Depends(require_token)) -> dict:
    records = outbox.fetch_for_pull(limit=min(limit, outbox.org.finance.pull.max_batch))
    return {"count": len(records), "records": records}


@router.post("/ack")
def ack(body: Ack, outbox: Outbox = Depends(require_token)) -> dict:
    if body.status == "rejected":
        problem = outbox.reject(body.idempotency_key, body.message or M.word("no-reason"), via="pull")
    else:
        if body.status == "booked" and not body.booking_number:
            raise HTTPException(422, detail=M.problem(M.BOOKING_REQUIRED_PULL).as_dict())
        problem = outbox.confirm(body.idempotency_key, body.booking_number, status=body.status, via="pull",
                                 answer=body.model_dump())
    if problem is not None:
        code = 404 if problem.rule == errors.NOT_FOUND else 409
        raise HTTPException(code, detail=problem.as_dict())
    return {"ok": True, "idempotency_key": body.idempotency_key}
