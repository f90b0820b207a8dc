"""Benchmark (not a test): list one person's approval inbox with 100,000 open tasks on PostgreSQL.

Creates a scratch schema, migrates it, bulk-loads (COPY) N invoices in approval spread over the
Musterhausen departments and steps (with the closed sign-off tasks of the earlier steps, so the
separation-of-duties filter has real rows to look at), then times ``ApprovalService.inbox`` for a
few people and prints p50/p95. The goal is p95 < 50 ms. The scratch schema is dropped afterwards.
This script must never run against a production database: it always creates its own schema.

    EINVOICE_BENCH_DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/test \
        .venv/bin/python bench/inbox.py [--tasks 100000] [--runs 200]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from devtools.scratch import with_search_path  # noqa: E402
from einvoice.approval import ApprovalService, Step  # noqa: E402
from einvoice.approval.rules import STEP_ROLE, steps  # noqa: E402
from einvoice.approval.tables import ApprovalTask  # noqa: E402
from einvoice.db import Database  # noqa: E402
from einvoice.db.models import InvoiceRow  # noqa: E402
from einvoice.organisation import load_organisation  # noqa: E402
from einvoice.settings import REPO_EXAMPLE_ORG  # noqa: E402


def populate(db: Database, org, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    chain = steps(org)
    depts = [d.code for d in org.departments]
    holders: dict[tuple[str, Step], list[str]] = {}
    for p in org.people:
        for g in p.grants:
            for step, role in STEP_ROLE.items():
                if g.role == role:
                    key = (g.department, step) if step != Step.FREIGABE else ("*", step)
                    holders.setdefault(key, []).append(p.id)
    now = dt.datetime.now(dt.timezone.utc)
    today = dt.date.today()
    batch = 10_000
    next_id = 1
    for start in range(0, n, batch):
        invoices, tasks = [], []
        for i in range(start, min(n, start + batch)):
            dept = rng.choice(depts)
            amount = Decimal(rng.choice([250, 800, 1190, 4000, 9000, 18000, 30000])) + Decimal(rng.randint(0, 99)) / 100
            due = today + dt.timedelta(days=rng.randint(-5, 45))
            skonto = today + dt.timedelta(days=rng.randint(0, 14)) if rng.random() < 0.3 else None
            invoice_id = i + 1
            invoices.append(dict(
                id=invoice_id, file_sha256=uuid.UUID(int=rng.getrandbits(128)).hex * 2, filename=f"bench-{i}.xml",
                channel="bench", size=1000, received_at=now, updated_at=now, state="in_approval", version=1, verdict="valid",
                valid=True, invoice_number=f"RE-{i:07d}", issue_date=today - dt.timedelta(days=rng.randint(0, 20)),
                currency="EUR", due_date=due, seller_name=f"Lieferant {i % 997}", seller_vat_id=f"DE{100000000 + i % 997}",
                amount_due=amount, skonto_until=skonto, skonto_percent=Decimal("2.00") if skonto else None,
                department=dept, routing_rule="leitweg-id", routing_reason="bench",
            ))
            at = rng.randrange(len(chain))
            deadline = min(d for d in (skonto, due) if d is not None)
            used: set[str] = set()
            for done in chain[:at]:  # the sign-offs already given on this invoice
                pool = [p for p in holders.get((dept, done) if done != Step.FREIGABE else ("*", done), []) if p not in used]
                who = rng.choice(pool) if pool else "someone.else"
                used.add(who)
                tasks.append(dict(id=next_id, invoice_id=invoice_id, step=done.value, department=dept, status="done",
                                  deadline=deadline, amount_due=amount, created_at=now, version=2, outcome="approved", signed_by=None,
                                  due_date=due, skonto_first=skonto, skonto_second=None, skonto_last=skonto,
                                  decided_by=who, decided_at=now, decided_on=today, signoff_valid=True,
                                  invoice_number=None, seller_name=None, leitweg_id=None))
                next_id += 1
            tasks.append(dict(id=next_id, invoice_id=invoice_id, step=chain[at].value, department=dept, status="open",
                              deadline=deadline, amount_due=amount, created_at=now, version=1, outcome=None,
                              # The inbox order's columns, as _open_task writes them (one Skonto term here).
                              due_date=due, skonto_first=skonto, skonto_second=None, skonto_last=skonto,
                              signed_by="|" + "|".join(sorted(used)) + "|" if used else None,
                              # The search's copies of the invoice columns (migration 0016), as _open_task writes them.
                              invoice_number=invoices[-1]["invoice_number"], seller_name=invoices[-1]["seller_name"], leitweg_id=None,
                              decided_by=None, decided_at=None, decided_on=None, signoff_valid=False))
            next_id += 1
        with db.engine.begin() as conn:
            _copy(conn, InvoiceRow.__table__.name, invoices)
            _copy(conn, ApprovalTask.__table__.name, tasks)
    with db.engine.begin() as conn:
        for table in ("invoices", "approval_tasks"):
            conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # VACUUM as autovacuum would soon after a bulk load on a live system: it marks the pages
        # all-visible, which lets PostgreSQL answer the lists from their indexes alone.
        conn.execute(sa.text("VACUUM ANALYZE invoices"))
        conn.execute(sa.text("VACUUM ANALYZE approval_tasks"))


def _copy(conn, table: str, rows: list[dict]) -> None:
    """Rows into ``table`` by COPY (PostgreSQL): a million invoices load in minutes, not an hour."""
    columns = list(rows[0])
    with conn.connection.driver_connection.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default=os.environ.get("EINVOICE_BENCH_DATABASE_URL") or os.environ.get("EINVOICE_TEST_DATABASE_URL"))
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--people", default="a.schulz,c.wagner,j.krause,h.wolf")
    ap.add_argument("--keep", action="store_true", help="keep the scratch schema")
    ap.add_argument("--schema", help="reuse a schema kept by an earlier --keep run (no insert)")
    args = ap.parse_args()
    if not args.url or not args.url.startswith("postgresql"):
        sys.exit("set EINVOICE_BENCH_DATABASE_URL (or --url) to a PostgreSQL URL")
    org = load_organisation(REPO_EXAMPLE_ORG)
    schema = args.schema or f"bench_inbox_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.url)
    if not args.schema:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    db = Database(with_search_path(args.url, schema)).migrate()
    try:
        t0 = time.perf_counter()
        if not args.schema:
            populate(db, org, args.tasks)
        with db.engine.connect() as conn:
            open_n = conn.scalar(sa.text("SELECT count(*) FROM approval_tasks WHERE status = 'open'"))
            all_n = conn.scalar(sa.text("SELECT count(*) FROM approval_tasks"))
            server = conn.scalar(sa.text("SHOW server_version"))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"PostgreSQL {server}, {os.cpu_count()} CPU core(s), load average {load}; {open_n:,} open tasks ({all_n:,} task rows) "
              f"ready in {time.perf_counter() - t0:.1f} s")
        svc = ApprovalService(db, org)
        print(f"{'person':12} {'inbox size*':>11} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   (*rows returned, limit 50)")
        worst = 0.0
        cases = [(p, {}) for p in args.people.split(",")] + [("a.schulz", {"search": "lieferant 12"}), ("c.wagner", {"offset": 500})]
        for person, kw in cases:
            for _ in range(5):  # warm the connection pool and caches
                svc.inbox(person, **kw)
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                rows = svc.inbox(person, **kw)
                times.append((time.perf_counter() - t) * 1000)
            p95 = percentile(times, 95)
            if not kw:
                worst = max(worst, p95)
            label = person + (f" {kw}" if kw else "")
            print(f"{label:12} {len(rows):>11} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f}")
        print(f"load average now {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"worst p95 of the plain inboxes: {worst:.1f} ms (goal < 50 ms): {'OK' if worst < 50 else 'MISSED'}")
    finally:
        db.dispose()
        if not (args.keep or args.schema):
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
