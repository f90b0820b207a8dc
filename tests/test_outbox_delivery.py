"""The delivery bookkeeping both outboxes share (einvoice.db.outbox): backoff, lease, dead letter."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from einvoice.db import outbox as delivery
from einvoice.organisation import RetrySettings

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap():
    retry = RetrySettings(backoff_initial_seconds=30, backoff_factor=2, backoff_max_seconds=300)
    assert [delivery.backoff(retry, n).total_seconds() for n in range(0, 7)] == [30, 30, 60, 120, 240, 300, 300]


def test_a_row_is_leased_retried_and_dead_lettered_after_the_last_attempt():
    retry = RetrySettings(max_attempts=2, backoff_initial_seconds=60, lease_seconds=120)
    row = SimpleNamespace(status="pending", attempts=0, next_attempt_at=NOW, lease_until=None, leased_by=None,
                          updated_at=None, last_error_code=None, last_error=None)
    for column, value in delivery.lease(retry, "worker-a", NOW).items():
        setattr(row, column, value)
    row.attempts += 1
    assert delivery.holds_lease(row, "worker-a") and not delivery.holds_lease(row, "worker-b")
    assert row.lease_until == NOW + dt.timedelta(seconds=120)
    assert not delivery.exhausted(retry, row.attempts)
    delivery.retry_later(row, retry, NOW)
    assert (row.status, row.next_attempt_at) == ("pending", NOW + dt.timedelta(seconds=60))
    row.attempts += 1
    assert delivery.exhausted(retry, row.attempts)
    delivery.dead_letter(row, "HTTP-5XX", "the finance system answered 503")
    assert (row.status, row.lease_until, row.last_error_code) == ("dead", None, "HTTP-5XX")
    delivery.start_over(row, NOW)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 0, NOW)
