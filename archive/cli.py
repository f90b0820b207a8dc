"""Command line for operators and auditors: ``python -m archive ...`` or ``einvoice archive ...``.

Exit codes (verify, verify-proof): 0 intact, 1 integrity failure, 2 usage or I/O error.
S3 credentials come from the usual environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION); the endpoint from ``--endpoint`` or ARCHIVE_S3_ENDPOINT. This module must
never print or store secrets and never import anything outside the archive package.
"""
from __future__ import annotations

import json
import os
import sys
from datetime import timedelta, timezone
from pathlib import Path

import click

from . import canonical, log, signing
from .errors import ArchiveError
from .model import utc_iso
from .store import DirStore, S3Store
from .timestamp import load_certificates


def _client(endpoint: str | None):
    import boto3
    from botocore.config import Config

    endpoint = endpoint or os.environ.get("ARCHIVE_S3_ENDPOINT") or os.environ.get("EINVOICE_S3_ENDPOINT")
    return boto3.client("s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                        config=Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"},
                                      max_pool_connections=32))


def _store(endpoint, bucket, directory, prefix=""):
    if bool(bucket) == bool(directory):
        raise click.UsageError("give either --bucket (with --endpoint) or --dir")
    if directory:
        if not Path(directory).is_dir():
            raise ArchiveError(f"{directory} is not a directory", kind="io")
        return DirStore(directory)
    return S3Store(_client(endpoint), bucket, prefix or "")


def parse_seq_range(text: str) -> tuple[int, int]:
    """"FIRST-LAST" (leaf sequence numbers, both included) as a pair; a usage error otherwise."""
    first, sep, last = text.strip().partition("-")
    if not (sep and first.isascii() and first.isdigit() and last.isascii() and last.isdigit()) or int(first) > int(last):
        raise click.BadParameter(f"{text!r} is not a leaf range FIRST-LAST such as 0-1999")
    return int(first), int(last)


def parse_key_period(text: str):
    """"KEYFILE=FROM..TO" as (key id, (from, until)); dates are UTC days, both included."""
    from datetime import date, datetime, timedelta

    path, sep, period = text.rpartition("=")
    start, dots, end = period.partition("..")
    if not (sep and dots):
        raise click.BadParameter(f"{text!r} is not KEYFILE=FROM..TO (dates YYYY-MM-DD, either may be empty)")
    try:
        lo = datetime.combine(date.fromisoformat(start), datetime.min.time(), timezone.utc) if start else None
        hi = (datetime.combine(date.fromisoformat(end), datetime.min.time(), timezone.utc) + timedelta(days=1)
              - timedelta(seconds=1)) if end else None
    except ValueError as exc:
        raise click.BadParameter(f"{text!r}: {exc}") from exc
    return signing.key_id(signing.load_public_key(path)), (lo, hi)


def _fail(exc: ArchiveError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(1 if exc.kind == "integrity" else 2)


source_options = [
    click.option("--endpoint", help="S3 endpoint URL (default: $ARCHIVE_S3_ENDPOINT)"),
    click.option("--bucket", "--from", "bucket", help="archive bucket"),
    click.option("--dir", "directory", type=click.Path(file_okay=False), help="an exported copy instead of a bucket"),
    click.option("--prefix", default="", help="key prefix of the archive inside the bucket (default: none)"),
]


def with_source(f):
    for opt in reversed(source_options):
        f = opt(f)
    return f


def witness_options(f):
    f = click.option("--witness-endpoint", help="S3 endpoint of an s3:// witness (default: --endpoint)")(f)
    return click.option("--witness", metavar="dir:PATH|s3://BUCKET[/PREFIX]",
                        help="where every checkpoint was also written; compared with the log (catches truncation, "
                             "rollback and rewrites). An s3:// witness uses ARCHIVE_WITNESS_ACCESS_KEY_ID / "
                             "ARCHIVE_WITNESS_SECRET_ACCESS_KEY (else the AWS_* variables)")(f)


def _witness(spec: str | None, endpoint: str | None):
    if not spec:
        return None
    from .witness import open_witness

    env = os.environ
    return open_witness(spec, endpoint=endpoint or env.get("ARCHIVE_S3_ENDPOINT") or env.get("EINVOICE_S3_ENDPOINT"),
                        access_key=env.get("ARCHIVE_WITNESS_ACCESS_KEY_ID") or env.get("AWS_ACCESS_KEY_ID"),
                        secret_key=env.get("ARCHIVE_WITNESS_SECRET_ACCESS_KEY") or env.get("AWS_SECRET_ACCESS_KEY"),
                        region=env.get("AWS_DEFAULT_REGION"))


@click.group(name="archive", help="Audit-proof archive: verify, prove, export, keys, buckets.")
def archive_cli() -> None:
    pass


@archive_cli.command("verify")
@with_source
@click.option("--key", "key_paths", required=True, multiple=True, type=click.Path(),
              help="Ed25519 public key (PEM); repeat for old and new keys after a rotation")
@click.option("--check-lock", is_flag=True, help="also read Object Lock mode and retain-until of every object")
@click.option("--trusted-checkpoint", type=click.Path(dir_okay=False),
              help="a checkpoint you saved earlier: detects truncation or rollback since then")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--workers", default=16, show_default=True, help="threads reading from a bucket")
@click.option("--processes", type=click.IntRange(min=0), default=None,
              help="worker processes for --dir (default: one per core for a large export; 0: none)")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), default=None,
              help="judge retention periods at this UTC time (default: now): documents deleted after their "
                   "retention ended count as expired, deleted before as missing")
@click.option("--tsa-root", "tsa_roots", multiple=True, type=click.Path(dir_okay=False),
              help="root certificate (PEM/DER) of a time-stamping authority you trust: checks the RFC 3161 "
                   "anchors; repeatable")
@click.option("--max-anchor-lag", type=click.FloatRange(min=0), default=72.0, show_default=True,
              help="hours a batch may wait for its first time-stamp (with --tsa-root)")
@click.option("--accept-late-anchor", "accept_late", multiple=True, metavar="FIRST-LAST",
              help="leaf range (sequence numbers) whose late or missing time-stamp is explained, e.g. anchoring "
                   "switched on for an existing archive, or a TSA outage; reported as a note; repeatable")
@click.option("--key-period", "key_periods", multiple=True, metavar="KEYFILE=FROM..TO",
              help="validity period of a key (dates YYYY-MM-DD, both included, either may be empty): its "
                   "checkpoints must be dated inside it (key rotation, a leaked key); repeatable")
@witness_options
def verify_cmd(endpoint, bucket, directory, prefix, key_paths, check_lock, trusted_checkpoint, fmt, workers,
               processes, as_of, tsa_roots, max_anchor_lag, accept_late, key_periods, witness, witness_endpoint):
    """Recompute every hash, the chain, the tree and every signature; exit 0 intact, 1 failure, 2 error."""
    from .verify import verify

    if check_lock and directory:
        raise click.UsageError("--check-lock needs a bucket: a directory has no Object Lock")
    try:
        key = [signing.load_public_key(p) for p in key_paths]
        store = _store(endpoint, bucket, directory, prefix)
        trusted = Path(trusted_checkpoint).read_bytes() if trusted_checkpoint else None
        roots = load_certificates(tsa_roots) if tsa_roots else None
        report = verify(store, key, check_lock=check_lock, trusted_checkpoint=trusted, workers=workers,
                        processes=processes, as_of=as_of.replace(tzinfo=timezone.utc) if as_of else None,
                        tsa_roots=roots, max_anchor_lag=timedelta(hours=max_anchor_lag),
                        accept_late=[parse_seq_range(r) for r in accept_late],
                        witness=_witness(witness, witness_endpoint or endpoint),
                        key_periods=dict(parse_key_period(p) for p in key_periods))
    except ArchiveError as exc:
        _fail(exc if exc.kind != "integrity" else ArchiveError(str(exc), kind="io"))
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if fmt == "json" else report.to_text())
    sys.exit(0 if report.ok else 1)


@archive_cli.command("prove")
@click.argument("entry_id")
@with_source
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="proof file to write (JSON)")
def prove_cmd(entry_id, endpoint, bucket, directory, prefix, out):
    """Write the inclusion proof of ENTRY_ID plus its signed checkpoint as one JSON file."""
    from .proof import build_proof
    from .writer import Archive

    try:
        proof = build_proof(Archive.reader(_store(endpoint, bucket, directory, prefix)), entry_id)
    except ArchiveError as exc:
        _fail(exc)
    Path(out).write_text(json.dumps(proof, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    click.echo(f"proof for {entry_id!r} (leaf {proof['leaf_index']} of {proof['tree_size']}) written to {out}")


@archive_cli.command("verify-proof")
@click.argument("proof_file", type=click.Path(dir_okay=False))
@click.option("--key", "key_paths", required=True, multiple=True, type=click.Path(),
              help="Ed25519 public key (PEM); repeatable")
@click.option("--document", "documents", multiple=True, type=click.Path(dir_okay=False),
              help="a document file that must be one of the entry's documents (repeatable)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def verify_proof_cmd(proof_file, key_paths, documents, fmt):
    """Check an inclusion proof offline; exit 0 valid, 1 invalid, 2 error."""
    from dataclasses import asdict

    from .proof import verify_proof
    from .verify import FAILURE

    try:
        key = [signing.load_public_key(p) for p in key_paths]
        try:
            proof = json.loads(Path(proof_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"cannot read proof file {proof_file}: {exc}", kind="io") from exc
        problems = verify_proof(proof, key, [Path(d) for d in documents])
    except ArchiveError as exc:
        _fail(exc)
    ok = not any(p.severity == FAILURE for p in problems)
    if fmt == "json":
        click.echo(json.dumps({"valid": ok, "entry_id": proof.get("entry_id"),
                               "problems": [asdict(p) for p in problems]}, indent=2))
    else:
        click.echo(f"proof for {proof.get('entry_id')!r}: {'VALID' if ok else 'INVALID'}")
        for p in problems:
            click.echo("  " + p.text())
    sys.exit(0 if ok else 1)


@archive_cli.command("export")
@click.option("--endpoint")
@click.option("--bucket", "--from", "bucket", required=True)
@click.option("--prefix", default="", help="key prefix of the archive inside the bucket")
@click.option("--to", "to", required=True, type=click.Path(file_okay=False))
@click.option("--year", "years", multiple=True, type=int, help="only documents of these years (repeatable)")
@click.option("--supplier", default="Archiv-Export (einvoice archive)", help="DataSupplier name in index.xml")
@click.option("--location", default="", help="DataSupplier location in index.xml")
@click.option("--signing-key", type=click.Path(dir_okay=False),
              help="the archive's Ed25519 private key (PEM): signs export.json, so the verifier honours the "
                   "year scope and checks the Z3 tables; without it the export is unsigned")
def export_cmd(endpoint, bucket, prefix, to, years, supplier, location, signing_key):
    """Write a self-contained copy the verifier accepts, plus gobd/index.xml and CSV tables (Z3)."""
    from .export import export

    if years and not signing_key:
        raise click.UsageError("--year needs --signing-key: an unsigned year scope is not honoured by the verifier")
    try:
        key = signing.load_private_key(signing_key) if signing_key else None
        m = export(S3Store(_client(endpoint), bucket, prefix), to, years=list(years) or None, supplier=supplier,
                   location=location, signing_key=key)
    except ArchiveError as exc:
        _fail(exc)
    click.echo(f"exported {m['leaves']} leaves ({m['entries_in_scope']} in scope) and {m['objects']} objects to {to}"
               + ("" if m["signed"] else " (unsigned: give --signing-key to sign the scope)"))


@archive_cli.command("keygen")
@click.option("--out", required=True, help="path prefix: writes PREFIX.key (private) and PREFIX.pub.pem")
def keygen_cmd(out):
    """Create an Ed25519 checkpoint signing key pair (the private key file is created mode 0600)."""
    key = signing.generate()
    priv, pub = Path(out + ".key"), Path(out + ".pub.pem")
    for p in (priv, pub):
        if p.exists():
            click.echo(f"error: {p} exists; keys are never overwritten", err=True)
            sys.exit(2)
    fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(signing.private_pem(key))
    pub.write_bytes(signing.public_pem(key.public_key()))
    click.echo(f"key id {signing.key_id(key.public_key())}\nprivate {priv}\npublic  {pub}")


@archive_cli.command("bucket-init")
@click.option("--endpoint")
@click.option("--bucket", required=True)
@click.option("--default-retention-days", type=click.IntRange(min=1), default=365, show_default=True,
              help="COMPLIANCE default retention for versions put without a lock of their own (forgeries, stray "
                   "uploads): they stay until an auditor has seen them")
def bucket_init_cmd(endpoint, bucket, default_retention_days):
    """Create a versioned bucket with Object Lock and a COMPLIANCE default retention (idempotent)."""
    from .writer import Archive

    try:
        client = _client(endpoint)
        Archive.init_bucket(client, bucket, default_retention_days=default_retention_days)
        rule = Archive.default_retention(client, bucket)
    except ArchiveError as exc:
        _fail(exc)
    click.echo(f"bucket {bucket} is versioned with Object Lock enabled; default retention {rule}")


@archive_cli.command("checkpoint")
@click.option("--endpoint")
@click.option("--bucket", required=True)
@click.option("--prefix", default="")
@click.option("--signing-key", required=True, type=click.Path(dir_okay=False), help="the archive's Ed25519 private key")
@click.option("--trusted-key", "trusted_keys", multiple=True, type=click.Path(dir_okay=False),
              help="an earlier public key (after a rotation) whose checkpoints and intents the writer accepts")
@witness_options
def checkpoint_cmd(endpoint, bucket, prefix, signing_key, trusted_keys, witness, witness_endpoint):
    """Sign the current tree (recovering an interrupted append) and write it to the witness."""
    from .writer import Archive

    try:
        a = Archive(_client(endpoint), bucket, signing_key=signing.load_private_key(signing_key), prefix=prefix,
                    trusted_keys=[signing.load_public_key(p) for p in trusted_keys],
                    witness=_witness(witness, witness_endpoint or endpoint))
        cp = a.checkpoint()
    except ArchiveError as exc:
        _fail(exc)
    click.echo(f"checkpoint of size {cp.tree_size} root {cp.root_hash}"
               + (f", witnessed in {a.witness.describe()}" if a.witness is not None else ""))


@archive_cli.command("timestamp")
@click.option("--endpoint")
@click.option("--bucket", required=True)
@click.option("--prefix", default="")
@click.option("--signing-key", required=True, type=click.Path(dir_okay=False),
              help="the archive's Ed25519 private key (PEM): the current tree is signed first if needed")
@click.option("--tsa-url", required=True, help="RFC 3161 time-stamping authority (HTTP POST, timestamp-query)")
@click.option("--tsa-root", "tsa_roots", required=True, multiple=True, type=click.Path(dir_okay=False),
              help="root certificate the TSA's tokens must chain to (checked before the token is stored)")
def timestamp_cmd(endpoint, bucket, prefix, signing_key, tsa_url, tsa_roots):
    """Have a TSA time-stamp the latest checkpoint (once per checkpoint); exit 2 if the TSA fails."""
    from .timestamp import TimestampAuthority
    from .writer import Archive

    try:
        a = Archive(_client(endpoint), bucket, signing_key=signing.load_private_key(signing_key), prefix=prefix)
        size, info, created = a.timestamp_latest(TimestampAuthority(tsa_url, load_certificates(tsa_roots)))
    except ArchiveError as exc:
        _fail(exc)
    click.echo(f"checkpoint of size {size} {'time-stamped' if created else 'was already time-stamped'} by "
               f"{info.tsa} at {utc_iso(info.gen_time)} (serial {info.serial_number}): "
               f"{log.timestamp_key(size)}")


@archive_cli.command("extend-retention")
@click.option("--endpoint")
@click.option("--bucket", required=True)
@click.option("--prefix", default="")
@click.option("--signing-key", required=True, type=click.Path(dir_okay=False),
              help="the archive's Ed25519 private key (PEM): the decision is archived and signed")
@click.option("--class", "classes", required=True, multiple=True,
              help="retention class whose entries are extended (repeatable), e.g. invoice, approval-trail")
@click.option("--year", "years", required=True, multiple=True, type=int,
              help="retention base year of the entries (repeatable), e.g. the budget year whose accounts "
                   "were adopted (festgestellt)")
@click.option("--counted-from", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="the new period counts from the end of this date's year (KomHVO NRW § 59 (2): the date "
                   "of the council's Feststellung)")
@click.option("--years", "period", type=click.IntRange(min=1), default=None,
              help="years of the new period (default: the class's configured years)")
@click.option("--reason", required=True, help="why (e.g. 'Feststellung Jahresabschluss 2026, Ratsbeschluss')")
@click.option("--reference", default="", help="file number or resolution of the decision")
@click.option("--decided-by", default="", help="who decided")
def extend_retention_cmd(endpoint, bucket, prefix, signing_key, classes, years, counted_from, period, reason,
                         reference, decided_by):
    """Raise the COMPLIANCE retain-until of a year's entries and archive the decision."""
    from .writer import Archive

    try:
        a = Archive(_client(endpoint), bucket, signing_key=signing.load_private_key(signing_key), prefix=prefix)
        try:
            r = a.extend_retention(list(classes), list(years), counted_from.date(), years=period, reason=reason,
                                   reference=reference, decided_by=decided_by)
        finally:
            a.close()
    except ArchiveError as exc:
        _fail(exc)
    click.echo(f"{r.affected_entries} entries of {', '.join(sorted(classes))} from {', '.join(map(str, years))} "
               f"kept until {utc_iso(r.until)}; {r.objects_raised} locks raised; decision archived as "
               f"{r.decision.entry_id} (seq {r.decision.sequence})")


@archive_cli.command("status")
@with_source
def status_cmd(endpoint, bucket, directory, prefix):
    """Print the log size and the latest checkpoint (read-only)."""
    from .writer import Archive

    try:
        r = Archive.reader(_store(endpoint, bucket, directory, prefix))
        cp = r.latest_checkpoint()
        click.echo(json.dumps({"leaves": r.size, "latest_checkpoint": canonical.loads(cp.raw) if cp else None},
                              indent=2))
    except ArchiveError as exc:
        _fail(exc)


def main() -> None:
    archive_cli(prog_name="archive")
