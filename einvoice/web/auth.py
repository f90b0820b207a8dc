"""Who is signed in: local accounts (argon2), a trusted reverse-proxy header (SSO), sessions, CSRF.

Two ways to sign in, both ending in a server-side session (``WebSession``) whose random token sits
in an HttpOnly, SameSite=Lax cookie (``Secure`` and ``__Host-`` unless plain HTTP is explicitly
configured for local development) and whose CSRF token every form carries:

* local accounts: ``einvoice web set-password`` stores an argon2id hash; sign-in failures all get
  the same message, an unknown user costs the same hash work as a wrong password, and repeated
  failures lock the account for a while. Every attempt is counted *before* any hash work, in one
  atomic UPDATE, so parallel guesses cannot outrun the lock (see ``check_password``);
* a reverse proxy that already authenticated the user (Keycloak, Shibboleth, AD FS ...) passes the
  person id in a configurable header. Off by default; the header is believed only from the listed
  proxy addresses, only when it comes exactly once, and — when the proxy talks to us over
  loopback, which every local process shares — only together with the proxy's shared secret.
  With the proxy on, password sign-in is off unless explicitly switched on as well.

Throttling per client and per account before any hash work lives in ``einvoice.web.throttle``.
This module must never log or store a password or a session token in clear text, and never let a
person in who is not in the organisation file (that file, not the account table, says who has
which grant).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from einvoice.db import Database
from einvoice.db.models import as_utc, utcnow
from einvoice.organisation import Organisation
from einvoice.problems import Problem
from einvoice.web.tables import WebAccount, WebSession

log = logging.getLogger(__name__)


_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4)
# Verified when the user name is unknown, so "no such user" takes as long as "wrong password".
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


#: Header carrying the proxy's shared secret (``proxy_secret``); the proxy sets it, clients cannot know it.
PROXY_SECRET_HEADER = "X-Einvoice-Proxy-Secret"
#: What a person id looks like (the organisation file's pattern), for the proxy header and the logs.
PERSON_ID = re.compile(r"^[a-z0-9._-]{1,64}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_LOOPBACK = {4: ipaddress.ip_network("127.0.0.0/8"), 6: ipaddress.ip_network("::1/128")}


def _flag(env: dict[str, str], name: str, default: bool | None) -> bool | None:
    v = env.get(name)
    if v is None or not v.strip():
        return default
    v = v.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={v!r} is neither true nor false")


@dataclass(frozen=True)
class AuthConfig:
    """How people sign in. ``from_env`` reads ``EINVOICE_WEB_*``.

    The defaults are for HTTPS (Secure cookies, HSTS); the loopback demo and local development
    over plain HTTP say so explicitly (``cookie_secure=False``, ``EINVOICE_WEB_PLAIN_HTTP=true``).
    """

    local_accounts: bool | None = None  # None: on, unless the proxy sign-in (SSO) is on
    proxy_header: str | None = None  # e.g. "X-Remote-User"; None = proxy sign-in off
    trusted_proxies: tuple[str, ...] = ()  # IPs / CIDRs of the reverse proxy (its headers are believed)
    proxy_secret: str | None = None  # the proxy sends it in PROXY_SECRET_HEADER; required for loopback proxies
    client_ip_header: str | None = None  # e.g. "X-Real-IP" set by the trusted proxy: the client address for throttling
    cookie_secure: bool = True  # Secure + "__Host-" cookies and HSTS; False only for plain-HTTP development
    idle_timeout: dt.timedelta = dt.timedelta(minutes=30)
    max_session_age: dt.timedelta = dt.timedelta(hours=12)
    max_failed_logins: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    # Throttling before any argon2 work (einvoice.web.throttle), per process.
    client_failures: int = 20  # failed sign-ins per client address within throttle_window
    # Failed sign-ins per account name (as typed) within throttle_window. Above max_failed_logins on
    # purpose: the lock in the database comes first (and is lifted by set-password), this only
    # keeps a flood against one name from costing argon2 work per attempt once the lock is on.
    account_failures: int = 10
    client_attempts_per_minute: int = 60  # sign-in attempts (right or wrong) per client address and minute
    throttle_window: dt.timedelta = dt.timedelta(minutes=15)
    hash_parallel: int = 2  # argon2 verifications at once (64 MiB each); more wait briefly, then are refused
    hash_wait_seconds: float = 10.0  # waiting holds no worker thread (see throttle.HashSlots)
    _networks: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self):
        nets = tuple(ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies)
        object.__setattr__(self, "_networks", nets)
        if self.local_accounts is None:
            # SSO on: passwords would be a second, weaker door beside it, so they stay shut unless asked for.
            object.__setattr__(self, "local_accounts", not self.proxy_header)
        for name in ("proxy_header", "client_ip_header"):
            value = getattr(self, name)
            if value is not None and not _HEADER_NAME.match(value):
                raise ValueError(f"{name} {value!r} is not a header name")
        if (self.proxy_header or self.client_ip_header) and not nets:
            raise ValueError("a proxy header is set but trusted_proxies is empty: the header would be believed from nobody")
        for n in nets:
            if n.prefixlen == 0:
                raise ValueError(f"trusted_proxies {n} would believe the proxy headers from every address; list the proxy's own")
        if self.proxy_secret is not None and len(self.proxy_secret) < 32:
            raise ValueError("proxy_secret must have at least 32 characters (e.g. `openssl rand -hex 32`)")
        if self.proxy_header and self.proxy_secret is None and any(n.overlaps(_LOOPBACK[n.version]) for n in nets):
            raise ValueError("a loopback proxy address is trusted without proxy_secret: every local process could then sign in "
                             "as anyone by sending the header; set EINVOICE_WEB_PROXY_SECRET(_FILE) and have the proxy send it")
        if self.hash_parallel < 1:
            raise ValueError("hash_parallel must be at least 1")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> AuthConfig:
        env = dict(os.environ if env is None else env)

        def text(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        secret = text("EINVOICE_WEB_PROXY_SECRET")
        if secret is None and text("EINVOICE_WEB_PROXY_SECRET_FILE"):
            secret = Path(text("EINVOICE_WEB_PROXY_SECRET_FILE")).read_text(encoding="utf-8").strip()
        proxies = tuple(p.strip() for p in (env.get("EINVOICE_WEB_TRUSTED_PROXIES") or "").split(",") if p.strip())
        plain = _flag(env, "EINVOICE_WEB_PLAIN_HTTP", False)
        # EINVOICE_WEB_COOKIE_SECURE=false is the older spelling of EINVOICE_WEB_PLAIN_HTTP=true.
        secure = not plain and _flag(env, "EINVOICE_WEB_COOKIE_SECURE", True)
        ints = {key: int(env[var]) for key, var in (
            ("client_failures", "EINVOICE_WEB_SIGNIN_FAILURES_PER_CLIENT"),
            ("client_attempts_per_minute", "EINVOICE_WEB_SIGNIN_ATTEMPTS_PER_MINUTE"),
            ("hash_parallel", "EINVOICE_WEB_HASH_PARALLEL"),
        ) if (env.get(var) or "").strip()}
        return cls(
            local_accounts=_flag(env, "EINVOICE_WEB_LOCAL_ACCOUNTS", None),
            proxy_header=text("EINVOICE_WEB_PROXY_HEADER"),
            trusted_proxies=proxies,
            proxy_secret=secret,
            client_ip_header=text("EINVOICE_WEB_CLIENT_IP_HEADER"),
            cookie_secure=secure,
            idle_timeout=dt.timedelta(minutes=int(env.get("EINVOICE_WEB_IDLE_MINUTES", "30"))),
            **ints,
        )

    @property
    def cookie_name(self) -> str:
        # "__Host-": the browser only accepts it with Secure, Path=/ and no Domain (no subdomain can plant it).
        return "__Host-einvoice_session" if self.cookie_secure else "einvoice_session"

    @property
    def login_cookie_name(self) -> str:
        return "__Host-einvoice_login" if self.cookie_secure else "einvoice_login"

    def is_trusted_proxy(self, peer: str | None) -> bool:
        """Is ``peer`` (the TCP peer address, never a header) one of the configured proxies?"""
        if not peer or not self._networks:
            return False
        try:
            addr = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(addr in n for n in self._networks)

    def trusts(self, peer: str | None) -> bool:
        return bool(self.proxy_header) and self.is_trusted_proxy(peer)


@dataclass(frozen=True)
class ProxyRefusal(Problem):
    """Why a proxy header was not believed (for the log; ``bad_request``: answer 400, not just 'not signed in')."""

    bad_request: bool = False


def proxy_claim(cfg: AuthConfig, peer: str | None, values: list[str], secrets_given: list[str]) -> str | None | ProxyRefusal:
    """The person id the proxy vouches for, None if the request carries no claim, or why it is refused.

    ``values`` are *all* copies of ``cfg.proxy_header`` in the request and ``secrets_given`` all
    copies of ``PROXY_SECRET_HEADER``: a proxy that appends instead of replacing would forward the
    client's copy beside its own, so anything but exactly one copy is refused.
    """
    if not cfg.proxy_header or not values:
        return None
    if not cfg.trusts(peer):
        return ProxyRefusal("PROXY-UNTRUSTED-ADDRESS", "the request does not come from a trusted proxy address")
    if len(values) != 1:
        return ProxyRefusal("PROXY-HEADER-REPEATED", "the proxy header is missing or repeated", bad_request=True)
    if cfg.proxy_secret is not None and (
            len(secrets_given) != 1 or not hmac.compare_digest(secrets_given[0].strip().encode(), cfg.proxy_secret.encode())):
        return ProxyRefusal("PROXY-SECRET", "the proxy secret header is missing, repeated or wrong",
                            bad_request=True)
    claimed = values[0].strip().lower()
    if not claimed:
        return None
    if not PERSON_ID.match(claimed):
        # "a, b" (a proxy that merged two copies) or anything else that is no person id.
        return ProxyRefusal("PROXY-NOT-A-PERSON", "the proxy header names no person id", bad_request=True)
    return claimed


def client_address(cfg: AuthConfig, peer: str | None, forwarded: list[str]) -> str:
    """The client's address for throttling and logs: the TCP peer, or — only when the peer is a
    trusted proxy — the one copy of ``cfg.client_ip_header`` it set. Never a header from anyone else."""
    peer = peer or "unknown"
    if not cfg.client_ip_header or not cfg.is_trusted_proxy(peer):
        return peer
    if len(forwarded) != 1:
        return peer  # missing or repeated: throttled as the proxy itself (stricter, never laxer)
    try:
        return str(ipaddress.ip_address(forwarded[0].strip()))
    except ValueError:
        return peer


def loggable_account(name: str) -> str:
    """The account name as typed, for logs: only if it looks like a person id (a password typed
    into the name field mostly does not), else just its length."""
    return name if PERSON_ID.match(name or "") else f"<not a user name, {len(name or '')} characters>"


# --- accounts -------------------------------------------------------------------------------
def set_password(db: Database, org: Organisation, person_id: str, password: str) -> None:
    """Create or change the local account of a person of the organisation file."""
    try:
        org.person(person_id)
    except KeyError:
        raise ValueError(f"{person_id!r} is not a person in the organisation file of {org.name}") from None
    if len(password) < 12:
        raise ValueError("the password must have at least 12 characters")
    digest = _hasher.hash(password)
    with db.transaction() as s:
        acc = s.get(WebAccount, person_id)
        if acc is None:
            s.add(WebAccount(person_id=person_id, password_hash=digest, failed_logins=0))
        else:
            acc.password_hash, acc.failed_logins, acc.locked_until = digest, 0, None
        # A new password ends every session of the old one.
        s.execute(sa.delete(WebSession).where(WebSession.person_id == person_id))


@dataclass(frozen=True)
class SignInFailure:
    reason: str  # unknown | wrong-password | locked | not-in-organisation (for the log, never the page)


GENERIC_FAILURE = "Anmeldung fehlgeschlagen: Benutzername oder Passwort ist falsch, oder das Konto ist vorübergehend gesperrt."

_ACCOUNTS = WebAccount.__table__


def _not_locked(now: dt.datetime):
    return sa.or_(_ACCOUNTS.c.locked_until.is_(None), _ACCOUNTS.c.locked_until <= now)


def check_password(db: Database, org: Organisation, cfg: AuthConfig, person_id: str, password: str) -> str | SignInFailure:
    """The person id if the password is right, else why not (the page shows one generic sentence).

    Every attempt first takes one of the account's ``max_failed_logins`` tries in a single
    ``UPDATE ... SET failed_logins = failed_logins + 1 ... RETURNING`` (atomic on PostgreSQL and
    SQLite alike: the database serialises writers on the row or the file), and only then looks at
    the password. So however many guesses run in parallel, at most ``max_failed_logins`` of them
    reach the real hash before the account is locked, and a right password that arrives while (or
    after) a parallel guess locked the account is refused too. A right password gives the tries
    back. Unknown, locked and over-budget attempts verify a dummy hash: every answer costs the same
    argon2 work, so the timing does not tell whether an account exists.
    """
    now = utcnow()
    hit, exists = None, False
    if person_id:
        with db.transaction() as s:
            hit = s.execute(
                sa.update(_ACCOUNTS).where(_ACCOUNTS.c.person_id == person_id, _not_locked(now))
                .values(failed_logins=_ACCOUNTS.c.failed_logins + 1)
                .returning(_ACCOUNTS.c.failed_logins, _ACCOUNTS.c.password_hash)).one_or_none()
            exists = hit is not None or s.scalar(sa.select(_ACCOUNTS.c.person_id).where(_ACCOUNTS.c.person_id == person_id)) is not None
    if hit is None:
        _verify(_DUMMY_HASH, password)
        return SignInFailure("locked" if person_id and exists else "unknown")
    tries, digest = hit
    if tries > cfg.max_failed_logins:
        # Parallel guesses used up the tries before this one got its turn: lock, without looking.
        _lock(db, cfg, person_id, now)
        _verify(_DUMMY_HASH, password)
        return SignInFailure("locked")
    if not _verify(digest, password):
        if tries >= cfg.max_failed_logins:
            _lock(db, cfg, person_id, now)
        return SignInFailure("wrong-password")
    try:
        org.person(person_id)
    except KeyError:
        return SignInFailure("not-in-organisation")
    with db.transaction() as s:
        # Give the tries back, unless a parallel wrong guess locked the account in the meantime.
        cleared = s.execute(sa.update(_ACCOUNTS).where(_ACCOUNTS.c.person_id == person_id, _not_locked(utcnow()))
                            .values(failed_logins=0, locked_until=None).returning(_ACCOUNTS.c.person_id)).one_or_none()
        if cleared is None:
            return SignInFailure("locked")
        if _hasher.check_needs_rehash(digest):
            s.execute(sa.update(_ACCOUNTS).where(_ACCOUNTS.c.person_id == person_id)
                      .values(password_hash=_hasher.hash(password)))
    return person_id


def _lock(db: Database, cfg: AuthConfig, person_id: str, now: dt.datetime) -> None:
    """Lock the account for ``cfg.lockout`` (unless it is locked already: parallel guesses do not extend it)."""
    with db.transaction() as s:
        s.execute(sa.update(_ACCOUNTS).where(_ACCOUNTS.c.person_id == person_id, _not_locked(now))
                  .values(locked_until=now + cfg.lockout, failed_logins=0))


def _verify(digest: str, password: str) -> bool:
    try:
        return _hasher.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


# --- sessions -------------------------------------------------------------------------------
def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionInfo:
    person_id: str
    csrf_token: str
    token_sha256: str
    via: str


def create_session(db: Database, person_id: str, via: str) -> tuple[str, SessionInfo]:
    """A fresh session (new token at every sign-in: no session fixation); returns (cookie token, info)."""
    token = secrets.token_urlsafe(32)
    info = SessionInfo(person_id, secrets.token_urlsafe(32), _digest(token), via)
    with db.transaction() as s:
        s.add(WebSession(token_sha256=info.token_sha256, person_id=person_id, csrf_token=info.csrf_token, via=via))
    return token, info


#: last_seen_at is written at most this often: a page view should not always cost a write.
TOUCH_EVERY = dt.timedelta(seconds=60)


def load_session(db: Database, cfg: AuthConfig, token: str | None) -> SessionInfo | None:
    """The session of this cookie, or None if unknown, idle too long or too old (then it is deleted)."""
    if not token or len(token) > 128:
        return None
    key = _digest(token)
    now = utcnow()
    with db.sessions() as s:
        row = s.get(WebSession, key)
        if row is None:
            return None
        last, created = as_utc(row.last_seen_at), as_utc(row.created_at)
        if now - last > cfg.idle_timeout or now - created > cfg.max_session_age:
            s.delete(row)
            s.commit()
            return None
        if now - last > TOUCH_EVERY:
            row.last_seen_at = now
            s.commit()
        return SessionInfo(row.person_id, row.csrf_token, row.token_sha256, row.via)


def end_session(db: Database, token_sha256: str) -> None:
    with db.transaction() as s:
        s.execute(sa.delete(WebSession).where(WebSession.token_sha256 == token_sha256))


def purge_expired(db: Database, cfg: AuthConfig) -> int:
    """Delete sessions idle longer than the timeout (called now and then; expiry is checked per request anyway)."""
    with db.transaction() as s:
        return s.execute(sa.delete(WebSession).where(WebSession.last_seen_at < utcnow() - cfg.idle_timeout)).rowcount or 0


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
