"""Safe parsing of untrusted XML (invoices, PDF XMP metadata).

Every XML document that reaches the pipeline from outside is parsed here. The parser never loads a
DTD, never resolves entities, never touches the network and refuses documents over a size limit.
Documents with a DOCTYPE are rejected outright: no e-invoice format uses one, and a DOCTYPE is
how XXE and entity-expansion ("billion laughs") attacks are delivered.

This module must never return a parse of a document it refused, never raise on malformed input
(problems come back as ``ParseProblem`` values), and never modify the bytes it was given.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

#: default upper bound for one XML document; real XRechnungen are a few hundred KB, attachments
#: included rarely exceed 15 MB (the limit most portals apply to the whole invoice).
DEFAULT_MAX_XML_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class ParseProblem:
    rule: str  # our own stable IDs: XML-SIZE, XML-DOCTYPE, XML-EMPTY, XML-ENCODING, XML-SYNTAX
    message: str
    location: str | None = None


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers are not thread-safe and keep error logs.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,  # keeps libxml2's own limits on depth and text node size
        remove_blank_text=False,
        remove_comments=False,
        collect_ids=False,
    )


# A DOCTYPE may only appear in the prolog; look for it in the first bytes in the common
# encodings (UTF-8/ASCII/Latin-1 and UTF-16 either byte order).
_DOCTYPE_PATTERNS = (
    b"<!DOCTYPE",
    "<!DOCTYPE".encode("utf-16-le"),
    "<!DOCTYPE".encode("utf-16-be"),
)
_ENTITY_PATTERN = re.compile(rb"<!ENTITY", re.IGNORECASE)


def _has_doctype(data: bytes) -> bool:
    head = data[:65536]
    upper = head.upper()
    if any(p in upper for p in (b"<!DOCTYPE",)):
        return True
    return any(p in head for p in _DOCTYPE_PATTERNS[1:]) or bool(_ENTITY_PATTERN.search(head))


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_XML_BYTES) -> tuple[etree._Element | None, ParseProblem | None]:
    """Parse ``data``; return ``(root, None)`` or ``(None, problem)``. Never raises for bad input."""
    if not data or not data.strip():
        return None, ParseProblem("XML-EMPTY", "The file is empty: there is no XML document to read.")
    if len(data) > max_bytes:
        return None, ParseProblem(
            "XML-SIZE",
            f"The XML document is {len(data):,} bytes, more than the configured limit of {max_bytes:,} bytes; "
            "it was not read. Ask the sender for a smaller invoice or raise the limit deliberately.",
        )
    if _has_doctype(data):
        return None, ParseProblem(
            "XML-DOCTYPE",
            "The XML contains a DOCTYPE/entity declaration. E-invoices never need one and it is a known attack "
            "vector (XXE, entity expansion), so the document was rejected without being read.",
        )
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        msg = str(exc)
        line = getattr(exc, "lineno", None)
        loc = f"line {line}" if line else None
        low = msg.lower()
        if "encoding" in low or "utf-8" in low or "input is not proper" in low or "char " in low and "out of allowed range" in low:
            return None, ParseProblem(
                "XML-ENCODING",
                f"The XML text is not in the character encoding it declares (or contains forbidden characters): {msg}",
                loc,
            )
        return None, ParseProblem("XML-SYNTAX", f"The file is not well-formed XML: {msg}", loc)
    except (ValueError, etree.LxmlError) as exc:  # e.g. unsupported encoding declaration
        return None, ParseProblem("XML-SYNTAX", f"The file could not be read as XML: {exc}")
    if root is None:
        return None, ParseProblem("XML-SYNTAX", "The file contains no XML root element.")
    # Defence in depth: the byte scan above should already have caught any DOCTYPE.
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        return None, ParseProblem("XML-DOCTYPE", "The XML contains a DOCTYPE declaration; rejected (see XXE).")
    return root, None


def declared_encoding(root: etree._Element) -> str:
    """The encoding the parser used for ``root``'s document (UTF-8 when none was declared)."""
    return (root.getroottree().docinfo.encoding or "UTF-8").upper()
