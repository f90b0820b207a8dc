"""Benchmark (not a test): end-to-end invoices/s through the ``process-inbox`` flow, and Prefect's
overhead per invoice, with PostgreSQL and SeaweedFS.

Generates N invoices (``einvoice samples DIR --count N``), starts a throw-away SeaweedFS and a
real Prefect server (subprocess, on a scratch PostgreSQL database with pg_trgm), and ingests the
same files twice into separate scratch schemas and buckets:

1. directly: ``IntakePipeline.ingest`` in batches, no Prefect at all;
2. through the flow: ``process_inbox(dir, batch_size)`` against the Prefect server (one task per
   batch, events, table/markdown/progress artifacts), i.e. what a worker does for a deployment run.

Prefect overhead per invoice = (flow time - direct time) / N. The goal (issue 8) is >= 50
invoices/s end to end on the 2-core machine. Everything it creates (schemas, database, buckets'
server, processes) is removed afterwards; it never touches a production database.

    EINVOICE_BENCH_DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/test \\
        .venv/bin/python bench/pipeline.py [--count 1000] [--batch-size 250]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from devtools.scratch import scratch_database, scratch_schema

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: session id (= pid) of the Prefect server subprocess, to count its CPU
_PREFECT_SERVER_SESSION = [0]


def _session_pids(sid: int) -> list[int]:
    if not sid:
        return []
    out = subprocess.run(["pgrep", "-s", str(sid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


@contextlib.contextmanager
def prefect_server(base: str, tmp: Path):
    """A Prefect server subprocess on a scratch PostgreSQL database (what operators run)."""
    with scratch_database(base, "prefect_bench", extensions=("pg_trgm",)) as url:
        yield from _run_prefect_server(url, tmp)


def _run_prefect_server(url, tmp: Path):
    import httpx

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(tmp / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_UI_ENABLED": "false",
                # as the README's operator section recommends for intake volumes: the event
                # persister writes 500 events per INSERT instead of 20 (~1 ms less server CPU per event)
                "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "500", "PREFECT_LOGGING_LEVEL": "WARNING",
                "PREFECT_API_DATABASE_CONNECTION_URL": url.set(drivername="postgresql+asyncpg")
                .render_as_string(hide_password=False)})
    log = open(tmp / "prefect-server.log", "wb")
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Prefect server did not start:\n{(tmp / 'prefect-server.log').read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.5)
        _PREFECT_SERVER_SESSION[0] = proc.pid  # start_new_session: its pid is the session id
        yield api
    finally:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait)
        log.close()


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user+system) used so far by process ``pid`` (Linux /proc); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


class CpuMeter:
    """CPU seconds per component during a measurement: this process, its validation workers,
    SeaweedFS, every PostgreSQL process of the server (the Prefect server's database work is in
    it too) and the Prefect server's processes."""

    def __init__(self, seaweedfs_pid: int) -> None:
        self.seaweedfs_pid = seaweedfs_pid

    def _sample(self) -> dict:
        import multiprocessing as mp

        return {"main": time.process_time(),
                "workers": {p.pid: _proc_cpu(p.pid) for p in mp.active_children()},
                "seaweedfs": _proc_cpu(self.seaweedfs_pid),
                "postgres": {pid: _proc_cpu(pid) for pid in _postgres_pids()},
                "prefect": {pid: _proc_cpu(pid) for pid in _session_pids(_PREFECT_SERVER_SESSION[0])}}

    def __enter__(self) -> "CpuMeter":
        self.start = self._sample()
        return self

    def __exit__(self, *exc) -> None:
        end = self._sample()
        self.main = end["main"] - self.start["main"]
        # workers forked during the run started at zero
        self.workers = sum(v - self.start["workers"].get(pid, 0.0) for pid, v in end["workers"].items())
        self.seaweedfs = end["seaweedfs"] - self.start["seaweedfs"]
        self.postgres = sum(v - self.start["postgres"].get(pid, 0.0) for pid, v in end["postgres"].items())
        self.prefect = sum(v - self.start["prefect"].get(pid, 0.0) for pid, v in end["prefect"].items())

    def line(self, n: int) -> str:
        parts = {"main process": self.main, "validation workers": self.workers, "SeaweedFS": self.seaweedfs,
                 "PostgreSQL": self.postgres, "Prefect server": self.prefect}
        total = sum(parts.values())
        return (f"CPU per invoice: {', '.join(f'{k} {1000 * v / n:.1f} ms' for k, v in parts.items())}; "
                f"total {1000 * total / n:.1f} ms = at most {n / total * (os.cpu_count() or 1):.0f} invoices/s "
                f"on {os.cpu_count()} cores if nothing else ran")


_APP = None


def _direct_batch(paths: list[str]) -> int:
    """One batch straight through IntakePipeline in a pool process (one App per process, like the flow's tasks)."""
    global _APP
    from einvoice.app import App
    from einvoice.intake.inbox import read_inbox_file

    if _APP is None:
        _APP = App.from_env()
    return len(_APP.intake.ingest([read_inbox_file(Path(q)) for q in paths]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=1000, help="generated valid invoices (plus the 9 hand-made samples)")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--parallel", type=int, default=1,
                   help="batches in flight at once, each in its own (spawned) process, in both measurements")
    p.add_argument("--database-url", default=os.environ.get("EINVOICE_BENCH_DATABASE_URL",
                                                             "postgresql+psycopg://root@127.0.0.1:5432/test"))
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="einvoice-bench-pipeline-"))
    inbox = tmp / "inbox"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "devtools", "samples", str(inbox), "--count", str(args.count)], check=True,
                   stdout=subprocess.DEVNULL)
    (inbox / "manifest.json").unlink(missing_ok=True)
    files = sorted(p for p in inbox.iterdir() if p.is_file())
    n = len(files)
    print(f"cores: {os.cpu_count()}, load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{n} inbox files ({sum(f.stat().st_size for f in files) / n / 1024:.1f} KB average) generated in "
          f"{time.perf_counter() - t:.1f} s; batch size {args.batch_size}")

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key_file = tmp / "signing.pem"
    key_file.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    from archive import Archive
    from devtools.seaweedfs import SeaweedFS
    from einvoice.app import App
    from einvoice.intake.inbox import list_inbox, read_inbox_file
    from einvoice.settings import Settings

    with SeaweedFS(data_dir=tmp / "seaweedfs") as s3server, prefect_server(args.database_url, tmp) as api:
        os.environ.update(s3server.env())
        os.environ["EINVOICE_ARCHIVE_SIGNING_KEY"] = str(key_file)
        # Prefect reads its settings at import: point it at the server before the first import.
        os.environ.update({"PREFECT_API_URL": api, "PREFECT_HOME": str(tmp / "prefect-client"),
                           "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})

        def environment(db_url: str, bucket: str) -> App:
            os.environ["EINVOICE_DATABASE_URL"] = db_url
            os.environ["EINVOICE_ARCHIVE_BUCKET"] = bucket
            Archive.init_bucket(s3server.client(), bucket)
            return App(Settings.from_env())

        # Warm-up outside the timings: XSD/XSLT compilation and imports, once per process (a flow
        # run on a process worker is a fresh process and pays this once per run: printed here).
        from einvoice.validation import validate, warm

        c = time.process_time()
        warm(facturx=False)
        validate(files[0].read_bytes(), files[0].name)
        print(f"start-up (once per process): compiling the XRechnung schemas and stylesheets "
              f"{time.process_time() - c:.1f} s CPU")
        import flows.process_inbox as fp  # noqa: F401 - imports prefect (~1.5 s)

        with scratch_schema(args.database_url) as db_direct, scratch_schema(args.database_url) as db_flow:
            # 1. directly through the pipeline
            app = environment(db_direct, f"bench-direct-{uuid.uuid4().hex[:8]}")
            _ = app.db  # migrate outside the timing
            paths = list_inbox(inbox)
            chunks = [paths[i:i + args.batch_size] for i in range(0, len(paths), args.batch_size)]
            meter = CpuMeter(s3server.process.pid)
            t0, c0 = time.perf_counter(), time.process_time()
            if args.parallel <= 1:
                with meter:
                    outcomes = [o for c in chunks for o in app.intake.ingest([read_inbox_file(q) for q in c])]
            else:
                # Same shape as the flow: spawned processes (each compiles the stylesheets once), batches in flight.
                import multiprocessing as mp
                from concurrent.futures import ProcessPoolExecutor

                with ProcessPoolExecutor(args.parallel, mp_context=mp.get_context("spawn")) as ex:
                    counted = sum(ex.map(_direct_batch, [[str(q) for q in c] for c in chunks]))
            direct_s, direct_cpu = time.perf_counter() - t0, time.process_time() - c0
            if args.parallel > 1:  # not timed: read the states back (every file is known now)
                outcomes = app.intake.ingest([read_inbox_file(q) for q in paths])
                assert counted == n and all(o.already_received for o in outcomes)
            app.db.dispose()
            assert len(outcomes) == n
            states: dict[str, int] = {}
            for o in outcomes:
                states[o.state] = states.get(o.state, 0) + 1

            # 2. through the Prefect flow
            app2 = environment(db_flow, f"bench-flow-{uuid.uuid4().hex[:8]}")
            _ = app2.db  # migrate outside the timing
            from flows.process_inbox import process_inbox

            flow_meter = CpuMeter(s3server.process.pid)
            t0, c0 = time.perf_counter(), time.process_time()
            with flow_meter:
                flow_out = process_inbox(str(inbox), batch_size=args.batch_size, parallel=args.parallel)
            flow_s, flow_cpu = time.perf_counter() - t0, time.process_time() - c0
            app2.db.dispose()
            assert len(flow_out) == n and not any(o["already_received"] for o in flow_out)

    print(f"states: {', '.join(f'{v} {k}' for k, v in sorted(states.items()))}")
    print(f"direct IntakePipeline.ingest : {n / direct_s:7.1f} invoices/s  ({direct_s:6.1f} s wall, "
          f"{1000 * direct_cpu / n:5.1f} ms CPU/invoice in the main process)")
    if args.parallel <= 1:
        print(f"  direct run {meter.line(n)}")
    print(f"process-inbox flow (Prefect) : {n / flow_s:7.1f} invoices/s  ({flow_s:6.1f} s wall, "
          f"{1000 * flow_cpu / n:5.1f} ms CPU/invoice in the main process)")
    if args.parallel <= 1:
        print(f"  flow run   {flow_meter.line(n)}")
    print(f"Prefect overhead             : {1000 * (flow_s - direct_s) / n:7.2f} ms/invoice wall "
          f"({100 * (flow_s - direct_s) / direct_s:+.1f} %), {1000 * (flow_cpu - direct_cpu) / n:.2f} ms/invoice CPU; "
          f"{-(-n // args.batch_size)} task runs, {args.parallel} in flight")
    print(f"goal >= 50 invoices/s end to end: {'met' if n / flow_s >= 50 else 'NOT met'}")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
