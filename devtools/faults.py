"""Crash points for fault-injection tests of the finance outbox (exactly-once delivery).

``install()`` hooks ``crash_point`` into the outbox's named checkpoints
(``einvoice.finance.outbox.CHECKPOINTS``); the product itself never imports this module.
``crash_point(name)`` does nothing unless the environment variable ``EINVOICE_FINANCE_CRASH`` names
this point (``claimed``, ``sent``, ``recorded``, ``archived``; ``sent:2`` = the second time). Then
the process ends at once with ``os._exit`` — no cleanup, no rollback handlers, no flushing — as a
power cut or ``kill -9`` would. Tests run a delivery in a subprocess with the variable set, then
deliver again and check that nothing was posted twice and nothing was lost.

This module must never do anything when the variable is unset, and never be used for control flow.
"""
from __future__ import annotations

import os

ENV = "EINVOICE_FINANCE_CRASH"
EXIT_CODE = 86
_seen: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] >= int(nth or 1):
        os._exit(EXIT_CODE)


def install() -> None:
    """Hook ``crash_point`` into the finance outbox (once per process)."""
    from einvoice.finance import outbox

    if crash_point not in outbox.CHECKPOINTS:
        outbox.CHECKPOINTS.append(crash_point)
