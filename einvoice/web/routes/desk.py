"""The central desk's queue (zentrale Rechnungseingangsstelle): ``GET /desk``.

Invoices no department could be found for or that were forwarded to the desk, and the returned
invoices. Only the desk's own staff see it (403 for anyone else). This router must never show the
queue to anyone without a central-desk grant, and never change an invoice.
"""
from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import load_only

from einvoice.db.models import InvoiceRow
from einvoice.web.deps import Ctx, CurrentViewer
from einvoice.web.errors import Forbidden
from einvoice.web.lists import PAGE_SIZE, list_params, task_list
from einvoice.web.texts import tr

router = APIRouter()


@router.get("/desk", response_class=HTMLResponse)
def desk(request: Request, v: CurrentViewer, ctx: Ctx):
    svc, org = ctx.svc, ctx.org
    if not v.central_desk:
        raise Forbidden("Die Warteschlange der zentralen Rechnungseingangsstelle sehen nur deren Mitarbeitende.")
    p = list_params(ctx, request)
    where = dict(department=org.central_desk, search=p["q"] or None, state=p["step"] or None)
    tasks = svc.open_tasks(**where, limit=PAGE_SIZE + 1, offset=(p["page"] - 1) * PAGE_SIZE, sort=p["sort"])
    with ctx.db.sessions() as s:
        returned = s.scalars(sa.select(InvoiceRow).options(load_only(
            InvoiceRow.id, InvoiceRow.invoice_number, InvoiceRow.seller_name, InvoiceRow.amount_due, InvoiceRow.currency,
            InvoiceRow.department, InvoiceRow.updated_at)).where(InvoiceRow.state == "returned")
            .order_by(InvoiceRow.updated_at.desc()).limit(PAGE_SIZE)).all()
    return task_list(ctx, request, v, title="Zentrale Rechnungseingangsstelle", tasks=tasks, params=p, view="desk",
                     department_choices=[], extra={"returned": returned},
                     counts=None if p["q"] else svc.open_task_counts(**where),
                     intro=tr("Rechnungen, die keinem Amt zugeordnet werden konnten oder an die Rechnungseingangsstelle "
                              "(%(desk)s) weitergeleitet wurden.", desk=org.department(org.central_desk).name))
