"""``einvoice rules``: install, list, re-window and remove official rule packs (KoSIT configurations).

Packs live in ``EINVOICE_RULEPACK_DIR`` (default ``var/rulepacks``). This module only parses
arguments, calls ``einvoice.rulepacks.store`` and prints; it must never edit a pack's files.
Exit codes: 0 success, 1 a pack was refused or failed its integrity check, 2 usage error.
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click


def _date(_ctx, _param, value):
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.group("rules")
def rules() -> None:
    """Official validation rule packs (KoSIT's XRechnung validator configuration)."""


@rules.command("install")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--id", "pack_id", help="name of the installed pack (default: the zip/directory name)")
@click.option("--valid-from", callback=_date, help="first receipt date (YYYY-MM-DD) the pack judges; default open")
@click.option("--valid-until", callback=_date, help="last receipt date (YYYY-MM-DD) the pack judges; default open")
@click.option("--replace", is_flag=True, help="replace an installed pack of the same id")
@click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path), help="rule-pack directory (default: $EINVOICE_RULEPACK_DIR or var/rulepacks)")
def install_cmd(source: Path, pack_id, valid_from, valid_until, replace: bool, root) -> None:
    """Install an official release zip or unpacked directory (SOURCE), recording a SHA-256 manifest."""
    from einvoice.rulepacks import store
    from einvoice.rulepacks.pack import PackError

    try:
        p = store.install(source, root=root, pack_id=pack_id, valid_from=valid_from, valid_until=valid_until, replace=replace)
    except PackError as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(1)
    click.echo(f"installed {p.id}: {p.name} ({p.date}), {len(p.scenarios)} scenarios, valid {p.window()}, in {p.directory}")


@rules.command("list")
@click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path), help="rule-pack directory")
@click.option("--verify/--no-verify", default=True, show_default=True, help="check every file against its manifest")
def list_cmd(root, verify: bool) -> None:
    """Each installed pack by family: versions, validity window, the identifiers it accepts."""
    from einvoice.rulepacks import store
    from einvoice.rulepacks.pack import PackError

    root = store.rulepack_dir() if root is None else root
    try:
        packs = store.installed(root)
    except PackError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    if not packs:
        click.echo(f"no rule pack installed in {root}: validation uses the built-in rules, not the official KoSIT configuration")
        return
    failed = False
    families: dict[str, list] = {}
    for p in packs:
        families.setdefault(p.family, []).append(p)
    from einvoice.rulepacks.integration import _today

    today = _today()
    for family, versions in families.items():
        click.echo(family)
        for p in versions:
            state = "active today" if p.active_on(today) else "not active today"
            if verify:
                try:
                    store.verify(p)
                    integrity = "files ok"
                except PackError as exc:
                    integrity, failed = f"REFUSED: {exc}", True
            else:
                integrity = "files not checked"
            click.echo(f"  {p.version}  id={p.id}")
            click.echo(f"    valid (receipt date): {p.window()}  [{state}; {integrity}]")
            click.echo("    identifiers accepted:")
            for i in p.identifiers:
                click.echo(f"      {i}")
    sys.exit(1 if failed else 0)


@rules.command("window")
@click.argument("pack_id")
@click.option("--valid-from", callback=_date, help="first receipt date (YYYY-MM-DD); empty = open")
@click.option("--valid-until", callback=_date, help="last receipt date (YYYY-MM-DD); empty = open")
@click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path))
def window_cmd(pack_id: str, valid_from, valid_until, root) -> None:
    """Set the validity window of an installed pack (e.g. for the XRechnung 4.0 transition)."""
    from einvoice.rulepacks import store
    from einvoice.rulepacks.pack import PackError

    try:
        p = store.set_window(pack_id, valid_from, valid_until, root=root)
    except PackError as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{p.id}: valid {p.window()}")


@rules.command("remove")
@click.argument("pack_id")
@click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path))
def remove_cmd(pack_id: str, root) -> None:
    """Uninstall a pack."""
    from einvoice.rulepacks import store
    from einvoice.rulepacks.pack import PackError

    try:
        store.remove(pack_id, root=root)
    except PackError as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(1)
    click.echo(f"removed {pack_id}")
