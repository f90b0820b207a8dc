"""The treasury's view (Stadtkasse): released, posted and paid invoices, ``GET /treasury``.

Seen by the treasury and the central desk for every department; auditors, heads of department
and those with an Anordnung grant see their own departments only. This router must never show it to anyone else
(403) and never change an invoice: paying is the finance system's business.
"""
from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import load_only

from einvoice.db.models import InvoiceRow
from einvoice.web import access
from einvoice.web.deps import Ctx, CurrentViewer
from einvoice.web.errors import Forbidden
from einvoice.web.lists import PAGE_SIZE, page_number

router = APIRouter()


@router.get("/treasury", response_class=HTMLResponse)
def treasury(request: Request, v: CurrentViewer, ctx: Ctx):
    visible = None if (v.treasury or v.all_departments) else access.visible_departments(ctx.org, v)
    if not v.treasury_view:
        raise Forbidden("Die Kassenansicht sehen die Stadtkasse, die Rechnungsprüfung und die Anordnungsbefugten.")
    state = request.query_params.get("state") or ""
    states = [state] if state in access.TREASURY_STATES else sorted(access.TREASURY_STATES)
    pg = page_number(request)
    q = sa.select(InvoiceRow).options(load_only(
        InvoiceRow.id, InvoiceRow.invoice_number, InvoiceRow.seller_name, InvoiceRow.amount_due, InvoiceRow.currency, InvoiceRow.state,
        InvoiceRow.department, InvoiceRow.due_date, InvoiceRow.skonto_until, InvoiceRow.updated_at, InvoiceRow.iban)).where(InvoiceRow.state.in_(states))
    if visible is not None:
        q = q.where(InvoiceRow.department.in_(visible))
    q = q.order_by(InvoiceRow.updated_at.desc(), InvoiceRow.id.desc()).limit(PAGE_SIZE + 1).offset((pg - 1) * PAGE_SIZE)
    with ctx.db.sessions() as s:
        rows = s.scalars(q).all()
    return ctx.render(request, "treasury.html", title="Stadtkasse", rows=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE,
                      state=state, page_no=pg)
