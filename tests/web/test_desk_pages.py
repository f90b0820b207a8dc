"""The desk's pages and actions over HTTP (issue #17): who may open them, CSRF on the forms without
an id in the path, and a bulk decision that never names or decides another department's invoice.
Runs on SQLite and, with EINVOICE_TEST_DATABASE_URL, on PostgreSQL (``db_app``)."""
from __future__ import annotations

import pytest

from tests.web.conftest import HTTPS, csrf_of, sign_in


@pytest.fixture
def web_app(db_app):
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, ids = db_app
    return create_app(app, auth_config=AuthConfig(client_attempts_per_minute=100_000, client_failures=100_000)), app, ids


@pytest.fixture
def client_for(web_app):
    from fastapi.testclient import TestClient

    web, _, _ = web_app
    clients = []

    def make(person: str):
        c = TestClient(web, follow_redirects=False, base_url=HTTPS)
        clients.append(c)
        assert sign_in(c, person).status_code == 303
        return c

    yield make
    for c in clients:
        c.close()


def test_only_the_central_desk_sees_the_rejected_documents(client_for):
    r = client_for("a.schulz").get("/desk/documents")
    assert r.status_code == 403 and "Rechnungseingangsstelle" in r.text
    r = client_for("h.wolf").get("/desk/documents?state=rejected&channel=nichts&page=x")
    assert r.status_code == 200 and "Keine abgewiesenen Dokumente" in r.text


def test_forms_without_an_id_in_the_path_need_the_csrf_token(client_for, web_app):
    _, app, ids = web_app
    c = client_for("a.schulz")
    task = app.approval.open_task_of(ids["66"]).task_id
    for path, data in (("/inbox/bulk-approve", {"step": "sachlich", f"t{task}": "on"}),
                       ("/vertretung", {"substitute": "b.keller", "valid_from": "2099-01-01", "valid_to": "2099-01-02"})):
        for token in (None, "forged-" + "x" * 40):
            r = c.post(path, data=data if token is None else {**data, "csrf_token": token})
            assert r.status_code == 403 and "CSRF" in r.text, path
    assert app.approval.open_task_of(ids["66"]).task_id == task and app.approval.substitutes_of("a.schulz") == []


def test_bulk_approval_never_names_or_decides_a_foreign_invoice(client_for, web_app):
    _, app, ids = web_app
    c = client_for("f.becker")  # Hauptamt (10); the other invoice belongs to 66
    own = app.approval.open_task_of(ids["10"]).task_id
    foreign = app.approval.open_task_of(ids["66"]).task_id
    r = c.post("/inbox/bulk-approve", data={"csrf_token": csrf_of(c), "step": "sachlich", f"t{own}": "on",
                                            f"t{foreign}": "on", "t999999": "on"})
    assert r.status_code == 200
    assert "1</strong> Entscheidung erfasst" in r.text and "2</strong> abgelehnt" in r.text
    assert r.text.count("NO-SUCH-TASK") == 2 and "RE-66-1" not in r.text and "RE-10-1" in r.text
    assert app.approval.open_task_of(ids["66"]).task_id == foreign  # untouched
    assert app.approval.open_task_of(ids["10"]).step.value == "rechnerisch"
    # A step that is not the chain's is refused before anything happens.
    r = c.post("/inbox/bulk-approve", data={"csrf_token": csrf_of(c), "step": "irgendwas", f"t{own}": "on"})
    assert r.status_code == 400
