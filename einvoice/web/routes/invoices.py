"""Reading one invoice: ``GET /invoices/{invoice_id}`` (the page), ``.../original`` (the received
file as archived) and ``.../attachments/{index}`` (an embedded attachment, BG-24).

An invoice a person may not see is "not found". This router must never change anything, never
serve a file inline (always an attachment with a sandboxing CSP) and never name a file's content
in a log line.
"""
from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from einvoice.web import rendering
from einvoice.web.deps import Ctx, CurrentViewer
from einvoice.web.errors import NotFound
from einvoice.web.invoice_view import download, invoice_page, load_invoice

log = logging.getLogger("einvoice.web")
router = APIRouter()


@router.get("/invoices/{invoice_id:dbid}", response_class=HTMLResponse)
def invoice(request: Request, invoice_id: int, v: CurrentViewer, ctx: Ctx):
    return invoice_page(ctx, request, v, invoice_id)


@router.get("/invoices/{invoice_id:dbid}/original")
def original(request: Request, invoice_id: int, v: CurrentViewer, ctx: Ctx):
    row, _ = load_invoice(ctx, invoice_id, v)
    if not row.archive_original_key:
        raise NotFound()
    try:
        data = ctx.app.original_bytes(row)
    except Exception as exc:  # noqa: BLE001
        log.warning("original of invoice %s not readable from the archive: %s", row.id, type(exc).__name__)
        return ctx.render(request, "error.html", 503, title="Archiv nicht erreichbar",
                          message="Das Original kann gerade nicht aus dem Archiv gelesen werden. Bitte später erneut versuchen.")
    media = {"pdf": "application/pdf", "xml": "application/xml"}.get(row.container or "", "application/octet-stream")
    return download(data, row.filename, media)


@router.get("/invoices/{invoice_id:dbid}/attachments/{index:dbid}")
def attachment(invoice_id: int, index: int, v: CurrentViewer, ctx: Ctx):
    row, _ = load_invoice(ctx, invoice_id, v)
    if not row.archive_original_key:
        raise NotFound()
    try:
        data = ctx.app.original_bytes(row)
    except Exception:  # noqa: BLE001
        raise NotFound() from None
    att = rendering.embedded_attachment(data, index)
    if att is None:
        raise NotFound()
    # Always a download, never rendered inline: an attachment is supplier-supplied content.
    return download(att.data, att.filename, "application/octet-stream")
