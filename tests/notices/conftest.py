"""Fixtures for supplier notices: a real SMTP server on loopback (aiosmtpd), the example town with
notices configured to send through it, a real archive on SeaweedFS, a migrated database per test
(SQLite, and PostgreSQL when EINVOICE_TEST_DATABASE_URL is set), and the project's own samples."""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

import pytest

from einvoice.db import Database
from einvoice.organisation import parse_organisation
from tests.finance.conftest import Clock, org_data

FROM = "rechnungseingang@musterhausen.example"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class MailSink:
    """What the loopback SMTP server accepted; recipients in ``refuse`` get 550."""

    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 queued"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, sink
    finally:
        controller.stop()


def notice_org(port: int, **notices):
    return parse_organisation(notice_org_data(port, **notices), "musterhausen+notices-test")


def notice_org_data(port: int, **notices) -> dict:
    data = org_data()
    cfg = {"from_address": FROM, "contact": "Zentrale Rechnungseingangsstelle, 02999 123-456",
           "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout_seconds": 5},
           "retry": {"max_attempts": 3, "backoff_initial_seconds": 60, "backoff_factor": 2,
                     "backoff_max_seconds": 600, "lease_seconds": 60}}
    for k, v in notices.items():
        cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) else v
    data["notices"] = cfg
    return data


@pytest.fixture
def db(database_url):
    database = Database(database_url).migrate()
    yield database
    database.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def archive_key():
    from archive import signing

    return signing.generate()


@pytest.fixture
def archive(s3, bucket_name, archive_key):
    from archive import Archive, RetentionPolicy

    Archive.init_bucket(s3, bucket_name)
    arch = Archive(s3, bucket_name, signing_key=archive_key, policy=RetentionPolicy())
    yield arch
    arch.close()


@pytest.fixture(scope="session")
def samples(tmp_path_factory):
    from devtools.samples import write_samples

    d = tmp_path_factory.mktemp("samples")
    write_samples(d)
    return {p.name: p.read_bytes() for p in d.iterdir() if p.name != "manifest.json"}
