"""Worker processes for a large export directory, and the steps that start and stop them.

Parsing leaves and hashing documents is CPU-bound Python that one process (one GIL) runs on one
core; the work that needs nothing but one page's or one object's bytes runs here in ``python -c``
subprocesses, everything that relates leaves to each other stays in the verifier's process. The
report is the same with or without them. Never writes.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ..dirreader import DirReader
from ..errors import ArchiveError
from ..problems import NOTE
from .audit import Audit
from .leaves import ParsedPage, parse_page


def start_workers(audit: Audit) -> None:
    """Start worker processes for a large export (``options.processes``: None for one per core when
    it pays, 0 for none); they read and parse the pages and hash the listed objects ahead."""
    audit.pool = WorkerPool.start(audit.store, audit.options.processes, audit.keys.pages, audit.keys.objects,
                                  audit.scope_years)


def stop_workers(audit: Audit) -> None:
    """Stop the worker processes; if they failed, say that the rest ran in this process."""
    pool, audit.pool = audit.pool, None
    if pool is None:
        return
    try:
        if pool.broken is not None:
            audit.report.add(NOTE, "single-process", f"the worker processes failed ({pool.broken}); the rest was "
                             f"verified in this process")
    finally:
        pool.close()


# -- Work that needs nothing but one page's or one object's bytes (in a worker, or here if none).

def _pages_task(root: str, keys: list[str], scope_years: set[int] | None) -> list:
    """Worker process: read and parse pages of the directory ``root``."""
    store = DirReader(root)
    cache: dict = {}
    out: list[ParsedPage | None] = []
    for key in keys:
        raw = store.get(key)
        out.append(None if raw is None else parse_page(raw, scope_years, cache))
    return out


def _objects_task(root: str, keys: list[str]) -> list[tuple]:
    """Worker process: (size, SHA-256 hex) of each object file, (None, None) if it is missing.

    A read error is returned as (None, error), not raised: the object may be an orphan, which
    verify never reads, so only verify decides whether the error matters.
    """
    store = DirReader(root)
    out: list[tuple[int | None, str | ArchiveError | None]] = []
    for key in keys:
        try:
            data = store.get(key)
        except ArchiveError as exc:
            out.append((None, exc))
            continue
        out.append((None, None) if data is None else (len(data), hashlib.sha256(data).hexdigest()))
    return out


_TASKS: dict[str, Callable[..., list]] = {"pages": _pages_task, "objects": _objects_task}


class _WorkerBroken(Exception):
    """A worker process died or its pipe broke (not an error of the task itself)."""


class WorkerPool:
    """Worker processes for a directory: parsing leaves and hashing documents is CPU-bound Python
    that one process (one GIL) runs on one core.

    Pages are submitted first and consumed in order while the workers go on to hash the listed
    objects. The workers are plain ``python -c`` subprocesses fed over pipes, not
    ``multiprocessing``: its spawn start method re-imports the caller's ``__main__`` in every
    worker (a script without a ``__name__`` guard would run again there), and fork copies the
    locks of the caller's threads. If a worker dies, the tasks it could not finish are done in
    this process and the report says so in a note; an error raised by a task propagates as it
    would in this process.
    """

    PAGES_PER_TASK = 64
    OBJECTS_PER_TASK = 1000
    MIN_OBJECTS = 4000  # below this (and MIN_PAGES) starting processes costs more than it saves
    MIN_PAGES = 32

    @classmethod
    def start(cls, store, processes: int | None, pages: list[str], objects: list[str],
              scope_years: set[int] | None) -> "WorkerPool | None":
        if store.kind != "dir" or processes == 0:
            return None
        if processes is None:
            if len(objects) < cls.MIN_OBJECTS and len(pages) < cls.MIN_PAGES:
                return None
            processes = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            if processes < 2:
                return None
        return cls(store, processes, pages, objects, scope_years)

    def __init__(self, store, processes: int, pages: list[str], objects: list[str],
                 scope_years: set[int] | None) -> None:
        self.root = str(store.root)
        self.scope_years = scope_years
        self.broken: BaseException | None = None
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.procs: list[subprocess.Popen] = []
        self.threads: list[threading.Thread] = []
        per = max(1, min(self.PAGES_PER_TASK, len(pages) // (4 * processes)))
        self.page_chunks = [pages[i:i + per] for i in range(0, len(pages), per)]
        self.object_chunks = [objects[i:i + self.OBJECTS_PER_TASK]
                              for i in range(0, len(objects), self.OBJECTS_PER_TASK)]
        self.page_futures = [self._submit("pages", self.root, c, scope_years) for c in self.page_chunks]
        self.object_futures = [self._submit("objects", self.root, c) for c in self.object_chunks]
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        boot = f"import sys; sys.path.insert(0, {package_parent!r}); from archive.verifysteps.workers import worker_main; worker_main()"
        for _ in range(processes):
            try:
                proc = subprocess.Popen([sys.executable, "-c", boot], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            except OSError as exc:
                self.broken = exc
                break
            self.procs.append(proc)
            t = threading.Thread(target=self._serve, args=(proc,), name="archive-verify-worker", daemon=True)
            t.start()
            self.threads.append(t)
        if not self.threads:
            self._fail_queued()

    def _submit(self, name: str, *args) -> Future:
        f: Future = Future()
        self.queue.put((f, name, args))
        return f

    def _serve(self, proc: subprocess.Popen) -> None:
        """One thread per worker: send a task, wait for its result, repeat."""
        while True:
            item = self.queue.get()
            if item is None:
                return
            future, name, args = item
            if not future.set_running_or_notify_cancel():
                continue
            if self.broken is not None:
                future.set_exception(_WorkerBroken(str(self.broken)))
                continue
            try:
                _send(proc.stdin, (name, args))
                ok, value = _receive(proc.stdout)
            except (OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
                self.broken = exc if proc.poll() is None else _WorkerBroken(f"exit status {proc.poll()}")
                future.set_exception(_WorkerBroken(str(exc)))
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _queued(self):
        """Futures of the tasks no worker has taken yet (taking them off the queue)."""
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                yield item[0]

    def _fail_queued(self) -> None:
        for future in self._queued():
            if future.set_running_or_notify_cancel():
                future.set_exception(_WorkerBroken(str(self.broken)))

    def _result(self, future: Future, name: str, *args):
        try:
            return future.result()
        except _WorkerBroken:
            return _TASKS[name](*args)

    def pages(self):
        for chunk, future in zip(self.page_chunks, self.page_futures):
            yield from zip(chunk, self._result(future, "pages", self.root, chunk, self.scope_years))

    def objects(self) -> dict[str, tuple]:
        out: dict[str, tuple] = {}
        for chunk, future in zip(self.object_chunks, self.object_futures):
            out.update(zip(chunk, self._result(future, "objects", self.root, chunk)))
        return out

    def close(self) -> None:
        # Unstarted tasks are cancelled (an exception may have ended verify early).
        for future in self._queued():
            future.cancel()
        for _ in self.threads:
            self.queue.put(None)
        for proc in self.procs:
            try:
                if proc.stdin is not None:  # always a pipe (Popen(stdin=PIPE))
                    proc.stdin.close()  # the worker exits at end of input
            except OSError:
                pass
        for t in self.threads:
            t.join()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:  # always a pipe (Popen(stdout=PIPE))
                proc.stdout.close()


def _send(pipe, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(len(data).to_bytes(8, "big") + data)
    pipe.flush()


def _receive(pipe):
    head = pipe.read(8)
    if len(head) < 8:
        raise EOFError("worker process closed its pipe")
    data = pipe.read(int.from_bytes(head, "big"))
    return pickle.loads(data)


def worker_main() -> None:
    """Entry point of a worker process (see WorkerPool): tasks in on stdin, results out on stdout."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the result stream
    inp = sys.stdin.buffer
    while True:
        try:
            name, args = _receive(inp)
        except EOFError:
            return
        result: tuple[bool, Any]  # (True, the task's result) or (False, the exception it raised)
        try:
            result = (True, _TASKS[name](*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller, which raises it
            result = (False, exc)
        _send(out, result)
