"""Authorisation, CSRF, sign-in and sessions of the web inbox (TestClient over the real app).

Every route that names an invoice or task refuses a person without a grant in its department
(404: the invoice's existence is not even confirmed), every POST refuses a missing, forged or
foreign CSRF token (403), and neither refusal changes anything. Sign-in failures all look the
same; sessions end on sign-out, on idle timeout and on a password change.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging

import pytest
import sqlalchemy as sa
import yaml

from tests.web.conftest import HTTPS, LOGIN_COOKIE, SESSION_COOKIE, csrf_of, make_app, sign_in

pytestmark = pytest.mark.s3


def _events(app, invoice_id: int) -> list[str]:
    return [e.action for e in app.approval.history(invoice_id)]


def _open_task(app, invoice_id: int) -> int:
    return app.approval.open_task_of(invoice_id).task_id


def _post_routes(app, invoice_id: int) -> list[tuple[str, dict]]:
    task_id = _open_task(app, invoice_id)
    return [
        (f"/tasks/{task_id}/approve", {"amount": "1", "comment": "x"}),
        (f"/tasks/{task_id}/reject", {"reason": "x"}),
        (f"/tasks/{task_id}/send-back", {"reason": "x"}),
        (f"/tasks/{task_id}/forward", {"department": "20"}),
        (f"/invoices/{invoice_id}/comment", {"text": "x"}),
        (f"/invoices/{invoice_id}/override-duplicate", {"reason": "x"}),
        (f"/tasks/{task_id}/delegate", {"to": "c.wagner"}),
        (f"/invoices/{invoice_id}/hold", {"reason": "x", "until": "2099-01-01"}),
        (f"/invoices/{invoice_id}/hold/release", {}),
        (f"/desk/documents/{invoice_id}/reopen", {"reason": "x"}),
    ]


# --- signing in -------------------------------------------------------------------------------
def test_pages_need_sign_in(world, client_for):
    app, ids, _ = world
    c = client_for()
    inv = ids["hauptamt"]
    for path in ("/", "/inbox", "/desk", "/overview", "/treasury", f"/invoices/{inv}", f"/invoices/{inv}/original",
                 f"/invoices/{inv}/attachments/0"):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    before = _events(app, inv)
    for path, data in _post_routes(app, inv):
        r = c.post(path, data={**data, "csrf_token": "x"})
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    assert _events(app, inv) == before


def test_sign_in_failures_look_the_same_and_lock_the_account(world, client_for):
    from devtools.web_demo import DEMO_PASSWORD, seed_demo_accounts

    app, _, _ = world
    c = client_for()
    wrong = sign_in(c, "j.krause", "not the password")
    unknown = sign_in(c, "nobody.here", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    msg = lambda r: r.text.split('role="alert">')[1].split("<")[0]  # noqa: E731
    assert msg(wrong) == msg(unknown) and "Anmeldung fehlgeschlagen" in msg(wrong)
    assert SESSION_COOKIE not in c.cookies

    # Without the sign-in form's own CSRF token (cookie + field), nothing is even checked.
    r = c.post("/login", data={"username": "j.krause", "password": DEMO_PASSWORD})
    assert r.status_code == 403

    # Five failures lock the account: then even the right password is refused for a while.
    for _ in range(4):
        assert sign_in(c, "j.krause", "still wrong").status_code == 401
    assert sign_in(c, "j.krause", DEMO_PASSWORD).status_code == 401
    seed_demo_accounts(app.db, app.organisation)  # resets the lock (as set-password does)
    assert sign_in(c, "j.krause").status_code == 303


def test_session_cookie_is_httponly_lax_and_secure_unless_plain_http(world):
    from fastapi.testclient import TestClient

    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, _, _ = world
    for secure in (False, True):
        c = TestClient(create_app(app, auth_config=AuthConfig(cookie_secure=secure)), follow_redirects=False,
                       base_url=HTTPS if secure else "http://testserver")
        r = sign_in(c, "f.becker")
        cookie = next(h for h in r.headers.get_list("set-cookie") if "einvoice_session=" in h and "Max-Age=0" not in h)
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert ("Secure" in cookie) is secure
        assert cookie.startswith("__Host-") is secure
        # HSTS only where the cookies are Secure (HTTPS); plain HTTP on loopback must say so explicitly.
        assert ("max-age=" in r.headers.get("strict-transport-security", "")) is secure
        c.close()
    assert AuthConfig().cookie_secure and AuthConfig.from_env({}).cookie_secure
    assert not AuthConfig.from_env({"EINVOICE_WEB_PLAIN_HTTP": "true"}).cookie_secure


def test_sign_out_and_idle_timeout_end_the_session(world, client_for):
    from einvoice.web.tables import WebSession

    app, _, _ = world
    c = client_for("f.becker")
    cookie = dict(c.cookies)
    r = c.post("/logout", data={"csrf_token": csrf_of(c)})
    assert r.status_code == 303 and r.headers["location"] == "/login?bye=1"
    c.cookies.clear()
    c.cookies.update(cookie)  # replaying the old cookie does not help
    assert c.get("/inbox").headers["location"] == "/login"

    c = client_for("f.becker")
    assert c.get("/inbox").status_code == 200
    token_hash = hashlib.sha256(c.cookies[SESSION_COOKIE].encode()).hexdigest()
    with app.db.transaction() as s:  # 31 minutes without a request (idle timeout 30)
        s.execute(sa.update(WebSession).where(WebSession.person_id == "f.becker")
                  .values(last_seen_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=31)))
    assert c.get("/inbox").headers["location"] == "/login"
    with app.db.sessions() as s:
        assert s.get(WebSession, token_hash) is None  # expired sessions are deleted, not just ignored


def test_password_change_ends_sessions(world, client_for):
    from devtools.web_demo import DEMO_PASSWORD
    from einvoice.web.auth import set_password

    app, _, _ = world
    c = client_for("g.richter")
    assert c.get("/inbox").status_code == 200
    with pytest.raises(ValueError):
        set_password(app.db, app.organisation, "g.richter", "short")
    with pytest.raises(ValueError):
        set_password(app.db, app.organisation, "not.a.person", "long enough password")
    set_password(app.db, app.organisation, "g.richter", "ein neues langes Passwort")
    assert c.get("/inbox").headers["location"] == "/login"
    assert sign_in(c, "g.richter", DEMO_PASSWORD).status_code == 401
    assert sign_in(c, "g.richter", "ein neues langes Passwort").status_code == 303
    set_password(app.db, app.organisation, "g.richter", DEMO_PASSWORD)


PROXY_SECRET = "s" * 40


def test_proxy_header_is_believed_only_from_trusted_proxies(world):
    from fastapi.testclient import TestClient

    from devtools.web_demo import DEMO_PASSWORD
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, ids, _ = world
    with pytest.raises(ValueError):
        AuthConfig(proxy_header="X-Remote-User")  # no trusted proxy: refused at start-up
    cfg = AuthConfig(proxy_header="X-Remote-User", trusted_proxies=("127.0.0.1/32",), proxy_secret=PROXY_SECRET)
    assert cfg.local_accounts is False  # SSO on: password sign-in is off unless switched on explicitly
    web = create_app(app, auth_config=cfg)
    proxy = TestClient(web, client=("127.0.0.1", 40000), follow_redirects=False, base_url=HTTPS,
                       headers={"X-Einvoice-Proxy-Secret": PROXY_SECRET})
    r = proxy.get("/inbox", headers={"X-Remote-User": "f.becker"})
    assert r.status_code == 200 and "Frank Becker" in r.text
    # The session follows the header: a different user from the proxy gets a different session.
    r = proxy.get("/inbox", headers={"X-Remote-User": "d.yilmaz"})
    assert r.status_code == 200 and "Deniz Yilmaz" in r.text
    assert proxy.get("/inbox", headers={"X-Remote-User": "unknown.person"}).status_code == 303
    # A proxy session lasts only while the proxy keeps vouching for that person.
    assert proxy.get("/inbox", headers={"X-Remote-User": "d.yilmaz"}).status_code == 200
    assert proxy.get("/inbox").headers["location"] == "/login"
    proxy.cookies.clear()

    outsider = TestClient(web, client=("10.1.2.3", 40000), follow_redirects=False, base_url=HTTPS)
    assert outsider.get("/inbox", headers={"X-Remote-User": "f.becker"}).headers["location"] == "/login"
    # Knowing the secret does not help from an address that is not the proxy's.
    assert outsider.get("/inbox", headers={"X-Remote-User": "f.becker",
                                           "X-Einvoice-Proxy-Secret": PROXY_SECRET}).headers["location"] == "/login"
    # With local accounts switched off there is no password form, and posting one is refused.
    login_page = outsider.get("/login")
    assert 'name="password"' not in login_page.text
    token = outsider.cookies[LOGIN_COOKIE]
    assert outsider.post("/login", data={"username": "f.becker", "password": DEMO_PASSWORD, "csrf_token": token}).status_code == 403
    proxy.close()
    outsider.close()


# --- seeing invoices ----------------------------------------------------------------------------
def test_every_route_refuses_another_departments_invoice(world, client_for):
    app, ids, _ = world
    c = client_for("f.becker")  # Hauptamt (10) and Jugendamt (51) only
    token = csrf_of(c)
    for key in ("tiefbau", "schulamt", "rejected"):
        inv = ids[key]
        for path in (f"/invoices/{inv}", f"/invoices/{inv}/original", f"/invoices/{inv}/attachments/0"):
            r = c.get(path)
            assert r.status_code == 404, path
            assert "Nicht gefunden" in r.text
    inv = ids["tiefbau"]
    before = _events(app, inv)
    task_before = _open_task(app, inv)
    for path, data in _post_routes(app, inv):
        r = c.post(path, data={**data, "csrf_token": token})
        assert r.status_code == 404, path
    assert _events(app, inv) == before and _open_task(app, inv) == task_before
    # Task and invoice ids that do not exist look the same as foreign ones.
    assert c.get("/invoices/999999").status_code == 404
    assert c.post("/tasks/999999/approve", data={"csrf_token": token}).status_code == 404
    # Lists never show other departments' invoices.
    assert f"/invoices/{inv}\"" not in c.get("/inbox").text
    assert f"/invoices/{inv}\"" not in c.get("/overview?department=66").text
    assert c.get("/desk").status_code == 403


def test_every_post_refuses_missing_forged_or_foreign_csrf(world, client_for):
    app, ids, _ = world
    inv = ids["hauptamt"]
    c = client_for("f.becker")
    other = client_for("g.richter")
    foreign = csrf_of(other)
    assert foreign != csrf_of(c)
    before = _events(app, inv)
    for path, data in _post_routes(app, inv) + [("/logout", {})]:
        for token in (None, "", "forged-" + "x" * 40, foreign):
            payload = dict(data) if token is None else {**data, "csrf_token": token}
            r = c.post(path, data=payload)
            assert r.status_code == 403, (path, token)
            assert "CSRF" in r.text
    assert _events(app, inv) == before
    assert c.get("/inbox").status_code == 200  # still signed in: the forged logout did nothing


def test_auditor_reads_everything_but_may_not_act(world, client_for):
    app, ids, _ = world
    c = client_for("k.lange")
    inv = ids["tiefbau"]
    r = c.get(f"/invoices/{inv}")
    assert r.status_code == 200 and "AUDITOR-READ-ONLY" in r.text
    assert "Sachlich richtig bestätigen" not in r.text
    before = _events(app, inv)
    r = c.post(f"/tasks/{_open_task(app, inv)}/approve", data={"csrf_token": csrf_of(c)})
    assert r.status_code == 409 and "AUDITOR-READ-ONLY" in r.text
    assert _events(app, inv) == before
    assert c.get("/overview?department=66").status_code == 200
    assert c.get("/treasury").status_code == 200


def test_central_desk_sees_rejected_and_all_departments(world, client_for):
    _, ids, _ = world
    c = client_for("h.wolf")
    assert c.get("/desk").status_code == 200
    for key in ("rejected", "tiefbau", "schulamt"):
        assert c.get(f"/invoices/{ids[key]}").status_code == 200, key
    r = c.get(f"/invoices/{ids['rejected']}")
    assert "BR-DE-15" in r.text  # the validation report explains the rejection


def test_treasury_view_is_for_the_treasury(world, client_for):
    assert client_for("j.krause").get("/treasury").status_code == 200
    assert client_for("a.schulz").get("/treasury").status_code == 403


def test_deputy_sees_absent_colleagues_tasks(world, client_for, tmp_path):
    """b.keller stands in for a.schulz (Tiefbauamt, sachlich) while she is away."""
    from einvoice.settings import REPO_EXAMPLE_ORG
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, ids, _ = world
    data = yaml.safe_load(REPO_EXAMPLE_ORG.read_text(encoding="utf-8"))
    today = dt.date.today()
    data["deputies"] = [{"person": "a.schulz", "deputy": "b.keller", "absent_from": today - dt.timedelta(days=1),
                         "absent_to": today + dt.timedelta(days=5)}]
    org_file = tmp_path / "org.yaml"
    org_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    away = make_app(app.settings.database_url, app.settings.archive_bucket, app.settings.s3_endpoint, org_file)
    c = client_for("b.keller", app=create_app(away, auth_config=AuthConfig()))
    r = c.get("/inbox")
    assert f'href="/invoices/{ids["tiefbau"]}"' in r.text
    normal = client_for("b.keller").get("/inbox")
    assert f'href="/invoices/{ids["tiefbau"]}"' not in normal.text
    away.db.dispose()


# --- lists, search, logging -------------------------------------------------------------------
def test_inbox_search_by_supplier_number_amount_and_leitweg_id(world, client_for):
    app, ids, _ = world
    c = client_for("a.schulz")  # Tiefbauamt, sachlich
    inv = ids["tiefbau"]
    link = f'href="/invoices/{inv}"'
    with app.db.sessions() as s:
        from einvoice.db.models import InvoiceRow
        row = s.get(InvoiceRow, inv)
    german_amount = f"{row.amount_due:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    for q in ("tiefbau schmidt", row.invoice_number, str(row.amount_due), german_amount, "05999000-66-70"):
        assert link in c.get("/inbox", params={"q": q}).text, q
    for q in ("no such supplier", "0,01", "05999000-40-51"):
        assert link not in c.get("/inbox", params={"q": q}).text, q
    assert link in c.get("/inbox", params={"step": "sachlich", "department": "66"}).text
    assert link not in c.get("/inbox", params={"step": "anordnung"}).text


def test_access_log_has_route_templates_and_no_invoice_content(world, client_for, caplog):
    app, ids, _ = world
    c = client_for("a.schulz")
    with app.db.sessions() as s:
        from einvoice.db.models import InvoiceRow
        number = s.get(InvoiceRow, ids["tiefbau"]).invoice_number
    with caplog.at_level(logging.INFO, logger="einvoice.web.access"):
        c.get("/inbox", params={"q": number})
        c.get(f"/invoices/{ids['tiefbau']}")
        c.post(f"/invoices/{ids['tiefbau']}/comment", data={"csrf_token": "forged", "text": "Tiefbau Schmidt"})
    lines = [r.getMessage() for r in caplog.records if r.name == "einvoice.web.access"]
    assert any(line.startswith("GET /inbox 200 user=a.schulz") for line in lines), lines
    assert any(line.startswith("GET /invoices/{invoice_id} 200 user=a.schulz") for line in lines), lines
    assert any(line.startswith("POST /invoices/{invoice_id}/comment 403 user=a.schulz") for line in lines), lines
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert number not in everything and "Tiefbau" not in everything and "Schmidt" not in everything


def test_security_headers(world, client_for):
    r = client_for("a.schulz").get("/inbox")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
