"""An auditor's install: the built wheel, alone in a fresh venv, runs verify, prove, verify-proof
and export (the export needs the DTD as package data: a plain install once failed with
DTDParseError because it was not in the wheel).

The wheel is built with ``pip wheel --no-deps`` (its build backend comes from the package
index, like any auditor's build). The fresh venv has no system site packages and gets only the
wheel plus the archive's runtime dependencies taken from this venv (linked, not downloaded), so
nothing of the checkout or of this venv's editable install is importable there.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from importlib import metadata
from pathlib import Path

import pytest

from archive import Archive, signing

from .conftest import make_entry

pytestmark = pytest.mark.s3
REPO = Path(__file__).resolve().parents[2]
#: What `archive` imports at run time (cli: click, boto3; signing: cryptography; export: lxml;
#: timestamps: rfc3161-client).
ARCHIVE_RUNTIME = ["cryptography", "click", "boto3", "lxml", "rfc3161-client"]
SOURCES = ["pyproject.toml", "README.md", "einvoice", "archive", "flows", "schemas", "devtools"]


def _closure(names: list[str]) -> list[metadata.Distribution]:
    from packaging.requirements import Requirement

    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        dist = metadata.distribution(name)
        seen[key] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def _link_dependencies(target: Path) -> None:
    """Top-level modules of the runtime dependencies (and their dist-info), linked into ``target``."""
    target.mkdir()
    for dist in _closure(ARCHIVE_RUNTIME):
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            if top == "__pycache__" or top.endswith(".pth"):
                continue
            src = Path(dist.locate_file(top))
            if src.exists() and not (target / top).exists():
                (target / top).symlink_to(src)


def _run(venv_python: Path, *args, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv_python), "-m", "archive", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_wheel_in_a_fresh_venv_runs_the_auditors_commands(tmp_path, s3, locked_bucket, signing_key, seaweedfs):
    # -- build the wheel from a copy of the sources (an in-tree build would leave build/ behind)
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        p = REPO / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(p, src / name)
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)],
                           capture_output=True, text=True, timeout=300)
    if build.returncode != 0 and any(s in build.stderr for s in ("Could not find a version", "NewConnectionError",
                                                                  "Network is unreachable", "Temporary failure")):
        pytest.skip(f"the build backend (setuptools) could not be fetched from the package index: {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr
    [wheel] = wheels.glob("einvoice-*.whl")

    # -- a fresh venv: no system site packages, the wheel, and only the archive's dependencies
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    inst = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                           "-q", str(wheel)], capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    _link_dependencies(tmp_path / "deps")
    (site / "auditor-deps.pth").write_text(str(tmp_path / "deps") + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(seaweedfs.env())
    env["ARCHIVE_S3_ENDPOINT"] = seaweedfs.endpoint
    work = tmp_path / "auditor"
    work.mkdir()
    where = subprocess.run([str(py), "-c", "import archive, einvoice; print(archive.__file__)"], capture_output=True,
                           text=True, cwd=work, env=env)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout  # the wheel's code, not the checkout's

    # -- a small archive on the real bucket
    a = Archive(s3, locked_bucket, signing_key=signing_key)
    a.append([make_entry(i) for i in range(3)])
    a.append([make_entry(i, base=date(2025, 4, 1)) for i in range(3, 5)])
    a.close()
    pub = work / "archive.pub.pem"
    pub.write_bytes(signing.public_pem(signing_key.public_key()))
    key = work / "archive.key"
    key.write_bytes(signing.private_pem(signing_key))

    r = _run(py, "verify", "--bucket", locked_bucket, "--key", pub, "--check-lock", cwd=work, env=env)
    assert r.returncode == 0 and "INTACT" in r.stdout, r.stdout + r.stderr
    r = _run(py, "export", "--bucket", locked_bucket, "--to", work / "exp", "--signing-key", key, cwd=work, env=env)
    assert r.returncode == 0, r.stdout + r.stderr  # failed with DTDParseError without the DTD in the wheel
    assert (work / "exp/gobd/gdpdu-01-09-2004.dtd").is_file()
    r = _run(py, "verify", "--dir", work / "exp", "--key", pub, "--format", "json", cwd=work, env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["leaves"] == 5, r.stdout + r.stderr
    r = _run(py, "prove", "entry-3", "--dir", work / "exp", "--out", work / "p.json", cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    doc = work / "original.xml"
    doc.write_bytes(b"<Invoice><ID>R-3</ID></Invoice>")
    r = _run(py, "verify-proof", work / "p.json", "--key", pub, "--document", doc, cwd=work, env=env)
    assert r.returncode == 0 and "VALID" in r.stdout, r.stdout + r.stderr
    # and an edited table of the export fails there too
    csv = work / "exp/gobd/entries.csv"
    csv.chmod(0o644)
    csv.write_bytes(csv.read_bytes().replace(b"entry-1", b"entry-9"))
    r = _run(py, "verify", "--dir", work / "exp", "--key", pub, cwd=work, env=env)
    assert r.returncode == 1 and "z3-table-mismatch" in r.stdout, r.stdout + r.stderr
