"""The central desk's further pages and the approvers' further tools (issue #17).

Routes (numeric ids in paths only; every POST carries the session's CSRF token, ``deps.PostingViewer``):

  GET  /desk/documents                         rejected and non-invoice documents (central desk)
  POST /desk/documents/{invoice_id}/reopen     a rejected document goes into approval, with a reason
  POST /invoices/{invoice_id}/hold             start a Klärung (reason, date)
  POST /invoices/{invoice_id}/hold/release     close it
  POST /tasks/{task_id}/delegate               hand the open task to a named person
  POST /inbox/bulk-approve                     sign one step on the selected invoices, one by one
  GET  /vertretung, POST /vertretung, POST /vertretung/{entry_id}/end   one's own substitutes

The invoice page shows the Klärung, the delegation and the reopen form (``_desk_invoice.html``,
filled by ``einvoice.web.invoice_view.desk_info``). Every decision is the ``ApprovalService``'s
(``einvoice.approval.desk``); this router must never decide a rule, never show another
department's invoice (ids a person may not see are answered as unknown), and never log form contents.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from einvoice.approval import ActionResult
from einvoice.approval import messages as M
from einvoice.approval.desk import BULK_LIMIT, DESK_STATES, BulkOutcome
from einvoice.organisation import Role
from einvoice.web import access
from einvoice.web.context import WebContext
from einvoice.web.deps import Ctx, CurrentViewer, FormFields, PostingViewer
from einvoice.web.errors import Forbidden
from einvoice.web.invoice_view import invoice_page, load_invoice
from einvoice.web.lists import MAX_QUERY, PAGE_SIZE, page_number
from einvoice.web.routes.decisions import task_for_action, too_long
from einvoice.web.texts import tr

router = APIRouter()


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        return None


def _amount(text: str | None) -> Decimal | None:
    try:
        return Decimal((text or "").strip())
    except InvalidOperation:
        return None


def refused_on_invoice(ctx: WebContext, request: Request, v: access.Viewer, invoice_id: int, result: ActionResult,
                       action: str, form: dict) -> HTMLResponse:
    return invoice_page(ctx, request, v, invoice_id, refusal=result.refusal, refused_action=action, form=form, status=409)


# --- the central desk's documents -------------------------------------------------------------------
@router.get("/desk/documents", response_class=HTMLResponse)
def desk_documents(request: Request, v: CurrentViewer, ctx: Ctx):
    svc = ctx.svc
    if not v.central_desk:
        raise Forbidden("Die abgewiesenen Dokumente sieht nur die zentrale Rechnungseingangsstelle.")
    qp = request.query_params
    state = qp.get("state") if qp.get("state") in DESK_STATES else ""
    channels = svc.desk_channels()
    channel = qp.get("channel") if qp.get("channel") in channels else ""
    q = (qp.get("q") or "").strip()[:MAX_QUERY]
    pg = page_number(request)
    docs = svc.desk_documents(state=state or None, channel=channel or None, search=q or None,
                              limit=PAGE_SIZE + 1, offset=(pg - 1) * PAGE_SIZE)
    return ctx.render(request, "desk_documents.html", title="Abgewiesene Dokumente", view="desk",
                      docs=docs[:PAGE_SIZE], more=len(docs) > PAGE_SIZE, counts=svc.desk_document_counts(),
                      channels=channels, params={"state": state, "channel": channel, "q": q, "page": pg})


@router.post("/desk/documents/{invoice_id:dbid}/reopen")
def reopen(request: Request, invoice_id: int, form: FormFields, v: PostingViewer, ctx: Ctx):
    load_invoice(ctx, invoice_id, v)
    result = too_long(form) or ctx.svc.reopen_rejected(invoice_id, v.person_id, reason=form.get("reason", ""),
                                                       department=form.get("department") or None)
    if result.ok:
        return RedirectResponse(f"/invoices/{invoice_id}?desk=reopened", status_code=303)
    return refused_on_invoice(ctx, request, v, invoice_id, result, "reopen", form)


# --- Klärung ---------------------------------------------------------------------------------------
@router.post("/invoices/{invoice_id:dbid}/hold")
def hold(request: Request, invoice_id: int, form: FormFields, v: PostingViewer, ctx: Ctx):
    load_invoice(ctx, invoice_id, v)
    result = too_long(form) or ctx.svc.set_hold(invoice_id, v.person_id, reason=form.get("reason", ""),
                                                until=_date(form.get("until")))
    if result.ok:
        return RedirectResponse(f"/invoices/{invoice_id}?desk=hold-set", status_code=303)
    return refused_on_invoice(ctx, request, v, invoice_id, result, "hold", form)


@router.post("/invoices/{invoice_id:dbid}/hold/release")
def release(request: Request, invoice_id: int, form: FormFields, v: PostingViewer, ctx: Ctx):
    load_invoice(ctx, invoice_id, v)
    result = too_long(form) or ctx.svc.release_hold(invoice_id, v.person_id, note=form.get("comment") or None)
    if result.ok:
        return RedirectResponse(f"/invoices/{invoice_id}?desk=hold-released", status_code=303)
    return refused_on_invoice(ctx, request, v, invoice_id, result, "hold-release", form)


# --- delegation ------------------------------------------------------------------------------------
@router.post("/tasks/{task_id:dbid}/delegate")
def delegate(request: Request, task_id: int, form: FormFields, v: PostingViewer, ctx: Ctx):
    t = task_for_action(ctx, task_id, v)
    result = too_long(form) or ctx.svc.delegate(task_id, v.person_id, to=form.get("to", ""),
                                                comment=form.get("comment") or None)
    if result.ok:
        return RedirectResponse(f"/invoices/{t.invoice_id}?desk=delegated", status_code=303)
    return refused_on_invoice(ctx, request, v, t.invoice_id, result, "delegate", form)


# --- bulk approval ---------------------------------------------------------------------------------
def _visible_tasks(ctx: WebContext, v: access.Viewer, ids: list[int]) -> tuple[list[int], list[BulkOutcome]]:
    """The ticked tasks this person may see, and the NO-SUCH-TASK answers for the rest."""
    hidden: list[BulkOutcome] = []
    visible: list[int] = []
    for task_id in ids[:BULK_LIMIT + 1]:
        try:
            t = ctx.svc.task(task_id)
        except LookupError:
            t = None
        if t is None or not access.may_see(ctx.org, v, department=t.department, state=t.state,
                                           open_step=t.step.value if t.status == "open" else None,
                                           candidates=t.candidates):
            # Never name an invoice the person may not see: the same answer as for no task at all.
            hidden.append(BulkOutcome(task_id, None, None, None, None, False, M.refusal(M.NO_SUCH_TASK, task_id=task_id)))
        else:
            visible.append(task_id)
    return visible, hidden


@router.post("/inbox/bulk-approve", response_class=HTMLResponse)
def bulk_approve(request: Request, form: FormFields, v: PostingViewer, ctx: Ctx):
    svc = ctx.svc
    step = form.get("step", "")
    if step not in ctx.chain:
        return ctx.render(request, "error.html", 400, title="Anfrage abgelehnt",
                          message="Eine Sammelbestätigung gilt für einen Schritt; bitte im Posteingang zuerst nach "
                                  "einem Schritt filtern.")
    prefix = "p" if form.get("scope") == "page" else "t"  # every row of the page, or the ticked ones
    ids = [int(k[1:]) for k in form if k.startswith(prefix) and k[1:].isdigit() and len(k) < 12]
    amounts = {i: a for i in ids if (a := _amount(form.get(f"a{i}"))) is not None}
    visible, hidden = _visible_tasks(ctx, v, ids)
    if len(ids) > BULK_LIMIT:
        outcomes = svc.approve_many(ids, v.person_id, step=step)  # BULK-TOO-MANY, nothing decided
    elif not ids:
        outcomes = svc.approve_many([], v.person_id, step=step)  # BULK-EMPTY
    else:
        outcomes = (svc.approve_many(visible, v.person_id, step=step, amounts=amounts,
                                     comment=(form.get("comment") or "").strip()[:500] or None) if visible else [])
        outcomes += hidden
    recorded = [o for o in outcomes if o.ok]
    refused = [o for o in outcomes if not o.ok]
    return ctx.render(request, "bulk_result.html", 200 if recorded or not refused else 409, title="Sammelbestätigung",
                      view="inbox", step=step, recorded=recorded, refused=refused)


# --- substitutes -----------------------------------------------------------------------------------
def _colleagues(ctx: WebContext, person_id: str) -> list:
    org = ctx.org
    me = org.person(person_id)
    mine = {g.department for g in me.grants if g.role != Role.AUDITOR}
    return [p for p in org.people if p.id != me.id and mine & {g.department for g in p.grants if g.role != Role.AUDITOR}]


def substitutes_page(ctx: WebContext, request: Request, v: access.Viewer, *, refusal=None, form: dict | None = None,
                     done: str | None = None, status: int = 200) -> HTMLResponse:
    svc = ctx.svc
    names = {p.id: p.name for p in ctx.org.people}
    return ctx.render(request, "substitutes.html", status, title="Abwesenheitsvertretung", view="vertretung",
                      entries=svc.substitutes_of(v.person_id), standing_in=svc.standing_in_for(v.person_id),
                      colleagues=_colleagues(ctx, v.person_id), names=names, refusal=refusal, form=form or {}, done=done)


@router.get("/vertretung", response_class=HTMLResponse)
def substitutes(request: Request, v: CurrentViewer, ctx: Ctx):
    key, done = request.query_params.get("done") or "", None
    if key == "set":
        done = tr("Die Vertretung wurde eingetragen.")
    elif key == "ended":
        done = tr("Die Vertretung wurde beendet.")
    return substitutes_page(ctx, request, v, done=done)


@router.post("/vertretung")
def set_substitute(request: Request, form: FormFields, v: PostingViewer, ctx: Ctx):
    result = ctx.svc.set_substitute(v.person_id, form.get("substitute", ""), valid_from=_date(form.get("valid_from")),
                                    valid_to=_date(form.get("valid_to")))
    if result.ok:
        return RedirectResponse("/vertretung?done=set", status_code=303)
    return substitutes_page(ctx, request, v, refusal=result.refusal, form=form, status=409)


@router.post("/vertretung/{entry_id:dbid}/end")
def end_substitute(request: Request, entry_id: int, form: FormFields, v: PostingViewer, ctx: Ctx):
    result = ctx.svc.end_substitute(entry_id, v.person_id)
    if result.ok:
        return RedirectResponse("/vertretung?done=ended", status_code=303)
    return substitutes_page(ctx, request, v, refusal=result.refusal, status=409)
