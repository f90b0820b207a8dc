"""The central desk and the approvers' further actions (issue #17), against the real service and
database (SQLite, and PostgreSQL with EINVOICE_TEST_DATABASE_URL): reopening a rejected document,
Klärung, delegation, self-set substitutes and bulk approval, each decision checked and logged."""
from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa

from einvoice.approval import Step
from einvoice.approval.tables import ApprovalTask
from einvoice.db.models import InvoiceEvent, InvoiceRow
from tests.approval.conftest import TODAY


def _task(svc, invoice_id: int) -> int:
    t = svc.open_task_of(invoice_id)
    assert t is not None, f"invoice {invoice_id} has no open task"
    return t.task_id


def _refused(result, rule: str):
    assert not result.ok and result.refusal is not None, result
    assert result.refusal.rule == rule, result.refusal
    return result.refusal


def _events(db, invoice_id: int, action: str) -> list[InvoiceEvent]:
    with db.sessions() as s:
        return list(s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.invoice_id == invoice_id,
                                                            InvoiceEvent.action == action).order_by(InvoiceEvent.id)))


def _document(db, *, state: str = "rejected", channel: str = "email", leitweg_id: str | None = "05999000-66-70",
              amount: str | None = "480.00", findings=(("BR-DE-15", "error"), ("BR-DE-21", "warning"))) -> int:
    """A document as intake stores a rejected (or non-invoice) file: no department, no task, its report."""
    report = {"valid": False, "summary": "ungültig", "findings": [
        {"rule": r, "severity": sev, "message": f"{r} verletzt", "location": None, "stage": "xrechnung"} for r, sev in findings]}
    with db.transaction() as s:
        row = InvoiceRow(file_sha256=uuid.uuid4().hex + uuid.uuid4().hex, filename="eingang.xml", channel=channel, size=10,
                      state=state, valid=False, verdict="ungültig", report_json=json.dumps(report),
                      invoice_number=f"AB-{uuid.uuid4().hex[:6]}" if amount else None, issue_date=dt.date(2026, 11, 2),
                      due_date=dt.date(2026, 12, 2), currency="EUR", seller_name="Kanal GmbH", seller_vat_id="DE123456789",
                      leitweg_id=leitweg_id, amount_due=Decimal(amount) if amount else None)
        s.add(row)
        s.flush()
        s.add(InvoiceEvent(invoice_id=row.id, actor="system", action="received", to_state=state))
        return row.id


# --- central desk ---------------------------------------------------------------------------------
def test_desk_lists_rejected_documents_and_reopens_one_into_approval(svc, db, caplog):
    rejected = _document(db)
    plain_pdf = _document(db, state="not_an_invoice", channel="upload", findings=(("NOT-AN-INVOICE", "fatal"),))
    unreadable = _document(db, amount=None, channel="peppol")

    docs = {d.invoice_id: d for d in svc.desk_documents()}
    assert {rejected, plain_pdf, unreadable} <= set(docs)
    assert docs[rejected].rules == ("BR-DE-15",) and docs[rejected].channel == "email" and docs[rejected].reopenable
    assert docs[plain_pdf].state == "not_an_invoice" and not docs[plain_pdf].reopenable
    assert not docs[unreadable].reopenable
    assert [d.invoice_id for d in svc.desk_documents(channel="upload")] == [plain_pdf]
    assert svc.desk_document_counts() == {"rejected": 2, "not_an_invoice": 1}

    _refused(svc.reopen_rejected(rejected, "a.schulz", reason="Lieferant hat erklärt"), "NOT-AUTHORISED")
    _refused(svc.reopen_rejected(rejected, "h.wolf", reason="  "), "REASON-REQUIRED")
    _refused(svc.reopen_rejected(plain_pdf, "h.wolf", reason="bitte"), "NOT-AN-E-INVOICE")
    _refused(svc.reopen_rejected(unreadable, "h.wolf", reason="bitte"), "REOPEN-NO-DATA")
    with caplog.at_level(logging.INFO, logger="einvoice.audit"):
        r = svc.reopen_rejected(rejected, "h.wolf", reason="Leitweg-ID per Schreiben vom 20.11. bestätigt")
    assert r.ok and r.invoice_state == "in_approval" and r.next_step == Step.SACHLICH
    # Routed like a new invoice (its Leitweg-ID belongs to 66), starts at the sachliche Richtigkeit.
    task = svc.open_task_of(rejected)
    assert task.step == Step.SACHLICH and task.department == "66"
    [event] = _events(db, rejected, "reopened_after_rejection")
    assert event.actor == "h.wolf" and event.role == "central_desk" and event.from_state == "rejected"
    assert event.comment.startswith("Leitweg-ID per Schreiben") and json.loads(event.details_json)["findings"] == ["BR-DE-15"]
    assert any(f"invoice={rejected}" in m and "reopened_after_rejection" in m for m in caplog.messages)
    assert rejected not in {d.invoice_id for d in svc.desk_documents()}
    _refused(svc.reopen_rejected(rejected, "h.wolf", reason="noch einmal"), "NOT-REJECTED")
    # The desk may name the department itself.
    other = _document(db, leitweg_id=None)
    assert svc.reopen_rejected(other, "h.wolf", reason="Schulamt laut Bestellung", department="40").ok
    assert svc.open_task_of(other).department == "40"


# --- Klärung --------------------------------------------------------------------------------------
def test_clarification_hold_blocks_the_step_until_released(svc, db, new_invoice, clock):
    inv = new_invoice(amount="700.00")
    until = TODAY + dt.timedelta(days=7)
    _refused(svc.set_hold(inv, "a.schulz", reason="Lieferschein fehlt", until=TODAY - dt.timedelta(days=1)), "HOLD-DATE")
    _refused(svc.set_hold(inv, "a.schulz", reason="", until=until), "REASON-REQUIRED")
    _refused(svc.set_hold(inv, "n.koch", reason="x", until=until), "NOT-AUTHORISED")
    assert svc.set_hold(inv, "a.schulz", reason="Lieferschein fehlt", until=until).ok
    _refused(svc.set_hold(inv, "c.wagner", reason="noch etwas", until=until), "HOLD-EXISTS")

    refusal = _refused(svc.approve(_task(svc, inv), "a.schulz"), "HOLD-OPEN")
    assert "Lieferschein fehlt" in refusal.message and until.strftime("%d.%m.%Y") in refusal.message
    assert svc.allowed(_task(svc, inv), "a.schulz")["approve"].rule == "HOLD-OPEN"
    # Still in the inbox, with the hold and its deadline.
    [row] = [t for t in svc.inbox("a.schulz", limit=500) if t.invoice_id == inv]
    assert row.hold_until == until and row.hold_reason == "Lieferschein fehlt" and row.deadline is not None

    _refused(svc.release_hold(inv, "n.koch"), "NOT-AUTHORISED")
    assert svc.release_hold(inv, "a.schulz", note="Lieferschein liegt vor").ok
    _refused(svc.release_hold(inv, "a.schulz"), "NO-HOLD")
    assert [h.released_by for h in svc.holds_of(inv)] == ["a.schulz"]
    [started] = _events(db, inv, "hold_set")
    [ended] = _events(db, inv, "hold_released")
    assert started.comment == "Lieferschein fehlt" and json.loads(started.details_json)["until"] == until.isoformat()
    assert ended.actor == "a.schulz" and ended.comment == "Lieferschein liegt vor"
    assert svc.approve(_task(svc, inv), "a.schulz").ok


# --- delegation -----------------------------------------------------------------------------------
def test_delegation_to_a_person_the_organisation_allows(svc, db, new_invoice):
    inv = new_invoice(amount="600.00")
    big = new_invoice(amount="5000.00")
    t = _task(svc, inv)
    _refused(svc.delegate(t, "n.koch", to="m.vogel"), "NOT-AUTHORISED")  # no grant in 66
    refusal = _refused(svc.delegate(t, "c.wagner", to="n.koch"), "DELEGATE-NOT-ALLOWED")
    assert "[NOT-AUTHORISED]" in refusal.message
    assert "[LIMIT]" in _refused(svc.delegate(_task(svc, big), "a.schulz", to="m.vogel"), "DELEGATE-NOT-ALLOWED").message
    _refused(svc.delegate(t, "a.schulz", to="a.schulz"), "DELEGATE-SELF")
    _refused(svc.delegate(t, "c.wagner", to="niemand"), "UNKNOWN-PERSON")
    assert "m.vogel" in svc.delegation_choices(t)

    assert svc.delegate(t, "c.wagner", to="m.vogel", comment="bitte übernehmen").ok
    [event] = _events(db, inv, "delegated")
    assert event.actor == "c.wagner" and json.loads(event.details_json)["to"] == "m.vogel"
    assert svc.open_task_of(inv).assignee == "m.vogel" and svc.open_task_of(inv).candidates == ("m.vogel",)
    assert inv not in {x.invoice_id for x in svc.inbox("a.schulz", limit=500)}
    assert inv in {x.invoice_id for x in svc.inbox("m.vogel", limit=500)}
    _refused(svc.approve(t, "a.schulz"), "DELEGATED")
    assert svc.approve(t, "m.vogel").ok
    # The next step is the pool's again.
    assert svc.open_task_of(inv).assignee is None


# --- substitutes ----------------------------------------------------------------------------------
def test_self_set_substitute_acts_during_the_period_and_is_refused_after(svc, db, new_invoice, clock):
    inv = new_invoice(amount="900.00")
    _refused(svc.approve(_task(svc, inv), "l.schmitt"), "NOT-AUTHORISED")  # no sachlich grant of her own
    start, end = TODAY + dt.timedelta(days=1), TODAY + dt.timedelta(days=5)
    assert not svc.set_substitute("a.schulz", "a.schulz", valid_from=start, valid_to=end).ok
    assert svc.set_substitute("a.schulz", "n.koch", valid_from=start, valid_to=end).refusal.rule == "SUBSTITUTE-DEPARTMENT"
    assert svc.set_substitute("a.schulz", "l.schmitt", valid_from=end, valid_to=start).refusal.rule == "SUBSTITUTE-PERIOD"
    assert svc.set_substitute("a.schulz", "l.schmitt", valid_from=TODAY - dt.timedelta(days=9),
                              valid_to=TODAY - dt.timedelta(days=2)).refusal.rule == "SUBSTITUTE-PERIOD"
    entry = svc.set_substitute("a.schulz", "l.schmitt", valid_from=start, valid_to=end)
    assert entry.ok and [x.id for x in svc.substitutes_of("a.schulz")] == [entry.entry.id]
    assert [x.person for x in svc.standing_in_for("l.schmitt")] == ["a.schulz"]

    _refused(svc.approve(_task(svc, inv), "l.schmitt"), "DEPUTY-NOT-ABSENT")  # the period has not begun
    clock.today = start + dt.timedelta(days=1)
    assert inv in {t.invoice_id for t in svc.inbox("l.schmitt", limit=500)}
    assert svc.approve(_task(svc, inv), "l.schmitt").ok
    [event] = _events(db, inv, "sachlich_richtig")
    assert event.actor == "l.schmitt" and event.on_behalf_of == "a.schulz"

    later = new_invoice(amount="300.00")
    clock.today = end + dt.timedelta(days=1)
    refusal = _refused(svc.approve(_task(svc, later), "l.schmitt"), "DEPUTY-NOT-ABSENT")
    assert end.strftime("%d.%m.%Y") in refusal.message
    assert later not in {t.invoice_id for t in svc.inbox("l.schmitt", limit=500)}

    # Withdrawn before its end: it no longer counts.
    clock.today = TODAY
    second = svc.set_substitute("a.schulz", "l.schmitt", valid_from=TODAY, valid_to=TODAY + dt.timedelta(days=3))
    assert svc.approve(_task(svc, new_invoice(amount="200.00")), "l.schmitt").ok
    assert not svc.end_substitute(second.entry.id, "l.schmitt").ok  # only the person themselves
    assert svc.end_substitute(second.entry.id, "a.schulz").ok
    _refused(svc.approve(_task(svc, later), "l.schmitt"), "DEPUTY-NOT-ABSENT")


# --- bulk approval --------------------------------------------------------------------------------
def test_bulk_approval_records_each_decision_and_refuses_what_a_rule_forbids(svc, db, new_invoice):
    small = [new_invoice(amount=f"{100 + i}.00") for i in range(20)]
    over_limit = [new_invoice(amount="4000.00") for _ in range(2)]  # m.vogel signs sachlich up to 1.000 EUR
    held = new_invoice(amount="300.00")
    assert svc.set_hold(held, "a.schulz", reason="Preis strittig", until=TODAY + dt.timedelta(days=3)).ok
    later_step = new_invoice(amount="250.00")
    assert svc.approve(_task(svc, later_step), "a.schulz").ok  # now at rechnerisch
    ids = [_task(svc, i) for i in small + over_limit + [held, later_step]]

    out = svc.approve_many(ids + [99_999_999], "m.vogel", step=Step.SACHLICH, comment="Sammelbestätigung")
    recorded = [o for o in out if o.ok]
    refused = {o.invoice_id: o.refusal.rule for o in out if not o.ok}
    assert len(recorded) == 20 and {o.invoice_id for o in recorded} == set(small)
    assert refused == {over_limit[0]: "LIMIT", over_limit[1]: "LIMIT", held: "HOLD-OPEN",
                       later_step: "BULK-WRONG-STEP", None: "NO-SUCH-TASK"}
    for i in small:  # one audit event per invoice, by the person, with the comment
        [event] = _events(db, i, "sachlich_richtig")
        assert event.actor == "m.vogel" and event.comment == "Sammelbestätigung"
        assert svc.open_task_of(i).step == Step.RECHNERISCH
    for i in over_limit + [held]:
        assert _events(db, i, "sachlich_richtig") == [] and svc.open_task_of(i).step == Step.SACHLICH

    # Rechnerisch in bulk: the amounts confirmed per task; a wrong one is refused on its own.
    rech = {_task(svc, i): Decimal(f"{100 + n}.00") for n, i in enumerate(small[:3])}
    first = next(iter(rech))
    rech[first] = Decimal("1.00")
    out = svc.approve_many(list(rech), "l.schmitt", step="rechnerisch", amounts=rech)
    assert [o.ok for o in out] == [False, True, True] and out[0].refusal.rule == "AMOUNT-MISMATCH"
    # Anordnung in bulk by who certified the amounts: separation of duties, each refused.
    anord = [_task(svc, i) for i in small[1:3]]
    out = svc.approve_many(anord, "l.schmitt", step=Step.ANORDNUNG)
    assert {o.refusal.rule for o in out} == {"SOD-ANORDNUNG-RECHNERISCH"}
    assert svc.approve_many([], "m.vogel", step=Step.SACHLICH)[0].refusal.rule == "BULK-EMPTY"
    assert svc.approve_many(range(1, 200), "m.vogel", step=Step.SACHLICH)[0].refusal.rule == "BULK-TOO-MANY"
    with db.sessions() as s:  # nothing but the decisions recorded above closed a task
        assert s.scalar(sa.select(sa.func.count()).select_from(ApprovalTask).where(ApprovalTask.outcome == "approved")) == 20 + 1 + 2


# --- language ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["de", "en"])
def test_desk_refusals_speak_the_language_set(lang, monkeypatch, svc, db, new_invoice, clock):
    """Every refusal of the desk's actions, walked in German and in English (no word of the other)."""
    from einvoice.approval import messages as M
    from tests.wording import foreign_words

    monkeypatch.setenv("EINVOICE_LANGUAGE", lang)
    texts: list[str] = []
    seen: set[str] = set()

    def no(result):
        assert not result.ok, result
        texts.append(result.refusal.message)
        seen.add(result.refusal.rule)

    doc, plain, blank = _document(db), _document(db, state="not_an_invoice"), _document(db, amount=None)
    no(svc.reopen_rejected(plain, "h.wolf", reason="x"))
    no(svc.reopen_rejected(blank, "h.wolf", reason="x"))
    no(svc.reopen_rejected(doc, "h.wolf", reason=""))
    assert svc.reopen_rejected(doc, "h.wolf", reason="x").ok
    no(svc.reopen_rejected(doc, "h.wolf", reason="x"))
    inv = new_invoice(number="T-1", amount="500.00")
    t = _task(svc, inv)
    no(svc.set_hold(inv, "a.schulz", reason="", until=TODAY))
    no(svc.set_hold(inv, "a.schulz", reason="X-7", until=None))
    no(svc.release_hold(inv, "a.schulz"))
    assert svc.set_hold(inv, "a.schulz", reason="X-7", until=TODAY).ok
    no(svc.set_hold(inv, "a.schulz", reason="X-8", until=TODAY))
    no(svc.approve(t, "a.schulz"))
    no(svc.delegate(t, "a.schulz", to="a.schulz"))
    no(svc.delegate(t, "a.schulz", to="n.koch"))
    assert svc.delegate(t, "a.schulz", to="m.vogel").ok
    no(svc.approve(t, "a.schulz"))
    no(svc.set_substitute("a.schulz", "a.schulz", valid_from=TODAY, valid_to=TODAY))
    no(svc.set_substitute("a.schulz", "n.koch", valid_from=TODAY, valid_to=TODAY))
    no(svc.set_substitute("a.schulz", "b.keller", valid_from=TODAY, valid_to=TODAY - dt.timedelta(days=1)))
    no(svc.set_substitute("k.lange", "a.schulz", valid_from=TODAY, valid_to=TODAY))
    no(svc.end_substitute(424242, "a.schulz"))
    for o in (svc.approve_many([t], "m.vogel", step=Step.RECHNERISCH) + svc.approve_many([], "m.vogel", step=Step.SACHLICH)
              + svc.approve_many(range(1, 200), "m.vogel", step=Step.SACHLICH)):
        no(o)
    assert seen == {"NOT-AN-E-INVOICE", "REOPEN-NO-DATA", "REASON-REQUIRED", "NOT-REJECTED", "HOLD-DATE", "NO-HOLD",
                    "HOLD-EXISTS", "HOLD-OPEN", "DELEGATE-SELF", "DELEGATE-NOT-ALLOWED", "DELEGATED", "SUBSTITUTE-SELF",
                    "SUBSTITUTE-DEPARTMENT", "SUBSTITUTE-PERIOD", "SUBSTITUTE-NO-GRANTS", "NO-SUCH-SUBSTITUTE",
                    "BULK-WRONG-STEP", "BULK-EMPTY", "BULK-TOO-MANY"}
    texts += [M.action_name(a) for a in ("reopened_after_rejection", "hold_set", "hold_released", "delegated")]
    texts += [svc.open_task_of(doc).routing_reason or "", M.text("reopened-reason", person="h.wolf", code="40", name="Schulamt")]
    bad = {x: foreign_words(x, lang) for x in texts if foreign_words(x, lang)}
    assert not bad, bad


def test_two_clarifications_at_once_give_one_hold(svc, db, new_invoice):
    """Two clerks start a Klärung on the same invoice at the same moment: one hold, one refusal."""
    import threading

    from einvoice.approval.tables import ClarificationHold

    for round_ in range(5):
        inv = new_invoice(amount=f"{400 + round_}.00")
        start = threading.Barrier(2)
        results = []

        def go(person: str, inv=inv, start=start, results=results):
            start.wait()
            results.append(svc.set_hold(inv, person, reason=f"Rückfrage von {person}", until=TODAY))

        threads = [threading.Thread(target=go, args=(p,)) for p in ("a.schulz", "c.wagner")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(r.ok for r in results) == [False, True], results
        assert next(r for r in results if not r.ok).refusal.rule in ("HOLD-EXISTS", "STALE")
        with db.sessions() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(ClarificationHold)
                            .where(ClarificationHold.invoice_id == inv)) == 1
        assert len(_events(db, inv, "hold_set")) == 1
