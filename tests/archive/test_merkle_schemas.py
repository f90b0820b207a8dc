"""Pure parts: RFC 9162 tree maths against the recursive definition, canonical JSON, record schemas."""
from __future__ import annotations

import hashlib
import json
import os
import random
from datetime import date, datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from archive import ArchiveError, RetentionPolicy, canonical, merkle
from archive.tree import TreeStore

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def leaves(n: int) -> list[bytes]:
    return [merkle.hash_leaf(os.urandom(16)) for _ in range(n)]


def test_known_answers():
    # RFC 9162 2.1.1: empty tree is SHA-256 of nothing; one leaf is its leaf hash.
    assert merkle.root_from_leaf_hashes([]).hex() == hashlib.sha256(b"").hexdigest()
    assert merkle.hash_leaf(b"") == hashlib.sha256(b"\x00").digest()
    a, b, c = (merkle.hash_leaf(x) for x in (b"a", b"b", b"c"))
    assert merkle.root_from_leaf_hashes([a, b, c]) == merkle.hash_children(merkle.hash_children(a, b), c)


@pytest.mark.parametrize("n", list(range(1, 40)) + [64, 100, 257])
def test_tree_store_roots_and_proofs_match_the_definition(n):
    hs = leaves(n)
    t = TreeStore.from_leaf_hashes(hs)
    for size in range(1, n + 1):
        assert t.root(size) == merkle.root_from_leaf_hashes(hs[:size])
    for i in random.sample(range(n), min(n, 12)):
        merkle.verify_inclusion(i, n, hs[i], t.inclusion_proof(i), t.root())
    for m in random.sample(range(1, n + 1), min(n, 12)):
        merkle.verify_consistency(m, n, t.root(m), t.root(), t.consistency_proof(m, n))


def test_proof_errors_name_expected_and_computed():
    hs = leaves(9)
    t = TreeStore.from_leaf_hashes(hs)
    with pytest.raises(merkle.InvalidProofError, match="expected root .* computed"):
        merkle.verify_inclusion(3, 9, hs[4], t.inclusion_proof(3), t.root())
    with pytest.raises(merkle.InvalidProofError, match="too short"):
        merkle.verify_inclusion(3, 9, hs[3], t.inclusion_proof(3)[:-1], t.root())
    with pytest.raises(merkle.InvalidProofError):
        merkle.verify_inclusion(3, 9, hs[3], t.inclusion_proof(3) + [hs[0]], t.root())
    with pytest.raises(merkle.InvalidProofError, match="expected old root"):
        merkle.verify_consistency(5, 9, t.root(4), t.root(), t.consistency_proof(5))
    with pytest.raises(merkle.InvalidProofError, match="shrank"):
        merkle.verify_consistency(9, 5, t.root(), t.root(5), [])
    forked = TreeStore.from_leaf_hashes(hs[:6] + leaves(3))
    with pytest.raises(merkle.InvalidProofError):
        merkle.verify_consistency(7, 9, forked.root(7), t.root(), t.consistency_proof(7))


def test_tree_store_save_load(tmp_path):
    hs = leaves(1000)
    t = TreeStore.from_leaf_hashes(hs)
    t.save(tmp_path / "tree.bin")
    u = TreeStore.load(tmp_path / "tree.bin")
    assert u.root() == t.root() and u.inclusion_proof(777) == t.inclusion_proof(777)


def test_canonical_json():
    assert canonical.dumps({"b": 1, "a": ["ä", None, True]}) == '{"a":["ä",null,true],"b":1}'.encode()
    with pytest.raises(ArchiveError, match="floating-point"):
        canonical.dumps({"x": [1.5]})
    with pytest.raises(ArchiveError, match="date"):
        canonical.dumps({"d": date(2026, 1, 1)})


def test_retention_counts_from_end_of_year():
    assert RetentionPolicy.retain_until(date(2026, 1, 1), 8) == datetime(2035, 1, 1, tzinfo=timezone.utc)
    assert RetentionPolicy.retain_until(date(2026, 12, 31), 10) == datetime(2037, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(ArchiveError, match="unknown retention class"):
        RetentionPolicy().years("books")


@pytest.mark.s3
def test_stored_records_follow_the_schemas(archive, s3, locked_bucket, tmp_path):
    from archive import ArchiveDocument, EntryInput, log
    from archive.proof import build_proof
    from archive.writer import Archive

    archive.append([EntryInput("e1", [ArchiveDocument("a.xml", "application/xml", b"<a/>")],
                               {"invoice_number": "R-1", "total": "10.00"}, retention_base=date(2026, 5, 1))])
    archive.append([EntryInput("e2", [], {"kind": "posting"}, relates_to="e1", relation="posting-record",
                               retention_base=date(2026, 5, 1))])
    leaf_schema = json.loads((SCHEMAS / "archive-leaf.schema.json").read_text())
    cp_schema = json.loads((SCHEMAS / "archive-checkpoint.schema.json").read_text())
    for first in (0, 1):
        for line in log.split_page(s3.get_object(Bucket=locked_bucket, Key=log.page_key(first))["Body"].read()):
            jsonschema.validate(json.loads(line), leaf_schema)
    jsonschema.validate(json.loads(s3.get_object(Bucket=locked_bucket, Key=log.checkpoint_key(2))["Body"].read()),
                        cp_schema)
    proof = build_proof(Archive.reader(archive.store), "e1")
    intent_schema = json.loads((SCHEMAS / "archive-intent.schema.json").read_text())
    intents = [o["Key"] for o in s3.list_objects_v2(Bucket=locked_bucket, Prefix="log/intents/")["Contents"]]
    assert intents
    for key in intents:
        jsonschema.validate(json.loads(s3.get_object(Bucket=locked_bucket, Key=key)["Body"].read()), intent_schema)
    registry_schema = json.loads((SCHEMAS / "archive-proof.schema.json").read_text())
    registry_schema["properties"]["checkpoint"] = cp_schema
    jsonschema.validate(proof, registry_schema)


def test_archive_runs_without_the_rest_of_the_project():
    """An auditor gets only the archive package: it must import with einvoice/flows absent."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['einvoice'] = None; sys.modules['flows'] = None; "
            "import archive, archive.cli, archive.verify, archive.proof, archive.export; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    r = subprocess.run([sys.executable, "-m", "archive", "--help"], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0 and "verify-proof" in r.stdout


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=300).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, n - 1), st.integers(1, n))))
def test_proofs_hold_and_bind_for_any_size(args):
    """For any tree size, index and older size: proofs verify, and fail for any other leaf or root."""
    n, i, m = args
    hs = [merkle.hash_leaf(k.to_bytes(4, "big")) for k in range(n)]
    t = TreeStore.from_leaf_hashes(hs)
    merkle.verify_inclusion(i, n, hs[i], t.inclusion_proof(i), t.root())
    merkle.verify_consistency(m, n, t.root(m), t.root(), t.consistency_proof(m, n))
    if n > 1:
        with pytest.raises(merkle.InvalidProofError):
            merkle.verify_inclusion(i, n, hs[(i + 1) % n], t.inclusion_proof(i), t.root())
    if m < n:
        with pytest.raises(merkle.InvalidProofError):
            merkle.verify_consistency(m, n, t.root(m), merkle.hash_leaf(b"other"), t.consistency_proof(m, n))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 100, 257, 1024, 1500])
def test_tree_store_bulk_build_equals_appending(n):
    hs = leaves(n)
    appended = TreeStore()
    for h in hs:
        appended.append(h)
    assert TreeStore.from_leaf_hashes(hs).levels == appended.levels
    with pytest.raises(ValueError):
        TreeStore.from_leaf_hashes(hs + [b"short"])


@pytest.mark.parametrize("value", [
    {"b": 1, "a": ["ä", None, True, False, -0, 10 ** 30, ""], "c": {"z": {}, "y": []}},
    {"s": "quote \" backslash \\ newline \n tab \t nul \x00 del \x7f line-sep \u2028 emoji \U0001F600"},
    [], {}, "x", 0,
])
def test_fast_canonical_check_equals_the_encoder(value):
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical._fast_encode is not None
    assert canonical.encodes_to(value, data) and canonical.is_canonical(data)
    for other in (json.dumps(value, sort_keys=True).encode(), json.dumps(value, separators=(",", ":")).encode(),
                  data + b" ", b" " + data):
        assert canonical.encodes_to(value, other) == (other == data)
        assert canonical.is_canonical(other) == (other == data)


def test_dir_store_reads_exact_bytes(tmp_path):
    from archive.store import DirStore

    s = DirStore(tmp_path)
    big = os.urandom(3 * 65536 + 17)  # several reads
    assert s.put_new("objects/sha256/big", big) and s.get("objects/sha256/big") == big
    assert s.put_new("objects/sha256/empty", b"") and s.get("objects/sha256/empty") == b""
    assert s.get("objects/sha256/none") is None
    assert s.get("objects") is None  # a directory is not an object
    assert s.get("objects/sha256/big/x") is None
    with pytest.raises(ArchiveError, match="outside"):
        s.get("../etc/passwd")


def test_record_shapes_refuse_a_trailing_newline_and_non_ascii_digits():
    # Python's "$" also matches before a final "\n" and "\d" matches any Unicode digit, which
    # int() then accepts: both would let a crafted name or hash pass the shape check.
    from archive import log

    assert log.parse_page_key("log/leaves/000000000005.jsonl") == 5
    assert log.parse_page_key("log/leaves/000000000005.jsonl\n") is None
    assert log.parse_checkpoint_key("log/checkpoints/000000000005.json\n") is None
    assert log.parse_segment_key("log/index/000000000000-000000005000.json\n") is None
    assert log.parse_page_key("log/leaves/" + "\u0660" * 12 + ".jsonl") is None  # Arabic-Indic zeros
    good = {"v": 1, "seq": 0, "entry_id": "e", "appended_at": "2026-01-01T00:00:00Z", "metadata": {},
            "documents": [{"name": "a", "media_type": "text/plain", "sha256": "ab" * 32, "size": 1}],
            "retention": {"class": "invoice", "years": 8, "base": "2026-01-01", "until": "2035-01-01T00:00:00Z"},
            "prev_leaf_hash": None}
    assert log.decode_leaf(canonical.dumps(good))["seq"] == 0
    for bad in ({"prev_leaf_hash": "ab" * 32 + "\n"},
                {"documents": [{**good["documents"][0], "sha256": "ab" * 32 + "\n"}]}):
        with pytest.raises(ArchiveError, match="64 lowercase hex digits"):
            log.decode_leaf(canonical.dumps({**good, **bad}))
