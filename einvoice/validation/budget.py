"""The per-file time budget: validation in worker processes that can be stopped.

A Saxon call cannot be interrupted inside the process that runs it, so a file that takes longer
than its budget can only be ended by stopping the process. With a budget (seconds,
``EINVOICE_VALIDATION_TIMEOUT``, default 120; ``0`` switches it off) every file is validated in a
forked worker process (``Workers``), one file at a time per worker, and its clock runs from the
moment its worker got it. A file over the budget ends as *not validated* with the finding
``VALIDATION-TIMEOUT`` (German message, ``timeout_report``): only its worker is stopped, a fresh one
takes the next file, every other file gets its normal result. A worker that dies on a file costs
only that file (``ENGINE-ERROR``).

Forking costs a few milliseconds; compiling the stylesheets costs seconds. So a process keeps
its workers: ``shared_worker()`` lends the process's one warm worker to each batch in turn (the
intake pipeline, hence uploads and flow runs), forked on first use and kept until the process
ends. Forked before this process compiles anything, a worker compiles what its files need itself,
once; the first file that needs a stylesheet pays its compile (seconds) inside its budget. Each
file carries the caller's language and rule-pack directory (``_FOLLOWED_ENV``); a worker is
replaced when a setting read once per process changed here (``_FORK_ENV``), and exits by itself
when its parent is gone.

This module must never validate a file in the calling process (that is what a budget of 0
means, and the callers do it themselves), never let a file without result through (each item
yields exactly one result, in input order), and never reuse a worker that was stopped while a
file was in it. No Prefect imports here.
"""
from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import threading
import time
import weakref
from multiprocessing.connection import wait
from typing import Callable, Iterable, Iterator

from einvoice.validation.engine import ENGINE_ERROR, VALIDATION_TIMEOUT
from einvoice.validation.report import Finding, Report

#: default seconds per file (a 14 MB ZUGFeRD invoice of 10,000 lines takes a few)
DEFAULT_SECONDS = 120.0
#: settings read at each use: every file carries the caller's values into its worker
_FOLLOWED_ENV = ("EINVOICE_LANGUAGE", "EINVOICE_RULEPACK_DIR")
#: settings read once per process: when one changes here, the workers are replaced (forked again)
_FORK_ENV = ("EINVOICE_RULEPACK_REPORT", "TZ")
#: how far (in files) the results may run ahead of the oldest file still in a worker
LOOKAHEAD_PER_WORKER = 8
#: seconds between a waiting worker's looks whether its parent still exists
_PARENT_CHECK = 1.0


def default_time_budget() -> float:
    """Seconds one file may take: ``EINVOICE_VALIDATION_TIMEOUT`` (0 switches the budget off and
    validates in the calling process), else 120 s."""
    value = os.environ.get("EINVOICE_VALIDATION_TIMEOUT", "").strip()
    if not value:
        return DEFAULT_SECONDS
    budget = float(value)
    if not budget >= 0:  # also NaN
        raise ValueError(f"EINVOICE_VALIDATION_TIMEOUT must be 0 or more seconds, not {value!r}")
    return budget


def timeout_report(name: str, budget: float) -> Report:
    """Report of a file that took longer than the time budget: not validated, with the reason."""
    reason = (f"Die Prüfung dauerte länger als {budget:g} s und wurde abgebrochen; die Datei wurde nicht geprüft "
              "(ungewöhnlich groß oder verschachtelt). Ein Operator muss sie ansehen.")
    return Report(
        path=name, syntax="unknown", valid=None, stages={"engine": "error"}, not_validated_reason="validation time budget exceeded",
        findings=[Finding(rule=VALIDATION_TIMEOUT, severity="fatal", stage="engine", location=None,
                          message=f"[{VALIDATION_TIMEOUT}] " + reason)],
    )


def died_report(name: str, what: str) -> Report:
    """Report of a file whose worker died or failed on it: not validated, never 'valid'."""
    reason = f"the validator failed on this file ({what}); an operator must look at it"
    return Report(
        path=name, syntax="unknown", valid=None, stages={"intake": "error"}, not_validated_reason=reason,
        findings=[Finding(rule=ENGINE_ERROR, severity="fatal", stage="intake", location=None, message=reason)],
    )


def _env_now(keys: tuple[str, ...] = _FORK_ENV) -> tuple:
    return tuple(os.environ.get(k) for k in keys)


def _follow(values: tuple) -> None:
    """Take over the caller's settings that are read at each use (in a worker)."""
    for key, value in zip(_FOLLOWED_ENV, values):
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class _Raised:
    """What a worker sends back when the task raised (the task is meant never to)."""

    def __init__(self, what: str) -> None:
        self.what = what


def _serve(conn, parent_end, parent: int) -> None:
    """A worker's loop: run each task it is sent, send back the result, until the pipe closes
    or the parent is gone."""
    # The parent's handlers (a web server's, Prefect's) must not keep a worker alive: a signal
    # ends it; Ctrl-C in a terminal is the parent's to handle.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent_end.close()
    while True:
        if not conn.poll(_PARENT_CHECK):
            if os.getppid() != parent:
                return
            continue
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        task, name, arg, config, env = msg
        try:
            _follow(env)
            result = task(name, arg, config)
        except Exception as exc:  # noqa: BLE001 - the parent records it for this file
            result = _Raised(f"{type(exc).__name__}: {exc}")
        try:
            conn.send(result)
        except Exception:  # noqa: BLE001 - a half-sent result: the parent sees the pipe close
            os._exit(70)


class _Worker:
    def __init__(self) -> None:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        self.conn, child_end = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child_end, self.conn, os.getpid()), daemon=True,
                                name="einvoice-validation")
        self.proc.start()
        child_end.close()

    def stop(self) -> None:
        """Stop the process now (a Saxon call cannot be asked to end)."""
        with contextlib.suppress(OSError, ValueError):
            self.proc.kill()
            self.proc.join()
        self.conn.close()

    def exit_text(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self.proc.join(1.0)
        code = self.proc.exitcode
        return "the validator process died on this file" + (f", exit code {code}" if code is not None else "")


def _stop_all(workers: list[_Worker]) -> None:
    for w in list(workers):
        w.stop()
    workers.clear()


class Workers:
    """Up to ``jobs`` worker processes, forked when first needed and kept for the next ``run``
    until ``close``."""

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = max(1, jobs)
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._env = _env_now()
        # at exit and when dropped: no worker outlives what it was forked for
        self._finalizer = weakref.finalize(self, _stop_all, self._all)

    def close(self) -> None:
        """Stop every worker."""
        self._idle.clear()
        _stop_all(self._all)

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _take(self) -> _Worker:
        while self._idle:
            w = self._idle.pop()
            if w.proc.is_alive():
                return w
            self._drop(w)
        w = _Worker()
        self._all.append(w)
        return w

    def _drop(self, w: _Worker) -> None:
        w.stop()
        if w in self._all:
            self._all.remove(w)

    def run(self, task: Callable, items: Iterable[tuple[str, object]], *, config=None, budget: float,
            failed: Callable[[str, Report], object] = lambda _name, report: report) -> Iterator[tuple[object, bool]]:
        """``(result, next_ready)`` for each ``(name, arg)`` of ``items``, in order:
        ``task(name, arg, config)`` run in a worker (a module-level function, so it is sent by
        name), or ``failed(name, report)`` with a VALIDATION-TIMEOUT report when it took longer
        than ``budget`` seconds (0: no limit), or an ENGINE-ERROR report when its worker died.
        ``next_ready``: the next item's result is there already. Items are read as workers get
        free, at most ``LOOKAHEAD_PER_WORKER`` per worker ahead of the oldest unfinished one."""
        if _env_now() != self._env:
            self.close()
            self._env = _env_now()
        source = iter(items)
        env = _env_now(_FOLLOWED_ENV)
        busy: dict[_Worker, tuple[int, str, float | None]] = {}
        done: dict[int, object] = {}
        sent = given = 0
        exhausted = False
        try:
            while True:
                # Feed idle workers first, so they validate while the caller uses the results.
                while not exhausted and len(busy) < self.jobs and sent - given < self.jobs * LOOKAHEAD_PER_WORKER:
                    item = next(source, None)
                    if item is None:
                        exhausted = True
                        break
                    name, arg = item
                    w = self._take()
                    try:
                        w.conn.send((task, name, arg, config, env))
                    except (OSError, ValueError):  # died while idle (killed from outside)
                        self._drop(w)
                        done[sent] = failed(name, died_report(name, w.exit_text()))
                    else:
                        busy[w] = (sent, name, time.monotonic() + budget if 0 < budget < math.inf else None)
                    sent += 1
                while given in done:
                    result = done.pop(given)
                    given += 1
                    yield result, given in done
                if exhausted and not busy and not done:
                    return
                if busy:
                    self._collect(busy, done, budget, failed)
        finally:
            # The caller stopped early: a worker with a file in it cannot take the next one.
            for w in busy:
                self._drop(w)

    def _collect(self, busy: dict, done: dict, budget: float, failed: Callable) -> None:
        """Wait until a worker is done or the first deadline passes; record what happened."""
        deadlines = [d for _i, _n, d in busy.values() if d is not None]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        ready = wait([w.conn for w in busy], timeout)
        for w in [w for w in busy if w.conn in ready]:
            index, name, _deadline = busy.pop(w)
            try:
                result = w.conn.recv()
            except (EOFError, OSError):
                done[index] = failed(name, died_report(name, w.exit_text()))
                self._drop(w)
                continue
            if isinstance(result, _Raised):
                result = failed(name, died_report(name, result.what))
            done[index] = result
            self._idle.append(w)
        now = time.monotonic()
        for w, (index, name, deadline) in list(busy.items()):
            if deadline is not None and now >= deadline:
                # Over the budget: only this worker is stopped; the next file gets a fresh one.
                del busy[w]
                self._drop(w)
                done[index] = failed(name, timeout_report(name, budget))


_SHARED_LOCK = threading.Lock()
#: this process's idle one-worker ``Workers``, lent out by ``shared_worker``
_SHARED: list[Workers] = []
#: idle ones kept beyond that are closed (threads that validated at the same time each had one)
_SHARED_KEEP = 1


@contextlib.contextmanager
def shared_worker() -> Iterator[Workers]:
    """This process's warm one-worker ``Workers``, for one caller at a time: a second thread
    that validates meanwhile gets another one."""
    with _SHARED_LOCK:
        workers = _SHARED.pop() if _SHARED else None
    if workers is None:
        workers = Workers(1)
    try:
        yield workers
    finally:
        with _SHARED_LOCK:
            keep = len(_SHARED) < _SHARED_KEEP
            if keep:
                _SHARED.append(workers)
        if not keep:
            workers.close()
