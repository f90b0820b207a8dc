"""The web inbox as a FastAPI application: ``create_app`` builds it and does nothing else.

It reads the settings, builds the ``WebContext`` (einvoice.web.context), adds the access-log and
security-header middleware (einvoice.web.middleware), the German error pages
(einvoice.web.error_pages), the static files, and includes every router of
``einvoice.web.routes.ROUTERS``. Routes (numeric IDs only in paths; filters and search are query
parameters, which the access log never records):

  GET  /login, POST /login, POST /logout                          routes/auth.py
  GET  /, GET /inbox  the signed-in person's open tasks              routes/inbox.py
  GET  /desk          central desk queue and returned invoices       routes/desk.py
  GET  /overview      all open tasks of the visible departments      routes/overview.py
  GET  /treasury      released, posted and paid invoices             routes/treasury.py
  GET  /invoices/{invoice_id}[/original|/attachments/{index}]        routes/invoices.py
  GET  /invoices/{invoice_id}/pdf, .../attachments/{index}/pdf       routes/viewer.py (inline PDFs)
  GET  /notices       e-mails waiting for a person (central desk)     routes/notices.py
  POST /tasks/{task_id}/approve|reject|send-back|forward,
       /invoices/{invoice_id}/comment|override-duplicate             routes/decisions.py
  GET  /desk/documents, POST /desk/documents/{invoice_id}/reopen,
       /invoices/{invoice_id}/hold[/release], /tasks/{task_id}/delegate,
       /inbox/bulk-approve, GET|POST /vertretung[/{entry_id}/end]   routes/desk_actions.py
  GET  /einreichen, POST /einreichen, POST /api/upload (suppliers)   routes/upload.py
  GET  /finance/pull/pending, POST /finance/pull/ack                 einvoice.finance.pull_api
  GET  /healthz                                                      routes/health.py

Path ids are numbers the id columns can hold (``{...:dbid}``, einvoice.web.forms). This module
must never hold a route, decide an approval rule, or build a URL from the request's Host header.
"""
from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from einvoice.app import App
from einvoice.finance import pull_api
from einvoice.web import auth, upload
from einvoice.web.context import WebContext
from einvoice.web.error_pages import install_error_handlers
from einvoice.web.middleware import AccessLogMiddleware
from einvoice.web.pages import HERE
from einvoice.web.routes import ROUTERS


def create_app(app: App | None = None, *, auth_config: auth.AuthConfig | None = None,
               upload_config: upload.UploadConfig | None = None) -> FastAPI:
    """The ASGI app over ``app`` (default ``App.from_env()``) with ``auth_config`` and
    ``upload_config`` (the supplier upload, einvoice.web.upload; defaults from the environment)."""
    app = app or App.from_env()
    cfg = auth_config or auth.AuthConfig.from_env()
    upload_cfg = upload_config or upload.UploadConfig.from_env()
    ctx = WebContext.build(app, cfg, upload_cfg)

    web = FastAPI(title="einvoice Posteingang", docs_url=None, redoc_url=None, openapi_url=None)
    # No "/inbox/" -> "/inbox" redirects: Starlette builds their absolute URL from the Host header.
    web.router.redirect_slashes = False
    web.state.einvoice = app
    web.state.auth_config = cfg
    web.state.context = ctx  # what einvoice.web.deps hands to the routes
    web.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    web.add_middleware(AccessLogMiddleware, hsts=cfg.cookie_secure,
                       large_forms={upload.PAGE_PATH: upload_cfg.max_bytes + upload.FORM_OVERHEAD})
    install_error_handlers(web, ctx)
    for router in ROUTERS:
        web.include_router(router)
    # The pull API's outbox is this app's (with its archive), not one built from the environment.
    web.dependency_overrides[pull_api.outbox_dependency] = ctx.pull_outbox
    return web
