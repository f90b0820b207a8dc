"""Inline PDFs for the viewer on the invoice page: ``GET /invoices/{invoice_id}/pdf`` (the received
hybrid PDF as archived) and ``GET /invoices/{invoice_id}/attachments/{index}/pdf`` (an embedded
attachment, BG-24, that is a PDF).

Visibility is the invoice's (``invoice_view.load_invoice``: "not found" for a person who may not
see it). A file that is not a PDF by its content is "not found" here; it stays a download at
``/original`` or ``/attachments/{index}``. This router must never change anything, never serve
anything but a PDF inline (``einvoice.web.pdfview``) and never name a file's content in a log line.
"""
from __future__ import annotations

import logging

from fastapi import APIRouter

from einvoice.web import pdfview, rendering
from einvoice.web.deps import Ctx, CurrentViewer
from einvoice.web.errors import NotFound
from einvoice.web.invoice_view import load_invoice

log = logging.getLogger("einvoice.web")
router = APIRouter()


def _original(ctx, row) -> bytes:
    if not row.archive_original_key:
        raise NotFound()
    try:
        return ctx.app.original_bytes(row)
    except Exception as exc:  # noqa: BLE001 - the page says the archive is unreachable; here: nothing to show
        log.warning("original of invoice %s not readable from the archive: %s", row.id, type(exc).__name__)
        raise NotFound() from None


@router.get("/invoices/{invoice_id:dbid}/pdf")
def original_pdf(invoice_id: int, v: CurrentViewer, ctx: Ctx):
    row, _ = load_invoice(ctx, invoice_id, v)
    if row.container != "pdf":
        raise NotFound()
    data = _original(ctx, row)
    if not pdfview.is_pdf(data):
        raise NotFound()
    return pdfview.inline_pdf(data, row.filename)


@router.get("/invoices/{invoice_id:dbid}/attachments/{index:dbid}/pdf")
def attachment_pdf(invoice_id: int, index: int, v: CurrentViewer, ctx: Ctx):
    row, _ = load_invoice(ctx, invoice_id, v)
    att = rendering.embedded_attachment(_original(ctx, row), index)
    # Judged by the bytes, never by the supplier's mimeCode or file name.
    if att is None or not pdfview.is_pdf(att.data):
        raise NotFound()
    return pdfview.inline_pdf(att.data, att.filename)
