"""Reading values out of invoice XML for both syntaxes: compiled XPaths over the one namespace
table, and the conversions every field uses (text, Decimal, date, identifier, note).

Used only by ``einvoice.model.ubl`` and ``einvoice.model.cii``. These helpers must never raise on
missing or malformed content: they return ``None`` instead.
"""
from __future__ import annotations

import functools
import re
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from einvoice.model import skonto as _skonto
from einvoice.model.types import Identifier, Note, SkontoTerm
from einvoice.xml.namespaces import NS


# lxml's find()/findtext() interpret the path in Python on every call (~11 us each, over 100 calls
# per invoice); a compiled XPath per path does the same walk in C (~2-4 us). Same semantics:
# the paths are plain child steps, and both return matches in document order.
@functools.lru_cache(maxsize=None)
def _xpath(path: str) -> etree.XPath:
    return etree.XPath(path, namespaces=NS)


def _findall(el, path: str) -> list:
    return _xpath(path)(el)


def _find(el, path: str):
    found = _xpath(path)(el)
    return found[0] if found else None


def _findtext(el, path: str) -> str | None:
    node = _find(el, path)
    return None if node is None else (node.text or "")



def _s(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _dec(value: str | None) -> Decimal | None:
    value = _s(value)
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _opt_sum(value: Decimal | None) -> Decimal | None:
    """BT-107/108/113/114 are optional sums: absent and zero mean the same. Producers differ
    (UBL writers tend to omit them, CII writers to write 0.00), so both become None and the two
    syntaxes give equal models."""
    return None if value is None or value == 0 else value


def _base_qty(value: Decimal | None) -> Decimal:
    """BT-149 item price base quantity; EN 16931: 1 when not given."""
    return Decimal(1) if value is None else value


_DATE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_DATE_102 = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def _date(value: str | None) -> date | None:
    value = _s(value)
    if value is None:
        return None
    m = _DATE_ISO.match(value) or _DATE_102.match(value)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def parse_skonto(payment_terms: str | None) -> tuple[SkontoTerm, ...]:
    """Skonto terms from BT-20 (``einvoice.model.skonto.parse_terms``); BR-DE-18 reports lines that do not match."""
    return _skonto.parse_terms(payment_terms)


_NOTE_SUBJECT = re.compile(r"^#([A-Z]{3})#(.*)$", re.DOTALL)


def _note(text: str | None, subject: str | None = None) -> Note | None:
    if text is None:
        return None
    if subject is None:
        # UBL has no subject element; XRechnung puts it as "#AAI#text" in front of the note.
        m = _NOTE_SUBJECT.match(text.strip())
        if m:
            subject, text = m.group(1), m.group(2)
    text = text.strip()
    return Note(text=text, subject_code=_s(subject))



def _t(el, path: str) -> str | None:
    if el is None:
        return None
    return _s(_findtext(el, path))


def _attr(el, path: str, name: str) -> str | None:
    if el is None:
        return None
    node = _find(el, path)
    return _s(node.get(name)) if node is not None else None


def _ident(el, path: str) -> Identifier | None:
    if el is None:
        return None
    node = _find(el, path)
    if node is None or not _s(node.text):
        return None
    return Identifier(_s(node.text), _s(node.get("schemeID")))

