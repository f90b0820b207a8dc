"""What every outbox shares: the lease a worker holds while delivering a row, the backoff schedule
of the next attempt, and the dead letter after the last one.

The finance outbox (posting records) and the supplier-notice outbox deliver their rows the same
way: a worker leases a due row (status ``in_flight``, ``lease_until``, ``leased_by``, the attempt
counted), delivers it outside any transaction, and records the outcome only while it still holds
the lease; a failure is tried again after ``initial × factor^(n−1)`` seconds (capped), and after
``max_attempts`` (from the organisation file's ``retry`` settings) the row becomes a dead letter
for a person. The tables keep their own columns; these functions only read and set the ones named
here. This module must never commit, never deliver anything, and holds no rule of either outbox
(what counts as rejected, which events are written).
"""
from __future__ import annotations

import datetime as dt
import socket
import uuid
from typing import Any

from einvoice.organisation import RetrySettings

PENDING, IN_FLIGHT, DEAD = "pending", "in_flight", "dead"


def new_worker_id() -> str:
    """Who holds a lease: the host and a random suffix, so two processes on one host differ."""
    return f"{socket.gethostname()[:40]}-{uuid.uuid4().hex[:8]}"


def backoff(retry: RetrySettings, attempts: int) -> dt.timedelta:
    """Delay before the next attempt after ``attempts`` failed ones: initial × factor^(n−1), capped."""
    seconds = min(retry.backoff_initial_seconds * (retry.backoff_factor ** max(attempts - 1, 0)), retry.backoff_max_seconds)
    return dt.timedelta(seconds=seconds)


def due(table, now: dt.datetime) -> tuple:
    """WHERE clauses of rows waiting for their next attempt."""
    return (table.status == PENDING, table.next_attempt_at <= now)


def lease_ran_out(table, now: dt.datetime) -> tuple:
    """WHERE clauses of rows whose worker stopped (or is too slow) while delivering them."""
    return (table.status == IN_FLIGHT, table.lease_until < now)


def lease(retry: RetrySettings, worker_id: str, now: dt.datetime) -> dict[str, Any]:
    """The column values of a row leased to ``worker_id`` (the caller also counts the attempt)."""
    return {"status": IN_FLIGHT, "lease_until": now + dt.timedelta(seconds=retry.lease_seconds),
            "leased_by": worker_id, "updated_at": now}


def holds_lease(row, worker_id: str) -> bool:
    """Is ``row`` still leased to ``worker_id``? (Else another worker took it over.)"""
    return row.status == IN_FLIGHT and row.leased_by == worker_id


def exhausted(retry: RetrySettings, attempts: int) -> bool:
    """No attempt is left: the row becomes a dead letter."""
    return attempts >= retry.max_attempts


def retry_later(row, retry: RetrySettings, now: dt.datetime) -> None:
    """Pending again, due after the backoff for the attempts made so far."""
    row.status, row.next_attempt_at = PENDING, now + backoff(retry, row.attempts)


def dead_letter(row, rule: str, message: str) -> None:
    """A dead letter: no further attempt until a person sends it again (``start_over``)."""
    row.status, row.lease_until = DEAD, None
    row.last_error_code, row.last_error = rule, message


def start_over(row, now: dt.datetime) -> None:
    """A person sends the row again: due now, with a fresh attempt budget."""
    row.status, row.attempts, row.next_attempt_at, row.lease_until = PENDING, 0, now, None
