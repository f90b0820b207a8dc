"""How the pages are rendered: the Jinja2 environment (autoescaping, filters, globals) and the
German titles the templates and list pages show.

This module must never render user-supplied text unescaped and never decide anything about an
invoice; it only names steps, states, orders and outcomes as staff call them.
"""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from einvoice import language
from einvoice.approval import messages as approval_messages
from einvoice.approval.rules import STEP_LABEL
from einvoice.organisation import Organisation
from einvoice.validation.report import verdict_text
from einvoice.web import forms, rendering

HERE = Path(__file__).resolve().parent

STEP_TITLE = {  # what staff call the steps (German labels on the pages)
    "sachlich": "Sachlich richtig",
    "rechnerisch": "Rechnerisch richtig",
    "anordnung": "Anordnung",
    "freigabe": "Freigabe",
}
STATE_TITLE = {k: de for k, (de, _en) in approval_messages.STATES.items()}  # the pages are German
#: The list orders (?sort=..., einvoice.approval.service.SORTS) as the column headers and the caption name them.
SORT_TITLE = {
    "frist": "Frist (Skonto zuerst)",
    "faellig": "Fälligkeit",
    "betrag": "Betrag (höchster zuerst)",
    "lieferant": "Lieferant (A–Z)",
    "eingang": "Eingang (älteste zuerst)",
}
GROUP_TITLE = {
    "skonto": "mit offenem Skonto",
    "faellig": "fällig",
    "ueberfaellig": "überfällig",
    "ohne_frist": "ohne Fälligkeit",
}
DONE_MESSAGE = {  # ?done=... after a successful action (fixed texts: nothing user-supplied in URLs)
    "approve": "Der Schritt wurde bestätigt.",
    "reject": "Die Rechnung wurde zurückgewiesen.",
    "send-back": "Die Rechnung wurde an den vorigen Schritt zurückgegeben.",
    "forward": "Die Rechnung wurde weitergeleitet.",
    "comment": "Der Kommentar wurde gespeichert.",
    "override-duplicate": "Der Dublettenverdacht wurde mit Begründung aufgehoben.",
}


def template_environment(org: Organisation) -> Environment:
    """The templates of ``einvoice/web/templates`` with the filters and globals every page uses."""
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters.update(money=rendering.money, number=rendering.number, date=rendering.date,
                       action_name=approval_messages.action_name, role_name=approval_messages.role_name,
                       state_name=approval_messages.state_name, outcome_name=approval_messages.outcome_name,
                       shown=language.shown, verdict=verdict_text)
    env.globals.update(STEP_TITLE=STEP_TITLE, STATE_TITLE=STATE_TITLE, STEP_LABEL={s.value: v for s, v in STEP_LABEL.items()},
                       org=org, TEXT_LIMIT={k: limit for k, (limit, _) in forms.MAX_TEXT.items()})
    return env
