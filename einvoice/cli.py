"""The ``einvoice`` command line: one entry point for staff, operators and auditors.

Sub-commands live beside the module they drive and are registered here; this module only parses
arguments, calls the domain modules and prints. Exit codes: 0 success, 1 a file or invoice was
refused/invalid, 2 usage or I/O error.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """E-invoice intake, validation, approval and audit-proof archive for public administrations."""
    # The package commands mounted below (einvoice/<package>/cli.py) build the App through click's
    # context object: they sit beside packages that einvoice.app assembles, so they never import it.
    if ctx.obj is None:
        ctx.obj = _app


def _app():
    from einvoice.app import App

    return App.from_env()


@main.command("ingest")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--batch-size", default=50, show_default=True, help="files validated and archived together")
@click.option("--channel", default="directory", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def ingest_cmd(directory: Path, batch_size: int, channel: str, fmt: str) -> None:
    """Ingest every file of DIRECTORY: validate, route, archive, record (idempotent)."""
    from einvoice.intake.cli import print_outcomes
    from einvoice.intake.inbox import list_inbox, read_inbox_file

    app = _app()
    paths = list_inbox(directory)
    outcomes = []
    for start in range(0, len(paths), batch_size):
        batch = [read_inbox_file(p, channel) for p in paths[start:start + batch_size]]
        outcomes.extend(app.intake.ingest(batch))
    print_outcomes(outcomes, fmt)
    if any(o.state == "unreadable" for o in outcomes):
        sys.exit(2)


@main.command("extend-retention")
@click.option("--class", "classes", multiple=True,
              help="retention class (repeatable; default: the Belege: invoice, approval-trail, payment-file)")
@click.option("--year", "years", required=True, multiple=True, type=int,
              help="budget year: entries whose retention counts from this year (repeatable)")
@click.option("--counted-from", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="the new period counts from the end of this date's year, e.g. the council's Feststellung")
@click.option("--years", "period", type=click.IntRange(min=1), default=None,
              help="years of the new period (default: the class's years in the organisation file; "
                   "KomHVO NRW § 59 (2): 6 for Belege)")
@click.option("--reason", required=True, help="why, e.g. 'Feststellung Jahresabschluss 2026'")
@click.option("--reference", default="", help="resolution or file number")
@click.option("--decided-by", default="", help="who decided")
def extend_retention_cmd(classes, years, counted_from, period, reason, reference, decided_by) -> None:
    """Keep a budget year's archive entries longer (after the Feststellung, for an open audit).

    Raises the COMPLIANCE lock of every affected object and archives the decision; the archive's
    bucket, key and retention classes come from the settings and the organisation file.
    """
    from archive import ArchiveError
    from einvoice import retention

    app = _app()
    chosen = list(classes) or [retention.INVOICE, retention.APPROVAL_TRAIL, retention.PAYMENT_FILE]
    try:
        r = app.archive.extend_retention(chosen, list(years), counted_from.date(), years=period, reason=reason,
                                         reference=reference, decided_by=decided_by)
    except ArchiveError as exc:
        click.echo(f"archive: {exc}", err=True)
        sys.exit(1 if exc.kind == "integrity" else 2)
    click.echo(f"{r.affected_entries} entries ({', '.join(sorted(chosen))}; {', '.join(map(str, years))}) kept until "
               f"{r.until:%Y-%m-%d}; {r.objects_raised} locks raised; decision {r.decision.entry_id}")


@main.command("archive-records")
@click.option("--limit", default=200, show_default=True, help="records of each kind in one archive batch")
@click.option("--pending", is_flag=True, help="only count what is waiting, archive nothing")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def archive_records_cmd(limit: int, pending: bool, fmt: str) -> None:
    """Archive approval trails (chains that ended) and payment runs as follow-up entries.

    The post-released and payment-run flows do this on their own; this is for catching up by hand.
    Exit 1 when a record could not be archived (it stays pending, the message says why).
    """
    from archive import ArchiveError
    from einvoice.followups.records import RecordArchiver

    app = _app()
    try:
        archiver = RecordArchiver(app.db, None if pending else app.archive)
    except ArchiveError as exc:  # no bucket, no Object Lock, unreachable: nothing is archived or lost
        click.echo(f"archive: {exc}", err=True)
        sys.exit(2)
    if pending:
        counts = archiver.pending_counts()
        click.echo(json.dumps(counts) if fmt == "json" else
                   f"waiting: {counts['approval-trail']} approval trail(s), {counts['payment-run']} payment run(s)")
        return
    report = archiver.archive_pending(limit=limit)
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        for e in report.entries:
            about = f"invoice {e['invoice_id']}" if e["invoice_id"] else "payment run"
            click.echo(f"archived {e['kind']:15} {about:14} entry {e['entry_id']} (leaf {e['sequence']})")
        for p in report.problems:
            click.echo(f"NOT archived: {p}", err=True)
        click.echo(f"{report.approval_trails} approval trail(s), {report.payment_runs} payment run(s) archived; "
                   f"{len(report.problems)} left pending with a problem")
    if report.problems:
        sys.exit(1)


@main.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply all Alembic migrations to EINVOICE_DATABASE_URL."""
    from einvoice.db import upgrade
    from einvoice.settings import Settings

    url = Settings.from_env().database_url
    upgrade(url)
    click.echo(f"database at {url.split('@')[-1]} is at the newest revision")


@main.group("org")
def org_group() -> None:
    """The organisation file (departments, people, roles, limits)."""


@org_group.command("check")
@click.argument("path", type=click.Path(path_type=Path))
def org_check(path: Path) -> None:
    """Validate an organisation file and list what it defines."""
    from einvoice.organisation import OrganisationConfigError, load_organisation

    try:
        org = load_organisation(path)
    except OrganisationConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"{org.name}: {len(org.departments)} departments, {len(org.people)} people, "
               f"{len(org.suppliers)} suppliers, central desk {org.central_desk}")
    from einvoice.approval.chain_check import check_organisation

    # Valid YAML is not enough: every department must be able to complete its approval chain.
    findings = check_organisation(org)
    for f in findings:
        click.echo(str(f), err=f.severity == "error")
    errors = sum(1 for f in findings if f.severity == "error")
    if errors:
        click.echo(f"{errors} error(s): the organisation file cannot be used as it is", err=True)
        sys.exit(1)
    click.echo("ok: every department can complete its approval chain")


@org_group.command("schema")
def org_schema() -> None:
    """Print the JSON Schema of the organisation file."""
    from einvoice.organisation import json_schema

    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


@main.group("schemas")
def schemas_group() -> None:
    """The registry of XSD and rule files."""


@schemas_group.command("verify")
def schemas_verify() -> None:
    """Check every registered schema/rule file exists and matches its pinned SHA-256."""
    import schemas

    try:
        files = schemas.verify_all()
    except schemas.SchemaIntegrityError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    for f in files:
        click.echo(f"ok  {f.kind:10} {f.key:24} {f.sha256 or '(own)':64}  {f.what}")


def _register_subcommands() -> None:
    """Sub-commands are defined beside the modules they drive; this only mounts them."""
    from archive.cli import archive_cli
    from einvoice.approval.cli import tasks
    from einvoice.finance.cli import finance, payments
    from einvoice.intake.cli import mail
    from einvoice.notices.cli import notices
    from einvoice.rulepacks.cli import rules
    from einvoice.validation.cli import validate_cmd
    from einvoice.web.cli import serve_cmd, web_cli

    for command in (validate_cmd, tasks, finance, payments, serve_cmd, web_cli, rules, mail, notices):
        main.add_command(command)
    main.add_command(archive_cli, name="archive")


_register_subcommands()


if __name__ == "__main__":  # python -m einvoice.cli (the checkout's code, whatever the console script points at)
    main()
