import pytest


def pytest_configure(config):
    # Registered here (not in pyproject.toml, which this package does not own) so --strict-markers accepts it.
    config.addinivalue_line("markers", "prefect_server: starts a real Prefect server, deploys prefect.yaml and runs a "
                                       "process worker (deselect with -m 'not prefect_server')")


@pytest.fixture(autouse=True)
def _quiet_prefect(monkeypatch):
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "WARNING")
