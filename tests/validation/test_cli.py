"""`einvoice validate`: exit codes, formats, directory walking, --jobs, --config."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from einvoice.validation.cli import validate_cmd
from tests.validation.fixtures import CII, UBL, mutate


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "inbox"
    (d / "sub").mkdir(parents=True)
    (d / "a_ubl.xml").write_bytes(UBL)
    (d / "sub" / "b_cii.xml").write_bytes(CII)
    (d / ".hidden.xml").write_bytes(b"not read")
    bad = tmp_path / "bad.xml"
    bad.write_bytes(mutate(UBL, ("remove", "/ubl:Invoice/cbc:BuyerReference")))
    return d, bad


def run(*args):
    return CliRunner().invoke(validate_cmd, [str(a) for a in args], catch_exceptions=False)


def test_all_valid_exits_0_and_walks_directories(engine, files):
    d, _ = files
    res = run(d)
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines() if line.startswith(("VALID", "INVALID", "NOT"))]
    assert len(lines) == 2 and all(line.startswith("VALID") for line in lines)
    assert "hidden" not in res.output


def test_any_invalid_exits_1_with_rule_in_text(engine, files):
    d, bad = files
    res = run(d, bad)
    assert res.exit_code == 1
    assert "BR-DE-15" in res.output


def test_not_validated_exits_1(engine, tmp_path):
    p = tmp_path / "scan.pdf"
    from tests.validation.pdfs import hybrid_pdf

    p.write_bytes(hybrid_pdf(None, level=None))
    res = run(p)
    assert res.exit_code == 1 and "NOT VALIDATED" in res.output


def test_missing_path_is_usage_error():
    res = CliRunner().invoke(validate_cmd, ["/no/such/file.xml"])
    assert res.exit_code == 2


def test_unreadable_file_exits_2(engine, tmp_path):
    d = tmp_path / "inbox"
    d.mkdir()
    (d / "good.xml").write_bytes(UBL)
    (d / "gone.xml").symlink_to(tmp_path / "does-not-exist.xml")  # listed, but cannot be read
    res = CliRunner().invoke(validate_cmd, [str(d)])
    assert res.exit_code == 2
    assert "cannot read" in res.output


def test_json_format_is_a_list_per_input(engine, files):
    d, bad = files
    res = run("--format", "json", d, bad)
    data = json.loads(res.stdout)
    assert [x["valid"] for x in data] == [True, True, False]
    assert set(data[0]) >= {"path", "syntax", "profile", "valid", "findings", "stages"}
    assert data[2]["findings"][0]["rule"] == "BR-DE-15"


def test_html_format(engine, files):
    d, bad = files
    res = run("--format", "html", d, bad)
    assert res.output.lstrip().startswith("<!DOCTYPE html>") and "BR-DE-15" in res.output


def test_jobs_2_gives_the_same_results(engine, files):
    d, bad = files
    one = json.loads(run("--format", "json", d, bad, d).stdout)
    two = json.loads(run("--format", "json", "--jobs", "2", d, bad, d).stdout)
    assert one == two


def test_config_file_overrides_severity(engine, files, tmp_path):
    _, bad = files
    cfg = tmp_path / "v.yaml"
    cfg.write_text("severity_overrides:\n  BR-DE-15: warning\n")
    assert run("--config", cfg, bad).exit_code == 0
    cfg.write_text("severity_overrides:\n  BR-DE-15: nonsense\n")
    assert run("--config", cfg, bad).exit_code == 2


def test_registered_in_main_cli():
    from einvoice.cli import main

    assert "validate" in main.commands
