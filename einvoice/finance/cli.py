"""``einvoice finance`` and ``einvoice payments``: the outbox and SEPA payment runs on the command line.

For the Stadtkasse and operators: list the outbox and its dead letters, deliver now, retry a dead
letter, record a booking made by hand, confirm a record exported as a file, show a posting
record; start a payment run and re-export its file. Every action goes through
``einvoice.finance``; this module only parses arguments and prints, and must never decide
anything itself. Exit codes: 0 ok, 1 refused / problems (message with its ID on stderr), 2 not found.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def _app():
    # the App comes from the `einvoice` command that mounts this group (einvoice.cli puts its
    # factory into click's context object): this package never imports einvoice.app above it
    return click.get_current_context().obj()


def _outbox(app=None):
    from einvoice.finance import outbox_for_app

    return outbox_for_app(app or _app())


def _json(obj) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str)


def _refuse(problem) -> None:
    from einvoice.finance import errors, messages

    click.echo(f"{messages.word('refused')} [{problem.rule}]: {problem.message}", err=True)
    sys.exit(2 if problem.rule == errors.NOT_FOUND else 1)


@click.group("finance")
def finance() -> None:
    """Posting records and their delivery to the finance system."""


@finance.command("outbox")
@click.option("--dead", is_flag=True, help="only what needs a person: dead letters and booking conflicts")
@click.option("--status", type=click.Choice(["pending", "in_flight", "awaiting_confirmation", "delivered", "dead", "conflict"]))
@click.option("--all", "show_all", is_flag=True, help="include delivered records")
@click.option("--limit", default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def outbox_cmd(dead, status, show_all, limit, fmt) -> None:
    """Records not yet confirmed by the finance system (and dead letters)."""
    views = _outbox().list(status=status, dead=dead, open_only=not (show_all or status or dead), limit=limit)
    if fmt == "json":
        click.echo(_json([v.as_dict() for v in views]))
        return
    if not views:
        click.echo("nothing in the outbox" + (" (no dead letters)" if dead else ""))
        return
    for v in views:
        err = f"  [{v.last_error_code}] {v.last_error}" if v.last_error_code and v.status != "delivered" else ""
        booking = f"  booking {v.booking_number}" if v.booking_number else ""
        click.echo(f"{v.id:>6}  {v.status:<22} inv {v.invoice_id:<6} {v.invoice_number or '-':<20} {v.amount:>12} {v.currency} "
                   f"{(v.payee_name or '')[:30]:<30} tries {v.attempts}{booking}{err}")


@finance.command("show")
@click.argument("outbox_id", type=int)
def show_cmd(outbox_id) -> None:
    """One outbox entry with its attempts and the posting record."""
    from einvoice.finance import posting_record

    ob = _outbox()
    v = ob.get(outbox_id)
    if v is None:
        click.echo(f"there is no outbox entry {outbox_id}", err=True)
        sys.exit(2)
    click.echo(_json({"entry": v.as_dict(), "attempts": ob.attempts(outbox_id), "record": posting_record(ob.db, v.invoice_id)}))


@finance.command("record")
@click.argument("invoice_id", type=int)
def record_cmd(invoice_id) -> None:
    """The posting record of an invoice, as the finance system receives it."""
    from einvoice.finance import posting_record

    rec = posting_record(_app().db, invoice_id)
    if rec is None:
        click.echo(f"invoice {invoice_id} has no posting record (not released yet?)", err=True)
        sys.exit(2)
    click.echo(_json(rec))


@finance.command("status")
@click.argument("invoice_id", type=int)
def status_cmd(invoice_id) -> None:
    """Posting and payment state of an invoice: outbox status, booking number, last error, payment run."""
    from einvoice.finance import finance_status

    app = _app()
    st = finance_status(app.db, invoice_id)
    if st is None:
        from einvoice.finance import released_without_posting

        if invoice_id in released_without_posting(app.db):
            click.echo(f"refused [NO-POSTING-RECORD]: invoice {invoice_id} is released but has no posting record; "
                       "run `einvoice finance repair-released`", err=True)
            sys.exit(1)
        click.echo(f"invoice {invoice_id} has no posting record (not released yet?)", err=True)
        sys.exit(2)
    click.echo(_json(st))


@finance.command("repair-released")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def repair_released_cmd(fmt) -> None:
    """Queue the posting of released invoices that have no posting record (idempotent)."""
    from einvoice.finance import repair_released

    report = repair_released(_app())
    if fmt == "json":
        click.echo(_json(report.as_dict()))
    else:
        for inv in report.queued:
            click.echo(f"queued: invoice {inv} (released without a posting record)")
        for inv, problem in report.problems:
            click.echo(f"not queued: invoice {inv} [{problem.rule}] {problem.message}", err=True)
        click.echo(f"{len(report.queued)} posting(s) queued, {len(report.problems)} problem(s)")
    sys.exit(1 if report.problems else 0)


@finance.command("deliver")
@click.option("--limit", default=100, show_default=True)
def deliver_cmd(limit) -> None:
    """Deliver due records now (the scheduled flow does the same)."""
    report = _outbox().deliver_pending(limit=limit)
    if report.problem:
        _refuse(report.problem)
    for r in report.results:
        extra = f" booking {r.booking_number}" if r.booking_number else ""
        why = f" [{r.problem.rule}] {r.problem.message}" if r.problem else ""
        click.echo(f"{r.outbox_id:>6}  inv {r.invoice_id:<6} {r.outcome:<10}{extra}{why}")
    for r in report.receipts:
        why = f" [{r.problem.rule}] {r.problem.message}" if r.problem else ""
        click.echo(f"receipt {r.file}:{r.line} {r.idempotency_key} {r.status}{why}")
    click.echo(f"delivered {report.delivered}, failed {report.failed} (will retry), dead letters {report.dead_lettered}, "
               f"skipped {report.skipped}, archived {report.archived}")
    sys.exit(1 if report.dead_lettered else 0)


@finance.command("retry")
@click.argument("outbox_id", type=int)
@click.option("--by", "person", required=True, help="your person id (kept in the audit trail)")
@click.option("--comment", help="what was fixed")
def retry_cmd(outbox_id, person, comment) -> None:
    """Put a dead letter back into delivery (after fixing its cause)."""
    problem = _outbox().retry(outbox_id, person, comment=comment)
    if problem:
        _refuse(problem)
    click.echo(f"ok: outbox entry {outbox_id} will be delivered again")


@finance.command("resolve")
@click.argument("outbox_id", type=int)
@click.option("--by", "person", required=True, help="your person id (role bookkeeping in the organisation file)")
@click.option("--booking", "booking", required=True, help="booking number shown by the finance system")
@click.option("--comment", "--reason", "comment", required=True, help="why it was booked by hand")
def resolve_cmd(outbox_id, person, booking, comment) -> None:
    """Record that a dead letter was booked by hand in the finance system (overrides its refusal;
    logged), or settle a booking conflict (the finance system reported two booking numbers) with
    the number that stands."""
    problem = _outbox().resolve_booked(outbox_id, person, booking_number=booking, comment=comment)
    if problem:
        _refuse(problem)
    click.echo(f"ok: outbox entry {outbox_id} recorded as booked ({booking}); invoice is posted")


@finance.command("confirm")
@click.argument("idempotency_key")
@click.argument("booking_number")
@click.option("--by", "person", required=True, help="your person id (Finanzbuchhaltung)")
def confirm_cmd(idempotency_key, booking_number, person) -> None:
    """Store the finance system's booking number for an exported record."""
    problem = _outbox().confirm_by_person(idempotency_key, booking_number, person)
    if problem:
        _refuse(problem)
    click.echo(f"ok: {idempotency_key} booked as {booking_number}")


@finance.command("receipts")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def receipts_cmd(directory) -> None:
    """Read the finance system's receipt CSVs (default: finance.file.receipts_directory)."""
    results = _outbox().import_receipts(directory)
    for r in results:
        why = f" [{r.problem.rule}] {r.problem.message}" if r.problem else ""
        click.echo(f"{r.file}:{r.line} {r.idempotency_key} {r.status}{why}")
    click.echo(f"{len(results)} receipt line(s), {sum(1 for r in results if r.problem)} with problems")
    sys.exit(1 if any(r.problem for r in results) else 0)


@finance.command("assign")
@click.argument("invoice_id", type=int)
@click.option("--by", "person", required=True)
@click.option("--line", "lines", multiple=True, required=True,
              help="amount=119.00,sachkonto=5221000,kostenstelle=6600,produkt=12.01.01 (repeat to split)")
@click.option("--comment", "--reason", "comment", help="why; required after the Anordnung (the invoice goes back to it)")
def assign_cmd(invoice_id, person, lines, comment) -> None:
    """Split an invoice in approval over Sachkonto / Kostenstelle / Produkt (after the Anordnung: back to the Anordnung)."""
    from einvoice.finance import set_account_assignment

    parsed = []
    for ln in lines:
        try:
            parsed.append(dict(part.split("=", 1) for part in ln.split(",") if part.strip()))
        except ValueError:
            click.echo(f"cannot read --line {ln!r}: use key=value pairs separated by commas", err=True)
            sys.exit(1)
    app = _app()
    problem = set_account_assignment(app.db, app.organisation, invoice_id, person, parsed, comment=comment)
    if problem:
        _refuse(problem)
    click.echo(f"ok: {len(parsed)} account line(s) stored for invoice {invoice_id}")


@click.group("payments")
def payments() -> None:
    """SEPA payment runs (pain.001.001.09)."""


@payments.command("run")
@click.option("--date", "due_by", required=True, type=click.DateTime(["%Y-%m-%d"]), help="pay what is due by this date")
@click.option("--execution-date", type=click.DateTime(["%Y-%m-%d"]), help="requested execution date (default: today)")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("var/payments"), show_default=True)
@click.option("--by", "person", required=True, help="your person id (role treasury in the organisation file)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def run_cmd(due_by, execution_date, out, person, fmt) -> None:
    """Build, validate and record one payment file for the posted invoices due by --date.

    The file goes to the bank only after two persons released it (`einvoice payments release`)."""
    from einvoice.finance import FinanceError, payment_run

    app = _app()
    try:
        run = payment_run(app.db, app.organisation, due_by=due_by.date(), output_dir=out,
                          execution_date=execution_date.date() if execution_date else None, actor=person)
    except FinanceError as exc:
        _refuse(exc.problem)
    if fmt == "json":
        click.echo(_json(run.as_dict()))
    elif run.count == 0:
        click.echo("nothing to pay")
    else:
        click.echo(f"payment run {run.run_id}: {run.count} transfer(s), {run.control_sum} EUR (Skonto taken {run.skonto_taken} EUR), "
                   f"MsgId {run.message_id}, execution {run.execution_date}; waits for two releases: "
                   f"`einvoice payments release {run.run_id} --by PERSON --out {out}` (two different persons)")
    for path in run.recovered:
        click.echo(f"written now (an earlier run's file was missing): {path}")
    for inv_id, problem in run.skipped:
        click.echo(f"held back: invoice {inv_id} [{problem.rule}] {problem.message}", err=True)


@payments.command("release")
@click.argument("run_id", type=int)
@click.option("--by", "person", required=True, help="your person id (role treasury; not who gave an Anordnung in the run)")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("var/payments"), show_default=True,
              help="where the second release writes the file for the bank")
def release_cmd(run_id, person, out) -> None:
    """Release a payment run: the first person, then a second one; the second release pays and writes the file."""
    from einvoice.finance import release_payment_run

    app = _app()
    result = release_payment_run(app.db, app.organisation, run_id, person, output_dir=out)
    if not result.ok:
        _refuse(result.problem)
    if result.status == "first_release":
        click.echo(f"ok: payment run {run_id} released by {person} (first release); a second person must release it")
    else:
        click.echo(f"ok: payment run {run_id} released by two persons; file for the bank: {result.path or '(not written)'}")
    if result.problem:
        _refuse(result.problem)


@payments.command("list")
def list_cmd() -> None:
    """Payment runs, newest first."""
    from einvoice.finance import list_runs

    for r in list_runs(_app().db):
        click.echo(f"{r['id']:>5}  {r['message_id']:<35} {r['execution_date']}  {r['count']:>4} tx  {r['control_sum']:>12} EUR  "
                   f"Skonto {r['skonto_taken']}  {r['status']:<13} {r['path'] or '(file not written)'}")


@payments.command("export")
@click.argument("run_id", type=int)
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--by", "person", required=True, help="your person id (role treasury)")
def export_cmd(run_id, out, person) -> None:
    """Write a released run's file again (same MsgId, same content)."""
    from einvoice.finance import FinanceProblem
    from einvoice.finance.payment_release import export_released_run

    app = _app()
    got = export_released_run(app.db, app.organisation, run_id, person, out)
    if isinstance(got, FinanceProblem):
        _refuse(got)
    click.echo(str(got))
