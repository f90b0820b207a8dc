"""Auditor tools end to end: keygen, bucket-init, prove, verify-proof, export, verify (CLI, exit codes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from archive import Archive, signing
from archive.proof import build_proof, verify_proof

from .conftest import make_entry

pytestmark = pytest.mark.s3
REPO = Path(__file__).resolve().parents[2]


def cli(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "archive", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd or REPO, timeout=120)


def test_proof_roundtrip_and_tamper(archive, signing_key):
    archive.append([make_entry(i) for i in range(5)])
    archive.append([make_entry(i) for i in range(5, 12)])
    proof = build_proof(Archive.reader(archive.store), "entry-7")
    assert (proof["leaf_index"], proof["tree_size"]) == (7, 12)
    assert archive.prove("entry-7") == proof
    assert verify_proof(proof, signing_key.public_key()) == []
    bad = json.loads(json.dumps(proof))
    bad["leaf"] = bad["leaf"].replace("R-7", "R-8")
    assert {p.code for p in verify_proof(bad, signing_key.public_key())} >= {"leaf-hash-mismatch", "inclusion-invalid"}
    bad = json.loads(json.dumps(proof))
    bad["inclusion_path"][0] = "00" * 32
    assert [p.code for p in verify_proof(bad, signing_key.public_key())] == ["inclusion-invalid"]
    bad = json.loads(json.dumps(proof))
    bad["checkpoint"]["tree_size"] = 11
    assert "checkpoint-signature-invalid" in {p.code for p in verify_proof(bad, signing_key.public_key())}
    assert "checkpoint-wrong-key" in {p.code for p in verify_proof(proof, signing.generate().public_key())}


def test_cli_end_to_end(seaweedfs, s3, bucket_name, tmp_path):
    env = {**seaweedfs.env(), "ARCHIVE_S3_ENDPOINT": seaweedfs.endpoint}
    r = cli("keygen", "--out", tmp_path / "k", env=env)
    assert r.returncode == 0, r.stderr
    assert cli("keygen", "--out", tmp_path / "k", env=env).returncode == 2  # never overwrite a key
    r = cli("bucket-init", "--bucket", bucket_name, env=env)
    assert r.returncode == 0, r.stderr
    key = signing.load_private_key(tmp_path / "k.key")
    a = Archive(s3, bucket_name, signing_key=key)
    a.append([make_entry(i) for i in range(4)])
    a.append([make_entry(i, base=date(2025, 2, 1)) for i in range(4, 6)])
    pub = tmp_path / "k.pub.pem"

    r = cli("verify", "--bucket", bucket_name, "--key", pub, "--check-lock", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "INTACT" in r.stdout and "leaves 6" in r.stdout

    r = cli("prove", "entry-2", "--bucket", bucket_name, "--out", tmp_path / "p.json", env=env)
    assert r.returncode == 0, r.stderr
    doc = tmp_path / "original.xml"
    doc.write_bytes(b"<Invoice><ID>R-2</ID></Invoice>")
    r = cli("verify-proof", tmp_path / "p.json", "--key", pub, "--document", doc)
    assert r.returncode == 0 and "VALID" in r.stdout, r.stdout + r.stderr
    other = tmp_path / "other.xml"
    other.write_bytes(b"<Invoice><ID>R-3</ID></Invoice>")
    r = cli("verify-proof", tmp_path / "p.json", "--key", pub, "--document", other)
    assert r.returncode == 1 and "document-not-in-entry" in r.stdout

    r = cli("export", "--bucket", bucket_name, "--to", tmp_path / "exp", "--signing-key", tmp_path / "k.key", env=env)
    assert r.returncode == 0, r.stderr
    r = cli("verify", "--dir", tmp_path / "exp", "--key", pub, "--format", "json")
    rep = json.loads(r.stdout)
    assert r.returncode == 0 and rep["intact"] and rep["leaves"] == 6, r.stdout
    # The export proves entries without the bucket, too.
    r = cli("prove", "entry-5", "--dir", tmp_path / "exp", "--out", tmp_path / "p5.json")
    assert r.returncode == 0, r.stderr
    assert cli("verify-proof", tmp_path / "p5.json", "--key", pub).returncode == 0

    obj = sorted((tmp_path / "exp/objects/sha256").iterdir())[0]
    obj.chmod(0o644)
    obj.write_bytes(obj.read_bytes() + b" ")
    r = cli("verify", "--dir", tmp_path / "exp", "--key", pub)
    assert r.returncode == 1 and "object-hash-mismatch" in r.stdout and "expected" in r.stdout
    # `python -m archive` as the parent of worker processes: same findings, named by key.
    r2 = cli("verify", "--dir", tmp_path / "exp", "--key", pub, "--processes", "2")
    assert r2.returncode == 1 and r2.stdout == r.stdout and obj.name in r2.stdout

    # Usage and I/O errors exit 2.
    assert cli("verify", "--dir", tmp_path / "nope", "--key", pub).returncode == 2
    assert cli("verify", "--dir", tmp_path / "exp", "--key", tmp_path / "missing.pem").returncode == 2
    assert cli("verify", "--key", pub).returncode == 2
    assert cli("verify", "--bucket", bucket_name + "-x", "--key", pub, env=env).returncode == 2


def test_gobd_index_xml_describes_the_csv_tables(golden_export):
    from lxml import etree

    out = golden_export
    xml = etree.parse(str(out / "gobd/index.xml"))
    dtd = etree.DTD(str(out / "gobd/gdpdu-01-09-2004.dtd"))  # shipped beside index.xml
    assert dtd.validate(xml), dtd.error_log
    tables = xml.findall(".//Table")
    assert [t.findtext("URL") for t in tables] == ["entries.csv", "documents.csv"]
    cols = [c.findtext("Name") for c in tables[0].find("VariableLength")
            if c.tag in ("VariablePrimaryKey", "VariableColumn")]
    assert cols[:2] == ["seq", "entry_id"] and "meta_invoice_number" in cols
    rows = (out / "gobd/entries.csv").read_bytes().decode("utf-8").split("\r\n")[:-1]
    assert all(len(r.split(";")) == len(cols) for r in rows)
    assert rows[0].startswith('0;"entry-0";')
    docs = (out / "gobd/documents.csv").read_bytes().decode("utf-8").split("\r\n")[:-1]
    first = docs[0].split(";")
    assert (out / "gobd" / first[-1].strip('"')).is_file()


@pytest.fixture
def golden_export(archive, tmp_path):
    from archive.export import export

    archive.append([make_entry(i) for i in range(3)])
    out = tmp_path / "exp"
    export(archive.store, out, signing_key=archive.signing_key)
    return out
