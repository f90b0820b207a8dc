"""Who is signed in: local accounts (argon2), a trusted reverse-proxy header (SSO), sessions, CSRF.

Two ways to sign in, both ending in a server-side session (``WebSession``) whose random token sits
in an HttpOnly, SameSite=Lax cookie and whose CSRF token every form carries:

* local accounts: ``einvoice web set-password`` stores an argon2id hash; sign-in failures all get
  the same message, an unknown user costs the same hash work as a wrong password, and repeated
  failures lock the account for a while;
* a reverse proxy that already authenticated the user (Keycloak, Shibboleth, AD FS ...) passes the
  person id in a configurable header. Off by default; the header is believed only from the listed
  proxy addresses, because anyone else could simply send it.

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
import secrets
from dataclasses import dataclass, field

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from einvoice.db import Database
from einvoice.db.models import as_utc, utcnow
from einvoice.organisation import Organisation
from einvoice.web.tables import WebAccount, WebSession

log = logging.getLogger(__name__)

#: Known demo passwords (``seed_demo_accounts``): for the example town only, never for real people.
DEMO_PASSWORD = "Musterhausen-2026"

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4)
# Verified when the user name is unknown, so "no such user" takes as long as "wrong password".
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class AuthConfig:
    """How people sign in. ``from_env`` reads ``EINVOICE_WEB_*``; the defaults suit a loopback demo."""

    local_accounts: bool = True
    proxy_header: str | None = None  # e.g. "X-Remote-User"; None = proxy sign-in off
    trusted_proxies: tuple[str, ...] = ()  # IPs / CIDRs whose proxy_header is believed
    cookie_secure: bool = False  # True behind HTTPS (then the cookie is also "__Host-" prefixed)
    idle_timeout: dt.timedelta = dt.timedelta(minutes=30)
    max_session_age: dt.timedelta = dt.timedelta(hours=12)
    max_failed_logins: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    _networks: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self):
        nets = tuple(ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies)
        object.__setattr__(self, "_networks", nets)
        if self.proxy_header and not nets:
            raise ValueError("proxy_header is set but trusted_proxies is empty: the header would be believed from nobody")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "AuthConfig":
        env = dict(os.environ if env is None else env)

        def flag(name: str, default: bool) -> bool:
            v = env.get(name)
            return default if v is None else v.strip().lower() in ("1", "true", "yes", "on")

        header = (env.get("EINVOICE_WEB_PROXY_HEADER") or "").strip() or None
        proxies = tuple(p.strip() for p in (env.get("EINVOICE_WEB_TRUSTED_PROXIES") or "").split(",") if p.strip())
        return cls(
            local_accounts=flag("EINVOICE_WEB_LOCAL_ACCOUNTS", True),
            proxy_header=header,
            trusted_proxies=proxies,
            cookie_secure=flag("EINVOICE_WEB_COOKIE_SECURE", False),
            idle_timeout=dt.timedelta(minutes=int(env.get("EINVOICE_WEB_IDLE_MINUTES", "30"))),
        )

    @property
    def cookie_name(self) -> str:
        # "__Host-": the browser only accepts it with Secure, Path=/ and no Domain (no subdomain can plant it).
        return "__Host-einvoice_session" if self.cookie_secure else "einvoice_session"

    @property
    def login_cookie_name(self) -> str:
        return "__Host-einvoice_login" if self.cookie_secure else "einvoice_login"

    def trusts(self, client_host: str | None) -> bool:
        if not self.proxy_header or not client_host:
            return False
        try:
            addr = ipaddress.ip_address(client_host)
        except ValueError:
            return False
        return any(addr in n for n in self._networks)


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


def seed_demo_accounts(db: Database, org: Organisation, password: str = DEMO_PASSWORD) -> dict[str, str]:
    """Give every person of the (example) organisation the known demo password; returns id -> password."""
    digest = _hasher.hash(password)  # one hash for all: argon2 is deliberately slow
    with db.transaction() as s:
        for p in org.people:
            acc = s.get(WebAccount, p.id)
            if acc is None:
                s.add(WebAccount(person_id=p.id, password_hash=digest, failed_logins=0))
            else:
                acc.password_hash, acc.failed_logins, acc.locked_until = digest, 0, None
    return {p.id: password for p in org.people}


@dataclass(frozen=True)
class SignInFailure:
    reason: str  # unknown | wrong-password | locked | not-in-organisation (for the log, never the page)


GENERIC_FAILURE = "Anmeldung fehlgeschlagen: Benutzername oder Passwort ist falsch, oder das Konto ist vorübergehend gesperrt."


def check_password(db: Database, org: Organisation, cfg: AuthConfig, person_id: str, password: str) -> str | SignInFailure:
    """The person id if the password is right, else why not (the page shows one generic sentence)."""
    now = utcnow()
    with db.transaction() as s:
        acc = s.get(WebAccount, person_id, with_for_update=True) if person_id else None
        if acc is None:
            _verify(_DUMMY_HASH, password)
            return SignInFailure("unknown")
        if acc.locked_until is not None and as_utc(acc.locked_until) > now:
            _verify(_DUMMY_HASH, password)
            return SignInFailure("locked")
        if not _verify(acc.password_hash, password):
            acc.failed_logins = (acc.failed_logins or 0) + 1
            if acc.failed_logins >= cfg.max_failed_logins:
                acc.locked_until, acc.failed_logins = now + cfg.lockout, 0
            return SignInFailure("wrong-password")
        try:
            org.person(person_id)
        except KeyError:
            return SignInFailure("not-in-organisation")
        acc.failed_logins, acc.locked_until = 0, None
        if _hasher.check_needs_rehash(acc.password_hash):
            acc.password_hash = _hasher.hash(password)
        return person_id


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
