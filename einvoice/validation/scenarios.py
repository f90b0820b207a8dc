"""Scenario choice and custom rule levels of the built-in rules, the way KoSIT's validator does it.

KoSIT's validator (with its XRechnung configuration) picks a *scenario* by an exact comparison of
the specification identifier (BT-24) and then changes the severity of some rules for that
scenario ("custom levels": e.g. BR-CL-23 is only a warning for XRechnung, the Extension makes
BR-CL-10/11/21/24/25/26 information). The built-in engine uses the same table here, written in
our own code, so that its verdict never contradicts the official configuration:

- ``select`` evaluates the same match conditions with XPath on the parsed document: UBL Invoice
  compares the *string value* of ``cbc:CustomizationID``; UBL CreditNote and CII compare each
  *text node* (``.../ram:ID/text() = '…'``), so an identifier split by a comment matches no
  scenario there. Nothing is trimmed: a trailing space matches no scenario either.
- an identifier that matches no scenario is rejected with the finding ``KOSIT-SCENARIO``
  naming the identifier found and the supported ones, like KoSIT ("no scenario"). Two kinds of
  documents KoSIT's XRechnung configuration does not cover at all are judged by the built-in
  EN 16931 rules instead, with an information finding: Factur-X/ZUGFeRD documents (our own
  Factur-X rules apply) and Peppol BIS Billing 3.0 / ZUGFeRD 1.0 identifiers on UBL/CII
  documents (the plain EN 16931 verdict, as ``expected-dev-kosit.json`` records it).

This module must never match loosely (no trimming, no case folding, no prefix match) and never
change a rule's severity outside the scenario that says so. The official rule pack engine (a
separate module) reads KoSIT's own ``scenarios.xml``; this table is only for the built-in rules.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from lxml import etree

from einvoice.xml.namespaces import NS

#: said by every report of the built-in engine (report JSON, HTML, CLI)
BUILTIN_RULES_NOTE = "built-in rules, not the official KoSIT configuration"

XR = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
XR_EXTENSION = XR + "#conformant#urn:xeinkauf.de:kosit:extension:xrechnung_3.0"
XR_CVD = XR + "#compliant#urn:xeinkauf.de:kosit:xrechnung:cvd_0.9"
EN16931 = "urn:cen.eu:en16931:2017"

#: identifiers outside KoSIT's XRechnung configuration that the built-in EN 16931 rules judge
PEPPOL_BIS3 = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
OTHER_ACCEPTED_PREFIXES = ("urn:ferd:CrossIndustryDocument:invoice:1p0:",)

_W, _I, _E = "warning", "info", "error"
# KoSIT XRechnung configuration 3.0.2 (validator-configuration-xrechnung v2026-01-31), per scenario
_XR_UBL_INV = {"BR-CL-23": _W, "BR-CL-21": _W, "UBL-CR-646": _E}
_XR_UBL_CN = {"BR-CL-23": _W, "BR-CL-21": _W}
_XR_CII = {"BR-CL-23": _W, "BR-CL-21": _W, "CII-SR-452": _E, "CII-SR-453": _E, "CII-SR-454": _E}
_EXT_UBL = {"BR-CL-21": _I, "BR-CL-23": _W, "BR-CL-24": _I, "BR-CL-10": _I, "BR-CL-11": _I, "BR-CL-25": _I,
            "BR-CL-26": _I, "BR-CO-16": _I, "UBL-CR-470": _I, "UBL-CR-646": _I}
_EXT_CII = {"BR-CL-23": _W, "BR-CL-21": _I, "BR-CL-11": _I, "BR-CL-10": _I, "BR-CL-24": _I, "BR-CL-25": _I,
            "BR-CL-26": _I, "CII-SR-452": _E, "CII-SR-453": _E, "CII-SR-454": _E}
_CVD_UBL = {"BR-CL-13": _I, "BR-CL-23": _W, "BR-CL-21": _W, "UBL-CR-646": _E}
_CVD_CII = {"BR-CL-13": _I, "BR-CL-23": _W, "BR-CL-21": _W, "CII-SR-452": _E, "CII-SR-453": _E, "CII-SR-454": _E}


@dataclass(frozen=True)
class Scenario:
    name: str
    syntax: str  # ubl-invoice | ubl-creditnote | cii
    identifier: str
    xrechnung: bool
    extension: bool = False
    custom_levels: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))


def _sc(name, syntax, ident, levels, *, xr=True, ext=False) -> Scenario:
    return Scenario(name, syntax, ident, xr, ext, MappingProxyType(dict(levels)))


SCENARIOS: tuple[Scenario, ...] = (
    _sc("EN16931 XRechnung (UBL Invoice)", "ubl-invoice", XR, _XR_UBL_INV),
    _sc("EN16931 XRechnung Extension (UBL Invoice)", "ubl-invoice", XR_EXTENSION, _EXT_UBL, ext=True),
    _sc("EN16931 XRechnung CVD (UBL Invoice)", "ubl-invoice", XR_CVD, _CVD_UBL),
    _sc("EN16931 XRechnung (UBL CreditNote)", "ubl-creditnote", XR, _XR_UBL_CN),
    _sc("EN16931 XRechnung CVD (UBL CreditNote)", "ubl-creditnote", XR_CVD, _CVD_UBL),
    _sc("EN16931 XRechnung (CII)", "cii", XR, _XR_CII),
    _sc("EN16931 XRechnung Extension (CII)", "cii", XR_EXTENSION, _EXT_CII, ext=True),
    _sc("EN16931 XRechnung CVD (CII)", "cii", XR_CVD, _CVD_CII),
    _sc("EN16931 (UBL Invoice)", "ubl-invoice", EN16931, {}, xr=False),
    _sc("EN16931 (UBL CreditNote)", "ubl-creditnote", EN16931, {}, xr=False),
    _sc("EN16931 (CII)", "cii", EN16931, {}, xr=False),
)

# The match conditions of the scenarios, per syntax (string value for UBL Invoice, text nodes for
# CreditNote and CII); $id is the scenario's identifier.
_MATCH = {
    "ubl-invoice": etree.XPath("boolean(/ubl:Invoice/cbc:CustomizationID[. = $id])", namespaces=NS),
    "ubl-creditnote": etree.XPath("boolean(/cn:CreditNote[cbc:CustomizationID/text() = $id])", namespaces=NS),
    "cii": etree.XPath(
        "boolean(/rsm:CrossIndustryInvoice[rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text() = $id])",
        namespaces=NS,
    ),
}
_FOUND = {
    "ubl-invoice": etree.XPath("/ubl:Invoice/cbc:CustomizationID", namespaces=NS),
    "ubl-creditnote": etree.XPath("/cn:CreditNote/cbc:CustomizationID", namespaces=NS),
    "cii": etree.XPath("/rsm:CrossIndustryInvoice/rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", namespaces=NS),
}


@dataclass(frozen=True)
class Choice:
    """Result of the scenario choice for one document."""

    scenario: Scenario | None
    #: identifiers as written (string values, with any spaces), for messages
    found: tuple[str, ...]
    #: "matched" | "no-scenario" (reject) | "ambiguous" (reject) | "outside" (other specification,
    #: built-in EN 16931 verdict)
    outcome: str

    @property
    def rejects(self) -> bool:
        return self.outcome in ("no-scenario", "ambiguous")


def supported(syntax: str) -> list[str]:
    return [s.identifier for s in SCENARIOS if s.syntax == syntax]


def select(root: etree._Element, syntax: str, *, facturx: bool = False) -> Choice:
    """The scenario whose match condition holds for ``root`` (exactly one), else the outcome."""
    if syntax not in _MATCH:
        return Choice(None, (), "outside")
    found = tuple("".join(e.itertext()) for e in _FOUND[syntax](root))
    hits = [s for s in SCENARIOS if s.syntax == syntax and _MATCH[syntax](root, id=s.identifier)]
    if len(hits) == 1:
        return Choice(hits[0], found, "matched")
    if len(hits) > 1:
        return Choice(None, found, "ambiguous")
    if facturx:
        return Choice(None, found, "outside")
    if len(found) == 1 and (found[0] == PEPPOL_BIS3 or found[0].startswith(OTHER_ACCEPTED_PREFIXES)):
        return Choice(None, found, "outside")
    return Choice(None, found, "no-scenario")


def message(choice: Choice, syntax: str) -> str:
    """The text of the KOSIT-SCENARIO finding (German for the clerk, identifiers verbatim)."""
    shown = ", ".join(repr(f) for f in choice.found) if choice.found else "keine"
    wanted = ", ".join(repr(s) for s in supported(syntax))
    if choice.outcome == "ambiguous":
        return (f"[KOSIT-SCENARIO] Mehrere Prüfszenarien passen auf die Spezifikationskennung (BT-24) {shown}; "
                "KoSIT weist ein solches Dokument zurück.")
    if choice.outcome == "outside":
        return (f"[KOSIT-SCENARIO] Die Spezifikationskennung (BT-24) {shown} gehört zu keinem Szenario der "
                "XRechnung-Konfiguration von KoSIT; das Dokument wurde nach den EN-16931-Regeln (bzw. Factur-X/ZUGFeRD) "
                "geprüft. Für eine XRechnung muss die Kennung exakt einer der folgenden sein: " + wanted + ".")
    return (f"[KOSIT-SCENARIO] Kein Prüfszenario passt: gefundene Spezifikationskennung (BT-24) {shown}; "
            f"unterstützt werden genau (Zeichen für Zeichen, ohne Leerzeichen, ohne Kommentare darin): {wanted}. "
            "KoSIT weist das Dokument ohne weitere Prüfung zurück; bitte beim Absender eine Rechnung mit einer "
            "gültigen Kennung anfordern.")


def apply_custom_levels(findings: list, scenario: Scenario | None, stages=("en16931", "xrechnung")) -> list:
    """Findings with the scenario's custom levels applied to the rule layers (``stages``)."""
    if scenario is None or not scenario.custom_levels:
        return findings
    from einvoice.validation.report import Finding

    out = []
    for f in findings:
        level = scenario.custom_levels.get(f.rule) if f.stage in stages else None
        out.append(Finding(f.rule, level, f.message, f.location, f.stage) if level and level != f.severity else f)
    return out
