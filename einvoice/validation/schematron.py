"""EN 16931 Schematron stage: the compiled CEN/Factur-X XSLTs run with Saxon-HE (saxonche).

Compiling costs about a second, so each stylesheet is compiled once per process and the
executable is reused; ``warm()`` compiles everything up front so worker processes forked
afterwards inherit the compiled executables. Documents are handed to Saxon as the exact bytes
received (decoded and re-encoded with their own declared encoding, which round-trips byte for
byte), never as a re-serialised lxml tree: re-serialising changes whitespace and line breaks that
rules depend on.

Load-time adjustments of the pinned stylesheets, all leaving every rule unchanged:
- their code-list checks call ``document('…_codedb.xml')``, which Saxon re-parses in every
  transformation (~180 KB, about a third of the run time). The calls are replaced by a global
  parameter holding the same file, parsed once.
- for documents that are not Factur-X/ZUGFeRD we drop FX-SCH-* findings anyway, so a second
  variant without the patterns that contain *only* Factur-X rules is compiled and used for them
  (the biggest such pattern costs as much as all CEN patterns together).
- the Schematron skeleton walks the whole document twice per pattern (once in an output-free
  default mode); we drop the empty walks and let all patterns share one walk (see
  ``_merge_pattern_walks``). For the CII stylesheet that is 66 patterns: 4x faster.
- even one shared walk dispatches every node into every pattern's mode, which for the 66
  one-rule CII patterns is still most of the run time; patterns with few rules instead select
  the nodes their rules match (``_direct_pattern_selects``), CII Schematron time drops by
  about half again.
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

from einvoice.validation import xpath
from einvoice.xml.namespaces import SVRL, XSL
from schemas import resolve

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


# Above this many rule branches one shared walk is cheaper than a descendant scan per branch
# (the UBL stylesheet: 3 patterns of 16-68 rules; CII: 65 patterns of one rule each).
MAX_DIRECT_SELECTS = 8

_KIND_TESTS = ("element(", "attribute(", "text(", "node(", "comment(", "processing-instruction(", "document-node(")


def _pattern_branches(match: str) -> list[str] | None:
    """Split an XSLT match pattern at its top-level ``|`` (outside quotes, brackets, parens).
    None when the pattern uses syntax we do not rewrite (``union`` keyword)."""
    positions, balanced = xpath.top_level(match)
    if not balanced:
        return None
    cuts = [i for i in positions if match[i] == "|"]
    branches = [match[a + 1:b] for a, b in zip([-1, *cuts], [*cuts, len(match)])]
    if any(re.search(r"\bunion\b|\bintersect\b|\bexcept\b", b) for b in branches):
        return None
    return [b.strip() for b in branches]


def _branch_as_select(branch: str) -> str | None:
    """The expression selecting, from the document node, exactly the nodes a pattern branch
    matches (XSLT 2.0 §5.5.3: N matches P iff N is in ``root(N)//(P)``). Absolute branches
    (``/x``, ``//x``) already select from the root; relative ones get ``//`` in front. None for
    branches whose meaning would change outside a pattern (``current()`` is the matched node in
    a pattern but the document node here) or that do not start with a step."""
    if not branch or "current()" in branch or "namespace::" in branch:
        return None
    if branch.startswith("/"):
        return branch
    head = re.match(r"[\w.*@-]+(?::[\w.*-]+)?(::)?\s*(\()?", branch)
    if head is None:
        return None
    if head.group(2) and not branch.startswith(_KIND_TESTS):
        return None  # starts with a function call such as key() or id()
    return "//" + branch


def _direct_pattern_selects(root: etree._Element, main: etree._Element) -> list[str]:
    """Apply each pattern's rules to the nodes its rules match instead of walking every node.

    In compiled Schematron each pattern is a mode Mn entered with ``apply-templates select="/"``:
    it visits the document node, every element and every attribute, and fires on each visited
    node the highest-priority rule (template) that matches it, if any. For CII (65 patterns)
    the dispatch of every node into every mode is nearly all of the run time. We select, in
    document order, the visited nodes that match at least one rule of the pattern
    (``//(P1) | ... | //(Pk)``, text, comment and PI nodes excluded because the walk never visits
    them) and apply the same mode to them: template choice is unchanged, so each node fires the
    same rule, in the same order as the original; only the nodes that fired nothing are skipped.
    The rules' own recursion into ``@*|*`` is removed. Patterns whose templates do not have the
    expected shape, or whose match patterns we cannot turn into a select, are left alone."""
    calls = {
        ap.get("mode"): ap for ap in main.iter(f"{{{XSL}}}apply-templates")
        if re.fullmatch(r"M\d+", ap.get("mode") or "") and ap.get("select") == "/"
    }
    by_mode: dict[str, list[etree._Element]] = {}
    for t in root.iterchildren(f"{{{XSL}}}template"):
        if t.get("mode") in calls:
            by_mode.setdefault(t.get("mode"), []).append(t)
    converted = []
    for mode, templates in by_mode.items():
        selects, recursions, ok = [], [], True
        for t in templates:
            match = t.get("match") or ""
            rec = [ap for ap in t.iterchildren(f"{{{XSL}}}apply-templates") if ap.get("mode") == mode and ap.get("select") == "@*|*"]
            if match == "text()":
                ok = ok and not rec and not len(t)
                continue
            if len(rec) != 1 or rec[0] is not t[-1] or any(ap.get("mode") == mode for ap in t.iter(f"{{{XSL}}}apply-templates") if ap is not rec[0]):
                ok = False
                break
            recursions.append((t, rec[0]))
            if match == "@*|node()":
                if len(t) != 1:
                    ok = False  # a catch-all that does more than recurse
                continue
            branches = _pattern_branches(match)
            sel = [_branch_as_select(b) for b in branches] if branches else [None]
            if None in sel:
                ok = False
                break
            selects.extend(sel)
        if not ok or not selects or len(selects) > MAX_DIRECT_SELECTS:
            continue
        for t, rec in recursions:
            t.remove(rec)
        union = " | ".join(f"({s})" for s in selects)
        calls[mode].set("select", f"({union})[not(self::text() or self::comment() or self::processing-instruction())]")
        converted.append(mode)
    return converted


_PATH_START_WORDS = {"and", "or", "in", "satisfies", "then", "else", "return", "not", "eq", "ne"}
_STEP = re.compile(r"(?:@?[A-Za-z_][\w.-]*:(?:[A-Za-z_][\w.-]*|\*)|@?[A-Za-z_][\w.-]*(?:\(\))?|\*|@\*)")


def _bracket_end(text: str, i: int) -> int | None:
    """Index after the ``]`` that closes the ``[`` at ``i`` (quotes respected), or None."""
    depth, quote = 0, ""
    for j in range(i, len(text)):
        ch = text[j]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return j + 1
    return None


def _absolute_paths(test: str) -> list[tuple[int, int]]:
    """(start, end) of the absolute location paths in an XPath expression that do not depend on
    the context node: they start at the document (``/…`` or ``//…``) and their predicates use no
    variable and no ``current()``. Conservative: anything unusual is left alone."""
    out = []
    i = 0
    n = len(test)
    while i < n:
        if test[i] != "/":
            i += 1
            continue
        before = test[:i].rstrip()
        prev_word = re.search(r"([A-Za-z-]+)$", before)
        if not (not before or before[-1] in "(,=<>![" or (prev_word and prev_word.group(1) in _PATH_START_WORDS)):
            i += 1
            continue
        j, ok, steps = i, True, 0
        while j < n and test[j] == "/":
            j += 2 if test.startswith("//", j) else 1
            m = _STEP.match(test, j)
            if not m:
                ok = False
                break
            j = m.end()
            steps += 1
            while j < n and test[j] == "[":
                end = _bracket_end(test, j)
                if end is None or "$" in test[j:end] or "current()" in test[j:end]:
                    ok = False
                    break
                j = end
            if not ok:
                break
        # a step that is a function call (text(), node()) must be the last one
        if ok and steps >= 1 and (j >= n or test[j] != "("):
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


def _hoist_document_paths(root: etree._Element) -> int:
    """Evaluate each absolute path of the rules' tests once per document instead of once per
    context node.

    Many CII rules test, for every invoice line, paths such as
    ``//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID = 'VA']``: a scan of
    the whole document per line, so the stage grew with the square of the lines (a 10,000-line
    ZUGFeRD invoice with reverse-charge lines took most of a minute). Such a path does not depend
    on the context node (it starts at the document, and its predicates use neither variables nor
    ``current()``), so it is bound once to a global variable and the test refers to that; the
    value, and so every assertion, is the same."""
    names: dict[str, str] = {}
    for el in root.iter(f"{{{XSL}}}when", f"{{{XSL}}}if"):
        test = el.get("test")
        if not test or "/" not in test:
            continue
        spans = _absolute_paths(test)
        if not spans:
            continue
        for start, end in reversed(spans):
            expr = test[start:end]
            name = names.get(expr)
            if name is None:
                name = names[expr] = f"einvoice-doc-{len(names)}"
            test = test[:start] + f"${name}" + test[end:]
        el.set("test", test)
    for expr, name in names.items():
        root.insert(0, etree.Element(f"{{{XSL}}}variable", name=name, select=expr))
    return len(names)


_SIBLING_INDEX = "einvoice-sibling-index"


def _linear_locations(root: etree._Element) -> bool:
    """Compute the location of a failed assertion without counting preceding siblings.

    The skeleton's location template writes ``*:name[namespace-uri()='…'][k]`` for every ancestor,
    where ``k`` is one plus ``count(preceding-sibling::*)`` of the same name: for the 5,000th
    invoice line that is 5,000 steps, so a rule that fails on every line made the stage grow with
    the square of the lines. Instead ``k`` is looked up in a map built once per document (only when
    the first assertion fails: global variables are evaluated on first use), grouping each
    element's children by name in document order. Same numbers, same location strings."""
    done = False
    for t in root.iterchildren(f"{{{XSL}}}template"):
        if t.get("match") != "*" or t.get("mode") != "schematron-get-full-path":
            continue
        for var in t.iterchildren(f"{{{XSL}}}variable"):
            sel = " ".join((var.get("select") or "").split())
            if var.get("name") == "preceding" and sel.startswith("count(preceding-sibling::*[local-name()=local-name(current())"):
                var.set("select", f"${_SIBLING_INDEX}(generate-id()) - 1")
                done = True
    if done:
        index = etree.fromstring(
            f'<xsl:variable xmlns:xsl="{XSL}" xmlns:xs="http://www.w3.org/2001/XMLSchema" name="{_SIBLING_INDEX}" as="map(xs:string, xs:integer)">'
            '<xsl:map><xsl:for-each select="/ | //*"><xsl:for-each-group select="*" group-by="node-name()">'
            '<xsl:for-each select="current-group()"><xsl:map-entry key="generate-id()" select="position()"/></xsl:for-each>'
            "</xsl:for-each-group></xsl:for-each></xsl:map></xsl:variable>"
        )
        root.insert(0, index)
    return done


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
        _linear_locations(root)
        _hoist_document_paths(root)
        _drop_default_traversals(root, main)
        _direct_pattern_selects(root, main)
        _merge_pattern_walks(root, main)  # whatever could not be converted
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
    else:
        # UTF-16/32 (NUL bytes cannot pass through the C string API): decode here and hand Saxon
        # the characters; its string parser reads characters, so the declared encoding does not
        # matter any more (a temporary file made Saxon refuse UTF-32, and UTF-16 without BOM).
        text = _decode_wide(data, enc)
        if text is not None:
            try:
                return proc.parse_xml(xml_text=text, encoding="UTF-8"), None
            except Exception:  # noqa: BLE001 - fall back to Saxon reading the bytes itself
                pass
    # unknown codecs: let Saxon read the original bytes from a private temporary file.
    fd, name = tempfile.mkstemp(suffix=".xml")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return None, name


_WIDE_BOMS = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
              (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"))
_WIDE_STARTS = ((b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"), (b"\x00<", "utf-16-be"), (b"<\x00", "utf-16-le"))


def _decode_wide(data: bytes, enc: str) -> str | None:
    """The characters of a UTF-16/UTF-32 document (byte order from the BOM or the first '<')."""
    for bom, codec in _WIDE_BOMS:
        if data.startswith(bom):
            data, found = data[len(bom):], codec
            break
    else:
        found = next((codec for start, codec in _WIDE_STARTS if data.startswith(start)), None)
    if found is None:
        return None
    try:
        return data.decode(found)
    except UnicodeDecodeError:
        return None


def run(key: str, data: bytes, encoding: str = "UTF-8", *, cen_only: bool = False, optimise: bool = True) -> list[SvrlResult]:
    ex = executable(key, cen_only=cen_only, optimise=optimise)
    tmp = None
    try:
        # One Saxon call at a time per process: the pipeline may call us from worker threads and
        # SaxonC does not promise that a shared executable is thread-safe. (Processes, not
        # threads, are how we scale: see einvoice.validation.cli --jobs.)
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
