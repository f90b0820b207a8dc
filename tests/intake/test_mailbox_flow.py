"""The ``process-mailbox`` flow under a Prefect test server: an artifact per run, and a mailbox that
cannot be reached turns the run red with the reason."""
from __future__ import annotations

import socket

import pytest

from devtools.dovecot import DOVECOT
from tests.intake.helpers import append, folder_contents, message
from tests.intake.helpers import organisation_file as _organisation

pytestmark = [pytest.mark.s3, pytest.mark.prefect,
              pytest.mark.skipif(DOVECOT is None, reason="Dovecot is not installed (`make mailserver`)")]


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield



def test_flow_reads_the_mailbox_and_fails_red_when_it_is_unreachable(prefect_server, app, mailbox, samples,
                                                                    tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.process_mailbox import process_mailbox

    _organisation(tmp_path, monkeypatch, mailbox, mailbox.imaps_port)
    append(mailbox, message(("rechnung.xml", samples["01-xrechnung-ubl-invoice.xml"])).as_bytes())
    append(mailbox, message(("scan.pdf", samples["14-plain.pdf"])).as_bytes())
    state = process_mailbox(return_state=True)
    assert state.is_completed() and state.name == "Needs attention", state  # the no-invoice mail: tell the supplier
    result = state.result()
    assert sorted(m["kind"] for m in result) == ["invoice", "no-invoice"]
    assert folder_contents(mailbox)["INBOX"] == []

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    _organisation(tmp_path, monkeypatch, mailbox, dead)
    state = process_mailbox(return_state=True)
    assert state.is_failed()
    assert "MAIL-CONNECT" in state.message and f"127.0.0.1:{dead}" in state.message

    import asyncio

    async def artifacts():
        async with get_client() as c:
            return await c.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["mailbox-run"])))

    found = asyncio.run(artifacts())
    assert any("FAILED: MAIL-CONNECT" in (a.description or "") for a in found)
    assert any("2 messages" in (a.description or "") for a in found)


def test_flow_leaves_the_mailbox_unread_while_archive_writers_are_paused(prefect_server, app, mailbox, samples,
                                                                        tmp_path, monkeypatch):
    import flows.process_mailbox as pm

    _organisation(tmp_path, monkeypatch, mailbox, mailbox.imaps_port)
    append(mailbox, message(("rechnung.xml", samples["03-xrechnung-cii-invoice.xml"])).as_bytes())
    monkeypatch.setattr(pm, "archive_writes_paused", lambda: True)
    state = pm.process_mailbox(return_state=True)
    assert state.is_completed() and state.name == "Needs attention" and "not archived" in state.message
    assert state.result() == [] and len(folder_contents(mailbox)["INBOX"]) == 1
