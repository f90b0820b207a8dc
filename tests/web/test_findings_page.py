"""The invoice page's Prüfbericht as a clerk reads it (issue #17): the verdict as one sentence with
its BMF class, each finding's explanation and readable location in the language set, and the
official rule text beside it; never a namespace XPath as the location."""
from __future__ import annotations

import html as html_lib
import re

import pytest

from tests.wording import foreign_words


def _report_section(page: str) -> str:
    m = re.search(r'(?s)<h3 id="report-h">[^<]*</h3>(.*?)</section>', page)
    assert m, page[:500]
    return m.group(1)


def _read(section: str) -> str:
    """What the clerk reads in the section, without the folded-away official texts."""
    section = re.sub(r'(?s)<details class="original">.*?</details>', " ", section)
    return html_lib.unescape(re.sub(r"(?s)<[^>]+>", " ", section))


@pytest.mark.parametrize("lang", ["de", "en"])
def test_invoice_page_shows_findings_with_class_explanation_and_location(world, client_for, monkeypatch, lang):
    monkeypatch.setenv("EINVOICE_LANGUAGE", lang)
    _, ids, _ = world
    page = client_for("h.wolf").get(f"/invoices/{ids['rejected']}")
    assert page.status_code == 200
    section = _report_section(page.text)
    text = _read(section)
    if lang == "de":
        assert re.search(r"Die Rechnung \S+ vom \d\d\.\d\d\.\d{4} ist keine gültige E-Rechnung: 1 Geschäftsregelfehler "
                         r"\(BR-DE-15\)\.", text), text
        assert "Fehlerart nach BMF-Schreiben vom 15.10.2025: Geschäftsregelfehler" in " ".join(text.split())
        assert "Die Käuferreferenz (BT-10, Leitweg-ID) fehlt" in text and "Ort: Rechnung (Dokumentebene)" in text
    else:
        assert re.search(r"Invoice \S+ of \d{4}-\d\d-\d\d is not a valid e-invoice: 1 business rule error \(BR-DE-15\)\.",
                         text), text
        assert "The buyer reference (BT-10, Leitweg-ID) is missing" in text
    # the rule set's own text stays beside the explanation, folded away
    assert ("Originaltext" if lang == "de" else "Original text") in section
    assert "The buyer reference (BT-10, Leitweg-ID) must be given." in section
    assert "namespace-uri()" not in text
    # the clerk's texts of the section
    clerk = re.findall(r'(?s)<p class="verdict[^"]*">(.*?)</p>|<span class="explanation">(.*?)</span>|<small class="where">(.*?)</small>',
                       section)
    pieces = [html_lib.unescape(p) for row in clerk for p in row if p]
    assert len(pieces) >= 3, pieces
    bad = {p: foreign_words(p, lang) for p in pieces if foreign_words(p, lang)}
    assert not bad, bad
