"""Pages and actions of the central desk and the approvers' further tools (issue #17).

Routes (numeric ids in paths only; every POST carries the session's CSRF token):

  GET  /desk/documents                         rejected and non-invoice documents (central desk)
  POST /desk/documents/{invoice_id}/reopen     a rejected document goes into approval, with a reason
  POST /invoices/{invoice_id}/hold             start a Klärung (reason, date)
  POST /invoices/{invoice_id}/hold/release     close it
  POST /tasks/{task_id}/delegate               hand the open task to a named person
  POST /inbox/bulk-approve                     sign one step on the selected invoices, one by one
  GET  /vertretung, POST /vertretung, POST /vertretung/{entry_id}/end   one's own substitutes

The invoice page shows the Klärung, the delegation and the reopen form through the template global
``desk_info`` (``_desk_invoice.html``). Every decision is the ``ApprovalService``'s (``einvoice.
approval.desk``); this module must never decide a rule, never show another department's invoice
(ids a person may not see are answered as unknown), and never log form contents.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException

from einvoice.approval import ActionResult
from einvoice.approval import messages as M
from einvoice.approval.desk import BULK_LIMIT, DESK_STATES, BulkOutcome
from einvoice.approval.rules import steps
from einvoice.organisation import Role
from einvoice.web import access, forms

PAGE_SIZE = 50

#: Channels as the desk calls them (Invoice.channel).
CHANNEL_TITLE = {
    "email": "E-Mail",
    "upload": "Upload",
    "peppol": "Peppol",
    "directory": "Verzeichnis",
    "s3": "Ablage (S3)",
}
DESK_STATE_TITLE = {"rejected": "abgewiesen (Prüfung)", "not_an_invoice": "keine E-Rechnung"}
#: ?desk=... after a successful action (fixed texts: nothing user-supplied in URLs).
DONE = {
    "reopened": "Das Dokument wurde wieder aufgenommen und ist jetzt in der Freigabe (sachliche Richtigkeit).",
    "hold-set": "Die Klärung wurde eingetragen; der Schritt wartet, bis sie abgeschlossen ist.",
    "hold-released": "Die Klärung wurde abgeschlossen; der Schritt kann wieder bestätigt werden.",
    "delegated": "Die Aufgabe wurde delegiert.",
}


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


def make_router(app, svc, env, *, page: Callable, signed_in: Callable, posted: Callable, form_fields: Callable,
                load_invoice: Callable, invoice_page: Callable) -> APIRouter:
    """The desk's routes over ``svc`` (the app's ApprovalService) with the app's page helpers."""
    org = app.organisation
    chain = [s.value for s in steps(org)]
    router = APIRouter()

    def forbidden(request: Request, message: str) -> HTMLResponse:
        return page(request, "error.html", 403, title="Nicht erlaubt", message=message)

    def desk_info(inv, task) -> dict:
        """What the invoice page shows of Klärung, delegation and reopening (``_desk_invoice.html``)."""
        holds = svc.holds_of(inv.id)
        return {
            "hold": next((h for h in holds if h.active), None),
            "past_holds": [h for h in holds if not h.active],
            "choices": svc.delegation_choices(task.task_id) if task else [],
            "departments": org.departments,
        }

    env.globals.update(desk_info=desk_info, DESK_DONE=DONE, CHANNEL_TITLE=CHANNEL_TITLE,
                       DESK_STATE_TITLE=DESK_STATE_TITLE)

    def refused_on_invoice(request, v, invoice_id: int, result: ActionResult, action: str, form: dict):
        return invoice_page(request, v, invoice_id, refusal=result.refusal, refused_action=action, form=form, status=409)

    def too_long(form: dict) -> ActionResult | None:
        refusal = forms.text_too_long(form)
        return None if refusal is None else ActionResult(False, refusal, None, None)

    # --- the central desk's documents ---------------------------------------------------------------
    @router.get("/desk/documents", response_class=HTMLResponse)
    def desk_documents(request: Request):
        v = signed_in(request)
        if not v.central_desk:
            return forbidden(request, "Die abgewiesenen Dokumente sieht nur die zentrale Rechnungseingangsstelle.")
        qp = request.query_params
        state = qp.get("state") if qp.get("state") in DESK_STATES else ""
        channels = svc.desk_channels()
        channel = qp.get("channel") if qp.get("channel") in channels else ""
        q = (qp.get("q") or "").strip()[:100]
        try:
            pg = max(1, min(10_000, int(qp.get("page") or 1)))
        except ValueError:
            pg = 1
        docs = svc.desk_documents(state=state or None, channel=channel or None, search=q or None,
                                  limit=PAGE_SIZE + 1, offset=(pg - 1) * PAGE_SIZE)
        return page(request, "desk_documents.html", title="Abgewiesene Dokumente", view="desk",
                    docs=docs[:PAGE_SIZE], more=len(docs) > PAGE_SIZE, counts=svc.desk_document_counts(),
                    channels=channels, params={"state": state, "channel": channel, "q": q, "page": pg})

    @router.post("/desk/documents/{invoice_id:dbid}/reopen")
    def reopen(request: Request, invoice_id: int, form: dict = Depends(form_fields)):
        v = posted(request, form)
        load_invoice(invoice_id, v)
        result = too_long(form) or svc.reopen_rejected(invoice_id, v.person_id, reason=form.get("reason", ""),
                                                       department=form.get("department") or None)
        if result.ok:
            return RedirectResponse(f"/invoices/{invoice_id}?desk=reopened", status_code=303)
        return refused_on_invoice(request, v, invoice_id, result, "reopen", form)

    # --- Klärung -----------------------------------------------------------------------------------
    @router.post("/invoices/{invoice_id:dbid}/hold")
    def hold(request: Request, invoice_id: int, form: dict = Depends(form_fields)):
        v = posted(request, form)
        load_invoice(invoice_id, v)
        result = too_long(form) or svc.set_hold(invoice_id, v.person_id, reason=form.get("reason", ""),
                                                until=_date(form.get("until")))
        if result.ok:
            return RedirectResponse(f"/invoices/{invoice_id}?desk=hold-set", status_code=303)
        return refused_on_invoice(request, v, invoice_id, result, "hold", form)

    @router.post("/invoices/{invoice_id:dbid}/hold/release")
    def release(request: Request, invoice_id: int, form: dict = Depends(form_fields)):
        v = posted(request, form)
        load_invoice(invoice_id, v)
        result = too_long(form) or svc.release_hold(invoice_id, v.person_id, note=form.get("comment") or None)
        if result.ok:
            return RedirectResponse(f"/invoices/{invoice_id}?desk=hold-released", status_code=303)
        return refused_on_invoice(request, v, invoice_id, result, "hold-release", form)

    # --- delegation --------------------------------------------------------------------------------
    @router.post("/tasks/{task_id:dbid}/delegate")
    def delegate(request: Request, task_id: int, form: dict = Depends(form_fields)):
        v = posted(request, form)
        try:
            t = svc.task(task_id)
        except LookupError:
            raise HTTPException(404) from None
        load_invoice(t.invoice_id, v)
        result = too_long(form) or svc.delegate(task_id, v.person_id, to=form.get("to", ""),
                                                comment=form.get("comment") or None)
        if result.ok:
            return RedirectResponse(f"/invoices/{t.invoice_id}?desk=delegated", status_code=303)
        return refused_on_invoice(request, v, t.invoice_id, result, "delegate", form)

    # --- bulk approval -----------------------------------------------------------------------------
    @router.post("/inbox/bulk-approve", response_class=HTMLResponse)
    def bulk_approve(request: Request, form: dict = Depends(form_fields)):
        v = posted(request, form)
        step = form.get("step", "")
        if step not in chain:
            return page(request, "error.html", 400, title="Anfrage abgelehnt",
                        message="Eine Sammelbestätigung gilt für einen Schritt; bitte im Posteingang zuerst nach einem "
                                "Schritt filtern.")
        prefix = "p" if form.get("scope") == "page" else "t"  # every row of the page, or the ticked ones
        ids = [int(k[1:]) for k in form if k.startswith(prefix) and k[1:].isdigit() and len(k) < 12]
        amounts = {i: a for i in ids if (a := _amount(form.get(f"a{i}"))) is not None}
        hidden: list[BulkOutcome] = []
        visible: list[int] = []
        for task_id in ids[:BULK_LIMIT + 1]:
            try:
                t = svc.task(task_id)
            except LookupError:
                t = None
            if t is None or not access.may_see(org, v, department=t.department, state=t.state,
                                               open_step=t.step.value if t.status == "open" else None,
                                               candidates=t.candidates):
                # Never name an invoice the person may not see: the same answer as for no task at all.
                hidden.append(BulkOutcome(task_id, None, None, None, None, False, M.refusal("NO-SUCH-TASK", task_id=task_id)))
            else:
                visible.append(task_id)
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
        return page(request, "bulk_result.html", 200 if recorded or not refused else 409, title="Sammelbestätigung",
                    view="inbox", step=step, recorded=recorded, refused=refused)

    # --- substitutes -------------------------------------------------------------------------------
    def colleagues(person_id: str) -> list:
        me = org.person(person_id)
        mine = {g.department for g in me.grants if g.role != Role.AUDITOR}
        return [p for p in org.people if p.id != me.id and mine & {g.department for g in p.grants if g.role != Role.AUDITOR}]

    def substitutes_page(request: Request, v, *, refusal=None, form: dict | None = None, done: str | None = None,
                         status: int = 200) -> HTMLResponse:
        names = {p.id: p.name for p in org.people}
        return page(request, "substitutes.html", status, title="Abwesenheitsvertretung", view="vertretung",
                    entries=svc.substitutes_of(v.person_id), standing_in=svc.standing_in_for(v.person_id),
                    colleagues=colleagues(v.person_id), names=names, refusal=refusal, form=form or {}, done=done)

    @router.get("/vertretung", response_class=HTMLResponse)
    def substitutes(request: Request):
        v = signed_in(request)
        done = {"set": "Die Vertretung wurde eingetragen.", "ended": "Die Vertretung wurde beendet."}.get(
            request.query_params.get("done") or "")
        return substitutes_page(request, v, done=done)

    @router.post("/vertretung")
    def set_substitute(request: Request, form: dict = Depends(form_fields)):
        v = posted(request, form)
        result = svc.set_substitute(v.person_id, form.get("substitute", ""), valid_from=_date(form.get("valid_from")),
                                    valid_to=_date(form.get("valid_to")))
        if result.ok:
            return RedirectResponse("/vertretung?done=set", status_code=303)
        return substitutes_page(request, v, refusal=result.refusal, form=form, status=409)

    @router.post("/vertretung/{entry_id:dbid}/end")
    def end_substitute(request: Request, entry_id: int, form: dict = Depends(form_fields)):
        v = posted(request, form)
        result = svc.end_substitute(entry_id, v.person_id)
        if result.ok:
            return RedirectResponse("/vertretung?done=ended", status_code=303)
        return substitutes_page(request, v, refusal=result.refusal, status=409)

    return router
