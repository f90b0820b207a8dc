"""Two approvers at once (PostgreSQL), migrations up and down, and the ``einvoice tasks`` CLI."""
from __future__ import annotations

import json
import os
import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from einvoice.approval import ApprovalService
from einvoice.db import Database, alembic_config
from tests.approval.conftest import add_invoice, org_data
from tests.approval.test_workflow import approve_through, open_task


@pytest.mark.skipif(not os.environ.get("EINVOICE_TEST_DATABASE_URL"),
                    reason="needs PostgreSQL (set EINVOICE_TEST_DATABASE_URL): SQLite serialises all writers, so there is no race to test")
@pytest.mark.parametrize("rounds", [8])
def test_two_approvers_at_once_give_one_decision_and_one_stale_refusal(database_url, org, rounds):
    if not database_url.startswith("postgresql"):
        pytest.skip("the race is tested on PostgreSQL")
    db = Database(database_url).migrate()
    try:
        for n in range(rounds):
            svc = ApprovalService(db, org, on_release=[])
            inv = add_invoice(db, org, amount="500.00")
            task = open_task(svc, inv)
            if n % 2:  # also race at a later step: two people with Anordnungsbefugnis
                approve_through(svc, inv, ["a.schulz", "b.keller"], amount=Decimal("500.00"))
                task = open_task(svc, inv)
                people = ("c.wagner", "p.roth")
            else:
                people = ("a.schulz", "m.vogel")
            barrier = threading.Barrier(2)
            results = {}

            def act(person):
                mine = ApprovalService(db, org, on_release=[])
                barrier.wait()
                results[person] = mine.approve(task.task_id, person)

            threads = [threading.Thread(target=act, args=(p,)) for p in people]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            oks = [r for r in results.values() if r.ok]
            refusals = [r.refusal for r in results.values() if not r.ok]
            assert len(oks) == 1 and len(refusals) == 1, results
            assert refusals[0].rule == "STALE" and "Jemand anderes hat diese Aufgabe gerade entschieden" in refusals[0].message
            decided = [e for e in svc.history(inv) if e.action in ("sachlich_richtig", "anordnung")]
            assert len([e for e in decided if e.actor in people]) == 1
            nxt = open_task(svc, inv)
            assert nxt.task_id != task.task_id
    finally:
        db.dispose()


def test_migrations_go_down_and_up_again(database_url):
    from alembic import command

    db = Database(database_url).migrate()
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0001")
    assert "approval_tasks" not in sa.inspect(db.engine).get_table_names()
    command.upgrade(cfg, "head")
    names = sa.inspect(db.engine).get_table_names()
    assert {"approval_tasks", "duplicate_flags"} <= set(names)
    indexes = {i["name"] for i in sa.inspect(db.engine).get_indexes("approval_tasks")}
    assert {"ix_approval_tasks_open_skonto", "uq_approval_tasks_one_open"} <= indexes
    db.dispose()


def test_database_allows_only_one_open_task_per_invoice(db, org):
    from einvoice.approval.tables import ApprovalTask

    inv = add_invoice(db, org)
    with pytest.raises(sa.exc.IntegrityError):
        with db.transaction() as s:
            s.add(ApprovalTask(invoice_id=inv, step="sachlich", department="66", status="open"))


@pytest.fixture
def cli_env(database_url, tmp_path, db):
    path = tmp_path / "org.yaml"
    path.write_text(yaml.safe_dump(org_data(), allow_unicode=True), encoding="utf-8")
    return {"EINVOICE_DATABASE_URL": database_url, "EINVOICE_ORGANISATION": str(path)}


def test_cli_list_show_approve_and_refusal(cli_env, db, org):
    from einvoice.cli import main

    inv = add_invoice(db, org, number="CLI-1", amount="700.00")
    task = ApprovalService(db, org, on_release=[]).open_task_of(inv)
    run = CliRunner().invoke
    r = run(main, ["tasks", "list", "--as", "a.schulz", "--format", "json"], env=cli_env)
    assert r.exit_code == 0, r.output
    assert [t["invoice_number"] for t in json.loads(r.output)] == ["CLI-1"]
    r = run(main, ["tasks", "list", "--as", "nobody"], env=cli_env)
    assert r.exit_code == 2 and "not a person" in r.output
    r = run(main, ["tasks", "list"], env=cli_env)
    assert r.exit_code == 0 and "CLI-1" in r.output
    r = run(main, ["tasks", "approve", str(task.task_id), "--as", "c.wagner"], env=cli_env)
    assert r.exit_code == 1 and "NOT-AUTHORISED" in r.output
    r = run(main, ["tasks", "approve", str(task.task_id), "--as", "a.schulz", "--comment", "geliefert"], env=cli_env)
    assert r.exit_code == 0 and "next step: rechnerisch" in r.output, r.output
    nxt = ApprovalService(db, org, on_release=[]).open_task_of(inv)
    r = run(main, ["tasks", "approve", str(nxt.task_id), "--as", "b.keller", "--amount", "700,00"], env=cli_env)
    assert r.exit_code == 0, r.output
    nxt = ApprovalService(db, org, on_release=[]).open_task_of(inv)
    r = run(main, ["tasks", "show", str(nxt.task_id), "--as", "l.schmitt"], env=cli_env)
    assert r.exit_code == 0 and "sachlich_richtig" in r.output and "approve" in r.output
    r = run(main, ["tasks", "send-back", str(nxt.task_id), "--as", "c.wagner", "--reason", "Betrag prüfen"], env=cli_env)
    assert r.exit_code == 0, r.output
    nxt = ApprovalService(db, org, on_release=[]).open_task_of(inv)
    r = run(main, ["tasks", "forward", str(nxt.task_id), "--as", "b.keller", "--to", "77"], env=cli_env)
    assert r.exit_code == 1 and "UNKNOWN-DEPARTMENT" in r.output
    r = run(main, ["tasks", "reject", str(nxt.task_id), "--as", "b.keller"], env=cli_env)
    assert r.exit_code == 1 and "REASON-REQUIRED" in r.output
    r = run(main, ["tasks", "reject", str(nxt.task_id), "--as", "b.keller", "--comment", "falscher Empfänger"], env=cli_env)
    assert r.exit_code == 0 and "returned" in r.output
    r = run(main, ["tasks", "show", "999999"], env=cli_env)
    assert r.exit_code == 2
    r = run(main, ["tasks", "remind", "--format", "json"], env=cli_env)
    assert r.exit_code == 0 and json.loads(r.output) == []


def test_same_task_race_on_every_database(database_url, org):
    """The same race on SQLite too (the version column decides there): one ok, one STALE."""
    db = Database(database_url).migrate()
    try:
        for _ in range(5):
            svc = ApprovalService(db, org, on_release=[])
            task_id = open_task(svc, add_invoice(db, org, amount="500.00")).task_id
            barrier = threading.Barrier(2)
            results = []

            def act(person):
                mine = ApprovalService(db, org, on_release=[])
                barrier.wait()
                results.append(mine.approve(task_id, person))

            threads = [threading.Thread(target=act, args=(p,)) for p in ("a.schulz", "m.vogel")]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert sorted((r.ok, r.refusal.rule if r.refusal else None) for r in results) == [(False, "STALE"), (True, None)]
    finally:
        db.dispose()


def test_writers_on_different_tasks_all_succeed(database_url, org):
    """People deciding *different* invoices at once must all succeed (no false STALE)."""
    db = Database(database_url).migrate()
    try:
        svc = ApprovalService(db, org, on_release=[])
        invoices = [add_invoice(db, org, amount="500.00") for _ in range(6)]
        tasks = [open_task(svc, i).task_id for i in invoices]
        barrier = threading.Barrier(len(tasks))
        results = []

        def act(task_id, person):
            mine = ApprovalService(db, org, on_release=[])
            barrier.wait()
            results.append(mine.approve(task_id, person))

        threads = [threading.Thread(target=act, args=(t, ("a.schulz", "m.vogel")[n % 2])) for n, t in enumerate(tasks)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert [r.ok for r in results] == [True] * len(tasks), [r.refusal for r in results if not r.ok]
    finally:
        db.dispose()
