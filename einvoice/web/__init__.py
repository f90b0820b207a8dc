"""The web inbox for department approvers, the central desk, the treasury and auditors.

Server-rendered pages (FastAPI + Jinja2, no JavaScript build) over ``ApprovalService``: the inbox
sorted by deadline, the invoice as a person reads it, and the approval actions. The package must
never decide an approval rule itself (the service does, and the page shows its ``Refusal``), never
put invoice content into URLs or logs (numeric IDs only), and never accept a staff POST without
the session's CSRF token. The supplier upload (``einvoice.web.upload``) has no session and no
CSRF token on purpose: it is open to anyone (or needs a token typed into the form, which a forged
cross-site request cannot know), so a forged request could do nothing its sender cannot do directly.

``create_app`` loads FastAPI only when called, so the command line and the tests that need only
``einvoice.web.tables`` or ``einvoice.web.auth`` do not pay for the web framework.
"""
from __future__ import annotations


def create_app(app=None, *, auth_config=None, upload_config=None):
    """The ASGI application (see ``einvoice.web.app.create_app``)."""
    from einvoice.web.app import create_app as _create

    return _create(app, auth_config=auth_config, upload_config=upload_config)
