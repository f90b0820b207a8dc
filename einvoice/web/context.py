"""What one web app holds for its whole life: the ``App``, the settings, the approval service, the
template environment, the model cache, the sign-in throttle and the upload limits.

``create_app`` builds one ``WebContext`` and keeps it on ``app.state.context``; routes reach it
only through ``einvoice.web.deps``. This module must never read a request, never decide an
approval rule and never hold per-request or per-person data.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from einvoice.app import App
from einvoice.approval.rules import steps
from einvoice.db import Database
from einvoice.organisation import Organisation
from einvoice.web import auth, pages, rendering, upload
from einvoice.web.search import WebApprovalService
from einvoice.web.throttle import HashSlots, SignInThrottle


@dataclass
class WebContext:
    app: App
    auth: auth.AuthConfig
    upload: upload.UploadConfig
    svc: WebApprovalService
    templates: Environment
    throttle: SignInThrottle
    hash_slots: HashSlots
    upload_limits: upload.UploadLimits
    chain: list[str]  # the approval steps of this organisation, in order (the step filter's choices)
    cache: rendering.ModelCache = field(default_factory=rendering.ModelCache)
    # One upload at a time per process: each is one small batch, and the archive writer appends
    # in order (ingest is idempotent anyway; this keeps two uploads from racing for a page).
    ingest_lock: threading.Lock = field(default_factory=threading.Lock)
    _outbox_lock: threading.Lock = field(default_factory=threading.Lock)
    _outbox: list = field(default_factory=list)

    @classmethod
    def build(cls, app: App, cfg: auth.AuthConfig, upload_cfg: upload.UploadConfig) -> WebContext:
        base = app.approval
        return cls(app=app, auth=cfg, upload=upload_cfg,
                   svc=WebApprovalService(app.db, app.organisation, today=base.today, on_release=base.on_release),
                   templates=pages.template_environment(app.organisation),
                   throttle=SignInThrottle.from_config(cfg), hash_slots=HashSlots(cfg.hash_parallel),
                   upload_limits=upload.UploadLimits(upload_cfg), chain=[s.value for s in steps(app.organisation)])

    @property
    def org(self) -> Organisation:
        return self.app.organisation

    @property
    def db(self) -> Database:
        return self.app.db

    def render(self, request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
        """The template ``name`` with the signed-in person (if any), their CSRF token and today."""
        v = getattr(request.state, "viewer", None)
        sess = getattr(request.state, "session", None)
        ctx.setdefault("viewer", v)
        ctx.setdefault("csrf", sess.csrf_token if sess else None)
        ctx.setdefault("today", self.svc.today())
        return HTMLResponse(self.templates.get_template(name).render(request=request, **ctx), status_code=status)

    def pull_outbox(self):
        """The finance pull API's outbox over this app (with its archive), built on first use."""
        with self._outbox_lock:
            if not self._outbox:
                from einvoice.finance.outbox import outbox_for_app

                self._outbox.append(outbox_for_app(self.app))
            return self._outbox[0]
