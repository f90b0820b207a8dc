"""Archive benchmark (not a timed test): append rate to SeaweedFS, verify rate from an export,
inclusion-proof time at 1,000,000 leaves.

    .venv/bin/python bench/archive.py                      # defaults below
    .venv/bin/python bench/archive.py --append 1000 --verify 20000 --proof-leaves 100000   # quick

Goals (issue 4): append >= 300 entries/s (batched), verify >= 5,000 entries/s from an export,
inclusion proof < 50 ms at 1,000,000 leaves. The export's checkpoints are time-stamped by
OpenSSL's RFC 3161 TSA on loopback, and verified once without and once with the TSA's root. Each entry carries two documents like the pipeline
does (original XML ~6 KB and a validation report ~1 KB).
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive import Archive, ArchiveDocument, EntryInput, merkle, signing  # noqa: E402
from archive.export import export  # noqa: E402
from archive.store import DirStore, S3Store  # noqa: E402
from archive.tree import TreeStore  # noqa: E402
from archive.verify import verify  # noqa: E402
from tests.tsa import LocalTSA  # noqa: E402


def entries(start: int, n: int, year: int = 2026, docs: int = 2) -> list[EntryInput]:
    out = []
    for i in range(start, start + n):
        xml = (f"<Invoice><ID>R-{i}</ID>".encode() + os.urandom(3000).hex().encode() + b"</Invoice>")[:6000]
        report = f'{{"invoice":"R-{i}","valid":true,"findings":[]}}'.encode().ljust(1000, b" ")
        documents = [ArchiveDocument("original.xml", "application/xml", xml),
                     ArchiveDocument("report.json", "application/json", report)][:docs]
        out.append(EntryInput(f"sha256-of-original-{i}", documents,
                              {"invoice_number": f"R-{i}", "seller": "Muster GmbH", "issue_date": f"{year}-03-01",
                               "format": "xrechnung-ubl", "channel": "upload"},
                              retention_base=date(year, 3, 1)))
    return out


def proc_cpu(pid: int) -> float:
    """CPU seconds (user+system) used so far by process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds used by child processes that have ended (the verifier's workers)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def start_seaweedfs():
    from devtools.seaweedfs import SeaweedFS

    return SeaweedFS().start()


def s3_client(sw, pool: int):
    import boto3
    from botocore.config import Config

    from devtools.seaweedfs import ACCESS_KEY, REGION, SECRET_KEY

    return boto3.client("s3", endpoint_url=sw.endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name=REGION,
                        # Parameter validation costs ~10 % of the client CPU per PUT; the archive
                        # builds its requests itself.
                        config=Config(s3={"addressing_style": "path"}, max_pool_connections=pool,
                                      parameter_validation=False,
                                      retries={"max_attempts": 3, "mode": "standard"}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--append", type=int, default=3000, help="entries appended to SeaweedFS")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--verify", type=int, default=100_000, help="entries in the export that is verified")
    ap.add_argument("--proof-leaves", type=int, default=1_000_000)
    args = ap.parse_args()
    print(f"cores: os.cpu_count()={os.cpu_count()}, usable={len(os.sched_getaffinity(0))}, "
          f"load average at start: {os.getloadavg()[0]:.1f}")
    key = signing.generate()
    tmp = Path(tempfile.mkdtemp(prefix="archive-bench-"))
    try:
        # -- 1. append to SeaweedFS, batched
        sw = start_seaweedfs()
        try:
            s3 = s3_client(sw, args.workers * 2)
            Archive.init_bucket(s3, "bench")
            a = Archive(s3, "bench", signing_key=key, workers=args.workers)
            start = 0
            for docs in (1, 2):
                todo = entries(start, args.append, docs=docs)
                start += args.append
                t0, c0, w0 = time.perf_counter(), time.process_time(), proc_cpu(sw.process.pid)
                for i in range(0, len(todo), args.batch):
                    a.append(todo[i:i + args.batch])
                dt, cpu, wcpu = time.perf_counter() - t0, time.process_time() - c0, proc_cpu(sw.process.pid) - w0
                print(f"append to SeaweedFS: {args.append} entries with {docs} document(s) each, batches of "
                      f"{args.batch}, {args.workers} threads: {dt:.1f} s = {args.append / dt:.0f} entries/s "
                      f"({docs * args.append / dt:.0f} locked document PUTs/s); CPU per entry: client "
                      f"{cpu / args.append * 1000:.1f} ms + SeaweedFS {wcpu / args.append * 1000:.1f} ms; "
                      f"load average {os.getloadavg()[0]:.1f}")
            # Bucket mode reads the first version of every key: all versions and delete markers under
            # log/ and objects/ are listed (ListObjectVersions, 1,000 per request), then read by id.
            for check_lock in (False, True):
                t0, c0 = time.perf_counter(), time.process_time()
                rep = verify(S3Store(s3, "bench"), key.public_key(), check_lock=check_lock, workers=args.workers)
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
                print(f"verify straight from the bucket (version listing, first versions by id)"
                      f"{' incl. --check-lock' if check_lock else ''}: {rep.leaves} entries ({rep.documents} "
                      f"documents) in {dt:.1f} s = {rep.leaves / dt:.0f} entries/s, intact={rep.ok}; client CPU "
                      f"{cpu / rep.leaves * 1e3:.2f} ms per entry; load average {os.getloadavg()[0]:.1f}")
            t0 = time.perf_counter()
            export(S3Store(s3, "bench"), tmp / "s3-export")
            print(f"export of {2 * args.append} entries: {time.perf_counter() - t0:.1f} s")
            a.close()
        finally:
            sw.stop()

        # -- 2. verify an export of --verify entries (built locally: appending 100k to S3 takes minutes)
        d = tmp / "export"
        w = Archive.on_store(DirStore(d), signing_key=key)
        t0 = time.perf_counter()
        tsa = LocalTSA().start()  # OpenSSL's RFC 3161 TSA on loopback: every checkpoint gets a time-stamp
        try:
            for i in range(0, args.verify, 2000):
                w.append(entries(i, min(2000, args.verify - i), year=2025 + (i // 2000) % 2))
                w.timestamp_latest(tsa.authority())
        finally:
            tsa_roots = [tsa.root]
            tsa.stop()
        print(f"(building a {args.verify}-entry export directory, each checkpoint time-stamped: "
              f"{time.perf_counter() - t0:.1f} s)")
        t0, c0, k0 = time.perf_counter(), time.process_time(), children_cpu()
        rep = verify(DirStore(d), key.public_key())
        dt, cpu, kcpu = time.perf_counter() - t0, time.process_time() - c0, children_cpu() - k0
        # On a shared machine wall time depends on the neighbours: print the CPU cost too (this
        # process plus the verifier's worker processes).
        print(f"verify from export: {rep.leaves} entries ({rep.documents} documents, {rep.checkpoints} checkpoints) "
              f"in {dt:.1f} s = {rep.leaves / dt:.0f} entries/s wall, intact={rep.ok}; CPU {cpu:.1f} s + worker "
              f"processes {kcpu:.1f} s = {(cpu + kcpu) / rep.leaves * 1e6:.0f} us per entry; "
              f"load average now {os.getloadavg()[0]:.1f}")
        t0, c0, k0 = time.perf_counter(), time.process_time(), children_cpu()
        rep = verify(DirStore(d), key.public_key(), tsa_roots=tsa_roots)
        dt, cpu, kcpu = time.perf_counter() - t0, time.process_time() - c0, children_cpu() - k0
        print(f"verify from export with --tsa-root ({rep.timestamps} RFC 3161 time-stamps checked, anchor lag "
              f"of every batch): {dt:.1f} s = {rep.leaves / dt:.0f} entries/s wall, intact={rep.ok}; CPU "
              f"{(cpu + kcpu) / rep.leaves * 1e6:.0f} us per entry")
        t0 = time.perf_counter()
        r = Archive.reader(DirStore(d))
        n = r.size
        print(f"writer/prover start-up from index segments at {n} entries: {time.perf_counter() - t0:.2f} s")

        # -- 3. inclusion proof at --proof-leaves leaves
        n = args.proof_leaves
        t0 = time.perf_counter()
        hs = [merkle.hash_leaf(i.to_bytes(8, "big")) for i in range(n)]
        tree = TreeStore.from_leaf_hashes(hs)
        build = time.perf_counter() - t0
        tree.save(tmp / "tree.bin")
        t0 = time.perf_counter()
        loaded = TreeStore.load(tmp / "tree.bin")
        load = time.perf_counter() - t0
        root = loaded.root()
        times = []
        for idx in random.sample(range(n), 1000):
            t0 = time.perf_counter()
            path = loaded.inclusion_proof(idx)
            times.append(time.perf_counter() - t0)
            merkle.verify_inclusion(idx, n, hs[idx], path, root)
        times.sort()
        print(f"inclusion proof at {n} leaves (tree store loaded by mmap in {load * 1000:.1f} ms; built once "
              f"from leaf hashes in {build:.1f} s): median {times[500] * 1000:.3f} ms, "
              f"max {times[-1] * 1000:.3f} ms over 1000 random leaves, all verified")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
