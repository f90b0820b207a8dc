"""A supplier notice quotes the verdict sentence the clerk sees (BMF classes, rule IDs) and each
finding's explanation and location, German first and then English, with the official rule text
beside the German explanation (issue #17). The report comes from the real validator."""
from __future__ import annotations

import datetime as dt
import types
from email import message_from_bytes
from email.policy import default

from einvoice.notices.message import REJECTED, build_message
from einvoice.validation import validate
from tests.validation.fixtures import UBL, mutate
from tests.wording import foreign_words


def _notice(report_json: str, kind: str = REJECTED) -> str:
    invoice = types.SimpleNamespace(file_sha256="ab" * 32, filename="re.xml", received_at=dt.datetime(2026, 12, 1, 10),
                                    invoice_number="RE-2026-0001", issue_date=dt.date(2026, 11, 2), seller_name="Lieferant GmbH",
                                    amount_due=None, currency="EUR", verdict="invalid", report_json=report_json)
    settings = types.SimpleNamespace(from_address="rechnung@stadt.example", message_id_domain=None, from_name=None,
                                     reply_to=None, templates_directory=None, contact=None, attach=("html",))
    _, raw = build_message(settings=settings, organisation_name="Stadt Musterhausen", notice_id=1, kind=kind, invoice=invoice,
                           recipient="rechnung@lieferant.example", channel={}, now=dt.datetime(2026, 12, 1, 11, tzinfo=dt.timezone.utc))
    return message_from_bytes(raw, policy=default).get_body(("plain",)).get_content()


def test_rejection_notice_quotes_the_sentence_and_explanations_in_both_languages():
    data = mutate(UBL, ("text", "//cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", "120.00"),
                  ("remove", "/ubl:Invoice/cbc:BuyerReference"))
    report = validate(data, "re.xml")
    body = _notice(report.to_json())
    german, english = body.split("English version")
    assert ("Ergebnis der Prüfung: Die Rechnung RE-2026-0001 vom 02.11.2026 ist keine gültige E-Rechnung: "
            "3 Geschäftsregelfehler (BR-CO-15, BR-CO-16, BR-DE-15).") in german
    assert ("Result of the check: Invoice RE-2026-0001 of 2026-11-02 is not a valid e-invoice: "
            "3 business rule errors (BR-CO-15, BR-CO-16, BR-DE-15).") in english
    assert "BR-CO-15 (Geschäftsregelfehler): Rechenfehler: der Gesamtbetrag einschließlich Umsatzsteuer (BT-112)" in german
    assert "BR-CO-15 (business rule error): Arithmetic error: the total with VAT (BT-112)" in english
    assert "Ort: Gesamtbeträge der Rechnung (BG-22)" in german and "Location: Document totals (BG-22)" in english
    assert "Originaltext: [BR-CO-15]-Invoice total amount with VAT (BT-112)" in german
    # the German part is German apart from the quoted official texts
    reasons = [line for line in german.splitlines() if line.startswith(("  - ", "    Ort:", "Ergebnis"))]
    assert len(reasons) >= 7 and not {line: foreign_words(line, "de") for line in reasons if foreign_words(line, "de")}
    reasons_en = [line for line in english.splitlines() if line.startswith(("  - ", "    Location:", "Result"))]
    assert len(reasons_en) >= 7 and not {line: foreign_words(line, "en") for line in reasons_en if foreign_words(line, "en")}
