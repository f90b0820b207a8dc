"""Hostile and broken input: every case gives a clear finding and a verdict, never a crash or hang."""
from __future__ import annotations

import pytest

from einvoice.validation import ValidationConfig, validate
from tests.validation.fixtures import UBL
from tests.validation.pdfs import hybrid_pdf

pytestmark = pytest.mark.timeout(60)

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><ID>&xxe;</ID></Invoice>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<lolz>&lol9;</lolz>"""

EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE Invoice SYSTEM "http://127.0.0.1:9/evil.dtd"><Invoice/>'


def _rules(rep):
    return {f.rule for f in rep.findings}


@pytest.mark.parametrize("data", [XXE, LAUGHS, EXTERNAL_DTD, XXE.decode().encode("utf-16")], ids=["xxe", "billion-laughs", "external-dtd", "xxe-utf16"])
def test_doctype_is_rejected_without_reading(data):
    rep = validate(data, "evil.xml")
    assert rep.valid is False
    assert "XML-DOCTYPE" in _rules(rep)
    assert rep.stages["parse"] == "failed"
    assert b"root:" not in rep.to_json().encode()  # nothing from /etc/passwd leaked into the report


def test_empty_file():
    rep = validate(b"", "empty.xml")
    assert rep.valid is False and "INTAKE-EMPTY" in _rules(rep)
    assert "empty" in rep.summary()


def test_whitespace_only_is_not_an_invoice():
    rep = validate(b"   \n\t ", "blank.xml")
    assert rep.valid is None and "INTAKE-FORMAT" in _rules(rep)


def test_truncated_xml():
    rep = validate(UBL[: len(UBL) // 2], "cut.xml")
    assert rep.valid is False
    assert _rules(rep) == {"XML-SYNTAX"}
    assert rep.findings[0].location and rep.findings[0].location.startswith("line ")


def test_wrong_encoding():
    # declares UTF-8 but contains a Latin-1 byte
    data = UBL.replace(b"Druckerpapier A4", "Druckerpapier Größe A4".encode("latin-1"))
    rep = validate(data, "latin1.xml")
    assert rep.valid is False and "XML-ENCODING" in _rules(rep)


def test_declared_latin1_is_fine_and_passed_to_saxon_unchanged():
    data = UBL.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"').replace(
        b"Druckerpapier A4", "Druckerpapier Größe A4".encode("latin-1")
    )
    rep = validate(data, "latin1.xml")
    assert rep.valid is True, rep.summary()
    assert rep.xml == data
    assert rep.model.lines[0].item_name == "Druckerpapier Größe A4"


def test_utf16_document_is_validated():
    data = UBL.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    rep = validate(data, "utf16.xml")
    assert rep.valid is True, rep.summary()


def test_unknown_encoding_declaration():
    rep = validate(UBL.replace(b'encoding="UTF-8"', b'encoding="X-NO-SUCH"'), "x.xml")
    assert rep.valid is False and _rules(rep) & {"XML-SYNTAX", "XML-ENCODING"}


def test_size_limit_is_configurable():
    rep = validate(UBL, "big.xml", config=ValidationConfig(max_xml_bytes=1000))
    assert rep.valid is None and "XML-SIZE" in _rules(rep)
    rep = validate(UBL, "big.xml", config=ValidationConfig(max_file_bytes=1000))
    assert rep.valid is None and "INTAKE-SIZE" in _rules(rep)


def test_deep_nesting_hits_parser_limits():
    data = b"<a>" * 100_000 + b"</a>" * 100_000
    rep = validate(data, "deep.xml")
    assert rep.valid is False and "XML-SYNTAX" in _rules(rep)


def test_binary_garbage():
    rep = validate(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10, "image.png")
    assert rep.valid is None and "INTAKE-FORMAT" in _rules(rep)


def test_broken_pdf():
    rep = validate(b"%PDF-1.7\n" + bytes(range(256)) * 50, "broken.pdf")
    assert rep.valid is None
    assert _rules(rep) & {"PDF-READ", "PDF-NO-XML"}


def test_truncated_pdf():
    pdf = hybrid_pdf(UBL, "xrechnung.xml", level="XRECHNUNG")
    rep = validate(pdf[: len(pdf) // 3], "cut.pdf")
    assert rep.valid is not True


def test_pdf_decompression_bomb():
    big = b"<?xml version='1.0'?><x>" + b" " * (100 * 1024 * 1024) + b"</x>"
    pdf = hybrid_pdf(big, compress=True)
    assert len(pdf) < 1_000_000  # 100 MB of XML squeezed into a small PDF
    rep = validate(pdf, "bomb.pdf")
    assert rep.valid is None
    assert _rules(rep) & {"XML-SIZE", "PDF-ATTACHMENTS", "PDF-READ", "PDF-NO-XML"}


def test_engine_never_raises_on_random_bytes():
    import random

    rnd = random.Random(7)
    for n in (1, 10, 1000):
        for prefix in (b"", b"<", b"%PDF-1.4\n", b"<?xml version='1.0'?>"):
            rep = validate(prefix + bytes(rnd.randrange(256) for _ in range(n)), "random")
            assert rep.valid is not True
            assert rep.findings


def test_xml_mentioning_pdf_header_stays_xml():
    data = UBL.replace(b"<cbc:Note>#ADU#Lieferung laut Bestellung</cbc:Note>", b"<cbc:Note>#ADU#siehe %PDF-1.7 Anlage</cbc:Note>")
    rep = validate(data, "x.xml")
    assert rep.container == "xml" and rep.valid is True, rep.summary()


def test_pdf_with_leading_junk_is_read():
    rep = validate(b"junk\n" + hybrid_pdf(UBL, "xrechnung.xml", level="XRECHNUNG"), "junk.pdf")
    assert rep.container == "pdf" and rep.syntax == "ubl-invoice"
