"""Built for German clerks (issue #17): German HTML error pages for every error, times in
Europe/Berlin. Runs on SQLite and, with EINVOICE_TEST_DATABASE_URL, on PostgreSQL (``db_app``)."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.web.conftest import HTTPS, sign_in


@pytest.fixture
def web_app(db_app):
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, ids = db_app
    return create_app(app, auth_config=AuthConfig(client_attempts_per_minute=100_000, client_failures=100_000)), app, ids


@pytest.fixture
def client(web_app):
    from fastapi.testclient import TestClient

    web, _, _ = web_app
    with TestClient(web, follow_redirects=False, base_url=HTTPS, raise_server_exceptions=False) as c:
        assert sign_in(c, "a.schulz").status_code == 303
        yield c


def _german_page(r, status: int, *words: str) -> str:
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"].startswith("text/html"), r.headers["content-type"]
    assert '<html lang="de">' in r.text and '"detail"' not in r.text
    for w in words:
        assert w in r.text, w
    return r.text


def test_every_error_is_a_german_html_page(client, web_app, monkeypatch):
    _german_page(client.get("/invoices/abc"), 404, "Nicht gefunden")
    _german_page(client.get("/invoices/99999999999999999999"), 404, "Nicht gefunden")
    _german_page(client.get("/gibt-es-nicht"), 404, "Nicht gefunden")
    r = client.get("/tasks/1/approve")  # a form action opened as a link
    _german_page(r, 405, "Nicht möglich", "Schaltflächen")
    assert r.headers["allow"] == "POST"
    _german_page(client.post("/inbox", data={}), 405, "Nicht möglich")
    # A request validation error (a parameter of the wrong type) on any staff route.
    web, _, _ = web_app

    @web.get("/probe/{number}")
    def probe(number: int):
        return {"number": number}

    _german_page(client.get("/probe/abc"), 400, "Ungültige Adresse oder Eingabe")
    # A crash inside a page: a German page, never a traceback or JSON.
    from einvoice.web.search import WebApprovalService

    def boom(*a, **kw):
        raise RuntimeError("database gone")

    monkeypatch.setattr(WebApprovalService, "inbox", boom)
    text = _german_page(client.get("/inbox"), 500, "Fehler", "wenden Sie sich an die IT")
    assert "RuntimeError" not in text and "database gone" not in text
    # The finance system's pull API keeps answering in JSON.
    r = client.get("/finance/pull/nothing-here")
    assert r.headers["content-type"].startswith("application/json")


def test_times_are_shown_in_berlin(client, web_app):
    from einvoice.db.models import InvoiceEvent

    _, app, ids = web_app
    invoice_id = ids["66"]
    with app.db.transaction() as s:
        for at, text in ((dt.datetime(2026, 7, 1, 10, 5, tzinfo=dt.timezone.utc), "Sommerzeit"),
                         (dt.datetime(2026, 1, 15, 23, 30, tzinfo=dt.timezone.utc), "Winterzeit")):
            s.add(InvoiceEvent(invoice_id=invoice_id, actor="a.schulz", action="comment", at=at, comment=text,
                               from_state="in_approval", to_state="in_approval"))
    text = client.get(f"/invoices/{invoice_id}").text
    assert "01.07.2026 12:05" in text  # UTC+2 in summer
    assert "16.01.2026 00:30" in text  # UTC+1 in winter: already the next day in Berlin
    assert "01.07.2026 10:05" not in text


def _visible_text(html: str, names: tuple[str, ...] = ()) -> str:
    """The page's text without the people's names of the organisation file (data: "Vanessa König
    (Stadtkasse)" is a name in both languages)."""
    from tests.wording import visible_text

    text = visible_text(html)
    for name in names:
        text = text.replace(name, " ")
    return text


def _names(web_app) -> tuple[str, ...]:
    return tuple(p.name for p in web_app[1].organisation.people)


def _invoice_page(name: str) -> bool:
    """Pages rendered by invoice.html: the invoice pages and the refusals shown on them."""
    return (" GET /invoices/" in name and not name.endswith("/abc")) or " POST " in name


def _walk_pages(web_app, monkeypatch) -> dict[str, str]:
    """Every staff page with approval-layer texts on it: lists, the invoice page with a trail of
    decisions, each refusal an action gives, the error pages."""
    from decimal import Decimal

    from fastapi.testclient import TestClient

    from tests.web.conftest import CSRF

    web, app, ids = web_app
    svc = app.approval
    inv = ids["66"]
    t = svc.open_task_of(inv).task_id
    assert svc.approve(t, "a.schulz").ok
    assert svc.comment(inv, "a.schulz", "Lieferung vollständig").ok
    assert svc.approve(svc.open_task_of(inv).task_id, "b.keller", amount=Decimal("1190.00")).ok
    # A routing reason as intake writes it (in the language set).
    from einvoice import routing
    from einvoice.db.models import InvoiceRow

    with app.db.transaction() as s:
        row = s.get(InvoiceRow, ids["10"])
        d = routing.route(routing.RoutingInput(buyer_reference="05999000-10-44"), app.organisation)
        row.routing_rule, row.routing_reason = d.rule, d.reason
    pages: dict[str, str] = {}
    for person in ("a.schulz", "b.keller", "c.wagner", "h.wolf", "j.krause", "k.lange", "f.becker"):
        with TestClient(web, follow_redirects=False, base_url=HTTPS, raise_server_exceptions=False) as c:
            assert sign_in(c, person).status_code == 303
            for path in ("/inbox", "/overview", "/desk", "/treasury", f"/invoices/{inv}", f"/invoices/{ids['10']}",
                         "/inbox?sort=betrag", "/invoices/abc", "/tasks/1/approve", "/desk?q=nichts-dergleichen",
                         "/treasury?state=paid", "/gibt-es-nicht", "/vertretung", "/notices", "/desk/documents",
                         "/desk/documents?q=nichts-dergleichen"):
                pages[f"{person} GET {path}"] = c.get(path).text
            token = CSRF.search(c.get(f"/invoices/{inv}").text).group(1)
            open_task = svc.open_task_of(inv)
            if open_task is None:  # released by an earlier person of this walk
                continue
            task = open_task.task_id
            for action, data in (("approve", {}), ("reject", {"reason": ""}), ("send-back", {"reason": ""}),
                                 ("forward", {"department": "66"})):
                r = c.post(f"/tasks/{task}/{action}", data={"csrf_token": token, **data})
                pages[f"{person} POST {action}"] = r.text
    with TestClient(web, follow_redirects=False, base_url=HTTPS) as c:
        pages["login"] = c.get("/login").text
        pages["login bye"] = c.get("/login?bye=1").text
        pages["login without form token"] = c.post("/login", data={"username": "a.schulz", "password": "x"}).text
        pages["login wrong password"] = c.post("/login", data={
            "csrf_token": CSRF.search(c.get("/login").text).group(1), "username": "a.schulz", "password": "falsch"}).text
    return pages


def test_every_page_is_german(web_app, monkeypatch):
    from tests.wording import foreign_words

    monkeypatch.setenv("EINVOICE_LANGUAGE", "de")
    pages = _walk_pages(web_app, monkeypatch)
    assert any("Nicht ausgeführt" in p for p in pages.values())  # refusals were shown
    assert all('<html lang="de">' in html for html in pages.values() if html)  # not the redirects
    bad = {name: foreign_words(_visible_text(html, _names(web_app)), "de") for name, html in pages.items()}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, bad
    trail = pages["c.wagner GET /invoices/" + str(web_app[2]["66"])]
    assert "sachlich richtig" in trail and "rechnerisch richtig" in trail and "sachlich_richtig" not in trail
    assert any("gehört zu 10 Hauptamt" in p for p in pages.values())


def test_every_page_is_english(web_app, monkeypatch):
    """With EINVOICE_LANGUAGE=en every page of the walk but the invoice page (next test) is English: lists,
    error pages, refusals of the web layer, sign-in; ``<html lang="en">``, ISO dates."""
    import re

    from tests.wording import foreign_words

    monkeypatch.setenv("EINVOICE_LANGUAGE", "en")
    pages = {k: v for k, v in _walk_pages(web_app, monkeypatch).items() if v and not _invoice_page(k)}
    assert len(pages) > 50
    assert all('<html lang="en">' in html for html in pages.values())
    bad = {name: foreign_words(_visible_text(html, _names(web_app)), "en") for name, html in pages.items()}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, bad
    inbox = pages["a.schulz GET /inbox"]
    assert ">Inbox</a>" in inbox and "Sign out" in inbox
    assert any(re.search(r"\b20\d\d-\d\d-\d\d\b", html) for html in pages.values())  # ISO dates
    assert not [k for k, html in pages.items() if re.search(r"\b\d\d\.\d\d\.20\d\d\b", html)]  # no German ones
    assert "Not allowed" in pages["a.schulz GET /treasury"]  # a web-layer refusal, in English
    assert "Not possible" in pages["a.schulz GET /tasks/1/approve"]
    assert "Sign-in failed" in pages["login wrong password"] and "CSRF protection" in pages["login without form token"]


def test_the_invoice_page_is_english(web_app, monkeypatch):
    from tests.wording import foreign_words

    monkeypatch.setenv("EINVOICE_LANGUAGE", "en")
    pages = {k: v for k, v in _walk_pages(web_app, monkeypatch).items() if _invoice_page(k) and v}
    assert len(pages) > 10
    bad = {name: foreign_words(_visible_text(html, _names(web_app)), "en") for name, html in pages.items()}
    assert not {k: v for k, v in bad.items() if v}


def test_approval_texts_on_the_pages_follow_english(web_app, monkeypatch):
    """With EINVOICE_LANGUAGE=en the texts the approval layer gives (refusals, trail labels, routing
    reasons) are English, on the invoice page too."""
    import re

    from tests.wording import foreign_words

    monkeypatch.setenv("EINVOICE_LANGUAGE", "en")
    pages = _walk_pages(web_app, monkeypatch)
    pieces = []
    for html in pages.values():
        pieces += re.findall(r'(?s)<p class="notice bad" role="alert" id="refusal"><strong>[^<]*</strong>(.*?)<code', html)
        pieces += re.findall(r'(?s)<p class="refused" role="note"><strong>[^<]*</strong>(.*?)<code', html)
        pieces += re.findall(r'<dd id="routing-reason">([^<]*)', html)
        for row in re.findall(r'(?s)<table class="list trail">.*?</table>', html):
            pieces += [re.sub(r"<[^>]+>", " ", cell) for cell in re.findall(r"(?s)<tr><td>[^<]*</td><td>.*?</td>\s*<td>(.*?)</td>", row)]
    assert len(pieces) > 10 and any("Anordnungsbefugnis" in p for p in pieces), pieces[:5]
    assert any("belongs to 10 Hauptamt" in p for p in pieces)
    bad = {p: foreign_words(p, "en") for p in pieces if foreign_words(p, "en")}
    assert not bad, bad


def _finance_and_notice_trail(app, invoice_id: int) -> None:
    """Trail entries as the finance outbox and the notice outbox write them (written while German is set)."""
    import json

    from einvoice.db.models import InvoiceEvent, InvoiceRow
    from einvoice.finance import errors
    from einvoice.finance import messages as F
    from einvoice.language import worded
    from einvoice.notices.outbox import TRAIL as NOTICE_TRAIL

    refused = F.problem(errors.HTTP_REJECTED, "de", reason="Kostenstelle 4711 gesperrt")
    entries = [("posting_dead_letter", F.trail_of(refused)), ("posted", F.trail("posted", booking="FIN-2026-0815")),
               ("notice_sent", worded(NOTICE_TRAIL["sent"], recipient="einkauf@lieferant.example", source="BT-43"))]
    with app.db.transaction() as s:
        inv = s.get(InvoiceRow, invoice_id)
        for action, (comment, texts) in entries:
            s.add(InvoiceEvent(invoice_id=invoice_id, actor="system", action=action, from_state=inv.state,
                               to_state=inv.state, comment=comment, details_json=json.dumps(texts, ensure_ascii=False)))


@pytest.mark.parametrize("lang", ["de", "en"])
def test_finance_and_notice_trail_follow_the_language(web_app, monkeypatch, lang):
    """A posted invoice's history, a finance refusal kept in the trail and a notice sent are shown in
    the language set on the invoice page, whichever language was set when they were written."""
    import re

    from fastapi.testclient import TestClient

    from tests.wording import foreign_words

    web, app, ids = web_app
    monkeypatch.setenv("EINVOICE_LANGUAGE", "de")
    _finance_and_notice_trail(app, ids["66"])
    monkeypatch.setenv("EINVOICE_LANGUAGE", lang)
    with TestClient(web, follow_redirects=False, base_url=HTTPS) as c:
        assert sign_in(c, "c.wagner").status_code == 303
        html = c.get(f"/invoices/{ids['66']}").text
    trail = re.search(r'(?s)<table class="list trail">.*?</table>', html).group(0)
    cells = [re.sub(r"<[^>]+>", " ", cell) for cell in re.findall(r"(?s)<td>((?:(?!<td>).)*?)</td></tr>", trail)]
    finance = [c for c in cells if "FIN-2026-0815" in c or "HTTP-REJECTED" in c or "einkauf@lieferant.example" in c]
    assert len(finance) == 3, cells
    expected = {"de": ("Im Finanzverfahren gebucht als", "Finanzverfahren hat den Buchungssatz abgelehnt", "Hinweis an"),
                "en": ("booked in the finance system as", "finance system refused the record", "notice sent to")}[lang]
    for words in expected:
        assert any(words in c for c in finance), (words, finance)
    bad = {c: foreign_words(c, lang) for c in finance if foreign_words(c, lang)}
    assert not bad, bad
    # the stored verdict ("valid", as Report.summary() wrote it) is shown in the language set
    assert '<p class="muted">' + ("gültig" if lang == "de" else "valid") + "</p>" in html
