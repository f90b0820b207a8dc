"""Fixtures for the web inbox tests: the sample invoices ingested for real (validation, routing,
SeaweedFS archive, SQLite), demo sign-ins, a TestClient per person and a live uvicorn server.

The ingested world is module-scoped (ingesting runs the validator); tests that change approval
state say so and use invoices no other test in the module relies on. ``db_app`` is the same
without the archive, on every database (SQLite, and PostgreSQL with EINVOICE_TEST_DATABASE_URL);
``counting_hasher`` counts (and can hold up) the argon2 verifications of ``einvoice.web.auth``.
"""
from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
import uuid
from decimal import Decimal

import pytest

from einvoice.settings import REPO_EXAMPLE_ORG, Settings

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

#: The sample files used here and where they are routed (see devtools.samples / test_end_to_end).
SAMPLES = {
    "tiefbau": "01-xrechnung-ubl-invoice.xml",  # 66 Tiefbauamt
    "schulamt": "02-xrechnung-ubl-creditnote.xml",  # 40 Schulamt
    "hauptamt": "03-xrechnung-cii-invoice.xml",  # 10 Hauptamt
    "jugendamt": "04-facturx-en16931.pdf",  # 51 Jugendamt
    "rejected": "12-broken-no-leitweg-id.xml",  # rejected, no department
}


def make_app(database_url: str, bucket: str, s3_endpoint: str | None, organisation_file=REPO_EXAMPLE_ORG):
    from einvoice.app import App

    return App(Settings(database_url=database_url, organisation_file=organisation_file,
                        s3_endpoint=s3_endpoint, archive_bucket=bucket, signing_key_file=None))


@pytest.fixture(scope="module")
def world(seaweedfs, tmp_path_factory):
    """An App with the samples ingested and demo passwords set; yields (app, {key: invoice id}, inbox dir)."""
    from archive import Archive
    from devtools.samples import write_samples
    from devtools.web_demo import mark_demo_database, seed_demo_accounts
    from einvoice.intake.inbox import list_inbox, read_inbox_file

    mp = pytest.MonkeyPatch()
    for name, value in seaweedfs.env().items():
        mp.setenv(name, value)
    tmp = tmp_path_factory.mktemp("web")
    bucket = f"t-{uuid.uuid4().hex[:20]}"
    Archive.init_bucket(seaweedfs.client(), bucket)
    app = make_app(f"sqlite:///{tmp / 'web.sqlite'}", bucket, seaweedfs.endpoint)
    mark_demo_database(app.db)
    inbox = tmp / "inbox"
    write_samples(inbox)
    wanted = set(SAMPLES.values())
    outcomes = app.intake.ingest([read_inbox_file(p) for p in list_inbox(inbox) if p.name in wanted])
    ids = {key: next(o.invoice_id for o in outcomes if o.name == name) for key, name in SAMPLES.items()}
    seed_demo_accounts(app.db, app.organisation)
    try:
        yield app, ids, inbox
    finally:
        app.db.dispose()
        mp.undo()


@pytest.fixture(scope="module")
def web(world):
    """The app with the default sign-in settings (HTTPS: Secure "__Host-" cookies, HSTS)."""
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, _, _ = world
    # Every TestClient comes from the same address ("testclient"), so the per-client sign-in
    # limits would count the whole module as one flood; they have their own tests (test_signin.py).
    return create_app(app, auth_config=AuthConfig(client_attempts_per_minute=100_000, client_failures=100_000))


#: TestClient base URL for the default (HTTPS) configuration: Secure cookies are sent over https only.
HTTPS = "https://testserver"
SESSION_COOKIE = "__Host-einvoice_session"
LOGIN_COOKIE = "__Host-einvoice_login"


def sign_in(client, person: str, password: str | None = None):
    from devtools.web_demo import DEMO_PASSWORD

    token = CSRF.search(client.get("/login").text).group(1)
    return client.post("/login", data={"username": person, "password": password or DEMO_PASSWORD, "csrf_token": token},
                       follow_redirects=False)


@pytest.fixture
def client_for(web):
    """client_for("f.becker") -> a signed-in TestClient (not following redirects)."""
    from fastapi.testclient import TestClient

    clients = []

    def make(person: str | None = None, app=None):
        c = TestClient(app or web, follow_redirects=False, base_url=HTTPS)
        clients.append(c)
        if person:
            r = sign_in(c, person)
            assert r.status_code == 303 and r.headers["location"] == "/inbox", r.text
        return c

    yield make
    for c in clients:
        c.close()


def csrf_of(client, path: str = "/inbox") -> str:
    return CSRF.search(client.get(path).text).group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an ASGI app on a free loopback port, in a thread."""

    def __init__(self, asgi_app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(asgi_app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def live_server(world):
    """uvicorn over plain HTTP on loopback (as the demo): cookies without Secure, said explicitly."""
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, _, _ = world
    with LiveServer(create_app(app, auth_config=AuthConfig(cookie_secure=False))) as server:
        yield server


def insert_invoice(app, department: str, number: str, amount: str, state: str = "in_approval") -> int:
    """An invoice as intake would store it (approval started when in_approval); returns its id."""
    from einvoice.approval import start_approval
    from einvoice.db.models import InvoiceEvent, InvoiceRow

    today = dt.date.today()
    with app.db.transaction() as s:
        row = InvoiceRow(file_sha256=uuid.uuid4().hex + uuid.uuid4().hex, filename=f"{number}.xml", channel="test", size=1,
                      state=state, verdict="valid", invoice_number=number, seller_name="Muster GmbH", currency="EUR",
                      amount_due=Decimal(amount), issue_date=today, due_date=today + dt.timedelta(days=20),
                      skonto_until=today + dt.timedelta(days=3), skonto_percent=Decimal("2.00"), department=department,
                      leitweg_id=f"05999000-{department}-00")
        s.add(row)
        s.flush()
        s.add(InvoiceEvent(invoice_id=row.id, actor="system", action="received", to_state=state))
        start_approval(s, row, app.organisation)
        return row.id


@pytest.fixture
def db_app(database_url):
    """An App without archive on ``database_url`` (a demo database: demo passwords set), with one
    invoice in approval in department 66 and one in 10; yields (app, {department: invoice id})."""
    from devtools.web_demo import mark_demo_database, seed_demo_accounts
    from einvoice.app import App

    app = App(Settings(database_url=database_url, organisation_file=REPO_EXAMPLE_ORG, s3_endpoint=None,
                       archive_bucket=None, signing_key_file=None))
    mark_demo_database(app.db)
    ids = {dept: insert_invoice(app, dept, f"RE-{dept}-1", "1190.00") for dept in ("66", "10")}
    seed_demo_accounts(app.db, app.organisation)
    yield app, ids
    app.db.dispose()


class CountingHasher:
    """Wraps auth's PasswordHasher: counts verify() calls per hash, the most running at once, and
    can cap how many run at once (``parallel``: keeps a 30-thread test from taking 30 x 64 MiB)."""

    def __init__(self, inner, parallel: int | None = None):
        self.inner = inner
        self.calls: list[str] = []
        self.active = self.max_active = 0
        self.hold: threading.Event | None = None  # set by a test: verify() waits for it
        self._lock = threading.Lock()
        self._cap = threading.BoundedSemaphore(parallel) if parallel else None

    def verify(self, digest, password):
        with self._lock:
            self.calls.append(digest)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.hold is not None:
                self.hold.wait(30)
            if self._cap is None:
                return self.inner.verify(digest, password)
            with self._cap:
                return self.inner.verify(digest, password)
        finally:
            with self._lock:
                self.active -= 1

    def calls_on(self, digest: str) -> int:
        return sum(1 for d in self.calls if d == digest)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def counting_hasher(monkeypatch):
    from einvoice.web import auth

    hasher = CountingHasher(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", hasher)
    return hasher
