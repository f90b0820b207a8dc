"""The inbox order: money at stake and urgency first (issue #17).

Open Skonto ending soonest first (today first), then by due date, overdue invoices whose Skonto
is long lost after them; counts per group; the other sort orders. Runs on SQLite and, with
EINVOICE_TEST_DATABASE_URL, on PostgreSQL (the ``db`` fixture).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from einvoice.approval.deadlines import skonto_dates, skonto_now
from einvoice.approval.tables import ApprovalTask
from einvoice.db.models import InvoiceRow
from einvoice.model import skonto
from tests.approval.conftest import TODAY


def test_skonto_today_comes_before_long_overdue_invoices(svc, new_invoice):
    # Invoices 300 days overdue, their Skonto long lost, issued long before the one whose Skonto ends today.
    old = [new_invoice(issue_date=TODAY - dt.timedelta(days=330), due_date=TODAY - dt.timedelta(days=300),
                       skonto_until=TODAY - dt.timedelta(days=320), skonto_percent="2.00") for _ in range(3)]
    today = new_invoice(issue_date=TODAY - dt.timedelta(days=10), due_date=TODAY + dt.timedelta(days=20),
                        skonto_until=TODAY, skonto_percent="2.00", amount="6250.00")  # 125 € Skonto
    later = new_invoice(due_date=TODAY + dt.timedelta(days=30), skonto_until=TODAY + dt.timedelta(days=5), skonto_percent="3.00")
    due_soon = new_invoice(due_date=TODAY + dt.timedelta(days=2))
    no_date = new_invoice(due_date=None)
    overdue_recent = new_invoice(due_date=TODAY - dt.timedelta(days=1))
    box = svc.inbox("a.schulz")
    assert [v.invoice_id for v in box] == [today, later, due_soon, *old, overdue_recent, no_date]
    assert box[0].skonto_amount == Decimal("125.00") and box[0].skonto_until == TODAY and not box[0].skonto_lost
    assert svc.inbox_counts("a.schulz") == {"skonto": 2, "faellig": 1, "ueberfaellig": 4, "ohne_frist": 1}
    # Pages cut the same order.
    assert [v.invoice_id for v in svc.inbox("a.schulz", limit=3, offset=2)] == [due_soon, *old[:2]]
    # The overview (open_tasks) uses the same order.
    assert [v.invoice_id for v in svc.open_tasks(department="66")] == [v.invoice_id for v in box]
    assert svc.open_task_counts(department="66") == svc.inbox_counts("a.schulz")


def test_same_day_larger_amount_first_and_search_keeps_order(svc, new_invoice):
    small = new_invoice(amount="100.00", skonto_until=TODAY, skonto_percent="2.00", seller_name="Kanal AG")
    big = new_invoice(amount="9000.00", skonto_until=TODAY, skonto_percent="2.00", seller_name="Kanal AG")
    assert [v.invoice_id for v in svc.inbox("a.schulz")] == [big, small]
    assert [v.invoice_id for v in svc.inbox("a.schulz", search="kanal")] == [big, small]
    assert svc.inbox_counts("a.schulz", search="kanal") == {"skonto": 2, "faellig": 0, "ueberfaellig": 0, "ohne_frist": 0}


def test_other_sort_orders(svc, new_invoice):
    a = new_invoice(amount="500.00", seller_name="Zement Nord", due_date=TODAY + dt.timedelta(days=9))
    b = new_invoice(amount="900.00", seller_name="asphalt Süd", due_date=TODAY + dt.timedelta(days=3))
    c = new_invoice(amount="700.00", seller_name="Beton West", due_date=None)
    ids = lambda sort: [v.invoice_id for v in svc.inbox("a.schulz", sort=sort)]  # noqa: E731
    assert ids("betrag") == [b, c, a]
    assert ids("lieferant") == [b, c, a]
    assert ids("faellig") == [b, a, c]
    assert ids("eingang") == [a, b, c]
    assert [v.invoice_id for v in svc.open_tasks(department="66", sort="betrag")] == [b, c, a]


@dataclass
class _Row:
    skonto_terms: str | None
    amount_due: Decimal
    skonto_until: dt.date | None = None
    skonto_percent: Decimal | None = None


def _terms(*pairs) -> str:
    issue = dt.date(2026, 11, 1)
    return skonto.to_json([skonto.Term(issue + dt.timedelta(days=d), Decimal(p), None, d) for d, p in pairs])


def test_stored_skonto_dates_give_the_date_shown_on_every_day():
    """The SQL key (first stored date on or after the day) is the date ``skonto_now`` shows, day by day."""
    cases = [
        _terms((10, "3.00"), (20, "2.00")),  # both shown in turn
        _terms((10, "2.00"), (20, "3.00")),  # the earlier term gives less: never shown
        _terms((7, "3.00"), (14, "2.00"), (30, "1.00")),
        _terms((14, "2.00")),
    ]
    for raw in cases:
        row = _Row(raw, Decimal("1000.00"))
        first, second, last = skonto_dates(row)
        for offset in range(-3, 40):
            day = dt.date(2026, 11, 1) + dt.timedelta(days=offset)
            shown = skonto_now(row, day)
            if shown.lost:
                assert last < day, (raw, day)
                continue
            key = next(d for d in (first, second, last) if d is not None and d >= day)
            assert key == shown.until, (json.loads(raw), day)


def test_task_rows_carry_due_date_and_skonto_dates(db, svc, new_invoice):
    inv = new_invoice(due_date=TODAY + dt.timedelta(days=4), skonto_until=TODAY + dt.timedelta(days=1), skonto_percent="2.00")
    with db.sessions() as s:
        t = s.scalar(sa.select(ApprovalTask).where(ApprovalTask.invoice_id == inv))
        row = s.get(InvoiceRow, inv)
    assert (t.due_date, t.skonto_first, t.skonto_second, t.skonto_last) == (
        row.due_date, TODAY + dt.timedelta(days=1), None, TODAY + dt.timedelta(days=1))


def test_counts_stop_at_the_count_limit(svc, new_invoice, monkeypatch):
    """Counting stops at COUNT_LIMIT + 1 per part of the inbox order, so a million open tasks cost
    no more than the limit; a search still counts its hits exactly."""
    from einvoice.approval import service

    for days in (2, 3, 4, 5):
        new_invoice(due_date=TODAY + dt.timedelta(days=days), seller_name="Kanal AG")
    new_invoice(due_date=TODAY - dt.timedelta(days=1))
    assert svc.inbox_counts("a.schulz") == {"skonto": 0, "faellig": 4, "ueberfaellig": 1, "ohne_frist": 0}
    monkeypatch.setattr(service, "COUNT_LIMIT", 2)
    capped = {"skonto": 0, "faellig": 3, "ueberfaellig": 1, "ohne_frist": 0}
    assert svc.inbox_counts("a.schulz") == capped
    assert svc.open_task_counts(department="66") == capped
    assert svc.inbox_counts("a.schulz", search="kanal")["faellig"] == 4


def test_search_walking_the_list_finds_what_finding_the_invoices_first_finds(svc, new_invoice, db, monkeypatch):
    """A search term with many hits walks the list in its order and keeps the tasks whose copies of
    the invoice number and supplier match (migration 0016); a rarer one finds the invoices first.
    Both give the same rows in the same order on every page, in the inbox and the overview."""
    from einvoice.approval import service

    days = lambda n: TODAY + dt.timedelta(days=n)  # noqa: E731
    for i, (name, number) in enumerate([("Kanal AG", None), ("KANALBAU GmbH", None), ("Beton West", "KAN-7"),
                                        ("Tief 50% Rabatt", None), ("Kanal AG", "RE-50_1"), ("Beton Nord", None),
                                        ("kanal ag", None), ("Asphalt", "kanal-12")]):
        new_invoice(seller_name=name, number=number, amount=("900.00", "100.00", "900.00")[i % 3],
                    leitweg_id="05999000-66-70" if i % 4 == 1 else None,
                    due_date=(days(3), days(-2), None, days(10))[i % 4],
                    skonto_until=days(i % 3) if i % 2 else None, skonto_percent="2.00" if i % 2 else None)
    new_invoice(seller_name="Kanal AG", department="40")  # not in a.schulz's inbox

    def lists(walks: bool):
        monkeypatch.setattr(svc, "_search_walks", lambda text: walks)
        out = []
        for term in ("kanal", "KAN", "50%", "re-50_", "n w", "nirgends"):
            for limit, offset in ((50, 0), (2, 0), (2, 2), (3, 4)):
                out.append([v.task_id for v in svc.inbox("a.schulz", search=term, limit=limit, offset=offset)])
                out.append([v.task_id for v in svc.open_tasks(search=term, limit=limit, offset=offset)])
                out.append([v.task_id for v in svc.open_tasks(department="66", state="sachlich", search=term,
                                                              limit=limit, offset=offset)])
        return out

    walked, found_first = lists(True), lists(False)
    assert walked == found_first
    assert len(walked[0]) == 5 and len(walked[1]) == 6  # "kanal": five in 66 (one by its number), one more in 40

    # The web's search also matches the Leitweg-ID and the exact amount: from the task's copies too.
    from einvoice.web.search import WebApprovalService

    web = WebApprovalService(db, svc.org, today=svc.today, on_release=[])
    for term in ("05999000-66", "900,00", "100,00"):
        found = {}
        for walks in (True, False):
            monkeypatch.setattr(web, "_search_walks", lambda text, walks=walks: walks)
            found[walks] = [v.task_id for v in web.inbox("a.schulz", search=term)]
        assert found[True] == found[False]
        assert len(found[True]) == {"05999000-66": 2, "900,00": 5, "100,00": 3}[term]

    # A task opened by a decision carries the copies too: the next step's search finds it.
    first = svc.inbox("a.schulz", search="asphalt")[0]
    assert svc.approve(first.task_id, "a.schulz").ok
    monkeypatch.setattr(svc, "_search_walks", lambda text: True)
    assert [v.invoice_id for v in svc.inbox("b.keller", search="KANAL-12")] == [first.invoice_id]

    # PostgreSQL's estimate decides; other databases always find the invoices first.
    monkeypatch.undo()
    postgres = db.engine.dialect.name == "postgresql"
    monkeypatch.setattr(service, "SEARCH_WALK_ABOVE", -1)
    assert svc._search_walks("kanal") is postgres
    monkeypatch.setattr(service, "SEARCH_WALK_ABOVE", 10**9)
    assert svc._search_walks("kanal") is False


def test_a_scope_whose_every_task_the_person_signed_is_skipped_with_the_same_result(svc, new_invoice, db, monkeypatch):
    """f.becker holds sachlich and rechnerisch in 10 and signed the sachlich step of every invoice
    there: the inbox skips the rechnerisch scope without reading its tasks; lists and counts stay
    what the separation-of-duties filter alone gives. One task signed by someone else keeps it."""
    from einvoice.approval import Step

    for days in (2, 5, 9):
        new_invoice(department="10", due_date=TODAY + dt.timedelta(days=days))
    for v in svc.inbox("f.becker", department="10"):
        assert svc.approve(v.task_id, "f.becker").ok
    new_invoice(department="10")  # a sachlich task for him
    keys = svc._scope_keys("f.becker", None, None, TODAY)
    assert ("10", Step.RECHNERISCH) in [k[:2] for k in keys]
    assert ("10", Step.RECHNERISCH) not in [k[:2] for k in svc._unblocked("f.becker", keys)]

    def seen():
        return ([v.task_id for v in svc.inbox("f.becker")], svc.inbox_counts("f.becker"),
                [v.task_id for v in svc.inbox("f.becker", search="tiefbau")])

    skipped = seen()
    assert len(skipped[0]) == 1 and [v.step for v in svc.inbox("r.schneider")] == [Step.RECHNERISCH] * 3
    monkeypatch.setattr(svc, "_unblocked", lambda person_id, keys: keys)
    assert seen() == skipped

    with db.transaction() as s:  # as if a deputy had signed the sachlich step of one of them
        task = s.scalar(sa.select(ApprovalTask).where(ApprovalTask.status == "open", ApprovalTask.step == "rechnerisch"))
        task.signed_by = "|someone.else|"
    monkeypatch.undo()
    assert ("10", Step.RECHNERISCH) in [k[:2] for k in svc._unblocked("f.becker", keys)]
    assert task.id in [v.task_id for v in svc.inbox("f.becker")]
