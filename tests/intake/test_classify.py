"""What a message is (einvoice.intake.mail.classify) and the mailbox settings: no server needed."""
from __future__ import annotations

import email.policy
import json

import pytest

from einvoice.intake import detect
from einvoice.intake.mail import classify, known_message_ids
from tests.intake.helpers import message


def raw(msg) -> bytes:
    return msg.as_bytes(policy=email.policy.SMTP)


def test_one_invoice_among_other_attachments(samples):
    ubl = samples["01-xrechnung-ubl-invoice.xml"]
    c = classify(raw(message(("Rechnung 1.xml", ubl), ("agb.pdf", samples["14-plain.pdf"]),
                             reply_to="=?utf-8?q?M=C3=BCller?= <rw@meyer.example>", subject="Rechnung Nr. 1")))
    assert c.kind == "invoice"
    [item] = c.items
    assert (item.name, item.data, item.channel, item.refusal) == ("Rechnung 1.xml", ubl, "email", None)
    assert item.channel_meta["reply_to"] == "rw@meyer.example" and item.channel_meta["attachment"] == "Rechnung 1.xml"
    assert item.channel_meta["attachments"] == ["Rechnung 1.xml", "agb.pdf"]
    assert [(n, m) for n, m, _ in item.evidence] == [("e-mail.eml", "message/rfc822")]


def test_hybrid_pdf_with_its_own_xml_is_one_invoice_another_xml_makes_two(samples):
    pdf = samples["04-facturx-en16931.pdf"]
    own = detect(pdf).xml
    c = classify(raw(message(("r.pdf", pdf), ("factur-x.xml", own))))
    assert c.kind == "invoice" and c.items[0].name == "r.pdf"
    c = classify(raw(message(("r.pdf", pdf), ("other.xml", samples["01-xrechnung-ubl-invoice.xml"]))))
    assert c.kind == "several"
    [record] = c.items
    assert record.refusal[:2] == ("MAIL-SEVERAL-INVOICES", "rejected") and "r.pdf, other.xml" in record.refusal[2]


def test_broken_invoice_xml_is_passed_on_to_be_rejected_with_its_reason(samples):
    c = classify(raw(message(("rechnung.xml", samples["10-broken-malformed.xml"]))))
    assert c.kind == "invoice" and c.items[0].refusal is None  # the pipeline rejects it: not well-formed


def test_attachment_above_the_file_limit_is_refused(samples):
    c = classify(raw(message(("rechnung.xml", samples["01-xrechnung-ubl-invoice.xml"]))), max_file_bytes=1000)
    assert c.kind == "too-large" and c.items[0].refusal[0] == "MAIL-TOO-LARGE" and "1,000" in c.items[0].refusal[2]


def test_mail_folders_must_differ_and_be_ascii():
    from einvoice.organisation import MailSettings

    with pytest.raises(ValueError, match="must all differ"):
        MailSettings(server="x", user="u", folders={"processed": "INBOX"})
    with pytest.raises(ValueError, match="ASCII"):
        MailSettings(server="x", user="u", folders={"too_large": "Zu-groß"})
    assert MailSettings(server="x", user="u", tls="starttls").effective_port == 143


def test_message_ids_with_like_wildcards_are_matched_exactly(database_url):
    from einvoice.db import Database
    from einvoice.db.models import InvoiceRow

    db = Database(database_url).migrate()
    try:
        with db.transaction() as s:
            s.add(InvoiceRow(file_sha256="a" * 64, filename="e.eml", channel="email", size=1, state="not_an_invoice",
                          container="unknown", syntax="none", verdict="x", report_json="{}",
                          channel_json=json.dumps({"message_id": "<50%_off\\@x>"}, ensure_ascii=False)))
        assert known_message_ids(db, ["<50%_off\\@x>", "<50xxoff\\@x>", "<50%"]) == {"<50%_off\\@x>"}
    finally:
        db.dispose()
