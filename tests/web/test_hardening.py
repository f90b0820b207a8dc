"""The rest of the web inbox's penetration-test findings, on SQLite and PostgreSQL (``db_app``):

* seed-web-demo refuses every database that is not a demo database (function and CLI);
* the treasury sees what ``web/access.py`` says (its Freigabe step, released/posted/paid) and no
  more — not every invoice of the department its grant happens to name;
* redirects never carry the Host header; HSTS and Secure cookies by default;
* ids out of range are "not found", never a database error;
* free text has a length limit (German refusal, nothing stored, nothing typed lost), forms a size limit.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from einvoice.settings import REPO_EXAMPLE_ORG
from tests.web.conftest import HTTPS, csrf_of, insert_invoice, sign_in

ROOT = Path(__file__).resolve().parents[2]


def _client(app, person: str | None = None, *, base_url: str = HTTPS, cfg=None):
    from fastapi.testclient import TestClient

    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    c = TestClient(create_app(app, auth_config=cfg or AuthConfig()), follow_redirects=False, base_url=base_url)
    if person:
        r = sign_in(c, person)
        assert r.status_code == 303, r.text
    return c


def _events(app, invoice_id: int) -> list[str]:
    return [e.action for e in app.approval.history(invoice_id)]


# --- S4: seed-web-demo -----------------------------------------------------------------------------
def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EINVOICE_DATABASE_URL": database_url, "EINVOICE_ORGANISATION": str(REPO_EXAMPLE_ORG),
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", "from devtools.cli import main; main()", "seed-web-demo", *args],
                          env=env, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


def test_seed_demo_refuses_a_database_in_use(database_url):
    from devtools.web_demo import DEMO_PASSWORD, NotADemoDatabase, mark_demo_database, seed_demo_accounts
    from einvoice.app import App
    from einvoice.settings import Settings
    from einvoice.web.auth import AuthConfig, check_password, set_password

    app = App(Settings(database_url=database_url, organisation_file=REPO_EXAMPLE_ORG, s3_endpoint=None,
                       archive_bucket=None, signing_key_file=None))
    try:
        insert_invoice(app, "10", "RE-1", "100.00")
        set_password(app.db, app.organisation, "f.becker", "ein echtes langes Passwort")
        with pytest.raises(NotADemoDatabase) as exc:
            seed_demo_accounts(app.db, app.organisation)
        assert exc.value.rule == "DEMO-DATABASE-REQUIRED"
        with pytest.raises(NotADemoDatabase) as exc:
            mark_demo_database(app.db)
        assert exc.value.rule == "DEMO-DATABASE-NOT-EMPTY"

        r = _cli(database_url)
        assert r.returncode == 2 and "refused [DEMO-DATABASE-REQUIRED]" in r.stderr and DEMO_PASSWORD not in r.stdout
        r = _cli(database_url, "--new-demo-database")
        assert r.returncode == 2 and "refused [DEMO-DATABASE-NOT-EMPTY]" in r.stderr
        # Nothing changed: the real password still works, the demo password does not.
        cfg = AuthConfig()
        assert check_password(app.db, app.organisation, cfg, "f.becker", "ein echtes langes Passwort") == "f.becker"
        assert check_password(app.db, app.organisation, cfg, "g.richter", DEMO_PASSWORD) != "g.richter"
        assert check_password(app.db, app.organisation, cfg, "f.becker", DEMO_PASSWORD) != "f.becker"
    finally:
        app.db.dispose()


def test_seed_demo_on_a_fresh_demo_database(tmp_path):
    """A fresh database is declared a demo once (--new-demo-database); then seed-web-demo may run again."""
    from devtools.web_demo import DEMO_PASSWORD, is_demo_database
    from einvoice.app import App
    from einvoice.settings import Settings
    from einvoice.web.auth import AuthConfig, check_password

    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    r = _cli(url)
    assert r.returncode == 2 and "DEMO-DATABASE-REQUIRED" in r.stderr  # even an empty database needs the explicit flag
    r = _cli(url, "--new-demo-database")
    assert r.returncode == 0, r.stderr
    assert "f.becker" in r.stdout and DEMO_PASSWORD in r.stdout
    assert _cli(url).returncode == 0
    app = App(Settings(database_url=url, organisation_file=REPO_EXAMPLE_ORG, s3_endpoint=None, archive_bucket=None,
                       signing_key_file=None))
    try:
        assert is_demo_database(app.db)
        assert check_password(app.db, app.organisation, AuthConfig(), "f.becker", DEMO_PASSWORD) == "f.becker"
    finally:
        app.db.dispose()


# --- S5: what the treasury sees ----------------------------------------------------------------
def test_treasury_sees_its_freigabe_and_released_invoices_not_its_departments_everything(db_app):
    """j.krause holds only a treasury grant, filed under department 20 (Kämmerei). access.py: the
    treasury sees invoices waiting for its Freigabe and released/posted/paid ones, in every
    department — not department 20's invoices at the factual or arithmetic check."""
    from einvoice.web import access

    app, _ = db_app
    svc = app.approval
    kaemmerei = insert_invoice(app, "20", "RE-20-1", "310.00")  # at sachlich
    open66 = insert_invoice(app, "66", "RE-66-7", "420.00")  # at sachlich
    at_freigabe = insert_invoice(app, "66", "RE-66-8", "530.00")
    for person, amount in (("a.schulz", None), ("b.keller", svc.open_task_of(at_freigabe).amount_due), ("c.wagner", None)):
        result = svc.approve(svc.open_task_of(at_freigabe).task_id, person, amount=amount)
        assert result.ok, result.refusal
    assert svc.open_task_of(at_freigabe).step.value == "freigabe"
    released = insert_invoice(app, "40", "RE-40-9", "640.00", state="released")

    krause = _client(app, "j.krause")
    for inv in (kaemmerei, open66):
        assert krause.get(f"/invoices/{inv}").status_code == 404, inv
        before = _events(app, inv)
        r = krause.post(f"/invoices/{inv}/comment", data={"csrf_token": csrf_of(krause), "text": "gesehen"})
        assert r.status_code == 404 and _events(app, inv) == before
    for inv in (at_freigabe, released):
        assert krause.get(f"/invoices/{inv}").status_code == 200, inv
    r = krause.post(f"/invoices/{at_freigabe}/comment", data={"csrf_token": csrf_of(krause), "text": "Zahlung heute"})
    assert r.status_code == 303 and _events(app, at_freigabe)[-1] == "comment"
    assert krause.get("/overview?department=20").status_code == 403  # no departmental grant at all
    assert krause.get("/treasury").status_code == 200

    # The same rule, straight from access.py, for everyone: the treasury-only grant opens nothing more.
    org, today = app.organisation, svc.today()
    v = access.viewer(org, "j.krause", today)
    assert v.departments == frozenset() and v.treasury
    # Those with departmental grants in 20, and the central desk, still see department 20's invoice.
    for person in ("i.neumann", "h.wolf", "k.lange"):
        assert _client(app, person).get(f"/invoices/{kaemmerei}").status_code == 200, person
    assert _client(app, "f.becker").get(f"/invoices/{kaemmerei}").status_code == 404


# --- redirects, HSTS, cookies ------------------------------------------------------------------
def test_host_header_is_never_reflected(db_app):
    app, _ = db_app
    c = _client(app, base_url="https://evil.example")
    locations = []
    for path in ("/", "/inbox", "/inbox/", "/login/", "/invoices/1/"):
        r = c.get(path, headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"})
        assert r.status_code in (303, 404), (path, r.status_code)
        locations.append(r.headers.get("location", ""))
    r = sign_in(c, "f.becker")
    locations.append(r.headers["location"])
    locations.append(c.get("/login").headers["location"])
    locations.append(c.post("/logout", data={"csrf_token": csrf_of(c)}).headers["location"])
    assert all(not loc or (loc.startswith("/") and not loc.startswith("//")) for loc in locations), locations
    assert not any("evil" in loc for loc in locations)
    assert c.get("/inbox/").status_code == 404  # no slash redirect (Starlette would build it from the Host header)


def test_location_headers_are_made_relative():
    from einvoice.web.middleware import _relative

    assert _relative("/inbox?done=approve") == "/inbox?done=approve"
    assert _relative("https://evil.example/inbox?x=1") == "/inbox?x=1"
    assert _relative("http://evil.example//evil.example/x") == "/evil.example/x"
    assert _relative("//evil.example/x") == "/x"


def test_hsts_and_secure_cookies_by_default(db_app):
    app, _ = db_app
    c = _client(app)
    r = sign_in(c, "f.becker")
    assert r.headers["strict-transport-security"] == "max-age=31536000"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("__Host-einvoice_session="))
    assert "; Secure" in cookie and "HttpOnly" in cookie
    assert "strict-transport-security" in c.get("/inbox").headers


# --- ids, text and form size -------------------------------------------------------------------
def test_ids_out_of_range_are_not_found(db_app):
    app, ids = db_app
    c = _client(app, "f.becker")
    token = csrf_of(c)
    huge = "12345678901234567890"
    inv = ids["10"]
    task = app.approval.open_task_of(inv).task_id
    for path in (f"/invoices/{huge}", f"/invoices/{huge}/original", f"/invoices/{inv}/attachments/{huge}",
                 "/invoices/999999999999999999", "/invoices/2147483648", "/invoices/2147483647", "/invoices/-1",
                 "/invoices/1e3", "/invoices/abc"):
        r = c.get(path)
        assert r.status_code == 404 and "Nicht gefunden" in r.text, path
    for path in (f"/tasks/{huge}/approve", f"/tasks/{huge}/reject", f"/invoices/{huge}/comment",
                 "/tasks/2147483648/approve", "/tasks/2147483647/approve"):
        r = c.post(path, data={"csrf_token": token, "reason": "x", "text": "x"})
        assert r.status_code == 404 and "Nicht gefunden" in r.text, path
    assert app.approval.open_task_of(inv).task_id == task


def test_comment_length_limit_in_german_and_nothing_lost(db_app):
    from einvoice.web.forms import MAX_FORM_BYTES, MAX_TEXT

    app, ids = db_app
    inv = ids["10"]
    c = _client(app, "f.becker")
    limit = MAX_TEXT["text"][0]
    before = _events(app, inv)
    text = "Bitte Lieferschein prüfen. " * (limit // 20)
    assert len(text) > limit
    r = c.post(f"/invoices/{inv}/comment", data={"csrf_token": csrf_of(c), "text": text})
    assert r.status_code == 409 and "TEXT-TOO-LONG" in r.text and "Der Kommentar ist zu lang" in r.text
    assert f"höchstens {limit:,}".replace(",", ".") in r.text
    assert text[:200] in r.text  # the form keeps what was typed
    assert _events(app, inv) == before
    task = app.approval.open_task_of(inv).task_id
    r = c.post(f"/tasks/{task}/reject", data={"csrf_token": csrf_of(c), "reason": "x" * (MAX_TEXT["reason"][0] + 1)})
    assert r.status_code == 409 and "Die Begründung ist zu lang" in r.text
    assert app.approval.open_task_of(inv).task_id == task
    r = c.post(f"/invoices/{inv}/comment", data={"csrf_token": csrf_of(c), "text": "x" * limit})
    assert r.status_code == 303 and _events(app, inv)[-1] == "comment"
    # A body beyond any legitimate form is refused before it is parsed.
    before = _events(app, inv)
    r = c.post(f"/invoices/{inv}/comment", data={"csrf_token": csrf_of(c), "text": "x" * (MAX_FORM_BYTES + 1)})
    assert r.status_code == 413 and "zu groß" in r.text
    assert _events(app, inv) == before


def test_chunked_form_beyond_the_limit_is_cut_off(db_app):
    """A body without Content-Length (chunked) is counted as it arrives (uvicorn on loopback)."""
    import httpx

    from devtools.web_demo import DEMO_PASSWORD
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig
    from einvoice.web.forms import MAX_FORM_BYTES
    from tests.web.conftest import CSRF, LiveServer

    app, ids = db_app
    inv = ids["10"]
    before = _events(app, inv)
    with LiveServer(create_app(app, auth_config=AuthConfig(cookie_secure=False))) as server, \
            httpx.Client(base_url=server.url, timeout=30) as c:
        token = CSRF.search(c.get("/login").text).group(1)
        assert c.post("/login", data={"username": "f.becker", "password": DEMO_PASSWORD, "csrf_token": token}).status_code == 303
        token = CSRF.search(c.get("/inbox").text).group(1)

        def body():
            yield f"csrf_token={token}&text=".encode()
            for _ in range(MAX_FORM_BYTES // 1024 + 2):
                yield b"x" * 1024

        r = c.post(f"/invoices/{inv}/comment", content=body(), headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413 and "zu groß" in r.text
    assert _events(app, inv) == before
