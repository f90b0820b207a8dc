"""The staff view of the e-mails the outbox sent or holds (einvoice.web.notices_view, routes/notices.py):
on the invoice page each notice with kind, recipient, status and time in Europe/Berlin; the central
desk's page of notices waiting for a person (dead letters, no address). Real intake over SeaweedFS,
a real SMTP server on loopback that refuses the supplier's mailbox (aiosmtpd), the real app.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml

from tests.web.conftest import HTTPS, make_app, sign_in

pytestmark = pytest.mark.s3


@pytest.fixture
def smtp_server():
    """The loopback SMTP server of the notices tests (tests/notices/conftest.py)."""
    from aiosmtpd.controller import Controller

    from tests.notices.conftest import MailSink, free_port

    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, sink
    finally:
        controller.stop()


@pytest.fixture
def notice_world(seaweedfs, tmp_path, smtp_server, monkeypatch):
    from archive import Archive
    from devtools.samples import write_samples
    from devtools.web_demo import mark_demo_database, seed_demo_accounts
    from einvoice.intake.inbox import read_inbox_file
    from tests.notices.conftest import notice_org_data

    controller, sink = smtp_server
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    org_file = tmp_path / "org.yaml"
    org_file.write_text(yaml.safe_dump(notice_org_data(controller.port), allow_unicode=True), encoding="utf-8")
    bucket = f"t-{uuid.uuid4().hex[:20]}"
    Archive.init_bucket(seaweedfs.client(), bucket)
    app = make_app(f"sqlite:///{tmp_path / 'web.sqlite'}", bucket, seaweedfs.endpoint, organisation_file=org_file)
    mark_demo_database(app.db)
    write_samples(tmp_path / "inbox")
    names = ("12-broken-no-leitweg-id.xml", "14-plain.pdf")  # a rejection to a known address; no address at all
    outcomes = app.intake.ingest([read_inbox_file(tmp_path / "inbox" / n) for n in names])
    seed_demo_accounts(app.db, app.organisation)
    yield app, {o.name: o.invoice_id for o in outcomes}, sink
    app.db.dispose()


def _client(app, person: str):
    from fastapi.testclient import TestClient

    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    c = TestClient(create_app(app, auth_config=AuthConfig(client_attempts_per_minute=100_000, client_failures=100_000)),
                   follow_redirects=False, base_url=HTTPS)
    assert sign_in(c, person).status_code == 303
    return c


def test_invoice_page_and_desk_list_show_notices_with_berlin_time(notice_world):
    from einvoice.notices import NoticeOutbox
    from einvoice.notices.tables import SupplierNotice

    app, ids, sink = notice_world
    rejected, plain = ids["12-broken-no-leitweg-id.xml"], ids["14-plain.pdf"]
    desk = _client(app, "h.wolf")  # zentrale Rechnungseingangsstelle
    page = desk.get(f"/invoices/{rejected}")
    assert page.status_code == 200
    section = page.text[page.text.index('id="notices"'):]
    assert "Zurückweisung an den Lieferanten" in section and "wartet auf Versand" in section

    with app.db.sessions() as s:
        address = json.loads(s.scalar(sa.select(SupplierNotice.addresses_json).where(
            SupplierNotice.invoice_id == rejected)))["electronic_address"]
    sink.refuse.add(address)  # the supplier's mail server refuses: a dead letter at once
    report = NoticeOutbox(app.db, app.organisation).send_pending()
    assert (report.dead, report.no_address) == (1, 1)
    with app.db.sessions() as s:
        dead_at = s.scalar(sa.select(SupplierNotice.updated_at).where(SupplierNotice.invoice_id == rejected))
    berlin = (dead_at if dead_at.tzinfo else dead_at.replace(tzinfo=dt.timezone.utc)).astimezone(ZoneInfo("Europe/Berlin"))

    section = desk.get(f"/invoices/{rejected}").text.split('id="notices"', 1)[1].split("</section>", 1)[0]
    assert "nicht zustellbar" in section and address in section and "NOTICE-SMTP-REFUSED" in section
    assert berlin.strftime("%d.%m.%Y %H:%M") in section

    lst = desk.get("/notices")
    assert lst.status_code == 200 and "Nicht zugestellte Benachrichtigungen" in lst.text
    rows = lst.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert f'href="/invoices/{rejected}"' in rows and f'href="/invoices/{plain}"' in rows
    assert "keine E-Mail-Adresse" in rows and "nicht zustellbar" in rows and rows.count("<tr") == 2
    assert 'href="/notices"' in desk.get("/inbox").text  # in the desk's navigation
    from tests.web.test_clerks import _visible_text
    from tests.wording import foreign_words

    # The list and the notices section are German (the trail's notice events and the findings are
    # the outbox's and the validator's texts, outside this view).
    for html in (lst.text, *(desk.get(f"/invoices/{i}").text.split('id="notices"', 1)[1].split("</section>", 1)[0]
                             for i in (rejected, plain))):
        assert foreign_words(_visible_text(html), "de") == set()

    # Others: no desk list (403), and no notices of invoices they may not see (404).
    clerk = _client(app, "a.schulz")
    assert clerk.get("/notices").status_code == 403
    assert clerk.get(f"/invoices/{rejected}").status_code == 404
    assert 'href="/notices"' not in clerk.get("/inbox").text

    # Settled by a person: off the list.
    assert NoticeOutbox(app.db, app.organisation).settle_sent(
        report.results[0].notice_id if report.results[0].outcome == "dead" else report.results[1].notice_id,
        "h.wolf", comment="Lieferant telefonisch informiert") is None
    rows = desk.get("/notices").text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert f'href="/invoices/{rejected}"' not in rows and rows.count("<tr") == 1
