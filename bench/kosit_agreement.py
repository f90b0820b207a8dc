"""How often the built-in engine agrees with KoSIT's decisions in ../shared/corpus/expected-dev-kosit.json.

Usage (from the repository root):
    PYTHONPATH=$PWD .venv/bin/python bench/kosit_agreement.py [--show N] [--json]

For each of the files listed there it compares our ``valid`` with the reference ``valid`` and our
blocking rule IDs per layer with the reference sets (``en16931_errors``: our EN 16931 stage;
``xrechnung_errors``: our XRechnung stage, BR-DE/BR-DEX/PEPPOL rules). It prints the agreement
figures and the first disagreements. A measurement, not a test: it asserts nothing and needs the
corpus beside the checkout.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
sys.path.insert(0, str(REPO))


def compare(show: int = 10) -> dict:
    from einvoice import validation

    expected = json.loads((CORPUS / "expected-dev-kosit.json").read_text(encoding="utf-8"))
    validation.warm()
    agree = {"valid": 0, "en16931_errors": 0, "xrechnung_errors": 0, "all": 0}
    diffs = []
    for key in sorted(expected):
        exp = expected[key]
        rep = validation.validate((CORPUS / key).read_bytes(), key)
        ours = {
            "valid": rep.valid,
            "en16931_errors": sorted(rep.rule_ids(stage="en16931")),
            "xrechnung_errors": sorted(rep.rule_ids(stage="xrechnung")),
        }
        ok_all = True
        for field in ("valid", "en16931_errors", "xrechnung_errors"):
            want = exp[field] if field == "valid" else sorted(exp[field])
            if ours[field] == want:
                agree[field] += 1
            else:
                ok_all = False
                diffs.append((key, field, want, ours[field]))
        agree["all"] += ok_all
    return {"files": len(expected), "agree": agree, "diffs": diffs[: show if show >= 0 else None], "n_diffs": len(diffs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--show", type=int, default=15, help="disagreements to list (-1: all)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = compare(a.show)
    if a.json:
        print(json.dumps(res, indent=1))
        return
    n = res["files"]
    for field, k in res["agree"].items():
        print(f"{field:18} {k}/{n}")
    for key, field, want, got in res["diffs"]:
        print(f"- {key} [{field}] KoSIT {want} / ours {got}")


if __name__ == "__main__":
    main()
