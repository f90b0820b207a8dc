"""``einvoice notices``: the supplier-notice outbox on the command line.

For the zentrale Rechnungseingangsstelle and operators: list notices (``--attention``: what waits
for a person: dead letters, files without an address, messages whose delivery is uncertain),
send what is due now, send one again (optionally to an address a person found out), settle an
uncertain one as sent. Every action goes through ``einvoice.notices``; this module only parses
and prints. Exit codes: 0 ok, 1 refused or something needs a person, 2 not found / cannot send.
"""
from __future__ import annotations

import json
import sys

import click


def _app():
    # the App comes from the `einvoice` command that mounts this group (einvoice.cli puts its
    # factory into click's context object): this package never imports einvoice.app above it
    return click.get_current_context().obj()


def _outbox(archive: bool = True):
    from einvoice.notices import notice_outbox_for_app

    return notice_outbox_for_app(_app(), archive=archive)


def _refuse(problem) -> None:
    click.echo(f"refused [{problem.rule}]: {problem.message}", err=True)
    sys.exit(2 if problem.rule == "NOT-FOUND" else 1)


@click.group("notices")
def notices() -> None:
    """Notices to suppliers about files that were not accepted (e-mail, at most once)."""


@notices.command("list")
@click.option("--attention", is_flag=True, help="only what needs a person: dead, no_address, uncertain")
@click.option("--status", type=click.Choice(["pending", "in_flight", "sent", "dead", "no_address", "uncertain"]))
@click.option("--invoice", "invoice_id", type=int, help="the notices of one invoice")
@click.option("--limit", default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def list_cmd(attention, status, invoice_id, limit, fmt) -> None:
    """Supplier notices, oldest first."""
    views = _outbox(archive=False).list(status=status, attention=attention, invoice_id=invoice_id, limit=limit)
    if fmt == "json":
        click.echo(json.dumps([v.as_dict() for v in views], indent=2, ensure_ascii=False, default=str))
        return
    if not views:
        click.echo("no notices" + (" need a person" if attention else ""))
        return
    for v in views:
        to = f" to {v.recipient} ({v.recipient_source})" if v.recipient else ""
        click.echo(f"{v.id:6} invoice {v.invoice_id:<6} {v.kind:15} {v.status:11} attempts {v.attempts}{to}  {v.filename}")
        if v.message_id:
            click.echo(f"       Message-ID {v.message_id}")
        if v.last_error and v.status != "sent":
            click.echo(f"       [{v.last_error_code}] {v.last_error}")


@notices.command("show")
@click.argument("notice_id", type=int)
@click.option("--raw", is_flag=True, help="the exact message bytes (RFC 5322), as sent and archived")
def show_cmd(notice_id, raw) -> None:
    """What a notice says: headers and text (attachments named), or the raw message."""
    import email
    import email.policy

    outbox = _outbox(archive=False)
    views = [v for v in outbox.list(limit=1_000_000) if v.id == notice_id]
    if not views:
        click.echo(f"there is no notice {notice_id}", err=True)
        sys.exit(2)
    v, data = views[0], outbox.message(notice_id)
    if raw and data is not None:
        sys.stdout.buffer.write(data)
        return
    click.echo(f"notice {v.id}: invoice {v.invoice_id} ({v.filename}), {v.kind}, {v.status}, attempts {v.attempts}")
    if v.last_error and v.status != "sent":
        click.echo(f"[{v.last_error_code}] {v.last_error}")
    if data is None:
        click.echo("(the message is built on the first attempt to send it)")
        return
    m = email.message_from_bytes(data, policy=email.policy.default)
    for h in ("From", "To", "Subject", "Date", "Message-ID"):
        click.echo(f"{h}: {m[h]}")
    click.echo("")
    click.echo(m.get_body(("plain",)).get_content())
    for part in m.iter_attachments():
        click.echo(f"[attachment {part.get_filename()} ({part.get_content_type()})]")


@notices.command("send")
@click.option("--limit", default=100, show_default=True)
@click.option("--no-archive", is_flag=True, help="send without archiving (the sent messages wait for a later run)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def send_cmd(limit, no_archive, fmt) -> None:
    """Send the notices that are due now (exit 1 when something needs a person, 2 when nothing can be sent)."""
    report = _outbox(archive=not no_archive).send_pending(limit=limit)
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        for r in report.results:
            click.echo(f"notice {r.notice_id} (invoice {r.invoice_id}, {r.kind}): {r.outcome}"
                       + (f" to {r.recipient}" if r.recipient else "") + (f" - {r.problem}" if r.problem else ""))
        click.echo(f"{report.sent} sent, {report.failed} will be retried, {report.dead} dead, "
                   f"{report.no_address} without address, {report.uncertain} uncertain, {report.archived} archived")
    if report.problem:
        click.echo(f"cannot send [{report.problem.rule}]: {report.problem.message}", err=True)
        sys.exit(2)
    if report.dead or report.no_address or report.uncertain:
        sys.exit(1)


@notices.command("retry")
@click.argument("notice_id", type=int)
@click.option("--person", required=True, help="your person id (role central_desk)")
@click.option("--to", "to", default=None, help="send to this address instead (e.g. found out by phone)")
@click.option("--comment", default=None)
def retry_cmd(notice_id, person, to, comment) -> None:
    """Send a dead, address-less or uncertain notice again (it goes out with the next `send`)."""
    problem = _outbox(archive=False).retry(notice_id, person, to=to, comment=comment)
    if problem:
        _refuse(problem)
    click.echo(f"notice {notice_id} queued again" + (f" for {to}" if to else ""))


@notices.command("settle")
@click.argument("notice_id", type=int)
@click.option("--person", required=True, help="your person id (role central_desk)")
@click.option("--sent", "sent", is_flag=True, required=True, help="the supplier has the message (mail log, phone)")
@click.option("--comment", required=True, help="how you know, e.g. the mail server's log line with the Message-ID")
def settle_cmd(notice_id, person, sent, comment) -> None:
    """Record that an uncertain (or dead, address-less) notice reached the supplier after all."""
    problem = _outbox(archive=False).settle_sent(notice_id, person, comment=comment)
    if problem:
        _refuse(problem)
    click.echo(f"notice {notice_id} settled as sent")
