"""Follow-up records benchmark (not a timed test): what one poll of ``einvoice.followups.records`` costs on
PostgreSQL when years of approval decisions are already archived.

    EINVOICE_BENCH_DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/test .venv/bin/python bench/records.py --invoices 300000

Fills a scratch schema with INVOICES posted invoices, six audit events each (received, three
sign-offs, released, posted) and an archived approval trail for every release, then times the
pending-trail query without the cursor (the whole audit trail), the first cursor advance, and
polls with the cursor (what post-released does every minute).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

from devtools.scratch import scratch_schema  # noqa: E402
from einvoice.db import Database  # noqa: E402
from einvoice.followups.records import RecordArchiver  # noqa: E402

EVENTS = """(VALUES ('received', NULL, 'in_approval'), ('sachlich_richtig', 'in_approval', 'in_approval'),
                    ('rechnerisch_richtig', 'in_approval', 'in_approval'), ('anordnung', 'in_approval', 'in_approval'),
                    ('freigabe', 'in_approval', 'released'), ('posted', 'released', 'posted')) AS a(action, f, t)"""


def fill(db: Database, n: int) -> None:
    with db.engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO invoices (id, file_sha256, filename, channel, size, received_at, updated_at, state, version, "
            "verdict) SELECT g, md5(g::text) || md5((g + 1)::text), 'f.xml', 'bench', 1, now(), now(), 'posted', 1, '' "
            f"FROM generate_series(1, {n}) g"))
        c.execute(sa.text(
            "INSERT INTO invoice_events (invoice_id, at, actor, action, from_state, to_state) "
            f"SELECT g, now() - interval '1 hour', 'bench', a.action, a.f, a.t FROM generate_series(1, {n}) g, {EVENTS}"))
        c.execute(sa.text(
            "INSERT INTO archived_records (kind, source_id, invoice_id, entry_id, sequence, leaf_hash, archived_at) "
            "SELECT 'approval-trail', e.id, e.invoice_id, 'bench-' || e.id, e.id, 'h', now() FROM invoice_events e "
            "WHERE e.to_state = 'released'"))
        c.execute(sa.text("ANALYZE"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--invoices", type=int, default=300_000)
    ap.add_argument("--polls", type=int, default=5)
    args = ap.parse_args()
    url = os.environ.get("EINVOICE_BENCH_DATABASE_URL")
    if not url or not url.startswith("postgresql"):
        sys.exit("set EINVOICE_BENCH_DATABASE_URL to a PostgreSQL URL (postgresql+psycopg://...)")
    print(f"cores: os.cpu_count()={os.cpu_count()}, usable={len(os.sched_getaffinity(0))}, "
          f"load average at start: {os.getloadavg()[0]:.1f}")
    with scratch_schema(url, prefix="bench") as scratch:
        db = Database(scratch).migrate()
        try:
            t0 = time.perf_counter()
            fill(db, args.invoices)
            print(f"{args.invoices} invoices, {6 * args.invoices} audit events, every trail archived "
                  f"(filled in {time.perf_counter() - t0:.0f} s)")
            arch = RecordArchiver(db, None)
            with db.sessions() as s:
                t0 = time.perf_counter()
                found = s.scalars(arch._pending_trails(0).limit(200)).all()
                print(f"pending-trail query over the whole audit trail (no cursor): "
                      f"{(time.perf_counter() - t0) * 1000:.1f} ms, {len(found)} pending")
            t0 = time.perf_counter()
            arch._advance_trail_cursor()
            print(f"first cursor advance (reads the whole trail once): {(time.perf_counter() - t0) * 1000:.0f} ms")
            for _ in range(args.polls):
                t0 = time.perf_counter()
                with db.sessions() as s:
                    found = s.scalars(arch._pending_trails(arch._cursor(s)).limit(200)).all()
                t1 = time.perf_counter()
                arch._advance_trail_cursor()
                print(f"poll with the cursor: pending query {(t1 - t0) * 1000:.1f} ms ({len(found)} pending), "
                      f"cursor advance {(time.perf_counter() - t1) * 1000:.1f} ms")
        finally:
            db.dispose()


if __name__ == "__main__":
    main()
