"""Rule packs on a configuration of our own (tests/rulepacks/conftest.py): install + manifest,
integrity refusal, ``rules list``, validity windows, and each step of the KoSIT check."""
from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from einvoice.rulepacks import store
from einvoice.rulepacks.pack import PackError
from einvoice.validation import ValidationConfig, validate
from einvoice.validation.html import render_reports
from tests.rulepacks.conftest import TOY_ID, toy_invoice, write_toy_pack

CFG = ValidationConfig(build_model=False)


def _rules(*args):
    from einvoice.rulepacks.cli import rules

    return CliRunner().invoke(rules, list(args), catch_exceptions=False)


# ------------------------------------------------------------------------------ install / verify
def test_install_records_the_sha256_of_every_file(toy_pack_source, pack_dir):
    p = store.install(toy_pack_source, root=pack_dir)
    manifest = json.loads((p.directory / store.MANIFEST).read_text())["files"]
    assert sorted(manifest) == ["resources/report.xsl", "resources/toy-en16931.xsl", "resources/toy.xsd", "scenarios.xml"]
    assert manifest["resources/toy.xsd"] == store.sha256_file(toy_pack_source / "resources" / "toy.xsd")
    assert p.identifiers == (TOY_ID, "urn:cen.eu:en16931:2017")
    store.verify(p)  # unchanged: accepted


@pytest.mark.parametrize("tamper", ["change", "remove", "add", "manifest"])
def test_a_changed_pack_is_refused_at_load_time(toy_pack_source, pack_dir, tamper):
    p = store.install(toy_pack_source, root=pack_dir)
    target = p.directory / "resources" / "toy-en16931.xsl"
    target.chmod(0o644)
    if tamper == "change":
        target.write_text(target.read_text().replace("TOY-1", "TOY-X"))
    elif tamper == "remove":
        target.unlink()
    elif tamper == "add":
        (p.directory / "resources" / "extra.xsl").write_text("<x/>")
    else:
        m = p.directory / store.MANIFEST
        m.chmod(0o644)
        m.write_text(m.read_text().replace('"scenarios.xml"', '"scenarios.xml" '))
    with pytest.raises(store.PackIntegrityError) as exc:
        store.verify(p)
    if tamper != "manifest":
        assert "toy-en16931.xsl" in str(exc.value) or "extra.xsl" in str(exc.value)
    # the engine refuses to judge with it: "not validated", never a verdict from other rules
    rep = validate(toy_invoice(), "t.xml", config=CFG)
    assert rep.valid is None
    assert "RULEPACK-INTEGRITY" in {f.rule for f in rep.findings}
    res = _rules("list", "--dir", str(pack_dir))
    assert res.exit_code == 1 and "REFUSED" in res.output


def test_install_refuses_a_release_with_missing_resources(toy_pack_source, pack_dir):
    (toy_pack_source / "resources" / "toy.xsd").unlink()
    with pytest.raises(PackError, match="resources/toy.xsd"):
        store.install(toy_pack_source, root=pack_dir)
    assert store.installed(pack_dir) == []


def test_install_from_zip_and_refuse_path_traversal(toy_pack_source, pack_dir, tmp_path):
    z = tmp_path / "validator-configuration-toy_1.0_2026-12-01.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in toy_pack_source.rglob("*"):
            if f.is_file():
                zf.write(f, f.relative_to(toy_pack_source).as_posix())
    p = store.install(z, root=pack_dir)
    assert p.id == "validator-configuration-toy_1.0_2026-12-01"
    store.verify(p)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("scenarios.xml", (toy_pack_source / "scenarios.xml").read_text())
        zf.writestr("../escape.txt", "x")
    with pytest.raises(PackError, match="outside"):
        store.install(bad, root=pack_dir)
    assert not (pack_dir.parent / "escape.txt").exists()


def test_rules_list_shows_packs_versions_identifiers_and_windows(toy_pack_source, pack_dir, tmp_path):
    res = _rules("list", "--dir", str(pack_dir))
    assert "no rule pack installed" in res.output and "built-in rules" in res.output
    res = _rules("install", str(toy_pack_source), "--dir", str(pack_dir), "--valid-until", "2026-12-31")
    assert res.exit_code == 0, res.output
    v2 = write_toy_pack(tmp_path / "toy-2.0", name="Toy Configuration 2.0", ident="urn:example:toy-cius-2")
    res = _rules("install", str(v2), "--dir", str(pack_dir), "--valid-from", "2027-01-01")
    assert res.exit_code == 0, res.output
    out = _rules("list", "--dir", str(pack_dir)).output
    lines = [line.strip() for line in out.splitlines()]
    assert lines[0] == "Toy Configuration"  # one family, two versions
    assert "1.0 (2026-12-01)  id=toy-1.0" in lines and "2.0 (2026-12-01)  id=toy-2.0" in lines
    assert any(line.startswith("valid (receipt date): open .. 2026-12-31") and "files ok" in line for line in lines)
    assert any(line.startswith("valid (receipt date): 2027-01-01 .. open") for line in lines)
    assert TOY_ID in lines and "urn:example:toy-cius-2" in lines
    # a second install under the same id is refused unless replaced
    res = _rules("install", str(toy_pack_source), "--dir", str(pack_dir))
    assert res.exit_code == 1 and "already installed" in res.output
    res = _rules("window", "toy-1.0", "--dir", str(pack_dir), "--valid-from", "2027-02-01", "--valid-until", "2027-01-01")
    assert res.exit_code == 1 and "before it starts" in res.output


# ------------------------------------------------------------------------------ the check steps
@pytest.fixture
def toy(toy_pack_source, pack_dir):
    return store.install(toy_pack_source, root=pack_dir)


def test_accept_names_pack_and_scenario(toy):
    rep = validate(toy_invoice(), "t.xml", config=CFG)
    assert rep.valid is True and rep.accepted is True
    assert rep.rule_pack.startswith("toy-1.0 ") and rep.scenario == "Toy CIUS (UBL Invoice)" and rep.scenario_matched
    d = rep.to_dict()
    assert d["rule_pack"] == rep.rule_pack and d["scenario"] == "Toy CIUS (UBL Invoice)" and "official KoSIT" in d["rules_basis"]
    assert rep.stages == {"intake": "passed", "parse": "passed", "scenario": "passed", "xsd": "passed", "en16931": "passed", "acceptance": "passed"}


def test_error_rejects(toy):
    rep = validate(toy_invoice(number=False), "t.xml", config=CFG)
    assert rep.valid is False and rep.accepted is False
    f = next(f for f in rep.findings if f.rule == "TOY-1")
    assert (f.severity, f.rule_severity, f.stage, f.location) == ("error", "fatal", "en16931", "/invoice:Invoice")
    assert rep.stages["en16931"] == "failed"


def test_custom_level_downgrades_and_is_reported(toy):
    rep = validate(toy_invoice(note=True, due=True), "t.xml", config=CFG)
    assert rep.valid is True and rep.accepted is True
    sev = {f.rule: (f.severity, f.rule_severity) for f in rep.findings}
    assert sev["TOY-2"] == ("warning", "fatal")  # customLevel warning over the rule's fatal
    assert sev["TOY-3"] == ("warning", "warning")
    j = json.loads(rep.to_json())
    t2 = next(f for f in j["findings"] if f["rule"] == "TOY-2")
    assert t2["effective_severity"] == "warning" and t2["rule_severity"] == "fatal"
    html = render_reports([rep], "en")
    assert "toy-1.0" in html and "Toy CIUS (UBL Invoice)" in html and "fatal → warning" in html


def test_local_override_acts_on_top_of_custom_levels(toy):
    rep = validate(toy_invoice(due=True), "t.xml", config=ValidationConfig(build_model=False, severity_overrides={"TOY-3": "error"}))
    assert rep.valid is False
    assert rep.accepted is True  # KoSIT's own decision is still reported as it is


def test_failed_xsd_is_invalid_and_stops(toy):
    rep = validate(toy_invoice(number=False, bogus=True), "t.xml", config=CFG)
    assert rep.valid is False and rep.accepted is False
    assert rep.stages["xsd"] == "failed" and rep.stages["en16931"] == "skipped"
    assert "TOY-1" not in {f.rule for f in rep.findings}  # KoSIT runs no Schematron after a failed XSD
    assert any(f.rule == "XSD" and f.severity == "error" for f in rep.findings)


def test_no_scenario_names_the_identifier_found_and_those_supported(toy):
    rep = validate(toy_invoice(ident="urn:example:unknown"), "t.xml", config=CFG)
    assert rep.accepted is False and rep.scenario_matched is False
    f = next(f for f in rep.findings if f.rule == "KOSIT-NO-SCENARIO")
    assert "'urn:example:unknown'" in f.message and TOY_ID in f.message and "urn:cen.eu:en16931:2017" in f.message
    # the EN 16931 verdict comes from the pack's plain EN 16931 scenario for the syntax
    assert rep.scenario == "EN16931 (UBL Invoice)" and rep.valid is True
    assert rep.stages["scenario"] == rep.stages["acceptance"] == "skipped" and rep.stages["en16931"] == "passed"
    assert validate(toy_invoice(ident="urn:example:unknown", number=False), "t.xml", config=CFG).valid is False


def test_identifier_is_compared_exactly(toy):
    rep = validate(toy_invoice(ident=TOY_ID + " "), "t.xml", config=CFG)
    assert rep.scenario_matched is False and rep.accepted is False


def test_several_matching_scenarios_are_not_accepted(tmp_path, pack_dir):
    store.install(write_toy_pack(tmp_path / "dup", duplicate=True), root=pack_dir)
    rep = validate(toy_invoice(), "t.xml", config=CFG)
    assert rep.accepted is False and rep.valid is None
    f = next(f for f in rep.findings if f.rule == "KOSIT-SCENARIO-AMBIGUOUS")
    assert "Toy CIUS (UBL Invoice)" in f.message and "Toy CIUS again (UBL Invoice)" in f.message


def test_receipt_date_and_identifier_choose_the_pack(tmp_path, pack_dir):
    """XRechnung 4.0 transition: the old pack until its end, the new one from its start, both
    in between; an identifier only the new pack knows goes to the new pack."""
    store.install(write_toy_pack(tmp_path / "old"), root=pack_dir, pack_id="old", valid_until=dt.date(2027, 6, 30))
    store.install(write_toy_pack(tmp_path / "new", name="Toy Configuration 2.0", ident="urn:example:toy-cius-2"),
                  root=pack_dir, pack_id="new", valid_from=dt.date(2027, 1, 1))
    old_doc, new_doc = toy_invoice(), toy_invoice(ident="urn:example:toy-cius-2")
    r = validate(old_doc, "t.xml", config=CFG, received=dt.date(2026, 12, 1))
    assert r.rule_pack.startswith("old ") and r.accepted
    r = validate(new_doc, "t.xml", config=CFG, received=dt.date(2026, 12, 1))
    assert r.rule_pack.startswith("old ") and r.accepted is False  # not yet known
    r = validate(old_doc, "t.xml", config=CFG, received=dt.date(2027, 3, 1))
    assert r.rule_pack.startswith("old ") and r.accepted  # transition: both accepted
    r = validate(new_doc, "t.xml", config=CFG, received=dt.date(2027, 3, 1))
    assert r.rule_pack.startswith("new ") and r.accepted
    r = validate(old_doc, "t.xml", config=CFG, received=dt.date(2027, 7, 1))
    assert r.rule_pack.startswith("new ") and r.accepted is False
    store.set_window("new", dt.date(2027, 1, 1), dt.date(2027, 12, 31), root=pack_dir)
    r = validate(old_doc, "t.xml", config=CFG, received=dt.date(2028, 1, 1))
    assert r.rule_pack is None  # no pack covers that day: said so, never hidden
    assert r.rules_basis == ("built-in rules, not the official KoSIT configuration (no installed rule pack is valid "
                             "on the receipt date 2028-01-01: see einvoice rules list)")


def test_without_a_pack_the_report_says_built_in(pack_dir):
    from tests.validation.fixtures import UBL

    rep = validate(UBL, "t.xml", config=CFG)
    # the built-in engine names the KoSIT scenario its rules followed (einvoice.validation.scenarios)
    assert rep.rule_pack is None and rep.scenario == "EN16931 XRechnung (UBL Invoice)"
    assert rep.rules_basis == "built-in rules, not the official KoSIT configuration"
    assert rep.to_dict()["rules_basis"] == rep.rules_basis
    assert "built-in rules, not the official KoSIT configuration" in render_reports([rep], "en")


def test_broken_stylesheet_is_not_validated_never_valid(tmp_path, pack_dir):
    src = write_toy_pack(tmp_path / "broken")
    (src / "resources" / "toy-en16931.xsl").write_text((src / "resources" / "toy-en16931.xsl").read_text().replace("</xsl:stylesheet>", ""))
    store.install(src, root=pack_dir)
    rep = validate(toy_invoice(), "t.xml", config=CFG)
    assert rep.valid is None and rep.accepted is not True
    assert "RULEPACK-ERROR" in {f.rule for f in rep.findings}


def test_pack_reports_follow_the_report_json_schema(toy, tmp_path):
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "report.schema.json").read_text())
    for data in (toy_invoice(), toy_invoice(note=True), toy_invoice(number=False), toy_invoice(bogus=True),
                 toy_invoice(ident="urn:example:unknown")):
        rep = validate(data, "t.xml", config=CFG)
        jsonschema.validate(rep.to_dict(), schema)
        assert rep.to_dict()["rule_pack"] == rep.rule_pack and "scenario" in rep.to_dict()


@pytest.mark.parametrize(("expr", "root"), [
    ("exists(/a:X[b:y/text() = 'v'])", ("urn:a", "X")),
    ("exists(/a:X/b:y[ . = 'a | b or c'])", ("urn:a", "X")),
    ("exists(/a:X[b:y = 1]) or exists(/b:Y)", None),
    ("exists(/a:X[1], /b:Y)", None),
    ("exists(/a:X) | /b:Y", None),
    ("exists(/a:X[1] | /b:Y)", None),
    ("exists(//a:X)", None),
    ("exists(/c:X[1])", None),  # unknown prefix: Saxon decides
])
def test_scenario_prefilter_only_skips_what_cannot_match(expr, root):
    """Scenarios whose match is exactly exists(/p:Root...) are skipped for another document
    element without asking Saxon; anything else is evaluated."""
    from einvoice.rulepacks.pack import _required_root

    assert _required_root(expr, {"a": "urn:a", "b": "urn:b"}) == root


# ------------------------------------------------------------------------------ compiled tests
_NS = {"invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
       "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}


@pytest.mark.parametrize("expr", [
    f"exists(/invoice:Invoice[cbc:CustomizationID/text() = '{TOY_ID}'])",
    "exists(/invoice:Invoice/cbc:CustomizationID[ . = 'urn:cen.eu:en16931:2017'])",
    "/invoice:Invoice/cbc:Note",
    "count(/invoice:Invoice/*) gt 2",
    "xs:date(/invoice:Invoice/cbc:DueDate) lt xs:date('2027-01-01')",
    "(), ()",
    "'x'",
    "0",
    "saxon:foo",
])
def test_compiled_tests_answer_as_the_xpath_processor(expr):
    """A scenario's match and acceptMatch run as one compiled stylesheet: the same effective
    boolean value as Saxon's XPath processor, on documents where it is true and false."""
    from einvoice.rulepacks import check
    from einvoice.rulepacks import pack as _pack

    for doc in (toy_invoice(), toy_invoice(note=True, due=True), toy_invoice(ident="urn:cen.eu:en16931:2017", number=False)):
        node = _pack.processor().parse_xml(xml_text=doc.decode())
        try:
            want = check.xpath_true(expr, _NS, node)
        except Exception:
            want = "error"
        got = check.true_of(check.tests_of([(expr, _NS), ("true()", {})]), node)
        assert (got if got is None else got[0]) == (None if want == "error" else want), (expr, doc)
        if got is not None:
            assert got[1] is True


@pytest.mark.parametrize("expr", [
    "xs:integer(/invoice:Invoice/cbc:ID) = 1",  # dynamic error (FORG0001)
    "$undeclared",  # static error
    "exists(current())",  # an XSLT function: left to the XPath processor, where it does not exist
    "exists(/invoice:Invoice[", # syntax error
])
def test_compiled_tests_give_up_where_the_xpath_processor_fails(expr):
    """Then each expression is asked on its own, so an error decides only its own test."""
    from saxonche import PySaxonApiError

    from einvoice.rulepacks import check
    from einvoice.rulepacks import pack as _pack

    node = _pack.processor().parse_xml(xml_text=toy_invoice().decode())
    with pytest.raises(PySaxonApiError):
        check.xpath_true(expr, _NS, node)
    assert check.true_of(check.tests_of([("true()", {}), (expr, _NS)]), node) is None


def test_a_match_that_fails_to_evaluate_only_loses_its_own_scenario(tmp_path, pack_dir):
    src = write_toy_pack(tmp_path / "err")
    scen = src / "scenarios.xml"
    text = scen.read_text()
    plain = "exists(/invoice:Invoice[cbc:CustomizationID/text() = 'urn:cen.eu:en16931:2017'])"
    assert plain in text
    scen.write_text(text.replace(plain, "exists(/invoice:Invoice[xs:integer(cbc:ID) = 1])"))
    store.install(src, root=pack_dir)
    rep = validate(toy_invoice(), "t.xml", config=CFG)
    assert rep.scenario == "Toy CIUS (UBL Invoice)" and rep.accepted is True and rep.valid is True


@pytest.mark.parametrize("accept", ["exists(/rep:report/rep:assessment/rep:accept)", "/rep:report/rep:assessment[1]/rep:accept[1]"])
def test_accept_match_as_plain_path_or_any_xpath(tmp_path, pack_dir, accept):
    """KoSIT's plain-path acceptMatch is read from the report lxml parsed; any other expression
    is evaluated by Saxon over the report: both decide alike."""
    src = write_toy_pack(tmp_path / "acc")
    scen = src / "scenarios.xml"
    scen.write_text(scen.read_text().replace("/rep:report/rep:assessment[1]/rep:accept[1]", accept))
    store.install(src, root=pack_dir)
    assert validate(toy_invoice(), "t.xml", config=CFG).accepted is True
    rep = validate(toy_invoice(number=False), "t.xml", config=CFG)
    assert rep.accepted is False and rep.valid is False


def test_an_accept_match_that_fails_is_not_validated(tmp_path, pack_dir):
    src = write_toy_pack(tmp_path / "accerr")
    scen = src / "scenarios.xml"
    scen.write_text(scen.read_text().replace("/rep:report/rep:assessment[1]/rep:accept[1]", "xs:integer(/rep:report/@valid) = 1"))
    store.install(src, root=pack_dir)
    rep = validate(toy_invoice(), "t.xml", config=CFG)
    assert rep.valid is None and rep.accepted is None
    assert any(f.rule == "RULEPACK-ERROR" and "acceptMatch" in f.message for f in rep.findings)
