"""RFC 3161 anchors: the latest checkpoint time-stamped by an independent TSA (OpenSSL's, on
loopback), stored write-once and locked, and checked by the verifier against the TSA's root:
wrong bytes, a foreign TSA, a deleted checkpoint, and a history written later than it claims
(even one re-signed with the archive key) are each caught by name."""
from __future__ import annotations

import json
import shutil
import stat
from datetime import datetime, timedelta, timezone

import pytest

from archive import Archive, ArchiveError, log, signing
from archive.store import DirStore, S3Store
from archive.timestamp import TimestampAuthority, check_token
from archive.verify import FAILURE, NOTE, verify
from tests.tsa import LocalTSA

from .conftest import make_entry

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def tsa():
    with LocalTSA() as t:
        yield t


@pytest.fixture(scope="module")
def other_tsa():
    with LocalTSA("Some Other TSA") as t:
        yield t


def codes(report, severity=FAILURE) -> set[str]:
    return {p.code for p in report.problems if p.severity == severity}


def _copy(src, dst):
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        if p.is_file():
            p.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return dst


@pytest.fixture
def stamped(tmp_path, signing_key, tsa):
    """A directory archive: 2 batches, latest checkpoint time-stamped, then a third batch."""
    store = DirStore(tmp_path / "a")
    a = Archive.on_store(store, signing_key=signing_key)
    a.append([make_entry(i) for i in range(3)])
    a.append([make_entry(i) for i in range(3, 5)])
    size, info, created = a.timestamp_latest(tsa.authority())
    assert (size, created) == (5, True)
    a.append([make_entry(5)])
    return {"dir": tmp_path / "a", "archive": a, "info": info}


def test_latest_checkpoint_is_stamped_once_locked_and_verifies_on_seaweedfs(archive, s3, locked_bucket,
                                                                            signing_key, tsa):
    archive.append([make_entry(i) for i in range(4)])
    before = tsa.requests
    size, info, created = archive.timestamp_latest(tsa.authority())
    assert (size, created) == (4, True) and tsa.requests == before + 1
    assert abs(info.gen_time - datetime.now(timezone.utc)) < timedelta(minutes=1) and "Test TSA" in info.tsa
    # the same checkpoint is never stamped twice (a qualified time-stamp costs money)
    assert archive.timestamp_latest(tsa.authority())[2] is False and tsa.requests == before + 1
    store = S3Store(s3, locked_bucket)
    lock = store.lock_info(log.timestamp_key(4))
    assert lock.mode == "COMPLIANCE" and lock.retain_until >= store.lock_info(log.checkpoint_key(4)).retain_until

    r = verify(store, signing_key.public_key(), check_lock=True, tsa_roots=[tsa.root])
    assert r.ok and r.timestamps == 1, r.to_text()
    assert r.latest_anchor == {"tree_size": 4, "gen_time": info.gen_time.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert "latest RFC 3161 anchor: size 4" in r.to_text()
    # without the TSA's root the tokens are only counted, never taken as checked
    r = verify(store, signing_key.public_key())
    assert r.ok and codes(r, NOTE) >= {"timestamps-not-checked"}


def test_new_leaves_are_an_unanchored_tail_until_the_next_stamp(stamped, signing_key, tsa):
    r = verify(DirStore(stamped["dir"]), signing_key.public_key(), tsa_roots=[tsa.root])
    assert r.ok and "unanchored-tail" in codes(r, NOTE), r.to_text()
    stamped["archive"].timestamp_latest(tsa.authority())
    r = verify(DirStore(stamped["dir"]), signing_key.public_key(), tsa_roots=[tsa.root])
    assert r.ok and "unanchored-tail" not in codes(r, NOTE) and r.timestamps == 2
    assert r.latest_anchor["tree_size"] == 6


def test_every_byte_the_token_proves_with_is_covered(stamped, tsa):
    """Flip each byte of a stored token: none inside the time, the imprint or the signature passes.

    A CMS token also carries bytes no signature covers (its version numbers, algorithm labels, a
    second copy of the TSA certificate); changing those leaves what the token proves intact, so the
    check is about the proof, not about every container byte."""
    import hashlib

    cp = (stamped["dir"] / log.checkpoint_key(5)).read_bytes()
    token = (stamped["dir"] / log.timestamp_key(5)).read_bytes()
    assert check_token(token, cp, [tsa.root])[1] is None
    imprint = hashlib.sha512(cp).digest()
    at = token.find(imprint)
    when = token.find(stamped["info"].gen_time.strftime("%Y%m%d%H%M%S").encode())
    assert at > 0 and when > 0
    covered = set(range(at, at + len(imprint))) | set(range(when, when + 15)) | set(range(len(token) - 64, len(token)))
    passed = []
    for i in range(len(token)):
        flipped = bytearray(token)
        flipped[i] ^= 0x01
        if check_token(bytes(flipped), cp, [tsa.root])[1] is None:
            passed.append(i)
    assert not covered & set(passed), sorted(covered & set(passed))
    assert len(passed) < len(token) // 4  # the rest of the token is covered as well


@pytest.mark.parametrize("tamper, code", [
    ("flip", {"timestamp-unreadable", "timestamp-invalid", "timestamp-mismatch"}),
    ("rename", {"timestamp-mismatch"}),
    ("orphan", {"timestamp-without-checkpoint"}),
])
def test_tampered_tokens_are_caught(stamped, signing_key, tsa, tmp_path, tamper, code):
    d = _copy(stamped["dir"], tmp_path / "copy")
    token = d / log.timestamp_key(5)
    if tamper == "flip":  # a byte of the time-stamped hash
        data = bytearray(token.read_bytes())
        import hashlib
        data[data.find(hashlib.sha512((d / log.checkpoint_key(5)).read_bytes()).digest()) + 7] ^= 0x01
        token.write_bytes(bytes(data))
    elif tamper == "rename":  # the token of size 5 presented as the one of checkpoint 3
        token.rename(d / log.timestamp_key(3))
    else:
        token.rename(d / log.timestamp_key(4))  # there is no checkpoint of size 4
    r = verify(DirStore(d), signing_key.public_key(), tsa_roots=[tsa.root])
    assert not r.ok and codes(r) & code, r.to_text()


def test_token_of_an_untrusted_tsa_fails(stamped, signing_key, other_tsa):
    r = verify(DirStore(stamped["dir"]), signing_key.public_key(), tsa_roots=[other_tsa.root])
    assert codes(r) == {"timestamp-invalid"}, r.to_text()
    assert "unanchored-tail" in codes(r, NOTE) and r.latest_anchor is None


def test_history_written_later_than_it_claims_is_caught(tmp_path, signing_key, tsa, monkeypatch):
    """An insider with the archive key writes a log dated January and has it time-stamped now."""
    import archive.writer as writer

    class January(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)

    monkeypatch.setattr(writer, "datetime", January)
    store = DirStore(tmp_path / "forged")
    a = Archive.on_store(store, signing_key=signing_key)
    a.append([make_entry(i) for i in range(3)])
    monkeypatch.undo()
    a.timestamp_latest(tsa.authority())
    r = verify(store, signing_key.public_key(), tsa_roots=[tsa.root])
    assert codes(r) == {"anchor-late"}, r.to_text()
    # an operator who switched anchoring on for an existing archive says so for those leaves
    r = verify(store, signing_key.public_key(), tsa_roots=[tsa.root], accept_late=[(0, 2)])
    assert r.ok and "anchor-late-accepted" in codes(r, NOTE), r.to_text()
    # deleting the token does not help: old leaves without any anchor fail as well ...
    (tmp_path / "forged" / log.timestamp_key(3)).unlink()
    assert codes(verify(store, signing_key.public_key(), tsa_roots=[tsa.root])) == {"anchor-missing"}
    # ... while without the TSA's root the archive key alone cannot tell
    assert verify(store, signing_key.public_key()).ok


def test_anchor_lag_is_measured_per_batch(tmp_path, signing_key, tsa):
    import time

    store = DirStore(tmp_path / "a")
    a = Archive.on_store(store, signing_key=signing_key)
    a.append([make_entry(0)])
    a.append([make_entry(1)])
    time.sleep(2.1)  # the leaves' appended_at has second precision
    a.timestamp_latest(tsa.authority())
    r = verify(store, signing_key.public_key(), tsa_roots=[tsa.root], max_anchor_lag=timedelta(seconds=1))
    late = [p for p in r.problems if p.code == "anchor-late"]
    assert late and late[0].message.startswith("2 leaves") and "first: leaf 0" in late[0].message, r.to_text()
    assert verify(store, signing_key.public_key(), tsa_roots=[tsa.root], max_anchor_lag=timedelta(minutes=1)).ok


def test_unanchored_leaves_older_than_the_lag_fail(stamped, signing_key, tsa, tmp_path):
    later = datetime.now(timezone.utc) + timedelta(days=4)
    r = verify(DirStore(stamped["dir"]), signing_key.public_key(), tsa_roots=[tsa.root], as_of=later)
    [missing] = [p for p in r.problems if p.code == "anchor-missing"]
    assert missing.message.startswith("1 leaves") and "first: leaf 5" in missing.message, r.to_text()
    d = _copy(stamped["dir"], tmp_path / "copy")
    (d / log.timestamp_key(5)).unlink()  # deleted tokens leave every old leaf unanchored
    r = verify(DirStore(d), signing_key.public_key(), tsa_roots=[tsa.root], as_of=later)
    assert codes(r) == {"anchor-missing"} and "6 leaves" in r.problems[0].message, r.to_text()


def _rechain(d, key, edit) -> None:
    """What an insider with the archive key can do to a copy: edit leaves, re-chain, re-sign the checkpoints."""
    from archive import canonical
    from archive.tree import TreeStore

    pages = sorted((d / "log/leaves").iterdir())
    prev, hashes = None, []
    for p in pages:
        out = []
        for line in log.split_page(p.read_bytes()):
            rec = json.loads(line)
            edit(rec)
            rec["prev_leaf_hash"] = prev
            line = canonical.dumps(rec)
            prev = log.leaf_hash(line).hex()
            hashes.append(log.leaf_hash(line))
            out.append(line)
        p.write_bytes(log.encode_page(out))
    for cp_path in (d / "log/checkpoints").iterdir():
        cp = json.loads(cp_path.read_bytes())
        body = {k: cp[k] for k in ("v", "tree_size", "root_hash", "timestamp", "key_id")}
        body["root_hash"] = TreeStore.from_leaf_hashes(hashes[:body["tree_size"]]).root().hex()
        cp_path.write_bytes(canonical.dumps({**body, "signature": signing.sign_body(key, body)}))


def test_a_leaf_dated_back_inside_a_fresh_batch_is_caught(tmp_path, signing_key, tsa):
    """Only the first leaf of a batch used to be compared with the anchor."""
    store = DirStore(tmp_path / "a")
    Archive.on_store(store, signing_key=signing_key).append([make_entry(i) for i in range(3)])

    def backdate(rec):
        if rec["seq"] == 1:
            rec["appended_at"] = "2024-03-01T08:00:00Z"

    _rechain(tmp_path / "a", signing_key, backdate)
    Archive.on_store(DirStore(tmp_path / "a"), signing_key=signing_key).timestamp_latest(tsa.authority())
    r = verify(store, signing_key.public_key(), tsa_roots=[tsa.root])
    assert {"appended-at-reversed", "anchor-late"} <= codes(r), r.to_text()
    assert "first: leaf 1" in next(p.message for p in r.problems if p.code == "anchor-late")

    def postdate(rec):  # dated after the anchor that covers it
        rec["appended_at"] = "2099-01-01T00:00:00Z" if rec["seq"] == 2 else rec["appended_at"]
    d = _copy(tmp_path / "a", tmp_path / "b")
    _rechain(d, signing_key, lambda rec: (backdate(rec), postdate(rec)))
    (d / log.timestamp_key(3)).unlink()  # the old token names other bytes now: the insider gets a new one
    Archive.on_store(DirStore(d), signing_key=signing_key).timestamp_latest(tsa.authority())
    assert "appended-after-anchor" in codes(verify(DirStore(d), signing_key.public_key(), tsa_roots=[tsa.root]))


def test_rewritten_and_re_signed_history_no_longer_matches_its_token(stamped, signing_key, tsa, tmp_path):
    from archive import canonical
    from archive.tree import TreeStore

    d = _copy(stamped["dir"], tmp_path / "copy")
    # the insider edits leaf 1 and re-signs the checkpoint of size 5 with the archive key
    pages = sorted((d / "log/leaves").iterdir())
    lines = log.split_page(pages[0].read_bytes())
    rec = json.loads(lines[1])
    rec["metadata"]["invoice_number"] = "R-FORGED"
    lines[1] = canonical.dumps(rec)
    pages[0].write_bytes(log.encode_page(lines))
    hashes = [log.leaf_hash(x) for p in pages for x in log.split_page(p.read_bytes())]
    cp_path = d / log.checkpoint_key(5)
    cp = json.loads(cp_path.read_bytes())
    body = {k: cp[k] for k in ("v", "tree_size", "root_hash", "timestamp", "key_id")}
    body["root_hash"] = TreeStore.from_leaf_hashes(hashes[:5]).root().hex()
    cp_path.write_bytes(canonical.dumps({**body, "signature": signing.sign_body(signing_key, body)}))
    r = verify(DirStore(d), signing_key.public_key(), tsa_roots=[tsa.root])
    assert "timestamp-mismatch" in codes(r), r.to_text()


def test_tsa_down_or_misconfigured_stores_nothing_and_appends_go_on(stamped, tsa, other_tsa):
    a = stamped["archive"]
    tsa.down = True
    try:
        with pytest.raises(ArchiveError, match="did not answer") as exc:
            a.timestamp_latest(tsa.authority())
        assert exc.value.kind == "io"
    finally:
        tsa.down = False
    # a TSA whose tokens do not chain to the configured roots is refused before anything is stored
    with pytest.raises(ArchiveError, match="does not verify"):
        a.timestamp_latest(TimestampAuthority(tsa.url, [other_tsa.root]))
    assert not (stamped["dir"] / log.timestamp_key(6)).exists()
    a.append([make_entry(7)])
    assert a.size == 7


def test_check_token_names_the_check_that_failed(tsa, other_tsa):
    token, info = tsa.authority().stamp(b"checkpoint bytes")
    assert check_token(token, b"checkpoint bytes", [tsa.root]) == (info, None)
    _, problem = check_token(token, b"other bytes", [tsa.root])
    assert problem.code == "timestamp-mismatch" and problem.expected != problem.computed
    assert check_token(token, b"checkpoint bytes", [other_tsa.root])[1].code == "timestamp-invalid"
    assert check_token(b"garbage", b"checkpoint bytes", [tsa.root])[1].code == "timestamp-unreadable"


def test_cli_verify_with_tsa_root(stamped, signing_key, tsa, other_tsa, tmp_path):
    from click.testing import CliRunner

    from archive.cli import archive_cli

    pub = tmp_path / "pub.pem"
    pub.write_bytes(signing.public_pem(signing_key.public_key()))
    other = tmp_path / "other-root.pem"
    shutil.copy(other_tsa.root_file, other)
    runner = CliRunner()
    ok = runner.invoke(archive_cli, ["verify", "--dir", str(stamped["dir"]), "--key", str(pub),
                                     "--tsa-root", str(tsa.root_file), "--format", "json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["latest_anchor"]["tree_size"] == 5
    bad = runner.invoke(archive_cli, ["verify", "--dir", str(stamped["dir"]), "--key", str(pub), "--tsa-root", str(other)])
    assert bad.exit_code == 1 and "timestamp-invalid" in bad.output
    later = ["verify", "--dir", str(stamped["dir"]), "--key", str(pub), "--tsa-root", str(tsa.root_file),
             "--as-of", (datetime.now(timezone.utc) + timedelta(days=5)).strftime("%Y-%m-%d")]
    assert runner.invoke(archive_cli, later).exit_code == 1  # leaf 5 is over 4 days without an anchor
    explained = runner.invoke(archive_cli, later + ["--accept-late-anchor", "5-5"])
    assert explained.exit_code == 0 and "anchor-missing-accepted" in explained.output, explained.output
    assert runner.invoke(archive_cli, later + ["--accept-late-anchor", "9-5"]).exit_code == 2


def test_cli_timestamp_on_seaweedfs(archive, seaweedfs, locked_bucket, signing_key, tsa, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from archive.cli import archive_cli

    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    key = tmp_path / "archive.key"
    key.write_bytes(signing.private_pem(signing_key))
    archive.append([make_entry(i) for i in range(2)])
    args = ["timestamp", "--endpoint", seaweedfs.endpoint, "--bucket", locked_bucket, "--signing-key", str(key),
            "--tsa-url", tsa.url, "--tsa-root", str(tsa.root_file)]
    runner = CliRunner()
    out = runner.invoke(archive_cli, args)
    assert out.exit_code == 0 and "checkpoint of size 2 time-stamped by CN=Test TSA" in out.output, out.output
    assert "was already time-stamped" in runner.invoke(archive_cli, args).output
    tsa.down = True
    try:
        archive.append([make_entry(9)])
        down = runner.invoke(archive_cli, args)
        assert down.exit_code == 2 and "did not answer" in down.output
    finally:
        tsa.down = False


def test_any_bytes_in_a_token_give_a_finding_never_an_exception(tsa):
    """The status sits in the unsigned envelope: an unknown value once escaped as ValueError."""
    token, _ = tsa.authority().stamp(b"cp")
    assert token[:9].hex() == "3082" + token[2:4].hex() + "3003020100"  # SEQUENCE { status { 0 } ...
    for status in (1, 2, 7, 0x7F):
        forged = bytearray(token)
        forged[8] = status
        info, problem = check_token(bytes(forged), b"cp", [tsa.root])
        assert info is None and problem.code in ("timestamp-not-granted", "timestamp-unreadable"), (status, problem)
    for cut in (0, 1, 10, len(token) // 2, len(token) - 1):
        assert check_token(token[:cut], b"cp", [tsa.root])[1] is not None
