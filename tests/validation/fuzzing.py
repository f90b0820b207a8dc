"""Mutation fuzzing of the validation engine: seeds, mutators and the invariants every input must keep.

Seeds are our own generated invoices (devtools.samples: UBL, CII, a Factur-X PDF, a 40-line CII)
plus, when present, corpus files. Mutators: byte flips, truncation, duplicated elements, extreme
amounts and dates, Skonto day counts, odd encodings (UTF-16/32 with and without BOM, BOM with a
bogus encoding name, Latin-1 under a UTF-8 declaration), specification identifiers that match no
scenario, deep nesting / many attributes / long namespace names, and broken PDFs.

Invariants (``check``): ``validate()`` returns a report for every input and no internal error
finding (ENGINE-ERROR), a file that is not well-formed XML is never valid, and a valid invoice
always has a model with its number (BT-1) and amount due (BT-115).

Used by ``tests/validation/test_fuzz.py`` (bounded, fixed seed, in CI) and ``bench/fuzz.py``
(long runs). Deterministic for a given seed.
"""
from __future__ import annotations

import copy
import dataclasses
import random
import re
from decimal import Decimal
from pathlib import Path

from lxml import etree

_NUMBER = re.compile(rb">(-?[0-9]+\.[0-9]{2})<")
_DATE_ISO = re.compile(rb">([0-9]{4}-[0-9]{2}-[0-9]{2})<")
_DATE_102 = re.compile(rb'format="102">([0-9]{8})<')
_TAGE = re.compile(rb"TAGE=([0-9]+)#")
_ID_END = re.compile(rb"xrechnung_3\.0(?=</)")

EXTREME_AMOUNTS = (b"1E+400", b"99999999999999999999.99", b"-0.00", b"NaN", b"1e-9999", b"9" * 60, b"0.0000000001",
                   b"-99999999999999.99", b"1" + b"0" * 30)
EXTREME_DATES_ISO = (b"9999-12-31", b"0001-01-01", b"1899-12-31", b"2101-01-01", b"2026-02-30", b"-0001-01-01")
EXTREME_DATES_102 = (b"99991231", b"00000000", b"18991231", b"21010101", b"20260230", b"Dies ist kein Datum")
EXTREME_DAYS = (b"3650", b"3651", b"3000000", b"9" * 12, b"9" * 5000, b"0")


def seeds(corpus: Path | None = None, limit_corpus: int = 40) -> list[tuple[str, bytes]]:
    """(name, bytes) of the inputs the mutators start from."""
    from devtools import samples

    out = []
    for inv, build in ((samples._tiefbau_invoice(), "ubl"), (samples._hauptamt_cii_invoice(), "cii"),
                       (samples._schulamt_creditnote(), "ubl")):
        root = samples.build_ubl(inv) if build == "ubl" else samples.build_cii(inv)
        out.append((f"gen-{build}-{inv.number}.xml", samples._xml_bytes(root)))
    base = samples._jugendamt_facturx_invoice()
    many = dataclasses.replace(base, lines=tuple(
        samples.Line(f"Position {i}", Decimal(2), "C62", Decimal("10.00"), Decimal(19)) for i in range(40)))
    out.append(("gen-cii-40-lines.xml", samples._xml_bytes(samples.build_cii(many))))
    out.append(("gen-facturx.pdf", samples.make_facturx_pdf(base, check_xsd=False)))
    if corpus is not None and corpus.is_dir():
        files = sorted(p for p in (corpus / "xrechnung-testsuite").rglob("*.xml"))[:limit_corpus]
        out.extend((str(p.relative_to(corpus)), p.read_bytes()) for p in files)
    return out


# ------------------------------------------------------------------------------------ mutators
def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(b))
        b[i] = rng.randrange(256)
    return bytes(b)


def truncate(rng: random.Random, data: bytes) -> bytes:
    # a 0- or 1-byte input (e.g. an earlier truncation) has no proper prefix but the empty one
    return data[: rng.randrange(1, len(data))] if len(data) > 1 else b""


def duplicate_element(rng: random.Random, data: bytes) -> bytes:
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return flip_bytes(rng, data)
    elements = [e for e in root.iter() if isinstance(e.tag, str) and e is not root]
    if not elements:
        return data
    el = rng.choice(elements)
    for _ in range(rng.choice((1, 1, 2, 50))):
        # a copy without the tail: re-parsing tostring(el) failed when the tail held text
        dup = copy.deepcopy(el)
        dup.tail = None
        el.addnext(dup)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _replace_one(rng, data: bytes, pattern: re.Pattern, choices) -> bytes:
    hits = list(pattern.finditer(data))
    if not hits:
        return data
    m = rng.choice(hits)
    return data[: m.start(1)] + rng.choice(choices) + data[m.end(1):]


def extreme_amount(rng, data):
    return _replace_one(rng, data, _NUMBER, EXTREME_AMOUNTS)


def extreme_date(rng, data):
    out = _replace_one(rng, data, _DATE_ISO, EXTREME_DATES_ISO)
    return out if out != data else _replace_one(rng, data, _DATE_102, EXTREME_DATES_102)


def extreme_skonto(rng, data):
    return _replace_one(rng, data, _TAGE, EXTREME_DAYS)


def odd_encoding(rng, data):
    text = data.decode("utf-8", "replace")
    kind = rng.randrange(6)
    if kind == 0:
        return text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")  # with BOM
    if kind == 1:
        return text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le")  # without BOM
    if kind == 2:
        return text.replace('encoding="UTF-8"', 'encoding="UTF-32"').encode("utf-32")
    if kind == 3:
        return b"\xef\xbb\xbf" + data.replace(b'encoding="UTF-8"', b'encoding="x-bogus-' + str(rng.randrange(99)).encode() + b'"')
    if kind == 4:
        return text.replace("Position", "Größe").encode("latin-1", "replace")  # Latin-1 under a UTF-8 declaration
    return text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("latin-1", "replace")


def odd_identifier(rng, data):
    return _replace_one(rng, data, re.compile(rb"(xrechnung_3\.0)(?=</)"),
                        (b"xrechnung_3.0 ", b"xrechnung_3.1", b"xrechnung_2.3", b"xrechnung_<!-- x -->3.0", b"XRECHNUNG_3.0"))


def deep_or_wide(rng, data):
    kind = rng.randrange(3)
    m = re.search(rb"<(?:cbc:Note|ram:IncludedNote|cbc:CustomizationID|ram:ID)", data)
    if not m:
        return data
    if kind == 0:
        depth = rng.choice((99, 101, 300))
        frag = b"<x:a xmlns:x=\"urn:x\">" * depth + b"v" + b"</x:a>" * depth
    elif kind == 1:
        frag = b"<x:a xmlns:x=\"urn:x\" " + b" ".join(b'x:a%d="1"' % i for i in range(rng.choice((199, 201, 1000)))) + b"/>"
    else:
        frag = b'<x:a xmlns:x="urn:' + b"x" * rng.choice((990, 1001, 5000)) + b'"/>'
    return data[: m.start()] + frag + data[m.start():]


def broken_pdf(rng, data):
    if not data.startswith(b"%PDF"):
        return truncate(rng, data)
    kind = rng.randrange(3)
    if kind == 0:
        return truncate(rng, data)
    if kind == 1:
        return flip_bytes(rng, data)
    i = data.find(b"stream")
    return data[:i] + b"stream\n" + bytes(rng.randrange(256) for _ in range(200)) + data[i + 200:] if i > 0 else data


MUTATORS = (flip_bytes, truncate, duplicate_element, extreme_amount, extreme_date, extreme_skonto, odd_encoding,
            odd_identifier, deep_or_wide, broken_pdf)


def mutate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One or two random mutations of ``data``; returns (mutator names, bytes)."""
    names = []
    for _ in range(rng.choice((1, 1, 1, 2))):
        m = rng.choice(MUTATORS)
        data = m(rng, data) or data
        names.append(m.__name__)
    return "+".join(names), data


# ------------------------------------------------------------------------------------ invariants
def well_formed(data: bytes) -> bool:
    from einvoice.xml.safe import parse_xml

    return parse_xml(data, max_bytes=len(data) + 1)[0] is not None


def check(data: bytes, report) -> list[str]:
    """Violated invariants for one input and its report (empty: all hold)."""
    problems = []
    rules = {f.rule for f in report.findings}
    if "ENGINE-ERROR" in rules:
        problems.append("internal error: " + next(f.message for f in report.findings if f.rule == "ENGINE-ERROR")[:300])
    if report.valid is True:
        # a PDF is judged by the XML inside it (the PDF itself is no XML)
        xml = report.xml if report.container == "pdf" else data
        if xml is not None and not well_formed(xml):
            problems.append("a file that is not well-formed XML was reported valid")
        m = report.model
        if m is None or not (m.invoice_number or "").strip() or m.totals.amount_due is None:
            problems.append("valid without a model holding the invoice number and amount due")
    return problems
