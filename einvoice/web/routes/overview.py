"""All open tasks of the departments a person may see (heads of department, auditors):
``GET /overview``. Read only: deciding happens from the inbox of whoever holds the task.

This router must never list a department outside ``access.visible_departments`` and never offer
an action.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from einvoice.web import access
from einvoice.web.deps import Ctx, CurrentViewer
from einvoice.web.errors import Forbidden
from einvoice.web.lists import PAGE_SIZE, list_params, task_list

router = APIRouter()


@router.get("/overview", response_class=HTMLResponse)
def overview(request: Request, v: CurrentViewer, ctx: Ctx):
    svc, org = ctx.svc, ctx.org
    p = list_params(ctx, request)
    visible = access.visible_departments(org, v)
    if visible is not None:
        if not visible:
            raise Forbidden("Sie sind für kein Amt freigeschaltet.")
        if p["department"] not in visible:
            p["department"] = visible[0]
    where = dict(department=p["department"] or None, search=p["q"] or None, state=p["step"] or None)
    tasks = svc.open_tasks(**where, limit=PAGE_SIZE + 1, offset=(p["page"] - 1) * PAGE_SIZE, sort=p["sort"])
    choices = [d for d in org.departments if visible is None or d.code in visible]
    return task_list(ctx, request, v, title="Übersicht offener Aufgaben", tasks=tasks, params=p, view="overview",
                     department_choices=choices, counts=None if p["q"] else svc.open_task_counts(**where),
                     intro="Alle offenen Aufgaben der Ämter, für die Sie freigeschaltet sind (nur lesen; entscheiden "
                           "kann nur, wer im Posteingang die Aufgabe hat).")
