"""One rule pack as data: KoSIT's ``scenarios.xml`` read into scenarios, and its compiled resources.

A rule pack is an official validator configuration (e.g. KoSIT's validator-configuration-xrechnung
release): ``scenarios.xml`` plus the XSDs, Schematron XSLTs and report XSLT it names under
``resources/``. This module reads the scenario file (name, namespaces, ``match``, XSD, Schematron
stylesheets, report stylesheet with its ``customLevel`` entries, ``acceptMatch``) and compiles
what a check needs: lxml XML schemas and Saxon executables, once per process (``compiled``).

This module must never load a resource from outside the pack directory (no network, no paths
named by a document) and never modify a pack file; the integrity of the files is checked by
``store`` before a pack is handed to this module.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from lxml import etree

from einvoice.validation import xpath

SCENARIOS_NS = "http://www.xoev.de/de/validator/framework/1/scenarios"
_S = f"{{{SCENARIOS_NS}}}"
#: the identifier of plain EN 16931 (no CIUS, no extension)
EN16931_ID = "urn:cen.eu:en16931:2017"
LEVELS = ("error", "warning", "information")


class PackError(ValueError):
    """The pack's own files are unusable (missing resource, malformed scenarios.xml, ...)."""


@dataclass(frozen=True)
class Resource:
    name: str
    location: str  # relative to the pack directory


@dataclass(frozen=True)
class Scenario:
    name: str
    namespaces: dict[str, str]
    match: str
    accept_match: str | None
    schema: tuple[Resource, ...]
    schematrons: tuple[Resource, ...]
    report: Resource | None
    #: rule ID -> level from <customLevel level="...">ID ID ...</customLevel>
    custom_levels: dict[str, str]
    #: the <scenario> element as written, for the report stylesheet's input (s:scenario)
    xml: bytes = field(repr=False, default=b"")

    @property
    def identifiers(self) -> tuple[str, ...]:
        """The specification identifiers (BT-24) the match expression compares with."""
        return tuple(a or b for a, b in re.findall(r"'([^']*)'|\"([^\"]*)\"", self.match))

    @property
    def root_element(self) -> tuple[str, str] | None:
        """(namespace, local name) of the document element the match expression starts from."""
        m = re.search(r"/\s*([\w.-]+):([\w.-]+)", self.match)
        if not m or m.group(1) not in self.namespaces:
            return None
        return self.namespaces[m.group(1)], m.group(2)

    @cached_property
    def required_root(self) -> tuple[str, str] | None:
        """(namespace, local name) the document element must have for ``match`` to be true at all,
        when the expression is exactly ``exists(/p:Name...)`` with one path (no union, no ``or``
        outside brackets); None when that cannot be told from the text (then Saxon decides)."""
        return _required_root(self.match, self.namespaces)

    def level_of(self, rule: str, level: str) -> str:
        """The effective level of a message after the scenario's custom levels."""
        return self.custom_levels.get(rule, level)


def _required_root(expr: str, namespaces: dict[str, str]) -> tuple[str, str] | None:
    m = re.fullmatch(r"\s*exists\(\s*/([\w.-]+):([\w.-]+)([\[/].*)\)\s*", expr, re.S)
    if not m or m.group(1) not in namespaces:
        return None
    rest = m.group(3)
    # unbalanced: among others, the exists( closes early and more follows at top level
    positions, balanced = xpath.top_level(rest)
    if not balanced:
        return None
    if any(rest[i] in "|," or re.match(r"\s(or|and|union|except|intersect)\s", rest[i:]) for i in positions):
        return None
    return namespaces[m.group(1)], m.group(2)


@dataclass(frozen=True)
class PackDefinition:
    directory: Path
    name: str
    author: str
    date: str
    scenarios: tuple[Scenario, ...]
    no_scenario_report: Resource | None

    @property
    def identifiers(self) -> list[str]:
        seen: list[str] = []
        for s in self.scenarios:
            for i in s.identifiers:
                if i not in seen:
                    seen.append(i)
        return seen

    def resources(self) -> set[str]:
        out = set()
        for s in self.scenarios:
            out.update(r.location for r in s.schema + s.schematrons)
            if s.report:
                out.add(s.report.location)
        if self.no_scenario_report:
            out.add(self.no_scenario_report.location)
        return out

    def en16931_scenario_for(self, root_ns: str, root_local: str) -> Scenario | None:
        """The scenario for plain EN 16931 of this syntax (identifier exactly EN16931_ID)."""
        for s in self.scenarios:
            if s.identifiers == (EN16931_ID,) and s.root_element == (root_ns, root_local):
                return s
        return None


def _text(el: etree._Element | None) -> str:
    return " ".join((el.text or "").split()) if el is not None else ""


def _resource(el: etree._Element | None) -> Resource | None:
    if el is None:
        return None
    return Resource(_text(el.find(_S + "name")), (el.findtext(_S + "location") or "").strip())


def read_definition(directory: Path) -> PackDefinition:
    """Read ``scenarios.xml`` of an (already verified) pack directory."""
    path = directory / "scenarios.xml"
    try:
        # a trusted, hash-checked pack file; parsed with the safe settings all the same
        tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except (OSError, etree.XMLSyntaxError) as exc:
        raise PackError(f"{path}: scenarios.xml cannot be read: {exc}") from exc
    root = tree.getroot()
    if root.tag != _S + "scenarios":
        raise PackError(f"{path}: not a validator scenario file (root {root.tag})")
    scenarios = []
    for s in root.iterchildren(_S + "scenario"):
        name = _text(s.find(_S + "name"))
        ns = {n.get("prefix"): (n.text or "").strip() for n in s.iterchildren(_S + "namespace")}
        match = (s.findtext(_S + "match") or "").strip()
        if not name or not match:
            raise PackError(f"{path}: a scenario without name or match")
        xsd = tuple(r for r in (_resource(x) for x in s.iterfind(f"{_S}validateWithXmlSchema/{_S}resource")) if r)
        sch = tuple(r for r in (_resource(x) for x in s.iterfind(f"{_S}validateWithSchematron/{_S}resource")) if r)
        cr = s.find(_S + "createReport")
        levels: dict[str, str] = {}
        if cr is not None:
            for cl in cr.iterchildren(_S + "customLevel"):
                level = (cl.get("level") or "").strip()
                if level not in LEVELS:
                    raise PackError(f"{path}: scenario {name!r}: customLevel level {level!r} is not one of {', '.join(LEVELS)}")
                for rule in (cl.text or "").split():
                    if rule in levels:
                        # KoSIT's report stylesheet fails on a rule named twice (as element()?)
                        raise PackError(f"{path}: scenario {name!r}: rule {rule} has two custom levels")
                    levels[rule] = level
        scenarios.append(
            Scenario(
                name=name,
                namespaces=ns,
                match=match,
                accept_match=(s.findtext(_S + "acceptMatch") or "").strip() or None,
                schema=xsd,
                schematrons=sch,
                report=_resource(cr.find(_S + "resource")) if cr is not None else None,
                custom_levels=levels,
                xml=etree.tostring(s),
            )
        )
    if not scenarios:
        raise PackError(f"{path}: no scenario")
    nsr = root.find(_S + "noScenarioReport")
    return PackDefinition(
        directory=directory,
        name=_text(root.find(_S + "name")),
        author=_text(root.find(_S + "author")),
        date=_text(root.find(_S + "date")),
        scenarios=tuple(scenarios),
        no_scenario_report=_resource(nsr.find(_S + "resource")) if nsr is not None else None,
    )


# ------------------------------------------------------------------------------------------------
# compiled resources (once per process; workers forked after ``warm`` inherit them)
# ------------------------------------------------------------------------------------------------
_lock = threading.RLock()
#: one Saxon call at a time per process (SaxonC does not promise thread safety; processes scale),
#: shared with the built-in engine's Saxon calls so a threaded caller never runs both at once
try:
    from einvoice.validation.schematron import _run_lock as saxon_lock
except ImportError:  # pragma: no cover - the built-in engine changed: our own lock then
    saxon_lock = threading.Lock()
_processor = None
_schemas: dict[str, etree.XMLSchema] = {}
_xslts: dict[str, object] = {}
_paths: dict[tuple[Path, str], Path] = {}


def processor():
    global _processor
    if _processor is None:
        with _lock:
            if _processor is None:
                from saxonche import PySaxonProcessor

                _processor = PySaxonProcessor(license=False)
    return _processor


def _inside(directory: Path, location: str) -> Path:
    hit = _paths.get((directory, location))
    if hit is not None:
        return hit
    p = (directory / location).resolve()
    if directory.resolve() not in p.parents:
        raise PackError(f"resource {location!r} lies outside the pack directory")
    if not p.is_file():
        raise PackError(f"resource {location!r} is missing from the pack")
    _paths[(directory, location)] = p
    return p


class _NoNetworkResolver(etree.Resolver):
    """XSD imports may only name files inside the pack."""

    def __init__(self, directory: Path):
        super().__init__()
        self.directory = directory.resolve()

    def resolve(self, url, pubid, context):
        if url and re.match(r"^[a-z][a-z0-9+.-]*://", url) and not url.startswith("file:"):
            raise PackError(f"the pack's XSD refers to {url}; rule packs must be self-contained")


def schema(directory: Path, location: str) -> etree.XMLSchema:
    path = _inside(directory, location)
    key = str(path)
    s = _schemas.get(key)
    if s is None:
        with _lock:
            s = _schemas.get(key)
            if s is None:
                parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
                parser.resolvers.add(_NoNetworkResolver(directory))
                try:
                    s = etree.XMLSchema(etree.parse(str(path), parser))
                except (etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
                    raise PackError(f"the pack's XSD {location} cannot be loaded: {exc}") from exc
                _schemas[key] = s
    return s


def stylesheet(directory: Path, location: str):
    """The compiled Saxon executable of an XSLT in the pack, unchanged (no load-time edits)."""
    path = _inside(directory, location)
    key = str(path)
    ex = _xslts.get(key)
    if ex is None:
        with _lock, saxon_lock:
            ex = _xslts.get(key)
            if ex is None:
                try:
                    x = processor().new_xslt30_processor()
                    x.set_cwd(str(path.parent))
                    ex = x.compile_stylesheet(stylesheet_file=str(path))
                except Exception as exc:  # saxonche raises PySaxonApiError
                    raise PackError(f"the pack's stylesheet {location} cannot be compiled: {exc}") from exc
                if ex is None:
                    raise PackError(f"the pack's stylesheet {location} cannot be compiled")
                _xslts[key] = ex
    return ex


def compile_all(defn: PackDefinition) -> None:
    """Load every XSD and compile every stylesheet the pack names (about 1 s for XRechnung)."""
    for s in defn.scenarios:
        for r in s.schema:
            schema(defn.directory, r.location)
        for r in s.schematrons + ((s.report,) if s.report else ()):
            stylesheet(defn.directory, r.location)
