"""Sign-in under attack, on SQLite and PostgreSQL (``db_app``): parallel guesses, floods, proxy spoofing.

* Parallel wrong passwords (threads calling ``auth.check_password`` with their own sessions, and
  threads posting to the real app under uvicorn on loopback) never let the right password in
  before the lockout ends, and never let more than ``max_failed_logins`` guesses reach the hash.
* A flood is refused before argon2: the hasher is wrapped and its verify() calls are counted.
* The proxy header is believed only from the trusted address, only once, and on loopback only
  with the proxy's secret — checked against uvicorn on 127.0.0.1, where every local process is
  "the proxy's address".
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from tests.web.conftest import CSRF, HTTPS, LiveServer, sign_in

GUESSES = 30


def _hash_of(app, person: str) -> str:
    from einvoice.web.tables import WebAccount

    with app.db.sessions() as s:
        return s.get(WebAccount, person).password_hash


def _account(app, person: str):
    from einvoice.web.tables import WebAccount

    with app.db.sessions() as s:
        return s.get(WebAccount, person)


def _end_lockout(app, person: str) -> None:
    from einvoice.web.tables import WebAccount

    with app.db.transaction() as s:
        s.execute(sa.update(WebAccount).where(WebAccount.person_id == person)
                  .values(locked_until=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))


def _at_once(n: int, fn):
    """Run fn(i) for i < n in n threads released together; returns the results in order."""
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait(30)
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


# --- S1: the lockout counter under parallel guesses ----------------------------------------------
def test_parallel_wrong_guesses_never_let_the_right_password_in(db_app, counting_hasher):
    """30 threads, each with its own database session, guess at once: at most 5 reach the hash,
    the account ends locked, and the right password stays refused until the lockout is over."""
    from devtools.web_demo import DEMO_PASSWORD
    from einvoice.web import auth
    from einvoice.web.auth import AuthConfig, SignInFailure

    app, _ = db_app
    cfg = AuthConfig()
    counting_hasher._cap = threading.BoundedSemaphore(4)  # 30 parallel argon2 would take ~2 GiB here
    real = _hash_of(app, "f.becker")
    results = _at_once(GUESSES, lambda i: auth.check_password(app.db, app.organisation, cfg, "f.becker", f"falsch-{i}"))
    assert all(isinstance(r, SignInFailure) for r in results)
    assert counting_hasher.calls_on(real) <= cfg.max_failed_logins
    assert len(counting_hasher.calls) == GUESSES  # the others verified the dummy hash: same work, no oracle
    acc = _account(app, "f.becker")
    assert acc.locked_until is not None
    assert auth.check_password(app.db, app.organisation, cfg, "f.becker", DEMO_PASSWORD) == SignInFailure("locked")
    _end_lockout(app, "f.becker")
    assert auth.check_password(app.db, app.organisation, cfg, "f.becker", DEMO_PASSWORD) == "f.becker"
    acc = _account(app, "f.becker")
    assert acc.failed_logins == 0 and acc.locked_until is None


def test_right_password_among_parallel_guesses_reaches_the_hash_only_within_the_budget(db_app, counting_hasher):
    """The right password hidden among 29 wrong ones: still no more than 5 of the 30 reach the
    real hash, so a guesser gets at most 5 tries per lockout however wide they fan out."""
    from devtools.web_demo import DEMO_PASSWORD
    from einvoice.web import auth
    from einvoice.web.auth import AuthConfig, SignInFailure

    app, _ = db_app
    cfg = AuthConfig()
    counting_hasher._cap = threading.BoundedSemaphore(4)
    real = _hash_of(app, "g.richter")
    right_at = GUESSES - 1
    results = _at_once(GUESSES, lambda i: auth.check_password(
        app.db, app.organisation, cfg, "g.richter", DEMO_PASSWORD if i == right_at else f"falsch-{i}"))
    assert counting_hasher.calls_on(real) <= cfg.max_failed_logins
    wrong = [r for i, r in enumerate(results) if i != right_at]
    assert all(isinstance(r, SignInFailure) for r in wrong)
    if results[right_at] != "g.richter":  # it did not get one of the 5 tries (or a wrong guess locked first)
        assert results[right_at] == SignInFailure("locked")
        assert auth.check_password(app.db, app.organisation, cfg, "g.richter", DEMO_PASSWORD) == SignInFailure("locked")


def test_parallel_wrong_passwords_over_http_lock_the_account(db_app, counting_hasher):
    """The real app under uvicorn on loopback, 30 clients posting wrong passwords at once (the
    per-process throttle is set out of the way: this is about the counter in the database)."""
    from devtools.web_demo import DEMO_PASSWORD
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, _ = db_app
    cfg = AuthConfig(cookie_secure=False, client_failures=10_000, client_attempts_per_minute=10_000, account_failures=10_000,
                     hash_wait_seconds=300)  # all 30 get their turn at the hash, however slow the machine
    real = _hash_of(app, "d.yilmaz")
    with LiveServer(create_app(app, auth_config=cfg)) as server:
        clients = [httpx.Client(base_url=server.url, timeout=60) for _ in range(GUESSES)]
        tokens = [CSRF.search(c.get("/login").text).group(1) for c in clients]

        def guess(i):
            return clients[i].post("/login", data={"username": "d.yilmaz", "password": f"falsch-{i}",
                                                   "csrf_token": tokens[i]}).status_code

        assert _at_once(GUESSES, guess) == [401] * GUESSES
        assert counting_hasher.calls_on(real) <= cfg.max_failed_logins
        assert counting_hasher.max_active <= cfg.hash_parallel  # argon2 memory stays bounded
        c = clients[0]
        token = CSRF.search(c.get("/login").text).group(1)
        r = c.post("/login", data={"username": "d.yilmaz", "password": DEMO_PASSWORD, "csrf_token": token})
        assert r.status_code == 401 and "einvoice_session" not in r.headers.get("set-cookie", "")
        _end_lockout(app, "d.yilmaz")
        token = CSRF.search(c.get("/login").text).group(1)
        r = c.post("/login", data={"username": "d.yilmaz", "password": DEMO_PASSWORD, "csrf_token": token})
        assert r.status_code == 303 and r.headers["location"] == "/inbox"
        for c in clients:
            c.close()


# --- S3: floods are refused before argon2 --------------------------------------------------------
def _client(web, address: str):
    from fastapi.testclient import TestClient

    return TestClient(web, client=(address, 50000), follow_redirects=False, base_url=HTTPS)


def test_flood_from_one_client_is_throttled_without_hash_work(db_app, counting_hasher):
    from devtools.web_demo import DEMO_PASSWORD
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, _ = db_app
    cfg = AuthConfig()
    web = create_app(app, auth_config=cfg)
    c = _client(web, "198.51.100.7")
    statuses = [sign_in(c, f"name{i}", "falsch").status_code for i in range(50)]
    assert statuses == [401] * cfg.client_failures + [429] * (50 - cfg.client_failures)
    assert len(counting_hasher.calls) == cfg.client_failures  # the refused 30 cost no argon2 at all
    r = sign_in(c, "f.becker", DEMO_PASSWORD)  # even the right password waits: the client is throttled
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "Zu viele Anmeldeversuche" in r.text
    assert len(counting_hasher.calls) == cfg.client_failures
    # Another client is not affected.
    assert sign_in(_client(web, "198.51.100.8"), "f.becker", DEMO_PASSWORD).status_code == 303

    # IPv6: one host owns its /64, so changing the interface id does not reset the count.
    before = len(counting_hasher.calls)
    v6 = [sign_in(_client(web, f"2001:db8:0:7::{i + 1:x}"), f"name{i}", "falsch").status_code for i in range(30)]
    assert v6.count(401) == cfg.client_failures and len(counting_hasher.calls) - before == cfg.client_failures


def test_flood_against_one_account_is_throttled_the_same_for_known_and_unknown_names(db_app, counting_hasher):
    """From ever new addresses: the account name's own budget stops the flood, without argon2,
    and an unknown name is answered exactly like a known one (no oracle for who has an account)."""
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, _ = db_app
    cfg = AuthConfig()
    web = create_app(app, auth_config=cfg)
    n = cfg.account_failures + 15
    outcome = {}
    for name, net in (("e.hoffmann", 1), ("niemand.hier", 2)):
        before = len(counting_hasher.calls)
        outcome[name] = [sign_in(_client(web, f"203.0.{net}.{i + 1}"), name, "falsch").status_code for i in range(n)]
        outcome[name + " hashes"] = len(counting_hasher.calls) - before
    assert outcome["e.hoffmann"] == outcome["niemand.hier"] == [401] * cfg.account_failures + [429] * 15
    assert outcome["e.hoffmann hashes"] == outcome["niemand.hier hashes"] == cfg.account_failures
    # Of the known account's 10 checks only the first 5 looked at its real hash; then it was locked.
    assert counting_hasher.calls_on(_hash_of(app, "e.hoffmann")) == cfg.max_failed_logins
    assert _account(app, "e.hoffmann").locked_until is not None


def test_parallel_sign_ins_wait_for_a_hash_slot_and_busy_is_refused(db_app, counting_hasher):
    from devtools.web_demo import DEMO_PASSWORD
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, _ = db_app
    cfg = AuthConfig(cookie_secure=False, hash_parallel=1, hash_wait_seconds=0.3)
    counting_hasher.hold = threading.Event()
    with LiveServer(create_app(app, auth_config=cfg)) as server:
        first, second = httpx.Client(base_url=server.url, timeout=60), httpx.Client(base_url=server.url, timeout=60)
        t1, t2 = (CSRF.search(c.get("/login").text).group(1) for c in (first, second))
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(first.post, "/login", data={"username": "f.becker", "password": DEMO_PASSWORD, "csrf_token": t1})
            while counting_hasher.active == 0:  # the first sign-in holds the only slot
                threading.Event().wait(0.01)
            r = second.post("/login", data={"username": "g.richter", "password": DEMO_PASSWORD, "csrf_token": t2})
            assert r.status_code == 503 and "ausgelastet" in r.text
            assert second.get("/healthz").status_code == 200  # pages are served meanwhile
            counting_hasher.hold.set()
            assert held.result(60).status_code == 303
        assert len(counting_hasher.calls) == 1  # the refused one never reached argon2
        first.close()
        second.close()


def test_sign_in_failures_are_logged_with_account_and_client_never_the_password(db_app, caplog):
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, _ = db_app
    web = create_app(app, auth_config=AuthConfig())
    with caplog.at_level(logging.INFO, logger="einvoice.web"):
        sign_in(_client(web, "192.0.2.10"), "f.becker", "Sommer2026!geheim")
        sign_in(_client(web, "192.0.2.11"), "Sommer2026!Passwort", "x")
        sign_in(_client(web, "192.0.2.12"), "f.becker")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "sign-in failed (wrong-password): account=f.becker client=192.0.2.10" in text
    # A name that is no user name (often a password typed one field too early) is not written out.
    assert "sign-in failed (unknown): account=<not a user name, 19 characters> client=192.0.2.11" in text
    assert "signed in with password: account=f.becker client=192.0.2.12" in text
    assert "sommer2026" not in text.lower() and "musterhausen-2026" not in text.lower()


def test_client_address_from_the_proxy_only_once_and_only_from_the_proxy():
    from einvoice.web.auth import AuthConfig, client_address

    cfg = AuthConfig(client_ip_header="X-Real-IP", trusted_proxies=("10.0.0.2",))
    assert client_address(cfg, "10.0.0.2", ["198.51.100.1"]) == "198.51.100.1"
    assert client_address(cfg, "10.0.0.9", ["198.51.100.1"]) == "10.0.0.9"  # not the proxy: header ignored
    assert client_address(cfg, "10.0.0.2", ["198.51.100.1", "198.51.100.2"]) == "10.0.0.2"  # repeated: the proxy
    assert client_address(cfg, "10.0.0.2", ["not an address"]) == "10.0.0.2"
    assert client_address(AuthConfig(), "10.0.0.2", ["198.51.100.1"]) == "10.0.0.2"  # no header configured
    with pytest.raises(ValueError):
        AuthConfig(client_ip_header="X-Real-IP")  # believed from nobody


# --- S2: the proxy header ------------------------------------------------------------------------
SECRET = "0123456789abcdef" * 4


def test_proxy_configuration_refuses_what_anyone_could_spoof():
    from einvoice.web.auth import AuthConfig

    with pytest.raises(ValueError, match="every local process"):
        AuthConfig(proxy_header="X-Remote-User", trusted_proxies=("127.0.0.1",))
    with pytest.raises(ValueError, match="every local process"):
        AuthConfig(proxy_header="X-Remote-User", trusted_proxies=("::1",))
    with pytest.raises(ValueError, match="every address"):
        AuthConfig(proxy_header="X-Remote-User", trusted_proxies=("0.0.0.0/0",), proxy_secret=SECRET)
    with pytest.raises(ValueError, match="32 characters"):
        AuthConfig(proxy_header="X-Remote-User", trusted_proxies=("127.0.0.1",), proxy_secret="short")
    assert AuthConfig(proxy_header="X-Remote-User", trusted_proxies=("10.0.0.2",)).local_accounts is False
    assert AuthConfig(proxy_header="X-Remote-User", trusted_proxies=("10.0.0.2",), local_accounts=True).local_accounts is True
    assert AuthConfig().local_accounts is True
    env = {"EINVOICE_WEB_PROXY_HEADER": "X-Remote-User", "EINVOICE_WEB_TRUSTED_PROXIES": "127.0.0.1",
           "EINVOICE_WEB_PROXY_SECRET": SECRET}
    cfg = AuthConfig.from_env(env)
    assert cfg.local_accounts is False and cfg.proxy_secret == SECRET
    assert AuthConfig.from_env({**env, "EINVOICE_WEB_LOCAL_ACCOUNTS": "true"}).local_accounts is True


def test_proxy_header_spoofing_fails_against_the_live_server(db_app):
    """uvicorn on 127.0.0.1 with the proxy trusted on 127.0.0.1: this test is "any local process"."""
    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, _ = db_app
    cfg = AuthConfig(proxy_header="X-Remote-User", trusted_proxies=("127.0.0.1",), proxy_secret=SECRET, cookie_secure=False)
    with LiveServer(create_app(app, auth_config=cfg)) as server:
        def get(headers):
            with httpx.Client(base_url=server.url, timeout=30) as c:
                return c.get("/inbox", headers=headers)

        proxy = [("X-Einvoice-Proxy-Secret", SECRET)]
        ok = get([("X-Remote-User", "f.becker")] + proxy)
        assert ok.status_code == 200 and "Frank Becker" in ok.text
        # A local process without the proxy's secret, or with a wrong one.
        for headers in ([("X-Remote-User", "f.becker")],
                        [("X-Remote-User", "f.becker"), ("X-Einvoice-Proxy-Secret", "x" * 64)]):
            r = get(headers)
            assert r.status_code == 400 and "Frank Becker" not in r.text
            assert "einvoice_session" not in r.headers.get("set-cookie", "")
        # The header twice: the client's copy beside the proxy's (in either order), or merged by the proxy.
        for headers in ([("X-Remote-User", "h.wolf"), ("X-Remote-User", "f.becker")],
                        [("X-Remote-User", "f.becker"), ("X-Remote-User", "h.wolf")],
                        [("X-Remote-User", "h.wolf, f.becker")]):
            r = get(headers + proxy)
            assert r.status_code == 400 and "Hans Wolf" not in r.text and "Frank Becker" not in r.text, headers
        # The secret twice is refused too (one copy could be the client's guess).
        r = get([("X-Remote-User", "f.becker"), ("X-Einvoice-Proxy-Secret", SECRET), ("X-Einvoice-Proxy-Secret", SECRET)])
        assert r.status_code == 400

        # A proxy session does not survive a later request with a doubled header.
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.get("/inbox", headers=[("X-Remote-User", "f.becker")] + proxy).status_code == 200
            r = c.get("/inbox", headers=[("X-Remote-User", "f.becker"), ("X-Remote-User", "h.wolf")] + proxy)
            assert r.status_code == 400 and "Frank Becker" not in r.text


def test_proxy_on_another_host_is_believed_only_from_its_address(db_app):
    from fastapi.testclient import TestClient

    from einvoice.web import create_app
    from einvoice.web.auth import AuthConfig

    app, _ = db_app
    web = create_app(app, auth_config=AuthConfig(proxy_header="X-Remote-User", trusted_proxies=("10.0.0.2",)))
    proxy = TestClient(web, client=("10.0.0.2", 40000), follow_redirects=False, base_url=HTTPS)
    other = TestClient(web, client=("10.0.0.3", 40000), follow_redirects=False, base_url=HTTPS)
    assert proxy.get("/inbox", headers={"X-Remote-User": "f.becker"}).status_code == 200
    assert other.get("/inbox", headers={"X-Remote-User": "f.becker"}).headers["location"] == "/login"
    proxy.cookies.clear()
    assert proxy.get("/inbox", headers=[("X-Remote-User", "h.wolf"), ("X-Remote-User", "f.becker")]).status_code == 400
    # Password sign-in is off beside the SSO (not switched on explicitly).
    token = CSRF.search(other.get("/login").text)
    assert token is None
    proxy.close()
    other.close()


def test_hash_slots_bound_the_parallel_checks_and_the_queue():
    import anyio

    from einvoice.web.throttle import HashSlots

    slots = HashSlots(1, max_waiting=1)

    async def scenario():
        assert await slots.acquire(0)  # the only slot
        results = []

        async def wait(timeout):
            results.append(await slots.acquire(timeout))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait, 5)  # waits for the slot
            await anyio.sleep(0.1)
            with anyio.fail_after(10):  # a queued caller would wait the full 60 s
                assert await slots.acquire(60) is False  # the queue is full: refused at once
            slots.release()
        assert results == [True]
        slots.release()
        assert await slots.acquire(0)
        assert await slots.acquire(0.05) is False  # nobody releases: refused after the wait
        slots.release()

    anyio.run(scenario)
