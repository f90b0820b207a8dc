"""Safe parsing of untrusted XML (invoices, PDF XMP metadata).

Every XML document that reaches the pipeline from outside is parsed here. The parser never loads a
DTD, never resolves entities, never touches the network and refuses documents over a size limit.
Documents with a DOCTYPE are rejected outright: no e-invoice format uses one, and a DOCTYPE is
how XXE and entity-expansion ("billion laughs") attacks are delivered.

This module must never return a parse of a document it refused, never raise on malformed input
(problems come back as ``ParseProblem`` values), and never modify the bytes it was given.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from lxml import etree

from einvoice.problems import Problem

#: default upper bound for one XML document; real XRechnungen are a few hundred KB, attachments
#: included rarely exceed 15 MB (the limit most portals apply to the whole invoice).
DEFAULT_MAX_XML_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class ParseProblem(Problem):
    """``rule``: our own stable IDs XML-SIZE, XML-DOCTYPE, XML-EMPTY, XML-ENCODING, XML-SYNTAX."""

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


_DECLARED = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")
_BOMS = ((b"\xef\xbb\xbf", "utf-8", b""), (b"\xff\xfe\x00\x00", "utf-32", b"\x00\x00\x00"),
         (b"\x00\x00\xfe\xff", "utf-32", b"\x00\x00\x00"), (b"\xff\xfe", "utf-16", b"\x00"), (b"\xfe\xff", "utf-16", b"\x00"))


def _bom_conflict(data: bytes) -> str | None:
    """A byte-order mark that contradicts the declared encoding (XML 1.0 §4.3.3: a fatal error).

    libxml2 follows the BOM and ignores such a declaration, so a UTF-8 BOM followed by
    ``encoding="bogus"`` would otherwise pass as a well-formed document."""
    for bom, family, pad in _BOMS:
        if data.startswith(bom):
            head = data[len(bom):len(bom) + 400]
            if pad:  # wide encodings: look at the ASCII bytes of the declaration
                head = head.replace(pad, b"") if family == "utf-32" else head[::2] if head[:1] != b"\x00" else head[1::2]
            m = _DECLARED.match(head)
            if not m:
                return None
            declared = m.group(1).decode("ascii", "replace").strip()
            try:
                name = codecs.lookup(declared).name
            except (LookupError, ValueError):  # unknown name, or one with a NUL byte in it
                return f"byte-order mark of {family.upper()} but encoding {declared!r}, which is not a known encoding"
            if not name.replace("_", "-").startswith(family):
                return f"byte-order mark of {family.upper()} but declared encoding {declared!r}"
            return None
    return None


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
    conflict = _bom_conflict(data)
    if conflict:
        return None, ParseProblem(
            "XML-ENCODING",
            f"The XML text does not say consistently how it is encoded ({conflict}); the document was not read. "
            "Ask the sender to declare the encoding the file really uses.",
            "line 1",
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


#: limits of the XML parser inside Saxon (SaxonC's JAXP defaults, as in current JDKs): documents
#: beyond them cannot be checked by the rule stylesheets at all
MAX_DEPTH = 100
MAX_ATTRIBUTES = 200
MAX_NAME_LENGTH = 1000


def limits_problem(root: etree._Element) -> ParseProblem | None:
    """Why the rule processor refuses a document lxml could parse (depth, attributes per element,
    length of a namespace URI), or None. One pass over the tree."""
    depth = 0
    for event, el in etree.iterwalk(root, events=("start", "end")):
        if event == "end":
            depth -= 1
            continue
        depth += 1
        if depth > MAX_DEPTH:
            return ParseProblem("XML-LIMITS", f"The XML nests elements {depth} levels deep; more than {MAX_DEPTH} levels cannot be checked "
                                "(no e-invoice needs that). The document was rejected.", el.getroottree().getpath(el.getparent()))
        parent = el.getparent()
        own_ns = len(el.nsmap) - (len(parent.nsmap) if parent is not None else 0)
        if len(el.attrib) + max(own_ns, 0) > MAX_ATTRIBUTES:
            return ParseProblem("XML-LIMITS", f"An element carries more than {MAX_ATTRIBUTES} attributes; such a document cannot be "
                                "checked and was rejected.", el.getroottree().getpath(el))
        for uri in el.nsmap.values() if own_ns > 0 or parent is None else ():
            if uri and len(uri) > MAX_NAME_LENGTH:
                return ParseProblem("XML-LIMITS", f"A namespace name is {len(uri):,} characters long, more than "
                                    f"{MAX_NAME_LENGTH:,}; such a document cannot be checked and was rejected.",
                                    el.getroottree().getpath(el))
    return None
