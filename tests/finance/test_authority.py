"""Every released invoice is posted and paid right: the CLI release carries the finance hook, a
repair queues what older releases left behind, the Kontierung is frozen by the Anordnung, and
every finance and payment action is done by a known person with the right role (two persons
release a payment file; neither gave an Anordnung in it)."""
from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from einvoice.approval import ApprovalService, Step
from einvoice.approval.tables import ApprovalTask
from einvoice.db.models import InvoiceEvent, InvoiceRow
from einvoice.finance import (
    FinanceError,
    Outbox,
    enqueue_posting,
    export_run,
    payment_run,
    posting_record,
    release_payment_run,
    set_account_assignment,
)
from einvoice.finance.connectors import Outcome
from einvoice.finance.errors import FinanceProblem
from einvoice.finance.sepa import unwritten_runs, validate_pain001
from einvoice.finance.tables import FinanceOutbox, FinancePosting, PaymentRun
from einvoice.organisation import OrganisationConfigError, parse_organisation
from tests.approval.conftest import TODAY, add_invoice
from tests.finance.conftest import (
    SECRET,
    BookingConnector,
    org_data,
    released_invoice,
    write_org,
)


def _cli(monkeypatch, db, org_file):
    from einvoice.cli import main

    monkeypatch.setenv("EINVOICE_DATABASE_URL", db.url)
    monkeypatch.setenv("EINVOICE_ORGANISATION", org_file)
    runner = CliRunner()

    def run(*args, code=0):
        out = runner.invoke(main, [str(a) for a in args])
        assert out.exit_code == code, (args, out.exit_code, out.output)
        return out.output
    return run


def _state(db, invoice_id) -> str:
    with db.sessions() as s:
        return s.get(InvoiceRow, invoice_id).state


def _events(db, invoice_id, action) -> list[InvoiceEvent]:
    with db.sessions() as s:
        return list(s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.invoice_id == invoice_id,
                                                            InvoiceEvent.action == action).order_by(InvoiceEvent.id)))


def _postings(db, invoice_id) -> int:
    with db.sessions() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(FinancePosting).where(FinancePosting.invoice_id == invoice_id))


def _schmidt_invoice(db, org, **kw) -> int:
    invoice_id = add_invoice(db, org, seller_name="Tiefbau Schmidt GmbH", seller_vat_id="DE812345673", **kw)
    with db.transaction() as s:
        s.get(InvoiceRow, invoice_id).iban = "DE89370400440532013000"
    return invoice_id


# --------------------------------------------------------------------------------------------
# the whole way through the CLI: approve → posted (webhook on loopback) → paid (two releases)
# --------------------------------------------------------------------------------------------
def test_cli_release_is_posted_and_paid_and_repair_queues_once(db, finance_server, monkeypatch, tmp_path):
    monkeypatch.setenv("EINVOICE_FINANCE_HMAC_SECRET", SECRET)
    data = org_data(tmp_path, connector="webhook", webhook={"url": finance_server.url, "timeout_seconds": 2})
    org = parse_organisation(data)
    cli = _cli(monkeypatch, db, write_org(tmp_path / "org.yaml", data))
    invoice_id = _schmidt_invoice(db, org, amount="1190.00")

    for person, amount in (("a.schulz", None), ("b.keller", "1190.00"), ("c.wagner", None), ("j.krause", None)):
        task = json.loads(cli("tasks", "list", "--as", person, "--format", "json"))
        [task_id] = [t["task_id"] for t in task if t["invoice_id"] == invoice_id]
        cli("tasks", "approve", task_id, "--as", person, *(("--amount", amount) if amount else ()))
    assert _state(db, invoice_id) == "released"
    # the CLI's release queued the posting in the same transaction (it used to write none)
    assert _postings(db, invoice_id) == 1
    assert json.loads(cli("finance", "status", invoice_id))["status"] == "pending"

    assert "booked" in cli("finance", "deliver")
    assert _state(db, invoice_id) == "posted"
    key = posting_record(db, invoice_id)["idempotency_key"]
    assert finance_server.accepted[key] == 1

    pay_dir = tmp_path / "bank"
    run = json.loads(cli("payments", "run", "--date", "2030-01-01", "--out", pay_dir, "--by", "j.krause", "--format", "json"))
    assert run["invoices"] == [invoice_id] and run["status"] == "created"
    cli("payments", "release", run["run_id"], "--by", "j.krause", "--out", pay_dir)
    assert _state(db, invoice_id) == "posted" and not pay_dir.exists()  # one release: nothing paid, nothing at the bank
    out = cli("payments", "release", run["run_id"], "--by", "v.koenig", "--out", pay_dir)
    path = Path(out.strip().rsplit(": ", 1)[1])
    assert path.parent == pay_dir and validate_pain001(path.read_bytes()) == []
    assert _state(db, invoice_id) == "paid"
    [paid] = _events(db, invoice_id, "paid")
    assert (paid.actor, paid.role) == ("v.koenig", "treasury") and "j.krause" in paid.comment
    assert [e.actor for e in _events(db, invoice_id, "payment_release")] == ["j.krause"]

    # An installation that released through the old CLI: released, but no posting record.
    old = _schmidt_invoice(db, org, amount="238.00")
    legacy = ApprovalService(db, org, today=lambda: TODAY, on_release=[])
    for person, amount in (("a.schulz", None), ("b.keller", Decimal("238.00")), ("c.wagner", None), ("j.krause", None)):
        assert legacy.approve(legacy.open_task_of(old).task_id, person, amount=amount).ok
    assert _state(db, old) == "released" and _postings(db, old) == 0
    assert "repair-released" in cli("finance", "status", old, code=1)
    first = json.loads(cli("finance", "repair-released", "--format", "json"))
    second = json.loads(cli("finance", "repair-released", "--format", "json"))
    assert first == {"queued": [old], "problems": []} and second == {"queued": [], "problems": []}
    assert _postings(db, old) == 1 and len(_events(db, old, "posting_repaired")) == 1
    cli("finance", "deliver")
    assert _state(db, old) == "posted"
    assert finance_server.accepted[posting_record(db, old)["idempotency_key"]] == 1


def test_service_needs_its_release_hooks(db, org):
    with pytest.raises(TypeError):
        ApprovalService(db, org)  # the missing on_release is the point


class RejectingConnector(BookingConnector):
    """A finance system that refuses every record (a blocked creditor)."""

    def send(self, item):
        return Outcome("rejected", problem=FinanceProblem("HTTP-REJECTED", "Kreditor gesperrt"))


# --------------------------------------------------------------------------------------------
# who may pay
# --------------------------------------------------------------------------------------------
@pytest.fixture
def posted(db, org, clock):
    invoice_id = released_invoice(db, org, amount="119.00", due_date=dt.date(2026, 12, 1))
    Outbox(db, org, BookingConnector(), now=clock).deliver_pending()
    assert _state(db, invoice_id) == "posted"
    return invoice_id


def test_unknown_or_unauthorised_people_cannot_run_or_release_payments(db, org, posted, tmp_path):
    for actor, rule in (("mallory", "UNKNOWN-PERSON"), ("system", "UNKNOWN-PERSON"), ("a.schulz", "NOT-AUTHORISED"),
                        ("w.zimmermann", "NOT-AUTHORISED"), ("k.lange", "AUDITOR-READ-ONLY")):
        with pytest.raises(FinanceError) as exc:
            payment_run(db, org, due_by=dt.date(2026, 12, 1), output_dir=tmp_path, actor=actor)
        assert exc.value.problem.rule == rule, actor
    with db.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(PaymentRun)) == 0
    run = payment_run(db, org, due_by=dt.date(2026, 12, 1), output_dir=tmp_path, actor="j.krause")
    for person, rule in (("mallory", "UNKNOWN-PERSON"), ("c.wagner", "NOT-AUTHORISED"), ("k.lange", "AUDITOR-READ-ONLY")):
        got = release_payment_run(db, org, run.run_id, person, output_dir=tmp_path)
        assert not got.ok and got.problem.rule == rule and got.status == "created", person
    # the Kasse's Wertgrenze counts for the file's total: q.fuchs-like limits come from the organisation file
    data = org_data()
    data["people"].append({"id": "y.klein", "name": "Yvonne Klein", "grants": [{"department": "20", "role": "treasury",
                                                                                  "limit_eur": 100}]})
    small = parse_organisation(data)
    got = release_payment_run(db, small, run.run_id, "y.klein", output_dir=tmp_path)
    assert got.problem.rule == "LIMIT"
    assert _state(db, posted) == "posted" and list(tmp_path.glob("*.xml")) == []


def test_a_payment_file_released_by_one_person_does_not_reach_the_bank(db, org, posted, tmp_path):
    bank = tmp_path / "bank"
    run = payment_run(db, org, due_by=dt.date(2026, 12, 1), output_dir=bank, actor="j.krause")
    assert run.path is None and run.status == "created"
    first = release_payment_run(db, org, run.run_id, "j.krause", output_dir=bank)
    assert first.ok and first.status == "first_release" and first.path is None
    again = release_payment_run(db, org, run.run_id, "j.krause", output_dir=bank)
    assert not again.ok and again.problem.rule == "PAY-FOUR-EYES"
    with pytest.raises(FinanceError) as exc:
        export_run(db, run.run_id, bank)
    assert exc.value.problem.rule == "PAY-NOT-RELEASED"
    # a later payment run does not write it either, and does not pay its invoice a second time
    later = payment_run(db, org, due_by=dt.date(2030, 1, 1), output_dir=bank, actor="v.koenig")
    assert later.count == 0 and later.recovered == [] and unwritten_runs(db) == []
    assert not bank.exists() and _state(db, posted) == "posted"
    assert _events(db, posted, "paid") == []
    second = release_payment_run(db, org, run.run_id, "v.koenig", output_dir=bank)
    assert second.ok and second.status == "released" and second.path.exists()
    assert _state(db, posted) == "paid"
    assert release_payment_run(db, org, run.run_id, "q.fuchs", output_dir=bank).problem.rule == "PAY-RUN-STATE"


def test_who_gave_the_anordnung_or_booked_by_hand_cannot_release_the_payment(db, tmp_path, clock):
    data = org_data(tmp_path)
    # an organisation file that (wrongly) gives one person Anordnung and Kasse: the run still refuses her
    data["people"].append({"id": "x.doppel", "name": "Xenia Doppel", "grants": [
        {"department": "66", "role": "anordnen"}, {"department": "20", "role": "treasury"}]})
    data["people"].append({"id": "z.buch", "name": "Zora Buch", "grants": [
        {"department": "20", "role": "bookkeeping"}, {"department": "20", "role": "treasury"}]})
    org = parse_organisation(data)
    invoice_id = _schmidt_invoice(db, org, amount="300.00", due_date=dt.date(2026, 12, 1))
    svc = ApprovalService(db, org, today=lambda: TODAY, on_release=[lambda s, r: enqueue_posting(s, r, org)])
    for person, amount in (("a.schulz", None), ("b.keller", Decimal("300.00")), ("x.doppel", None), ("j.krause", None)):
        assert svc.approve(svc.open_task_of(invoice_id).task_id, person, amount=amount).ok, person
    outbox = Outbox(db, org, RejectingConnector(), now=clock)
    outbox.deliver_pending()
    with db.sessions() as s:
        ob_id = s.scalar(sa.select(FinanceOutbox.id))
    assert outbox.resolve_booked(ob_id, "z.buch", booking_number="HAND-7", comment="Sperre aufgehoben, von Hand gebucht") is None
    assert _state(db, invoice_id) == "posted"

    run = payment_run(db, org, due_by=dt.date(2026, 12, 1), output_dir=tmp_path, actor="j.krause")
    got = release_payment_run(db, org, run.run_id, "x.doppel", output_dir=tmp_path)
    assert not got.ok and got.problem.rule == "PAY-RELEASE-ANORDNUNG" and str(invoice_id) in got.problem.message
    got = release_payment_run(db, org, run.run_id, "z.buch", output_dir=tmp_path)
    assert not got.ok and got.problem.rule == "PAY-RELEASE-BOOKED"
    assert release_payment_run(db, org, run.run_id, "j.krause", output_dir=tmp_path).ok
    assert release_payment_run(db, org, run.run_id, "v.koenig", output_dir=tmp_path).path.exists()


# --------------------------------------------------------------------------------------------
# separation of duties from the organisation file
# --------------------------------------------------------------------------------------------
def test_combined_sachlich_rechnerisch_only_where_configured(db, tmp_path):
    data = org_data(tmp_path)
    data["approval"]["separation_of_duties"] = {"may_combine": [], "departments": {"40": {"may_combine": [["sachlich", "rechnerisch"]]}}}
    org = parse_organisation(data)
    svc = ApprovalService(db, org, today=lambda: TODAY, on_release=[])

    school = add_invoice(db, org, department="40", amount="500.00")
    assert svc.approve(svc.open_task_of(school).task_id, "d.yilmaz").ok
    task = svc.open_task_of(school)
    assert task.step == Step.RECHNERISCH and "d.yilmaz" in task.candidates
    assert school in [v.invoice_id for v in svc.inbox("d.yilmaz")]
    assert svc.approve(task.task_id, "d.yilmaz", amount=Decimal("500.00")).ok  # Dienstanweisung allows it in 40
    # ... but never the Anordnung by who certified the amounts (e.hoffmann has no rechnerisch grant: fine)
    assert svc.open_task_of(school).step == Step.ANORDNUNG

    town_hall = add_invoice(db, org, department="10", amount="500.00")
    assert svc.approve(svc.open_task_of(town_hall).task_id, "f.becker").ok
    task = svc.open_task_of(town_hall)
    assert "f.becker" not in task.candidates and town_hall not in [v.invoice_id for v in svc.inbox("f.becker")]
    r = svc.approve(task.task_id, "f.becker", amount=Decimal("500.00"))
    assert not r.ok and r.refusal.rule == "SOD-ONE-PERSON-ONE-STEP"

    # the default (no configuration) is strict everywhere
    strict = ApprovalService(db, parse_organisation(org_data(tmp_path)), today=lambda: TODAY, on_release=[])
    school2 = add_invoice(db, org, department="40", amount="500.00")
    assert strict.approve(strict.open_task_of(school2).task_id, "d.yilmaz").ok
    r = strict.approve(strict.open_task_of(school2).task_id, "d.yilmaz", amount=Decimal("500.00"))
    assert r.refusal.rule == "SOD-ONE-PERSON-ONE-STEP"

    bad = copy.deepcopy(data)
    bad["approval"]["separation_of_duties"] = {"may_combine": [["rechnerisch", "anordnung"]]}
    with pytest.raises(OrganisationConfigError, match="Anordnung"):
        parse_organisation(bad)
    bad["approval"]["separation_of_duties"] = {"departments": {"99": {"may_combine": [["sachlich", "rechnerisch"]]}}}
    with pytest.raises(OrganisationConfigError, match="unknown department '99'"):
        parse_organisation(bad)


def test_org_check_names_the_department_and_step_that_cannot_be_completed(tmp_path, monkeypatch):
    from einvoice.cli import main

    runner = CliRunner()
    example = runner.invoke(main, ["org", "check", "examples/musterhausen.yaml"])
    assert example.exit_code == 0 and "every department can complete" in example.output, example.output
    # Wertgrenzen: in 66 the Anordnung reaches 25,000 EUR (c.wagner), so larger invoices need someone else
    assert "[ORG-CHAIN-LIMIT] department 66: Rechnungen über 25.000,00 EUR" in example.output

    data = org_data()
    data["people"] = [p for p in data["people"] if p["id"] not in ("r.schneider", "t.fin10")]  # 10: only f.becker certifies
    for p in data["people"]:  # 40: nobody may give the Anordnung
        p["grants"] = [g for g in p["grants"] if not (g["department"] == "40" and g["role"] == "anordnen")]
    next(p for p in data["people"] if p["id"] == "i.neumann")["grants"].append({"department": "20", "role": "treasury"})
    out = runner.invoke(main, ["org", "check", write_org(tmp_path / "broken.yaml", data)])
    assert out.exit_code == 1
    assert "[ORG-CHAIN-SOD] department 10, step rechnerisch" in out.output
    assert "[ORG-STEP-NOBODY] department 40, step anordnung" in out.output
    assert "[ORG-ROLE-CONFLICT]" in out.output and "i.neumann" in out.output
    assert "department 66" not in out.output.replace("[ORG-CHAIN-LIMIT] department 66", "")

    data["approval"]["separation_of_duties"] = {"departments": {"10": {"may_combine": [["sachlich", "rechnerisch"]]}}}
    out = runner.invoke(main, ["org", "check", write_org(tmp_path / "combined.yaml", data)])
    assert "department 10" not in out.output.replace("[ORG-CHAIN-LIMIT] department 10", "")


# --------------------------------------------------------------------------------------------
# the Kontierung is frozen by the Anordnung
# --------------------------------------------------------------------------------------------
def test_kontierung_change_after_the_anordnung_goes_back_to_the_anordnung(db, org):
    svc = ApprovalService(db, org, today=lambda: TODAY, on_release=[lambda s, r: enqueue_posting(s, r, org)])
    invoice_id = _schmidt_invoice(db, org, amount="1000.00")
    line = {"amount": "1000.00", "sachkonto": "5221000", "kostenstelle": "6600", "produkt": "12.01.01"}
    assert set_account_assignment(db, org, invoice_id, "a.schulz", [line]) is None  # before the Anordnung: free
    for person, amount in (("a.schulz", None), ("b.keller", Decimal("1000.00")), ("c.wagner", None)):
        assert svc.approve(svc.open_task_of(invoice_id).task_id, person, amount=amount).ok
    assert svc.open_task_of(invoice_id).step == Step.FREIGABE

    split = [{**line, "amount": "600.00"}, {**line, "amount": "400.00", "kostenstelle": "6610"}]
    refused = set_account_assignment(db, org, invoice_id, "b.keller", split)
    assert refused.rule == "KONTIERUNG-NACH-ANORDNUNG" and "c.wagner" in refused.message
    assert svc.open_task_of(invoice_id).step == Step.FREIGABE

    assert set_account_assignment(db, org, invoice_id, "b.keller", split, comment="Kostenstelle 6610 trägt 400 EUR") is None
    task = svc.open_task_of(invoice_id)
    assert task.step == Step.ANORDNUNG and _state(db, invoice_id) == "in_approval"
    [ev] = _events(db, invoice_id, "account_assignment_after_anordnung")
    assert (ev.actor, ev.comment) == ("b.keller", "Kostenstelle 6610 trägt 400 EUR")
    assert json.loads(ev.details_json)["previous_anordnung_by"] == "c.wagner"
    with db.sessions() as s:
        valid = s.scalars(sa.select(ApprovalTask.step).where(ApprovalTask.invoice_id == invoice_id,
                                                             ApprovalTask.signoff_valid.is_(True))).all()
    assert sorted(valid) == ["rechnerisch", "sachlich"]
    # the Freigabe cannot skip the new Anordnung; c.wagner orders again with the new Kontierung
    assert svc.approve(task.task_id, "c.wagner").ok
    assert svc.approve(svc.open_task_of(invoice_id).task_id, "j.krause").ok
    rec = posting_record(db, invoice_id)
    assert sorted(a["kostenstelle"] for a in rec["account_assignment"]) == ["6600", "6610"]
    assert [c["person"] for c in rec["certifications"] if c["step"] == "anordnung"] == ["c.wagner"]


# --------------------------------------------------------------------------------------------
# exactly once under concurrency (PostgreSQL: real row locks; SQLite: serialised writers)
# --------------------------------------------------------------------------------------------
def _together(fn, n=2):
    import threading

    results, errors = [], []
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(10)
            results.append(fn(i))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [], errors
    return results


def test_two_repairs_at_once_queue_each_invoice_once(db, org):
    from einvoice.finance import queue_missing_postings

    legacy = ApprovalService(db, org, today=lambda: TODAY, on_release=[])
    ids = [_schmidt_invoice(db, org, amount=f"{n}00.00") for n in range(1, 4)]
    for invoice_id in ids:
        for person, amount in (("a.schulz", None), ("b.keller", True), ("c.wagner", None), ("j.krause", None)):
            task = legacy.open_task_of(invoice_id)
            assert legacy.approve(task.task_id, person, amount=task.amount_due if amount else None).ok
    reports = _together(lambda i: queue_missing_postings(db, lambda s, r: enqueue_posting(s, r, org)))
    assert sorted(i for r in reports for i in r.queued) == ids and all(r.problems == [] for r in reports)
    for invoice_id in ids:
        assert _postings(db, invoice_id) == 1 and len(_events(db, invoice_id, "posting_repaired")) == 1


def test_two_second_releases_at_once_pay_once(db, org, posted, tmp_path):
    run = payment_run(db, org, due_by=dt.date(2026, 12, 1), output_dir=tmp_path, actor="j.krause")
    assert release_payment_run(db, org, run.run_id, "j.krause", output_dir=tmp_path).ok
    people = ("v.koenig", "q.fuchs")
    results = _together(lambda i: release_payment_run(db, org, run.run_id, people[i], output_dir=tmp_path / people[i]))
    won = [r for r in results if r.ok]
    assert len(won) == 1 and won[0].status == "released"
    [lost] = [r for r in results if not r.ok]
    assert lost.problem.rule in ("PAY-RUN-STATE", "STALE")
    assert _state(db, posted) == "paid" and len(_events(db, posted, "paid")) == 1
    assert len(list(tmp_path.rglob("*.xml"))) == 1


def test_a_booking_number_is_entered_by_the_finanzbuchhaltung_only(db, monkeypatch, tmp_path):
    data = org_data(tmp_path)  # file connector: the export waits for the finance system's booking number
    org = parse_organisation(data)
    invoice_id = released_invoice(db, org, amount="77.00")
    assert Outbox(db, org).deliver_pending().delivered == 1
    key = posting_record(db, invoice_id)["idempotency_key"]
    cli = _cli(monkeypatch, db, write_org(tmp_path / "org.yaml", data))
    assert "UNKNOWN-PERSON" in cli("finance", "confirm", key, "FIBU-9", "--by", "finance-system", code=1)
    assert "NOT-AUTHORISED" in cli("finance", "confirm", key, "FIBU-9", "--by", "j.krause", code=1)
    # the refusal in the language set (German by default), English when set
    german = cli("finance", "confirm", key, "FIBU-9", "--by", "finance-system", code=1)
    monkeypatch.setenv("EINVOICE_LANGUAGE", "en")
    english = cli("finance", "confirm", key, "FIBU-9", "--by", "finance-system", code=1)
    monkeypatch.delenv("EINVOICE_LANGUAGE")
    assert german.startswith("abgelehnt [UNKNOWN-PERSON]") and "namentlich bekannte Person" in german, german
    assert english.startswith("refused [UNKNOWN-PERSON]") and "only a person known by name may enter a booking number" in english
    from tests.wording import foreign_words

    assert not foreign_words(german, "de") and not foreign_words(english, "en"), (german, english)
    assert _state(db, invoice_id) == "released"
    cli("finance", "confirm", key, "FIBU-9", "--by", "w.zimmermann")
    assert _state(db, invoice_id) == "posted"
    [ev] = _events(db, invoice_id, "posted")
    assert ev.actor == "w.zimmermann" and "FIBU-9" in ev.comment
