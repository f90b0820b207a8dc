"""Issue 13 (archive part): the verifiers never import the writer or the store's write path.

An auditor's verifier must not share code paths with what it checks; ``archive/verify.py`` and
``archive/proof.py`` (and everything they import inside the package) must import neither
``archive/writer.py`` nor ``archive/store.py``. Checked on the source (the package ``__init__``
re-exports the writer for the pipeline, so ``sys.modules`` would not tell)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "archive"


def _imports(module: str) -> set[str]:
    """Modules of the archive package that ``module`` imports (anywhere in its source)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:
                found.update(a.name for a in node.names if (PACKAGE / f"{a.name}.py").exists())
            elif node.module and node.module.startswith("archive."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("archive."))
    return found


def _closure(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen or not (PACKAGE / f"{m}.py").exists():
            continue
        seen.add(m)
        todo += list(_imports(m))
    return seen


@pytest.mark.parametrize("module", ["verify", "proof", "versioncheck", "witness"])
def test_verifier_modules_do_not_reach_the_write_path(module):
    reached = _closure(module)
    assert not reached & {"writer", "store", "export", "cli"}, sorted(reached)


def test_the_check_sees_a_violation():
    assert "store" in _closure("writer") and "writer" in _closure("cli")


def test_shipped_policies_deny_what_the_writer_must_never_do():
    import json

    role = json.loads((PACKAGE / "policy-writer-role.json").read_text())
    bucket = json.loads((PACKAGE / "policy-bucket.json").read_text())
    denied = {a for s in role["Statement"] if s["Effect"] == "Deny" for a in s["Action"]}
    allowed = {a for s in role["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
    must_deny = {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention",
                 "s3:PutBucketObjectLockConfiguration", "s3:PutLifecycleConfiguration"}
    assert must_deny <= denied and not denied & allowed
    # What the writer needs: conditional PUT with a lock, reading first versions by id, listing versions.
    assert {"s3:PutObject", "s3:GetObjectVersion", "s3:ListBucketVersions", "s3:PutObjectRetention"} <= allowed
    assert {"s3:DeleteObjectVersion", "s3:PutBucketObjectLockConfiguration"} <= {
        a for s in bucket["Statement"] if s["Effect"] == "Deny" for a in (s["Action"] if isinstance(s["Action"], list)
                                                                          else [s["Action"]])}
