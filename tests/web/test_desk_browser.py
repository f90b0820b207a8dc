"""The central desk and the approvers' further tools in a real headless Chromium (issue #17).

Each test gets its own database (SQLite, and PostgreSQL with EINVOICE_TEST_DATABASE_URL), the
example organisation with demo passwords, a movable clock for the service, and uvicorn on loopback:
bulk approval of 20 invoices (and the ones a rule forbids), a substitute during and after the
period, the desk reopening a rejected document, a Klärung set and released, and no sideways
scrolling of the new pages at 390 px.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.web.conftest import LiveServer, insert_invoice

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync"]
#: A fixed day outside the example file's own deputy period (a.schulz away 21.12.2026–03.01.2027).
DAY = dt.date(2026, 11, 23)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} is missing: install the Debian packages with `make browser`")


#: What sticks out at the right (for the failure message), outside boxes that scroll by themselves.
WIDE = """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391
      && !(e.parentElement && e.parentElement.closest('table.list, .scroll')))
    .map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 8)"""


class Clock:
    def __init__(self, today: dt.date):
        self.today = today

    def __call__(self) -> dt.date:
        return self.today


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install '.[test]')")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def desk(database_url):
    """(app, live server, clock): an App without archive on its own database, served by uvicorn."""
    from devtools.web_demo import mark_demo_database, seed_demo_accounts
    from einvoice.app import App
    from einvoice.settings import REPO_EXAMPLE_ORG, Settings
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app = App(Settings(database_url=database_url, organisation_file=REPO_EXAMPLE_ORG, s3_endpoint=None,
                       archive_bucket=None, signing_key_file=None))
    mark_demo_database(app.db)
    seed_demo_accounts(app.db, app.organisation)
    clock = Clock(DAY)
    app.approval.today = clock
    web = create_app(app, auth_config=AuthConfig(cookie_secure=False, client_attempts_per_minute=100_000,
                                                 client_failures=100_000))
    with LiveServer(web) as server:
        yield app, server, clock
    app.db.dispose()


def _sign_in(browser, server, person: str, width: int = 1280):
    from devtools.web_demo import DEMO_PASSWORD

    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="de-DE")
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    page.goto(server.url + "/login")
    page.get_by_label("Benutzername").fill(person)
    page.get_by_label("Passwort").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url("**/inbox")
    return ctx, page


def _events(app, invoice_id: int, action: str):
    from einvoice.db.models import InvoiceEvent

    with app.db.sessions() as s:
        return list(s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.invoice_id == invoice_id,
                                                            InvoiceEvent.action == action)))


def _rejected_document(app, *, state: str = "rejected", channel: str = "email", rules=("BR-DE-15",)) -> int:
    from einvoice.db.models import InvoiceEvent, InvoiceRow

    report = {"valid": False, "summary": "ungültig", "stages": {"xrechnung": "failed"}, "findings": [
        {"rule": r, "severity": "error", "message": f"[{r}] verletzt", "location": None, "stage": "xrechnung"} for r in rules]}
    with app.db.transaction() as s:
        row = InvoiceRow(file_sha256=uuid.uuid4().hex + uuid.uuid4().hex, filename=f"eingang-{uuid.uuid4().hex[:6]}.xml",
                      channel=channel, size=10, state=state, valid=False, verdict="ungültig", report_json=json.dumps(report),
                      invoice_number=f"AB-{uuid.uuid4().hex[:6]}", issue_date=DAY, due_date=DAY + dt.timedelta(days=30),
                      currency="EUR", seller_name="Kanal GmbH", leitweg_id="05999000-66-70", amount_due=Decimal("480.00"),
                      received_at=dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.timezone.utc))
        s.add(row)
        s.flush()
        s.add(InvoiceEvent(invoice_id=row.id, actor="system", action="received", to_state=state))
        return row.id


def test_bulk_approval_of_20_invoices_records_20_and_refuses_what_a_rule_forbids(browser, desk):
    app, server, _ = desk
    svc = app.approval
    ok = [insert_invoice(app, "66", f"SAMMEL-{i:02d}", f"{200 + i}.00") for i in range(20)]
    held = [insert_invoice(app, "66", f"KLAER-{i}", "300.00") for i in range(2)]
    for i in held:
        assert svc.set_hold(i, "a.schulz", reason="Menge strittig", until=DAY + dt.timedelta(days=5)).ok
    taken = insert_invoice(app, "66", "SCHON-ENTSCHIEDEN", "310.00")
    ctx, page = _sign_in(browser, server, "a.schulz")
    try:
        page.goto(server.url + "/inbox?step=sachlich")
        boxes = page.locator("#bulk-form input[type=checkbox]")
        assert boxes.count() == 23
        assert page.locator("text=in Klärung bis").count() == 2
        for i in range(boxes.count()):
            boxes.nth(i).check()
        # Meanwhile the head returns one of them (a decision a second earlier wins; this one is STALE).
        assert svc.reject(svc.open_task_of(taken).task_id, "c.wagner", reason="falscher Empfänger").ok
        page.get_by_role("button", name=re.compile("Ausgewählte bestätigen")).click()
        page.wait_for_url("**/inbox/bulk-approve")
        summary = page.locator("#bulk-summary").inner_text()
        assert "20 Entscheidungen erfasst" in summary and "3 abgelehnt" in summary, summary
        refused = page.locator("#bulk-refused").inner_text()
        assert refused.count("HOLD-OPEN") == 2 and refused.count("STALE") == 1, refused
        assert "Menge strittig" in refused  # the German reason beside the rule ID
        assert page.locator("#bulk-recorded tbody tr").count() == 20
    finally:
        ctx.close()
    for i in ok:  # each decision on its own, in the invoice's trail
        [event] = _events(app, i, "sachlich_richtig")
        assert event.actor == "a.schulz"
        assert svc.open_task_of(i).step.value == "rechnerisch"
    assert all(_events(app, i, "sachlich_richtig") == [] for i in held + [taken])


def test_substitute_acts_during_the_period_and_is_refused_after(browser, desk):
    app, server, clock = desk
    first = insert_invoice(app, "66", "VERTRETUNG-1", "640.00")
    second = insert_invoice(app, "66", "VERTRETUNG-2", "650.00")
    ctx, page = _sign_in(browser, server, "a.schulz")
    try:
        page.get_by_role("link", name="Vertretung", exact=True).click()
        page.wait_for_url("**/vertretung")
        page.get_by_label("Vertretung durch").select_option("b.keller")
        page.get_by_label("von").fill(DAY.isoformat())
        page.get_by_label("bis (einschließlich)").fill((DAY + dt.timedelta(days=3)).isoformat())
        page.get_by_role("button", name="Vertretung eintragen").click()
        page.wait_for_url("**/vertretung?done=set")
        assert "läuft" in page.locator("#my-substitutes").inner_text()
    finally:
        ctx.close()

    ctx, page = _sign_in(browser, server, "b.keller")
    try:
        assert page.locator(f"a[href='/invoices/{first}']").count() == 1  # in b.keller's inbox as deputy
        page.goto(server.url + f"/invoices/{first}")
        page.get_by_role("button", name="Sachlich richtig bestätigen").click()
        page.wait_for_url(f"**/invoices/{first}?done=approve")
        trail = page.locator("table.trail").inner_text()
        assert "als Vertretung für a.schulz" in trail, trail

        clock.today = DAY + dt.timedelta(days=4)  # the period is over
        page.goto(server.url + f"/invoices/{second}")
        assert page.get_by_role("button", name="Sachlich richtig bestätigen").count() == 0
        note = page.locator(".actions-panel .refused").first.inner_text()
        assert "DEPUTY-NOT-ABSENT" in note and "26.11.2026" in note, note
        page.goto(server.url + "/inbox")
        assert page.locator(f"a[href='/invoices/{second}']").count() == 0
    finally:
        ctx.close()
    [event] = _events(app, first, "sachlich_richtig")
    assert (event.actor, event.on_behalf_of) == ("b.keller", "a.schulz")
    assert _events(app, second, "sachlich_richtig") == []


def test_the_desk_reopens_a_rejected_document(browser, desk):
    app, server, _ = desk
    doc = _rejected_document(app)
    plain = _rejected_document(app, state="not_an_invoice", channel="upload", rules=("FORMAT-NOT-AN-INVOICE",))
    ctx, page = _sign_in(browser, server, "h.wolf")
    try:
        page.get_by_role("link", name="Rechnungseingangsstelle").click()
        page.get_by_role("link", name="Abgewiesene Dokumente und Dateien ohne E-Rechnung").click()
        page.wait_for_url("**/desk/documents")
        rows = page.locator("#desk-documents tbody tr")
        assert rows.count() == 2
        row = page.locator("#desk-documents tbody tr", has=page.locator(f"a[href='/invoices/{doc}']"))
        text = row.inner_text()
        # Reason as rule ID, the channel, and the time of receipt in Europe/Berlin (23:30 UTC = 00:30 CET).
        assert "BR-DE-15" in text and "E-Mail" in text and "21.11.2026 00:30" in text, text
        assert "Upload" in page.locator("#desk-documents tbody tr", has=page.locator(f"a[href='/invoices/{plain}']")).inner_text()
        row.locator("a").first.click()
        page.wait_for_url(f"**/invoices/{doc}")
        page.get_by_label("Begründung der Wiederaufnahme").fill("Lieferant hat die Leitweg-ID schriftlich bestätigt")
        page.get_by_role("button", name="Wieder aufnehmen").click()
        page.wait_for_url(f"**/invoices/{doc}?desk=reopened")
        assert "wieder aufgenommen" in page.locator("#desk-done").inner_text()
        assert "in Freigabe" in page.locator(".summary").inner_text()
        trail = page.locator("table.trail").inner_text()
        assert "nach Abweisung wieder aufgenommen" in trail and "Leitweg-ID schriftlich" in trail, trail
        # A file that is no e-invoice offers no reopening.
        page.goto(server.url + f"/invoices/{plain}")
        assert page.get_by_role("button", name="Wieder aufnehmen").count() == 0
        assert "Keine E-Rechnung nach § 14 UStG" in page.locator("#desk-tools").inner_text()
    finally:
        ctx.close()
    task = app.approval.open_task_of(doc)
    assert task.step.value == "sachlich" and task.department == "66"
    [event] = _events(app, doc, "reopened_after_rejection")
    assert event.actor == "h.wolf" and event.from_state == "rejected" and event.to_state == "in_approval"


def test_clarification_hold_set_and_released(browser, desk):
    app, server, _ = desk
    inv = insert_invoice(app, "66", "KLAERUNG-1", "720.00")
    ctx, page = _sign_in(browser, server, "a.schulz")
    try:
        page.goto(server.url + f"/invoices/{inv}")
        page.locator("summary", has_text="Klärung eintragen").click()
        page.get_by_label("Was muss geklärt werden?").fill("Lieferschein fehlt, beim Bauhof angefragt")
        page.get_by_label("Klärung bis").fill((DAY + dt.timedelta(days=7)).isoformat())
        page.get_by_role("button", name="Klärung eintragen").click()
        page.wait_for_url(f"**/invoices/{inv}?desk=hold-set")
        hold = page.locator("#hold").inner_text()
        assert "In Klärung bis 30.11.2026" in hold and "Lieferschein fehlt" in hold and "Frist" in hold, hold
        assert page.get_by_role("button", name="Sachlich richtig bestätigen").count() == 0
        assert "HOLD-OPEN" in page.locator(".actions-panel .refused").first.inner_text()
        page.goto(server.url + "/inbox")
        row = page.locator("table.list tbody tr", has=page.locator(f"a[href='/invoices/{inv}']"))
        assert "in Klärung bis 30.11.2026" in row.inner_text()
        page.goto(server.url + f"/invoices/{inv}")
        page.get_by_label("Ergebnis der Klärung (freiwillig)").fill("Lieferschein liegt vor")
        page.get_by_role("button", name="Klärung abschließen").click()
        page.wait_for_url(f"**/invoices/{inv}?desk=hold-released")
        assert page.locator("#hold").count() == 0
        trail = page.locator("table.trail").inner_text()
        assert "Klärung begonnen" in trail and "Klärung abgeschlossen" in trail and "Lieferschein liegt vor" in trail
        page.get_by_role("button", name="Sachlich richtig bestätigen").click()
        page.wait_for_url(f"**/invoices/{inv}?done=approve")
    finally:
        ctx.close()
    assert [e.actor for e in _events(app, inv, "hold_released")] == ["a.schulz"]


def test_new_pages_do_not_scroll_sideways_at_390_px(browser, desk):
    app, server, _ = desk
    doc = _rejected_document(app)
    inv = insert_invoice(app, "20", "SCHMAL-1", "99.00")
    assert app.approval.set_hold(inv, "h.wolf", reason="Rückfrage beim Lieferanten zu Position 3",
                                 until=DAY + dt.timedelta(days=2)).ok
    ctx, page = _sign_in(browser, server, "h.wolf", width=390)
    try:
        widths = {}
        for path in ("/desk/documents", "/vertretung", f"/invoices/{doc}", f"/invoices/{inv}", "/inbox?step=sachlich"):
            page.goto(server.url + path)
            widths[path] = page.evaluate("document.documentElement.scrollWidth")
            if widths[path] > 390:
                widths[path + " wide"] = page.evaluate(WIDE)
        page.locator("#bulk-form input[type=checkbox]").first.check()
        page.get_by_role("button", name=re.compile("Ausgewählte bestätigen")).click()
        page.wait_for_url("**/inbox/bulk-approve")
        widths["bulk"] = page.evaluate("document.documentElement.scrollWidth")
        if widths["bulk"] > 390:
            widths["bulk wide"] = page.evaluate(WIDE)
        assert all(w <= 390 for w in widths.values()), sorted(widths.items())
    finally:
        ctx.close()
