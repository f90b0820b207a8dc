"""``einvoice mail``: read the e-mail intake mailbox of the organisation file once (einvoice.intake.mail).

Only parses options, calls the mailbox reader and prints; exit code 2 when the mailbox could not
be read (the reason is printed), 0 otherwise (messages that need a person are in the output).
"""
from __future__ import annotations

import json
import sys

import click


@click.group("mail")
def mail() -> None:
    """E-mail intake: the IMAP mailbox named in the organisation file (section mail)."""


@mail.command("fetch")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="read at most this many messages")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def fetch_cmd(limit: int | None, fmt: str) -> None:
    """Read each message once: archive + record its invoice (or why it has none), then move it to its folder."""
    from einvoice.app import App
    from einvoice.cli import print_outcomes
    from einvoice.intake.mail import fetch_mailbox

    app = App.from_env()
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
