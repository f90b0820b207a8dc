"""Benchmark (not a test): page times over HTTP with 100,000 (or 1,000,000) open tasks on PostgreSQL.

Creates a scratch schema, migrates it, bulk-loads (COPY) N invoices in approval with their tasks
(the same population as bench/inbox.py, which times the service alone), sets the demo passwords,
starts ``einvoice serve`` in a subprocess on a free loopback port, signs in a few people over HTTP
and times full page loads (session lookup, queries, template, network) of the inboxes, a search,
a later inbox page, the central desk, the overview and invoice pages. Prints the CPU core count,
the load average before and after each page (other processes on the machine skew the figures:
quote them with it) and p50/p95/p99 per page. Goal: p95 < 50 ms at 100,000 open tasks and
< 100 ms at 1,000,000, for every page. ``--rounds 3`` times every page three times and reports
the median of each figure. The scratch schema is dropped afterwards (unless ``--keep``; reuse it
with ``--schema``: it is migrated to the current revision and vacuumed, as autovacuum would after
a migration that rewrote rows, so the lists are read from their indexes alone again); this script
never touches a schema it did not create.

    EINVOICE_BENCH_DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/test \
        .venv/bin/python bench/web_inbox.py [--tasks 100000] [--runs 200] [--rounds 1]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from devtools.scratch import with_search_path  # noqa: E402
from devtools.web_demo import DEMO_PASSWORD, mark_demo_database, seed_demo_accounts  # noqa: E402
from einvoice.db import Database  # noqa: E402
from einvoice.organisation import load_organisation  # noqa: E402
from einvoice.settings import REPO_EXAMPLE_ORG  # noqa: E402


def _service_bench():
    # One population for both inbox benchmarks, so their figures can be compared.
    spec = importlib.util.spec_from_file_location("bench_inbox", ROOT / "bench" / "inbox.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def sign_in(base: str, person: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": person, "password": DEMO_PASSWORD, "csrf_token": token})
    if r.status_code != 303:
        raise SystemExit(f"sign-in of {person} failed: HTTP {r.status_code}")
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default=os.environ.get("EINVOICE_BENCH_DATABASE_URL") or os.environ.get("EINVOICE_TEST_DATABASE_URL"))
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=200, help="timed requests per page and round")
    ap.add_argument("--rounds", type=int, default=1, help="time every page this often; report the medians")
    ap.add_argument("--keep", action="store_true", help="keep the scratch schema")
    ap.add_argument("--schema", help="reuse a schema kept by an earlier --keep run (no insert)")
    args = ap.parse_args()
    if not args.url or not args.url.startswith("postgresql"):
        sys.exit("set EINVOICE_BENCH_DATABASE_URL (or --url) to a PostgreSQL URL")
    org = load_organisation(REPO_EXAMPLE_ORG)
    schema = args.schema or f"bench_web_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.url)
    if not args.schema:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = with_search_path(args.url, schema)
    db = Database(url).migrate()
    if args.schema:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("invoices", "approval_tasks"):
                conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
    server = None
    log = tempfile.NamedTemporaryFile(prefix="web-bench-", suffix=".log", delete=False)
    try:
        t0 = time.perf_counter()
        if not args.schema:
            mark_demo_database(db)  # a fresh schema: the demo password may be given to everybody
            _service_bench().populate(db, org, args.tasks)
        seed_demo_accounts(db, org)
        with db.engine.connect() as conn:
            open_n = conn.scalar(sa.text("SELECT count(*) FROM approval_tasks WHERE status = 'open'"))
            server_version = conn.scalar(sa.text("SHOW server_version"))
        print(f"PostgreSQL {server_version}, {os.cpu_count()} CPU core(s); {open_n:,} open tasks ready in {time.perf_counter() - t0:.1f} s")

        port = free_port()
        env = {**os.environ, "EINVOICE_DATABASE_URL": url, "EINVOICE_ORGANISATION": str(REPO_EXAMPLE_ORG),
               "EINVOICE_WEB_PLAIN_HTTP": "true"}  # http on loopback
        server = subprocess.Popen([sys.executable, "-c", "from einvoice.cli import main; main()", "serve", "--port", str(port)],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"einvoice serve did not start; log: {log.name}")
            time.sleep(0.2)

        cases = [
            ("a.schulz", "/inbox", {}),
            ("c.wagner", "/inbox", {}),
            ("j.krause", "/inbox", {}),
            ("h.wolf", "/inbox", {}),
            ("a.schulz", "/inbox", {"q": "lieferant 12"}),
            ("c.wagner", "/inbox", {"page": 11}),
            ("h.wolf", "/desk", {}),
            ("k.lange", "/overview", {"department": "66"}),
            ("a.schulz", "invoice", {}),  # the first invoice of the person's inbox
            ("h.wolf", "invoice", {}),
        ]
        clients: dict[str, httpx.Client] = {}
        goal = 50 if open_n <= 100_000 else 100
        print(f"load average (1, 5, 15 min) before: {_load()}; goal p95 < {goal} ms")
        print(f"{'page':44} {'rows':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}   "
              f"{'server p50':>10} {'server p95':>10}   load before/after")
        worst = 0.0
        for person, path, params in cases:
            c = clients.get(person) or clients.setdefault(person, sign_in(base, person))
            if path == "invoice":
                path = "/invoices/" + re.search(r'<a href="/invoices/(\d+)"', c.get("/inbox").text).group(1)
            for _ in range(5):  # warm caches and the connection pool
                c.get(path, params=params)
            figures, load_before = [], _load()
            for _ in range(args.rounds):
                times = []
                log.flush()
                seen = Path(log.name).stat().st_size
                for _ in range(args.runs):
                    t = time.perf_counter()
                    r = c.get(path, params=params)
                    times.append((time.perf_counter() - t) * 1000)
                    if r.status_code != 200:
                        raise SystemExit(f"{person} {path}: HTTP {r.status_code}")
                # The server's own access log: time spent in the app, without client and network.
                with open(log.name, "rb") as f:
                    f.seek(seen)
                    srv = [float(m.group(1)) for m in re.finditer(rb"GET \S+ 200 user=\S+ ([0-9.]+)ms", f.read())] or [0.0]
                figures.append((statistics.median(times), percentile(times, 95), percentile(times, 99), max(times),
                                statistics.median(srv), percentile(srv, 95)))
            p50, p95, p99, top, s50, s95 = (statistics.median(col) for col in zip(*figures))
            rows = r.text.count('<a href="/invoices/')
            worst = max(worst, p95)
            label = f"{person} GET {path}" + (f" {params}" if params else "")
            print(f"{label:44} {rows:>5} {p50:8.1f} {p95:8.1f} {p99:8.1f} {top:8.1f}   {s50:10.1f} {s95:10.1f}   "
                  f"{load_before.split()[0]}/{_load().split()[0]}")
        print(f"worst p95 of all pages: {worst:.1f} ms (goal < {goal} ms at {open_n:,} open tasks): "
              f"{'OK' if worst < goal else 'MISSED'}; load average after: {_load()}")
        for c in clients.values():
            c.close()
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        db.dispose()
        if not (args.keep or args.schema):
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        log.close()
        os.unlink(log.name)


if __name__ == "__main__":
    main()
