"""``einvoice mail``: read the e-mail intake mailbox of the organisation file once (einvoice.intake.mail).

Only parses options, calls the mailbox reader and prints (``print_outcomes``: the table of intake
outcomes that ``einvoice ingest`` prints too); exit code 2 when the mailbox could not
be read (the reason is printed), 0 otherwise (messages that need a person are in the output).
"""
from __future__ import annotations

import json
import sys

import click

from einvoice.validation.report import verdict_text


def _app():
    # the App comes from the `einvoice` command that mounts this group (einvoice.cli puts its
    # factory into click's context object): this package never imports einvoice.app above it
    return click.get_current_context().obj()


def print_outcomes(outcomes, fmt: str = "text") -> None:
    """Print one line block per file: name, syntax, state, why, department, archive key."""
    if fmt == "json":
        click.echo(json.dumps([o.as_dict() for o in outcomes], indent=2, ensure_ascii=False, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(outcomes)} file(s)", show_lines=True, expand=False)
    table.add_column("file", overflow="fold", max_width=32)
    table.add_column("syntax", max_width=14)
    table.add_column("state / verdict", overflow="fold", max_width=60)
    table.add_column("department", max_width=10)
    table.add_column("archive key (locked until)", overflow="fold", max_width=40)
    for o in outcomes:
        state = o.state + (" (already received)" if o.already_received else "")
        key = (o.archive_key or "-") + (f" ({o.retain_until})" if o.retain_until else "")
        findings = "".join(f"\n{f}" for f in o.retention_findings)
        table.add_row(o.name, o.syntax or "-", f"{state}\n{verdict_text(o.verdict)}{findings}", o.department or "-", key)
    Console(width=170).print(table)


@click.group("mail")
def mail() -> None:
    """E-mail intake: the IMAP mailbox named in the organisation file (section mail)."""


@mail.command("fetch")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="read at most this many messages")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def fetch_cmd(limit: int | None, fmt: str) -> None:
    """Read each message once: archive + record its invoice (or why it has none), then move it to its folder."""
    from einvoice.intake.mail import fetch_mailbox

    app = _app()
    settings = app.organisation.mail
    if settings is None:
        click.echo("the organisation file has no mail section: nothing to read (see README, E-mail intake)", err=True)
        sys.exit(2)
    run = fetch_mailbox(settings, app.intake, app.db, limit=limit)
    if fmt == "json":
        click.echo(json.dumps({"messages": [m.as_dict() for m in run.messages],
                               "problem": str(run.problem) if run.problem else None},
                              indent=2, ensure_ascii=False, default=str))
    else:
        for m in run.messages:
            where = m.folder or f"still in {settings.folders.inbox}: {m.problem}"
            seen = " (already received)" if m.already_received else ""
            click.echo(f"UID {m.uid} {m.message_id or '(no Message-ID)'} from {m.sender or '?'}: {m.kind}{seen} -> {where}")
        if run.outcomes:
            print_outcomes(run.outcomes)
        click.echo(f"{len(run.messages)} message(s) from {settings.user}@{settings.server}")
    if run.problem is not None:
        click.echo(f"error: {run.problem}", err=True)
        sys.exit(2)
