"""``einvoice serve`` (the web inbox under uvicorn) and ``einvoice web`` (sign-in accounts).

Only parses arguments and calls ``einvoice.web``; FastAPI and uvicorn are imported when a command
runs, so ``einvoice --help`` stays fast. Passwords are read from a prompt or stdin, never from the
command line (it would end up in the shell history and the process list).
"""
from __future__ import annotations

import logging
import sys

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (behind a reverse proxy: keep loopback)")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn worker processes")
def serve_cmd(host: str, port: int, workers: int) -> None:
    """Start the web inbox (settings from EINVOICE_* and EINVOICE_WEB_* environment variables)."""
    import uvicorn

    from einvoice.web.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations at start-up are not news
    click.echo(f"web inbox on http://{host}:{port}/  (Ctrl+C stops it)")
    # access_log=False: uvicorn's access log prints the full URL including the query string
    # (search terms); our own access log records only the route template.
    if workers > 1:
        uvicorn.run("einvoice.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                    access_log=False, proxy_headers=False)
    else:
        uvicorn.run(create_app(), host=host, port=port, access_log=False, proxy_headers=False)


@click.group("web")
def web_cli() -> None:
    """Sign-in accounts of the web inbox."""


@web_cli.command("set-password")
@click.argument("person_id")
def set_password_cmd(person_id: str) -> None:
    """Set the local password of PERSON_ID (a person of the organisation file); asks for it, or reads stdin."""
    from einvoice.app import App
    from einvoice.web.auth import set_password

    if sys.stdin.isatty():
        password = click.prompt("Passwort", hide_input=True, confirmation_prompt="Passwort wiederholen")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    app = App.from_env()
    try:
        set_password(app.db, app.organisation, person_id, password)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"password of {person_id} set; their open sessions were ended")
