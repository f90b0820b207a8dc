"""``einvoice tasks``: the approval inbox on the command line, for staff and operators.

Lists and shows approval tasks and lets a person approve, reject, send back, forward, comment on
and override duplicate flags. Every action goes through ``einvoice.approval.ApprovalService``; this
module only parses arguments and prints, and must never decide whether an action is allowed.
A refusal prints its rule ID and the reason and exits with 1; unknown task ids exit with 2.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal, InvalidOperation

import click

from einvoice.language import local, shown


def _app():
    # the App comes from the `einvoice` command that mounts this group (einvoice.cli puts its
    # factory into click's context object): this package never imports einvoice.app above it
    return click.get_current_context().obj()


def _service():
    # App.approval carries the release hooks (finance queues the posting in the release transaction);
    # a service built here without them released invoices that were never posted.
    return _app().approval


def _json(obj) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str)


def _finish(result) -> None:
    if result.ok:
        nxt = f", next step: {result.next_step.value}" if result.next_step else ""
        click.echo(f"ok: invoice is {result.invoice_state}{nxt}")
        return
    click.echo(f"refused [{result.refusal.rule}]: {result.refusal.message}", err=True)
    sys.exit(1)


def _money(v) -> str:
    return "-" if v is None else f"{v:,.2f}"


@click.group("tasks")
def tasks() -> None:
    """Approval tasks: sachlich → rechnerisch → Anordnung → Freigabe."""


@tasks.command("list")
@click.option("--as", "person", help="show the inbox of this person (tasks they may decide today)")
@click.option("--department", help="only this department")
@click.option("--search", help="invoice number or seller name contains")
@click.option("--step", help="only this step (sachlich, rechnerisch, anordnung, freigabe)")
@click.option("--limit", default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def list_cmd(person, department, search, step, limit, fmt) -> None:
    """Open tasks, earliest deadline (Skonto or due date) first."""
    svc = _service()
    if person and person not in {p.id for p in svc.org.people}:
        click.echo(f"{person!r} is not a person in the organisation file of {svc.org.name}", err=True)
        sys.exit(2)
    if person:
        views = svc.inbox(person, department=department, search=search, state=step, limit=limit)
    else:
        views = svc.open_tasks(department=department, search=search, state=step, limit=limit)
    if fmt == "json":
        click.echo(_json([v.as_dict() for v in views]))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(views)} open task(s)" + (f" for {person}" if person else ""))
    for col in ("task", "invoice", "step", "dept", "seller", "number", "amount", "deadline", "Skonto at risk", "flags"):
        table.add_column(col, overflow="fold")
    for v in views:
        deadline = "-" if v.deadline is None else f"{v.deadline:%d.%m.%Y} ({v.days_left:+d}d)"
        table.add_row(str(v.task_id), str(v.invoice_id), v.step.value, v.department, v.seller_name or "-",
                      v.invoice_number or "-", f"{_money(v.amount_due)} {v.currency or ''}", deadline,
                      _money(v.skonto_amount) if v.skonto_amount else "-",
                      "DUPLICATE?" if v.blocked_by_duplicate else "")
    Console(width=200).print(table)


@tasks.command("show")
@click.argument("task_id", type=int)
@click.option("--as", "person", help="also say which actions this person may take")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def show_cmd(task_id, person, fmt) -> None:
    """One task with its invoice, duplicate flags, history and (with --as) allowed actions."""
    svc = _service()
    try:
        v = svc.task(task_id)
    except LookupError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    history = svc.history(v.invoice_id)
    allowed = svc.allowed(task_id, person) if person else None
    if fmt == "json":
        out = v.as_dict()
        out["history"] = [e.__dict__ for e in history]
        if allowed is not None:
            out["allowed"] = {k: (None if r is None else {"rule": r.rule, "message": r.message}) for k, r in allowed.items()}
        click.echo(_json(out))
        return
    click.echo(f"task {v.task_id} ({v.status}{', ' + v.outcome + ' by ' + v.decided_by if v.outcome else ''}): "
               f"{v.step.value} in department {v.department}")
    click.echo(f"invoice {v.invoice_id}: {v.invoice_number} from {v.seller_name}, {_money(v.amount_due)} {v.currency or ''}, "
               f"state {v.state}")
    click.echo(f"  issue date {v.issue_date}, due {v.due_date}, Skonto until {v.skonto_until}"
               + (f" ({v.skonto_percent} % = {v.skonto_amount} lost if late)" if v.skonto_amount else ""))
    if v.days_left is not None:
        click.echo(f"  deadline {v.deadline} ({v.days_left} day(s) left)")
    click.echo(f"  routing: {v.routing_rule}: {v.routing_reason}")
    if v.status == "open":
        click.echo(f"  may decide today: {', '.join(v.candidates) or 'nobody (check the organisation file)'}")
    for f in v.duplicate_flags:
        state = f"overridden by {f.overridden_by}: {f.override_reason}" if f.overridden_by else "OPEN, blocks release"
        click.echo(f"  duplicate ({f.kind}) of invoice {f.other_invoice_id}: {f.reason} [{state}]")
    if allowed is not None:
        click.echo(f"actions for {person}:")
        for action, refusal in allowed.items():
            click.echo(f"  {action:20} " + ("allowed" if refusal is None else f"no [{refusal.rule}] {refusal.message}"))
    click.echo("history:")
    for e in history:
        who = e.actor + (f" for {e.on_behalf_of}" if e.on_behalf_of else "") + (f" ({e.role})" if e.role else "")
        amount = f" {e.amount}" if e.amount is not None else ""
        click.echo(f"  {local(e.at):%Y-%m-%d %H:%M} {who}: {e.action} {e.from_state or 'new'}→{e.to_state}{amount}"
                   + (f" — {shown(e.comment, e.details)}" if e.comment else ""))


def _amount(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value.replace(",", "."))
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not an amount (e.g. 1234.56)") from None


as_option = click.option("--as", "person", required=True, help="the person acting (id from the organisation file)")


@tasks.command("approve")
@click.argument("task_id", type=int)
@as_option
@click.option("--amount", help="rechnerische Richtigkeit: the certified amount (must equal the amount due)")
@click.option("--comment")
def approve_cmd(task_id, person, amount, comment) -> None:
    """Sign the task's step (sachlich/rechnerisch richtig, Anordnung, Freigabe)."""
    _finish(_service().approve(task_id, person, amount=_amount(amount), comment=comment))


@tasks.command("reject")
@click.argument("task_id", type=int)
@as_option
@click.option("--reason", help="why the invoice is returned (the supplier reads it)")
@click.option("--comment", help="same as --reason")
def reject_cmd(task_id, person, reason, comment) -> None:
    """Return the invoice with a reason."""
    _finish(_service().reject(task_id, person, reason=reason or comment or ""))


@tasks.command("send-back")
@click.argument("task_id", type=int)
@as_option
@click.option("--reason", help="what the previous step must look at again")
@click.option("--comment", help="same as --reason")
def send_back_cmd(task_id, person, reason, comment) -> None:
    """Return the invoice to the previous step."""
    _finish(_service().send_back(task_id, person, reason=reason or comment or ""))


@tasks.command("forward")
@click.argument("task_id", type=int)
@as_option
@click.option("--to", "department", required=True, help="department code")
@click.option("--comment")
def forward_cmd(task_id, person, department, comment) -> None:
    """Forward the invoice to the department that holds the budget."""
    _finish(_service().forward(task_id, person, department=department, comment=comment))


@tasks.command("comment")
@click.argument("invoice_id", type=int)
@as_option
@click.option("--text", required=True)
def comment_cmd(invoice_id, person, text) -> None:
    """Add a comment to an invoice."""
    _finish(_service().comment(invoice_id, person, text))


@tasks.command("override-duplicate")
@click.argument("invoice_id", type=int)
@as_option
@click.option("--reason", required=True)
def override_cmd(invoice_id, person, reason) -> None:
    """Declare an invoice's duplicate flags unfounded (logged with the reason)."""
    _finish(_service().override_duplicate(invoice_id, person, reason=reason))


@tasks.command("remind")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def remind_cmd(fmt) -> None:
    """Record reminders and escalations that are due now and print them (delivery is up to the caller)."""
    sent = _service().send_reminders(dt.datetime.now(dt.timezone.utc))
    if fmt == "json":
        click.echo(_json([r.__dict__ for r in sent]))
        return
    for r in sent:
        click.echo(f"{r.kind:10} task {r.task_id} → {', '.join(r.recipients) or '(nobody)'}: {r.message}")
    click.echo(f"{len(sent)} reminder(s)/escalation(s)")
