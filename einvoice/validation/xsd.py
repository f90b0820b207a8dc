"""XSD stage: the syntax schema registered for the document (UBL 2.1, CII, Factur-X profiles).

Schemas come from ``schemas.resolve`` (SHA-256 pinned) and are loaded once per process. This
module must never load a schema from the network or from a path named by the document
(xsi:schemaLocation is ignored on purpose).
"""
from __future__ import annotations

from functools import lru_cache

from lxml import etree

from schemas import resolve

# Factur-X/ZUGFeRD 2 profile -> registered profile XSD; everything else CII uses the full D22B
# schema (a superset of the D16B that XRechnung CII and plain EN 16931 CII use).
FACTURX_XSD = {
    "MINIMUM": "cii-facturx-minimum",
    "BASIC WL": "cii-facturx-basicwl",
    "BASIC": "cii-facturx-basic",
    "EN16931": "cii-facturx-en16931",
    "EXTENDED": "cii-facturx-extended",
}


def xsd_key(syntax: str, profile_name: str | None, facturx: bool) -> str | None:
    if syntax in ("ubl-invoice", "ubl-creditnote", "zugferd1"):
        return syntax
    if syntax == "cii":
        if facturx and profile_name in FACTURX_XSD:
            return FACTURX_XSD[profile_name]
        return "cii"
    return None


@lru_cache(maxsize=None)
def schema(key: str) -> etree.XMLSchema:
    path = resolve("xsd", key).path
    # The schema files are trusted package data; they include each other by relative path.
    return etree.XMLSchema(etree.parse(str(path)))


def validate_xsd(root: etree._Element, key: str) -> list[tuple[str, str]]:
    """Return ``[(message, location)]``; empty when the document is schema-valid."""
    s = schema(key)
    if s.validate(root):
        return []
    out = []
    for e in s.error_log:
        out.append((e.message, f"line {e.line}" + (f" {e.path}" if getattr(e, "path", None) else "")))
    return out
