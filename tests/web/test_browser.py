"""End to end in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

Frank Becker (Hauptamt, may certify both sachlich and rechnerisch) signs in, opens his inbox and
the CII sample invoice, certifies the sachliche Richtigkeit, then is refused the rechnerische
Richtigkeit of the same invoice (one person, one step) and tries anyway; he signs out. A
screenshot of the invoice page is written to test-artifacts/ for people to look at.
"""
from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync"]

pytestmark = [
    pytest.mark.s3,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} is missing: install the Debian packages with `make browser` "
                              "(apt-get install chromium chromium-driver); no browser is downloaded"),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install '.[test]')")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


def test_sign_in_approve_refusal_sign_out(browser, live_server, world):
    from devtools.web_demo import DEMO_PASSWORD

    _, ids, _ = world
    invoice_id = ids["hauptamt"]
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    try:
        # Sign in.
        page.goto(live_server.url + "/inbox")
        assert page.url.endswith("/login")
        page.get_by_label("Benutzername").fill("f.becker")
        page.get_by_label("Passwort").fill("wrong password!")
        page.get_by_role("button", name="Anmelden").click()
        assert "Anmeldung fehlgeschlagen" in page.locator("[role=alert]").inner_text()
        page.get_by_label("Passwort").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        page.wait_for_url("**/inbox")
        assert "Frank Becker" in page.locator("header").inner_text()

        # The inbox lists the Hauptamt invoice, deadline first; open it.
        row = page.locator("table.list tbody tr", has=page.locator(f"a[href='/invoices/{invoice_id}']"))
        assert row.count() == 1
        assert "Sachlich richtig" in row.inner_text()
        row.locator("a").first.click()
        page.wait_for_url(f"**/invoices/{invoice_id}")
        text = page.locator("main").inner_text()
        for expected in ("IT-Service West GmbH", "Positionen", "Umsatzsteuer", "Zahlbetrag", "IBAN", "Prüfbericht", "Protokoll"):
            assert expected in text, expected

        # Certify the sachliche Richtigkeit.
        page.get_by_role("button", name="Sachlich richtig bestätigen").click()
        page.wait_for_url(f"**/invoices/{invoice_id}?done=approve")
        assert "Der Schritt wurde bestätigt" in page.locator("[role=status]").inner_text()

        # The next step (rechnerisch) is his role too, but separation of duties forbids it: the
        # page says why (rule ID) instead of offering the button ...
        refusal = page.locator(".actions-panel .refused", has=page.locator("code.rule")).first.inner_text()
        assert "SOD-ONE-PERSON-ONE-STEP" in refusal and "Frank Becker" in refusal
        assert page.get_by_role("button", name="Rechnerisch richtig bestätigen").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "invoice-page.png"), full_page=True)

        # ... and trying anyway (a form posted from the same page) is refused by the server.
        csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
        task_id = int(page.locator("form[action^='/tasks/']").first.get_attribute("action").split("/")[2])
        page.evaluate(
            """([taskId, csrf]) => { const f = document.createElement('form'); f.method = 'post';
                 f.action = '/tasks/' + taskId + '/approve';
                 for (const [k, v] of [['csrf_token', csrf], ['amount', '1']]) { const i = document.createElement('input');
                   i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); }
                 document.body.appendChild(f); f.submit(); }""", [task_id, csrf])
        page.wait_for_selector("#refusal")
        assert "SOD-ONE-PERSON-ONE-STEP" in page.locator("#refusal").inner_text()
        page.screenshot(path=str(ARTIFACTS / "invoice-page-refusal.png"), full_page=False)

        # Sign out: the session is gone.
        page.get_by_role("button", name="Abmelden").click()
        page.wait_for_url("**/login?bye=1")
        page.goto(live_server.url + f"/invoices/{invoice_id}")
        assert page.url.endswith("/login")
    finally:
        ctx.close()


def _add_invoice(app, *, number: str, amount: str, issue_date, due_date, skonto_until=None, department: str = "51") -> int:
    """An invoice in approval as intake stores it (row, received event, first task)."""
    import uuid
    from decimal import Decimal

    from einvoice.approval import start_approval
    from einvoice.db.models import InvoiceEvent, InvoiceRow

    with app.db.transaction() as s:
        row = InvoiceRow(file_sha256=uuid.uuid4().hex * 2, filename=f"{number}.xml", channel="test", size=1, state="in_approval",
                      valid=True, verdict="valid", invoice_number=number, issue_date=issue_date, type_code="380",
                      currency="EUR", due_date=due_date, seller_name="Tiefbau Muster GmbH", amount_due=Decimal(amount),
                      tax_inclusive_amount=Decimal(amount), skonto_until=skonto_until,
                      skonto_percent=Decimal("2.00") if skonto_until else None, department=department,
                      routing_rule="leitweg-id", routing_reason="test")
        s.add(row)
        s.flush()
        s.add(InvoiceEvent(invoice_id=row.id, actor="system", action="received", to_state=row.state, amount=row.amount_due))
        start_approval(s, row, app.organisation)
        return row.id


def test_skonto_ending_today_is_first_in_the_inbox(browser, live_server, world):
    """Issue #17: an invoice whose 125 € Skonto ends today comes before invoices 300 days overdue."""
    import datetime as dt

    from devtools.web_demo import DEMO_PASSWORD

    app, _, _ = world
    today = app.approval.today()
    for i in range(60):  # more than a page of long-overdue invoices, their Skonto long lost
        _add_invoice(app, number=f"ALT-{i:03d}", amount="900.00", issue_date=today - dt.timedelta(days=330),
                     due_date=today - dt.timedelta(days=300), skonto_until=today - dt.timedelta(days=320))
    urgent = _add_invoice(app, number="SKONTO-HEUTE", amount="6250.00", issue_date=today - dt.timedelta(days=10),
                          due_date=today + dt.timedelta(days=20), skonto_until=today)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(live_server.url + "/login")
        page.get_by_label("Benutzername").fill("f.becker")
        page.get_by_label("Passwort").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        page.wait_for_url("**/inbox")
        first = page.locator("table.list tbody tr").first
        assert first.locator("a").first.get_attribute("href") == f"/invoices/{urgent}"
        text = first.inner_text()
        assert "125,00" in text and "nur noch heute" in text
        counts = page.locator("#counts").inner_text()
        import re  # the sample invoices of the world may add to the groups

        assert int(re.search(r"(\d+) überfällig", counts).group(1)) >= 60, counts
        assert int(re.search(r"(\d+) mit offenem Skonto", counts).group(1)) >= 1, counts
        # Sorted by amount instead (a column header), the largest amount is first.
        page.get_by_role("link", name="Betrag").click()
        page.wait_for_url("**sort=betrag**")
        assert page.locator("table.list tbody tr").first.locator("a").first.get_attribute("href") == f"/invoices/{urgent}"
        page.get_by_role("link", name="Lieferant").click()
        page.wait_for_url("**sort=lieferant**")
        assert page.locator("#sort").input_value() == "lieferant"
    finally:
        ctx.close()


def test_no_horizontal_overflow_at_390_px(browser, live_server, world):
    """Issue #17: on a 390 px phone the inbox and the invoice page never scroll sideways (wide tables
    scroll inside their own box); the invoice page shows the Kontierung."""
    from devtools.web_demo import DEMO_PASSWORD

    _, ids, _ = world
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="de-DE", device_scale_factor=1)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(live_server.url + "/login")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.get_by_label("Benutzername").fill("f.becker")
        page.get_by_label("Passwort").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        page.wait_for_url("**/inbox")
        widths = {"/inbox": page.evaluate("document.documentElement.scrollWidth")}
        for path in (f"/invoices/{ids['hauptamt']}", f"/invoices/{ids['jugendamt']}", "/overview"):
            page.goto(live_server.url + path)
            widths[path] = page.evaluate("document.documentElement.scrollWidth")
        ARTIFACTS.mkdir(exist_ok=True)
        page.goto(live_server.url + f"/invoices/{ids['hauptamt']}")
        page.screenshot(path=str(ARTIFACTS / "invoice-page-390px.png"), full_page=True)
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391
              && !(e.parentElement && e.parentElement.closest('table.list, table.totals, .scroll')))
            .map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right) + ' ' + (e.textContent || '').slice(0, 40))""")
        assert all(w <= 390 for w in widths.values()), (widths, wide[:15])
        kontierung = page.locator("#kontierung").inner_text()
        assert "Sachkonto" in kontierung and "Kostenstelle" in kontierung
    finally:
        ctx.close()
