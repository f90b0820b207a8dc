"""The approval chain end to end, and every rule with a case that passes and a case that is refused."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from einvoice.approval import ApprovalService, Step
from einvoice.approval.tables import ApprovalTask
from einvoice.db.models import InvoiceEvent, InvoiceRow
from einvoice.organisation import parse_organisation
from tests.approval.conftest import IN_ABSENCE, org_data


def open_task(svc, invoice_id):
    t = svc.open_task_of(invoice_id)
    assert t is not None, "invoice has no open task"
    return t


def approve_through(svc, invoice_id, people, amount=None):
    """Approve the open steps in order with the given people; asserts each succeeds."""
    for person in people:
        t = open_task(svc, invoice_id)
        r = svc.approve(t.task_id, person, amount=amount if t.step == Step.RECHNERISCH else None)
        assert r.ok, (person, t.step, r.refusal)
    return r


def refused(result, rule):
    assert not result.ok, "expected a refusal"
    assert result.refusal.rule == rule, result.refusal
    assert result.refusal.message
    return result.refusal


# --- the full path ---------------------------------------------------------------------------------
def test_full_path_releases_and_runs_hook_in_the_same_transaction(db, org, clock, new_invoice):
    from einvoice.approval import ApprovalService

    seen = []

    def hook(session, invoice):
        # Finance writes its outbox record here: same session, invoice already released.
        seen.append((invoice.id, invoice.state))
        session.add(InvoiceEvent(invoice_id=invoice.id, actor="system", action="outbox", to_state=invoice.state))

    svc = ApprovalService(db, org, today=clock, on_release=[hook])
    inv = new_invoice(amount="1190.00")
    t = open_task(svc, inv)
    assert t.step == Step.SACHLICH and t.department == "66" and "a.schulz" in t.candidates

    steps = []
    for person in ("a.schulz", "b.keller", "c.wagner", "j.krause"):
        t = open_task(svc, inv)
        steps.append(t.step)
        r = svc.approve(t.task_id, person, amount=Decimal("1190.00") if t.step == Step.RECHNERISCH else None, comment=f"ok {person}")
        assert r.ok, r.refusal
    assert steps == [Step.SACHLICH, Step.RECHNERISCH, Step.ANORDNUNG, Step.FREIGABE]
    assert r.invoice_state == "released" and r.next_step is None
    assert seen == [(inv, "released")]
    assert svc.open_task_of(inv) is None

    actions = [(e.action, e.actor, e.role, e.from_state, e.to_state) for e in svc.history(inv)]
    assert actions == [
        ("received", "system", None, None, "in_approval"),
        ("sachlich_richtig", "a.schulz", "sachlich", "in_approval", "in_approval"),
        ("rechnerisch_richtig", "b.keller", "rechnerisch", "in_approval", "in_approval"),
        ("anordnung", "c.wagner", "anordnen", "in_approval", "in_approval"),
        ("freigabe", "j.krause", "treasury", "in_approval", "released"),
        ("outbox", "system", None, None, "released"),
    ]
    assert svc.history(inv)[2].amount == Decimal("1190.00")


def test_failing_release_hook_rolls_the_release_back(db, org, clock, new_invoice):
    from einvoice.approval import ApprovalService

    def hook(session, invoice):
        session.add(InvoiceEvent(invoice_id=invoice.id, actor="system", action="outbox", to_state=invoice.state))
        raise RuntimeError("finance outbox unavailable")

    svc = ApprovalService(db, org, today=clock, on_release=[hook])
    inv = new_invoice()
    approve_through(svc, inv, ["a.schulz", "b.keller", "c.wagner"], amount=Decimal("1190.00"))
    t = open_task(svc, inv)
    r = svc.approve(t.task_id, "j.krause")
    refused(r, "RELEASE-FAILED")
    assert "finance outbox unavailable" in r.refusal.message
    assert r.invoice_state == "in_approval"
    assert open_task(svc, inv).task_id == t.task_id
    assert [e.action for e in svc.history(inv)][-1] == "anordnung"
    # after the problem is fixed the same person can release
    svc.on_release.clear()
    assert svc.approve(t.task_id, "j.krause").ok


def test_one_person_release_when_org_says_so(db, org, clock, new_invoice):
    from einvoice.approval import ApprovalService

    org3 = org.model_copy(update={"approval": org.approval.model_copy(update={"two_person_release": False})})
    svc = ApprovalService(db, org3, today=clock, on_release=[])
    inv = new_invoice()
    r = approve_through(svc, inv, ["a.schulz", "b.keller", "c.wagner"], amount=Decimal("1190.00"))
    assert r.invoice_state == "released"


# --- rechnerische Richtigkeit needs the amount --------------------------------------------------
def test_rechnerisch_requires_the_confirmed_amount(svc, new_invoice):
    inv = new_invoice(amount="2380.00")
    approve_through(svc, inv, ["a.schulz"])
    t = open_task(svc, inv)
    refused(svc.approve(t.task_id, "b.keller"), "AMOUNT-REQUIRED")
    refused(svc.approve(t.task_id, "b.keller", amount=Decimal("2000.00")), "AMOUNT-MISMATCH")
    r = svc.approve(t.task_id, "b.keller", amount=Decimal("2380.00"))
    assert r.ok and r.next_step == Step.ANORDNUNG
    ev = svc.history(inv)[-1]
    assert ev.action == "rechnerisch_richtig" and ev.amount == Decimal("2380.00")


# --- separation of duties --------------------------------------------------------------------------
def test_anordnung_not_by_who_certified_rechnerisch(svc, new_invoice):
    inv = new_invoice()
    approve_through(svc, inv, ["a.schulz", "l.schmitt"], amount=Decimal("1190.00"))
    t = open_task(svc, inv)
    assert t.step == Step.ANORDNUNG
    assert "l.schmitt" not in t.candidates
    refused(svc.approve(t.task_id, "l.schmitt"), "SOD-ANORDNUNG-RECHNERISCH")
    assert svc.approve(t.task_id, "c.wagner").ok


def test_anordnung_allowed_for_rechnerisch_holder_who_did_not_certify(svc, new_invoice):
    inv = new_invoice()
    approve_through(svc, inv, ["a.schulz", "b.keller"], amount=Decimal("1190.00"))
    assert svc.approve(open_task(svc, inv).task_id, "l.schmitt").ok  # holds rechnerisch too, but did not sign it here


def test_one_person_never_fills_two_steps(svc, new_invoice):
    inv = new_invoice(department="40")
    approve_through(svc, inv, ["d.yilmaz"])
    t = open_task(svc, inv)
    refused(svc.approve(t.task_id, "d.yilmaz", amount=Decimal("1190.00")), "SOD-ONE-PERSON-ONE-STEP")
    assert svc.approve(t.task_id, "n.koch", amount=Decimal("1190.00")).ok


def test_release_not_by_who_gave_the_anordnung(db, clock, new_invoice):
    # The example town no longer gives i.neumann the treasury role (org check forbids Anordnung + Kasse
    # in one person); a file that still does must not let her release her own Anordnung either.
    data = org_data()
    neumann = next(p for p in data["people"] if p["id"] == "i.neumann")
    neumann["grants"].append({"department": "20", "role": "treasury"})
    svc = ApprovalService(db, parse_organisation(data), today=clock, on_release=[])
    inv = new_invoice(department="20")
    approve_through(svc, inv, ["h.wolf", "o.berg", "i.neumann"], amount=Decimal("1190.00"))
    t = open_task(svc, inv)
    assert t.step == Step.FREIGABE
    refused(svc.approve(t.task_id, "i.neumann"), "SOD-ONE-PERSON-ONE-STEP")
    assert svc.approve(t.task_id, "j.krause").ok


# --- roles and limits ------------------------------------------------------------------------------
def test_not_authorised_outside_own_department_or_role(svc, new_invoice):
    inv = new_invoice()
    t = open_task(svc, inv)
    refused(svc.approve(t.task_id, "e.hoffmann"), "NOT-AUTHORISED")  # Schulamt, not Tiefbauamt
    refused(svc.approve(t.task_id, "c.wagner"), "NOT-AUTHORISED")  # Anordnung, not sachlich
    refused(svc.approve(t.task_id, "nobody"), "UNKNOWN-PERSON")
    assert svc.approve(t.task_id, "a.schulz").ok


def test_value_limits(svc, new_invoice):
    big = new_invoice(amount="30000.00")
    t = open_task(svc, big)
    refused(svc.approve(t.task_id, "m.vogel"), "LIMIT")  # sachlich up to 1,000
    assert "1" in svc.approve(t.task_id, "m.vogel").refusal.message
    approve_through(svc, big, ["a.schulz", "b.keller"], amount=Decimal("30000.00"))
    t = open_task(svc, big)
    refused(svc.approve(t.task_id, "c.wagner"), "LIMIT")  # Anordnung up to 25,000
    assert svc.approve(t.task_id, "p.roth").ok  # unlimited
    t = open_task(svc, big)
    refused(svc.approve(t.task_id, "q.fuchs"), "LIMIT")  # treasury up to 5,000
    assert svc.approve(t.task_id, "j.krause").ok

    small = new_invoice(amount="999.00")
    assert svc.approve(open_task(svc, small).task_id, "m.vogel").ok


def test_limit_boundary_is_inclusive(svc, new_invoice):
    inv = new_invoice(amount="1000.00")
    assert svc.approve(open_task(svc, inv).task_id, "m.vogel").ok


def test_auditor_is_read_only(svc, new_invoice):
    inv = new_invoice()
    t = open_task(svc, inv)
    refused(svc.approve(t.task_id, "k.lange"), "AUDITOR-READ-ONLY")
    refused(svc.reject(t.task_id, "k.lange", reason="no"), "AUDITOR-READ-ONLY")
    refused(svc.comment(inv, "k.lange", "looks odd"), "AUDITOR-READ-ONLY")
    assert svc.inbox("k.lange") == []
    assert svc.history(inv)  # reading is fine
    assert all(r is not None for r in svc.allowed(t.task_id, "k.lange").values())


# --- deputies ----------------------------------------------------------------------------------------
def test_deputy_acts_only_during_absence_and_is_recorded(svc, clock, new_invoice, db):
    inv = new_invoice()
    t = open_task(svc, inv)
    refused(svc.approve(t.task_id, "b.keller"), "DEPUTY-NOT-ABSENT")  # a.schulz is at work on TODAY
    assert t.task_id not in [x.task_id for x in svc.inbox("b.keller", state="sachlich")]
    clock.today = IN_ABSENCE
    assert t.task_id in [x.task_id for x in svc.inbox("b.keller", state="sachlich")]
    r = svc.approve(t.task_id, "b.keller")
    assert r.ok
    ev = svc.history(inv)[-1]
    assert (ev.actor, ev.on_behalf_of, ev.role) == ("b.keller", "a.schulz", "sachlich")
    with db.sessions() as s:
        task = s.get(ApprovalTask, t.task_id)
        assert (task.decided_by, task.on_behalf_of, task.decided_on) == ("b.keller", "a.schulz", IN_ABSENCE)
    # having stood in for sachlich, b.keller may not also certify rechnerisch
    t2 = open_task(svc, inv)
    refused(svc.approve(t2.task_id, "b.keller", amount=Decimal("1190.00")), "SOD-ONE-PERSON-ONE-STEP")
    assert svc.approve(t2.task_id, "l.schmitt", amount=Decimal("1190.00")).ok


def test_deputy_after_absence_ends(svc, clock, new_invoice):
    inv = new_invoice()
    clock.today = dt.date(2027, 1, 4)
    refused(svc.approve(open_task(svc, inv).task_id, "b.keller"), "DEPUTY-NOT-ABSENT")
    clock.today = dt.date(2027, 1, 3)  # last day of the absence still counts
    assert svc.approve(open_task(svc, inv).task_id, "b.keller").ok


# --- reject, send back, forward, comment, reopen -----------------------------------------------------
def test_reject_needs_reason_and_returns_invoice(svc, new_invoice, org):
    inv = new_invoice()
    approve_through(svc, inv, ["a.schulz"])
    t = open_task(svc, inv)
    refused(svc.reject(t.task_id, "b.keller", reason="  "), "REASON-REQUIRED")
    refused(svc.reject(t.task_id, "e.hoffmann", reason="wrong"), "NOT-AUTHORISED")
    r = svc.reject(t.task_id, "b.keller", reason="VAT rate wrong, please correct")
    assert r.ok and r.invoice_state == "returned"
    assert svc.open_task_of(inv) is None
    ev = svc.history(inv)[-1]
    assert (ev.action, ev.from_state, ev.to_state, ev.comment) == ("rejected", "in_approval", "returned", "VAT rate wrong, please correct")
    refused(svc.approve(t.task_id, "b.keller", amount=Decimal("1190.00")), "STALE")
    # the central desk can put it back into approval; it starts again at sachlich
    refused(svc.reopen(inv, "a.schulz"), "NOT-AUTHORISED")
    r = svc.reopen(inv, "h.wolf", comment="supplier confirmed")
    assert r.ok and r.invoice_state == "in_approval"
    assert open_task(svc, inv).step == Step.SACHLICH
    refused(svc.reopen(inv, "h.wolf"), "NOT-RETURNED")
    # a.schulz's earlier sign-off lapsed with the rejection: she may sign again
    assert svc.approve(open_task(svc, inv).task_id, "a.schulz").ok


def test_send_back_returns_to_previous_step(svc, new_invoice):
    inv = new_invoice()
    refused(svc.send_back(open_task(svc, inv).task_id, "a.schulz", reason="x"), "NO-PREVIOUS-STEP")
    approve_through(svc, inv, ["a.schulz"])
    t = open_task(svc, inv)
    refused(svc.send_back(t.task_id, "b.keller", reason=""), "REASON-REQUIRED")
    refused(svc.send_back(t.task_id, "e.hoffmann", reason="delivery note missing"), "NOT-AUTHORISED")
    r = svc.send_back(t.task_id, "b.keller", reason="delivery note missing")
    assert r.ok and r.next_step == Step.SACHLICH and r.invoice_state == "in_approval"
    t2 = open_task(svc, inv)
    assert t2.step == Step.SACHLICH
    assert svc.approve(t2.task_id, "a.schulz").ok  # the lapsed sign-off is given again
    assert open_task(svc, inv).step == Step.RECHNERISCH


def test_forward_from_central_desk(svc, new_invoice, db):
    inv = new_invoice(department="20", routing_rule="central-desk")
    t = open_task(svc, inv)
    refused(svc.forward(t.task_id, "a.schulz", department="66"), "NOT-AUTHORISED")
    refused(svc.forward(t.task_id, "h.wolf", department="99"), "UNKNOWN-DEPARTMENT")
    refused(svc.forward(t.task_id, "h.wolf", department="20"), "SAME-DEPARTMENT")
    r = svc.forward(t.task_id, "h.wolf", department="66", comment="road works, Tiefbauamt")
    assert r.ok and r.next_step == Step.SACHLICH
    t2 = open_task(svc, inv)
    assert (t2.department, t2.step) == ("66", Step.SACHLICH)
    assert t2.task_id in [x.task_id for x in svc.inbox("a.schulz")]
    with db.sessions() as s:
        row = s.get(InvoiceRow, inv)
        assert row.department == "66" and row.routing_rule == "forwarded" and "h.wolf" in row.routing_reason
    ev = svc.history(inv)[-1]
    assert ev.action == "forwarded" and ev.details["to_department"] == "66"


def test_forward_by_department_voids_earlier_signoffs(svc, new_invoice):
    inv = new_invoice()
    approve_through(svc, inv, ["a.schulz"])
    t = open_task(svc, inv)
    assert svc.forward(t.task_id, "b.keller", department="40", comment="Schulbau, not ours").ok
    t2 = open_task(svc, inv)
    assert (t2.department, t2.step) == ("40", Step.SACHLICH)
    assert svc.history(inv)[-1].details["voided_signoffs"] == ["sachlich"]


def test_comment(svc, new_invoice):
    inv = new_invoice()
    refused(svc.comment(inv, "a.schulz", " "), "REASON-REQUIRED")
    refused(svc.comment(inv, "e.hoffmann", "hello"), "NOT-AUTHORISED")
    refused(svc.comment(999999, "a.schulz", "hello"), "NO-SUCH-INVOICE")
    r = svc.comment(inv, "a.schulz", "Lieferschein liegt vor")
    assert r.ok and r.invoice_state == "in_approval"
    ev = svc.history(inv)[-1]
    assert (ev.action, ev.actor, ev.comment, ev.from_state, ev.to_state) == ("comment", "a.schulz", "Lieferschein liegt vor", "in_approval", "in_approval")


def test_stale_task_and_unknown_task(svc, new_invoice):
    inv = new_invoice()
    t = open_task(svc, inv)
    assert svc.approve(t.task_id, "a.schulz").ok
    r = svc.approve(t.task_id, "m.vogel")
    refused(r, "STALE")
    assert "Jemand anderes hat diese Aufgabe gerade entschieden" in r.refusal.message
    refused(svc.approve(123456789, "a.schulz"), "NO-SUCH-TASK")


def test_allowed_explains_each_action(svc, new_invoice):
    inv = new_invoice()
    t = open_task(svc, inv)
    a = svc.allowed(t.task_id, "a.schulz")
    assert a["approve"] is None and a["reject"] is None and a["forward"] is None and a["comment"] is None
    assert a["send_back"].rule == "NO-PREVIOUS-STEP"
    assert a["override_duplicate"].rule == "NO-DUPLICATE-FLAG"
    assert svc.allowed(t.task_id, "c.wagner")["approve"].rule == "NOT-AUTHORISED"
    svc.approve(t.task_id, "a.schulz")
    assert svc.allowed(t.task_id, "a.schulz")["approve"].rule == "STALE"


def test_every_action_writes_exactly_one_event(svc, new_invoice, db):
    inv = new_invoice()
    def count():
        with db.sessions() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(InvoiceEvent).where(InvoiceEvent.invoice_id == inv))
    n = count()
    t = open_task(svc, inv)
    svc.approve(t.task_id, "a.schulz")
    assert count() == n + 1
    t = open_task(svc, inv)
    svc.approve(t.task_id, "b.keller")
    assert count() == n + 1  # refused: AMOUNT-REQUIRED writes nothing
    svc.send_back(t.task_id, "b.keller", reason="check")
    assert count() == n + 2
    svc.comment(inv, "a.schulz", "checked")
    assert count() == n + 3


def test_override_is_value_limited_but_comments_are_not(svc, new_invoice):
    first = new_invoice(number="BIG-1", amount="30000.00")
    dup = new_invoice(number="BIG-1", amount="30000.00")
    # l.schmitt may order payments only up to 25,000 and is no head: she may not clear a 30,000 duplicate
    refused(svc.override_duplicate(dup, "l.schmitt", reason="checked"), "LIMIT")
    assert svc.override_duplicate(dup, "p.roth", reason="checked with supplier").ok  # unlimited
    assert svc.comment(first, "m.vogel", "Lieferschein fehlt noch").ok  # sachlich up to 1,000, comments are free
