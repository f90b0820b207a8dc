"""Fixtures for the finance tests: the example town with a finance section pointing at test
resources, a migrated database per test (SQLite, and PostgreSQL when EINVOICE_TEST_DATABASE_URL is
set), a real HTTP server on loopback that plays the finance system, and helpers that release
invoices through the real ApprovalService with the finance release hook."""
from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
import yaml

from devtools.finance_simulator import FinanceSimulator
from einvoice.approval import ApprovalService, Step
from einvoice.db import Database
from einvoice.db.models import InvoiceRow, utcnow
from einvoice.finance import enqueue_posting
from einvoice.finance.connectors import Outcome
from einvoice.organisation import parse_organisation
from tests.approval.conftest import TODAY, add_invoice
from tests.approval.conftest import org_data as approval_org_data

SECRET = "test-hmac-secret-not-for-production"

#: People so that every department of the example town has a separate person per step.
MORE_PEOPLE = [
    {"id": "t.fin10", "name": "Tina Fin", "grants": [{"department": "10", "role": "rechnerisch"}]},
    {"id": "u.fin51", "name": "Uwe Fin", "grants": [{"department": "51", "role": "anordnen"}]},
    {"id": "v.fin40", "name": "Vera Fin", "grants": [{"department": "40", "role": "sachlich"}]},
]


def org_data(tmp_path=None, **finance) -> dict:
    data = copy.deepcopy(approval_org_data())
    known = {p["id"] for p in data["people"]}
    data["people"].extend(p for p in MORE_PEOPLE if p["id"] not in known)
    fin = copy.deepcopy(data.get("finance", {}))
    fin.setdefault("retry", {})
    fin["retry"].update({"max_attempts": 3, "backoff_initial_seconds": 1, "backoff_factor": 2,
                         "backoff_max_seconds": 60, "lease_seconds": 30})
    if tmp_path is not None:
        fin["file"] = {"directory": str(tmp_path / "export"), "formats": ["json", "csv"]}
    for k, v in finance.items():
        if isinstance(v, dict):
            fin[k] = {**fin.get(k, {}), **v}
        else:
            fin[k] = v
    data["finance"] = fin
    return data


def make_org(tmp_path=None, **finance):
    return parse_organisation(org_data(tmp_path, **finance), "musterhausen+finance-test")


def write_org(path, data) -> str:
    path.write_text(yaml.safe_dump(json.loads(json.dumps(data, default=str)), allow_unicode=True), encoding="utf-8")
    return str(path)


@pytest.fixture
def db(database_url):
    database = Database(database_url).migrate()
    yield database
    database.dispose()


@pytest.fixture
def org(tmp_path):
    return make_org(tmp_path)


class Clock:
    """A movable UTC clock for the outbox (backoff and leases without sleeping)."""

    def __init__(self):
        self.offset = dt.timedelta(0)
        self.frozen: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        return self.frozen if self.frozen is not None else utcnow() + self.offset

    def freeze(self) -> dt.datetime:
        self.frozen = utcnow() + self.offset
        return self.frozen

    def advance(self, **kw) -> None:
        self.offset += dt.timedelta(**kw)
        if self.frozen is not None:
            self.frozen += dt.timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def approve_all(db: Database, org, invoice_id: int, hooks=None) -> str:
    """Sign every step with the first person allowed to (the service enforces every rule)."""
    svc = ApprovalService(db, org, today=lambda: TODAY,
                          on_release=hooks if hooks is not None else [lambda s, r: enqueue_posting(s, r, org)])
    for _ in range(8):
        task = svc.open_task_of(invoice_id)
        if task is None:
            break
        with db.sessions() as s:
            amount = s.get(InvoiceRow, invoice_id).amount_due
        # The service names who may decide the task today; anyone else would only be refused.
        people = list(task.candidates) + [p.id for p in org.people if p.id not in task.candidates]
        for person_id in people:
            r = svc.approve(task.task_id, person_id, amount=amount if task.step == Step.RECHNERISCH else None)
            if r.ok:
                break
            if r.refusal.rule == "RELEASE-FAILED":
                return "refused:" + r.refusal.message
        else:
            raise AssertionError(f"nobody could sign {task.step} of invoice {invoice_id}")
    with db.sessions() as s:
        return s.get(InvoiceRow, invoice_id).state


def released_invoice(db, org, **kw) -> int:
    kw.setdefault("seller_name", "Tiefbau Schmidt GmbH")
    kw.setdefault("seller_vat_id", "DE812345673")
    iban = kw.pop("iban", "DE89370400440532013000")
    invoice_id = add_invoice(db, org, **kw)
    with db.transaction() as s:
        s.get(InvoiceRow, invoice_id).iban = iban
    state = approve_all(db, org, invoice_id)
    assert state == "released", state
    return invoice_id


#: Two persons of the Stadtkasse of the example town: a payment run goes to the bank after both released it.
KASSE = ("j.krause", "v.koenig")


def pay(db: Database, org, *, output_dir, releasers=KASSE, **kw):
    """A payment run as the Kasse makes it: prepared, released by two persons (the second writes the file)."""
    from einvoice.finance import payment_run, release_payment_run

    run = payment_run(db, org, output_dir=output_dir, **kw)
    assert run.status in (None, "created") and run.path is None  # nothing goes to the bank before two releases
    if run.count:
        for person in releasers:
            result = release_payment_run(db, org, run.run_id, person, output_dir=output_dir)
            assert result.ok and result.problem is None, result
        run.path, run.status = result.path, result.status
    return run


class BookingConnector:
    """In-process stand-in for a finance system that books everything (for payment-run tests)."""

    name = "webhook"
    pushes = True
    batch = False

    def __init__(self):
        self.n = 0

    def check(self):
        return None

    def send(self, item):
        self.n += 1
        return Outcome("booked", booking_number=f"B-{item.invoice_id}")


# --------------------------------------------------------------------------------------------
# the finance system on loopback
# --------------------------------------------------------------------------------------------
class FinanceServer(FinanceSimulator):
    """The finance system on loopback (devtools.finance_simulator) with the tests' shared secret."""

    def __init__(self, secret: str = SECRET):
        super().__init__(secret)


@pytest.fixture
def finance_server():
    server = FinanceServer().start()
    yield server
    server.stop()


@pytest.fixture
def webhook_org(tmp_path, finance_server, monkeypatch):
    monkeypatch.setenv("EINVOICE_FINANCE_HMAC_SECRET", SECRET)
    return make_org(tmp_path, connector="webhook", webhook={"url": finance_server.url, "timeout_seconds": 0.5})


# --------------------------------------------------------------------------------------------
# the sample invoices, ingested by the real pipeline, released, posted
# --------------------------------------------------------------------------------------------
SAMPLES = ("01-xrechnung-ubl-invoice.xml", "02-xrechnung-ubl-creditnote.xml", "03-xrechnung-cii-invoice.xml",
           "04-facturx-en16931.pdf")


@pytest.fixture
def samples_released(db, tmp_path):
    """Samples 01–04 through IntakePipeline (archive on a directory store), released with the finance hook."""

    from archive import Archive, RetentionPolicy
    from archive.store import DirStore
    from devtools.samples import write_samples
    from einvoice.app import intake_hooks
    from einvoice.finance import release_hook
    from einvoice.intake.inbox import InboxItem
    from einvoice.pipeline import IntakePipeline

    org = make_org(tmp_path)
    inbox = tmp_path / "inbox"
    write_samples(inbox)
    store = DirStore(tmp_path / "archive")
    archive = Archive.on_store(store, policy=RetentionPolicy())
    outcomes = IntakePipeline(db, org, archive, on_record=intake_hooks()).ingest([InboxItem(n, (inbox / n).read_bytes()) for n in SAMPLES])
    ids = {o.name: o.invoice_id for o in outcomes}
    assert {o.state for o in outcomes} == {"in_approval"}, [(o.name, o.state, o.verdict) for o in outcomes]

    class _App:  # what release_hook needs from App: the organisation and the archived original
        organisation = org

        @staticmethod
        def original_bytes(row):
            return store.get(row.archive_original_key)

    for name, invoice_id in ids.items():
        assert approve_all(db, org, invoice_id, hooks=[release_hook(_App)]) == "released", name
    return {"org": org, "ids": ids, "archive": archive, "store": store}


@pytest.fixture
def samples_posted(db, samples_released, clock):
    from einvoice.finance import Outbox

    report = Outbox(db, samples_released["org"], BookingConnector(), now=clock,
                    archive=samples_released["archive"]).deliver_pending()
    assert report.delivered == len(SAMPLES) and report.archived == len(SAMPLES), report.as_dict()
    return samples_released
