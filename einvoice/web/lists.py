"""The task lists' common part (``/inbox``, ``/desk``, ``/overview``): the query parameters they
accept (search, step, department, page, sort) and the page that shows them.

Filters and search are GET query parameters (bookmarkable; the access log never records them).
This module must never widen what a person sees (each route passes only departments it may show)
and never put a search term anywhere but the page it answers.
"""
from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from einvoice.approval.service import COUNT_LIMIT, SORTS
from einvoice.web import access
from einvoice.web.context import WebContext
from einvoice.web.pages import GROUP_TITLE, SORT_TITLE

PAGE_SIZE = 50
MAX_QUERY = 100


def page_number(request: Request) -> int:
    try:
        return max(1, min(10_000, int(request.query_params.get("page") or 1)))
    except ValueError:
        return 1


def list_params(ctx: WebContext, request: Request) -> dict:
    q = (request.query_params.get("q") or "").strip()[:MAX_QUERY]
    step = request.query_params.get("step") or ""
    dept = request.query_params.get("department") or ""
    sort = request.query_params.get("sort") or "frist"
    return {"q": q, "step": step if step in ctx.chain else "",
            "department": dept if any(d.code == dept for d in ctx.org.departments) else "",
            "page": page_number(request), "sort": sort if sort in SORTS else "frist"}


def task_list(ctx: WebContext, request: Request, v: access.Viewer, *, title: str, tasks, params: dict, view: str,
              intro: str, department_choices, counts: dict | None, extra=None) -> HTMLResponse:
    # counts: tasks per group of the inbox order, "mehr als 10.000" above COUNT_LIMIT; None for a
    # search (its hits are few, and counting them would search every invoice a second time).
    more = len(tasks) > PAGE_SIZE
    more_than = f"mehr als {COUNT_LIMIT:,}".replace(",", ".")  # the service stopped counting there
    return ctx.render(request, "inbox.html", title=title, tasks=tasks[:PAGE_SIZE], params=params, view=view, intro=intro,
                      more=more, chain=ctx.chain, department_choices=department_choices, extra=extra or {},
                      counts=counts and {k: more_than if n > COUNT_LIMIT else n for k, n in counts.items()},
                      SORT_TITLE=SORT_TITLE, GROUP_TITLE=GROUP_TITLE)
