"""Reading an archived original for the invoice page: the EN 16931 model, attachments, formats.

The page renders the invoice from the semantic model (``einvoice.model``), built from the bytes
exactly as archived: the archive, not the database, holds the original (GoBD). Embedded
attachments (BG-24) are read from the same XML on demand, in the model's order. This module must
never change or re-serialise the original, and never trust an attachment's declared type for
display (downloads are always served as attachments).
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

from einvoice.db.models import as_utc
from einvoice.intake import detect
from einvoice.language import language, local
from einvoice.model import Invoice, invoice_from_xml
from einvoice.xml.namespaces import NS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    model: Invoice | None
    problem: str | None  # why there is no model (archive unreachable, legacy format ...)
    syntax: str | None = None
    embedded_name: str | None = None  # the XML's name inside a hybrid PDF
    root: object | None = None  # the parsed XML (line-level BT-133 for the Kontierung)


class ModelCache:
    """A few recently shown invoices (originals are immutable: the SHA-256 is a safe cache key)."""

    def __init__(self, size: int = 128):
        self.size = size
        self._data: OrderedDict[str, Rendered] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Rendered | None:
        with self._lock:
            r = self._data.get(key)
            if r is not None:
                self._data.move_to_end(key)
            return r

    def put(self, key: str, value: Rendered) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


def render_original(data: bytes, name: str = "") -> Rendered:
    it = detect(data, name)
    if it.root is None or it.syntax not in ("ubl-invoice", "ubl-creditnote", "cii"):
        why = "; ".join(p.message for p in it.problems) or "the file holds no structured invoice data"
        return Rendered(None, why, it.syntax, it.embedded_name)
    try:
        return Rendered(invoice_from_xml(it.root, it.syntax), None, it.syntax, it.embedded_name, it.root)
    except ValueError as exc:
        return Rendered(None, str(exc), it.syntax, it.embedded_name)


@dataclass(frozen=True)
class AttachmentFile:
    filename: str
    mime_code: str | None
    data: bytes


def embedded_attachment(data: bytes, index: int) -> AttachmentFile | None:
    """The bytes of the ``index``-th attachment (BG-24) of the invoice, or None if it has none embedded."""
    it = detect(data)
    if it.root is None:
        return None
    if it.syntax in ("ubl-invoice", "ubl-creditnote"):
        refs = it.root.findall("cac:AdditionalDocumentReference", NS)
        code_path, obj_path = "cbc:DocumentTypeCode", "cac:Attachment/cbc:EmbeddedDocumentBinaryObject"
    elif it.syntax == "cii":
        agr = it.root.find("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement", NS)
        refs = agr.findall("ram:AdditionalReferencedDocument", NS) if agr is not None else []
        code_path, obj_path = "ram:TypeCode", "ram:AttachmentBinaryObject"
    else:
        return None
    # Same selection as einvoice.model: BT-18 (130) and tender references (50) are no attachments.
    docs = [r for r in refs if (r.findtext(code_path, namespaces=NS) or "").strip() not in ("130", "50")]
    if not 0 <= index < len(docs):
        return None
    obj = docs[index].find(obj_path, NS)
    if obj is None or not (obj.text or "").strip():
        return None
    try:
        payload = base64.b64decode("".join(obj.text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    filename = (obj.get("filename") or f"attachment-{index + 1}").replace("/", "_").replace("\\", "_")
    return AttachmentFile(filename, obj.get("mimeCode"), payload)


# --- Jinja filters (the language set: German 1.234,56 € and 02.03.2026, English 1,234.56 € and
# 2026-03-02 -- ISO dates, as the approval layer's English texts, read the same in the US and the UK) --
def _grouped(whole: int, en: bool) -> str:
    text = f"{whole:,}"
    return text if en else text.replace(",", ".")


def money(value, currency: str | None = "EUR") -> str:
    if value is None:
        return "–"
    q = Decimal(value).quantize(Decimal("0.01"))
    sign = "-" if q < 0 else ""
    whole, frac = f"{abs(q):.2f}".split(".")
    en = language() == "en"
    sym = {"EUR": "€"}.get(currency or "EUR", currency or "")
    return f"{sign}{_grouped(int(whole), en)}{'.' if en else ','}{frac}\u00a0{sym}".strip()


def number(value) -> str:
    if value is None:
        return "–"
    d = Decimal(value).normalize()
    text = f"{d:f}"
    if "." in text:
        whole, frac = text.split(".")
    else:
        whole, frac = text, ""
    sign = "-" if whole.startswith("-") else ""
    en = language() == "en"
    return f"{sign}{_grouped(int(whole.lstrip('-') or 0), en)}" + (f"{'.' if en else ','}{frac}" if frac else "")


def date(value) -> str:
    if value is None:
        return "–"
    en = language() == "en"
    if isinstance(value, dt.datetime):
        # Stored in UTC; people read Europe/Berlin (summer and winter time), whatever the server's zone.
        return local(as_utc(value)).strftime("%Y-%m-%d %H:%M" if en else "%d.%m.%Y %H:%M")
    return value.strftime("%Y-%m-%d" if en else "%d.%m.%Y")


def report_view(report: dict | None, inv=None):
    """The stored validation report of an invoice as the clerk reads it (verdict sentence with the
    invoice number and date from the database row, BMF classes, explanations, readable locations;
    ``einvoice.validation.explain``), or None without a report."""
    if not report:
        return None
    from einvoice.validation.explain import report_view as view

    return view(report, number=getattr(inv, "invoice_number", None), issue_date=getattr(inv, "issue_date", None),
                filename=getattr(inv, "filename", None))
