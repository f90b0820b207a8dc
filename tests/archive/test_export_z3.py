"""A verifiable export: the signed scope, the Z3 tables regenerated from the leaves, named documents."""
from __future__ import annotations

import json
import shutil
import stat
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from archive import Archive, ArchiveDocument, EntryInput, canonical, signing
from archive.export import export
from archive.store import DirStore
from archive.verify import FAILURE, verify


def _entry(i: int, year: int, amount: str) -> EntryInput:
    return EntryInput(
        entry_id=f"received-{i}",
        documents=[ArchiveDocument(f"Rechnung {i}.xml", "application/xml", f"<Invoice><ID>R-{i}</ID></Invoice>".encode()),
                   ArchiveDocument("validation-report", "application/json", f'{{"n":{i}}}'.encode())],
        metadata={"invoice_number": f"R-{i}", "seller": 'Muster "GmbH"', "issue_date": f"{year}-03-0{i % 9 + 1}",
                  "currency": "EUR", "amount_due": amount, "vat_amount": "19.00", "count": i},
        retention_class="invoice", retention_base=date(year, 3, 1))


@pytest.fixture(scope="module")
def key():
    return signing.generate()


@pytest.fixture(scope="module")
def source(tmp_path_factory, key):
    a = Archive.on_store(DirStore(tmp_path_factory.mktemp("src") / "a"), signing_key=key)
    a.append([_entry(1, 2025, "119.00"), _entry(2, 2025, "1190.5"), _entry(3, 2026, "-23.80")])
    return a.store


@pytest.fixture(scope="module")
def full(source, key, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "export"
    export(source, out, signing_key=key, supplier="Stadt Musterhausen", location="Musterhausen")
    return out


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)  # hard links become files of their own
    for p in dst.rglob("*"):
        if p.is_file():
            p.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return dst


def codes(report) -> set[str]:
    return {p.code for p in report.problems if p.severity == FAILURE}


def test_export_ships_the_dtd_typed_amounts_and_named_documents(full, key):
    gobd = full / "gobd"
    dtd = etree.DTD(str(gobd / "gdpdu-01-09-2004.dtd"))  # beside index.xml, as IDEA expects it
    xml = etree.parse(str(gobd / "index.xml"))
    assert dtd.validate(xml), dtd.error_log
    cols = {c.findtext("Name"): c for c in xml.find(".//Table").find("VariableLength")
            if c.tag in ("VariablePrimaryKey", "VariableColumn")}
    assert cols["meta_amount_due"].find("Numeric/Accuracy").text == "2"
    assert cols["meta_vat_amount"].find("Numeric/Accuracy").text == "2"
    assert cols["meta_count"].find("Numeric") is not None
    assert cols["meta_currency"].find("AlphaNumeric") is not None
    assert cols["meta_issue_date"].find("Date/Format").text == "DD.MM.YYYY"
    names = list(cols)
    rows = [r.split(";") for r in (gobd / "entries.csv").read_bytes().decode("utf-8").split("\r\n") if r]
    first = dict(zip(names, rows[0]))
    assert first["meta_amount_due"] == "119,00" and first["meta_currency"] == '"EUR"'
    assert dict(zip(names, rows[1]))["meta_amount_due"] == "1190,50"  # padded to the column's accuracy
    assert dict(zip(names, rows[2]))["meta_amount_due"] == "-23,80"
    assert first["meta_seller"] == '"Muster ""GmbH"""'
    # every document once more with a name and an extension, byte for byte
    docs = [r.split(";") for r in (gobd / "documents.csv").read_bytes().decode("utf-8").split("\r\n") if r]
    files = [d[6].strip('"') for d in docs]
    assert files[0] == "documents/000000000000-0-Rechnung_1.xml"
    assert files[1] == "documents/000000000000-1-validation-report.json"
    for d, f in zip(docs, files):
        import hashlib
        assert hashlib.sha256((gobd / f).read_bytes()).hexdigest() == d[4].strip('"')
    manifest = json.loads((full / "export.json").read_bytes())
    assert manifest["key_id"] == signing.key_id(key.public_key()) and manifest["signature"]
    import jsonschema
    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas/archive-export.schema.json").read_text())
    jsonschema.validate(manifest, schema)
    r = verify(DirStore(full), key.public_key())
    assert r.ok, r.to_text()


def test_deleted_document_with_a_narrowed_scope_fails(full, key, tmp_path):
    """Attack: delete the 2026 document and edit export.json to claim a 2025-only export."""
    d = _copy(full, tmp_path)
    victim = json.loads((d / "log/leaves/000000000000.jsonl").read_text().splitlines()[2])["documents"][0]
    (d / "objects/sha256" / victim["sha256"]).unlink()
    m = canonical.loads((d / "export.json").read_bytes())
    m["years"] = [2025]
    (d / "export.json").write_bytes(canonical.dumps(m))
    r = verify(DirStore(d), key.public_key())
    assert {"export-signature-invalid", "object-missing"} <= codes(r), r.to_text()
    # Re-signed with another key: still not the archive's.
    other = signing.generate()
    body = {k: v for k, v in m.items() if k != "signature"}
    from archive import manifest as mf
    (d / "export.json").write_bytes(mf.sign(other, {k: v for k, v in body.items() if k != "key_id"}))
    r = verify(DirStore(d), key.public_key())
    assert {"export-signature-invalid", "object-missing"} <= codes(r), r.to_text()
    # Without export.json at all the copy is a full mirror: the document is missing.
    (d / "export.json").unlink()
    assert {"export-manifest-missing", "object-missing"} <= codes(verify(DirStore(d), key.public_key()))


def test_signed_year_export_verifies_and_an_unsigned_scope_is_not_honoured(source, key, tmp_path):
    out = tmp_path / "y2025"
    export(source, out, years=[2025], signing_key=key)
    r = verify(DirStore(out), key.public_key())
    assert r.ok and "out-of-scope" in {p.code for p in r.problems}, r.to_text()
    unsigned = tmp_path / "unsigned"
    export(source, unsigned, years=[2025])
    r = verify(DirStore(unsigned), key.public_key())
    assert {"export-unsigned", "object-missing"} <= codes(r)


@pytest.mark.parametrize("edit, code", [
    (lambda g: g.joinpath("entries.csv").write_bytes(g.joinpath("entries.csv").read_bytes().replace(b"119,00", b"11,90")),
     "z3-table-mismatch"),
    (lambda g: g.joinpath("documents.csv").write_bytes(g.joinpath("documents.csv").read_bytes()[:-20]),
     "z3-table-mismatch"),
    (lambda g: g.joinpath("index.xml").write_bytes(g.joinpath("index.xml").read_bytes().replace(b"<Accuracy>2", b"<Accuracy>0")),
     "z3-table-mismatch"),
    (lambda g: g.joinpath("gdpdu-01-09-2004.dtd").unlink(), "z3-file-missing"),
    (lambda g: g.joinpath("documents/000000000000-0-Rechnung_1.xml").write_bytes(b"<Invoice><ID>R-9</ID></Invoice>"),
     "z3-document-mismatch"),
    (lambda g: g.joinpath("documents/000000000001-0-Rechnung_2.xml").unlink(), "z3-file-missing"),
    (lambda g: g.joinpath("extra.csv").write_bytes(b"1;2\r\n"), "z3-unexpected-file"),
])
def test_edited_z3_files_fail(full, key, tmp_path, edit, code):
    d = _copy(full, tmp_path)
    edit(d / "gobd")
    r = verify(DirStore(d), key.public_key())
    assert codes(r) == {code}, r.to_text()


def test_named_copies_are_hard_links_and_an_edit_through_one_fails(source, key, tmp_path):
    """The named copies are hard links where possible (no second copy on disk); editing one edits
    the object, which the verifier hashes."""
    import hashlib
    import os

    out = tmp_path / "linked"
    export(source, out, signing_key=key)
    named = out / "gobd/documents/000000000000-0-Rechnung_1.xml"
    obj = out / "objects/sha256" / hashlib.sha256(named.read_bytes()).hexdigest()
    assert os.path.samefile(named, obj)
    named.chmod(0o644)
    with open(named, "r+b") as f:
        f.write(b"X")
    r = verify(DirStore(out), key.public_key())
    assert codes(r) == {"object-hash-mismatch"}, r.to_text()
