"""Benchmark of the validation engine: invoices per second and peak memory, --jobs 1 and 2.

Usage (from the repository root):
    .venv/bin/python bench/validate.py                     # testsuite files, jobs 1 and 2
    .venv/bin/python bench/validate.py --set all --repeat 2
    .venv/bin/python bench/validate.py --memory 10000      # RSS over 10,000 validations
    .venv/bin/python bench/validate.py --set all --pack ../shared/rulepacks/xrechnung-3.0.2-kosit-2026-01-31-cen-1.3.16
                                                            # with KoSIT's rule pack, and the bare baseline

With ``--pack`` (a release directory or zip; ``auto`` = the one in ../shared/rulepacks when
present, the default; ``none`` = built-in rules) the pack is installed into a temporary rule-pack
directory and every run validates with it; a "baseline" run then measures the bare cost of the
same rules in one process (lxml XSD + Saxon running the pack's CEN and XRechnung stylesheets,
no scenario selection, no report, no intake) and the ratio of each run to it is printed.
    .venv/bin/python bench/validate.py --jobs '' --lines 1000,2000,4000   # only the line scaling
    .venv/bin/python bench/validate.py --set all --runs 3 --lines ''      # each run 3 times: medians

Where the time goes with the pack (2026-12-06, CPU ms per corpus invoice, one process, average
file 49 KB): the two official stylesheets in Saxon about 4.3 (EN 16931 about 3.0, XRechnung about
1.3; fixed cost about 0.14 per run), Saxon's parse of the document 0.8, XSD 0.35, lxml parse 0.2,
everything else of the check (scenario, report, acceptance, findings) about 0.5. The bare baseline
does the first four, so one process reaches at most about 0.95 x its CPU efficiency and two
processes at most about 1.9 x its invoices/s: 4 x would need Saxon to run the unchanged official
stylesheets in less than half the time. The EN 16931 CII stylesheet itself grows faster than its
line count (rules with document-wide paths evaluated for every line), in KoSIT's validator too.

It also prints seconds per 1,000 invoice lines for generated invoices of 1,000 to 16,000 lines
(``--lines``): XRechnung UBL, XRechnung CII, a CII whose every line breaks a rule (reverse-charge
category without VAT IDs: each line produces findings with locations) and a Factur-X EN 16931
(COMFORT) PDF. Cost per 1,000 lines that stays flat as the size doubles means linear cost.

Every configuration runs in a fresh child process so compile time and peak RSS are its own.
On a shared machine the invoices/s depend on what else runs (the load average is printed with
each run); ``--runs N`` repeats every configuration N times, alternating them, and prints the
median invoices/s and the median CPU per invoice with the single values. CPU per invoice and the
ratio of CPU efficiencies depend much less on the load than invoices/s.
Throughput excludes the one-off start-up (imports, schema loading, stylesheet compiling), which
is reported separately. Worker processes are forked after compiling, as `einvoice validate
--jobs N` does. This is a benchmark, not a test: it asserts nothing and needs the corpus at
../shared/corpus (relative to the repository root).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
sys.path.insert(0, str(REPO))


def corpus_files(which: str) -> list[Path]:
    if which == "testsuite":
        return sorted((CORPUS / "xrechnung-testsuite").rglob("*.xml"))
    if which == "all":
        expected = json.loads((CORPUS / "expected-dev.json").read_text())
        return [CORPUS / k for k in sorted(expected)]
    if which == "zugferd":
        return sorted(p for p in (CORPUS / "zugferd").rglob("*") if p.is_file() and p.suffix.lower() in (".xml", ".pdf"))
    raise SystemExit(f"unknown set {which!r}")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


_CONFIG = None
#: files the parent validates before forking (einvoice.cli_validate.PARENT_FIRST); 0 = fork at once
PARENT_FIRST = int(os.environ.get("BENCH_PARENT_FIRST", "24"))


def _validate_file(path: str):
    from einvoice.validation import validate

    data = Path(path).read_bytes()
    rep = validate(data, path, config=_CONFIG)
    return rep.valid


def child_run(jobs: int, which: str, repeat: int, model: bool) -> dict:
    global _CONFIG
    t0 = time.perf_counter()
    from einvoice.validation import ValidationConfig, validate, warm

    # like `einvoice validate` (text/JSON): no semantic model unless --model
    _CONFIG = ValidationConfig(build_model=model)
    warm()
    startup = time.perf_counter() - t0
    files = [str(p) for p in corpus_files(which)] * repeat
    verdicts = {True: 0, False: 0, None: 0}
    cpu0 = time.process_time()
    if jobs == 1:
        # reading the file is part of the real work, so it stays inside the timed loop
        t1 = time.perf_counter()
        for f in files:
            verdicts[validate(Path(f).read_bytes(), f, config=_CONFIG).valid] += 1
        elapsed = time.perf_counter() - t1
        cpu = time.process_time() - cpu0
    else:
        import multiprocessing as mp

        # as `einvoice validate --jobs` does: the parent validates the first files itself before
        # forking; Saxon's heap has then settled, and a worker does not copy all of it (about
        # 0.5 s of CPU per worker, page faults on the inherited heap) during its first files
        for f in files[:PARENT_FIRST]:
            validate(Path(f).read_bytes(), f, config=_CONFIG)
        cpu0 = time.process_time()
        ctx = mp.get_context("fork")
        with ctx.Pool(jobs) as pool:
            # one throw-away round so the workers exist before timing starts
            pool.map(_validate_file, files[: jobs * 2])
            t1 = time.perf_counter()
            for v in pool.imap_unordered(_validate_file, files, chunksize=8):
                verdicts[v] += 1
            elapsed = time.perf_counter() - t1
            pool.close()
            pool.join()
        # CPU of the workers (whole life, including the warm-up round) plus the parent's
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime
        cpu += time.process_time() - cpu0
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "jobs": jobs,
        "files": len(files),
        "seconds": round(elapsed, 3),
        "per_second": round(len(files) / elapsed, 1),
        "startup_seconds": round(startup, 2),
        # CPU seconds per invoice does not depend on what else runs on the machine
        "cpu_ms_per_invoice": round(cpu / len(files) * 1000, 2),
        "load_average": os.getloadavg()[0],
        "peak_rss_mb_parent": round(self_peak, 1),
        "peak_rss_mb_worker": round(child_peak, 1) if jobs > 1 else None,
        "verdicts": {str(k): v for k, v in verdicts.items()},
    }


def child_baseline(which: str, repeat: int) -> dict:
    """lxml XSD + Saxon with the pack's CEN and XRechnung stylesheets, nothing else, one process."""
    from lxml import etree
    from saxonche import PySaxonProcessor

    from einvoice.rulepacks import store

    t0 = time.perf_counter()
    pack = store.installed()[0].directory
    proc = PySaxonProcessor(license=False)

    def xslt(rel):
        return proc.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(pack / rel))

    ubl = ("resources/ubl/2.1/xsl/EN16931-UBL-validation.xsl", "resources/xrechnung/3.0.2/xsl/XRechnung-UBL-validation.xsl")
    cii = ("resources/cii/16b/xsl/EN16931-CII-validation.xsl", "resources/xrechnung/3.0.2/xsl/XRechnung-CII-validation.xsl")
    sheets = {"Invoice": [xslt(x) for x in ubl]}
    sheets["CreditNote"] = sheets["Invoice"]
    sheets["CrossIndustryInvoice"] = [xslt(x) for x in cii]
    xsd = {
        "Invoice": etree.XMLSchema(etree.parse(str(pack / "resources/ubl/2.1/xsd/maindoc/UBL-Invoice-2.1.xsd"))),
        "CreditNote": etree.XMLSchema(etree.parse(str(pack / "resources/ubl/2.1/xsd/maindoc/UBL-CreditNote-2.1.xsd"))),
        "CrossIndustryInvoice": etree.XMLSchema(etree.parse(str(pack / "resources/cii/16b/xsd/CrossIndustryInvoice_100pD16B.xsd"))),
    }
    startup = time.perf_counter() - t0
    files = [str(p) for p in corpus_files(which)] * repeat
    cpu0 = time.process_time()
    t1 = time.perf_counter()
    for f in files:
        data = Path(f).read_bytes()
        root = etree.fromstring(data)
        kind = etree.QName(root).localname
        xsd[kind].validate(root)
        node = proc.parse_xml(xml_text=data.decode(root.getroottree().docinfo.encoding or "utf-8").lstrip("\ufeff"))
        for ex in sheets[kind]:
            ex.transform_to_string(xdm_node=node)
    elapsed = time.perf_counter() - t1
    return {"jobs": 1, "files": len(files), "seconds": round(elapsed, 3), "per_second": round(len(files) / elapsed, 1),
            "startup_seconds": round(startup, 2), "cpu_ms_per_invoice": round((time.process_time() - cpu0) / len(files) * 1000, 2),
            "load_average": os.getloadavg()[0]}
def _line_invoices(n: int) -> dict[str, bytes]:
    import dataclasses
    from decimal import Decimal

    from devtools import samples

    base = samples._jugendamt_facturx_invoice()
    lines = tuple(samples.Line(f"Position {i}", Decimal("2"), "C62", Decimal("10.00"), Decimal("19")) for i in range(n))
    inv = dataclasses.replace(base, lines=lines)
    cii = samples._xml_bytes(samples.build_cii(inv))
    return {
        "ubl": samples._xml_bytes(samples.build_ubl(inv)),
        "cii": cii,
        "cii-every-line-fails": cii.replace(b"<ram:CategoryCode>S</ram:CategoryCode>", b"<ram:CategoryCode>K</ram:CategoryCode>"),
        "facturx-pdf": samples.make_facturx_pdf(inv, check_xsd=False),
    }


def child_lines(sizes: list[int]) -> dict:
    from einvoice.validation import validate, warm

    warm()
    for data in _line_invoices(10).values():  # first calls of each path outside the timing
        validate(data, "warm-up")
    out = {}
    for n in sizes:
        for kind, data in _line_invoices(n).items():
            t0, c0 = time.perf_counter(), time.process_time()
            rep = validate(data, f"{kind}-{n}")
            secs, cpu = time.perf_counter() - t0, time.process_time() - c0
            out[f"{kind}:{n}"] = {"seconds": round(secs, 2), "per_1000_lines": round(secs / n * 1000, 3),
                                  "cpu_per_1000_lines": round(cpu / n * 1000, 3), "bytes": len(data), "valid": rep.valid}
    return out


def child_memory(n: int, which: str) -> dict:
    from einvoice.validation import validate, warm

    warm()
    data = [(str(p), p.read_bytes()) for p in corpus_files(which)]
    samples = []
    step = max(1, n // 20)
    t0 = time.perf_counter()
    for i in range(n):
        path, raw = data[i % len(data)]
        validate(raw, path)
        if (i + 1) % step == 0:
            samples.append((i + 1, round(rss_mb(), 1)))
    elapsed = time.perf_counter() - t0
    half = samples[len(samples) // 2][1]
    return {
        "validations": n,
        "per_second": round(n / elapsed, 1),
        "rss_mb_samples": samples,
        "rss_growth_second_half_mb": round(samples[-1][1] - half, 1),
    }


def _median(outs: list[dict]) -> dict:
    """The run with the median invoices/s, carrying the median CPU per invoice (odd counts: both
    are values of real runs)."""
    by_speed = sorted(outs, key=lambda o: o.get("per_second", 0))
    out = dict(by_speed[len(by_speed) // 2])
    if "cpu_ms_per_invoice" in out:
        out["cpu_ms_per_invoice"] = sorted(o["cpu_ms_per_invoice"] for o in outs)[len(outs) // 2]
    return out


def child_memory_run(args) -> dict:
    cmd = [sys.executable, __file__, "--set", args.which, "--repeat", str(args.repeat), "--child", f"memory:{args.memory}"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if res.returncode != 0:
        print(res.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"memory {args.memory} failed")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", default="1,2", help="comma-separated job counts (default 1,2)")
    ap.add_argument("--set", dest="which", default="testsuite", choices=["testsuite", "all", "zugferd"],
                    help="testsuite = 86 typical XRechnung files; all = the 295 files of expected-dev.json; zugferd = PDFs and XML of the ZUGFeRD corpus")
    ap.add_argument("--repeat", type=int, default=4, help="validate the set this many times (default 4)")
    ap.add_argument("--model", action="store_true", help="also build the EN 16931 model for every invoice (as the intake pipeline does)")
    ap.add_argument("--memory", type=int, default=0, metavar="N", help="also validate N times in one process and sample RSS")
    ap.add_argument("--pack", default="auto", help="rule pack release (directory or zip) to validate with; auto = ../shared/rulepacks when present; none = built-in rules")
    ap.add_argument("--lines", default="1000,2000,4000,8000,16000",
                    help="invoice sizes (lines) for the cost-per-line table; empty to skip")
    ap.add_argument("--runs", type=int, default=1, help="run every configuration this many times and print medians (default 1)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        kind, value = args.child.split(":")
        if kind == "lines":
            print(json.dumps(child_lines([int(v) for v in value.split(",")])))
            return
        if kind == "memory":
            out = child_memory(int(value), args.which)
        elif kind == "baseline":
            out = child_baseline(args.which, args.repeat)
        else:
            out = child_run(int(value), args.which, args.repeat, args.model)
        print(json.dumps(out))
        return

    import tempfile

    pack = None
    if args.pack == "auto":
        shared = sorted((REPO.parent / "shared" / "rulepacks").glob("*/scenarios.xml"))
        pack = shared[-1].parent if shared else None
    elif args.pack != "none":
        pack = Path(args.pack)
    tmp = tempfile.TemporaryDirectory(prefix="bench-rulepacks-")
    os.environ["EINVOICE_RULEPACK_DIR"] = tmp.name  # children inherit it: empty = built-in rules
    if pack is not None:
        from einvoice.rulepacks import store

        p = store.install(pack, root=Path(tmp.name))
        print(f"rule pack: {p.describe()} (installed in a temporary directory)")
    else:
        print("rule pack: none (built-in rules, not the official KoSIT configuration)")

    if not CORPUS.is_dir():
        raise SystemExit(f"corpus not found at {CORPUS}")
    print(f"cores: os.cpu_count()={os.cpu_count()}, usable={len(os.sched_getaffinity(0))}; python {sys.version.split()[0]}")
    print(f"set: {args.which} ({len(corpus_files(args.which))} files) x {args.repeat}; semantic model {'built' if args.model else 'not built (as einvoice validate)'}")
    runs = [("run", int(j)) for j in args.jobs.split(",") if j.strip()]
    if pack is not None and runs:
        runs.insert(0, ("baseline", 1))
    baseline = baseline_cpu = None
    print(f"load average at the start: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    # runs alternate (baseline, jobs 1, jobs 2, baseline, ...) so a change of load hits all alike
    results: dict[tuple[str, int], list[dict]] = {r: [] for r in runs}
    for _round in range(max(1, args.runs)):
        for kind, value in runs:
            cmd = [sys.executable, __file__, "--set", args.which, "--repeat", str(args.repeat), "--child", f"{kind}:{value}"] + (["--model"] if args.model else [])
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            if res.returncode != 0:
                print(res.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"{kind} {value} failed")
            results[(kind, value)].append(json.loads(res.stdout.strip().splitlines()[-1]))
    if args.memory:
        runs.append(("memory", args.memory))
        results[("memory", args.memory)] = [child_memory_run(args)]
    for kind, value in runs:
        out = _median(results[(kind, value)])
        if kind == "baseline":
            baseline, baseline_cpu = out["per_second"], out["cpu_ms_per_invoice"]
            print(
                f"baseline (lxml XSD + Saxon, the pack's CEN and XRechnung stylesheets, 1 process): {out['files']} in "
                f"{out['seconds']} s = {out['per_second']} invoices/s; CPU {out['cpu_ms_per_invoice']} ms/invoice; "
                f"load average {out['load_average']:.1f}"
            )
        elif kind == "run":
            worker = f", worker peak RSS {out['peak_rss_mb_worker']} MB" if out["peak_rss_mb_worker"] else ""
            # the CPU ratio does not depend on what else runs on the machine; the throughput one does
            ratio = (f"; {out['per_second'] / baseline:.2f} x the baseline's invoices/s, "
                     f"{baseline_cpu / out['cpu_ms_per_invoice']:.2f} x its CPU efficiency") if baseline else ""
            print(
                f"--jobs {value}: {out['files']} validations in {out['seconds']} s = {out['per_second']} invoices/s{ratio} "
                f"(start-up {out['startup_seconds']} s not included); CPU {out['cpu_ms_per_invoice']} ms/invoice; "
                f"parent peak RSS {out['peak_rss_mb_parent']} MB{worker}; verdicts {out['verdicts']}; load average {out['load_average']:.1f}"
            )
        if kind in ("baseline", "run") and len(results[(kind, value)]) > 1:
            rs = results[(kind, value)]
            print(f"    median of {len(rs)} runs; invoices/s {[r['per_second'] for r in rs]}, CPU ms/invoice "
                  f"{[r['cpu_ms_per_invoice'] for r in rs]}, load average {[round(r['load_average'], 1) for r in rs]}")
        if kind == "memory":
            print(
                f"memory: {out['validations']} validations at {out['per_second']}/s; RSS MB by count {out['rss_mb_samples']}; "
                f"growth over the second half {out['rss_growth_second_half_mb']} MB"
            )
    if args.lines.strip():
        res = subprocess.run([sys.executable, __file__, "--child", f"lines:{args.lines}"], capture_output=True, text=True, cwd=REPO)
        if res.returncode != 0:
            print(res.stderr[-2000:], file=sys.stderr)
            raise SystemExit("lines run failed")
        out = json.loads(res.stdout.strip().splitlines()[-1])
        sizes = [int(v) for v in args.lines.split(",")]
        kinds = sorted({k.split(":")[0] for k in out}, key=["ubl", "cii", "cii-every-line-fails", "facturx-pdf"].index)
        print("seconds per 1,000 lines (one validation, model built; total seconds in brackets):")
        print(f"  {'lines':>7} " + " ".join(f"{k:>24}" for k in kinds))
        for n in sizes:
            cells = [f"{out[f'{k}:{n}']['per_1000_lines']:>10.3f} ({out[f'{k}:{n}']['seconds']:>7.2f} s)" for k in kinds]
            print(f"  {n:>7} " + " ".join(f"{c:>24}" for c in cells))
        # CPU seconds do not grow with what else runs on the machine; elapsed seconds do
        print("CPU seconds per 1,000 lines (same validations):")
        print(f"  {'lines':>7} " + " ".join(f"{k:>24}" for k in kinds))
        for n in sizes:
            print(f"  {n:>7} " + " ".join(f"{out[f'{k}:{n}']['cpu_per_1000_lines']:>24.3f}" for k in kinds))


if __name__ == "__main__":
    main()
