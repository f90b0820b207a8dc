"""Posting records: built inside the release transaction, complete, schema-valid, atomic with the release."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import jsonschema
import sqlalchemy as sa

from einvoice.db.models import InvoiceEvent, InvoiceRow
from einvoice.finance import enqueue_posting, posting_record, set_account_assignment
from einvoice.finance.record import allocate, parse_reference
from einvoice.finance.tables import FinanceOutbox, FinancePosting
from einvoice.model.skonto import payment as skonto_payment
from tests.approval.conftest import add_invoice
from tests.finance.conftest import approve_all, released_invoice

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "posting.schema.json").read_text())


def validate(record: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(record)


def test_release_writes_record_and_outbox_in_the_same_transaction(db, org):
    invoice_id = released_invoice(db, org, amount="1190.00", department="66")
    rec = posting_record(db, invoice_id)
    validate(rec)
    assert rec["amount"] == {"due": "1190.00", "currency": "EUR", "net": None, "tax": None, "gross": "1190.00", "prepaid": None}
    assert [c["step"] for c in rec["certifications"]] == ["sachlich", "rechnerisch", "anordnung", "freigabe"]
    assert rec["certifications"][1]["amount"] == "1190.00"  # "rechnerisch richtig mit 1.190,00 EUR"
    assert rec["ordering_person"]["person"] == "c.wagner"
    assert rec["account_assignment"] == [{"sachkonto": "5221000", "kostenstelle": "6600", "produkt": "12.01.01",
                                          "amount": "1190.00", "source": "department-default", "assigned_by": None,
                                          "invoice_lines": [], "reference": None}]
    assert rec["payee"]["iban"] == "DE89370400440532013000"
    assert rec["payee"]["supplier_master"]["iban_matches"] is True
    with db.sessions() as s:
        [p] = s.scalars(sa.select(FinancePosting)).all()
        [ob] = s.scalars(sa.select(FinanceOutbox)).all()
        assert (ob.posting_id, ob.status, ob.attempts) == (p.id, "pending", 0)
        assert p.idempotency_key == rec["idempotency_key"]
        assert s.get(InvoiceRow, invoice_id).state == "released"


def test_a_failing_hook_rolls_the_release_back(db, org):
    invoice_id = add_invoice(db, org, amount="50.00")

    def broken(session, row):
        enqueue_posting(session, row, org)
        raise RuntimeError("disk full")

    state = approve_all(db, org, invoice_id, hooks=[broken])
    assert state.startswith("refused:") and "disk full" in state
    with db.sessions() as s:
        assert s.get(InvoiceRow, invoice_id).state == "in_approval"
        assert s.scalar(sa.select(sa.func.count()).select_from(FinancePosting)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(FinanceOutbox)) == 0


def test_incomplete_record_refuses_the_release_with_a_readable_reason(db, tmp_path):
    from einvoice.organisation import parse_organisation
    from tests.finance.conftest import org_data

    data = org_data(tmp_path)
    data["finance"]["default_account"] = None
    for d in data["departments"]:
        d["default_account"] = None
    org = parse_organisation(data)
    invoice_id = add_invoice(db, org, amount="10.00")
    state = approve_all(db, org, invoice_id)
    assert state.startswith("refused:") and "Sachkonto" in state
    with db.sessions() as s:
        assert s.get(InvoiceRow, invoice_id).state == "in_approval"


def test_enqueue_twice_queues_one_record(db, org):
    invoice_id = released_invoice(db, org)
    with db.transaction() as s:
        enqueue_posting(s, s.get(InvoiceRow, invoice_id), org)
    with db.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(FinancePosting)) == 1


def test_approver_splits_the_amount(db, org):
    invoice_id = add_invoice(db, org, amount="1000.00", department="66")
    lines = [{"amount": "600.00", "sachkonto": "5221000", "kostenstelle": "6600", "produkt": "12.01.01"},
             {"amount": "400.00", "sachkonto": "5222000", "kostenstelle": "6610", "produkt": "12.02.01", "text": "Grünflächen"}]
    bad = set_account_assignment(db, org, invoice_id, "a.schulz", [{**lines[0], "kostenstelle": "4000"}, lines[1]])
    assert bad.rule == "ASSIGN-KOSTENSTELLE" and "6600, 6610" in bad.message
    assert set_account_assignment(db, org, invoice_id, "a.schulz", lines[:1]).rule == "ASSIGN-SUM"
    assert set_account_assignment(db, org, invoice_id, "e.hoffmann", lines).rule == "ASSIGN-ROLE"
    assert set_account_assignment(db, org, invoice_id, "a.schulz", lines) is None
    assert approve_all(db, org, invoice_id) == "released"
    rec = posting_record(db, invoice_id)
    validate(rec)
    assert [(a["kostenstelle"], a["amount"], a["source"], a["assigned_by"]) for a in rec["account_assignment"]] == [
        ("6600", "600.00", "approver", "a.schulz"), ("6610", "400.00", "approver", "a.schulz")]
    with db.sessions() as s:
        ev = s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.action == "account_assignment")).one()
        assert ev.actor == "a.schulz"
    assert set_account_assignment(db, org, invoice_id, "a.schulz", lines).rule == "ASSIGN-STATE"


def test_reference_parsing_and_allocation(org):
    dept = org.department("66")
    assert parse_reference("6610 / 12.02.01 / 5222000", dept) == {"kostenstelle": "6610", "produkt": "12.02.01", "sachkonto": "5222000"}
    assert parse_reference("Bauhof", dept) is None
    assert allocate(Decimal("100.00"), [Decimal(1), Decimal(1), Decimal(1)]) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    shares = allocate(Decimal("7185.18"), [Decimal("4000"), Decimal("2037.80")])
    assert sum(shares) == Decimal("7185.18")
    # amount × (1 − p/100), half-up: 10.00 at 1.25 % → 9.875 → 9.88
    assert skonto_payment(Decimal("10.00"), Decimal("1.25")) == Decimal("9.88")
    assert skonto_payment(Decimal("7185.18"), Decimal("2.00")) == Decimal("7041.48")
    assert skonto_payment(Decimal("100.00"), Decimal("2.00"), Decimal("50.00")) == Decimal("99.00")


def test_invoice_line_accounting_references_split_the_posting(db, org, tmp_path):
    """BT-133 on the lines (UBL cbc:AccountingCost) decides Kostenstelle/Produkt/Sachkonto per line."""
    from lxml import etree

    from devtools.samples import write_samples
    from einvoice.finance.outbox import load_model
    from einvoice.finance.record import build_record

    write_samples(tmp_path / "s")
    xml = (tmp_path / "s" / "01-xrechnung-ubl-invoice.xml").read_bytes()
    root = etree.fromstring(xml)
    ns = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
          "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
    lines = root.xpath("cac:InvoiceLine", namespaces=ns)
    for line, ref in zip(lines, ["6600 / 12.01.01", "6610/12.02.01/5222000"]):
        el = etree.SubElement(line, f"{{{ns['cbc']}}}AccountingCost")
        el.text = ref
    model, parsed_root = load_model(etree.tostring(root))
    invoice_id = released_invoice(db, org, amount=str(model.totals.amount_due), department="66")
    with db.sessions() as s:
        row = s.get(InvoiceRow, invoice_id)
        row.syntax = "ubl-invoice"
        rec = build_record(s, row, org, model=model, root=parsed_root)
    validate(rec)
    split = [(a["sachkonto"], a["kostenstelle"], a["produkt"], a["amount"], a["invoice_lines"]) for a in rec["account_assignment"]]
    # lines 1 + 3 (no reference: department default, the same account) and line 2 share the amount due by gross:
    # line 2 is 1173.90 net at 19 % = 1396.94 gross; the rest (4819.20 × 1.19 + 49.90 × 1.07) is 5788.24
    assert split == [("5221000", "6600", "12.01.01", "5788.24", ["1", "3"]), ("5222000", "6610", "12.02.01", "1396.94", ["2"])]
    assert sum(Decimal(x[3]) for x in split) == Decimal("7185.18")


def test_app_wires_the_finance_release_hook(db, tmp_path, monkeypatch):
    from einvoice.app import App
    from tests.finance.conftest import org_data, write_org

    monkeypatch.setenv("EINVOICE_DATABASE_URL", db.url)
    monkeypatch.setenv("EINVOICE_ORGANISATION", write_org(tmp_path / "org.yaml", org_data(tmp_path)))
    app = App.from_env()
    invoice_id = add_invoice(app.db, app.organisation, amount="99.00")
    assert approve_all(app.db, app.organisation, invoice_id, hooks=app.release_hooks()) == "released"
    rec = posting_record(db, invoice_id)
    validate(rec)
    assert rec["source"] == "invoice-row"  # no original archived for a row inserted directly


def test_posting_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    cents = st.integers(min_value=1, max_value=10**9).map(lambda c: Decimal(c) / 100)

    @settings(max_examples=200, deadline=None)
    @given(total=cents, weights=st.lists(st.integers(min_value=1, max_value=10**7).map(lambda c: Decimal(c) / 100),
                                         min_size=1, max_size=12))
    def test_allocation_always_adds_up_to_the_amount_due(total, weights):
        shares = allocate(total, weights)
        assert sum(shares) == total and len(shares) == len(weights)
        assert all(sh == sh.quantize(Decimal("0.01")) for sh in shares)

    @settings(max_examples=200, deadline=None)
    @given(amount=cents, percent=st.integers(min_value=0, max_value=10000).map(lambda c: Decimal(c) / 100))
    def test_skonto_payment_is_half_up_of_the_exact_value(amount, percent):
        exact = amount * (1 - percent / 100)
        paid = skonto_payment(amount, percent)
        assert abs(paid - exact) <= Decimal("0.005") and paid == paid.quantize(Decimal("0.01"))
        assert 0 <= paid <= amount
