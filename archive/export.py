"""Export: a self-contained, verifiable copy of the archive plus a GoBD Z3 data-carrier package.

The copy is a byte-for-byte mirror of the bucket keys (``log/...`` and ``objects/...``) that
``archive verify --dir`` accepts without the bucket. With ``--year`` only the documents of
entries whose retention base date falls in those years are copied; all leaves and checkpoints
are always copied, because the tree (and so every proof) needs every leaf hash. ``export.json``
records the scope so the verifier can tell "not exported" from "missing".

``gobd/index.xml`` describes ``gobd/entries.csv`` and ``gobd/documents.csv`` in the GDPdU
Beschreibungsstandard (the format IDEA reads for Z3 access, GoBD Rz. 165 ff.). The archive does
not know invoice fields: every scalar metadata key found in the exported entries becomes a
column. This module must never alter the bytes it copies and never write into the bucket.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from . import canonical, log, merkle
from .errors import ArchiveError
from .model import OBJECT_PREFIX, object_key, utc_iso
from .store import DirStore

HERE = Path(__file__).resolve().parent


def _copy(src, dst: DirStore, keys: list[str], workers: int) -> int:
    def one(key: str) -> int:
        data = src.get(key)
        if data is None:
            return 0
        dst.put_new(key, data)
        return 1

    if src.kind == "dir":
        return sum(one(k) for k in keys)
    with ThreadPoolExecutor(workers) as ex:
        return sum(ex.map(one, keys))


def _leaves(dst: DirStore) -> list[tuple[dict[str, Any], str]]:
    """Leaves of the copy, read tolerantly: a damaged page is the verifier's business, not ours."""
    out = []
    for key in dst.list(log.LEAVES):
        if log.parse_page_key(key) is None:
            continue
        for line in (dst.get(key) or b"").split(b"\n"):
            try:
                rec = log.decode_leaf(line)
            except ArchiveError:
                continue
            out.append((rec, merkle.hash_leaf(line).hex()))
    out.sort(key=lambda r: r[0].get("seq", 0))
    return out


def export(src, to: str | Path, years: list[int] | None = None, workers: int = 16,
           supplier: str = "Archiv-Export (einvoice archive)", location: str = "") -> dict[str, Any]:
    to = Path(to)
    if to.exists() and any(to.iterdir()):
        raise ArchiveError(f"export target {to} is not empty; exports are never merged or overwritten")
    dst = DirStore(to)
    to.mkdir(parents=True, exist_ok=True)
    log_keys = list(src.list("log/"))
    _copy(src, dst, log_keys, workers)
    leaves = _leaves(dst)
    in_scope = [(r, h) for r, h in leaves if years is None or _year(r) in years]
    if years is None:
        obj_keys = list(src.list(OBJECT_PREFIX))  # a faithful mirror, orphans included
    else:
        obj_keys = sorted({object_key(d["sha256"]) for r, _ in in_scope for d in r.get("documents", [])})
    copied = _copy(src, dst, obj_keys, workers)
    latest = None
    cps = sorted(k for k in dst.list(log.CHECKPOINTS) if log.parse_checkpoint_key(k) is not None)
    if cps:
        latest = json.loads(dst.get(cps[-1]) or b"null")
    manifest = {"v": 1, "source": src.describe(), "exported_at": utc_iso(datetime.now(timezone.utc)),
                "years": sorted(years) if years else None, "leaves": len(leaves), "entries_in_scope": len(in_scope),
                "objects": copied, "latest_checkpoint": latest}
    dst.put_new("export.json", canonical.dumps(manifest))
    _write_gobd(to / "gobd", in_scope, years, supplier, location)
    (to / "README.txt").write_text(_README, encoding="utf-8")
    return manifest


def _year(rec: dict[str, Any]) -> int | None:
    try:
        return int(rec["retention"]["base"][:4])
    except (KeyError, TypeError, ValueError):
        return None


def _de(d: str | None) -> str:
    """ISO date (or timestamp) -> DD.MM.YYYY, the Beschreibungsstandard's default date format."""
    if not d:
        return ""
    y, m, day = d[:10].split("-")
    return f"{day}.{m}.{y}"


def _field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return '"true"' if value else '"false"'
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    # Text fields are encapsulated in double quotes; an inner quote is doubled.
    return '"' + value.replace('"', '""').replace("\r", " ").replace("\n", " ") + '"'


def _write_csv(path: Path, rows: list[list[Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        for row in rows:
            f.write(";".join(_field(v) for v in row) + "\r\n")


ENTRY_COLUMNS = [
    ("seq", "Laufende Nummer im Archivprotokoll", "Numeric"),
    ("entry_id", "Schluessel des Eintrags", "AlphaNumeric"),
    ("appended_at", "Archiviert am", "Date"),
    ("retention_class", "Aufbewahrungsklasse", "AlphaNumeric"),
    ("retention_base", "Beginn der Aufbewahrungsfrist (Belegdatum)", "Date"),
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
    ("file", "Datei im Export", "AlphaNumeric"),
]


def _write_gobd(gobd: Path, leaves: list[tuple[dict[str, Any], str]], years, supplier: str, location: str) -> None:
    gobd.mkdir(parents=True, exist_ok=True)
    meta_keys = sorted({k for r, _ in leaves for k, v in (r.get("metadata") or {}).items()
                        if isinstance(v, (str, int, bool)) or v is None})
    entry_rows, doc_rows = [], []
    for r, leaf_hash in leaves:
        rel = r.get("relates_to") or {}
        ret = r.get("retention") or {}
        entry_rows.append([r.get("seq"), r.get("entry_id"), _de(r.get("appended_at")), ret.get("class"),
                           _de(ret.get("base")), _de(ret.get("until")), rel.get("entry_id"), rel.get("relation"),
                           leaf_hash] + [(r.get("metadata") or {}).get(k) for k in meta_keys])
        for d in r.get("documents", []):
            doc_rows.append([r.get("seq"), d.get("name"), r.get("entry_id"), d.get("media_type"), d.get("sha256"),
                             d.get("size"), "../" + object_key(d.get("sha256", ""))])
    _write_csv(gobd / "entries.csv", entry_rows)
    _write_csv(gobd / "documents.csv", doc_rows)
    entry_cols = ENTRY_COLUMNS + [(f"meta_{k}", f"Metadatum {k}", "AlphaNumeric") for k in meta_keys]
    if years:
        validity = (f"01.01.{min(years)}", f"31.12.{max(years)}")
    else:
        bases = [r["retention"]["base"] for r, _ in leaves if r.get("retention", {}).get("base")]
        validity = (_de(min(bases)), _de(max(bases))) if bases else None
    xml = _index_xml(supplier, location, validity, [
        ("entries.csv", "Archiveintraege", "Ein Datensatz je archiviertem Eintrag (Blatt des Archivprotokolls)",
         entry_cols, ["seq"], []),
        ("documents.csv", "Dokumente", "Ein Datensatz je Dokument eines Eintrags; Datei unter objects/sha256/",
         DOCUMENT_COLUMNS, ["seq", "name"], [("seq", "Archiveintraege")]),
    ])
    (gobd / "index.xml").write_text(xml, encoding="utf-8")
    _check_index(gobd / "index.xml")


def _column(tag: str, name: str, desc: str, typ: str) -> str:
    body = {"Numeric": "<Numeric/>", "AlphaNumeric": "<AlphaNumeric/>",
            "Date": "<Date><Format>DD.MM.YYYY</Format></Date>"}[typ]
    return (f"        <{tag}>\n          <Name>{escape(name)}</Name>\n          <Description>{escape(desc)}"
            f"</Description>\n          {body}\n        </{tag}>\n")


def _index_xml(supplier: str, location: str, validity, tables) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n', '<!DOCTYPE DataSet SYSTEM "gdpdu-01-09-2004.dtd">\n',
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
        for col in cols:
            out.append(_column("VariablePrimaryKey" if col[0] in pk else "VariableColumn", *col))
        for fk_name, ref in fks:
            out.append(f"        <ForeignKey>\n          <Name>{fk_name}</Name>\n          <References>{ref}"
                       f"</References>\n        </ForeignKey>\n")
        out.append("      </VariableLength>\n    </Table>\n")
    out.append("  </Media>\n</DataSet>\n")
    return "".join(out)


def _check_index(path: Path) -> None:
    """Validate our index.xml against the Beschreibungsstandard content models before finishing."""
    from lxml import etree

    # The primary keys must come first in VariableLength: the DTD requires it.
    dtd = etree.DTD(str(HERE / "gdpdu-subset.dtd"))
    doc = etree.parse(str(path), etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False))
    if not dtd.validate(doc):
        raise ArchiveError(f"{path} does not follow the Beschreibungsstandard: {dtd.error_log.filter_from_errors()}")


_README = """Export of an audit-proof archive (einvoice archive).

objects/sha256/<hex>      documents, exactly the archived bytes (file name = SHA-256)
log/leaves/*.jsonl        the log: one canonical-JSON leaf per line, hash-chained
log/checkpoints/*.json    Ed25519-signed RFC 9162 tree heads
log/index/*.json          derived lookup segments (checked by the verifier)
log/timestamps/*.tsr      RFC 3161 time-stamps of checkpoints by an independent TSA (if configured)
export.json               what was exported (years in scope, latest checkpoint)
gobd/index.xml            GDPdU Beschreibungsstandard description of gobd/*.csv (Z3 access)

Verify this copy offline with the archive's public key (obtained from the archive operator
through a separate, trusted channel):

    python -m archive verify --dir <this directory> --key archive-public.pem [--tsa-root tsa-root.pem]

--tsa-root (the time-stamping authority's root certificate, from the TSA) also checks the
time-stamps: a history written or re-signed later than it claims then fails.
"""
