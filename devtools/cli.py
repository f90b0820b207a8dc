"""``einvoice-dev`` / ``python -m devtools``: commands for the demo, the tests and the benchmarks.

``samples DIR`` writes the project's sample invoices; ``finance-simulator`` runs the stand-in
finance system. This module only mounts and parses; it must never be imported by ``einvoice``.
"""
from __future__ import annotations

import sys

import click

from devtools.samples import samples_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Developer tooling of the e-invoice project (samples, stand-in finance system)."""


main.add_command(samples_cmd)


@main.command("finance-simulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8099, show_default=True)
def simulate_cmd(host, port) -> None:
    """Run a stand-in finance system for demos (webhook receiver; books each key once)."""
    import os
    import time

    from devtools.finance_simulator import FinanceSimulator
    from einvoice.app import App

    cfg = App.from_env().organisation.finance.webhook
    secret = os.environ.get(cfg.hmac_secret_env)
    if not secret:
        click.echo(f"refused [HMAC-SECRET-MISSING]: set {cfg.hmac_secret_env} (the same value the sender uses)", err=True)
        sys.exit(1)
    sim = FinanceSimulator(secret, host, port, signature_header=cfg.signature_header,
                           timestamp_header=cfg.timestamp_header, idempotency_header=cfg.idempotency_header).start()
    click.echo(f"finance system simulator on {sim.url} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(5)
            click.echo(f"bookings {len(sim.bookings)}, requests {sum(sim.requests.values())}, "
                       f"bad signatures {sim.bad_signatures}")
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()


@main.command("seed-web-demo")
@click.option("--new-demo-database", is_flag=True,
              help="first declare this fresh, empty database (no invoices, no accounts) a demo database")
def seed_web_demo_cmd(new_demo_database: bool) -> None:
    """Give every person of the organisation file the published demo password (demo databases only).

    Refused on any database that is not marked as a demo database; --new-demo-database marks a
    fresh one (and is refused once the database holds invoices or sign-in accounts).
    """
    from devtools.web_demo import NotADemoDatabase, mark_demo_database, seed_demo_accounts
    from einvoice.app import App

    app = App.from_env()
    try:
        if new_demo_database:
            mark_demo_database(app.db)
        accounts = seed_demo_accounts(app.db, app.organisation)
    except NotADemoDatabase as exc:
        click.echo(f"refused [{exc.rule}]: {exc.message}", err=True)
        sys.exit(2)
    for person_id, password in accounts.items():
        click.echo(f"{person_id:12} {password}")
