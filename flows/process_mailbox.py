"""Prefect flow ``process-mailbox``: read the e-mail intake mailbox once (einvoice.intake.mail).

Orchestration only: which message is an invoice, what is recorded, archived and where a message
is moved is decided by ``einvoice.intake.mail`` and ``einvoice.pipeline``. Message bytes never
travel through Prefect parameters or results: the task returns outcomes (ids, states, verdicts,
folders).

A mailbox that cannot be read (unreachable, TLS, login, connection lost) turns the run red
(Failed) with the reason, after the artifact lists what was handled before; the messages not
handled stay in the mailbox for the next run. Messages whose files need a person (rejected, not an
e-invoice) make the run ``Completed`` named ``Needs attention`` (flows.attention), like
process-inbox. The task is not retried by Prefect: the next scheduled run reads the mailbox again,
and reading is idempotent. While the archive writers are paused (``flows.common.ARCHIVE_GATE``,
after an integrity failure) the mailbox is not read at all and the run says so.
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.attention import Attention, finish_run
from flows.common import (
    ARCHIVE_GATE,
    ARCHIVE_WRITER,
    app,
    archive_writes_paused,
    intake,
    stamp,
)
from flows.process_inbox import _emit, attention_of, done_text


class MailboxUnreadable(RuntimeError):
    """The run's failure: the mailbox could not be read (the message says why, with its rule ID)."""


@task(name="fetch-mailbox", tags=[ARCHIVE_WRITER])
def fetch_mailbox_task(limit: int | None = None) -> dict:
    """Read the mailbox of the organisation file once; returns message outcomes and the problem, if any."""
    from einvoice.intake.mail import fetch_mailbox

    a = app()
    settings = a.organisation.mail
    if settings is None:
        return {"messages": [], "problem": "MAIL-CONFIG: the organisation file has no mail section", "mailbox": None}
    run = fetch_mailbox(settings, intake(), a.db, limit=limit)
    return {"messages": [m.as_dict() for m in run.messages], "problem": str(run.problem) if run.problem else None,
            "mailbox": f"{settings.user}@{settings.server}/{settings.folders.inbox}"}


def _table(result: dict) -> None:
    rows = []
    for m in result["messages"]:
        files = m["files"] or [None]
        for f in files:
            rows.append({
                "message": m["message_id"] or f"UID {m['uid']}", "from": m["sender"] or "-", "subject": m["subject"] or "-",
                "kind": m["kind"] + (" (already received)" if m["already_received"] else ""),
                "folder": m["folder"] or f"still in the inbox: {m['problem']}",
                "file": f["name"] if f else "-", "state": f["state"] if f else "-",
                "verdict": f["verdict"] if f else "-", "invoice id": (f["invoice_id"] if f else None) or "-",
            })
    problem = f"; FAILED: {result['problem']}" if result["problem"] else ""
    create_table_artifact(key="mailbox-run", table=rows or [{"message": "-", "kind": "no new messages"}],
                          description=f"{len(result['messages'])} messages from {result['mailbox']}{problem}")


@flow(name="process-mailbox", flow_run_name=lambda: f"mailbox {stamp()}", log_prints=False)
def process_mailbox(limit: int | None = None) -> list[dict]:
    """Read each new message of the mailbox once: archive and record its invoice (or why it has
    none), then move it to the folder that says so. ``limit``: at most this many messages."""
    logger = get_run_logger()
    base = f"mailbox {stamp()}"
    if archive_writes_paused():
        # After an archive integrity failure nothing new is archived (flows.common.ARCHIVE_GATE): the
        # messages wait in the mailbox, unread, until the operators resume the archive writers.
        attention = Attention()
        attention.add("records-not-archived", "mailbox", f"mailbox not read: {ARCHIVE_GATE} is paused after an "
                      "archive integrity failure (resume: python -m flows.setup --resume-archive-writers)")
        return finish_run(attention, flow_name="process-mailbox", base_name=base, done="not read", result=[])
    result = fetch_mailbox_task(limit)
    outcomes = [f for m in result["messages"] for f in m["files"]]
    _emit(outcomes)
    _table(result)
    logger.info("mailbox %s: %d messages, %s", result["mailbox"], len(result["messages"]), done_text(outcomes))
    if result["problem"]:
        create_markdown_artifact(key="mailbox-unreadable", markdown=f"### Mailbox not read completely\n\n{result['problem']}",
                                 description=f"mailbox problem: {result['problem']}")
        raise MailboxUnreadable(result["problem"])
    return finish_run(attention_of(outcomes), flow_name="process-mailbox", base_name=base,
                      done=f"{len(result['messages'])} messages, " + done_text(outcomes), result=result["messages"])
