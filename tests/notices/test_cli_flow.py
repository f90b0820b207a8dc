"""``einvoice notices`` and the ``send-notices`` flow against a real SMTP server on loopback, a real
archive on SeaweedFS and a real Prefect server (test harness)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.finance.conftest import write_org
from tests.notices.conftest import free_port, notice_org_data

pytestmark = pytest.mark.s3

REJECTED, PLAIN_PDF = "12-broken-no-leitweg-id.xml", "14-plain.pdf"


@pytest.fixture
def env(tmp_path, monkeypatch, seaweedfs, bucket_name, database_url):
    from archive import Archive

    key = Ed25519PrivateKey.generate()
    (tmp_path / "signing.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    for k, v in seaweedfs.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("EINVOICE_DATABASE_URL", database_url)
    monkeypatch.setenv("EINVOICE_ARCHIVE_BUCKET", bucket_name)
    monkeypatch.setenv("EINVOICE_ARCHIVE_SIGNING_KEY", str(tmp_path / "signing.pem"))
    Archive.init_bucket(seaweedfs.client(), bucket_name)
    return tmp_path


def _use_org(env, monkeypatch, port, name="org.yaml", **notices):
    monkeypatch.setenv("EINVOICE_ORGANISATION", write_org(env / name, notice_org_data(port, **notices)))


def _inbox(env, samples, names, sub="inbox"):
    d = env / sub
    d.mkdir()
    for n in names:
        (d / n).write_bytes(samples[n])
    return d


def _cli(*args):
    from einvoice.cli import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_notices_cli_send_list_retry(env, monkeypatch, samples, smtp_server):
    controller, sink = smtp_server
    _use_org(env, monkeypatch, controller.port)
    assert _cli("ingest", str(_inbox(env, samples, [REJECTED, PLAIN_PDF]))).exit_code == 0
    r = _cli("notices", "send")
    assert r.exit_code == 1, r.output  # one notice has no address: a person must act
    assert "1 sent" in r.output and "1 without address" in r.output and "1 archived" in r.output
    assert len(sink.messages) == 1
    sent = json.loads(_cli("notices", "list", "--status", "sent", "--format", "json").output)
    shown = _cli("notices", "show", str(sent[0]["id"])).output
    assert "Subject: Rechnung nicht angenommen" in shown and "English version" in shown
    assert "[attachment pruefbericht.html (text/html)]" in shown
    assert _cli("notices", "show", "999").exit_code == 2
    waiting = json.loads(_cli("notices", "list", "--attention", "--format", "json").output)
    assert [(w["kind"], w["status"], w["filename"]) for w in waiting] == [("not_an_invoice", "no_address", PLAIN_PDF)]
    r = _cli("notices", "retry", str(waiting[0]["id"]), "--person", "a.schulz", "--to", "x@lieferant.example")
    assert r.exit_code == 1 and "NOTICE-ROLE" in r.output
    r = _cli("notices", "retry", str(waiting[0]["id"]), "--person", "h.wolf", "--to", "x@lieferant.example")
    assert r.exit_code == 0, r.output
    r = _cli("notices", "send")
    assert r.exit_code == 0 and "1 sent" in r.output, r.output
    assert sink.messages[-1].rcpt_tos == ["x@lieferant.example"] and len(sink.messages) == 2
    assert _cli("notices", "send").output.startswith("0 sent")  # nothing twice
    assert "no notices need a person" in _cli("notices", "list", "--attention").output


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.mark.prefect
def test_send_notices_flow_needs_attention_and_fails_when_the_mail_server_is_down(
        prefect_server, env, monkeypatch, samples, smtp_server, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the flow is orchestration only; its PostgreSQL path is the outbox's, tested above")
    from flows.common import app
    from flows.send_notices import send_notices

    controller, sink = smtp_server
    _use_org(env, monkeypatch, controller.port)
    app().intake.ingest([__import__("einvoice.intake.inbox", fromlist=["InboxItem"]).InboxItem(n, samples[n])
                         for n in (REJECTED, PLAIN_PDF)])
    state = send_notices(return_state=True)
    assert state.is_completed() and state.name == "Needs attention", state
    assert "1 supplier notice for a person" in state.message
    assert len(sink.messages) == 1
    assert state.result()["archived"] == 1 and state.result()["sent"] == 1
    # a second run sends nothing again
    assert send_notices(return_state=True).result()["sent"] == 0 and len(sink.messages) == 1

    # the mail server goes away: a new rejected file cannot be told, the run is red with the reason
    _use_org(env, monkeypatch, free_port(), name="org-down.yaml")
    from einvoice.intake.inbox import InboxItem

    other = samples[REJECTED].replace(b"</cbc:Note>", b" (2)</cbc:Note>", 1)
    if other == samples[REJECTED]:
        other = samples[REJECTED] + b"\n<!-- second file -->\n"
    app().intake.ingest([InboxItem("again.xml", other)])
    state = send_notices(return_state=True)
    assert state.is_failed() and "the mail server cannot be used" in state.message, state
    assert "NOTICE-SMTP-CONNECT" in state.message


def test_send_notices_flow_step_queues_and_sends_approver_notifications(env, monkeypatch, samples, smtp_server):
    """The send-notices flow's step (called as a plain function here: the Prefect run itself is the
    test above) queues the approver e-mails of a new task once and sends them with the notices."""
    from einvoice.notices import notice_outbox_for_app
    from einvoice.pipeline import InboxItem
    from flows.common import app
    from flows.send_notices import queue_task_notifications

    controller, sink = smtp_server
    _use_org(env, monkeypatch, controller.port, approvers={"enabled": True})
    outcome = app().intake.ingest([InboxItem("01-xrechnung-ubl-invoice.xml", samples["01-xrechnung-ubl-invoice.xml"])])[0]
    assert outcome.state == "in_approval"  # 66 Tiefbauamt: Anna Schulz certifies the sachliche Richtigkeit
    assert queue_task_notifications() == 1 and queue_task_notifications() == 0
    report = notice_outbox_for_app(app(), archive=False).send_pending()
    assert report.sent == 1 and [m.rcpt_tos for m in sink.messages] == [["a.schulz@musterhausen.example"]]
    assert b"X-Einvoice-Notice: task_new" in sink.messages[0].data
