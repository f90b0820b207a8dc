"""Every router of the web app, one module per resource, in the order ``create_app`` includes them.

Adding a router: write ``einvoice/web/routes/<resource>.py`` with a module-level
``router = APIRouter()`` (dependencies from ``einvoice.web.deps``), name the module in the import
below and add one line to ``ROUTERS``.
Order matters only where two routers' paths overlap (the first match wins). This module must
never hold a route itself and never build per-app state (that is ``einvoice.web.context``).
"""
from __future__ import annotations

from fastapi import APIRouter

from einvoice.finance import pull_api
from einvoice.web.routes import (  # one module per line, so that adding one is one line here
    auth,
    decisions,
    desk,
    desk_actions,
    health,
    inbox,
    invoices,
    notices,
    overview,
    treasury,
    upload,
    viewer,
)

ROUTERS: tuple[APIRouter, ...] = (
    pull_api.router,  # the finance system's pull API: its own bearer token, never a staff session
    upload.router,  # suppliers: no staff session, own access rule
    auth.router,
    inbox.router,
    desk.router,
    overview.router,
    treasury.router,
    notices.router,  # e-mails waiting for a person (central desk)
    viewer.router,  # inline PDFs for the invoice page (before invoices: more specific paths)
    invoices.router,
    decisions.router,
    desk_actions.router,  # Klärung, delegation, reopening, bulk approval, substitutes
    health.router,
)
