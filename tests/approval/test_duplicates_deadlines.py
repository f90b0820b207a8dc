"""Duplicate detection (exact, near, override, configuration), the inbox order and filters, reminders."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from einvoice.approval import ApprovalService, Step
from einvoice.approval.duplicates import normalise_number
from tests.approval.conftest import IN_ABSENCE, TODAY
from tests.approval.test_workflow import approve_through, open_task, refused


@pytest.mark.parametrize("a, b", [("RE-0042", "re 42"), ("2026/00017", "2026-17"), ("A.B.7", "ab7")])
def test_normalised_numbers_match(a, b):
    assert normalise_number(a) == normalise_number(b)


@pytest.mark.parametrize("a, b", [("RE-42", "RE-43"), ("2026-17", "2027-17"), ("RE-420", "RE-42")])
def test_normalised_numbers_differ(a, b):
    assert normalise_number(a) != normalise_number(b)


def test_exact_duplicate_is_flagged_and_blocks_release_until_overridden(svc, new_invoice):
    first = new_invoice(number="RE-2026-100")
    second = new_invoice(number="RE-2026-100")
    assert svc.duplicates(first) == []
    flags = svc.duplicates(second)
    assert [(f.kind, f.other_invoice_id) for f in flags] == [("exact", first)]
    t = open_task(svc, second)
    assert t.blocked_by_duplicate  # visible before any approval
    assert svc.history(second)[-1].action == "duplicate_flagged"
    # the steps may be certified, but not the release
    approve_through(svc, second, ["a.schulz", "b.keller", "c.wagner"], amount=Decimal("1190.00"))
    t = open_task(svc, second)
    r = refused(svc.approve(t.task_id, "j.krause"), "DUPLICATE-BLOCKS")
    assert "RE-2026-100" in r.message
    refused(svc.override_duplicate(second, "a.schulz", reason="different delivery"), "NOT-AUTHORISED")
    refused(svc.override_duplicate(second, "c.wagner", reason=""), "REASON-REQUIRED")
    refused(svc.override_duplicate(first, "c.wagner", reason="x"), "NO-DUPLICATE-FLAG")
    assert svc.override_duplicate(second, "c.wagner", reason="partial delivery, supplier reused the number (phoned 23.11.)").ok
    ev = svc.history(second)[-1]
    assert (ev.action, ev.actor) == ("duplicate_override", "c.wagner") and "phoned" in ev.comment
    assert svc.duplicates(second)[0].overridden_by == "c.wagner"
    assert svc.approve(t.task_id, "j.krause").ok


def test_same_number_from_another_seller_is_not_a_duplicate(svc, new_invoice):
    new_invoice(number="1001", seller_vat_id="DE111111111")
    other = new_invoice(number="1001", seller_vat_id="DE222222222")
    assert svc.duplicates(other) == []


def test_seller_id_counts_when_no_vat_id(svc, new_invoice):
    new_invoice(number="77", seller_vat_id=None, seller_id="LIEF-9")
    second = new_invoice(number="77", seller_vat_id=None, seller_id="LIEF-9")
    assert [f.kind for f in svc.duplicates(second)] == ["exact"]


def test_near_duplicate_same_seller_amount_date_other_number_format(svc, new_invoice):
    first = new_invoice(number="RE-0042", amount="500.00")
    near = new_invoice(number="re 42", amount="500.00")
    assert [(f.kind, f.other_invoice_id) for f in svc.duplicates(near)] == [("near", first)]
    other_amount = new_invoice(number="RE 42", amount="501.00")
    assert svc.duplicates(other_amount) == []
    other_date = new_invoice(number="RE42", amount="500.00", issue_date=dt.date(2026, 11, 3))
    assert svc.duplicates(other_date) == []


def test_duplicate_detection_is_configurable(db, org, clock, new_invoice):
    off = org.model_copy(update={"duplicates": org.duplicates.model_copy(update={"enabled": False})})
    exact_only = org.model_copy(update={"duplicates": org.duplicates.model_copy(update={"near_duplicates": False})})
    from tests.approval.conftest import add_invoice

    add_invoice(db, org, number="X-1")
    assert ApprovalService(db, org, on_release=[]).duplicates(add_invoice(db, off, number="X-1")) == []
    assert ApprovalService(db, org, on_release=[]).duplicates(add_invoice(db, exact_only, number="x1")) == []
    assert [f.kind for f in ApprovalService(db, org, on_release=[]).duplicates(add_invoice(db, exact_only, number="X-1"))] == ["exact", "exact"]  # both earlier X-1


def test_rejected_original_does_not_count(svc, new_invoice):
    new_invoice(number="R-5", state="rejected")  # failed validation, never payable
    again = new_invoice(number="R-5")
    assert svc.duplicates(again) == []


def test_start_approval_ignores_invoices_not_in_approval(svc, new_invoice):
    inv = new_invoice(state="not_validated")
    assert svc.open_task_of(inv) is None


def test_unrouted_invoice_goes_to_central_desk(svc, new_invoice, org):
    inv = new_invoice(department=None, routing_rule="central-desk")
    t = open_task(svc, inv)
    assert t.department == org.central_desk
    assert t.task_id in [x.task_id for x in svc.inbox("h.wolf")]


# --- inbox ---------------------------------------------------------------------------------------
def test_inbox_sorted_by_deadline_skonto_first(svc, new_invoice):
    late = new_invoice(due_date=dt.date(2026, 12, 20))
    none = new_invoice(due_date=None)
    skonto = new_invoice(due_date=dt.date(2026, 12, 30), skonto_until=dt.date(2026, 11, 26), skonto_percent="2.00", amount="10000.00")
    soon = new_invoice(due_date=dt.date(2026, 12, 1))
    box = svc.inbox("a.schulz")
    assert [v.invoice_id for v in box] == [skonto, soon, late, none]
    first = box[0]
    assert first.deadline == dt.date(2026, 11, 26) and first.days_left == 3
    assert first.skonto_amount == Decimal("200.00") and first.skonto_percent == Decimal("2.00")
    assert box[-1].days_left is None
    assert [v.invoice_id for v in svc.inbox("a.schulz", limit=2, offset=1)] == [soon, late]


def test_inbox_only_shows_what_the_person_may_decide(svc, new_invoice):
    mine = new_invoice(amount="800.00")
    schule = new_invoice(department="40")
    big = new_invoice(amount="5000.00")
    assert {v.invoice_id for v in svc.inbox("a.schulz")} == {mine, big}
    assert {v.invoice_id for v in svc.inbox("m.vogel")} == {mine}  # sachlich only up to 1,000
    assert svc.inbox("c.wagner") == []  # nothing at the Anordnung step yet
    assert {v.invoice_id for v in svc.inbox("d.yilmaz")} == {schule}
    assert svc.inbox("a.schulz", department="40") == []
    assert svc.inbox("nobody") == []


def test_inbox_search_and_step_filter(svc, new_invoice):
    a = new_invoice(number="TBA-777", seller_name="Asphalt Nord GmbH")
    b = new_invoice(number="TBA-888", seller_name="Kanalbau Süd")
    assert [v.invoice_id for v in svc.inbox("a.schulz", search="asphalt")] == [a]
    assert [v.invoice_id for v in svc.inbox("a.schulz", search="888")] == [b]
    assert svc.inbox("a.schulz", search="50%") == []
    assert svc.inbox("a.schulz", state="rechnerisch") == []


def test_inbox_of_deputy_and_separation_of_duties(svc, clock, new_invoice):
    inv = new_invoice()
    assert inv not in [v.invoice_id for v in svc.inbox("b.keller")]
    clock.today = IN_ABSENCE
    assert inv in [v.invoice_id for v in svc.inbox("b.keller")]
    svc.approve(open_task(svc, inv).task_id, "b.keller")
    assert inv not in [v.invoice_id for v in svc.inbox("b.keller")]  # already signed sachlich for a.schulz
    assert inv in [v.invoice_id for v in svc.inbox("l.schmitt")]


def test_treasury_inbox_spans_departments(svc, new_invoice):
    inv = new_invoice(amount="100.00")
    approve_through(svc, inv, ["a.schulz", "b.keller", "c.wagner"], amount=Decimal("100.00"))
    assert [v.step for v in svc.inbox("j.krause") if v.invoice_id == inv] == [Step.FREIGABE]
    assert [v.invoice_id for v in svc.inbox("q.fuchs")] == [inv]  # within 5,000


# --- reminders and escalation ----------------------------------------------------------------------
def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(7, 0), tzinfo=dt.timezone.utc)


def test_reminder_then_escalation_once_each(svc, new_invoice):
    inv = new_invoice(due_date=dt.date(2027, 3, 1))
    created = dt.date.today()
    assert svc.send_reminders(_at(created + dt.timedelta(days=1))) == []
    sent = svc.send_reminders(_at(created + dt.timedelta(days=3)))
    assert [(r.kind, r.invoice_id) for r in sent] == [("reminder", inv)]
    assert "a.schulz" in sent[0].recipients and "m.vogel" not in sent[0].recipients  # over m.vogel's limit
    assert svc.send_reminders(_at(created + dt.timedelta(days=4))) == []
    sent = svc.send_reminders(_at(created + dt.timedelta(days=7)))
    assert [(r.kind, r.recipients) for r in sent] == [("escalation", ("c.wagner",))]
    assert svc.send_reminders(_at(created + dt.timedelta(days=30))) == []
    assert [e.action for e in svc.history(inv)][-2:] == ["reminder", "escalation"]


def test_skonto_close_triggers_reminder_with_money_at_risk(svc, new_invoice):
    created = dt.date.today()
    inv = new_invoice(skonto_until=created + dt.timedelta(days=2), skonto_percent="3.00", amount="20000.00",
                      due_date=created + dt.timedelta(days=30))
    sent = svc.send_reminders(_at(created))
    assert len(sent) == 1 and sent[0].kind == "reminder" and sent[0].invoice_id == inv
    assert sent[0].skonto_amount == Decimal("600.00")
    assert "Skonto von 600,00 EUR verfällt" in sent[0].message  # German by default (EINVOICE_LANGUAGE)


def test_escalation_goes_to_central_desk_without_head(db, org, new_invoice):
    # Department 66 without a head: escalations must still reach someone.
    data = org.model_dump(mode="json")
    for p in data["people"]:
        p["grants"] = [g for g in p["grants"] if not (g["role"] == "head" and g["department"] == "66")]
    from einvoice.organisation import parse_organisation

    headless = parse_organisation(data)
    svc = ApprovalService(db, headless, on_release=[])
    new_invoice()
    sent = svc.send_reminders(_at(dt.date.today() + dt.timedelta(days=10)))
    assert sent[0].kind == "escalation" and sent[0].recipients == ("h.wolf",)


def test_closed_tasks_get_no_reminders(svc, new_invoice):
    inv = new_invoice()
    approve_through(svc, inv, ["a.schulz"])
    sent = svc.send_reminders(_at(dt.date.today() + dt.timedelta(days=3)))
    assert [(r.step, r.invoice_id) for r in sent] == [(Step.RECHNERISCH, inv)]


def test_candidates_agree_with_capacity(org):
    """people_for (fast, for lists) must say exactly what capacity + separation of duties say."""
    from einvoice.approval import rules

    for role in (rules.Role.SACHLICH, rules.Role.RECHNERISCH, rules.Role.ANORDNEN, rules.Role.TREASURY):
        for dept in ("10", "20", "40", "51", "66"):
            for amount in (Decimal("500"), Decimal("4000"), Decimal("30000"), None):
                for day in (TODAY, IN_ABSENCE):
                    for exclude in (frozenset(), frozenset({"a.schulz"}), frozenset({"b.keller", "c.wagner"})):
                        slow = []
                        for p in org.people:
                            cap = rules.capacity(org, p.id, role, dept, amount, day, what="act")
                            if isinstance(cap, rules.Capacity) and not (cap.involved & exclude):
                                slow.append(p.id)
                        assert rules.people_for(org, role, dept, amount, day, exclude) == slow, (role, dept, amount, day, exclude)


def test_duplicate_settings_are_checked_on_load():
    from einvoice.organisation import OrganisationConfigError, parse_organisation
    from tests.approval.conftest import org_data

    data = org_data()
    data["duplicates"] = {"ignore_states": ["rejectd"]}
    with pytest.raises(OrganisationConfigError, match="duplicates.ignore_states.*unknown invoice state"):
        parse_organisation(data, "town.yaml")


def test_reminder_goes_to_head_when_nobody_may_decide(svc, new_invoice):
    inv = new_invoice(department="51", amount="9000.00")  # 51: Anordnung only up to 5,000 (g.richter)
    approve_through(svc, inv, ["f.becker", "g.richter"], amount=Decimal("9000.00"))
    assert open_task(svc, inv).candidates == ()
    sent = svc.send_reminders(_at(dt.date.today() + dt.timedelta(days=3)))
    mine = [r for r in sent if r.invoice_id == inv]
    assert mine and mine[0].kind == "reminder" and mine[0].recipients and "Heute darf niemand diesen Schritt entscheiden" in mine[0].message


def test_passed_skonto_is_shown_as_lost(svc, clock, new_invoice):
    inv = new_invoice(skonto_until=dt.date(2026, 11, 20), skonto_percent="2.00", amount="1000.00")
    v = open_task(svc, inv)
    assert v.skonto_lost and v.skonto_amount == Decimal("20.00") and v.days_left == -3 and v.overdue


def test_batch_start_flags_each_invoice_against_earlier_ones_only(db, org, svc, new_invoice):
    """Intake opens the approval of a whole batch at once (start_approval_many): an invoice is
    compared with everything received before it, including earlier invoices of the same batch,
    and never with later ones; every invoice gets exactly one open first task."""
    import uuid

    from einvoice.approval import start_approval_many
    from einvoice.db.models import InvoiceRow

    before = new_invoice(number="RE-7", amount="100.00")
    with db.transaction() as s:
        rows = [InvoiceRow(file_sha256=uuid.uuid4().hex * 2, filename=f"b{i}.xml", channel="test", size=1, state="in_approval",
                        valid=True, verdict="valid", invoice_number=number, issue_date=dt.date(2026, 11, 2), type_code="380",
                        currency="EUR", seller_name="Tiefbau Muster GmbH", seller_vat_id="DE123456789",
                        amount_due=Decimal(amount), tax_inclusive_amount=Decimal(amount), department="66")
                for i, (number, amount) in enumerate([("RE-8", "200.00"), ("RE-7", "300.00"), ("re 0008", "200.00"), ("RE-9", "1.00")])]
        s.add_all(rows)
        start_approval_many(s, rows, org)
        ids = [r.id for r in rows]
    assert [[(f.kind, f.other_invoice_id) for f in svc.duplicates(i)] for i in ids] == [
        [], [("exact", before)], [("near", ids[0])], []]
    assert svc.duplicates(before) == []
    for i in ids:
        assert open_task(svc, i).step == Step.SACHLICH.value
