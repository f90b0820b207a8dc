"""Prefect flow ``send-notices``: send the supplier notices that are due (``einvoice.notices``).

Orchestration only: which file gets which notice, to whom, what it says, retries, dead letters
and the at-most-once rule are ``einvoice.notices``'s business. The approver notifications (new
task, Skonto ending, escalation; ``einvoice.approval.notifications`` decides which are due,
``einvoice.notices.approvers`` queues each once) are queued here too and go out with the notices. The intake queues a notice in the
transaction that records a rejected (not validated, not an e-invoice) file; this flow first
catches up on recent files without one (``queue_missing``, idempotent), sends without the archive
(sending never waits for S3), then archives the sent messages as follow-up entries (tag
``archive-writer``; skipped while the archive writers are paused).

How a run ends:
* a configuration problem (no SMTP host, no sender address, the password variable missing), or
  every send of the run failing to reach or log in to the mail server: the run FAILS (red) with
  the reason: nothing can reach suppliers until an operator acts;
* notices that wait for a person (dead letters, no address, delivery uncertain), single notices
  failing, or sent messages not archived: ``Completed`` named ``Needs attention``, with the counts
  in its name and a line per notice (``flows.attention``).
"""
from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.states import Failed

from flows.attention import Attention, finish_run
from flows.common import ARCHIVE_WRITER, app, archive_writes_paused, retry_on_transient, stamp

#: Files received this long ago without a notice are queued by the catch-up scan; older ones are
#: left alone (turning notices on must not write to every supplier of past years).
CATCH_UP = dt.timedelta(days=3)
#: Outcomes that mean the mail server itself could not be used (not one notice's problem).
SERVER_DOWN = ("NOTICE-SMTP-CONNECT", "NOTICE-SMTP-LOGIN")


class NoticeConfigurationError(RuntimeError):
    """Notices cannot be sent at all (configuration): fail the run so an operator sees it."""


@task(name="send-notices", retries=3, retry_delay_seconds=[5, 30, 120], retry_condition_fn=retry_on_transient)
def send_due(limit: int) -> dict:
    from einvoice.db.models import utcnow
    from einvoice.finance.outbox import load_model
    from einvoice.notices import notice_outbox_for_app, queue_missing

    a = app()
    # The seller's addresses (BT-34, BT-43) come from the archived original; S3 down: only the channel's.
    queued = queue_missing(a.db, a.organisation, since=utcnow() - CATCH_UP,
                           model_of=lambda row: load_model(a.original_bytes(row))[0] if row.archive_original_key else None)
    tasks_queued = queue_task_notifications()
    report = notice_outbox_for_app(a, archive=False).send_pending(limit=limit)
    if report.problem is not None:
        raise NoticeConfigurationError(str(report.problem))
    return report.as_dict() | {"queued": queued, "tasks_queued": tasks_queued}


def queue_task_notifications(now: dt.datetime | None = None) -> int:
    """Approver e-mails due now (new task, Skonto ending, escalation): decided by the approval layer,
    queued once per task, reason and person by the notices outbox."""
    from einvoice.approval.notifications import due_notifications
    from einvoice.db.models import utcnow
    from einvoice.notices import approvers

    a = app()
    now = now or utcnow()
    return approvers.queue(a.db, a.organisation, due_notifications(a.approval, a.organisation.notices.approvers, now=now),
                           now=now)


@task(name="notices-status", retries=3, retry_delay_seconds=[2, 10, 30], retry_condition_fn=retry_on_transient)
def waiting_for_a_person() -> list[dict]:
    from einvoice.notices import notice_outbox_for_app

    return [v.as_dict() for v in notice_outbox_for_app(app(), archive=False).list(attention=True, limit=1000)]


@task(name="archive-notices", retries=3, retry_delay_seconds=[5, 30, 120], retry_condition_fn=retry_on_transient,
      tags=[ARCHIVE_WRITER])
def archive_sent(limit: int) -> dict:
    from einvoice.notices import NoticeOutbox

    a = app()
    outbox = NoticeOutbox(a.db, a.organisation, archive=a.archive)
    archived = outbox.archive_pending(limit=limit)
    return {"archived": archived, "left": outbox.unarchived()}


def attention_of(sent: dict, waiting: list[dict], archived: dict) -> Attention:
    """What this run leaves for a person (pure: from the send report, the waiting list, the archiving)."""
    att = Attention()
    for w in waiting:
        att.add("notices-need-a-person", w["id"], f"invoice {w['invoice_id']} ({w['filename']}), notice {w['id']} "
                                                  f"{w['status']}: [{w['last_error_code']}] {w['last_error']}")
    for r in sent["results"]:
        if r["outcome"] in ("retry", "error"):
            att.add("notices-failing", f"{r['notice_id']}@{r['attempts']}",
                    f"invoice {r['invoice_id']}, notice {r['notice_id']}, attempt {r['attempts']}: {r['problem']}")
    if archived.get("problem") or archived.get("left"):
        att.add_count("records-not-archived", "notices", archived.get("left") or 1,
                      archived.get("problem") or f"{archived['left']} sent notice(s) not archived yet; the next run tries again")
    return att


def server_down(sent: dict) -> str | None:
    """The reason when every send of this run failed at the mail server itself (None otherwise)."""
    tried = [r for r in sent["results"] if r["outcome"] not in ("no_address", "uncertain", "skipped")]
    if tried and all(r["outcome"] in ("retry", "dead") and any(c in (r["problem"] or "") for c in SERVER_DOWN)
                     for r in tried):
        return f"the mail server cannot be used: {tried[-1]['problem']}"
    return None


@flow(name="send-notices", flow_run_name=lambda: f"send notices {stamp()}")
def send_notices(limit: int = 100):
    """Send due supplier notices, then archive the sent ones."""
    logger = get_run_logger()
    base = f"send notices {stamp()}"
    try:
        sent = send_due(limit)
    except NoticeConfigurationError as exc:
        logger.error("supplier notices cannot be sent: %s", exc)
        return Failed(message=f"supplier notices cannot be sent: {exc}")
    waiting = waiting_for_a_person()
    if archive_writes_paused():
        archived = {"archived": 0, "left": 0, "problem": None}
        logger.warning("archive writers are paused: sent notices stay unarchived until they are resumed")
    else:
        state = archive_sent(limit, return_state=True)
        archived = state.result() if not (state.is_failed() or state.is_crashed()) else {
            "archived": 0, "left": 0, "problem": f"archiving the sent notices failed: {state.message}"}
    attention = attention_of(sent, waiting, archived)
    if sent["results"]:
        create_table_artifact(key="supplier-notices", table=[
            {"notice": r["notice_id"], "invoice": r["invoice_id"], "kind": r["kind"], "outcome": r["outcome"],
             "to": r["recipient"] or "-", "attempts": r["attempts"], "problem": r["problem"] or ""}
            for r in sent["results"]], description=attention.describe(f"{sent['sent']} sent"))
    done = f"{sent['sent']} sent" + (f", {sent['failed']} failing" if sent["failed"] else "")
    down = server_down(sent)
    if down:
        finish_run(attention, flow_name="send-notices", base_name=base, done=done)
        logger.error(down)
        return Failed(message=down)
    return finish_run(attention, flow_name="send-notices", base_name=base, done=done,
                      result={k: sent[k] for k in ("sent", "failed", "dead", "no_address", "uncertain", "queued", "tasks_queued")}
                      | {"archived": archived["archived"], "needs_attention": attention.counts})
