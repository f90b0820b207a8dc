"""Benchmark (not a test): what the per-file time budget costs an intake batch that is validated
without the pool (``validation_jobs`` = 1, or fewer than ``POOL_FROM_FILES`` files).

Each run is a fresh process, as one flow run is: it builds an ``IntakePipeline`` on SQLite and a
directory archive (``DirStore``; migrations and archive set-up are outside the timing), ingests one
batch of N generated valid XML invoices (``devtools.samples``), then one more batch of 1 new file
in the same process (a warm process: an upload in the web server). Budget off
(``EINVOICE_VALIDATION_TIMEOUT=0``: validated in the process itself, the path every such batch
took before the budget covered it) against budget on (default 120 s: validated in the process's
one warm worker, ``einvoice.validation.budget``). Printed per configuration: the median over the
runs of the first batch's seconds, the warm 1-file batch's seconds, and the CPU seconds of the
whole run (the process and its workers, imports included); the configurations alternate, so the
machine's load hits both alike. ``--code DIR`` runs the budget-off runs on another checkout (for
instance the commit before the budget) to show that path did not change.

    .venv/bin/python bench/budget.py [--sizes 1,20] [--runs 5] [--code ../other-checkout]

The rule-pack directory is the environment's (``EINVOICE_RULEPACK_DIR``): with the KoSIT pack
installed, the first file of a fresh process compiles more.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_invoices(directory: Path, count: int) -> list[Path]:
    """``count`` generated valid XML invoices (the generator's occasional PDF left out: its
    Factur-X stylesheets would dominate a small batch), and one more of the first one's syntax
    (the warm batch then measures validating, not compiling)."""
    sys.path.insert(0, str(REPO))
    from devtools.samples import generate

    chosen: list[tuple[str, bytes]] = []
    extra = None
    for sample, data in generate(count + 20):
        if not sample.filename.endswith(".xml"):
            continue
        if len(chosen) < count:
            chosen.append((sample.filename, data))
            first_syntax = chosen[0][0].split("-")[2]  # gen-00001-ubl-...: ubl, ubl-cn or cii
        elif sample.filename.split("-")[2] == first_syntax:
            extra = (sample.filename, data)
            break
    paths = []
    for name, data in [*chosen, extra]:
        (directory / name).write_bytes(data)
        paths.append(directory / name)
    return paths


def child(code: str, files: list[str], scratch: str) -> dict:
    t_start = time.perf_counter()
    sys.path.insert(0, code)
    import resource

    from archive import Archive, RetentionPolicy, signing
    from archive.store import DirStore
    from einvoice.app import intake_hooks
    from einvoice.db import Database
    from einvoice.intake.inbox import InboxItem
    from einvoice.organisation import load_organisation
    from einvoice.pipeline import IntakePipeline

    db = Database(f"sqlite:///{scratch}/bench.sqlite").migrate()
    archive = Archive.on_store(DirStore(Path(scratch) / "archive"), signing_key=signing.generate(), policy=RetentionPolicy())
    org = load_organisation(REPO / "examples" / "musterhausen.yaml")
    pipeline = IntakePipeline(db, org, archive, validation_jobs=1, on_record=intake_hooks())
    items = [InboxItem(Path(f).name, Path(f).read_bytes()) for f in files]
    first, last = items[:-1], items[-1]
    t0 = time.perf_counter()
    outcomes = pipeline.ingest(first)
    batch = time.perf_counter() - t0
    t1 = time.perf_counter()
    warm = pipeline.ingest([last])
    warm_batch = time.perf_counter() - t1
    states = sorted({o.state for o in outcomes + warm})
    try:  # the process's warm worker is reaped here, so its CPU counts below
        from einvoice.validation import budget

        for workers in budget._SHARED:
            workers.close()
    except ImportError:  # a checkout before the budget
        pass
    cpu = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    return {"batch_s": batch, "warm_1_file_s": warm_batch, "process_s": time.perf_counter() - t_start,
            "cpu_s": cpu, "states": states}


def run(code: str, files: list[Path], budget: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-budget-") as scratch:
        env = {**os.environ, "EINVOICE_VALIDATION_TIMEOUT": budget, "PYTHONPATH": code}
        cmd = [sys.executable, __file__, "--child", code, scratch, *map(str, files)]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
        if res.returncode != 0:
            raise SystemExit(f"child failed:\n{res.stderr[-3000:]}")
        return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,20", help="files in the first batch, comma-separated")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--code", default=str(REPO), help="checkout for the budget-off runs")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        code, scratch, *files = args.child
        print(json.dumps(child(code, files, scratch)))
        return
    configs = {"budget off (0)": (args.code, "0"), "budget on (120 s)": (str(REPO), "120")}
    print(f"rule packs: {os.environ.get('EINVOICE_RULEPACK_DIR') or 'default directory'}; load average "
          f"{os.getloadavg()[0]:.1f}; {args.runs} runs each, medians (seconds)")
    with tempfile.TemporaryDirectory(prefix="bench-budget-files-") as tmp:
        for size in [int(s) for s in args.sizes.split(",")]:
            files = write_invoices(Path(tmp), size)
            out: dict[str, list[dict]] = {name: [] for name in configs}
            for _ in range(args.runs):
                for name, (code, budget) in configs.items():
                    out[name].append(run(code, files, budget))
            for name, runs in out.items():
                med = {k: statistics.median(r[k] for r in runs) for k in ("batch_s", "warm_1_file_s", "process_s", "cpu_s")}
                print(f"{size:3d}-file batch, {name:18}: batch {med['batch_s']:.3f}  then 1 file warm "
                      f"{med['warm_1_file_s']:.3f}  whole process {med['process_s']:.2f}  CPU {med['cpu_s']:.2f}"
                      f"  states {runs[0]['states']}")
            for f in files:
                f.unlink()


if __name__ == "__main__":
    main()
