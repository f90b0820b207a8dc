"""The actions on an invoice, each decided by ``ApprovalService``:
``POST /tasks/{task_id}/approve|reject|send-back|forward`` and
``POST /invoices/{invoice_id}/comment|override-duplicate``.

Order of checks: signed in, CSRF token (``deps.PostingViewer``), may this person see the invoice
(else 404), text lengths (TEXT-TOO-LONG), then the service. A refusal is the invoice page again
(409) with its rule ID and the form as typed; success redirects with a fixed ``?done=`` key. This
router must never decide an approval rule itself and never put form content into a URL or log.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from einvoice.approval import ActionResult, Refusal
from einvoice.web import access, forms
from einvoice.web.context import WebContext
from einvoice.web.deps import Ctx, FormFields, PostingViewer
from einvoice.web.errors import NotFound
from einvoice.web.invoice_view import invoice_page, load_invoice
from einvoice.web.search import parse_amount
from einvoice.web.texts import tr

router = APIRouter()


def task_for_action(ctx: WebContext, task_id: int, v: access.Viewer):
    try:
        t = ctx.svc.task(task_id)
    except LookupError:
        raise NotFound() from None
    # Visibility is judged on the invoice as it is now (the task may be closed already).
    load_invoice(ctx, t.invoice_id, v)
    return t


def too_long(form: dict):
    """TEXT-TOO-LONG before the service sees the text (the page keeps it, so nothing typed is lost)."""
    refusal = forms.text_too_long(form)
    return None if refusal is None else ActionResult(False, refusal, None, None)


def outcome(ctx: WebContext, request: Request, v: access.Viewer, invoice_id: int, result, action: str, form: dict):
    if result.ok:
        return RedirectResponse(f"/invoices/{invoice_id}?done={action}", status_code=303)
    return invoice_page(ctx, request, v, invoice_id, refusal=result.refusal, refused_action=action, form=form, status=409)


@router.post("/tasks/{task_id:dbid}/approve")
def approve(request: Request, task_id: int, form: FormFields, v: PostingViewer, ctx: Ctx):
    t = task_for_action(ctx, task_id, v)
    raw = form.get("amount", "").strip()
    amount = parse_amount(raw) if raw else None
    if raw and amount is None:
        result = ActionResult(False, Refusal("AMOUNT-FORMAT", tr("„%(raw)s“ ist kein Betrag; bitte z. B. 1.234,56 eingeben.",
                                                                 raw=raw[:40])),
                              t.state, None)
    else:
        result = too_long(form) or ctx.svc.approve(task_id, v.person_id, amount=amount, comment=form.get("comment") or None)
    return outcome(ctx, request, v, t.invoice_id, result, "approve", form)


@router.post("/tasks/{task_id:dbid}/reject")
def reject(request: Request, task_id: int, form: FormFields, v: PostingViewer, ctx: Ctx):
    t = task_for_action(ctx, task_id, v)
    result = too_long(form) or ctx.svc.reject(task_id, v.person_id, reason=form.get("reason", ""))
    return outcome(ctx, request, v, t.invoice_id, result, "reject", form)


@router.post("/tasks/{task_id:dbid}/send-back")
def send_back(request: Request, task_id: int, form: FormFields, v: PostingViewer, ctx: Ctx):
    t = task_for_action(ctx, task_id, v)
    result = too_long(form) or ctx.svc.send_back(task_id, v.person_id, reason=form.get("reason", ""))
    return outcome(ctx, request, v, t.invoice_id, result, "send-back", form)


@router.post("/tasks/{task_id:dbid}/forward")
def forward(request: Request, task_id: int, form: FormFields, v: PostingViewer, ctx: Ctx):
    t = task_for_action(ctx, task_id, v)
    result = too_long(form) or ctx.svc.forward(task_id, v.person_id, department=form.get("department", ""),
                                               comment=form.get("comment") or None)
    if result.ok:
        # The invoice may now be out of this person's sight (another department): back to the inbox.
        return RedirectResponse("/inbox", status_code=303)
    return outcome(ctx, request, v, t.invoice_id, result, "forward", form)


@router.post("/invoices/{invoice_id:dbid}/comment")
def comment(request: Request, invoice_id: int, form: FormFields, v: PostingViewer, ctx: Ctx):
    load_invoice(ctx, invoice_id, v)
    result = too_long(form) or ctx.svc.comment(invoice_id, v.person_id, form.get("text", ""))
    return outcome(ctx, request, v, invoice_id, result, "comment", form)


@router.post("/invoices/{invoice_id:dbid}/override-duplicate")
def override_duplicate(request: Request, invoice_id: int, form: FormFields, v: PostingViewer, ctx: Ctx):
    load_invoice(ctx, invoice_id, v)
    result = too_long(form) or ctx.svc.override_duplicate(invoice_id, v.person_id, reason=form.get("reason", ""))
    return outcome(ctx, request, v, invoice_id, result, "override-duplicate", form)
