"""The PDF viewer on the invoice page (einvoice.web.pdfview, routes/viewer.py): the hybrid invoice's
PDF and PDF attachments are embedded from our own origin with safe headers; invoices a person may
not see give 404 for their PDF too; other files stay downloads. TestClient tests over the real app
(SeaweedFS archive, the sample Factur-X invoice), and a headless Chromium test of the page.
"""
from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from tests.web.test_browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS

pytestmark = pytest.mark.s3


def _assert_pdf_headers(headers) -> None:
    assert headers["content-type"] == "application/pdf"
    assert headers["content-disposition"].startswith("inline;")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "SAMEORIGIN"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp and "sandbox" in csp
    assert "script-src" not in csp and "allow-scripts" not in csp  # nothing may run
    assert headers["cache-control"] == "no-store"


def test_hybrid_pdf_is_served_inline_with_safe_headers(world, client_for):
    _, ids, _ = world
    inv = ids["jugendamt"]  # 04-facturx-en16931.pdf, department 51
    c = client_for("f.becker")
    page = c.get(f"/invoices/{inv}")
    assert page.status_code == 200
    assert f'data="/invoices/{inv}/pdf"' in page.text and 'type="application/pdf"' in page.text
    csp = page.headers["content-security-policy"]
    assert "object-src 'self'" in csp and "frame-src 'self'" in csp and "script-src" not in csp
    r = c.get(f"/invoices/{inv}/pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")
    _assert_pdf_headers(r.headers)


def test_pdf_of_an_invisible_invoice_is_not_found(world, client_for):
    _, ids, _ = world
    c = client_for("a.schulz")  # Tiefbauamt (66) only
    inv = ids["jugendamt"]
    for path in (f"/invoices/{inv}/pdf", f"/invoices/{inv}/attachments/0/pdf"):
        r = c.get(path)
        assert r.status_code == 404 and "application/pdf" not in r.headers["content-type"], path
    assert client_for().get(f"/invoices/{inv}/pdf").status_code == 303  # not signed in


def test_xml_invoice_has_no_inline_pdf_and_no_viewer(world, client_for):
    _, ids, _ = world
    inv = ids["hauptamt"]  # CII XML
    c = client_for("f.becker")
    assert c.get(f"/invoices/{inv}/pdf").status_code == 404
    assert "pdf-viewer" not in c.get(f"/invoices/{inv}").text


def _ubl_with_attachments(xml: bytes, attachments: list[tuple[str, str, bytes]]) -> bytes:
    """The UBL sample with BG-24 attachments (filename, declared mime code, bytes) before the supplier party."""
    refs = "".join(
        f"<cac:AdditionalDocumentReference><cbc:ID>A{i}</cbc:ID><cbc:DocumentDescription>Anlage {i}</cbc:DocumentDescription>"
        f"<cac:Attachment><cbc:EmbeddedDocumentBinaryObject mimeCode=\"{mime}\" filename=\"{name}\">"
        f"{base64.b64encode(data).decode()}</cbc:EmbeddedDocumentBinaryObject></cac:Attachment>"
        f"</cac:AdditionalDocumentReference>" for i, (name, mime, data) in enumerate(attachments))
    return re.sub(rb"(<cac:AccountingSupplierParty>)", refs.encode() + rb"\1", xml, count=1)


def test_pdf_attachment_inline_other_types_download_only(world, client_for, tmp_path):
    from einvoice.intake.inbox import read_inbox_file

    app, ids, inbox = world
    pdf = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    html = b"<html><script>alert(1)</script></html>"
    xml = (inbox / "01-xrechnung-ubl-invoice.xml").read_bytes().replace(b"</cbc:ID>", b"-ANL</cbc:ID>", 1)
    path = tmp_path / "mit-anlagen.xml"
    # declared as PDF but HTML (must not be shown inline), a real PDF, a CSV (download only)
    path.write_bytes(_ubl_with_attachments(xml, [("lieferschein.pdf", "application/pdf", html),
                                                 ("aufmass.pdf", "application/pdf", pdf),
                                                 ("mengen.csv", "text/csv", b"pos;menge\n1;2\n")]))
    outcome = app.intake.ingest([read_inbox_file(path)])[0]
    inv = outcome.invoice_id
    assert outcome.state == "in_approval", outcome
    c = client_for("a.schulz")  # 66 Tiefbauamt, where the UBL sample is routed
    page = c.get(f"/invoices/{inv}")
    assert page.status_code == 200, page.text
    assert f'data="/invoices/{inv}/attachments/1/pdf"' in page.text
    assert c.get(f"/invoices/{inv}/attachments/0/pdf").status_code == 404  # declared PDF, is HTML
    assert c.get(f"/invoices/{inv}/attachments/2/pdf").status_code == 404
    r = c.get(f"/invoices/{inv}/attachments/1/pdf")
    assert r.status_code == 200 and r.content == pdf
    _assert_pdf_headers(r.headers)
    d = c.get(f"/invoices/{inv}/attachments/2")  # a CSV stays a download, never rendered
    assert d.status_code == 200 and d.headers["content-disposition"].startswith("attachment;")
    assert d.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in d.headers["content-security-policy"]
    assert client_for("f.becker").get(f"/invoices/{inv}/attachments/1/pdf").status_code == 404


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)")
def test_chromium_shows_the_pdf_beside_the_data(live_server, world):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install '.[test]')")
    from devtools.web_demo import DEMO_PASSWORD

    _, ids, _ = world
    inv = ids["jugendamt"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            def signed_in(person: str):
                page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE").new_page()
                page.set_default_timeout(15_000)
                page.goto(live_server.url + "/login")
                page.get_by_label("Benutzername").fill(person)
                page.get_by_label("Passwort").fill(DEMO_PASSWORD)
                page.get_by_role("button", name="Anmelden").click()
                page.wait_for_url("**/inbox")
                return page

            page = signed_in("f.becker")
            csp_violations: list[str] = []
            page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
            with page.expect_response(lambda r: r.url.endswith(f"/invoices/{inv}/pdf")) as pdf_response:
                page.goto(live_server.url + f"/invoices/{inv}")
            viewer = page.locator("object#pdf-viewer")
            assert viewer.count() == 1 and viewer.is_visible()
            assert viewer.get_attribute("type") == "application/pdf"
            box = viewer.bounding_box()
            assert box["width"] > 600 and box["height"] > 300  # shown, not a collapsed placeholder
            resp = pdf_response.value
            assert resp.status == 200  # (its body went to the browser's PDF viewer; read again below)
            _assert_pdf_headers(resp.all_headers())
            assert "Positionen" in page.locator("main").inner_text()  # the data is on the same page
            assert csp_violations == []
            # The same URL with the page's session (the page's own CSP allows no fetch: connect-src falls to 'none').
            again = page.context.request.get(live_server.url + f"/invoices/{inv}/pdf")
            assert again.status == 200 and again.body().startswith(b"%PDF-")
            _assert_pdf_headers(again.headers)
            # Chromium's own PDF viewer (an extension frame inside the <object>) took the document.
            page.wait_for_function("() => true")  # let frames attach
            assert any(f.url.startswith("chrome-extension://") and f.url.endswith("/index.html") for f in page.frames), \
                [f.url for f in page.frames]

            # Beside the data on a wide screen; no sideways scrolling on a 390 px phone.
            page.set_viewport_size({"width": 1600, "height": 900})
            data_box = page.locator("section[aria-labelledby=inv-h]").bounding_box()
            pdf_box = viewer.bounding_box()
            assert pdf_box["x"] >= data_box["x"] + data_box["width"] and abs(pdf_box["y"] - data_box["y"]) < 200, \
                (pdf_box, data_box)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "invoice-page-pdf.png"))
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
            assert viewer.bounding_box()["width"] <= 390

            other = signed_in("a.schulz")  # may not see department 51
            r = other.goto(live_server.url + f"/invoices/{inv}/pdf")
            assert r.status == 404 and "application/pdf" not in r.headers["content-type"]
            r = other.goto(live_server.url + f"/invoices/{inv}")
            assert r.status == 404 and other.locator("object").count() == 0
        finally:
            browser.close()
