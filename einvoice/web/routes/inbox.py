"""The signed-in person's own open tasks: ``GET /`` (redirect) and ``GET /inbox``.

Own grants and tasks as deputy, in the inbox order (open Skonto ending soonest, then due date;
``einvoice.approval.service.inbox_order``). This router must never list a task the service does
not give this person, and never record the search term anywhere but the page.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from einvoice.web.deps import Ctx, CurrentViewer
from einvoice.web.lists import PAGE_SIZE, list_params, task_list

router = APIRouter()


@router.get("/", include_in_schema=False)
def root(v: CurrentViewer):
    return RedirectResponse("/inbox", status_code=303)


@router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, v: CurrentViewer, ctx: Ctx):
    svc, org = ctx.svc, ctx.org
    p = list_params(ctx, request)
    where = dict(department=p["department"] or None, search=p["q"] or None, state=p["step"] or None)
    tasks = svc.inbox(v.person_id, **where, limit=PAGE_SIZE + 1, offset=(p["page"] - 1) * PAGE_SIZE, sort=p["sort"])
    choices = [d for d in org.departments if v.all_departments or v.treasury or d.code in v.departments]
    return task_list(ctx, request, v, title="Posteingang", tasks=tasks, params=p, view="inbox", department_choices=choices,
                     counts=None if p["q"] else svc.inbox_counts(v.person_id, **where),
                     intro="Ihre offenen Aufgaben (auch als Vertretung). Zuerst Rechnungen mit offenem Skonto, das "
                           "am frühesten endet (verpasstes Skonto ist verlorenes Geld), dann nach Fälligkeit; "
                           "überfällige Rechnungen ohne offenes Skonto danach.")
