"""SEPA payment runs: pain.001.001.09 from the sample invoices, XSD-valid, amounts with Skonto, each invoice paid once."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from lxml import etree

from einvoice.db.models import InvoiceEvent, InvoiceRow
from einvoice.finance import FinanceError, payment_run, posting_record
from einvoice.finance.sepa import PAIN_NS, sepa_text, totals_of, validate_pain001
from einvoice.finance.tables import FinancePosting, PaymentItem
from tests.finance.conftest import BookingConnector, make_org, org_data, pay, released_invoice, write_org
from tests.finance.test_record import validate as validate_record

NS = {"p": PAIN_NS}


def _on(day: dt.date):
    """A clock for payment_run: the run is made on ``day`` (10:00 UTC, the same day in Germany)."""
    return lambda: dt.datetime.combine(day, dt.time(10, 0), tzinfo=dt.timezone.utc)


def _tx(xml: bytes) -> dict[str, dict]:
    doc = etree.fromstring(xml)
    out = {}
    for tx in doc.xpath("//p:CdtTrfTxInf", namespaces=NS):
        out[tx.xpath("string(p:PmtId/p:EndToEndId)", namespaces=NS)] = {
            "amount": Decimal(tx.xpath("string(p:Amt/p:InstdAmt)", namespaces=NS)),
            "iban": tx.xpath("string(p:CdtrAcct/p:Id/p:IBAN)", namespaces=NS),
            "name": tx.xpath("string(p:Cdtr/p:Nm)", namespaces=NS),
            "ustrd": tx.xpath("string(p:RmtInf/p:Ustrd)", namespaces=NS),
        }
    return out


def test_payment_run_from_the_sample_invoices(db, samples_posted, tmp_path):
    """The sample invoices through the real pipeline: posting records from the archived originals, then paid."""
    org, ids = samples_posted["org"], samples_posted["ids"]
    rec = posting_record(db, ids["01-xrechnung-ubl-invoice.xml"])
    assert rec["source"] == "invoice"
    assert [(v["rate"], v["taxable_amount"], v["tax_amount"]) for v in rec["vat_breakdown"]] == [
        ("19.00", "5993.10", "1138.69"), ("7.00", "49.90", "3.49")]
    assert rec["payee"]["bic"] == "COBADEFFXXX" and rec["amount"]["net"] == "6043.00"
    assert rec["payment_terms"]["skonto"][0]["percent"] == "2.00"
    assert rec["payment_terms"]["skonto"][0]["amount_if_taken"] == "7041.48"
    assert rec["archive"]["entry_id"] and rec["archive"]["original_key"]
    for name in ids:  # every sample's record is complete and schema-valid, credit note and Factur-X PDF included
        r = posting_record(db, ids[name])
        validate_record(r)
        assert sum(Decimal(a["amount"]) for a in r["account_assignment"]) == Decimal(r["amount"]["due"])
    assert posting_record(db, ids["02-xrechnung-ubl-creditnote.xml"])["invoice"]["kind"] == "credit_note"

    with db.sessions() as s:
        inv = {n: s.get(InvoiceRow, i) for n, i in ids.items()}
        assert {i.state for i in inv.values()} == {"posted"}
    i01, i03, i04 = inv["01-xrechnung-ubl-invoice.xml"], inv["03-xrechnung-cii-invoice.xml"], inv["04-facturx-en16931.pdf"]
    assert i01.skonto_percent == Decimal("2.00")  # #SKONTO#TAGE=14#PROZENT=2.00#
    execution = i01.skonto_until - dt.timedelta(days=2)  # Skonto of 01 still open
    due_by = max(i01.skonto_until, i03.skonto_until or i03.due_date)
    assert i04.due_date > due_by

    run = pay(db, org, due_by=due_by, output_dir=tmp_path / "pay", execution_date=execution, now=_on(execution))
    xml = run.path.read_bytes()
    assert validate_pain001(xml) == []
    tx = _tx(xml)
    expected = {
        i01.id: (i01.amount_due * (1 - Decimal("0.02"))).quantize(Decimal("0.01")),
        i03.id: (i03.amount_due * (1 - i03.skonto_percent / 100)).quantize(Decimal("0.01"))
        if i03.skonto_until and i03.skonto_until >= execution else i03.amount_due,
    }
    assert expected[i01.id] == Decimal("7041.48")
    assert sorted(run.invoices) == sorted(expected)
    assert {e2e: t["amount"] for e2e, t in tx.items()} == {f"MUST-{i}": a for i, a in expected.items()}
    assert tx[f"MUST-{i01.id}"]["iban"] == "DE89370400440532013000"
    assert i01.invoice_number in tx[f"MUST-{i01.id}"]["ustrd"] and "Skonto" in tx[f"MUST-{i01.id}"]["ustrd"]
    tot = totals_of(xml)
    assert tot["grp_count"] == tot["tx_count"] == run.count == 2
    assert tot["grp_sum"] == tot["tx_sum"] == run.control_sum == sum(expected.values())
    assert run.skonto_taken == sum(inv_.amount_due for inv_ in (i01, i03)) - run.control_sum
    # the credit note (its supplier has nothing else open) is held for a person, never paid; 04 is not due yet
    assert [(i, p.rule) for i, p in run.skipped] == [(ids["02-xrechnung-ubl-creditnote.xml"], "SEPA-CREDIT-NOTE-NOTHING-OPEN")]
    with db.sessions() as s:
        assert s.get(InvoiceRow, i01.id).state == "paid" and s.get(InvoiceRow, i04.id).state == "posted"
        ev = s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.invoice_id == i01.id, InvoiceEvent.action == "paid")).one()
        assert ev.amount == Decimal("7041.48") and run.message_id in ev.comment

    # a later run pays 04 in full and never 01/03 again
    later = pay(db, org, due_by=i04.due_date, output_dir=tmp_path / "pay", execution_date=i04.due_date,
                now=_on(i04.due_date))
    assert later.invoices == [i04.id] and later.control_sum == i04.amount_due and later.skonto_taken == 0
    assert validate_pain001(later.path.read_bytes()) == []
    again = pay(db, org, due_by=dt.date(2030, 1, 1), output_dir=tmp_path / "pay")
    assert again.count == 0 and again.path is None
    with db.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(PaymentItem)) == 3

    # the posting record + confirmation were archived as follow-ups of each invoice's entry
    arch = samples_posted["archive"]
    with db.sessions() as s:
        p = s.scalars(sa.select(FinancePosting).where(FinancePosting.invoice_id == i01.id)).one()
    assert p.archive_entry_id == f"posting-{p.idempotency_key}"
    _line, leaf = arch.read_leaf(arch.lookup(p.archive_entry_id))
    assert leaf["relates_to"]["entry_id"] == i01.archive_entry_id and leaf["relates_to"]["relation"] == "posting-record"
    assert {d["name"] for d in leaf["documents"]} == {"posting-record.json", "confirmation.json"}


def test_skonto_expired_pays_the_full_amount_and_rounding_is_half_up(db, tmp_path, clock):
    org = make_org(tmp_path)
    a = released_invoice(db, org, amount="10.00", skonto_until=dt.date(2026, 12, 1), skonto_percent="1.25",
                         due_date=dt.date(2026, 12, 20))
    b = released_invoice(db, org, amount="100.00", skonto_until=dt.date(2026, 11, 30), skonto_percent="3.00",
                         due_date=dt.date(2026, 12, 10))
    from einvoice.finance import Outbox

    Outbox(db, org, BookingConnector(), now=clock).deliver_pending()
    run = pay(db, org, due_by=dt.date(2026, 12, 31), output_dir=tmp_path, execution_date=dt.date(2026, 12, 1),
              now=_on(dt.date(2026, 12, 1)))
    tx = _tx(run.path.read_bytes())
    assert tx[f"MUST-{a}"]["amount"] == Decimal("9.88")   # 10.00 × 0.9875 = 9.875 → 9.88 (open on 01.12.)
    assert tx[f"MUST-{b}"]["amount"] == Decimal("100.00")  # Skonto ended 30.11.
    assert run.skonto_taken == Decimal("0.12")


def test_released_but_not_posted_changed_iban_and_bad_iban_are_not_paid(db, tmp_path, clock):
    org = make_org(tmp_path)
    from einvoice.finance import Outbox

    posted_ok = released_invoice(db, org, amount="50.00", due_date=dt.date(2026, 12, 1))
    changed = released_invoice(db, org, amount="60.00", due_date=dt.date(2026, 12, 1), iban="DE02120300000000202051")
    bad = released_invoice(db, org, amount="70.00", due_date=dt.date(2026, 12, 1), seller_vat_id="DE000000000",
                           seller_name="Unbekannt GmbH", iban="DE00123456789012345678")
    no_iban = released_invoice(db, org, amount="40.00", due_date=dt.date(2026, 12, 1), iban=None)
    Outbox(db, org, BookingConnector(), now=clock).deliver_pending()
    only_released = released_invoice(db, org, amount="80.00", due_date=dt.date(2026, 12, 1))
    run = pay(db, org, due_by=dt.date(2026, 12, 1), output_dir=tmp_path, execution_date=dt.date(2026, 11, 25))
    assert run.invoices == [posted_ok, no_iban]
    # no IBAN on the invoice: the supplier master data's account is used
    assert _tx(run.path.read_bytes())[f"MUST-{no_iban}"]["iban"] == "DE89370400440532013000"
    assert dict((i, p.rule) for i, p in run.skipped) == {changed: "SEPA-IBAN-CHANGED", bad: "SEPA-IBAN"}
    assert "Lieferantenstammdaten" in dict(run.skipped)[changed].message and "master data" in dict(run.skipped)[changed].message_en
    with db.sessions() as s:
        assert s.get(InvoiceRow, only_released).state == "released"


def test_no_payer_configured_refuses(db, tmp_path):
    data = org_data(tmp_path)
    data["finance"]["payer"] = None
    from einvoice.organisation import parse_organisation

    with pytest.raises(FinanceError) as exc:
        payment_run(db, parse_organisation(data), due_by=dt.date(2026, 12, 1), output_dir=tmp_path)
    assert exc.value.problem.rule == "SEPA-PAYER-MISSING"


def test_sepa_text_and_cli(db, tmp_path, monkeypatch, clock):
    assert sepa_text("Grünpflege & Co. GmbH", 70) == "Gruenpflege + Co. GmbH"
    assert sepa_text("Straße «Süd»", 70) == "Strasse Sued"
    org = make_org(tmp_path)
    from einvoice.finance import Outbox

    invoice_id = released_invoice(db, org, amount="12.34", due_date=dt.date(2026, 12, 1))
    Outbox(db, org, BookingConnector(), now=clock).deliver_pending()
    from einvoice.cli import main

    monkeypatch.setenv("EINVOICE_DATABASE_URL", db.url)
    monkeypatch.setenv("EINVOICE_ORGANISATION", write_org(tmp_path / "org.yaml", org_data(tmp_path)))
    runner = CliRunner()
    out = runner.invoke(main, ["payments", "run", "--date", "2026-12-01", "--execution-date", "2026-11-30",
                               "--out", str(tmp_path / "pay"), "--format", "json", "--by", "j.krause"])
    assert out.exit_code == 0, out.output
    res = json.loads(out.output)
    assert res["invoices"] == [invoice_id] and res["control_sum"] == "12.34"
    assert res["status"] == "created" and res["path"] is None and not (tmp_path / "pay").exists()
    release = ["payments", "release", str(res["run_id"]), "--out", str(tmp_path / "pay"), "--by"]
    first = runner.invoke(main, release + ["j.krause"])
    assert first.exit_code == 0 and "first release" in first.output, first.output
    assert not (tmp_path / "pay").exists()  # one person released it: nothing for the bank yet
    second = runner.invoke(main, release + ["v.koenig"])
    assert second.exit_code == 0 and "two persons" in second.output, second.output
    res["path"] = second.output.strip().rsplit(": ", 1)[1]
    assert validate_pain001(Path(res["path"]).read_bytes()) == []
    listed = runner.invoke(main, ["payments", "list"])
    assert res["message_id"] in listed.output
    Path(res["path"]).unlink()
    refused = runner.invoke(main, ["payments", "export", str(res["run_id"]), "--out", str(tmp_path / "again"), "--by", "c.wagner"])
    assert refused.exit_code == 1 and "NOT-AUTHORISED" in refused.output
    exported = runner.invoke(main, ["payments", "export", str(res["run_id"]), "--out", str(tmp_path / "again"), "--by", "v.koenig"])
    assert exported.exit_code == 0
    assert Path(exported.output.strip()).read_bytes() == _stored_xml(db, res["run_id"])
    assert runner.invoke(main, ["payments", "run", "--date", "2026-12-01", "--out", str(tmp_path / "pay"),
                                "--by", "j.krause"]).output.strip() == "nothing to pay"
    rec = runner.invoke(main, ["finance", "record", str(invoice_id)])
    assert rec.exit_code == 0 and json.loads(rec.output)["amount"]["due"] == "12.34"
    st = json.loads(runner.invoke(main, ["finance", "status", str(invoice_id)]).output)
    assert st["booking_number"] == f"B-{invoice_id}" and st["payment"]["message_id"] == res["message_id"]
    assert runner.invoke(main, ["finance", "status", "9999"]).exit_code == 2


def _stored_xml(db, run_id):
    from einvoice.finance.tables import PaymentRun

    with db.sessions() as s:
        return s.get(PaymentRun, run_id).xml.encode("utf-8")


def test_two_payment_runs_at_once_pay_each_invoice_once(db, tmp_path, clock):
    import threading

    org = make_org(tmp_path)
    from einvoice.finance import Outbox

    ids = [released_invoice(db, org, amount=f"{n}0.00", due_date=dt.date(2026, 12, 1)) for n in range(1, 7)]
    Outbox(db, org, BookingConnector(), now=clock).deliver_pending()
    results, errors = [], []

    def run(n):
        try:
            results.append(payment_run(db, org, due_by=dt.date(2026, 12, 1), output_dir=tmp_path / f"w{n}",
                                       execution_date=dt.date(2026, 11, 30)))
        except FinanceError as exc:
            errors.append(exc.problem.rule)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(errors) <= {"SEPA-CONFLICT"}
    from einvoice.finance import release_payment_run

    for n, r in enumerate(results):
        if r.count:
            for person in ("j.krause", "v.koenig"):
                got = release_payment_run(db, org, r.run_id, person, output_dir=tmp_path / f"w{n}")
                assert got.ok and got.problem is None, got
            r.path = got.path
    paid = [i for r in results for i in r.invoices]
    assert sorted(paid) == sorted(ids), (paid, errors)
    with db.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(PaymentItem)) == len(ids)
        assert {s.get(InvoiceRow, i).state for i in ids} == {"paid"}
        assert s.scalar(sa.select(sa.func.count()).select_from(InvoiceEvent).where(InvoiceEvent.action == "paid")) == len(ids)
    for r in results:
        if r.count:
            assert validate_pain001(r.path.read_bytes()) == [] and totals_of(r.path.read_bytes())["tx_count"] == r.count


def test_a_file_that_could_not_be_written_is_written_by_the_next_run(db, tmp_path, clock):
    org = make_org(tmp_path)
    from einvoice.finance import Outbox

    first = released_invoice(db, org, amount="11.00", due_date=dt.date(2026, 12, 1))
    Outbox(db, org, BookingConnector(), now=clock).deliver_pending()
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the output directory should be")
    from einvoice.finance import release_payment_run

    prepared = payment_run(db, org, due_by=dt.date(2026, 12, 1), output_dir=blocked, execution_date=dt.date(2026, 11, 30))
    assert release_payment_run(db, org, prepared.run_id, "j.krause", output_dir=blocked).ok
    got = release_payment_run(db, org, prepared.run_id, "v.koenig", output_dir=blocked)
    assert got.ok and got.status == "released" and got.path is None
    assert got.problem.rule == "SEPA-FILE-WRITE" and "payments export" in got.problem.message
    with db.sessions() as s:
        assert s.get(InvoiceRow, first).state == "paid"  # recorded: never paid twice
    second = released_invoice(db, org, amount="22.00", due_date=dt.date(2026, 12, 1))
    Outbox(db, org, BookingConnector(), now=clock).deliver_pending()
    run = pay(db, org, due_by=dt.date(2026, 12, 1), output_dir=tmp_path / "ok", execution_date=dt.date(2026, 11, 30))
    assert run.invoices == [second]
    [old] = run.recovered
    assert f"MUST-{first}" in _tx(old.read_bytes()) and validate_pain001(old.read_bytes()) == []
