"""The check a rule pack runs on one XML document, step by step as KoSIT's validator does it.

``STEPS`` is the ordered list of named steps (KoSIT ``DefaultCheck``): parse → select scenario →
XSD → each Schematron → report → acceptance. Each step reads and writes one ``Bag`` and says
whether it applies (``skip``), like KoSIT's ``CheckAction.isSkipped``:

- parse: ``einvoice.xml.safe`` (no DTD, no entities, size limit) and the same bytes once more for
  Saxon: every stylesheet runs on the bytes as received, never on a re-serialised tree.
- scenario: each scenario's ``match`` XPath with the scenario's namespaces; exactly one must
  match. Several installed packs are tried newest first; the first pack with a match decides.
  The match expressions of a pack run together as one stylesheet compiled once (``true_of``),
  one at a time only when that cannot run.
- xsd: lxml with the scenario's schema. A failed XSD skips the Schematron and rejects (KoSIT
  evaluates ``acceptMatch`` only for a schema-valid document).
- schematron: each stylesheet of the scenario, compiled once per process (``pack.stylesheet``).
- report: the pack's own report stylesheet over KoSIT's report input (``createReportInput``:
  scenario, XSD errors, SVRL outputs), with the document as ``input-document``; the custom
  levels are the scenario's ``customLevel`` entries the stylesheet reads.
- acceptance: the scenario's ``acceptMatch`` XPath over that report (a plain path such as
  KoSIT's ``/rep:report/rep:assessment[1]/rep:accept[1]`` on the lxml tree of the report, any
  other expression by Saxon).

KoSIT's ``ValidateReportInputAction`` (a schema check of its own intermediate document) has no
counterpart: the report input is built here, from values this module produced.

Where KoSIT would go on after an internal failure (a stylesheet that cannot run yields an empty
SVRL result there), this check stops and marks the step as ``error``: the caller reports "not
validated", never "accepted". This module must never re-serialise the document before a rule
runs and never turn an error into an accept.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from lxml import etree

from einvoice.rulepacks import pack as _pack
from einvoice.rulepacks.pack import PackDefinition, Scenario
from einvoice.xml.namespaces import NS
from einvoice.xml.namespaces import SVRL as SVRL_NS
from einvoice.xml.safe import DEFAULT_MAX_XML_BYTES, declared_encoding, parse_xml

IN_NS = "http://www.xoev.de/de/validator/framework/1/createreportinput"
REP_NS = "http://www.xoev.de/de/validator/varl/1"
ENGINE_NAME = "einvoice rule-pack engine (KoSIT validator steps)"


@dataclass(frozen=True)
class Message:
    """One message of the report: a Schematron assertion or an XSD error."""

    step: str  # xsd | en16931 | xrechnung | schematron-N
    rule: str  # the report's @code (Schematron @id, XSD "generic-error"/"cvc-...")
    level: str  # the report's @level (error | warning | information), before custom levels
    effective: str  # after the scenario's custom levels
    text: str
    location: str | None
    flag: str | None  # the assertion's flag in the rule file (fatal | warning | information)


@dataclass
class Bag:
    """Everything the steps know about one document (KoSIT ``CheckAction.Bag``)."""

    data: bytes
    reference: str
    packs: list  # [(InstalledPack, PackDefinition)], newest first
    max_bytes: int = DEFAULT_MAX_XML_BYTES
    root: etree._Element | None = None
    encoding: str = "UTF-8"
    saxon_doc: object = None
    parse_problem: object = None
    identifier: str | None = None
    pack: object = None  # InstalledPack that decided
    definition: PackDefinition | None = None
    scenario: Scenario | None = None  # the scenario that matched
    #: the scenario whose steps ran: the matched one, or (no match) the pack's plain EN 16931
    #: scenario for the document's syntax, which gives the EN 16931 verdict
    judged_by: Scenario | None = None
    selection_problem: str | None = None  # no-scenario | ambiguous
    matched_names: list[str] = field(default_factory=list)
    xsd_errors: list[tuple[str, int, int]] | None = None  # None = not run
    svrl: list[tuple[_pack.Resource, str, str]] = field(default_factory=list)  # (resource, step, svrl text)
    svrl_roots: list = field(default_factory=list)  # the same outputs, parsed once
    report: str | None = None  # the report XML (VARL)
    report_root: etree._Element | None = None  # the same, parsed by lxml
    report_node: object = None  # the same as a Saxon node, parsed when an acceptMatch needs it
    messages: list[Message] = field(default_factory=list)
    accept: bool | None = None
    steps: dict[str, str] = field(default_factory=dict)  # step -> passed | failed | skipped | error
    errors: list[str] = field(default_factory=list)  # internal failures, in words

    @property
    def stopped(self) -> bool:
        return any(v == "error" for v in self.steps.values())


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
# SVRL is our own Saxon's output; parsed with the safe settings all the same
_SVRL_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
_NOT_ASCII_COMPATIBLE = ("UTF-16", "UTF-32", "UCS-2", "UCS-4", "UTF16", "UTF32")


def saxon_document(data: bytes, encoding: str):
    """Parse the received bytes with Saxon (as KoSIT's parse step does), without changing them."""
    proc = _pack.processor()
    enc = (encoding or "UTF-8").upper()
    if not enc.startswith(_NOT_ASCII_COMPATIBLE):
        try:
            text = data.decode(enc).removeprefix("\ufeff")  # an encoding signature, not content
            return proc.parse_xml(xml_text=text, encoding=enc)
        except (LookupError, UnicodeDecodeError):
            pass
    # UTF-16/32 cannot pass the C string API: Saxon reads the original bytes from a private file
    fd, name = tempfile.mkstemp(suffix=".xml")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return proc.parse_xml(xml_file_name=name)
    finally:
        os.unlink(name)


_xpath_cache: dict[tuple, object] = {}


def xpath_true(expr: str, namespaces: dict[str, str], node) -> bool:
    """Effective boolean value of an XPath (Saxon, XPath 3.1) with the given namespaces."""
    key = (expr, tuple(sorted(namespaces.items())))
    xp = _xpath_cache.get(key)
    if xp is None:
        xp = _pack.processor().new_xpath_processor()
        for prefix, uri in namespaces.items():
            xp.declare_namespace(prefix, uri)
        _xpath_cache[key] = xp
    xp.set_context(xdm_item=node)
    return bool(xp.effective_boolean_value(expr))


# XPath tests (scenario ``match``, ``acceptMatch``) run as one small stylesheet compiled once per
# process: Saxon's XPath processor compiles its expression again on every call, which cost more
# than the stylesheet run. The stylesheet declares what the XPath processor predeclares (xs,
# saxon) and each test's namespaces on its own ``xsl:if``; the result is the same effective
# boolean value. Whenever the stylesheet cannot be compiled or raises, the caller evaluates each
# expression on its own with ``xpath_true`` (so an error in one test decides only that test).
_XSL = "http://www.w3.org/1999/XSL/Transform"
_PREDECLARED = {"xs": "http://www.w3.org/2001/XMLSchema", "saxon": "http://saxon.sf.net/"}
#: functions XSLT adds to XPath: an expression naming one is left to the XPath processor, where
#: it would not compile (no test here may mean more than it does there)
_XSLT_ONLY = re.compile(
    r"(?<![\w.-])(current|document|key|system-property|function-available|element-available|type-available"
    r"|unparsed-entity-uri|unparsed-entity-public-id|regex-group|current-group|current-grouping-key"
    r"|current-merge-group|current-merge-key|current-output-uri|available-system-properties"
    r"|accumulator-before|accumulator-after|copy-of|snapshot|stream-available)\s*\("
)
Tests = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # ((expression, namespaces), ...)
_probes: dict[Tests, object] = {}  # compiled test stylesheet, or False: evaluate one by one


def tests_of(pairs) -> Tests:
    """((expression, {prefix: uri}), ...) as the hashable key of a test stylesheet."""
    return tuple((expr, tuple(sorted(ns.items()))) for expr, ns in pairs)


def _compile_probe(tests: Tests):
    if any(_XSLT_ONLY.search(expr) or any(p in ("", "xsl", "xml") for p, _u in ns) for expr, ns in tests):
        return False
    try:
        root = etree.Element(f"{{{_XSL}}}stylesheet", nsmap={"xsl": _XSL, **_PREDECLARED}, version="3.0")
        etree.SubElement(root, f"{{{_XSL}}}output", method="text")
        template = etree.SubElement(root, f"{{{_XSL}}}template", match="/")
        for i, (expr, ns) in enumerate(tests):
            etree.SubElement(template, f"{{{_XSL}}}if", nsmap=dict(ns), test=expr).text = f"{i} "
        ex = _pack.processor().new_xslt30_processor().compile_stylesheet(stylesheet_text=etree.tostring(root, encoding="unicode"))
    except Exception:  # a namespace lxml refuses; saxonche's PySaxonApiError (a static error)
        return False
    return ex if ex is not None else False


def true_of(tests: Tests, node) -> list[bool] | None:
    """The effective boolean value of each test on ``node`` in one Saxon call (caller holds
    ``saxon_lock``); None when that is not possible (then evaluate each with ``xpath_true``)."""
    if not tests:
        return []
    ex = _probes.get(tests)
    if ex is None:
        ex = _probes[tests] = _compile_probe(tests)
    if ex is False:
        return None
    try:
        out = ex.transform_to_string(xdm_node=node)
    except Exception:  # a dynamic error in one of the tests
        return None
    hits = {int(t) for t in (out or "").split()}
    return [i in hits for i in range(len(tests))]


def step_name(res: _pack.Resource, index: int) -> str:
    """Our stage name for a Schematron resource of the scenario (the report layers)."""
    low = (res.location + " " + res.name).lower()
    if "xrechnung" in low:
        return "xrechnung"
    if "en16931" in low:
        return "en16931"
    return f"schematron-{index + 1}"


def _identifier(root: etree._Element) -> str | None:
    """BT-24 as written (UBL CustomizationID, CII guideline ID), for messages only."""
    v = root.xpath(
        "string((/*/cbc:CustomizationID | /rsm:CrossIndustryInvoice/rsm:ExchangedDocumentContext"
        "/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID)[1])",
        namespaces=NS,
    )
    return v if v else None


# ------------------------------------------------------------------------------------------------
# steps
# ------------------------------------------------------------------------------------------------
def parse(bag: Bag) -> None:
    # the caller may have parsed the same bytes with einvoice.xml.safe already (intake)
    root, problem = (bag.root, None) if bag.root is not None else parse_xml(bag.data, max_bytes=bag.max_bytes)
    if problem is not None:
        bag.parse_problem = problem
        bag.steps["parse"] = "failed"
        return
    bag.root = root
    bag.encoding = declared_encoding(root)
    bag.identifier = _identifier(root)
    try:
        with _pack.saxon_lock:
            bag.saxon_doc = saxon_document(bag.data, bag.encoding)
    except Exception as exc:  # saxonche raises PySaxonApiError
        bag.errors.append(f"Saxon could not read the document: {exc}")
        bag.steps["parse"] = "error"
        return
    bag.steps["parse"] = "passed"


def select_scenario(bag: Bag) -> None:
    q = etree.QName(bag.root)
    doc_root = (q.namespace or "", q.localname)
    with _pack.saxon_lock:
        for inst, defn in bag.packs:
            candidates, tests = _candidates(defn, doc_root)
            hits = true_of(tests, bag.saxon_doc)
            if hits is None:  # one expression at a time: an error decides only its own scenario
                hits = []
                for s in candidates:
                    try:
                        hits.append(xpath_true(s.match, s.namespaces, bag.saxon_doc))
                    except Exception:  # KoSIT: an expression that fails to evaluate does not match
                        hits.append(False)
            matched = [s for s, hit in zip(candidates, hits) if hit]
            if matched:
                bag.pack, bag.definition = inst, defn
                bag.matched_names = [s.name for s in matched]
                if len(matched) == 1:
                    bag.scenario = bag.judged_by = matched[0]
                    bag.steps["scenario"] = "passed"
                else:
                    bag.selection_problem = "ambiguous"
                    bag.steps["scenario"] = "failed"
                return
    # no pack has a scenario for this document: the newest active pack answers, and its plain
    # EN 16931 scenario for the syntax gives the EN 16931 verdict (KoSIT itself only rejects)
    bag.pack, bag.definition = bag.packs[0]
    bag.selection_problem = "no-scenario"
    bag.steps["scenario"] = "failed"
    bag.judged_by = bag.definition.en16931_scenario_for(q.namespace or "", q.localname)


_candidate_cache: dict[tuple, tuple[list[Scenario], Tests]] = {}


def _candidates(defn: PackDefinition, doc_root: tuple[str, str]) -> tuple[list[Scenario], Tests]:
    """The scenarios whose ``match`` can be true for this document element (``exists(/p:Other...)``
    is false for it), and their match tests."""
    key = (str(defn.directory), defn.name, doc_root)
    hit = _candidate_cache.get(key)
    if hit is None:
        scenarios = [s for s in defn.scenarios if s.required_root is None or s.required_root == doc_root]
        hit = _candidate_cache[key] = (scenarios, tests_of((s.match, s.namespaces) for s in scenarios))
    return hit


def prepare(defn: PackDefinition) -> None:
    """Compile the scenario and acceptance tests of a pack (before forking workers)."""
    with _pack.saxon_lock:
        for root in {s.required_root for s in defn.scenarios if s.required_root is not None}:
            tests = _candidates(defn, root)[1]
            if tests not in _probes:
                _probes[tests] = _compile_probe(tests)
        for s in defn.scenarios:
            if s.accept_match and _plain_path(s.accept_match, s.namespaces) is None:
                tests = _accept_tests(s)
                if tests not in _probes:
                    _probes[tests] = _compile_probe(tests)


def _accept_tests(scenario: Scenario) -> Tests:
    ns = dict(scenario.namespaces)
    ns.setdefault("rep", REP_NS)
    return tests_of([(scenario.accept_match, ns)])


def validate_xsd(bag: Bag) -> None:
    errors: list[tuple[str, int, int]] = []
    try:
        for res in bag.judged_by.schema:
            schema = _pack.schema(bag.definition.directory, res.location)
            if not schema.validate(bag.root):
                errors.extend((e.message, e.line, e.column) for e in schema.error_log)
    except Exception as exc:
        bag.errors.append(f"the XML schema could not be applied: {exc}")
        bag.steps["xsd"] = "error"
        return
    bag.xsd_errors = errors
    bag.steps["xsd"] = "failed" if errors else "passed"


def run_schematron(bag: Bag) -> None:
    for i, res in enumerate(bag.judged_by.schematrons):
        name = step_name(res, i)
        try:
            ex = _pack.stylesheet(bag.definition.directory, res.location)
            with _pack.saxon_lock:
                out = ex.transform_to_string(xdm_node=bag.saxon_doc)
            if not out or "schematron-output" not in out:
                raise RuntimeError("no SVRL output")
        except Exception as exc:
            bag.errors.append(f"the Schematron {res.location} could not be run: {exc}")
            bag.steps[name] = "error"
            return
        bag.svrl.append((res, name, out))
        bag.svrl_roots.append(etree.fromstring(out.encode("utf-8"), _SVRL_PARSER))
        bag.steps[name] = "ran"


def _strip_decl(xml: str) -> str:
    return xml.split("?>", 1)[1] if xml.lstrip().startswith("<?xml") else xml


def report_input(bag: Bag, scenario: Scenario | None) -> str:
    """KoSIT's report input document (createReportInput) for ``scenario`` (None: no scenario)."""
    digest = base64.b64encode(hashlib.sha256(bag.data).digest()).decode()
    ts = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    parts = [
        f'<in:createReportInput xmlns:in="{IN_NS}" xmlns:s="{_pack.SCENARIOS_NS}" frameworkVersion="1.0.0">',
        f"<in:engine><in:name>{escape(ENGINE_NAME)}</in:name></in:engine>",
        f"<in:timestamp>{ts}</in:timestamp>",
        (
            "<in:documentIdentification><in:documentHash><in:hashAlgorithm>SHA-256</in:hashAlgorithm>"
            f"<in:hashValue>{digest}</in:hashValue></in:documentHash>"
            f"<in:documentReference>{escape(bag.reference)}</in:documentReference></in:documentIdentification>"
        ),
    ]
    if scenario is not None:
        parts.append(scenario.xml.decode("utf-8"))
        if bag.xsd_errors is not None:
            parts.append("<in:validationResultsXmlSchema>")
            for res in scenario.schema:
                parts.append(f"<s:resource><s:name>{escape(res.name)}</s:name><s:location>{escape(res.location)}</s:location></s:resource>")
            for msg, line, col in bag.xsd_errors:
                parts.append(
                    f"<in:xmlSyntaxError><in:message>{escape(msg)}</in:message><in:severity>SEVERITY_ERROR</in:severity>"
                    f"<in:rowNumber>{line}</in:rowNumber><in:columnNumber>{col}</in:columnNumber></in:xmlSyntaxError>"
                )
            parts.append("</in:validationResultsXmlSchema>")
        for res, _name, svrl in bag.svrl:
            parts.append(
                f"<in:validationResultsSchematron><s:resource><s:name>{escape(res.name)}</s:name>"
                f"<s:location>{escape(res.location)}</s:location></s:resource><in:results>{_strip_decl(svrl)}</in:results>"
                "</in:validationResultsSchematron>"
            )
    parts.append("</in:createReportInput>")
    return "".join(parts)


#: how the report step builds the report: "native" builds KoSIT's report (VARL) in the shape the
#: report stylesheet gives, without its HTML rendering of the invoice (which costs more than all
#: Schematron together); "stylesheet" runs the pack's own report stylesheet. A test proves both
#: give the same messages, levels and acceptance on the corpus for every scenario of the pack.
REPORT_MODE = os.environ.get("EINVOICE_RULEPACK_REPORT", "native")


def create_report(bag: Bag) -> None:
    scenario = bag.judged_by
    res = scenario.report if scenario is not None else bag.definition.no_scenario_report
    if res is None:
        bag.errors.append("the pack names no report stylesheet for this case")
        bag.steps["report"] = "error"
        return
    try:
        if REPORT_MODE == "stylesheet":
            ex = _pack.stylesheet(bag.definition.directory, res.location)
            text = report_input(bag, scenario)
            with _pack.saxon_lock:
                proc = _pack.processor()
                node = proc.parse_xml(xml_text=text)
                ex.set_parameter("input-document", bag.saxon_doc)
                try:
                    out = ex.transform_to_string(xdm_node=node)
                finally:
                    ex.clear_parameters()
        else:
            out = native_report(bag, scenario)
        bag.report_root = etree.fromstring(out.encode("utf-8"), _REPORT_PARSER)
        bag.report = out
    except Exception as exc:
        bag.errors.append(f"the report could not be created: {exc}")
        bag.steps["report"] = "error"
        return
    bag.messages = report_messages(bag.report_root, scenario, bag)
    bag.steps["report"] = "passed"


def _svrl_level(el: etree._Element) -> str:
    """default-report.xsl: the message level of a failed assert / successful report."""
    vals = {el.get("flag"), el.get("role")} - {None}
    if vals & {"fatal", "error"}:
        return "error"
    if vals & {"warning", "warn"}:
        return "warning"
    if vals & {"information", "info"}:
        return "information"
    return "error"


def _xsd_code(msg: str) -> tuple[str, str]:
    """default-report.xsl: Xerces messages "cvc-...: text" keep their code, others are generic."""
    if msg.startswith("cvc-"):
        code = msg.split(": ")[0]
        return code, msg[len(code) + 2:]
    return "generic-error", msg


def native_report(bag: Bag, scenario: Scenario | None) -> str:
    """KoSIT's report (VARL) as the pack's report stylesheet builds it: one validation step
    result per XSD/Schematron step with its messages (level before custom levels, code), and the
    assessment (accept unless a message's custom level is "error"); no HTML explanation."""
    def a(v: str) -> str:
        return escape(v, {'"': "&quot;"})
    steps: list[tuple[str, list[tuple[str, str, str, dict]]]] = []
    if scenario is not None and bag.xsd_errors is not None:
        msgs = []
        for i, (msg, line, col) in enumerate(bag.xsd_errors):
            code, text = _xsd_code(msg)
            attrs = {"lineNumber": str(line)} if line not in (None, -1) else {}
            if col not in (None, -1):
                attrs["columnNumber"] = str(col)
            msgs.append((f"val-xsd.{i + 1}", "error", code, {**attrs, "_text": text}))
        steps.append(("val-xsd", msgs))
    for n, root in enumerate(bag.svrl_roots if scenario is not None else ()):
        msgs = []
        for i, el in enumerate(c for c in root if c.tag in (f"{{{SVRL_NS}}}failed-assert", f"{{{SVRL_NS}}}successful-report")):
            attrs = {"_text": el.findtext(f"{{{SVRL_NS}}}text") or ""}
            if el.get("location") is not None:
                attrs["xpathLocation"] = el.get("location")
            msgs.append((f"val-sch.{n + 1}.{i + 1}", _svrl_level(el), el.get("id") or "UNSPECIFIC", attrs))
        steps.append((f"val-sch.{n + 1}", msgs))
    parts = [f'<rep:report xmlns:rep="{REP_NS}" xmlns:s="{_pack.SCENARIOS_NS}" varlVersion="1.0.0"']
    all_msgs = [m for _sid, ms in steps for m in ms]
    fallback = scenario is not None and "fallback" in " ".join(scenario.name.lower().split())
    valid = scenario is not None and not fallback and bool(steps) and not any(lv in ("warning", "error") for _i, lv, _c, _a in all_msgs)
    parts.append(f' valid="{str(valid).lower()}">')
    parts.append(f"<rep:engine><rep:name>{escape(ENGINE_NAME)}</rep:name></rep:engine>")
    if scenario is None:
        parts.append("<rep:noScenarioMatched/>")
    else:
        parts.append("<rep:scenarioMatched>")
        parts.append(scenario.xml.decode("utf-8"))
        for sid, msgs in steps:
            ok = not any(lv in ("warning", "error") for _i, lv, _c, _a in msgs)
            parts.append(f'<rep:validationStepResult id="{sid}" valid="{str(ok).lower()}">')
            for mid, level, code, attrs in msgs:
                extra = "".join(f' {k}="{a(v)}"' for k, v in attrs.items() if not k.startswith("_"))
                parts.append(f'<rep:message id="{mid}" level="{level}" code="{a(code)}"{extra}>{escape(attrs["_text"])}</rep:message>')
            parts.append("</rep:validationStepResult>")
        parts.append("</rep:scenarioMatched>")
    reject = scenario is None or fallback or any(scenario.level_of(c, lv) == "error" for _i, lv, c, _a in all_msgs)
    parts.append(f"<rep:assessment><rep:{'reject' if reject else 'accept'}/></rep:assessment></rep:report>")
    return "".join(parts)


def _flags(bag: Bag) -> dict[tuple[str, str, str], str]:
    """(step, rule, location) -> the assertion's flag in the rule file, for display."""
    out = {}
    for (_res, name, _svrl), root in zip(bag.svrl, bag.svrl_roots):
        for el in root.iter(f"{{{SVRL_NS}}}failed-assert", f"{{{SVRL_NS}}}successful-report"):
            out[(name, el.get("id") or "UNSPECIFIC", el.get("location") or "")] = el.get("flag") or el.get("role") or ""
    return out


def report_messages(report, scenario: Scenario | None, bag: Bag) -> list[Message]:
    """The report's messages (XML text or its lxml root) with their effective level (the
    stylesheet's ``rep:custom-level``)."""
    root = etree.fromstring(report.encode("utf-8"), _REPORT_PARSER) if isinstance(report, str) else report
    names = {"val-xsd": "xsd", "val-xml": "parse"}
    for i, (_res, name, _svrl) in enumerate(bag.svrl):
        names[f"val-sch.{i + 1}"] = name
    flags = _flags(bag)
    out = []
    for step in root.iter(f"{{{REP_NS}}}validationStepResult"):
        sname = names.get(step.get("id"), step.get("id"))
        for m in step.iterchildren(f"{{{REP_NS}}}message"):
            code, level = m.get("code") or "UNSPECIFIC", m.get("level") or "error"
            eff = scenario.level_of(code, level) if scenario is not None else level
            loc = m.get("xpathLocation")
            if loc is None and m.get("lineNumber"):
                loc = f"line {m.get('lineNumber')}" + (f", column {m.get('columnNumber')}" if m.get("columnNumber") else "")
            out.append(Message(sname, code, level, eff, " ".join("".join(m.itertext()).split()), loc, flags.get((sname, code, loc or ""))))
    return out


_REPORT_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
#: an acceptMatch that is a plain path of named child steps with positions (KoSIT's own is
#: ``/rep:report/rep:assessment[1]/rep:accept[1]``): XPath 1.0 (lxml) and 3.1 (Saxon) select the
#: same nodes, so it is evaluated on the report lxml already parsed, without a Saxon copy
_PLAIN_PATH = re.compile(r"(?:/([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*(?:\[[1-9][0-9]*\])*)+")
_STEP_PREFIX = re.compile(r"/([A-Za-z_][\w.-]*):")
_plain_paths: dict[tuple, etree.XPath | None] = {}


def _plain_path(expr: str, namespaces: dict[str, str]) -> etree.XPath | None:
    """The compiled lxml path for a plain-path acceptMatch; None for any other expression."""
    key = (expr, tuple(sorted(namespaces.items())))
    if key not in _plain_paths:
        ns = {p: u for p, u in namespaces.items() if p and u}
        ns.setdefault("rep", REP_NS)
        xp = None
        if _PLAIN_PATH.fullmatch(expr) and all(p in ns for p in _STEP_PREFIX.findall(expr)):
            try:
                xp = etree.XPath(expr, namespaces=ns)
            except etree.XPathError:
                xp = None  # Saxon decides (and reports its error)
        _plain_paths[key] = xp
    return _plain_paths[key]


def _report_node(bag: Bag):
    """The report as a Saxon node (for an acceptMatch that is not a plain path)."""
    if bag.report_node is None:
        text = bag.report if bag.report is not None else etree.tostring(bag.report_root, encoding="unicode")
        with _pack.saxon_lock:
            bag.report_node = _pack.processor().parse_xml(xml_text=text)
    return bag.report_node


def compute_acceptance(bag: Bag) -> None:
    """KoSIT ``ComputeAcceptanceAction``: ``acceptMatch`` over the report for a schema-valid
    document; otherwise accept only when XSD passed and no Schematron assertion failed."""
    if bag.selection_problem is not None or bag.scenario is None:
        bag.accept = False  # no (single) scenario: KoSIT rejects
        bag.steps["acceptance"] = "failed"
        return
    _decide(bag, bag.scenario)


def _decide(bag: Bag, scenario: Scenario) -> None:
    if bag.xsd_errors is None:
        bag.accept = None
        bag.steps["acceptance"] = "error"
        return
    try:
        if not bag.xsd_errors and scenario.accept_match:
            plain = _plain_path(scenario.accept_match, scenario.namespaces)
            if plain is not None and bag.report_root is not None:
                with _pack.saxon_lock:  # one evaluation at a time, like every other check step
                    bag.accept = bool(plain(bag.report_root))
            else:
                node = _report_node(bag)
                with _pack.saxon_lock:
                    hits = true_of(_accept_tests(scenario), node)
                    if hits is None:  # not as one stylesheet: the XPath processor (raises on an error)
                        ns = dict(scenario.namespaces)
                        ns.setdefault("rep", REP_NS)
                        hits = [xpath_true(scenario.accept_match, ns, node)]
                    bag.accept = hits[0]
        else:
            failed = any(root.find(f"{{{SVRL_NS}}}failed-assert") is not None for root in bag.svrl_roots)
            bag.accept = not bag.xsd_errors and not failed
    except Exception as exc:
        bag.errors.append(f"acceptMatch could not be evaluated: {exc}")
        bag.accept = None
        bag.steps["acceptance"] = "error"
        return
    bag.steps["acceptance"] = "passed" if bag.accept else "failed"


def en16931_verdict(bag: Bag) -> bool | None:
    """For a document without scenario: the decision of the pack's plain EN 16931 scenario."""
    if bag.judged_by is None or bag.stopped or bag.report_root is None:
        return None
    probe = Bag(bag.data, bag.reference, bag.packs)
    probe.xsd_errors, probe.svrl, probe.svrl_roots = bag.xsd_errors, bag.svrl, bag.svrl_roots
    probe.report, probe.report_root, probe.report_node = bag.report, bag.report_root, bag.report_node
    _decide(probe, bag.judged_by)
    return probe.accept


Step = tuple[str, Callable[[Bag], None], Callable[[Bag], bool]]

#: the check, in order: (name, action, skip-condition)
STEPS: list[Step] = [
    ("parse", parse, lambda b: False),
    ("scenario", select_scenario, lambda b: b.root is None or b.stopped),
    # KoSIT skips the XSD only without a scenario (its fallback has no schema)
    ("xsd", validate_xsd, lambda b: b.judged_by is None or b.stopped),
    ("schematron", run_schematron, lambda b: b.judged_by is None or b.stopped or b.xsd_errors is None or bool(b.xsd_errors)),
    ("report", create_report, lambda b: b.definition is None or b.stopped),
    ("acceptance", compute_acceptance, lambda b: b.definition is None or b.stopped or b.root is None),
]


def run(data: bytes, packs: list, *, reference: str = "", max_bytes: int = DEFAULT_MAX_XML_BYTES, root=None) -> Bag:
    """Run the steps on ``data`` with the active ``packs`` ([(InstalledPack, PackDefinition)],
    newest first). ``root``: the same bytes already parsed by ``einvoice.xml.safe`` (optional).
    Never raises for bad input; internal failures are steps in state ``error``."""
    bag = Bag(data, reference, packs, max_bytes=max_bytes, root=root)
    for name, action, skip in STEPS:
        if skip(bag):
            continue
        try:
            action(bag)
        except Exception as exc:  # a bug must not look like a verdict
            bag.errors.append(f"step {name} failed: {type(exc).__name__}: {exc}")
            bag.steps[name] = "error"
    return bag
