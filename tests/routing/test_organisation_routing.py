"""Organisation file loading (clear errors) and routing precedence."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from einvoice.organisation import OrganisationConfigError, json_schema, load_organisation, parse_organisation
from einvoice.routing import RoutingInput, route
from einvoice.settings import REPO_EXAMPLE_ORG

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(REPO_EXAMPLE_ORG.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def org():
    return load_organisation(REPO_EXAMPLE_ORG)


def test_example_town_loads(org):
    assert org.name == "Stadt Musterhausen"
    assert {d.code for d in org.departments} == {"10", "20", "40", "51", "66"}
    assert org.department(org.central_desk).name.startswith("Kämmerei")


def test_committed_json_schema_matches_model():
    committed = json.loads((REPO / "schemas" / "organisation.schema.json").read_text(encoding="utf-8"))
    assert committed == json_schema(), "run: einvoice org schema > schemas/organisation.schema.json"


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["departments"][0].update(leitweg_ids=["05999000-10-45"]), "check digit"),
        (lambda d: d.update(central_desk="99"), "central_desk: '99' is not a department code"),
        (lambda d: d["people"][0]["grants"].append({"department": "77", "role": "sachlich"}), "unknown department '77'"),
        (lambda d: d["people"][0]["grants"].append({"department": "66", "role": "boss"}), "people.0.grants.1.role"),
        (lambda d: d["deputies"].append({"person": "nobody", "deputy": "a.schulz", "absent_from": "2026-01-01", "absent_to": "2026-01-02"}), "unknown person 'nobody'"),
        (lambda d: d["deputies"].append({"person": "a.schulz", "deputy": "b.keller", "absent_from": "2026-02-01", "absent_to": "2026-01-02"}), "before absent_from"),
        (lambda d: d["departments"][1]["leitweg_ids"].append("05999000-10-44"), "belongs to both 10 and 20"),
        (lambda d: d.update(colour="blue"), "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_organisation_file_names_the_problem(raw, mutate, expected):
    data = copy.deepcopy(raw)
    mutate(data)
    with pytest.raises(OrganisationConfigError) as err:
        parse_organisation(data, "town.yaml")
    assert expected.lower() in str(err.value).lower()
    assert str(err.value).startswith("town.yaml")


def test_unreadable_and_non_yaml_files(tmp_path):
    with pytest.raises(OrganisationConfigError, match="cannot read"):
        load_organisation(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(OrganisationConfigError, match="not valid YAML"):
        load_organisation(bad)


def _org_with_supplier(raw):
    data = copy.deepcopy(raw)
    data["suppliers"] = [{"name": "Schulbedarf Meyer KG", "vat_id": "DE136695976", "seller_id": "LIEF-4711", "default_department": "40"}]
    return parse_organisation(data)


def test_leitweg_id_wins_over_everything(raw):
    org = _org_with_supplier(raw)
    d = route(RoutingInput(buyer_reference="05999000-66-70", order_reference="SCH-1", seller_vat_id="DE136695976"), org)
    assert (d.department, d.rule) == ("66", "leitweg-id")
    assert "05999000-66-70" in d.reason and "Tiefbauamt" in d.reason


def test_order_reference_then_supplier_then_central_desk(raw):
    org = _org_with_supplier(raw)
    by_order = route(RoutingInput(buyer_reference="05999000-77-00", order_reference="sch-2026-17", seller_vat_id="DE136695976"), org)
    assert (by_order.department, by_order.rule) == ("40", "order-reference")
    by_supplier = route(RoutingInput(buyer_reference=None, order_reference="X-1", seller_vat_id="de 136695976"), org)
    assert (by_supplier.department, by_supplier.rule) == ("40", "supplier")
    by_seller_id = route(RoutingInput(seller_ids=("LIEF-4711",)), org)
    assert by_seller_id.rule == "supplier"
    nowhere = route(RoutingInput(buyer_reference="99-1", order_reference="Z-9", seller_name="Unbekannt AG"), org)
    assert (nowhere.department, nowhere.rule) == ("20", "central-desk")
    assert "Leitweg-ID „99-1“ unbekannt" in nowhere.reason and "Unbekannt AG" in nowhere.reason


def test_grobadressierung_goes_to_central_desk_by_leitweg(org):
    d = route(RoutingInput(buyer_reference="05999000-90"), org)
    assert (d.department, d.rule) == ("20", "leitweg-id")


def test_longest_order_prefix_wins(raw):
    data = copy.deepcopy(raw)
    data["departments"][0]["order_prefixes"] = ["TBA-S-"]
    org = parse_organisation(data)
    assert route(RoutingInput(order_reference="TBA-S-1"), org).department == "10"
    assert route(RoutingInput(order_reference="TBA-1"), org).department == "66"


def test_severity_overrides_are_checked_on_load_and_reach_the_validator(raw, tmp_path):
    from devtools.samples import write_samples
    from einvoice.validation import validate
    from einvoice.validation.config import ValidationConfig

    bad = copy.deepcopy(raw)
    bad["validation_severity_overrides"] = {"BR-DE-15": "harmless"}
    with pytest.raises(OrganisationConfigError, match="validation_severity_overrides"):
        parse_organisation(bad)

    data = copy.deepcopy(raw)
    data["validation_severity_overrides"] = {"BR-DE-15": "Warning"}
    org = parse_organisation(data)
    assert org.validation_severity_overrides == {"BR-DE-15": "warning"}
    write_samples(tmp_path)
    no_leitweg = (tmp_path / "12-broken-no-leitweg-id.xml").read_bytes()
    assert validate(no_leitweg, "12.xml").valid is False
    relaxed = validate(no_leitweg, "12.xml", config=ValidationConfig(severity_overrides=dict(org.validation_severity_overrides)))
    assert relaxed.valid is True
    assert [f.severity for f in relaxed.findings if f.rule == "BR-DE-15"] == ["warning"]
