"""The supplier upload page in a real headless Chromium (as tests/web/test_browser.py drives it):
a supplier picks a file, gives a reply address, submits, and keeps the Eingangsbestätigung."""
from __future__ import annotations

import hashlib

from tests.web.test_browser import ARTIFACTS, browser, pytestmark  # noqa: F401 - the fixture and its skip rule


def test_supplier_uploads_and_gets_a_receipt(browser, live_server, world, tmp_path):  # noqa: F811
    from devtools.samples import generate

    _sample, data = next(generate(1, seed=14))  # a valid invoice no other test uploads
    path = tmp_path / "rechnung.xml"
    path.write_bytes(data)
    ctx = browser.new_context(viewport={"width": 1100, "height": 900}, locale="de-DE")
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(live_server.url + "/einreichen")
        assert page.locator("h1").inner_text() == "Rechnung einreichen"
        page.get_by_label("Rechnungsdatei (XML oder PDF)").set_input_files(str(path))
        page.get_by_label("Ihre E-Mail-Adresse für Rückfragen (freiwillig)").fill("rechnung@lieferant.example")
        page.get_by_role("button", name="Einreichen").click()
        page.wait_for_selector("#receipt-number")
        assert page.locator("h1").inner_text() == "Eingangsbestätigung"
        assert page.locator("#sha256").inner_text() == hashlib.sha256(data).hexdigest()
        assert page.locator("#receipt-number").inner_text().startswith("ER-")
        assert "angenommen" in page.locator("#verdict").inner_text()
        assert "Uhr" in page.locator("#received-at").inner_text()
        assert page.context.cookies() == [], "suppliers get no session"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "upload-receipt.png"), full_page=True)
    finally:
        ctx.close()


def test_supplier_uploads_a_rejected_invoice_and_reads_why(browser, live_server, world, tmp_path):  # noqa: F811
    """A rejected invoice through the page: the receipt says "abgewiesen", names the broken rule
    (BR-CO-15, totals) with its BMF class, and still gives a receipt number for the record."""
    _app, _ids, inbox = world
    data = (inbox / "13-broken-wrong-totals.xml").read_bytes() + b"\n<!-- erneut eingereicht -->\n"
    path = tmp_path / "falsch.xml"
    path.write_bytes(data)  # not byte-identical to the sample another test uploads
    ctx = browser.new_context(viewport={"width": 1100, "height": 900}, locale="de-DE")
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(live_server.url + "/einreichen")
        page.get_by_label("Rechnungsdatei (XML oder PDF)").set_input_files(str(path))
        page.get_by_role("button", name="Einreichen").click()
        page.wait_for_selector("#receipt-number")
        assert page.locator("#receipt-number").inner_text().startswith("ER-")
        assert "abgewiesen" in page.locator("#verdict").inner_text().lower()
        findings = page.locator("main").inner_text()
        assert "BR-CO-15" in findings and "Geschäftsregelfehler" in findings
    finally:
        ctx.close()
