"""``einvoice validate PATH...``: validate files and directories, print text, JSON or HTML.

Exit codes: 0 every file valid; 1 at least one file invalid or not validated; 2 usage or I/O
error (a path that cannot be read). Each file has a time budget (``--timeout``, else
``EINVOICE_VALIDATION_TIMEOUT``, default 120 s; over it: NOT VALIDATED, ``VALIDATION-TIMEOUT``), so
every file is validated in one of ``--jobs`` worker processes that can be stopped
(``einvoice.validation.budget``); each compiles the stylesheets its files need. With a budget of 0
the files are validated here (``--jobs 1``), or, with ``--jobs N``, the stylesheets are compiled
once here and N workers are forked afterwards, so they share the compiled executables.

Text output is in the language of EINVOICE_LANGUAGE (German by default): per file the verdict
as one sentence with the BMF classes, per finding its class, explanation and readable location
(``-v`` adds the official rule text). The marks VALID / INVALID / NOT VALIDATED at the start of a
line stay as they are for scripts. This module only reads files and prints; it must never modify
or move the files it validates.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import click

from einvoice.language import language, pick
from einvoice.validation import Report, ValidationConfig, explain, validate
from einvoice.validation.budget import Workers, default_time_budget

_CONFIG: ValidationConfig | None = None


def collect(paths: list[Path]) -> list[Path]:
    """Files named on the command line plus every file below named directories (sorted, no
    hidden files), in the order given."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if not name.startswith("."):
                        out.append(Path(dirpath) / name)
        else:
            out.append(p)
    return out


def _validate_path(path: Path, config: ValidationConfig | None = None) -> tuple[Report | None, str | None]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"{path}: cannot read ({exc.strerror or exc})"
    rep = validate(data, str(path), config=_CONFIG if config is None else config)
    rep.xml = None  # not needed for printing; keeps the data sent back from workers small
    return rep, None


def _validate_in_worker(_name: str, path: Path, config: ValidationConfig | None) -> tuple[Report | None, str | None]:
    return _validate_path(path, config)


def _init_worker(config: ValidationConfig | None) -> None:
    global _CONFIG
    _CONFIG = config


#: files ``run_all`` validates in this process before it forks the workers
PARENT_FIRST = 24


def run_all(files: list[Path], jobs: int, config: ValidationConfig | None, budget: float | None = None):
    """Yield ``(path, report or None, io_error or None)`` in input order; ``budget``: seconds per
    file (None: ``EINVOICE_VALIDATION_TIMEOUT``, default 120; 0: no limit)."""
    global _CONFIG
    _CONFIG = config
    budget = default_time_budget() if budget is None else budget
    if budget > 0:
        yield from _run_under_budget(files, jobs, config, budget)
        return
    if jobs <= 1 or len(files) < 2:
        for f in files:
            yield (f, *_validate_path(f))
        return
    import multiprocessing as mp

    from einvoice.validation import warm

    warm()  # compile before forking: children inherit the compiled stylesheets
    # The first files are validated here, before forking: Saxon's heap has settled then, and a
    # worker no longer copies all of the inherited heap during its first files (measured: about
    # 0.5 s of CPU and some 100,000 page faults per worker forked straight after compiling).
    first = min(PARENT_FIRST, len(files) // (jobs + 1))
    for f in files[:first]:
        yield (f, *_validate_path(f))
    rest = files[first:]
    ctx = mp.get_context("fork")
    with ctx.Pool(jobs, initializer=_init_worker, initargs=(config,)) as pool:
        for f, res in zip(rest, pool.imap(_validate_path, rest, chunksize=8)):
            yield (f, *res)


def _run_under_budget(files: list[Path], jobs: int, config: ValidationConfig | None, budget: float):
    """Every file in a worker process: one over ``budget`` seconds is stopped and reported as not
    validated (VALIDATION-TIMEOUT), the others get their verdicts."""
    with Workers(min(jobs, max(1, len(files)))) as workers:
        results = workers.run(_validate_in_worker, ((str(f), f) for f in files), config=config, budget=budget,
                              failed=lambda _name, rep: (rep, None))
        for f, ((rep, err), _ready) in zip(files, results):
            yield f, rep, err


#: the texts of the text output: key -> (German, English)
TEXTS: dict[str, tuple[str, str]] = {
    "builtin": ("eingebaute Regeln", "built-in rules"),
    "where": ("Ort", "location"),
    "original": ("Originaltext", "original text"),
    "rules": ("Regelwerk", "rules"),
    "more": ("... {n} weitere (-v oder --format json zeigt alle)", "... {n} more (use -v or --format json)"),
    "counts": ("{n} Datei(en): {valid} gültig, {invalid} ungültig, {none} nicht geprüft",
               "{n} file(s): {valid} valid, {invalid} invalid, {none} not validated"),
    "basis_count": ("Regelwerk: {basis}: {n} Datei(en)", "rules: {basis}: {n} file(s)"),
}


def _text_line(rep: Report, lang: str) -> str:
    mark = {True: "VALID  ", False: "INVALID", None: "NOT VALIDATED"}[rep.valid]
    what = rep.syntax + (f" {rep.profile_name}" if rep.profile_name else "")
    basis = explain.basis(rep.rules_basis, lang) or pick(TEXTS["builtin"], lang)
    return f"{mark} {rep.path} [{what}; {basis}]: {rep.sentence(lang)}"


def _finding_lines(f, lang: str, verbose: bool) -> list[str]:
    v = explain.finding_view(f, lang)
    text = f"    {v.severity_name:13} {v.rule:18} [{v.class_name}] {v.explanation[:300]}"
    if v.where:
        text += f" — {pick(TEXTS['where'], lang)}: {v.where}"
    lines = [text]
    if verbose and v.original:
        lines.append(f"        {pick(TEXTS['original'], lang)}: {v.original.splitlines()[0][:300]}"
                     + (f"  @ {f.location}" if f.location else ""))
    return lines


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True, help="worker processes")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="YAML/JSON validation settings (severity overrides, size limits)")
@click.option("--verbose", "-v", is_flag=True, help="text format: list every finding")
@click.option("--timeout", type=click.FloatRange(min=0), default=None,
              help="seconds per file, over it NOT VALIDATED (default: EINVOICE_VALIDATION_TIMEOUT or 120; 0: no limit)")
def validate_cmd(paths: tuple[Path, ...], fmt: str, jobs: int, config_path: Path | None, verbose: bool,
                 timeout: float | None) -> None:
    """Validate e-invoices (XRechnung UBL/CII, ZUGFeRD/Factur-X PDF); directories are walked."""
    try:
        budget = default_time_budget() if timeout is None else timeout
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    config = ValidationConfig()
    if config_path is not None:
        try:
            config = ValidationConfig.load(config_path)
        except Exception as exc:
            click.echo(f"error: configuration {config_path}: {exc}", err=True)
            sys.exit(2)
    if fmt != "html":
        # text/JSON print no invoice data, so skip building the semantic model (~15 % of the time)
        config = dataclasses.replace(config, build_model=False)
    files = collect(list(paths))
    if not files:
        click.echo("error: no files found", err=True)
        sys.exit(2)
    lang = language()
    reports: list[Report] = []
    io_errors: list[str] = []
    for _path, rep, err in run_all(files, jobs, config, budget):
        if err:
            io_errors.append(err)
            click.echo(f"error: {err}", err=True)
            continue
        reports.append(rep)
        if fmt == "text":
            click.echo(_text_line(rep, lang))
            if verbose and rep.rules_basis:
                click.echo(f"    {pick(TEXTS['rules'], lang)}: {explain.basis(rep.rules_basis, lang)}")
            shown = rep.findings if verbose else [f for f in rep.findings if f.blocking]
            for f in shown[: None if verbose else 5]:
                for line in _finding_lines(f, lang, verbose):
                    click.echo(line)
            if not verbose and len(shown) > 5:
                click.echo("    " + pick(TEXTS["more"], lang).format(n=len(shown) - 5))
    if fmt == "json":
        click.echo(json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=2))
    elif fmt == "html":
        from einvoice.validation.html import render_reports

        click.echo(render_reports(reports, lang))
    elif len(reports) > 1:
        n_valid = sum(r.valid is True for r in reports)
        n_invalid = sum(r.valid is False for r in reports)
        n_none = sum(r.valid is None for r in reports)
        click.echo(pick(TEXTS["counts"], lang).format(n=len(reports), valid=n_valid, invalid=n_invalid, none=n_none), err=True)
    if fmt == "text" and reports:
        # what the verdicts rest on: the official KoSIT rule pack, or the built-in rules
        bases: dict[str, int] = {}
        for r in reports:
            key = r.rule_pack or explain.basis("built-in rules, not the official KoSIT configuration", lang)
            bases[key] = bases.get(key, 0) + 1
        for key, n in bases.items():
            click.echo(pick(TEXTS["basis_count"], lang).format(basis=key, n=n), err=True)
    if io_errors:
        sys.exit(2)
    sys.exit(0 if all(r.valid is True for r in reports) else 1)
