"""Showing a PDF inside the invoice page: the PDF of a hybrid invoice (ZUGFeRD/Factur-X) and PDF
attachments (BG-24), served from our own origin so the page can embed them in an ``<object>``.

What makes it safe: a PDF is recognised by its content (``%PDF-``), never by the name or the
supplier's declared mime code; it is answered as ``application/pdf`` with ``nosniff``, inline only
because it is a PDF, with a CSP that runs no script and loads nothing from anywhere
(``default-src 'none'``), that lets only our own pages frame it (``frame-ancestors 'self'``,
``X-Frame-Options: SAMEORIGIN``) and that sandboxes it as a document of no origin; the invoice page
itself allows ``object-src``/``frame-src`` of ``'self'`` only, and still no script. Every other
file stays a download (``invoice_view.download``). This module must never serve anything but a
PDF inline, never widen the page's CSP beyond 'self', and never decide who may see an invoice
(the routes call ``invoice_view.load_invoice`` first).
"""
from __future__ import annotations

import re
from urllib.parse import quote

from fastapi.responses import Response

from einvoice.web.middleware import SECURITY_HEADERS

PDF_MAGIC = b"%PDF-"
#: The invoice page's CSP: the app's own, plus PDFs embedded from this origin (no script anywhere).
PAGE_CSP = SECURITY_HEADERS["content-security-policy"] + "; object-src 'self'; frame-src 'self'"
#: The CSP of an inline PDF. ``sandbox`` (without allow-scripts) gives the document an opaque
#: origin and no scripts: a PDF's JavaScript or links cannot act as this site.
PDF_CSP = "default-src 'none'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
PDF_HEADERS = {
    "content-security-policy": PDF_CSP,
    "x-frame-options": "SAMEORIGIN",  # framing by our own page only (the app's default is DENY)
    "x-content-type-options": "nosniff",
    "cross-origin-resource-policy": "same-origin",
}


def is_pdf(data: bytes | None) -> bool:
    """A PDF by its content: the header must appear in the first 1024 bytes (ISO 32000-1, 7.5.2)."""
    return bool(data) and PDF_MAGIC in data[:1024]


def inline_pdf(data: bytes, filename: str) -> Response:
    """``data`` (checked to be a PDF) as an inline ``application/pdf`` answer with the headers above."""
    if not is_pdf(data):
        raise ValueError("inline_pdf is only for PDFs")  # a programmer error: routes check is_pdf first
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:120] or "rechnung.pdf"
    return Response(data, media_type="application/pdf", headers={
        **PDF_HEADERS,
        "content-disposition": f"inline; filename=\"{safe}\"; filename*=UTF-8''{quote(filename[:200])}",
    })
