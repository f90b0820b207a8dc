"""The duplicate check compares sellers in the normalised form of einvoice.identifiers: a VAT ID
written with spaces, in lower case or without its country prefix is the same seller."""
from __future__ import annotations

import pytest

from einvoice.identifiers import iban_key, invoice_number_key, same_seller, seller_id_key, vat_id_key


@pytest.mark.parametrize("a, b", [
    ("DE812345673", "DE 812 345 673"),
    ("DE812345673", "de 812 345 673"),
    ("DE812345673", "812345673"),          # German seller without the prefix
    ("DE812345673", "DE-812.345.673"),
    ("ATU13585627", "atu 135 856 27"),
])
def test_vat_id_variants_are_one_key(a, b):
    assert vat_id_key(a) == vat_id_key(b) != ""


@pytest.mark.parametrize("a, b", [
    ("DE812345673", "DE812345674"),
    ("DE812345673", "AT812345673"),
    ("812345673", "FR812345673"),          # without prefix it is German by default, not French
])
def test_different_vat_ids_stay_different(a, b):
    assert vat_id_key(a) != vat_id_key(b)


def test_other_keys():
    assert vat_id_key("812345673", country="AT") == "AT812345673"
    assert vat_id_key(None) == vat_id_key("") == vat_id_key("  ") == ""
    assert iban_key("de89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert seller_id_key("lief-9.01 ") == seller_id_key("LIEF 901") == "LIEF901"
    assert invoice_number_key("RE-0042") == invoice_number_key("re 42")
    assert same_seller("de 812 345 673", None, "DE812345673", None) == "VAT ID DE812345673"
    assert same_seller(None, "lief-9", None, "LIEF 9") is not None
    assert same_seller(None, None, None, None) is None


@pytest.mark.parametrize("written", ["DE 812 345 673", "de812345673", "812345673", "DE-812.345.673"])
def test_duplicate_found_whatever_way_the_vat_id_is_written(svc, new_invoice, written):
    first = new_invoice(number="RE-2026-555", seller_vat_id="DE812345673")
    second = new_invoice(number="RE-2026-555", seller_vat_id=written)
    assert [(f.kind, f.other_invoice_id) for f in svc.duplicates(second)] == [("exact", first)]
    assert "DE812345673" in svc.duplicates(second)[0].reason


def test_near_duplicate_with_normalised_seller_and_number(svc, new_invoice):
    first = new_invoice(number="RE-0042", seller_vat_id="de 812 345 673", amount="500.00")
    second = new_invoice(number="re 42", seller_vat_id="DE812345673", amount="500.00")
    assert [(f.kind, f.other_invoice_id) for f in svc.duplicates(second)] == [("near", first)]


def test_same_number_other_seller_stays_apart_after_normalising(svc, new_invoice):
    new_invoice(number="RE-9", seller_vat_id="DE 812 345 673")
    other = new_invoice(number="RE-9", seller_vat_id="de 111 111 111")
    assert svc.duplicates(other) == []


def test_routing_finds_the_supplier_by_the_normalised_vat_id(org):
    from einvoice.routing import RoutingInput, route

    for written in ("de 812 345 673", "812345673"):
        d = route(RoutingInput(seller_vat_id=written, seller_name="Tiefbau Schmidt GmbH"), org)
        assert (d.rule, d.department) == ("supplier", "66"), written
    assert route(RoutingInput(seller_ids=("k 66017",)), org).rule == "supplier"  # seller ID K-66017
    assert route(RoutingInput(seller_vat_id="DE999999999"), org).rule == "central-desk"
