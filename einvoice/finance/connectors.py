"""Connectors to the finance system: HTTP webhook (push), file export (push), pull API (the finance system fetches).

A connector turns a posting record into an ``Outcome``: booked (with the booking number),
duplicate (the finance system already has this idempotency key: counts as success), exported
(written for import; confirmation comes later), retry (transient: timeout, connection, 5xx,
unreadable answer, file system error) or rejected (the finance system refused the record: a
person must look). Connectors never touch the database; the outbox records every outcome.

Webhook protocol (documented for the finance-system side):
  POST <url>, body = the posting record as canonical JSON (UTF-8, sorted keys, no spaces),
  headers ``Idempotency-Key: <key>``, ``X-Einvoice-Timestamp: <unix seconds>``,
  ``X-Einvoice-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``.
  Answers: 2xx ``{"status": "booked", "booking_number": "..."}``;
  2xx or 409 ``{"status": "duplicate", "booking_number": "..."}``;
  4xx ``{"status": "failed", "message": "..."}`` (rejected); 5xx / timeout: retried with backoff.
File export: ``postings-<batch>.json`` (all records) and ``postings-<batch>.csv`` (one row per
account-assignment line), each written to a temporary file, fsynced and renamed, so an importer
never sees half a file. A batch file is never rewritten once it exists.

This module must never log or return the HMAC secret, and never read it from the organisation file.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, Sequence

from einvoice.finance import errors
from einvoice.finance import messages as M
from einvoice.finance.errors import FinanceProblem
from einvoice.organisation import Organisation

Kind = Literal["booked", "duplicate", "exported", "retry", "rejected"]


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    booking_number: str | None = None
    problem: FinanceProblem | None = None
    http_status: int | None = None
    answer: dict | None = None
    duration_ms: int | None = None

    @property
    def success(self) -> bool:
        return self.kind in ("booked", "duplicate")


@dataclass(frozen=True)
class Item:
    """One claimed outbox row as a connector sees it."""

    outbox_id: int
    posting_id: int
    invoice_id: int
    idempotency_key: str
    record_json: str  # canonical JSON, exactly the bytes that are signed and sent
    batch_id: str | None = None
    attempts: int = 0

    @property
    def record(self) -> dict:
        return json.loads(self.record_json)


class Connector(Protocol):
    name: str
    pushes: bool  # False: the finance system pulls, the outbox sends nothing
    batch: bool   # True: send_batch, else send

    def check(self) -> FinanceProblem | None: ...


# --------------------------------------------------------------------------------------------
# webhook
# --------------------------------------------------------------------------------------------
def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, timestamp: str, body: bytes, signature: str, *, now: float | None = None,
                     tolerance: float = 300) -> bool:
    """For receivers (and the tests' finance system): signature matches and timestamp is recent."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature or "")


class WebhookConnector:
    name = "webhook"
    pushes = True
    batch = False

    def __init__(self, org: Organisation, *, secret: bytes | None = None, client=None):
        self.cfg = org.finance.webhook
        self._secret = secret
        self._client = client
        self.seconds_per_item = self.cfg.timeout_seconds  # worst case per record, for the outbox's lease planning

    def _key(self) -> bytes | None:
        if self._secret is not None:
            return self._secret
        value = os.environ.get(self.cfg.hmac_secret_env)
        return value.encode("utf-8") if value else None

    def check(self) -> FinanceProblem | None:
        if not self.cfg.url:
            return M.problem(errors.WEBHOOK_URL_MISSING)
        if self._key() is None:
            return M.problem(errors.HMAC_SECRET_MISSING, env=self.cfg.hmac_secret_env)
        return None

    def _http(self):
        import httpx

        if self._client is None:
            self._client = httpx.Client(timeout=self.cfg.timeout_seconds)
        return self._client

    def send(self, item: Item) -> Outcome:
        import httpx

        body = item.record_json.encode("utf-8")
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            self.cfg.idempotency_header: item.idempotency_key,
            self.cfg.timestamp_header: ts,
            self.cfg.signature_header: sign(self._key(), ts, body),
        }
        started = time.monotonic()
        try:
            resp = self._http().post(self.cfg.url, content=body, headers=headers, timeout=self.cfg.timeout_seconds)
        except httpx.TimeoutException:
            return Outcome("retry", problem=M.problem(
                errors.HTTP_TIMEOUT, seconds=f"{self.cfg.timeout_seconds:g}"), duration_ms=_ms(started))
        except httpx.TransportError as exc:
            return Outcome("retry", problem=M.problem(
                errors.HTTP_CONNECT, error=type(exc).__name__),
                duration_ms=_ms(started))
        ms = _ms(started)
        try:
            answer = resp.json()
            if not isinstance(answer, dict):
                answer = None
        except ValueError:
            answer = None
        status = (answer or {}).get("status")
        booking = (answer or {}).get("booking_number")
        booking = str(booking) if booking not in (None, "") else None
        if resp.status_code >= 500:
            return Outcome("retry", http_status=resp.status_code, answer=answer, duration_ms=ms, problem=M.problem(
                errors.HTTP_5XX, status=resp.status_code,
                answer=": " + str(answer.get("message")) if answer and answer.get("message") else ""))
        if status == "duplicate" or (resp.status_code == 409 and status in (None, "duplicate")):
            return Outcome("duplicate", booking_number=booking, http_status=resp.status_code, answer=answer, duration_ms=ms)
        if 200 <= resp.status_code < 300 and status == "booked" and booking:
            return Outcome("booked", booking_number=booking, http_status=resp.status_code, answer=answer, duration_ms=ms)
        if 400 <= resp.status_code < 500 or status == "failed":
            msg = (answer or {}).get("message") or resp.text[:300] or f"HTTP {resp.status_code}"
            return Outcome("rejected", http_status=resp.status_code, answer=answer, duration_ms=ms, problem=M.problem(
                errors.HTTP_REJECTED, reason=msg))
        return Outcome("retry", http_status=resp.status_code, answer=answer, duration_ms=ms, problem=M.problem(
            errors.HTTP_BAD_ANSWER, status=resp.status_code))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# --------------------------------------------------------------------------------------------
# file export
# --------------------------------------------------------------------------------------------
CSV_COLUMNS = [
    "idempotency_key", "invoice_id", "invoice_number", "issue_date", "kind", "payee_name", "iban", "bic",
    "amount_due", "currency", "due_date", "skonto_until", "skonto_percent", "skonto_amount", "budget_year",
    "department", "line", "sachkonto", "kostenstelle", "produkt", "line_amount", "ordering_person",
    "archive_entry_id",
]


def csv_rows(record: dict) -> list[dict]:
    # One Skonto term fits the CSV: the one einvoice.model.skonto's rule applies on the issue date (the
    # best one); the JSON file carries every term.
    from decimal import Decimal

    from einvoice.model import skonto

    terms = skonto.from_dicts(record["payment_terms"]["skonto"])
    best = skonto.applicable(terms, min(t.until for t in terms), Decimal(record["amount"]["due"])) if terms else None
    sk = next((t for t in record["payment_terms"]["skonto"] if best and t["until"] == best.until.isoformat()
               and t["percent"] == str(best.percent)), None)
    out = []
    for i, a in enumerate(record["account_assignment"], 1):
        out.append({
            "idempotency_key": record["idempotency_key"], "invoice_id": record["invoice"]["id"],
            "invoice_number": record["invoice"]["number"], "issue_date": record["invoice"]["issue_date"],
            "kind": record["invoice"]["kind"], "payee_name": record["payee"]["name"], "iban": record["payee"]["iban"],
            "bic": record["payee"]["bic"], "amount_due": record["amount"]["due"], "currency": record["amount"]["currency"],
            "due_date": record["payment_terms"]["due_date"], "skonto_until": sk["until"] if sk else None,
            "skonto_percent": sk["percent"] if sk else None, "skonto_amount": sk["amount_if_taken"] if sk else None,
            "budget_year": record["budget_year"], "department": record["department"]["code"], "line": i,
            "sachkonto": a["sachkonto"], "kostenstelle": a["kostenstelle"], "produkt": a["produkt"],
            "line_amount": a["amount"],
            "ordering_person": (record["ordering_person"] or {}).get("person"),
            "archive_entry_id": record["archive"]["entry_id"],
        })
    return out


def write_atomic(path: Path, data: bytes) -> None:
    """temp file in the same directory + fsync + rename + fsync of the directory: all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class FileConnector:
    name = "file"
    pushes = True
    batch = True

    def __init__(self, org: Organisation, *, directory: str | Path | None = None):
        self.cfg = org.finance.file
        self.directory = Path(directory or self.cfg.directory)

    def check(self) -> FinanceProblem | None:
        return None

    def paths(self, batch_id: str) -> list[Path]:
        return [self.directory / f"postings-{batch_id}.{fmt}" for fmt in self.cfg.formats]

    def send_batch(self, batch_id: str, items: Sequence[Item]) -> Outcome:
        """Write the batch's files unless they exist (a re-run after a crash must not rewrite them)."""
        try:
            for path in self.paths(batch_id):
                if path.exists():
                    continue
                if path.suffix == ".json":
                    body = {"schema": "einvoice-posting-batch/1", "batch_id": batch_id,
                            "count": len(items), "records": [it.record for it in items]}
                    write_atomic(path, (json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8"))
                else:
                    buf = io.StringIO()
                    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, delimiter=self.cfg.csv_delimiter, lineterminator="\r\n")
                    w.writeheader()
                    for it in items:
                        w.writerows(csv_rows(it.record))
                    write_atomic(path, buf.getvalue().encode("utf-8"))
        except OSError as exc:
            return Outcome("retry", problem=M.problem(errors.FILE_WRITE, directory=self.directory,
                                                              error=exc.strerror or exc))
        return Outcome("exported")


# --------------------------------------------------------------------------------------------
# pull
# --------------------------------------------------------------------------------------------
class PullConnector:
    """The finance system fetches records (einvoice.finance.pull_api); the outbox pushes nothing."""

    name = "pull"
    pushes = False
    batch = False

    def __init__(self, org: Organisation):
        self.cfg = org.finance.pull

    def check(self) -> FinanceProblem | None:
        return None


def make_connector(org: Organisation):
    kind = org.finance.connector
    if kind == "webhook":
        return WebhookConnector(org)
    if kind == "file":
        return FileConnector(org)
    return PullConnector(org)
