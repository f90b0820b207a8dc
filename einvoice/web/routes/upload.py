"""Suppliers hand in one invoice: ``POST /api/upload`` (JSON receipt), ``GET``/``POST /einreichen``
(the form and the Eingangsbestätigung page). The checks, limits and receipt are
``einvoice.web.upload``; the access rule is described there and in the web README.

This router must never look at a staff session or set a cookie, never read a body before the
rate limit has counted the request, never decide about an invoice itself (the pipeline does), and
never log file contents or reply addresses.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from einvoice.web import upload
from einvoice.web.context import WebContext
from einvoice.web.deps import Ctx
from einvoice.web.sessions import client_address
from einvoice.web.texts import tr
from einvoice.web.upload import Refusal

router = APIRouter()


def api_refusal(r: Refusal) -> JSONResponse:
    headers = {"retry-after": str(r.retry_after)} if r.retry_after else None
    return JSONResponse({"rule": r.rule, "message": r.message}, status_code=r.status, headers=headers)


@router.post(upload.API_PATH)
async def api_upload(request: Request, ctx: Ctx):
    cfg = ctx.upload
    if not cfg.enabled:
        return api_refusal(upload.closed())
    auth = request.headers.get("authorization") or ""
    if not upload.token_ok(cfg, auth[7:].strip() if auth.lower().startswith("bearer ") else None):
        return api_refusal(Refusal("UPLOAD-TOKEN", tr("Der Zugangscode (Authorization: Bearer …) fehlt oder ist falsch."), 401))
    refusal = ctx.upload_limits.take(client_address(ctx, request))
    if refusal is None:
        reply_to, refusal = upload.check_reply_to(request.headers.get("x-reply-to"))
    if refusal is None:
        data, refusal = await upload.read_body(request, cfg)
    if refusal is None:
        refusal = upload.check_type(data)
    if refusal is not None:
        return api_refusal(refusal)
    name = upload.safe_name(request.headers.get("x-filename"), data)
    receipt, refusal = await run_in_threadpool(upload.ingest, ctx.app, ctx.ingest_lock, name, data, reply_to, "api")
    if refusal is not None:
        return api_refusal(refusal)
    return JSONResponse(receipt, status_code=200 if receipt["already_received"] else 201)


def form_page(ctx: WebContext, request: Request, status: int = 200, refusal: Refusal | None = None,
              reply_to: str = "") -> HTMLResponse:
    response = ctx.render(request, "upload.html", status, title="Rechnung einreichen", refusal=refusal, reply_to=reply_to,
                          max_bytes=upload.grouped(ctx.upload.max_bytes), needs_token=ctx.upload.token is not None)
    if refusal is not None and refusal.retry_after:
        response.headers["retry-after"] = str(refusal.retry_after)
    return response


@router.get(upload.PAGE_PATH, response_class=HTMLResponse)
def upload_page(request: Request, ctx: Ctx):
    if not ctx.upload.enabled:
        return ctx.render(request, "error.html", 404, title="Nicht gefunden", message=upload.closed().message)
    return form_page(ctx, request)


@router.post(upload.PAGE_PATH, response_class=HTMLResponse)
async def upload_form(request: Request, ctx: Ctx):
    cfg = ctx.upload
    if not cfg.enabled:
        return ctx.render(request, "error.html", 404, title="Nicht gefunden", message=upload.closed().message)
    refusal = ctx.upload_limits.take(client_address(ctx, request))
    if refusal is not None:
        return form_page(ctx, request, refusal.status, refusal)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cfg.max_bytes + upload.FORM_OVERHEAD:
        return form_page(ctx, request, 413, upload.size_refusal(int(declared) - upload.FORM_OVERHEAD, cfg))
    # the middleware cuts a body off past max_bytes + FORM_OVERHEAD (einvoice.web.middleware)
    async with request.form(max_files=1, max_fields=3, max_part_size=4096) as form:
        file = form.get("datei")
        reply_raw = form.get("antwortadresse")
        reply_raw = reply_raw if isinstance(reply_raw, str) else ""
        code = form.get("zugangscode")
        if not upload.token_ok(cfg, code if isinstance(code, str) else None):
            return form_page(ctx, request, 401, Refusal("UPLOAD-TOKEN", tr("Der Zugangscode fehlt oder ist falsch."), 401), reply_raw)
        reply_to, refusal = upload.check_reply_to(reply_raw)
        if refusal is not None:
            return form_page(ctx, request, refusal.status, refusal, reply_raw)
        if file is None or isinstance(file, str):
            return form_page(ctx, request, 400, Refusal("UPLOAD-EMPTY", tr("Bitte wählen Sie eine Rechnungsdatei aus."), 400), reply_raw)
        data = await file.read(cfg.max_bytes + 1)
        name = file.filename
    if len(data) > cfg.max_bytes:
        return form_page(ctx, request, 413, upload.size_refusal(len(data), cfg), reply_raw)
    refusal = upload.check_type(data)
    if refusal is not None:
        return form_page(ctx, request, refusal.status, refusal, reply_raw)
    receipt, refusal = await run_in_threadpool(upload.ingest, ctx.app, ctx.ingest_lock, upload.safe_name(name, data),
                                               data, reply_to, "page")
    if refusal is not None:
        return form_page(ctx, request, refusal.status, refusal, reply_raw)
    return ctx.render(request, "receipt.html", 200 if receipt["already_received"] else 201,
                      title=tr("Eingangsbestätigung %(receipt)s", receipt=receipt["receipt"]), r=receipt)
