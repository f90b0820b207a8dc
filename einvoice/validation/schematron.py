"""EN 16931 Schematron stage: the compiled CEN/Factur-X XSLTs run with Saxon-HE (saxonche).

Compiling costs about a second, so each stylesheet is compiled once per process and the
executable is reused; ``warm()`` compiles everything up front so worker processes forked
afterwards inherit the compiled executables. Documents are handed to Saxon as the exact bytes
received (decoded and re-encoded with their own declared encoding, which round-trips byte for
byte), never as a re-serialised lxml tree: re-serialising changes whitespace and line breaks that
rules depend on.

Two load-time adjustments of the pinned Factur-X stylesheets, both leaving every rule unchanged:
- their code-list checks call ``document('…_codedb.xml')``, which Saxon re-parses in every
  transformation (~180 KB, about a third of the run time). The calls are replaced by a global
  parameter holding the same file, parsed once.
- for documents that are not Factur-X/ZUGFeRD we drop FX-SCH-* findings anyway, so a second
  variant without the patterns that contain *only* Factur-X rules is compiled and used for them
  (the biggest such pattern costs as much as all CEN patterns together).
- the Schematron skeleton walks the whole document twice per pattern (once in an output-free
  default mode); we drop the empty walks and let all patterns share one walk (see
  ``_merge_pattern_walks``). For the CII stylesheet that is 66 patterns: 4x faster.
Each pattern keeps its own mode and rule choice, so no assertion changes; a test compares the
optimised and the original stylesheets on the corpus (``optimise=False`` runs the original).

This module must never report "no findings" when Saxon failed: a failure raises
``SchematronError`` and the caller marks the stage as "error".
"""
from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import dataclass

from lxml import etree

from schemas import resolve

SVRL = "http://purl.oclc.org/dsdl/svrl"
XSL = "http://www.w3.org/1999/XSL/Transform"
CODEDB_PARAM = "einvoice-codedb"


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
_run_lock = threading.Lock()
_processor = None
_executables: dict[tuple[str, bool, bool], object] = {}
_codedbs: dict[str, object] = {}


def _proc():
    global _processor
    if _processor is None:
        from saxonche import PySaxonProcessor

        _processor = PySaxonProcessor(license=False)
    return _processor


def _fx_only_modes(tree: etree._ElementTree) -> list[str]:
    """Modes (= Schematron patterns) whose asserts all carry FX-SCH-* IDs or no ID at all."""
    ids: dict[str, list[str]] = {}
    for tmpl in tree.getroot().iter(f"{{{XSL}}}template"):
        mode = tmpl.get("mode") or ""
        if not re.fullmatch(r"M\d+", mode):
            continue
        for a in tmpl.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
            rid = next((x.text or "" for x in a.iterchildren(f"{{{XSL}}}attribute") if x.get("name") == "id"), "")
            ids.setdefault(mode, []).append(rid.strip())
    return sorted(m for m, v in ids.items() if v and all(r.startswith("FX-SCH-") or not r for r in v))


def _root_template(root: etree._Element) -> etree._Element | None:
    for t in root.iterchildren(f"{{{XSL}}}template"):
        if t.get("match") == "/" and t.get("mode") is None:
            return t
    return None


def _drop_default_traversals(root: etree._Element, main: etree._Element) -> None:
    """The Schematron skeleton puts ``<xsl:apply-templates/>`` (default mode) into every
    ``svrl:active-pattern``: a full walk of the document per pattern whose output is empty,
    because the only default-mode templates are ``/`` and an empty ``text()``. Removed only
    when that is verifiably so."""
    for t in root.iterchildren(f"{{{XSL}}}template"):
        if t.get("mode") is None and t.get("match") not in ("/", "text()"):
            return
        if t.get("mode") is None and t.get("match") == "text()" and (len(t) or (t.text or "").strip()):
            return
    for ap in list(main.iter(f"{{{XSL}}}apply-templates")):
        parent = ap.getparent()
        if ap.get("mode") is None and ap.get("select") is None and parent.tag == f"{{{SVRL}}}active-pattern":
            parent.remove(ap)


def _merge_pattern_walks(root: etree._Element, main: etree._Element) -> bool:
    """Walk the document once instead of once per pattern.

    Compiled Schematron gives each pattern a mode Mn whose templates end by recursing into
    ``@*|*``. We remove that recursion and add one walking mode that, at each element and
    attribute, applies every pattern mode to the node itself, then recurses. Each pattern still
    sees every node once and picks the same rule (the highest-priority match in its mode), so the
    assertions are identical; only their order in the SVRL output changes. Any template that
    does not have the expected shape leaves the stylesheet unmerged."""
    calls = [
        ap for ap in main.iter(f"{{{XSL}}}apply-templates")
        if re.fullmatch(r"M\d+", ap.get("mode") or "") and ap.get("select") == "/"
    ]
    modes = [c.get("mode") for c in calls]
    if len(modes) < 2 or len(set(modes)) != len(modes):
        return False
    recursions = []
    for t in root.iterchildren(f"{{{XSL}}}template"):
        m = t.get("mode")
        if m not in modes:
            continue
        rec = [ap for ap in t.iterchildren(f"{{{XSL}}}apply-templates") if ap.get("mode") == m and ap.get("select") == "@*|*"]
        if t.get("match") == "text()":
            if rec or len(t):
                return False
            continue
        if len(rec) != 1 or rec[0] is not t[-1] or any(ap.get("mode") == m for ap in t.iter(f"{{{XSL}}}apply-templates") if ap is not rec[0]):
            return False
        recursions.append((t, rec[0]))
    for t, rec in recursions:
        t.remove(rec)
    walk = etree.Element(f"{{{XSL}}}apply-templates", mode="EINVOICE-WALK", select="/")
    calls[0].addprevious(walk)
    for c in calls:
        c.getparent().remove(c)
    driver = etree.SubElement(root, f"{{{XSL}}}template", match="@*|*", mode="EINVOICE-WALK")
    for m in modes:
        etree.SubElement(driver, f"{{{XSL}}}apply-templates", select=".", mode=m)
    etree.SubElement(driver, f"{{{XSL}}}apply-templates", select="@*|*", mode="EINVOICE-WALK")
    return True


def _prepare(path, prune_fx: bool, optimise: bool = True) -> tuple[str, str | None, list[str]]:
    """Stylesheet text to compile, the code-database file it needs, and the pruned modes."""
    text = path.read_text(encoding="utf-8")
    m = re.search(r"document\('([^'/]+_codedb\.xml)'\)", text)
    codedb = None
    if m:
        codedb = m.group(1)
        text = text.replace(f"document('{codedb}')", f"${CODEDB_PARAM}")
    if not codedb and not prune_fx and not optimise:
        return text, None, []
    # trusted package file (SHA-256 pinned), parsed only to edit its top level
    root = etree.fromstring(text.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    main = _root_template(root)
    pruned: list[str] = []
    if codedb:
        root.insert(0, etree.Element(f"{{{XSL}}}param", name=CODEDB_PARAM))
    if prune_fx and main is not None:
        pruned = _fx_only_modes(etree.ElementTree(root))
        for call in list(main.iter(f"{{{XSL}}}apply-templates")):
            if call.get("mode") in pruned and call.get("select") == "/":
                prev = call.getprevious()
                parent = call.getparent()
                if prev is not None and prev.tag == f"{{{SVRL}}}active-pattern":
                    parent.remove(prev)
                parent.remove(call)
    if optimise and main is not None:
        _drop_default_traversals(root, main)
        _merge_pattern_walks(root, main)
        # svrl:fired-rule / svrl:active-pattern only trace which rules ran; we read failed
        # asserts and successful reports only, and the trace is most of the SVRL text
        for el in list(root.iter(f"{{{SVRL}}}fired-rule", f"{{{SVRL}}}active-pattern")):
            el.getparent().remove(el)
    return etree.tostring(root, encoding="unicode"), codedb, pruned


def executable(key: str, *, cen_only: bool = False, optimise: bool = True):
    """The compiled stylesheet for schematron registry ``key`` (compiled on first use).

    ``cen_only`` gives the variant without Factur-X-only patterns (same result after dropping
    FX-SCH-* findings, for documents that are not Factur-X/ZUGFeRD)."""
    ex = _executables.get((key, cen_only, optimise))
    if ex is None:
        with _lock:
            ex = _executables.get((key, cen_only, optimise))
            if ex is None:
                path = resolve("schematron", key).path
                try:
                    text, codedb, _ = _prepare(path, prune_fx=cen_only, optimise=optimise)
                    xslt = _proc().new_xslt30_processor()
                    xslt.set_cwd(str(path.parent))
                    ex = xslt.compile_stylesheet(stylesheet_text=text, encoding="UTF-8")
                    if ex is None:
                        raise SchematronError("no executable")
                    if codedb:
                        doc = _codedbs.get(str(path.parent / codedb))
                        if doc is None:
                            doc = _proc().parse_xml(xml_file_name=str(path.parent / codedb))
                            _codedbs[str(path.parent / codedb)] = doc
                        ex.set_parameter(CODEDB_PARAM, doc)
                except SchematronError:
                    raise
                except Exception as exc:  # saxonche raises PySaxonApiError
                    raise SchematronError(f"could not compile {key} ({path.name}): {exc}") from exc
                _executables[(key, cen_only, optimise)] = ex
    return ex


def warm(keys=("en16931-ubl", "en16931-cii-facturx", "facturx-basic", "facturx-extended")) -> None:
    for k in keys:
        executable(k)
    executable("en16931-cii-facturx", cen_only=True)


_NOT_ASCII_COMPATIBLE = ("UTF-16", "UTF-32", "UCS-2", "UCS-4", "UTF16", "UTF32")


def _source_node(data: bytes, encoding: str):
    enc = (encoding or "UTF-8").upper()
    proc = _proc()
    if not enc.startswith(_NOT_ASCII_COMPATIBLE):
        try:
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


def run(key: str, data: bytes, encoding: str = "UTF-8", *, cen_only: bool = False, optimise: bool = True) -> list[SvrlResult]:
    ex = executable(key, cen_only=cen_only, optimise=optimise)
    tmp = None
    try:
        # One Saxon call at a time per process: the pipeline may call us from worker threads and
        # SaxonC does not promise that a shared executable is thread-safe. (Processes, not
        # threads, are how we scale: see cli_validate --jobs.)
        with _run_lock:
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
