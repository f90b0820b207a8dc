"""The invoice as one person may see it: loading it behind the visibility rule, the rendered
original (cached by SHA-256), the invoice page, and downloads of supplier-supplied files.

An invoice a person may not see is "not found" (404), so other departments' invoice numbers do
not leak. This module must never decide an approval rule (``ApprovalService`` does), never render
supplier content inline outside the sandboxed page, and never fail the page because the archive
or the Kontierung is unavailable (it says so instead).
"""
from __future__ import annotations

import json
import logging
import re
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from einvoice.approval import Refusal
from einvoice.approval.deadlines import skonto_now
from einvoice.db.models import InvoiceRow
from einvoice.finance.record import account_assignment
from einvoice.followups.records import RecordArchiver
from einvoice.web import access, pdfview, rendering
from einvoice.web.context import WebContext
from einvoice.web.errors import NotFound
from einvoice.web.notices_view import notices_of
from einvoice.web.pages import DONE_MESSAGE
from einvoice.web.texts import tr

log = logging.getLogger("einvoice.web")


def load_invoice(ctx: WebContext, invoice_id: int, v: access.Viewer):
    """The invoice row and its open task, or NotFound if it does not exist or ``v`` may not see it."""
    with ctx.db.sessions() as s:
        row = s.get(InvoiceRow, invoice_id)
    if row is None:
        raise NotFound()
    open_task = ctx.svc.open_task_of(invoice_id)
    if not access.may_see(ctx.org, v, department=row.department, state=row.state,
                          open_step=open_task.step.value if open_task else None,
                          candidates=open_task.candidates if open_task else ()):
        raise NotFound()
    return row, open_task


def rendered(ctx: WebContext, row: InvoiceRow) -> rendering.Rendered:
    if not row.archive_original_key:
        return rendering.Rendered(None, "Für diese Rechnung ist kein Original im Archiv verzeichnet.")
    hit = ctx.cache.get(row.file_sha256)
    if hit is not None:
        return hit
    try:
        data = ctx.app.original_bytes(row)
    except Exception as exc:  # noqa: BLE001 - the page still shows everything the database knows
        log.warning("original of invoice %s not readable from the archive: %s", row.id, type(exc).__name__)
        return rendering.Rendered(None, "Das Original ist im Archiv gerade nicht erreichbar; die Angaben unten "
                                        "stammen aus der Datenbank.")
    r = rendering.render_original(data, row.filename)
    ctx.cache.put(row.file_sha256, r)
    return r


def _kontierung(ctx: WebContext, row: InvoiceRow, r: rendering.Rendered):
    if row.amount_due is None or not row.department:
        return None
    try:  # the Kontierung as finance builds the posting record from it (einvoice.finance.record)
        with ctx.db.sessions() as s:
            return account_assignment(s, row, ctx.org, r.model, r.root)
    except Exception as exc:  # noqa: BLE001 - the page still shows the invoice
        log.warning("Kontierung of invoice %s not computable: %s", row.id, type(exc).__name__)
        return None


def desk_info(ctx: WebContext, row: InvoiceRow, open_task) -> dict:
    """What the invoice page shows of Klärung, delegation and reopening (``_desk_invoice.html``)."""
    holds = ctx.svc.holds_of(row.id)
    return {
        "hold": next((h for h in holds if h.active), None),
        "past_holds": [h for h in holds if not h.active],
        "choices": ctx.svc.delegation_choices(open_task.task_id) if open_task else [],
        "departments": ctx.org.departments,
    }


def invoice_page(ctx: WebContext, request: Request, v: access.Viewer, invoice_id: int, *, refusal: Refusal | None = None,
                 refused_action: str | None = None, form: dict | None = None, status: int = 200) -> HTMLResponse:
    svc, org = ctx.svc, ctx.org
    row, open_task = load_invoice(ctx, invoice_id, v)
    r = rendered(ctx, row)
    report = json.loads(row.report_json) if row.report_json else None
    allowed = svc.allowed(open_task.task_id, v.person_id) if open_task else {}
    dups = svc.duplicates(invoice_id)
    done = DONE_MESSAGE.get(request.query_params.get("done") or "")
    sk = skonto_now(row, svc.today())  # the Skonto term by einvoice.model.skonto's rule, as the inbox shows it
    channel_meta = json.loads(row.channel_json) if row.channel_json else None  # Peppol header, reply address ...
    kontierung = _kontierung(ctx, row, r)
    page = ctx.render(request, "invoice.html", status, title=tr("Rechnung %(id)s", id=row.id), inv=row, m=r.model, rendered=r, sk=sk,
                      channel_meta=channel_meta if isinstance(channel_meta, dict) else None,
                      report=report, task=open_task, kontierung=kontierung, allowed=allowed, tasks=svc.tasks_of(invoice_id),
                      history=svc.history(invoice_id), duplicates=dups, open_duplicates=[d for d in dups if d.open],
                      follow_ups=RecordArchiver(ctx.db, None).records_of(invoice_id),
                      refusal=refusal, refused_action=refused_action, form=form or {}, done=done,
                      desk=desk_info(ctx, row, open_task),
                      departments=[d for d in org.departments if not open_task or d.code != open_task.department],
                      notices=notices_of(ctx.db, invoice_id))
    page.headers["content-security-policy"] = pdfview.PAGE_CSP  # the PDF viewer embeds from 'self' only
    return page


def download(data: bytes, filename: str, media_type: str) -> Response:
    """Always an attachment with a sandboxing CSP: the file is supplier-supplied content."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:120] or "download"
    return Response(data, media_type=media_type, headers={
        "content-disposition": f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(filename[:200])}",
        "content-security-policy": "default-src 'none'; sandbox",
    })
