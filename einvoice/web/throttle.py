"""Sign-in throttling: refuse floods cheaply, before any argon2 work.

argon2id costs 64 MiB and a noticeable slice of a core per verification, on purpose. Without a
limit, anyone who can reach the sign-in form can make the server do that work as often as they
like (unknown names included, since those verify a dummy hash to hide whether an account
exists). Two guards sit in front of ``auth.check_password``:

* ``SignInThrottle`` counts, per client address (IPv6 per /64) and per account name *as typed*
  (known or not, so the refusal says nothing about which accounts exist), the failed sign-ins in
  a sliding window, and per client all attempts in the last minute. A throttled attempt is
  refused from memory: no database, no hash.
* ``HashSlots`` lets only a few verifications run at once (memory stays bounded however many
  clients join in); a request waits a little for a slot without holding a worker thread, then is
  refused with "busy".

Counters live in the process (each uvicorn worker has its own), which is what protects that
process's memory and CPU; the account lock in the database (``auth.check_password``) holds across
processes. This module must never see a password and never look at the database.
"""
from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

import anyio

#: At most this many keys per counter; the least recently used go first (memory stays bounded).
MAX_KEYS = 20_000


class _Windows:
    """For each key the times of its last ``limit`` events (a sliding window of ``seconds``)."""

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float]):
        self.limit, self.seconds, self.clock = limit, seconds, clock
        self.keys: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may have another event (0 if now)."""
        times = self.keys.get(key)
        if not times or len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.seconds - self.clock())

    def add(self, key: str) -> None:
        times = self.keys.get(key)
        if times is None:
            times = self.keys[key] = deque(maxlen=self.limit)
            while len(self.keys) > MAX_KEYS:
                self.keys.popitem(last=False)
        else:
            self.keys.move_to_end(key)
        times.append(self.clock())

    def clear(self, key: str) -> None:
        self.keys.pop(key, None)


def client_key(address: str) -> str:
    """IPv6 clients are counted per /64 (one host usually owns the whole /64); IPv4 per address."""
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return address
    if addr.version == 6:
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


class SignInThrottle:
    """Per-client and per-account counters of one process (thread-safe)."""

    def __init__(self, *, client_failures: int, account_failures: int, window_seconds: float,
                 client_attempts_per_minute: int, clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._client_failures = _Windows(client_failures, window_seconds, clock)
        self._account_failures = _Windows(account_failures, window_seconds, clock)
        self._client_attempts = _Windows(client_attempts_per_minute, 60.0, clock)

    @classmethod
    def from_config(cls, cfg) -> SignInThrottle:
        return cls(client_failures=cfg.client_failures, account_failures=cfg.account_failures,
                   window_seconds=cfg.throttle_window.total_seconds(),
                   client_attempts_per_minute=cfg.client_attempts_per_minute)

    def admit(self, client: str, account: str) -> float:
        """0 if this attempt may go on to the password check (and it is counted), else seconds to wait."""
        c = client_key(client)
        with self._lock:
            wait = max(self._client_attempts.wait(c), self._client_failures.wait(c), self._account_failures.wait(account))
            if wait <= 0:
                self._client_attempts.add(c)
            return wait

    def failed(self, client: str, account: str) -> None:
        with self._lock:
            self._client_failures.add(client_key(client))
            self._account_failures.add(account)

    def succeeded(self, account: str) -> None:
        """The right password: the account's failures are forgiven (the client's are not, or one
        valid account would reset the budget for guessing all the others)."""
        with self._lock:
            self._account_failures.clear(account)


class HashSlots:
    """At most ``n`` argon2 verifications at once in this process, and at most ``16 * n`` waiting.

    ``acquire`` polls a threading semaphore from the event loop instead of blocking a worker
    thread: a flood that waits for slots must not take the threads the pages need. Beyond the
    waiting limit a request is refused at once (polling is cheap, but not for thousands).
    """

    def __init__(self, n: int, max_waiting: int | None = None):
        self._sem = threading.BoundedSemaphore(n)
        self._max_waiting = 16 * n if max_waiting is None else max_waiting
        self._waiting = 0
        self._lock = threading.Lock()

    async def acquire(self, timeout: float) -> bool:
        if self._sem.acquire(blocking=False):
            return True
        with self._lock:
            if self._waiting >= self._max_waiting:
                return False
            self._waiting += 1
        try:
            deadline = time.monotonic() + timeout
            while not self._sem.acquire(blocking=False):
                if time.monotonic() >= deadline:
                    return False
                await anyio.sleep(0.02)
            return True
        finally:
            with self._lock:
                self._waiting -= 1

    def release(self) -> None:
        self._sem.release()
