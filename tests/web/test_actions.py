"""The approval actions through the web pages: the service decides, the page shows the outcome.

Covers the amount confirmation of the rechnerische Richtigkeit, the refusals with their rule IDs
(REASON-REQUIRED, AMOUNT-*, SOD-*), comments, forwarding, send-back, a duplicate flag and its
override, the whole chain to the treasury view, and the original and attachment downloads.
"""
from __future__ import annotations

import base64
import re

import pytest

from tests.web.conftest import SAMPLES, csrf_of

pytestmark = pytest.mark.s3


def _post(client, path: str, **data):
    return client.post(path, data={"csrf_token": csrf_of(client), **data})


def _task(app, invoice_id: int):
    return app.approval.open_task_of(invoice_id)


def _refusal(r) -> str:
    m = re.search(r'id="refusal">(.*?)</p>', r.text, re.S)
    return m.group(1) if m else ""


def test_full_chain_to_the_treasury_view(world, client_for):
    """Tiefbauamt: sachlich (a.schulz) → rechnerisch (b.keller, with amount) → Anordnung (c.wagner) → Freigabe (j.krause)."""
    app, ids, _ = world
    inv = ids["tiefbau"]
    steps = [("a.schulz", {}), ("b.keller", {"amount": "7.185,18"}), ("c.wagner", {}), ("j.krause", {})]
    for person, data in steps:
        c = client_for(person)
        assert f'href="/invoices/{inv}"' in c.get("/inbox").text, person
        r = _post(c, f"/tasks/{_task(app, inv).task_id}/approve", **data)
        assert r.status_code == 303 and r.headers["location"] == f"/invoices/{inv}?done=approve", (person, _refusal(r))
    assert _task(app, inv) is None
    page = client_for("j.krause").get("/treasury?state=released")
    assert f'href="/invoices/{inv}"' in page.text and "TBS-2026-00481" in page.text
    trail = client_for("k.lange").get(f"/invoices/{inv}").text
    for action in ("sachlich richtig", "rechnerisch richtig", "Anordnung", "Freigabe"):  # the trail's German labels
        assert f"<td>{action}</td>" in trail, action
    # once the approval trail is archived (the post-released flow does it), the page names its entry
    from einvoice.followups.records import RecordArchiver

    assert "Freigabeverlauf" not in trail
    report = RecordArchiver(app.db, app.archive).archive_pending()
    [entry] = [e for e in report.entries if e["invoice_id"] == inv]
    assert re.search(rf"Freigabeverlauf <small[^>]*>Eintrag {entry['sequence']},",
                     client_for("k.lange").get(f"/invoices/{inv}").text)


def test_rechnerisch_needs_the_confirmed_amount_and_sod_blocks_the_anordnung(world, client_for):
    """Jugendamt: g.richter may certify rechnerisch and order payment, but not both on one invoice."""
    app, ids, _ = world
    inv = ids["jugendamt"]
    assert _post(client_for("f.becker"), f"/tasks/{_task(app, inv).task_id}/approve").status_code == 303
    c = client_for("g.richter")
    task = _task(app, inv).task_id
    page = c.get(f"/invoices/{inv}").text
    assert "Rechnerisch richtig mit" in page and 'name="amount"' in page
    for amount, rule in (("", "AMOUNT-REQUIRED"), ("1408,43", "AMOUNT-MISMATCH"), ("viel", "AMOUNT-FORMAT")):
        r = _post(c, f"/tasks/{task}/approve", amount=amount)
        assert r.status_code == 409 and rule in _refusal(r), (amount, _refusal(r))
        assert _task(app, inv).task_id == task  # nothing changed
    r = _post(c, f"/tasks/{task}/approve", amount="1.408,42")
    assert r.status_code == 303
    page = c.get(f"/invoices/{inv}").text
    assert "SOD-ANORDNUNG-RECHNERISCH" in page and "Zahlung anordnen" not in page
    r = _post(c, f"/tasks/{_task(app, inv).task_id}/approve")
    assert r.status_code == 409 and "SOD-ANORDNUNG-RECHNERISCH" in _refusal(r)


def test_comment_send_back_reject_and_forward(world, client_for):
    app, ids, _ = world
    inv = ids["schulamt"]
    d = client_for("d.yilmaz")
    r = _post(d, f"/invoices/{inv}/comment", text="")
    assert r.status_code == 409 and "REASON-REQUIRED" in _refusal(r)
    assert _post(d, f"/invoices/{inv}/comment", text="Lieferschein liegt vor").status_code == 303
    assert "Lieferschein liegt vor" in d.get(f"/invoices/{inv}").text

    first = _task(app, inv).task_id
    r = _post(d, f"/tasks/{first}/send-back", reason="x")
    assert r.status_code == 409 and "NO-PREVIOUS-STEP" in _refusal(r)
    assert _post(d, f"/tasks/{first}/approve").status_code == 303
    # The head sends it back to sachlich with a reason (an empty reason is refused).
    e = client_for("e.hoffmann")
    second = _task(app, inv).task_id
    r = _post(e, f"/tasks/{second}/send-back", reason=" ")
    assert r.status_code == 409 and "REASON-REQUIRED" in _refusal(r)
    assert _post(e, f"/tasks/{second}/send-back", reason="Menge prüfen").status_code == 303
    assert _task(app, inv).step.value == "sachlich"

    # Forwarded to the Hauptamt: the Schulamt loses it from its inbox, the Hauptamt gets it.
    r = _post(d, f"/tasks/{_task(app, inv).task_id}/forward", department="40")
    assert r.status_code == 409 and "SAME-DEPARTMENT" in _refusal(r)
    r = _post(d, f"/tasks/{_task(app, inv).task_id}/forward", department="10", comment="Budget des Hauptamts")
    assert r.status_code == 303 and r.headers["location"] == "/inbox"
    assert f'href="/invoices/{inv}"' in client_for("f.becker").get("/inbox").text
    assert d.get(f"/invoices/{inv}").status_code == 404  # no grant in 10: out of sight now

    # Rejected by the Hauptamt with a reason: it shows on the central desk's list of returned invoices.
    f = client_for("f.becker")
    r = _post(f, f"/tasks/{_task(app, inv).task_id}/reject", reason="")
    assert r.status_code == 409 and "REASON-REQUIRED" in _refusal(r)
    assert _post(f, f"/tasks/{_task(app, inv).task_id}/reject", reason="Gutschrift gehört nicht zu uns").status_code == 303
    assert f'href="/invoices/{inv}"' in client_for("h.wolf").get("/desk").text


def test_duplicate_flag_is_shown_and_overridden_with_a_reason(world, client_for, tmp_path):
    from einvoice.intake.inbox import InboxItem

    app, ids, inbox = world
    data = (inbox / SAMPLES["tiefbau"]).read_bytes() + b"\n<!-- sent twice -->\n"  # same invoice, other bytes
    copy = app.intake.ingest([InboxItem("01-again.xml", data)])[0]
    assert copy.state == "in_approval"
    c = client_for("c.wagner")  # Anordnungsbefugnis in 66 may override
    page = c.get(f"/invoices/{copy.invoice_id}").text
    assert "Dublettenverdacht" in page and f'href="/invoices/{ids["tiefbau"]}"' in page
    r = _post(client_for("a.schulz"), f"/invoices/{copy.invoice_id}/override-duplicate", reason="kein Duplikat")
    assert r.status_code == 409 and "NOT-AUTHORISED" in _refusal(r)
    r = _post(c, f"/invoices/{copy.invoice_id}/override-duplicate", reason="")
    assert r.status_code == 409 and "REASON-REQUIRED" in _refusal(r)
    assert _post(c, f"/invoices/{copy.invoice_id}/override-duplicate", reason="Zweite Abschlagsrechnung, geprüft").status_code == 303
    page = c.get(f"/invoices/{copy.invoice_id}?done=override-duplicate").text
    assert "Dublettenverdacht wurde mit Begründung aufgehoben" in page and "Dublettenverdacht aufgehoben" in page


def test_original_download_is_the_archived_file(world, client_for):
    _, ids, inbox = world
    c = client_for("k.lange")
    for key in ("tiefbau", "jugendamt"):
        r = c.get(f"/invoices/{ids[key]}/original")
        assert r.status_code == 200
        assert r.content == (inbox / SAMPLES[key]).read_bytes()
        assert r.headers["content-disposition"].startswith("attachment;")
    assert c.get(f"/invoices/{ids['tiefbau']}/attachments/0").status_code == 404  # the sample has none


def test_embedded_attachments_are_found_in_model_order():
    from devtools.samples import _tiefbau_invoice, _xml_bytes, build_ubl
    from einvoice.model import invoice_from_xml
    from einvoice.web.rendering import embedded_attachment

    xml = _xml_bytes(build_ubl(_tiefbau_invoice())).decode()
    refs = (
        '<cac:AdditionalDocumentReference><cbc:ID>OBJ-1</cbc:ID><cbc:DocumentTypeCode>130</cbc:DocumentTypeCode>'
        '</cac:AdditionalDocumentReference>'
        '<cac:AdditionalDocumentReference><cbc:ID>Aufmass</cbc:ID><cbc:DocumentDescription>Aufmaß</cbc:DocumentDescription>'
        '<cac:Attachment><cbc:EmbeddedDocumentBinaryObject mimeCode="application/pdf" filename="../aufmass.pdf">'
        + base64.b64encode(b"%PDF-1.4 aufmass").decode() +
        '</cbc:EmbeddedDocumentBinaryObject></cac:Attachment></cac:AdditionalDocumentReference>'
    )
    anchor = "<cac:AccountingSupplierParty>"
    data = xml.replace(anchor, refs + anchor, 1).encode()
    model = invoice_from_xml(data)
    assert [a.filename for a in model.attachments] == ["../aufmass.pdf"]
    att = embedded_attachment(data, 0)
    assert att.data == b"%PDF-1.4 aufmass" and att.filename == ".._aufmass.pdf"
    assert embedded_attachment(data, 1) is None
