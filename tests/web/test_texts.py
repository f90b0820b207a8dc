"""English stays complete (issue #17): every German source string of the web pages has its English
in ``einvoice.web.texts.ENGLISH`` -- the templates' ``_()``/``{% trans %}`` strings and the German
texts the web modules hand to them -- no template shows unwrapped text, and the mechanism escapes
and formats as it should. No database, no server: the templates and modules are read as they are.
"""
from __future__ import annotations

import ast
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

from tests.wording import foreign_words

WEB = Path(__file__).resolve().parents[2] / "einvoice" / "web"
TEMPLATES = WEB / "templates"
#: Templates not wrapped yet, each with the reason (einvoice/web/texts.py says how to wrap one).
NOT_YET: dict[str, str] = {}
#: Text outside ``_()``/``{% trans %}`` that is the same in every language.
SAME_IN_BOTH = {"SHA-256", "IBAN", "BIC", "–", "·", "→", "←", "(", ")", ":", ",", "."}


def _env():
    from einvoice.organisation import load_organisation
    from einvoice.web.pages import template_environment

    return template_environment(load_organisation(Path(__file__).resolve().parents[2] / "examples" / "musterhausen.yaml"))


def _templates() -> list[str]:
    return sorted(p.name for p in TEMPLATES.glob("*.html"))


def _source_strings(env, name: str) -> list[str]:
    """The source strings of ``_()``, ``gettext``, ``ngettext`` and ``{% trans %}`` in one template."""
    source = (TEMPLATES / name).read_text(encoding="utf-8")
    found = []
    for _line, _func, message in env.extract_translations(source):
        found += [m for m in (message if isinstance(message, tuple) else (message,)) if m]
    return found


@pytest.mark.parametrize("name", [n for n in _templates() if n not in NOT_YET])
def test_every_source_string_of_a_template_has_its_english(name):
    from einvoice.web.texts import ENGLISH

    env = _env()
    strings = _source_strings(env, name)
    assert strings, f"{name} wraps no text"
    missing = [s for s in strings if s not in ENGLISH]
    assert not missing, f"{name}: no English for {missing}"


def _unwrapped(source: str) -> list[str]:
    """Text a template shows that is neither in ``_()`` nor in ``{% trans %}``: what is left once the
    trans blocks, Jinja tags, comments and HTML tags are taken out."""
    text = re.sub(r"(?s)\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}", " ", source)
    text = re.sub(r"(?s)\{#.*?#\}|\{\{.*?\}\}|\{%.*?%\}", " ", text)
    attrs = re.findall(r'(?:title|aria-label|placeholder|alt)="([^"{]+)"', text)
    text = re.sub(r"(?s)<[^>]*>", " ", text)
    return [w for w in text.split() + attrs if w not in SAME_IN_BOTH and re.search(r"[A-Za-zÄÖÜäöüß]", w)]


@pytest.mark.parametrize("name", [n for n in _templates() if n not in NOT_YET])
def test_no_template_shows_unwrapped_text(name):
    left = _unwrapped((TEMPLATES / name).read_text(encoding="utf-8"))
    assert not left, f"{name} shows text outside _() and {{% trans %}}: {left} (or name it in NOT_YET with a reason)"


def test_the_unwrapped_text_check_can_fail():
    assert _unwrapped('<p>Keine Rechnungen</p><input placeholder="Suche">') == ["Keine", "Rechnungen", "Suche"]
    assert _unwrapped('<p>{{ _("Keine") }}{% trans %}x {{ y }}{% endtrans %} SHA-256</p>') == []
    assert "invoice.html" in _templates(), "NOT_YET names a template that exists"


def _german_texts_of_the_web_modules() -> dict[str, str]:
    """German texts made in code and shown on the converted pages: the constant tables, the
    signals' messages, the texts passed as title/message/intro/error, and every ``tr()`` string."""
    from einvoice.approval.rules import STEP_LABEL
    from einvoice.web import auth, error_pages, notices_view, pages, upload
    from einvoice.web.routes import auth as auth_routes

    texts = {}
    for where, table in (("HTTP_ERROR", error_pages.HTTP_ERROR), ("STATE_VERDICT", upload.STATE_VERDICT)):
        for key, pair in table.items():
            texts.update({f"{where}[{key}]": t for t in pair})
    texts["IN_PROGRESS"], texts["IN_PROGRESS/2"] = upload.IN_PROGRESS
    texts["ERROR_UNKNOWN"] = notices_view.ERROR_UNKNOWN
    texts.update({f"STEP_LABEL[{k.value}]": v for k, v in STEP_LABEL.items()})
    for where, table in (("STEP_TITLE", pages.STEP_TITLE), ("SORT_TITLE", pages.SORT_TITLE),
                         ("GROUP_TITLE", pages.GROUP_TITLE), ("DONE_MESSAGE", pages.DONE_MESSAGE),
                         ("DESK_DONE", pages.DESK_DONE), ("CHANNEL_TITLE", pages.CHANNEL_TITLE),
                         ("DESK_STATE_TITLE", pages.DESK_STATE_TITLE), ("STATUS_TITLE", notices_view.STATUS_TITLE),
                         ("KIND_TITLE", notices_view.KIND_TITLE), ("ERROR_TITLE", notices_view.ERROR_TITLE)):
        texts.update({f"{where}[{k}]": v for k, v in table.items()})
    texts.update(THROTTLED=auth_routes.THROTTLED, BUSY=auth_routes.BUSY, GENERIC_FAILURE=auth.GENERIC_FAILURE)
    for path in sorted(WEB.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or getattr(node.func, "id", "") == "FastAPI":  # its title: no page shows it
                continue
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            where = f"{path.relative_to(WEB)}:{node.lineno}"
            if func in ("Forbidden", "BadRequest", "tr") and node.args and isinstance(node.args[0], ast.Constant):
                texts[where] = node.args[0].value
            for kw in node.keywords:
                if kw.arg in ("title", "message", "intro", "error") and isinstance(kw.value, ast.Constant) \
                        and isinstance(kw.value.value, str):
                    texts[f"{where} {kw.arg}="] = kw.value.value
    return texts


def test_every_german_text_of_the_web_modules_has_its_english():
    from einvoice.web.texts import ENGLISH

    texts = _german_texts_of_the_web_modules()
    assert len(texts) > 60 and "routes/desk.py" in " ".join(texts)  # the scan found the routes
    missing = {k: v for k, v in texts.items() if v not in ENGLISH}
    assert not missing, missing


def test_the_table_is_german_to_english_with_the_same_values():
    from einvoice.web.texts import ENGLISH

    def words(text):  # without the placeholders' names
        return re.sub(r"%\(\w+\)s", " ", text)

    for de, en in ENGLISH.items():
        assert not foreign_words(words(de), "de"), (de, foreign_words(words(de), "de"))
        assert not foreign_words(words(en), "en"), (en, foreign_words(words(en), "en"))
        assert sorted(re.findall(r"%\((\w+)\)s", de)) == sorted(re.findall(r"%\((\w+)\)s", en)), de
        assert "<" not in en and "&" not in en, "an English text is marked safe by _(): no markup in it"


def test_the_language_is_chosen_at_each_render(monkeypatch):
    env = _env()
    page = env.from_string('{% extends "base.html" %}{% block main %}{{ _("Posteingang") }}|{{ title|tr }}|'
                           '{% trans count=n %}noch {{ count }} Tag{% pluralize %}noch {{ count }} Tage{% endtrans %}|'
                           '{{ d|date }}|{{ a|money }}{% endblock %}')
    values = dict(title="Nicht gefunden", n=2, d=dt.date(2026, 3, 2), a=Decimal("1234.5"), viewer=None)
    monkeypatch.delenv("EINVOICE_LANGUAGE", raising=False)
    de = page.render(**values)
    assert '<html lang="de">' in de and "Posteingang|Nicht gefunden|noch 2 Tage|02.03.2026|1.234,50\u00a0€" in de
    monkeypatch.setenv("EINVOICE_LANGUAGE", "en")
    en = page.render(**values)
    assert '<html lang="en">' in en and "Inbox|Not found|2 days left|2026-03-02|1,234.50\u00a0€" in en
    one = env.from_string('{% trans count=1 %}noch {{ count }} Tag{% pluralize %}noch {{ count }} Tage{% endtrans %}')
    assert one.render() == "1 day left"
    monkeypatch.setenv("EINVOICE_LANGUAGE", "de")
    assert one.render() == "noch 1 Tag"


def test_values_are_escaped_in_both_ways_of_translating(monkeypatch):
    env = _env()
    monkeypatch.setenv("EINVOICE_LANGUAGE", "en")
    out = env.from_string('{{ x|tr }}|{{ _("Nr. %(id)s", id=x) }}|{% trans date=x %}vom {{ date }}{% endtrans %}').render(x="<b>")
    assert out == "&lt;b&gt;|No. &lt;b&gt;|of &lt;b&gt;"


def test_amounts_are_read_as_the_pages_show_them(monkeypatch):
    from einvoice.web.search import parse_amount

    monkeypatch.setenv("EINVOICE_LANGUAGE", "de")
    assert (parse_amount("1.234,56 €"), parse_amount("1234.56"), parse_amount("1,234.56")) == (Decimal("1234.56"), Decimal("1234.56"), None)
    monkeypatch.setenv("EINVOICE_LANGUAGE", "en")
    assert (parse_amount("1,234.56 €"), parse_amount("1,190"), parse_amount("1234,56")) == (Decimal("1234.56"), Decimal("1190"), Decimal("1234.56"))


def test_too_long_texts_are_refused_in_the_language_set(monkeypatch):
    from einvoice.web.forms import text_too_long

    monkeypatch.setenv("EINVOICE_LANGUAGE", "en")
    r = text_too_long({"reason": "x" * 2001})
    assert r.rule == "TEXT-TOO-LONG" and r.message.startswith("The reason is too long: 2,001 characters, at most 2,000")
    monkeypatch.setenv("EINVOICE_LANGUAGE", "de")
    assert text_too_long({"reason": "x" * 2001}).message.startswith("Die Begründung ist zu lang: 2.001 Zeichen")
