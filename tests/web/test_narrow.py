"""Issue #17: no page a person can reach scrolls sideways on a 390 px phone, checked in a real
headless Chromium for every GET page of ``einvoice.web.routes`` (except the files: original,
attachments, inline PDFs, and the JSON /healthz), signed in as the people who can see them.

Wide tables scroll inside their own box (``table.list``, ``.scroll``); what sticks out of the page
is named in the failure message. This module must never relax the 390 px limit per page.
"""
from __future__ import annotations

import urllib.parse

from tests.web.test_browser import browser, pytestmark  # noqa: F401 - the fixture and its skip rule

#: What sticks out at the right, outside boxes that scroll by themselves (for the failure message).
WIDE = """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391
      && !(e.parentElement && e.parentElement.closest('table.list, .scroll')))
    .map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right)
         + ' ' + (e.textContent || '').trim().slice(0, 40)).slice(0, 10)"""
#: A reply address as long as real ones get (it must wrap, not widen the receipt).
LONG_REPLY_TO = "rechnungseingang.buchhaltung.niederlassung-west@tiefbau-und-strassenbau-muster-gmbh.example"


def _context(browser):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="de-DE", device_scale_factor=1)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    return ctx, page


def _measure(page, widths: dict, name: str) -> None:
    widths[name] = page.evaluate("document.documentElement.scrollWidth")
    if widths[name] > 390:
        widths[name + " wide"] = page.evaluate(WIDE)


def _sign_in(page, url: str, person: str) -> None:
    from devtools.web_demo import DEMO_PASSWORD

    page.goto(url + "/login")
    page.get_by_label("Benutzername").fill(person)
    page.get_by_label("Passwort").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url("**/inbox")


def test_every_page_fits_390_px(browser, live_server, world):  # noqa: F811
    _app, ids, inbox = world
    url = live_server.url
    widths: dict = {}

    # Suppliers (no session): the form, and the receipt of a real upload with findings and a long address.
    ctx, page = _context(browser)
    try:
        for path in ("/login", "/einreichen"):
            page.goto(url + path)
            _measure(page, widths, path)
        page.get_by_label("Rechnungsdatei (XML oder PDF)").set_input_files(str(inbox / "13-broken-wrong-totals.xml"))
        page.get_by_label("Ihre E-Mail-Adresse für Rückfragen (freiwillig)").fill(LONG_REPLY_TO)
        page.get_by_role("button", name="Einreichen").click()
        page.wait_for_selector("#receipt-number")
        assert LONG_REPLY_TO in page.locator("main").inner_text()
        _measure(page, widths, "/einreichen receipt")
    finally:
        ctx.close()

    # A clerk (Hauptamt), the central desk, the treasury: every page each of them can open, and the
    # error pages (404 for an unknown invoice, 403 for a page outside the role).
    seen = {
        "f.becker": ["/inbox", "/inbox?" + urllib.parse.urlencode({"q": "IT-Service"}), "/inbox?q=keine-solche-rechnung",
                     f"/invoices/{ids['hauptamt']}", "/overview", "/vertretung", "/invoices/999999"],
        "h.wolf": ["/desk", "/desk/documents", "/notices", "/inbox?step=sachlich", "/overview", "/vertretung",
                   f"/invoices/{ids['rejected']}", f"/invoices/{ids['jugendamt']}", f"/invoices/{ids['tiefbau']}",
                   f"/invoices/{ids['schulamt']}"],
        "j.krause": ["/treasury", "/inbox", "/vertretung", "/overview"],  # /overview: the 403 page
    }
    for person, paths in seen.items():
        ctx, page = _context(browser)
        try:
            _sign_in(page, url, person)
            for path in paths:
                response = page.goto(url + path)
                assert response.status in (200, 403, 404), (person, path, response.status)
                _measure(page, widths, f"{person} {path} ({response.status})")
        finally:
            ctx.close()
    print("checked at 390 px:", *widths, sep="\n  ")
    assert all(w <= 390 for w in widths.values() if isinstance(w, int)), sorted(
        (k, v) for k, v in widths.items() if not isinstance(v, int) or v > 390)
