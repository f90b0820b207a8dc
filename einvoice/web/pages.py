"""How the pages are rendered: the Jinja2 environment (autoescaping, filters, globals, the
translations of ``einvoice.web.texts``) and the German titles the templates and list pages show
(source strings: a template shows them with ``|tr``, English from ``texts.ENGLISH``).

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
from einvoice.web import forms, rendering, texts

HERE = Path(__file__).resolve().parent

STEP_TITLE = {  # what staff call the steps (German source strings; English in einvoice.web.texts)
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
#: ?desk=... after a successful desk action (einvoice.web.routes.desk_actions; fixed texts as above).
DESK_DONE = {
    "reopened": "Das Dokument wurde wieder aufgenommen und ist jetzt in der Freigabe (sachliche Richtigkeit).",
    "hold-set": "Die Klärung wurde eingetragen; der Schritt wartet, bis sie abgeschlossen ist.",
    "hold-released": "Die Klärung wurde abgeschlossen; der Schritt kann wieder bestätigt werden.",
    "delegated": "Die Aufgabe wurde delegiert.",
}
#: Channels as the desk calls them (Invoice.channel).
CHANNEL_TITLE = {
    "email": "E-Mail",
    "upload": "Upload",
    "peppol": "Peppol",
    "directory": "Verzeichnis",
    "s3": "Ablage (S3)",
}
DESK_STATE_TITLE = {"rejected": "abgewiesen (Prüfung)", "not_an_invoice": "keine E-Rechnung"}


def template_environment(org: Organisation) -> Environment:
    """The templates of ``einvoice/web/templates`` with the filters and globals every page uses."""
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters.update(money=rendering.money, number=rendering.number, date=rendering.date,
                       action_name=approval_messages.action_name, role_name=approval_messages.role_name,
                       state_name=approval_messages.state_name, outcome_name=approval_messages.outcome_name,
                       report_view=rendering.report_view, shown=language.shown, verdict=verdict_text)
    env.globals.update(STEP_TITLE=STEP_TITLE, STATE_TITLE=STATE_TITLE, STEP_LABEL={s.value: v for s, v in STEP_LABEL.items()},
                       org=org, TEXT_LIMIT={k: limit for k, (limit, _) in forms.MAX_TEXT.items()},
                       DESK_DONE=DESK_DONE, CHANNEL_TITLE=CHANNEL_TITLE, DESK_STATE_TITLE=DESK_STATE_TITLE)
    texts.install(env)
    return env
