"""Long fuzz run of the validation engine (outside CI): mutated invoices until N inputs or a deadline.

Usage (from the repository root):
    PYTHONPATH=$PWD .venv/bin/python bench/fuzz.py --inputs 1000000 --seed 1 --out /tmp/fuzz-run
    PYTHONPATH=$PWD .venv/bin/python bench/fuzz.py --hours 8 --jobs 2 --out /tmp/fuzz-run

Same seeds, mutators and invariants as the CI test (tests/validation/fuzzing.py). Each worker
process validates its own deterministic stream (seed + worker number). Every input that breaks an
invariant, or takes longer than ``--slow`` seconds, is written to ``--out`` with its mutation and
seed, so it can be replayed and turned into a regression test. Progress (inputs, inputs/s,
verdict counts, failures, slowest input) goes to ``--out/progress.json`` every minute, and a
summary is printed at the end. This is a measurement, not a test: it asserts nothing.
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import random
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared" / "corpus"


def _worker(args) -> dict:
    wid, seed, inputs, deadline, out, slow = args
    from einvoice.validation import validate, warm
    from tests.validation import fuzzing

    warm()
    rng = random.Random(seed * 1000 + wid)
    seeds = fuzzing.seeds(CORPUS if CORPUS.is_dir() else None, limit_corpus=86)
    stats = collections.Counter()
    slowest = (0.0, "")
    out = Path(out)
    last = time.monotonic()
    n = 0
    while n < inputs and time.time() < deadline:
        name, data = rng.choice(seeds)
        try:
            how, mutated = fuzzing.mutate(rng, data)
        except Exception:  # noqa: BLE001 - a bug of the fuzzer, not of the engine: count it, go on
            stats["mutator_error"] += 1
            n += 1
            continue
        t0 = time.perf_counter()
        try:
            rep = validate(mutated, name)
            stats[{True: "valid", False: "invalid", None: "not_validated"}[rep.valid]] += 1
            problems = fuzzing.check(mutated, rep)
        except Exception:  # noqa: BLE001 - an escaped exception is a broken invariant: record it, go on
            rep, problems = None, ["exception escaped: " + traceback.format_exc()]
        dt = time.perf_counter() - t0
        if problems or dt > slow:
            kind = "fail" if problems else "slow"
            stats[kind] += 1
            stem = out / f"{kind}-w{wid}-{n}"
            stem.with_suffix(".bin").write_bytes(mutated)
            stem.with_suffix(".json").write_text(json.dumps(
                {"seed_file": name, "mutation": how, "seconds": round(dt, 3), "problems": problems, "summary": rep.summary() if rep is not None else None},
                ensure_ascii=False, indent=1))
        if dt > slowest[0]:
            slowest = (dt, f"{name} {how}")
        n += 1
        if time.monotonic() - last > 60:
            last = time.monotonic()
            (out / f"progress-w{wid}.json").write_text(json.dumps({"inputs": n, **stats, "slowest": slowest}))
    result = {"inputs": n, **stats, "slowest": slowest}
    (out / f"progress-w{wid}.json").write_text(json.dumps(result))
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=1_000_000, help="total inputs (split over the workers)")
    ap.add_argument("--hours", type=float, default=1e9, help="stop after this long even if fewer inputs")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--slow", type=float, default=10.0, help="record inputs slower than this (s)")
    ap.add_argument("--out", default="/tmp/einvoice-fuzz")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    deadline = time.time() + a.hours * 3600
    per = -(-a.inputs // a.jobs)
    t0 = time.time()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(a.jobs) as pool:
        results = pool.map(_worker, [(w, a.seed, per, deadline, str(out), a.slow) for w in range(a.jobs)])
    total = collections.Counter()
    for r in results:
        total.update({k: v for k, v in r.items() if isinstance(v, int)})
    secs = time.time() - t0
    summary = {"inputs": total["inputs"], "seconds": round(secs), "inputs_per_s": round(total["inputs"] / secs, 1),
               "valid": total["valid"], "invalid": total["invalid"], "not_validated": total["not_validated"],
               "invariant_failures": total["fail"], "slow_inputs": total["slow"], "mutator_errors": total["mutator_error"],
               "slowest": max((r["slowest"] for r in results), default=None)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
