"""GoBD Z3 tables of an export, as a pure function of the leaves: what the export writes and what
the verifier regenerates to compare.

``gobd/index.xml`` describes ``gobd/entries.csv`` and ``gobd/documents.csv`` in the GDPdU
Beschreibungsstandard (the format IDEA reads for Z3 access, GoBD Rz. 165 ff.), with the DTD
``gdpdu-01-09-2004.dtd`` beside it. The archive does not know invoice fields: every scalar
metadata key of the exported entries becomes a column, typed from its values: whole numbers and
decimal strings ("1190.00": the archive refuses floats, so callers pass amounts as strings) are
Numeric (with the decimals as Accuracy, written with a decimal comma), ISO dates are Date,
everything else AlphaNumeric. Each document is also given a file name with its extension under
``gobd/documents/`` (the objects themselves are named by their SHA-256 only).

Same leaves, same scope, same supplier: same bytes. This module must never read or write
anything itself and never depend on the time it runs.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from . import log, merkle
from .errors import ArchiveError
from .model import object_key

HERE = Path(__file__).resolve().parent
DTD_NAME = "gdpdu-01-09-2004.dtd"
DOCUMENTS_DIR = "documents"
TABLES = ("index.xml", "entries.csv", "documents.csv", DTD_NAME)

_DECIMAL = re.compile(r"-?[0-9]+\.([0-9]+)")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSIONS = {"application/xml": ".xml", "text/xml": ".xml", "application/pdf": ".pdf",
               "application/json": ".json", "text/plain": ".txt", "text/csv": ".csv",
               "application/jsonl": ".jsonl", "image/png": ".png", "image/jpeg": ".jpg", "image/tiff": ".tif"}


def dtd_bytes() -> bytes:
    return (HERE / DTD_NAME).read_bytes()


def read_leaves(store) -> list[tuple[dict[str, Any], str]]:
    """(record, leaf hash) of every readable leaf, by seq; damaged pages are the verifier's business."""
    out = []
    for key in store.list(log.LEAVES):
        if log.parse_page_key(key) is None:
            continue
        for line in (store.get(key) or b"").split(b"\n"):
            try:
                rec = log.decode_leaf(line)
            except ArchiveError:
                continue
            out.append((rec, merkle.hash_leaf(line).hex()))
    out.sort(key=lambda r: r[0].get("seq", 0))
    return out


def base_year(rec: dict[str, Any]) -> int | None:
    try:
        return int(rec["retention"]["base"][:4])
    except (KeyError, TypeError, ValueError):
        return None


def document_file(seq: int, index: int, name: str, media_type: str) -> str:
    """Path (relative to gobd/) of a document's named copy: safe characters only, with an extension.

    The name comes from outside (a supplier's file name): no directories, no leading dot, no
    characters a file system or IDEA may choke on; the sequence number and position keep names
    unique even when two names sanitise to the same text.
    """
    base = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).lstrip("._")[:100] or "document"
    if "." not in base:
        base += _EXTENSIONS.get(media_type.split(";")[0].strip().lower(), ".bin")
    return f"{DOCUMENTS_DIR}/{seq:012d}-{index}-{base}"


def documents(leaves: list[tuple[dict[str, Any], str]]) -> list[tuple[str, str]]:
    """(path under gobd/, sha256) of every document's named copy."""
    return [(document_file(r.get("seq", 0), i, d.get("name", ""), d.get("media_type", "")), d.get("sha256", ""))
            for r, _ in leaves for i, d in enumerate(r.get("documents", []))]


def _de(d: str | None) -> str:
    """ISO date (or timestamp) -> DD.MM.YYYY, the Beschreibungsstandard's default date format."""
    if not d:
        return ""
    y, m, day = d[:10].split("-")
    return f"{day}.{m}.{y}"


class _Num(str):
    """A value already formatted as a number (written without text encapsulation)."""


def _field(value: Any) -> str:
    if type(value) is str:  # the common case first: this runs once per cell
        return '"' + value.replace('"', '""').replace("\r", " ").replace("\n", " ") + '"'
    if value is None:
        return ""
    if isinstance(value, _Num):
        return str(value)
    if isinstance(value, bool):
        return '"true"' if value else '"false"'
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    # Text fields are encapsulated in double quotes; an inner quote is doubled.
    return '"' + value.replace('"', '""').replace("\r", " ").replace("\n", " ") + '"'


def _csv(rows: list[list[Any]]) -> bytes:
    return "".join(";".join(_field(v) for v in row) + "\r\n" for row in rows).encode("utf-8")


ENTRY_COLUMNS = [
    ("seq", "Laufende Nummer im Archivprotokoll", "Numeric"),
    ("entry_id", "Schluessel des Eintrags", "AlphaNumeric"),
    ("appended_at", "Archiviert am", "Date"),
    ("retention_class", "Aufbewahrungsklasse", "AlphaNumeric"),
    ("retention_base", "Beginn der Aufbewahrungsfrist (Eingang/Buchung)", "Date"),
    ("retain_until", "Aufbewahrung bis (ausschliesslich)", "Date"),
    ("relates_to", "Bezieht sich auf Eintrag", "AlphaNumeric"),
    ("relation", "Art des Bezugs", "AlphaNumeric"),
    ("leaf_hash", "SHA-256 Blatt-Hash (RFC 9162)", "AlphaNumeric"),
]
DOCUMENT_COLUMNS = [
    ("seq", "Laufende Nummer des Eintrags", "Numeric"),
    ("name", "Dokumentname", "AlphaNumeric"),
    ("entry_id", "Schluessel des Eintrags", "AlphaNumeric"),
    ("media_type", "Medientyp", "AlphaNumeric"),
    ("sha256", "SHA-256 der Originalbytes", "AlphaNumeric"),
    ("size", "Groesse in Bytes", "Numeric"),
    ("file", "Datei im Export (mit Endung)", "AlphaNumeric"),
    ("object", "Objekt im Export (Name = SHA-256)", "AlphaNumeric"),
]


def _meta_type(values: list[Any]) -> tuple[str, int | None]:
    """(column type, decimals) of one metadata key from all its values."""
    present = [v for v in values if v is not None]
    if not present:
        return "AlphaNumeric", None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "Numeric", None
    if all(isinstance(v, str) for v in present):
        decimals = [_DECIMAL.fullmatch(v) for v in present]
        if all(m is not None for m in decimals):
            return "Numeric", max(len(m.group(1)) for m in decimals if m is not None)
        if all(_ISO_DATE.fullmatch(v) for v in present):
            return "Date", None
    return "AlphaNumeric", None


def _meta_value(value: Any, typ: str, decimals: int | None) -> Any:
    if value is None:
        return None
    if typ == "Date":
        return _de(value)
    if typ == "Numeric" and decimals is not None:
        whole, _, frac = value.partition(".")
        return _Num(f"{whole},{frac.ljust(decimals, '0')}")
    return value


def tables(leaves: list[tuple[dict[str, Any], str]], years: list[int] | None, supplier: str,
           location: str) -> dict[str, bytes]:
    """The files of gobd/ (index.xml, the two CSV tables, the DTD) for the in-scope ``leaves``."""
    metas = [r.get("metadata") or {} for r, _ in leaves]
    meta_keys = sorted({k for m in metas for k, v in m.items() if isinstance(v, (str, int, bool)) or v is None})
    types = {k: _meta_type([m.get(k) for m in metas]) for k in meta_keys}
    entry_rows, doc_rows = [], []
    for (r, leaf_hash), meta in zip(leaves, metas):
        rel = r.get("relates_to") or {}
        ret = r.get("retention") or {}
        entry_rows.append([r.get("seq"), r.get("entry_id"), _de(r.get("appended_at")), ret.get("class"),
                           _de(ret.get("base")), _de(ret.get("until")), rel.get("entry_id"), rel.get("relation"),
                           leaf_hash] + [_meta_value(meta.get(k), *types[k]) for k in meta_keys])
        for i, d in enumerate(r.get("documents", [])):
            doc_rows.append([r.get("seq"), d.get("name"), r.get("entry_id"), d.get("media_type"), d.get("sha256"),
                             d.get("size"), document_file(r.get("seq", 0), i, d.get("name", ""),
                                                          d.get("media_type", "")),
                             "../" + object_key(d.get("sha256", ""))])
    entry_cols = ENTRY_COLUMNS + [(f"meta_{k}", f"Metadatum {k}", types[k][0], types[k][1]) for k in meta_keys]
    validity: tuple[str, str] | None  # (from, to) of the data, None when no entry says
    if years:
        validity = (f"01.01.{min(years)}", f"31.12.{max(years)}")
    else:
        bases = [r["retention"]["base"] for r, _ in leaves if (r.get("retention") or {}).get("base")]
        validity = (_de(min(bases)), _de(max(bases))) if bases else None
    xml = _index_xml(supplier, location, validity, [
        ("entries.csv", "Archiveintraege", "Ein Datensatz je archiviertem Eintrag (Blatt des Archivprotokolls)",
         entry_cols, ["seq"], []),
        ("documents.csv", "Dokumente", "Ein Datensatz je Dokument eines Eintrags; Datei unter documents/ "
         "(mit Endung) und unter ../objects/sha256/", DOCUMENT_COLUMNS, ["seq", "name"], [("seq", "Archiveintraege")]),
    ])
    return {"index.xml": xml.encode("utf-8"), "entries.csv": _csv(entry_rows), "documents.csv": _csv(doc_rows),
            DTD_NAME: dtd_bytes()}


def _column(tag: str, name: str, desc: str, typ: str, decimals: int | None = None) -> str:
    if typ == "Numeric":
        body = f"<Numeric><Accuracy>{decimals}</Accuracy></Numeric>" if decimals else "<Numeric/>"
    else:
        body = {"AlphaNumeric": "<AlphaNumeric/>", "Date": "<Date><Format>DD.MM.YYYY</Format></Date>"}[typ]
    return (f"        <{tag}>\n          <Name>{escape(name)}</Name>\n          <Description>{escape(desc)}"
            f"</Description>\n          {body}\n        </{tag}>\n")


def _index_xml(supplier: str, location: str, validity, tables) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n', f'<!DOCTYPE DataSet SYSTEM "{DTD_NAME}">\n',
           "<DataSet>\n  <Version>1.0</Version>\n  <DataSupplier>\n",
           f"    <Name>{escape(supplier)}</Name>\n    <Location>{escape(location)}</Location>\n",
           "    <Comment>Export aus dem revisionssicheren Archiv (Datentraegerueberlassung, Z3)</Comment>\n",
           "  </DataSupplier>\n  <Media>\n    <Name>Archiv-Export</Name>\n"]
    for url, name, desc, cols, pk, fks in tables:
        out.append(f"    <Table>\n      <URL>{url}</URL>\n      <Name>{escape(name)}</Name>\n"
                   f"      <Description>{escape(desc)}</Description>\n")
        if validity:
            out.append(f"      <Validity>\n        <Range>\n          <From>{validity[0]}</From>\n"
                       f"          <To>{validity[1]}</To>\n        </Range>\n"
                       f"        <Format>DD.MM.YYYY</Format>\n      </Validity>\n")
        out.append("      <UTF8/>\n      <DecimalSymbol>,</DecimalSymbol>\n"
                   "      <DigitGroupingSymbol>.</DigitGroupingSymbol>\n"
                   "      <VariableLength>\n        <ColumnDelimiter>;</ColumnDelimiter>\n"
                   "        <RecordDelimiter>&#13;&#10;</RecordDelimiter>\n"
                   "        <TextEncapsulator>\"</TextEncapsulator>\n")
        for col in cols:  # the primary keys are the first columns, as the DTD wants them
            out.append(_column("VariablePrimaryKey" if col[0] in pk else "VariableColumn", *col))
        for fk_name, ref in fks:
            out.append(f"        <ForeignKey>\n          <Name>{fk_name}</Name>\n          <References>{ref}"
                       f"</References>\n        </ForeignKey>\n")
        out.append("      </VariableLength>\n    </Table>\n")
    out.append("  </Media>\n</DataSet>\n")
    return "".join(out)


def check_index(xml: bytes) -> str | None:
    """Why ``xml`` does not follow the Beschreibungsstandard DTD (None if it does)."""
    from lxml import etree

    dtd = etree.DTD(str(HERE / DTD_NAME))
    doc = etree.fromstring(xml, etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False))
    if dtd.validate(doc):
        return None
    return str(dtd.error_log.filter_from_errors())
