"""Shared fixtures: a real SeaweedFS (session-wide), the database URL, the corpus location.

PostgreSQL tests use EINVOICE_TEST_DATABASE_URL (CI sets it); without it they run on SQLite.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# No network here: Prefect's telemetry would only log failures.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"conformance corpus not found at {CORPUS} (only present beside the project checkout)")
    return CORPUS


@pytest.fixture(scope="session")
def seaweedfs():
    """One real SeaweedFS S3 server for the whole test session, on free loopback ports."""
    from devtools.seaweedfs import SeaweedFS

    server = SeaweedFS().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(seaweedfs):
    return seaweedfs.client()


@pytest.fixture
def bucket_name() -> str:
    """A fresh bucket name per test (buckets with Object Lock can never be emptied)."""
    return f"t-{uuid.uuid4().hex[:20]}"


def _database_urls() -> list[str]:
    urls = ["sqlite"]
    if os.environ.get("EINVOICE_TEST_DATABASE_URL"):
        urls.append("postgresql")
    return urls


@pytest.fixture(params=_database_urls())
def database_url(request, tmp_path) -> str:
    """Each database test runs on SQLite, and on PostgreSQL when EINVOICE_TEST_DATABASE_URL is set.

    PostgreSQL tests get their own schema so parallel/ repeated runs never see each other's rows.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'einvoice.sqlite'}"
        return
    from devtools.scratch import scratch_schema

    with scratch_schema(os.environ["EINVOICE_TEST_DATABASE_URL"], prefix="t") as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def _no_installed_rule_pack_in_session(tmp_path_factory):
    """The same for module- and session-scoped fixtures (e.g. the web tests' ``world``), which are
    built before any function-scoped fixture runs."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EINVOICE_RULEPACK_DIR", str(tmp_path_factory.getbasetemp() / "rulepacks-none"))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _no_installed_rule_pack(monkeypatch, tmp_path_factory):
    """Tests see no installed rule pack unless they install one (``rule_pack`` fixtures): a pack
    in the developer's var/rulepacks must not change what the built-in engine's tests check."""
    monkeypatch.setenv("EINVOICE_RULEPACK_DIR", str(tmp_path_factory.getbasetemp() / "rulepacks-none"))


@pytest.fixture
def fresh_validation_worker(monkeypatch):
    """The time-budget tests' own shared validation worker, forked from this process after it
    compiled the XRechnung stylesheets: a tiny budget then measures validating, not compiling
    (a worker's first file pays the compile of what it needs, einvoice.validation.budget)."""
    from einvoice.validation import budget, warm

    warm(facturx=False)
    monkeypatch.setattr(budget, "_SHARED", [])
    yield
    for workers in budget._SHARED:
        workers.close()
