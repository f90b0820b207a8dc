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
    .venv/bin/python bench/validate.py --jobs '' --stages --lines 2000,8000,16000  # by step
    .venv/bin/python bench/validate.py --jobs '' --saxon only --lines 2000,8000,16000
                                 # the pack's official CII stylesheets alone in Saxon
    .venv/bin/python bench/validate.py --set all --runs 3 --lines ''      # each run 3 times: medians

Where the time goes with the pack (2026-12-06, CPU ms per corpus invoice, one process, average
file 49 KB): the two official stylesheets in Saxon about 4.3 (EN 16931 about 3.0, XRechnung about
1.3; fixed cost about 0.14 per run), Saxon's parse of the document 0.8, XSD 0.35, lxml parse 0.2,
everything else of the check (scenario, report, acceptance, findings) about 0.5. The bare baseline
does the first four, so one process reaches at most about 0.95 x its CPU efficiency and two
processes at most about 1.9 x its invoices/s: 4 x would need Saxon to run the unchanged official
stylesheets in less than half the time.

It also prints seconds per 1,000 invoice lines for generated invoices of 1,000 to 16,000 lines
(``--lines``): XRechnung UBL, XRechnung CII, a CII whose every line breaks a rule (reverse-charge
category without VAT IDs: each line produces findings with locations) and a Factur-X EN 16931
(COMFORT) PDF. Cost per 1,000 lines that stays flat as the size doubles means linear cost.
``--stages`` times each step of those validations; ``--saxon only`` runs the pack's two official
CII stylesheets alone in Saxon (no engine), also on the valid CII with an invoicing period on
every line; ``--saxon-drop IDS`` does that on a temporary copy without the named assertions
(``location``: SchXslt's location function returns a constant): a measurement, never a verdict.

Why CII is not linear with the pack while UBL is (2026-12-06, CPU s per 1,000 lines at 2,000 /
8,000 / 16,000 lines, load average about 2). ``--jobs '' --stages --lines 2000,8000,16000``:
UBL 0.49 / 0.49 / 0.46, CII 0.59 / 0.83 / 0.95, CII with every line failing 1.34 / 1.82 / 2.92,
PDF 0.87 / 0.86 / 1.07. Every step of ours stays flat (lxml parse 0.008, Saxon parse 0.04, report
and messages 0.05, model 0.05, plausibility 0.01-0.03, the rest 0.02-0.04; the JSON report's
explanations 0.16 ms per finding), and so do the XRechnung CII stylesheet (0.07-0.10) and the PDF's
built-in Factur-X stylesheet (0.16: our load-time edits bind document-wide paths once). Only the
official EN 16931 CII stylesheet grows, as much in Saxon alone (``--saxon only``): valid CII
0.39 / 0.47 / 0.64, every line failing 0.68 / 1.58 / 3.17, line periods 0.41 / 0.55 / 0.81; the
XRechnung one grows only with line periods, 0.19 / 0.43 / 0.76. Four rules and the location
function cause all of it: with ``--saxon-drop BR-CO-18,BR-S-02,PEPPOL-EN16931-R110,
PEPPOL-EN16931-R111,location`` the same runs give 0.30 / 0.28 / 0.29, 0.38 / 0.34 / 0.33,
0.33 / 0.35 / 0.36 and XRechnung 0.08 / 0.08 / 0.09.
- BR-CO-18 (context: every line; test ``//rsm:SupplyChainTradeTransaction/ram:ApplicableHeader
  TradeSettlement/ram:ApplicableTradeTax``) and BR-S-02 (context: every line VAT of category S;
  test ``/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTrade
  Agreement/ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID = ('VA', 'FC')]
  or .../ram:SellerTaxRepresentativeTradeParty/...``): in CII the header parts come after all
  lines inside SupplyChainTradeTransaction, so that child step walks past every line, once per
  line. BR-Z-02, BR-E-02, BR-O-02, BR-AF-02 and BR-AG-02 read the same way for their categories
  (not measured).
  Whole-document ``//name`` steps are cheap: Saxon keeps a list of the elements of each name.
- PEPPOL-EN16931-R110/R111 (XRechnung; lines with a period): the context ``rsm:SupplyChain
  TradeTransaction[ram:ApplicableHeaderTradeSettlement/...]/ram:IncludedSupplyChainTradeLineItem
  /.../ram:StartDateTime`` (EndDateTime) and the test ``../../../../ram:ApplicableHeaderTrade
  Settlement/...`` take the same step from every line.
- ``schxslt:location`` numbers each ancestor of a failed assertion with ``xsl:number``, which
  counts preceding siblings: the location of a finding on line k costs k steps.
Saxon-side nothing removes it while the stylesheets stay as published (scratch runs on the same
files): Saxon-HE evaluates such a path again at every rule firing (its optimiser extracts no
global variables; JIT compilation is refused as Saxon-EE only), with every optimiser flag set it
still grows (0.44 / 0.56 / 0.76), and the linked tree model (honoured only when Saxon reads the
file itself) is slower and grows as much (BR-CO-18 and BR-S-02 alone, parse included, 2,000 ->
8,000 lines: 0.58 -> 1.08; TinyTree 0.37 -> 0.53). Binding the context-free paths to global
variables at load time, as the built-in engine does
(``einvoice.validation.schematron._hoist_document_paths``), makes the EN 16931 stylesheet linear
on a scratch copy (0.35 / 0.34 / 0.37, same assertions), not R110/R111 nor the location function;
it is an edit of the official stylesheet, which the rule-pack engine does not make
(``einvoice.rulepacks.pack.stylesheet``).

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
def _line_invoices(n: int, *, pdf: bool = True) -> dict[str, bytes]:
    import dataclasses
    from decimal import Decimal

    from devtools import samples

    base = samples._jugendamt_facturx_invoice()
    lines = tuple(samples.Line(f"Position {i}", Decimal("2"), "C62", Decimal("10.00"), Decimal("19")) for i in range(n))
    inv = dataclasses.replace(base, lines=lines)
    cii = samples._xml_bytes(samples.build_cii(inv))
    out = {
        "ubl": samples._xml_bytes(samples.build_ubl(inv)),
        "cii": cii,
        "cii-every-line-fails": cii.replace(b"<ram:CategoryCode>S</ram:CategoryCode>", b"<ram:CategoryCode>K</ram:CategoryCode>"),
    }
    if pdf:
        out["facturx-pdf"] = samples.make_facturx_pdf(inv, check_xsd=False)
    return out


_PERIOD = (b"<ram:BillingSpecifiedPeriod><ram:StartDateTime><udt:DateTimeString format=\"102\">20260301</udt:DateTimeString>"
           b"</ram:StartDateTime><ram:EndDateTime><udt:DateTimeString format=\"102\">20260331</udt:DateTimeString>"
           b"</ram:EndDateTime></ram:BillingSpecifiedPeriod>")


def _with_line_periods(cii: bytes) -> bytes:
    """The valid CII with an invoicing period (BG-14, BG-26) on the invoice and on every line."""
    cii = cii.replace(b"</ram:ApplicableTradeTax>\n        <ram:SpecifiedTradeSettlementLineMonetarySummation>",
                      b"</ram:ApplicableTradeTax>" + _PERIOD + b"\n        <ram:SpecifiedTradeSettlementLineMonetarySummation>")
    return cii.replace(b"</ram:ApplicableTradeTax>\n      <ram:SpecifiedTradePaymentTerms>",
                       b"</ram:ApplicableTradeTax>" + _PERIOD + b"\n      <ram:SpecifiedTradePaymentTerms>")


#: the pack's official CII stylesheets, in the order the XRechnung CII scenario runs them
CII_STYLESHEETS = ("resources/cii/16b/xsl/EN16931-CII-validation.xsl", "resources/xrechnung/3.0.2/xsl/XRechnung-CII-validation.xsl")


def _scratch_stylesheet(path: Path, drop: set[str], folder: str) -> Path:
    """Measurement only: a copy of ``path`` in ``folder`` without the assertions whose ID is in
    ``drop`` (a rule left without assertions goes with its context; ``location`` = SchXslt's
    location function returns a constant). The pack is never changed; verdicts never come from
    such a copy."""
    from lxml import etree

    xsl, svrl = "{http://www.w3.org/1999/XSL/Transform}", "{http://purl.oclc.org/dsdl/svrl}"
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    for rule in list(tree.getroot().iterchildren(f"{xsl}template")):
        ids = [a.get("id") for a in rule.iter(f"{svrl}failed-assert", f"{svrl}successful-report")]
        if ids and all(i in drop for i in ids):
            rule.getparent().remove(rule)  # every assertion of the rule dropped: its context too
            continue
        for test in list(rule.iter(f"{xsl}if")):
            if any(c.tag in (f"{svrl}failed-assert", f"{svrl}successful-report") and c.get("id") in drop for c in test):
                test.getparent().remove(test)
    for fn in tree.getroot().iterchildren(f"{xsl}function"):
        if "location" in drop and fn.get("name") == "schxslt:location":
            for c in list(fn)[1:]:  # keep the parameter
                fn.remove(c)
            etree.SubElement(fn, f"{xsl}sequence", select="'/'")
    out = Path(folder) / path.name
    tree.write(str(out))
    return out


def child_saxon(sizes: list[int], drop: set[str]) -> dict:
    """Saxon alone (no engine): CPU seconds per 1,000 lines of each official CII stylesheet of the
    installed pack on the generated CII invoices (and the valid one with an invoicing period on
    every line), the better of two runs, the document parsed once outside the timing."""
    import tempfile

    from saxonche import PySaxonProcessor

    from einvoice.rulepacks import store

    pack = store.installed()[0].directory
    proc = PySaxonProcessor(license=False)
    scratch = tempfile.TemporaryDirectory(prefix="bench-saxon-")
    sheets = {}
    for rel in CII_STYLESHEETS:
        path = _scratch_stylesheet(pack / rel, drop, scratch.name) if drop else pack / rel
        x = proc.new_xslt30_processor()
        x.set_cwd(str((pack / rel).parent))
        sheets[Path(rel).stem] = x.compile_stylesheet(stylesheet_file=str(path))
    out = {}
    for i, n in enumerate([1000, *sizes]):  # the first round (1,000 lines) only warms Saxon up
        invoices = {k: v for k, v in _line_invoices(n, pdf=False).items() if k.startswith("cii")}
        invoices["cii-line-periods"] = _with_line_periods(invoices["cii"])
        docs = {k: proc.parse_xml(xml_text=v.decode("utf-8")) for k, v in invoices.items()}
        for name, ex in sheets.items():
            for kind, doc in docs.items():
                cpu = []
                for _run in range(2):  # the better of two: a collection or a neighbour's burst hits one
                    c0 = time.process_time()
                    svrl = ex.transform_to_string(xdm_node=doc)
                    cpu.append(time.process_time() - c0)
                out[f"{name}/{kind}:{n}" if i else "warm-up"] = {"cpu_per_1000_lines": round(min(cpu) / n * 1000, 3),
                                                                 "failed_asserts": svrl.count("<svrl:failed-assert")}
    return out


#: (module, function, row) the stage table (``--stages``) times; the pack's stylesheets are timed
#: one by one through ``einvoice.rulepacks.pack.stylesheet``; "everything else" is the remainder
_STAGES = (
    ("einvoice.intake", "detect", "intake (lxml parse, profile; PDF: extraction)"),
    ("einvoice.rulepacks.check", "saxon_document", "pack: Saxon parse"),
    ("einvoice.rulepacks.check", "select_scenario", "pack: scenario"),
    ("einvoice.rulepacks.check", "validate_xsd", "pack: XSD"),
    ("einvoice.rulepacks.check", "native_report", "pack: report"),
    ("einvoice.rulepacks.check", "report_messages", "pack: custom levels, messages"),
    ("einvoice.rulepacks.integration", "_fill", "pack: findings, stages, verdict"),
    ("einvoice.validation.xsd", "validate_xsd", "built-in: XSD"),
    ("einvoice.validation.schematron", "run", "built-in: Saxon parse + EN 16931 stylesheet"),
    ("einvoice.validation.en16931", "native_cii", "built-in: native CII rules"),
    ("einvoice.model", "invoice_from_xml", "model"),
    ("einvoice.validation.plausibility", "check", "plausibility"),
)


def child_stages(sizes: list[int]) -> dict:
    """CPU seconds of each step of one validation (``_STAGES``), per invoice kind and size."""
    import functools
    import importlib

    from einvoice.rulepacks import pack as _pack
    from einvoice.validation import validate, warm

    spent: dict[str, float] = {}

    def timed(fn, row):
        @functools.wraps(fn)
        def run(*a, **k):
            c0 = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                spent[row] = spent.get(row, 0.0) + time.process_time() - c0
        return run

    for mod, name, row in _STAGES:
        m = importlib.import_module(mod)
        setattr(m, name, timed(getattr(m, name), row))

    class Timed:  # a compiled pack stylesheet whose transformations are timed
        def __init__(self, ex, row):
            self.ex, self.transform_to_string = ex, timed(ex.transform_to_string, row)

        def __getattr__(self, attr):
            return getattr(self.ex, attr)

    stylesheet = _pack.stylesheet
    _pack.stylesheet = lambda d, loc: Timed(stylesheet(d, loc), f"pack: {Path(loc).stem}")
    warm()
    for data in _line_invoices(10).values():
        validate(data, "warm-up")
    out = {}
    for n in sizes:
        for kind, data in _line_invoices(n).items():
            if kind == "ubl":
                continue
            spent.clear()
            c0 = time.process_time()
            rep = validate(data, f"{kind}-{n}")
            total = time.process_time() - c0
            rows = dict(spent)
            rows["everything else (SVRL parse, acceptance, glue)"] = total - sum(spent.values())
            c0 = time.process_time()
            rep.to_dict()
            rows["JSON report (explanations, readable locations)"] = time.process_time() - c0
            rows["total validate()"] = total
            out[f"{kind}:{n}"] = {r: round(v / n * 1000, 3) for r, v in rows.items()} | {"findings": len(rep.findings)}
    return out


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
    ap.add_argument("--saxon", nargs="?", const="also", choices=["also", "only"],
                    help="with --lines: also (or only) time the pack's official CII stylesheets alone in Saxon on the CII invoices")
    ap.add_argument("--saxon-drop", default="", metavar="IDS",
                    help="measurement only, with --saxon: assertion IDs removed from a temporary copy of the stylesheets "
                         "(location = SchXslt's location function returns a constant); the pack is never changed")
    ap.add_argument("--stages", action="store_true",
                    help="with --lines: CPU seconds per 1,000 lines of each step of the engine (CII and the PDF)")
    ap.add_argument("--runs", type=int, default=1, help="run every configuration this many times and print medians (default 1)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        kind, value = args.child.split(":")
        if kind == "lines":
            print(json.dumps(child_lines([int(v) for v in value.split(",")])))
            return
        if kind == "stages":
            print(json.dumps(child_stages([int(v) for v in value.split(",")])))
            return
        if kind == "saxon":
            print(json.dumps(child_saxon([int(v) for v in value.split(",")], set(filter(None, args.saxon_drop.split(","))))))
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
        print_lines(args)


def print_lines(args) -> None:
    """The cost-per-line tables (``--lines``), and with ``--saxon`` the same for Saxon alone."""
    sizes = [int(v) for v in args.lines.split(",")]
    if args.saxon != "only":
        print_engine_lines(args, sizes)
    if args.stages:
        print_stages(args, sizes)
    if args.saxon:
        print_saxon_lines(args, sizes)


def print_stages(args, sizes: list[int]) -> None:
    res = subprocess.run([sys.executable, __file__, "--child", f"stages:{args.lines}"], capture_output=True, text=True, cwd=REPO)
    if res.returncode != 0:
        print(res.stderr[-2000:], file=sys.stderr)
        raise SystemExit("stages run failed")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    for kind in sorted({k.split(":")[0] for k in out}, key=["cii", "cii-every-line-fails", "facturx-pdf"].index):
        cells = {n: out[f"{kind}:{n}"] for n in sizes}
        rows = [r for r in cells[sizes[0]] if r != "findings" and any(c.get(r, 0) >= 0.002 for c in cells.values())]
        print(f"{kind}: CPU seconds per 1,000 lines by step (findings: {', '.join(str(c['findings']) for c in cells.values())})")
        print(f"  {'':52} " + " ".join(f"{n:>7}" for n in sizes))
        for r in rows:
            print(f"  {r:52} " + " ".join(f"{cells[n].get(r, 0):>7.3f}" for n in sizes))


def print_engine_lines(args, sizes: list[int]) -> None:
    res = subprocess.run([sys.executable, __file__, "--child", f"lines:{args.lines}"], capture_output=True, text=True, cwd=REPO)
    if res.returncode != 0:
        print(res.stderr[-2000:], file=sys.stderr)
        raise SystemExit("lines run failed")
    out = json.loads(res.stdout.strip().splitlines()[-1])
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


def print_saxon_lines(args, sizes: list[int]) -> None:
    drop = sorted(filter(None, args.saxon_drop.split(",")))
    res = subprocess.run([sys.executable, __file__, "--child", f"saxon:{args.lines}", "--saxon-drop", ",".join(drop)],
                         capture_output=True, text=True, cwd=REPO)
    if res.returncode != 0:
        print(res.stderr[-2000:], file=sys.stderr)
        raise SystemExit("saxon run failed")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    rows = sorted({k.split(":")[0] for k in out if k != "warm-up"})
    without = f", without {', '.join(drop)} (temporary copy)" if drop else ""
    print(f"Saxon alone, CPU seconds per 1,000 lines (pack stylesheet / invoice{without}):")
    print(f"  {'':48} " + " ".join(f"{n:>7}" for n in sizes) + "  failed assertions")
    for r in rows:
        print(f"  {r:48} " + " ".join(f"{out[f'{r}:{n}']['cpu_per_1000_lines']:>7.3f}" for n in sizes)
              + f"  {out[f'{r}:{sizes[-1]}']['failed_asserts']}")


if __name__ == "__main__":
    main()
