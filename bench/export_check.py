"""What checking an export's signed scope and Z3 tables costs (not a timed test).

    .venv/bin/python bench/export_check.py [--entries 10000]

Archives N one-document entries into a directory (no Object Lock: the point is CPU, not
immutability), exports them signed, then prints the CPU seconds of the export, of a verify in
one process, and of the Z3 check alone (archive.manifest.check_export), which is part of it.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive import Archive, ArchiveDocument, EntryInput, manifest, signing  # noqa: E402
from archive.export import export  # noqa: E402
from archive.store import DirStore  # noqa: E402
from archive.verify import key_ring, verify  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=10_000)
    n = ap.parse_args().entries
    key = signing.generate()
    with tempfile.TemporaryDirectory() as tmp:
        a = Archive.on_store(DirStore(Path(tmp) / "src"), signing_key=key)
        for b in range(0, n, 500):
            a.append([EntryInput(f"e-{i}", [ArchiveDocument(f"R-{i}.xml", "application/xml", f"<I>{i}</I>".encode())],
                                 {"invoice_number": f"R-{i}", "amount_due": f"{i}.50", "currency": "EUR",
                                  "issue_date": "2026-01-02"}, retention_base=date(2026, 3, 1))
                      for i in range(b, min(n, b + 500))])
        out = Path(tmp) / "export"
        t = time.process_time()
        export(a.store, out, signing_key=key)
        print(f"export: {time.process_time() - t:.2f} s CPU for {n} entries")
        t = time.process_time()
        report = verify(DirStore(out), key.public_key(), processes=0)
        print(f"verify (one process, Z3 check included): {time.process_time() - t:.2f} s CPU, intact={report.ok}")
        found: list = []
        t = time.process_time()
        manifest.check_export(DirStore(out), key_ring(key.public_key()), lambda *f, **k: found.append(f))
        took = time.process_time() - t
        print(f"Z3 check alone: {took:.2f} s CPU ({took / n * 1e6:.0f} µs per entry), findings {len(found)}")


if __name__ == "__main__":
    main()
