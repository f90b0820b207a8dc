"""Prefect flows ``verify-archive`` (nightly) and ``checkpoint-archive``.

``verify-archive`` runs the auditor's offline verifier (``archive.verify``) against the live bucket
and FAILS the flow run on any integrity failure, so the failure is red in the UI, matches the
example automation (``automations/archive-verification-failed.yaml``) and emits
``archive.verification.failed``. The full problem list is a markdown artifact. Crash leftovers
(``orphan``) and notes are listed but do not fail the run: they are not corruption.

On an integrity failure the automation ``einvoice-archive-pause-writers`` (``flows/automations``)
pauses the deployments that write to the archive; ``archive_records`` (the archiving step of
post-released and payment-run) then leaves its records pending, see ``flows.common.ARCHIVE_GATE``.

``checkpoint-archive`` signs the current tree and writes it to the witness
(``EINVOICE_ARCHIVE_WITNESS``, a second bucket or directory the archive's credentials cannot
change), so an outside copy of the latest checkpoint (the anchor that catches a truncation,
rollback or rewrite) is never far behind, and, with ``EINVOICE_TSA_URL`` set, has it
time-stamped by an RFC 3161 TSA (``archive.timestamp``), which ``verify-archive`` then checks
against ``EINVOICE_TSA_ROOTS``. It holds the ``archive-writer`` tag so it never races an ingest
batch.
"""
from __future__ import annotations

import os
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event

from flows.common import (
    ARCHIVE_GATE,
    ARCHIVE_WRITER,
    app,
    archive_writes_paused,
    resource_id,
    resource_key,
    retry_on_transient,
    stamp,
)


class ArchiveIntegrityError(RuntimeError):
    """The verifier found integrity failures: the run must fail loudly, and is never retried."""


def _public_key(public_key_file: str | None):
    """The published verification key; without one, the public half of the signing key."""
    from archive import signing

    path = public_key_file or os.environ.get("EINVOICE_ARCHIVE_PUBLIC_KEY")
    if path:
        return signing.load_public_key(Path(path))
    a = app()
    if a.settings.signing_key_file is None:
        raise ValueError("no verification key: set the parameter public_key_file, EINVOICE_ARCHIVE_PUBLIC_KEY "
                         "or EINVOICE_ARCHIVE_SIGNING_KEY")
    return signing.load_private_key(a.settings.signing_key_file).public_key()


@task(name="verify-archive", retries=3, retry_delay_seconds=[10, 60, 300], retry_condition_fn=retry_on_transient)
def run_verifier(public_key_file: str | None, check_lock: bool, prefix: str, workers: int) -> dict:
    """The verifier's report as plain data (problem list, counts, latest checkpoint)."""
    from archive.cli import parse_seq_range
    from archive.store import S3Store
    from archive.verify import verify

    a = app()
    tsa = a.timestamp_authority
    accept_late = [parse_seq_range(r) for r in a.settings.tsa_accept_late.split(",") if r.strip()]
    report = verify(S3Store(a.s3, a.archive_bucket, prefix), _public_key(public_key_file), check_lock=check_lock,
                    workers=workers, tsa_roots=tsa.roots if tsa is not None else None, accept_late=accept_late,
                    witness=a.archive_witness)
    return report.to_dict() | {"text": report.to_text()}


def _markdown(r: dict) -> str:
    head = "INTACT" if r["intact"] else "**INTEGRITY FAILURE**"
    lines = [f"### Archive {r['source']}: {head}", "",
             f"{r['leaves']} leaves, {r['documents']} documents, {r['checkpoints']} checkpoints; "
             f"{r['failures']} failures, {r['orphans']} orphans.", ""]
    lc = r.get("latest_checkpoint")
    if lc:
        lines += [f"Latest checkpoint: size {lc['tree_size']}, root `{lc['root_hash']}`, {lc['timestamp']}. "
                  "Keep a copy outside this system (it is the anchor that reveals a later rollback).", ""]
    la = r.get("latest_anchor")
    if la:
        lines += [f"Latest RFC 3161 time-stamp: checkpoint of size {la['tree_size']}, stamped {la['gen_time']}.", ""]
    if r["problems"]:
        lines += ["| severity | code | key | message | expected | computed |", "|---|---|---|---|---|---|"]
        for p in r["problems"][:500]:
            cells = [str(p.get(k) or "").replace("|", "\\|").replace("\n", " ")
                     for k in ("severity", "code", "key", "message", "expected", "computed")]
            lines.append("| " + " | ".join(cells) + " |")
        if len(r["problems"]) > 500:
            lines.append(f"\n… and {len(r['problems']) - 500} more (run `einvoice archive verify` for all).")
    return "\n".join(lines)


@flow(name="verify-archive", flow_run_name=lambda: f"verify archive {stamp()}")
def verify_archive(public_key_file: str | None = None, check_lock: bool = True, prefix: str = "",
                   workers: int = 16) -> dict:
    """Verify the whole archive; raises ArchiveIntegrityError (run ends Failed) on any integrity failure."""
    r = run_verifier(public_key_file, check_lock, prefix, workers)
    bucket = r["source"].removeprefix("s3://").rstrip("/")
    create_markdown_artifact(key="archive-verification", markdown=_markdown(r),
                             description=f"{r['source']}: {'intact' if r['intact'] else str(r['failures']) + ' integrity failures'}")
    emit_event(event="archive.verified" if r["intact"] else "archive.verification.failed",
               resource={"prefect.resource.id": resource_id("archive", resource_key(bucket)), "prefect.resource.name": bucket},
               payload={"failures": r["failures"], "orphans": r["orphans"], "leaves": r["leaves"],
                        "codes": sorted({p["code"] for p in r["problems"] if p["severity"] == "failure"})})
    if not r["intact"]:
        failures = [p for p in r["problems"] if p["severity"] == "failure"]
        summary = "; ".join(f"{p['code']}: {p['message']}" for p in failures[:5])
        raise ArchiveIntegrityError(f"archive {bucket}: {r['failures']} integrity failures ({summary}"
                                    f"{' …' if len(failures) > 5 else ''})")
    get_run_logger().info("archive %s intact: %d leaves, %d documents", bucket, r["leaves"], r["documents"])
    return {k: r[k] for k in ("source", "intact", "leaves", "documents", "checkpoints", "failures", "orphans")}


@task(name="checkpoint-archive", retries=3, retry_delay_seconds=[5, 30, 120], retry_condition_fn=retry_on_transient,
      tags=[ARCHIVE_WRITER])
def write_checkpoint() -> dict:
    """Sign the current tree; with EINVOICE_ARCHIVE_WITNESS the checkpoint is also written to the
    witness (the task fails, and is retried, when the witness cannot store it)."""
    a = app()
    cp = a.archive.checkpoint()
    witness = a.archive_witness
    return {"tree_size": cp.tree_size, "root_hash": cp.root_hash, "timestamp": cp.timestamp, "key_id": cp.key_id,
            "witness": witness.describe() if witness is not None else None}


@task(name="timestamp-archive", retries=3, retry_delay_seconds=[30, 120, 600], retry_condition_fn=retry_on_transient,
      tags=[ARCHIVE_WRITER])
def timestamp_checkpoint() -> dict | None:
    """RFC 3161 time-stamp of the latest checkpoint by the configured TSA (None: no TSA configured)."""
    from archive.model import utc_iso

    a = app()
    tsa = a.timestamp_authority
    if tsa is None:
        return None
    size, info, created = a.archive.timestamp_latest(tsa)
    return {"tree_size": size, "gen_time": utc_iso(info.gen_time), "tsa": info.tsa,
            "serial_number": str(info.serial_number), "created": created}


@flow(name="checkpoint-archive", flow_run_name=lambda: f"checkpoint archive {stamp()}")
def checkpoint_archive() -> dict:
    """Sign the current tree and, when a TSA is configured, have it time-stamped (the outside anchor)."""
    cp = write_checkpoint()
    ts = timestamp_checkpoint()
    anchored = (f"\n\nTime-stamped by {ts['tsa']} at {ts['gen_time']} (serial {ts['serial_number']}"
                f"{', stamped earlier' if not ts['created'] else ''}), stored as `log/timestamps/"
                f"{ts['tree_size']:012d}.tsr`." if ts else
                "\n\nNo time-stamping authority configured (EINVOICE_TSA_URL): the checkpoint rests on the archive key alone.")
    create_markdown_artifact(key="archive-checkpoint",
                             markdown=f"### Archive checkpoint {stamp()}\n\nTree size {cp['tree_size']}, root "
                                      f"`{cp['root_hash']}`, signed by key `{cp['key_id']}` at {cp['timestamp']}."
                                      + (f"\n\nWitnessed in `{cp['witness']}`." if cp.get("witness") else
                                         "\n\nNo witness configured (EINVOICE_ARCHIVE_WITNESS): a truncated log is "
                                         "caught only with a checkpoint kept elsewhere.")
                                      + anchored,
                             description=f"tree size {cp['tree_size']}" + (", time-stamped" if ts else ""))
    get_run_logger().info("archive checkpoint: size %s root %s%s", cp["tree_size"], cp["root_hash"],
                          f"; time-stamped at {ts['gen_time']}" if ts else "")
    return cp | {"timestamp": ts}


@task(name="archive-records", retries=3, retry_delay_seconds=[5, 30, 120], retry_condition_fn=retry_on_transient,
      tags=[ARCHIVE_WRITER])
def archive_records(limit: int = 200) -> dict:
    """Follow-up entries not archived yet: posting records with their confirmation
    (``einvoice.finance``), approval trails and payment runs (``einvoice.followups.records``).

    The only step of post-released and payment-run that opens the archive, so posting and paying
    never wait for S3. A record that cannot be archived (S3 down, or archive writes paused after a
    failed verification: ``archive_writes_paused``) stays pending and is listed under
    ``problems`` (artifact ``archived-records``, and the run needs attention); the others are
    archived, and the next run tries again. ``pending`` counts what is left per kind.
    """
    from einvoice.followups.records import ArchiveRecordsReport, RecordArchiver, RecordProblem, unreachable_errors

    a = app()
    postings_archived, posting_problem = 0, None
    if archive_writes_paused():
        report = ArchiveRecordsReport(problems=[RecordProblem(
            "ARCHIVE-PAUSED", f"archive writes are paused ({ARCHIVE_GATE} is paused after a failed verify-archive); "
                              f"all stay pending until an operator resumes them", "all", 0)])
    else:
        try:
            archive = a.archive  # checks the bucket: fails while S3 is down
        except unreachable_errors() as exc:
            # Posting and payment already happened; the records wait for the next run (every minute).
            report = ArchiveRecordsReport(problems=[RecordProblem("ARCHIVE-UNREACHABLE", f"the archive could not be opened "
                                                                                           f"({type(exc).__name__}: {exc})",
                                                                            "all", 0)])
        else:
            report = RecordArchiver(a.db, archive).archive_pending(limit=limit)
            postings_archived, posting_problem = _archive_postings(a, archive, limit)
    result = report.as_dict()
    if posting_problem:
        result["problems"].append(posting_problem)
    result["posting_records"] = postings_archived
    result["pending"] = _pending(a)
    if result["entries"] or result["problems"] or postings_archived:
        rows = [{"kind": e["kind"], "invoice id": e["invoice_id"] or "-", "entry id": e["entry_id"],
                 "sequence": e["sequence"]} for e in result["entries"]]
        rows += [{"kind": "not archived", "invoice id": "-", "entry id": p, "sequence": "-"} for p in result["problems"]]
        waiting = sum(result["pending"].values())
        create_table_artifact(key="archived-records", table=rows or [{"kind": "posting-record", "invoice id": "-",
                                                                     "entry id": f"{postings_archived} archived",
                                                                     "sequence": "-"}],
                              description=f"{result['approval_trails']} approval trails, {result['payment_runs']} "
                                          f"payment runs, {postings_archived} posting records archived; "
                                          f"{len(result['problems'])} problems, {waiting} records waiting")
    for p in result["problems"]:
        get_run_logger().warning("follow-up record not archived: %s", p)
    return result


def archive_records_reported(limit: int = 200) -> dict:
    """``archive_records`` for flows whose real work (posting, paying) is already done: if the task
    still fails after its retries, the failure is reported like a record problem (the run then
    needs attention) instead of failing a run that posted or paid."""
    state = archive_records(limit, return_state=True)
    if not state.is_failed() and not state.is_crashed():
        return state.result()
    get_run_logger().error("archiving the follow-up records failed: %s", state.message)
    try:
        pending = _pending(app())
    except Exception:  # noqa: BLE001 - the database may be what failed; the problem line says enough
        pending = {}
    return {"approval_trails": 0, "payment_runs": 0, "posting_records": 0, "entries": [],
            "problems": [f"archiving failed after its retries: {state.message}"], "pending": pending}


def _archive_postings(a, archive, limit: int) -> tuple[int, str | None]:
    """Posting records confirmed but not archived (post-released delivers without the archive)."""
    try:
        from einvoice.finance.outbox import Outbox, unarchived_postings
    except ImportError:  # pragma: no cover - a checkout without the finance package
        return 0, None
    outbox = Outbox(a.db, a.organisation, connector=_NoConnector(), archive=archive)
    archived = outbox.archive_pending(limit=limit)
    with a.db.sessions() as s:
        left = unarchived_postings(s)
    if left and archived < limit:
        # archive_pending logs each failed append; the rows stay unarchived and are tried again
        return archived, f"posting-record: {left} could not be archived this time (see the run log); they stay pending"
    return archived, None


class _NoConnector:
    """Archiving posting records needs no connection to the finance system."""

    name = "none"


def _pending(a) -> dict[str, int]:
    """Follow-up records still waiting for the archive, per kind (database only, no S3)."""
    from einvoice.followups.records import RecordArchiver

    out = dict(RecordArchiver(a.db, None).pending_counts())
    try:
        from einvoice.finance.outbox import unarchived_postings
    except ImportError:  # pragma: no cover
        return out
    with a.db.sessions() as s:
        out["posting-record"] = unarchived_postings(s)
    return out
