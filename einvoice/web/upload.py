"""Supplier upload: a page (``/einreichen``) and an HTTP API (``/api/upload``) for one invoice per request.
This module holds the settings, the checks, the limits and the receipt; the routes themselves are
``einvoice.web.routes.upload``.

Suppliers have no staff account: the upload router never looks at a staff session and the staff pages
never accept an upload. Access rule (``EINVOICE_UPLOAD_*``, see the web README): open to anyone,
limited per client address (a sliding window per minute and per hour, counted before the body is
read), or, when ``EINVOICE_UPLOAD_TOKEN`` is set, only with that shared token (API:
``Authorization: Bearer``, page: field "Zugangscode"). One XML or PDF file per request, at most
``EINVOICE_UPLOAD_MAX_BYTES``; anything else is refused with a rule ID and a message in the
language set (German source strings, English in ``einvoice.web.texts``; UPLOAD-SIZE, UPLOAD-TYPE,
UPLOAD-EMPTY, UPLOAD-RATE, UPLOAD-TOKEN, UPLOAD-REPLY-TO).

An accepted file goes through the same intake pipeline as every inbox (``einvoice.pipeline``:
validation, routing, archive, database) with channel ``upload``; the uploader's reply address, if
given, is kept in ``invoices.channel_json``. The answer is an Eingangsbestätigung: receipt number,
the file's SHA-256, time of receipt (Europe/Berlin), verdict and findings (HTML page or JSON).

This module must never decide about an invoice itself (the pipeline does), never keep a file it
did not hand to the pipeline, and never log file contents or reply addresses.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from fastapi import Request

from einvoice.language import language
from einvoice.problems import Problem
from einvoice.validation import explain
from einvoice.web.texts import tr
from einvoice.web.throttle import _Windows, client_key

log = logging.getLogger("einvoice.web.upload")

BERLIN = ZoneInfo("Europe/Berlin")
PAGE_PATH = "/einreichen"
API_PATH = "/api/upload"
#: multipart overhead allowed on top of the file itself (boundaries, the small text fields)
FORM_OVERHEAD = 64 * 1024
MAX_REPLY_TO = 254
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")

#: state -> (verdict, sentence): German source strings. The JSON answer's ``verdict`` keeps the German
#: word (documented values programs compare against); the sentence and the page follow the language.
STATE_VERDICT = {
    "in_approval": ("angenommen", "Angenommen: Die E-Rechnung ist gültig und wurde zur Bearbeitung weitergeleitet."),
    "rejected": ("abgewiesen", ("Abgewiesen: Die Rechnung verletzt Regeln der E-Rechnung (siehe Hinweise). "
                                "Bitte korrigieren Sie sie und reichen Sie sie neu ein.")),
    "not_an_invoice": ("keine E-Rechnung", ("Keine E-Rechnung: Die Datei enthält keine gültige strukturierte Rechnung "
                                            "(XRechnung oder ZUGFeRD/Factur-X). Sie wird aufbewahrt, aber nicht als "
                                            "E-Rechnung bearbeitet. Bitte senden Sie eine XRechnung oder ZUGFeRD-Rechnung.")),
    "not_validated": ("nicht geprüft", ("Eingegangen, aber nicht automatisch geprüft (siehe Hinweise); die "
                                        "Rechnungseingangsstelle prüft die Datei von Hand.")),
}
IN_PROGRESS = ("in Bearbeitung", "Die Datei war bereits eingegangen und ist in Bearbeitung.")


@dataclass(frozen=True)
class Refusal(Problem):
    status: int  # the HTTP status of the answer
    retry_after: int | None = None


@dataclass(frozen=True)
class UploadConfig:
    """``from_env`` reads ``EINVOICE_UPLOAD_*`` (see the web README)."""

    enabled: bool = True
    token: str | None = None  # shared upload token; None: open, with the rate limits only
    max_bytes: int = 15 * 1024 * 1024  # the limit most public invoice portals apply
    per_minute: int = 5
    per_hour: int = 30

    @classmethod
    def from_env(cls, environ=os.environ) -> UploadConfig:
        def number(name: str, default: int) -> int:
            raw = (environ.get(name) or "").strip()
            if not raw:
                return default
            value = int(raw)
            if value < 1:
                raise ValueError(f"{name} must be 1 or more, not {raw!r}")
            return value

        token = (environ.get("EINVOICE_UPLOAD_TOKEN") or "").strip() or None
        token_file = (environ.get("EINVOICE_UPLOAD_TOKEN_FILE") or "").strip()
        if token_file:
            with open(token_file, encoding="utf-8") as f:
                token = f.read().strip() or None
        if token is not None and len(token) < 16:
            raise ValueError("EINVOICE_UPLOAD_TOKEN must have at least 16 characters")
        return cls(
            enabled=(environ.get("EINVOICE_UPLOAD_ENABLED") or "true").strip().lower() not in ("false", "0", "no"),
            token=token,
            max_bytes=number("EINVOICE_UPLOAD_MAX_BYTES", cls.max_bytes),
            per_minute=number("EINVOICE_UPLOAD_PER_MINUTE", cls.per_minute),
            per_hour=number("EINVOICE_UPLOAD_PER_HOUR", cls.per_hour),
        )


def grouped(n: int) -> str:
    """12.345 (German) or 12,345 (English)."""
    return f"{n:,}" if language() == "en" else f"{n:,}".replace(",", ".")


class UploadLimits:
    """Uploads per client address per minute and per hour (this process; thread-safe)."""

    def __init__(self, cfg: UploadConfig, clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._minute = _Windows(cfg.per_minute, 60, clock)
        self._hour = _Windows(cfg.per_hour, 3600, clock)

    def take(self, address: str) -> Refusal | None:
        key = client_key(address)
        with self._lock:
            wait = max(self._minute.wait(key), self._hour.wait(key))
            if wait > 0:
                return Refusal("UPLOAD-RATE", tr("Zu viele Einreichungen von Ihrer Adresse in kurzer Zeit. Bitte "
                                                      "warten Sie etwa %(seconds)s Sekunden und versuchen Sie es dann "
                                                      "erneut.", seconds=grouped(int(wait) + 1)), 429,
                               retry_after=int(wait) + 1)
            self._minute.add(key)
            self._hour.add(key)
        return None


def receipt_number(sha256: str) -> str:
    """``ER-3F2A-9C1B-77D0``: from the file's SHA-256, so the same file always gets the same number."""
    s = sha256.upper()
    return "ER-" + "-".join(s[i:i + 4] for i in (0, 4, 8))


def check_type(data: bytes) -> Refusal | None:
    """UPLOAD-EMPTY / UPLOAD-TYPE: by content, never by name or declared type."""
    if not data:
        return Refusal("UPLOAD-EMPTY", tr("Die Datei ist leer (0 Bytes). Bitte wählen Sie die Rechnungsdatei aus."), 400)
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") or data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"%PDF-" in data[:1024]:
        return None
    return Refusal("UPLOAD-TYPE", tr("Diese Datei ist weder XML noch PDF. Angenommen werden E-Rechnungen als XML "
                                          "(XRechnung, UBL oder CII) oder als PDF mit eingebetteter XML (ZUGFeRD/Factur-X)."), 415)


def size_refusal(size: int, cfg: UploadConfig) -> Refusal:
    return Refusal("UPLOAD-SIZE", tr("Die Datei ist zu groß (%(size)s Bytes oder mehr); erlaubt sind höchstens "
                                          "%(max)s Bytes je Rechnung. Sie wurde nicht angenommen.",
                                          size=grouped(size), max=grouped(cfg.max_bytes)), 413)


def check_reply_to(value: str | None) -> tuple[str | None, Refusal | None]:
    v = (value or "").strip()
    if not v:
        return None, None
    if len(v) > MAX_REPLY_TO or not _EMAIL.match(v):
        return None, Refusal("UPLOAD-REPLY-TO", tr("Die Antwortadresse ist keine gültige E-Mail-Adresse. Bitte "
                                                         "korrigieren Sie sie oder lassen Sie das Feld leer."), 400)
    return v, None


def safe_name(name: str | None, data: bytes) -> str:
    base = re.split(r"[\\/]", (name or "").strip())[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base)[:200]
    if base and not base.startswith("."):
        return base
    return "rechnung.pdf" if b"%PDF-" in data[:1024] else "rechnung.xml"


def receipt_of(app, outcome) -> dict:
    """The Eingangsbestätigung of one ingested upload (from the database row the pipeline wrote)."""
    from einvoice.db.models import InvoiceRow

    with app.db.sessions() as s:
        row = s.get(InvoiceRow, outcome.invoice_id)
        report = json.loads(row.report_json) if row.report_json else {}
        received = row.received_at
        channel_meta = json.loads(row.channel_json) if row.channel_json else {}
        state, size, filename = row.state, row.size, row.filename
        number, issue_date = row.invoice_number, row.issue_date
    if received.tzinfo is None:
        received = received.replace(tzinfo=dt.timezone.utc)  # the database keeps UTC
    short, text = STATE_VERDICT.get(state, IN_PROGRESS)
    at = received.astimezone(BERLIN)
    en = language() == "en"
    return {
        "receipt": receipt_number(outcome.sha256),
        "sha256": outcome.sha256,
        "filename": filename,
        "size": size,
        "received_at": at.isoformat(timespec="seconds"),
        "received_at_text": tr("%(date)s, %(time)s Uhr (%(zone)s)", date=at.strftime("%Y-%m-%d" if en else "%d.%m.%Y"),
                               time=at.strftime("%H:%M:%S"), zone=at.strftime("%Z")),
        "state": state,
        "verdict": short,
        "verdict_text": tr(text),
        "accepted": state == "in_approval",
        "already_received": outcome.already_received,
        "reply_to": channel_meta.get("reply_to") if not outcome.already_received else None,
        "findings": [_finding(f) for f in report.get("findings") or []],
        # the verdict in one sentence with the BMF classes, as the clerk's page and the notice say it
        "sentence": explain.report_view(report, number=number, issue_date=issue_date, filename=filename).sentence
        if report else None,
    }


def _finding(f: dict) -> dict:
    """A finding of the receipt: rule, severity, the official text (``message``), and its BMF class,
    explanation and readable location in the language set (einvoice.validation.explain)."""
    v = explain.finding_view(f)
    return {"rule": f.get("rule"), "severity": f.get("severity"), "message": f.get("message"), "location": f.get("location"),
            "bmf_class": v.bmf_class, "class_name": v.class_name, "explanation": v.explanation, "where": v.where,
            "original": v.original}


def token_ok(cfg: UploadConfig, given: str | None) -> bool:
    """True when no token is required, or ``given`` is the token (compared in constant time)."""
    return cfg.token is None or (given is not None and secrets.compare_digest(given.encode(), cfg.token.encode()))


def closed() -> Refusal:
    return Refusal("UPLOAD-OFF", tr("Die Einreichung über diese Seite ist nicht eingerichtet."), 404)


def ingest(app, lock: threading.Lock, name: str, data: bytes, reply_to: str | None,
           via: str) -> tuple[dict | None, Refusal | None]:
    """Hand one file to the intake pipeline (channel ``upload``): its receipt, or UPLOAD-NOT-STORED."""
    from archive import ArchiveError
    from einvoice.pipeline import InboxItem

    meta = {"uploaded_via": via}
    if reply_to:
        meta["reply_to"] = reply_to
    not_stored = Refusal("UPLOAD-NOT-STORED", tr("Die Datei konnte gerade nicht sicher abgelegt werden und "
                                                      "wurde nicht angenommen. Bitte versuchen Sie es später erneut."), 503)
    try:
        with lock:
            outcome = app.intake.ingest([InboxItem(name, data, "upload", channel_meta=meta)])[0]
    except ArchiveError as exc:
        # Storage down or a conflict: the pipeline recorded nothing (the original must be
        # archived first), so the supplier is told to send it again; operators see the log.
        log.error("upload not stored: archive %s error: %s", exc.kind, exc)
        return None, not_stored
    if outcome.invoice_id is None:  # the archive refused this one file: nothing was kept
        return None, not_stored
    return receipt_of(app, outcome), None


async def read_body(request: Request, cfg: UploadConfig) -> tuple[bytes | None, Refusal | None]:
    """The API's body, refused as UPLOAD-SIZE as soon as it is declared or seen to be too large."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cfg.max_bytes:
        return None, size_refusal(int(declared), cfg)
    chunks, seen = [], 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > cfg.max_bytes:
            return None, size_refusal(seen, cfg)
        chunks.append(chunk)
    return b"".join(chunks), None
