"""Fixtures for the validation tests: the corpus location (skips when absent) and a warm engine.

The corpus lives beside the project checkout (``../shared/corpus`` relative to the repository
root); a fresh clone has none, so corpus tests skip with the reason.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"
# KoSIT's decisions (scenario, custom levels, merged Peppol rules); replaces expected-dev.json
EXPECTED = CORPUS / "expected-dev-kosit.json"


def corpus_or_skip() -> Path:
    if not EXPECTED.is_file():
        pytest.skip(f"conformance corpus not found at {CORPUS} (it is only present beside the project checkout)")
    return CORPUS


def load_expected() -> dict:
    return json.loads(EXPECTED.read_text(encoding="utf-8")) if EXPECTED.is_file() else {}


@pytest.fixture(scope="session")
def engine():
    """Compile the stylesheets and load the schemas once for the whole session."""
    from einvoice import validation

    validation.warm()
    return validation
