"""The central desk's list of e-mails waiting for a person: ``GET /notices`` (dead letters, notices
without an address, deliveries of uncertain outcome), each with its invoice, recipient, time
(Europe/Berlin) and reason, and the command that resolves it.

Only the zentrale Rechnungseingangsstelle sees it (it answers suppliers; 403 for anyone else).
This router must never send, retry or settle a notice (that stays with ``einvoice notices`` and
its rules) and never show a message's content.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from einvoice.web.deps import Ctx, CurrentViewer
from einvoice.web.errors import Forbidden
from einvoice.web.notices_view import waiting_for_a_person

router = APIRouter()


@router.get("/notices", response_class=HTMLResponse)
def notices(request: Request, v: CurrentViewer, ctx: Ctx):
    if not v.central_desk:
        raise Forbidden("Nicht zugestellte Benachrichtigungen sieht nur die zentrale Rechnungseingangsstelle.")
    return ctx.render(request, "notices.html", title="Nicht zugestellte Benachrichtigungen", view="notices",
                      lines=waiting_for_a_person(ctx.db))
