"""EN 16931 Schematron stage: the compiled CEN/Factur-X XSLTs run with Saxon-HE (saxonche).

Compiling costs about a second, so each stylesheet is compiled once per process and the
executable is reused; ``warm()`` compiles everything up front so worker processes forked
afterwards inherit the compiled executables. Documents are handed to Saxon as the exact bytes
received (decoded and re-encoded with their own declared encoding, which round-trips byte for
byte), never as a re-serialised lxml tree: re-serialising changes whitespace and line breaks that
rules depend on.

This module must never report "no findings" when Saxon failed: a failure raises
``SchematronError`` and the caller marks the stage as "error".
"""
from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass

from lxml import etree

from schemas import resolve

SVRL = "http://purl.oclc.org/dsdl/svrl"


class SchematronError(RuntimeError):
    pass


@dataclass(frozen=True)
class SvrlResult:
    rule: str
    flag: str  # fatal | warning | information | error
    message: str
    location: str | None
    report: bool  # successful-report (vs failed-assert)


_lock = threading.Lock()
_processor = None
_executables: dict[str, object] = {}


def _proc():
    global _processor
    if _processor is None:
        from saxonche import PySaxonProcessor

        _processor = PySaxonProcessor(license=False)
    return _processor


def executable(key: str):
    """The compiled stylesheet for schematron registry ``key`` (compiled on first use)."""
    ex = _executables.get(key)
    if ex is None:
        with _lock:
            ex = _executables.get(key)
            if ex is None:
                path = resolve("schematron", key).path
                try:
                    xslt = _proc().new_xslt30_processor()
                    ex = xslt.compile_stylesheet(stylesheet_file=str(path))
                except Exception as exc:  # saxonche raises PySaxonApiError
                    raise SchematronError(f"could not compile {key} ({path.name}): {exc}") from exc
                if ex is None:
                    raise SchematronError(f"could not compile {key} ({path.name})")
                _executables[key] = ex
    return ex


def warm(keys=("en16931-ubl", "en16931-cii-facturx", "facturx-basic", "facturx-extended")) -> None:
    for k in keys:
        executable(k)


_ASCII_COMPATIBLE_SKIP = ("UTF-16", "UTF-32", "UCS-2", "UCS-4", "UTF16", "UTF32")


def _source_node(data: bytes, encoding: str):
    enc = (encoding or "UTF-8").upper()
    proc = _proc()
    if not enc.startswith(_ASCII_COMPATIBLE_SKIP):
        try:
            # decode+encode with the document's own encoding gives back the identical bytes
            text = data.decode(enc)
            # A UTF-8 byte-order mark is an encoding signature, not content; Saxon's string
            # parser rejects it ("Content is not allowed in prolog").
            if text.startswith("\ufeff"):
                text = text[1:]
            return proc.parse_xml(xml_text=text, encoding=enc), None
        except (LookupError, UnicodeDecodeError):
            pass
    # UTF-16/32 (NUL bytes cannot pass through the C string API) or unknown codecs: let Saxon
    # read the original bytes from a private temporary file.
    fd, name = tempfile.mkstemp(suffix=".xml")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return None, name


def run(key: str, data: bytes, encoding: str = "UTF-8") -> list[SvrlResult]:
    ex = executable(key)
    tmp = None
    try:
        node, tmp = _source_node(data, encoding)
        if node is not None:
            out = ex.transform_to_string(xdm_node=node)
        else:
            out = ex.transform_to_string(source_file=tmp)
    except Exception as exc:
        raise SchematronError(f"Saxon could not run {key}: {exc}") from exc
    finally:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    if not out:
        raise SchematronError(f"{key} produced no SVRL output")
    return parse_svrl(out.encode("utf-8") if isinstance(out, str) else out)


def parse_svrl(svrl: bytes) -> list[SvrlResult]:
    # SVRL is our own processor's output, but parse it with the same safe settings anyway.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    try:
        root = etree.fromstring(svrl, parser)
    except etree.XMLSyntaxError as exc:
        raise SchematronError(f"unreadable SVRL output: {exc}") from exc
    results = []
    for el in root:
        tag = el.tag
        if tag == f"{{{SVRL}}}failed-assert" or tag == f"{{{SVRL}}}successful-report":
            text = el.findtext(f"{{{SVRL}}}text") or ""
            results.append(
                SvrlResult(
                    rule=el.get("id") or "?",
                    flag=(el.get("flag") or "fatal").lower(),
                    message=" ".join(text.split()),
                    location=el.get("location"),
                    report=tag.endswith("successful-report"),
                )
            )
    return results
