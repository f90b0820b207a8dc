"""Witnesses: copies of every checkpoint where the archive's own credentials cannot change them.

The archive bucket's writer may PUT and DELETE (without version id) in its bucket; its signing
key may sign any history. A *witness* keeps each checkpoint outside that reach: a directory on
another host (``DirWitness``), or a second bucket reached with other credentials, ideally with
its own Object Lock (``S3Witness``). The RFC 3161 time-stamps (``archive.timestamp``) are the
third kind: a TSA's signature over a checkpoint, stored beside the log. ``archive verify
--witness`` compares the log with the witness, so a truncated, rolled-back or rewritten log is
caught without a checkpoint an auditor saved by hand.

Layout in a witness: ``checkpoints/<tree size, 12 digits>.json``, the checkpoint's exact bytes,
written once. This module must never delete or overwrite anything, and must never import the
archive's write path (``archive.store``, ``archive.writer``): the verifier imports it.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from . import signing
from .errors import ArchiveError
from .formats import decode_checkpoint
from .problems import FAILURE, NOTE
from .versions import FirstVersionReader

_KEY_RE = re.compile(r"checkpoints/([0-9]{12})\.json")


def witness_key(size: int) -> str:
    return f"checkpoints/{size:012d}.json"


class DirWitness:
    """A directory (e.g. a mounted share of another department, or WORM media) as witness."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def describe(self) -> str:
        return f"dir:{self.root}"

    def put(self, cp, retain_until=None) -> bool:
        """Store ``cp``'s bytes once; False if this size is there already with the same bytes."""
        path = self.root / witness_key(cp.tree_size)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except FileExistsError:
            return _same(path.read_bytes(), cp, self.describe())
        except OSError as exc:
            raise ArchiveError(f"witness {self.describe()}: cannot create {path}: {exc}", kind="io") from exc
        with os.fdopen(fd, "wb") as f:
            f.write(cp.raw)
        return True

    def checkpoints(self) -> list[tuple[str, bytes]]:
        base = self.root / "checkpoints"
        if not base.is_dir():
            if not self.root.is_dir():
                raise ArchiveError(f"witness directory {self.root} does not exist", kind="io")
            return []
        return [(f"checkpoints/{p.name}", p.read_bytes()) for p in sorted(base.iterdir()) if p.is_file()]


class S3Witness:
    """A second bucket, reached with credentials the archive's writer does not hold."""

    def __init__(self, client, bucket: str, prefix: str = "") -> None:
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def put(self, cp, retain_until=None) -> bool:
        key = self.prefix + witness_key(cp.tree_size)
        lock = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": retain_until} if retain_until else {}
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=cp.raw, IfNoneMatch="*",
                                   ContentType="application/json", **lock)
            return True
        except Exception as exc:  # noqa: BLE001 - botocore raises ClientError and transport errors
            resp = getattr(exc, "response", None) or {}
            if resp.get("Error", {}).get("Code") != "PreconditionFailed" and \
                    resp.get("ResponseMetadata", {}).get("HTTPStatusCode") != 412:
                raise ArchiveError(f"witness {self.describe()}: PUT {key} failed: {exc}", kind="io") from exc
        existing = FirstVersionReader(self.client, self.bucket, self.prefix).scan(["checkpoints/"])
        return _same(existing.get(witness_key(cp.tree_size)) or b"", cp, self.describe())

    def checkpoints(self) -> list[tuple[str, bytes]]:
        view = FirstVersionReader(self.client, self.bucket, self.prefix).scan(["checkpoints/"])
        return [(k, view.get(k) or b"") for k in view.list("checkpoints/")]


def _same(existing: bytes, cp, where: str) -> bool:
    if existing != cp.raw:
        raise ArchiveError(f"witness {where} already holds a different checkpoint for tree size {cp.tree_size}: "
                           f"two histories of the log (a fork)", kind="integrity")
    return False


def open_witness(spec: str, endpoint: str | None = None, access_key: str | None = None,
                 secret_key: str | None = None, region: str | None = None):
    """``dir:/path`` (or a plain path) or ``s3://bucket[/prefix]``; S3 credentials are the witness's own."""
    if spec.startswith("s3://"):
        import boto3
        from botocore.config import Config

        bucket, _, prefix = spec[5:].partition("/")
        if not bucket:
            raise ArchiveError(f"witness {spec!r}: no bucket named (s3://BUCKET[/PREFIX])", kind="usage")
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access_key,
                              aws_secret_access_key=secret_key, region_name=region or "us-east-1",
                              config=Config(retries={"max_attempts": 5, "mode": "standard"},
                                            s3={"addressing_style": "path"}))
        return S3Witness(client, bucket, prefix)
    return DirWitness(spec[4:] if spec.startswith("dir:") else spec)


def witness_findings(witness, tree, ring: dict[str, Any], log_checkpoints: dict[int, bytes],
                     latest_log_size: int | None) -> list[tuple]:
    """Findings (severity, code, message, key, expected, computed) of the log against a witness.

    ``tree``: the verifier's tree of the log's leaves; ``log_checkpoints``: tree size -> bytes of
    the log's readable checkpoints; ``latest_log_size``: size of its latest valid checkpoint.
    """
    out: list[tuple] = []
    where = witness.describe()
    good = []
    for key, raw in witness.checkpoints():
        m = _KEY_RE.fullmatch(key)
        if m is None:
            out.append((NOTE, "witness-unexpected-key", f"{where}: {key} is not a witnessed checkpoint", key, None, None))
            continue
        try:
            cp = decode_checkpoint(raw)
        except ArchiveError as exc:
            out.append((FAILURE, "witness-checkpoint-invalid", f"{where}: {key}: {exc}", key, None, None))
            continue
        pub = ring.get(cp.key_id) if cp.key_id is not None else None
        if pub is None or not signing.signature_valid(pub, cp.body(), cp.signature) or cp.tree_size != int(m.group(1)):
            out.append((FAILURE, "witness-checkpoint-invalid", f"{where}: {key} is not a checkpoint signed by a key "
                        f"you gave for that tree size", key, None, None))
            continue
        good.append((key, cp))
    if not good:
        if log_checkpoints:
            out.append((FAILURE, "witness-empty", f"the witness {where} holds no checkpoint of this archive, the log "
                        f"has {len(log_checkpoints)}: wrong witness, or the witness was never written", None,
                        None, None))
        return out
    n = len(tree)
    for key, cp in good:
        if cp.tree_size > n:
            out.append((FAILURE, "witness-rollback", f"the witness {where} holds a checkpoint over {cp.tree_size} "
                        f"leaves, the log has {n}: leaves were removed (truncation or rollback)", key,
                        cp.tree_size, n))
            continue
        computed = tree.root(cp.tree_size).hex()
        if computed != cp.root_hash:
            out.append((FAILURE, "witness-fork", f"the log at size {cp.tree_size} is not the log the witness {where} "
                        f"saw: its history was rewritten", key, cp.root_hash, computed))
            continue
        stored = log_checkpoints.get(cp.tree_size)
        if stored is None:
            out.append((FAILURE, "witness-checkpoint-missing", f"checkpoint {cp.tree_size} is in the witness {where} "
                        f"but not in the log (deleted)", key, None, None))
        elif stored != cp.raw:
            out.append((FAILURE, "witness-mismatch", f"the log's checkpoint {cp.tree_size} differs from the one the "
                        f"witness {where} holds (re-signed)", key, cp.raw.decode("utf-8", "replace"),
                        stored.decode("utf-8", "replace")))
    latest = max(cp.tree_size for _, cp in good)
    if latest_log_size is not None and latest_log_size > latest:
        out.append((NOTE, "witness-behind", f"the witness {where} has checkpoints up to size {latest}, the log up to "
                    f"{latest_log_size}: leaves after {latest} rest on the archive alone until the next "
                    f"checkpoint-archive run", None, latest_log_size, latest))
    return out
