"""E-mail intake channel: read an IMAP mailbox over TLS and feed each message to the intake pipeline.

E-mail channels to public bodies take one e-invoice per mail (README, "E-mail intake";
../shared/docs/domain.md, "Channels to public bodies"). For each
message of the configured inbox folder this module decides what the message is (``classify``):

* exactly one e-invoice attached (XRechnung UBL/CII XML, ZUGFeRD/Factur-X PDF; a separate copy of
  a PDF's own embedded XML does not count twice): that attachment becomes one received file with
  channel ``email`` and ``channel_json`` {message_id, from, reply_to, subject, date, attachment}. The
  raw message (RFC 822 bytes) is archived **in the same archive entry** as the invoice, as the
  document ``e-mail.eml`` (channel evidence). Other attachments are not ingested (they stay in the
  archived message). Folder: ``processed``.
* no e-invoice, or a MIME structure that could not be read: the message itself (its RFC 822 bytes)
  is recorded as a received file in state ``not_an_invoice`` with rule MAIL-NO-INVOICE / MAIL-MIME,
  so a notice can go to ``channel_json.reply_to``. Folder: ``no_invoice``.
* several e-invoices: the message is recorded in state ``rejected`` (MAIL-SEVERAL-INVOICES); none of
  the invoices is ingested, the supplier must send one per mail. Folder: ``several_invoices``.
* larger than ``max_message_mb`` (or an attachment above the pipeline's file limit): the body is
  not downloaded; its header is recorded in state ``rejected`` (MAIL-TOO-LARGE) and the message
  stays on the server in ``too_large``.

A message is moved (UID MOVE, else COPY + \\Deleted + EXPUNGE) only after all its files are
archived and recorded; a message whose file the archive refused stays in the inbox for the next
run. Re-reading is idempotent: files by SHA-256 (the pipeline), messages recorded without an
invoice also by Message-ID (a re-delivery has other bytes).

This module must never delete a message that is not stored, never send mail, never log the
password, never connect without TLS, and never import Prefect.
"""
from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import hashlib
import imaplib
import json
import os
import re
import ssl
from dataclasses import asdict, dataclass, field
from email.header import decode_header, make_header

import sqlalchemy as sa

from einvoice.intake import detect
from einvoice.intake.inbox import MAX_FILE_BYTES, InboxItem, IngestOutcome
from einvoice.organisation import MailSettings
from einvoice.problems import Problem
from einvoice.states import InvoiceState

CHANNEL = "email"
EVIDENCE_NAME = "e-mail.eml"
#: syntaxes that make an attachment an e-invoice (ZUGFeRD 1.0 too: the pipeline then says it is legacy)
INVOICE_SYNTAXES = {"ubl-invoice", "ubl-creditnote", "cii", "zugferd1"}
#: fetched messages held in memory before a batch is archived and recorded
BATCH_BYTES = 100 * 1024 * 1024

# kind of a message -> (rule ID, state of its record, folder attribute); "invoice" has no record
KINDS = {
    "invoice": (None, None, "processed"),
    "no-invoice": ("MAIL-NO-INVOICE", InvoiceState.NOT_AN_INVOICE.value, "no_invoice"),
    "malformed": ("MAIL-MIME", InvoiceState.NOT_AN_INVOICE.value, "no_invoice"),
    "several": ("MAIL-SEVERAL-INVOICES", InvoiceState.REJECTED.value, "several_invoices"),
    "too-large": ("MAIL-TOO-LARGE", InvoiceState.REJECTED.value, "too_large"),
}


@dataclass(frozen=True)
class MailProblem(Problem):
    """Why the mailbox could not be read (a run with one fails, with this message)."""


@dataclass
class Classified:
    """What one message is, and the received file(s) it becomes."""

    kind: str
    message_id: str | None
    meta: dict
    items: list[InboxItem] = field(default_factory=list)

    @property
    def dedupe_key(self) -> str:
        return self.message_id or f"sha256:{self.meta.get('message_sha256')}"


@dataclass
class MessageOutcome:
    uid: str
    message_id: str | None
    sender: str | None
    subject: str | None
    kind: str
    folder: str | None = None  # where the message was moved; None: still in the inbox
    files: list[IngestOutcome] = field(default_factory=list)
    already_received: bool = False
    problem: str | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["files"] = [f.as_dict() for f in self.files]
        return d


@dataclass
class MailRun:
    messages: list[MessageOutcome] = field(default_factory=list)
    problem: MailProblem | None = None

    @property
    def outcomes(self) -> list[IngestOutcome]:
        return [f for m in self.messages for f in m.files]


# --------------------------------------------------------------------------------------------
# one message: what is it?
# --------------------------------------------------------------------------------------------
def _text(value) -> str | None:
    """A header as readable text (RFC 2047 decoded); never raises on broken encodings."""
    if value is None:
        return None
    try:
        return str(make_header(decode_header(str(value)))).strip()
    except Exception:  # noqa: BLE001 - a broken encoded word: keep the raw text
        return str(value).strip()


def _address(value: str | None) -> str | None:
    if not value:
        return None
    addrs = [a for _, a in email.utils.getaddresses([value]) if a and "@" in a]
    return addrs[0] if addrs else None


def _safe_name(name: str | None, fallback: str) -> str:
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().strip(".")
    return name[:200] or fallback


def _header_meta(msg, raw: bytes, size: int | None = None) -> dict:
    message_id = (_text(msg.get("Message-ID")) or "").strip() or None
    sender = _text(msg.get("From"))
    reply = _address(_text(msg.get("Reply-To"))) or _address(sender)
    meta = {"message_id": message_id, "from": sender, "reply_to": reply, "subject": _text(msg.get("Subject")),
            "date": _text(msg.get("Date")), "message_sha256": hashlib.sha256(raw).hexdigest()}
    if size is not None:
        meta["message_size"] = size
    return meta


def _attachments(msg) -> list[tuple[str | None, str, bytes | None]]:
    """(file name, content type, decoded bytes) of each leaf part that is not the mail text."""
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = (part.get_content_type() or "").lower()
        try:
            name = _text(part.get_filename())
        except Exception:  # noqa: BLE001 - a broken parameter: treat as unnamed
            name = None
        if name is None and ctype in ("text/plain", "text/html"):
            continue  # the mail text
        try:
            data = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001 - undecodable payload: counted as unreadable part
            data = None
        parts.append((name, ctype, data))
    return parts


def _record(kind: str, raw: bytes, name: str, meta: dict, message: str) -> InboxItem:
    rule, state, _ = KINDS[kind]
    return InboxItem(name=name, data=raw, channel=CHANNEL, channel_meta={**meta, "attachment": None, "rule": rule},
                     refusal=(rule, state, message))


def _record_name(meta: dict) -> str:
    return f"e-mail-{meta['message_sha256'][:16]}.eml"


def classify(raw: bytes, *, max_file_bytes: int = MAX_FILE_BYTES) -> Classified:
    """What one message is, from its RFC 822 bytes (pure; no network, no database)."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    meta = _header_meta(msg, raw)
    invoices: list[tuple[str, bytes, object]] = []
    too_large, names = [], []
    unnamed = 0
    for name, ctype, data in _attachments(msg):
        if data is None:
            continue
        unnamed += name is None
        shown = _safe_name(name, f"anhang-{unnamed}")
        names.append(shown)
        if len(data) > max_file_bytes:
            too_large.append((shown, len(data)))
            continue
        found = detect(data, shown)
        broken_xml = found.container == "xml" and found.root is None and (
            shown.lower().endswith(".xml") or ctype.endswith("xml"))
        if found.syntax in INVOICE_SYNTAXES or broken_xml:
            invoices.append((shown, data, found))
    # A hybrid PDF and a copy of its own embedded XML are one invoice: keep the PDF.
    embedded = {f.xml for _, _, f in invoices if f.container == "pdf" and f.xml is not None}
    invoices = [inv for inv in invoices if not (inv[2].container == "xml" and inv[1] in embedded)]
    meta["attachments"] = names
    defects = [type(d).__name__ for part in msg.walk() for d in getattr(part, "defects", [])]
    if defects:
        meta["mime_defects"] = sorted(set(defects))

    if too_large:
        listed = ", ".join(f"{n} ({s:,} Bytes)" for n, s in too_large)
        return Classified("too-large", meta["message_id"], meta, [_record(
            "too-large", raw, _record_name(meta), meta,
            f"Der Anhang {listed} ist größer als die Grenze von {max_file_bytes:,} Bytes und wurde nicht gelesen. "
            "Bitte senden Sie die Rechnung als kleinere Datei.")])
    if len(invoices) == 1:
        name, data, _ = invoices[0]
        evidence = EVIDENCE_NAME if name != EVIDENCE_NAME else "e-mail-original.eml"
        item = InboxItem(name=name, data=data, channel=CHANNEL, channel_meta={**meta, "attachment": name},
                         evidence=((evidence, "message/rfc822", raw),))
        return Classified("invoice", meta["message_id"], meta, [item])
    if len(invoices) > 1:
        listed = ", ".join(n for n, _, _ in invoices)
        return Classified("several", meta["message_id"], meta, [_record(
            "several", raw, _record_name(meta), meta,
            f"Die E-Mail enthält {len(invoices)} E-Rechnungen ({listed}); dieser Eingangskanal nimmt je E-Mail genau "
            "eine Rechnung an. Keine davon wurde angenommen: bitte jede Rechnung in einer eigenen E-Mail senden.")])
    if defects:
        return Classified("malformed", meta["message_id"], meta, [_record(
            "malformed", raw, _record_name(meta), meta,
            f"Die E-Mail ist fehlerhaft aufgebaut (MIME: {', '.join(sorted(set(defects)))}); es konnte keine "
            "E-Rechnung darin gefunden werden. Bitte die Rechnung erneut senden.")])
    what = f" (Anhänge: {', '.join(names)})" if names else " (keine Anhänge)"
    return Classified("no-invoice", meta["message_id"], meta, [_record(
        "no-invoice", raw, _record_name(meta), meta,
        f"Die E-Mail enthält keine E-Rechnung{what}. Angenommen werden XRechnung (XML) und ZUGFeRD/Factur-X "
        "(PDF mit eingebetteten Rechnungsdaten); eine PDF ohne strukturierte Daten ist keine E-Rechnung.")])


def classify_too_large(header: bytes, size: int, limit: int) -> Classified:
    """A message above the size limit, from its header only (the body is never downloaded)."""
    msg = email.message_from_bytes(header, policy=email.policy.compat32)
    meta = _header_meta(msg, header, size)
    return Classified("too-large", meta["message_id"], meta, [_record(
        "too-large", header, _record_name(meta), meta,
        f"Die E-Mail ist {size:,} Bytes groß, mehr als die Grenze von {limit:,} Bytes; sie wurde nicht gelesen "
        "und bleibt im Postfach. Bitte die Rechnung als kleinere Datei senden.")])


# --------------------------------------------------------------------------------------------
# database: messages already recorded without an invoice
# --------------------------------------------------------------------------------------------
def known_message_ids(db, message_ids: list[str]) -> set[str]:
    """Which of ``message_ids`` an earlier run already recorded (channel_json.message_id)."""
    from einvoice.db.models import InvoiceRow

    wanted = {m for m in message_ids if m}
    if not wanted:
        return set()
    found: set[str] = set()

    def like(mid: str):
        needle = json.dumps({"message_id": mid}, ensure_ascii=False)[1:-1]
        needle = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return InvoiceRow.channel_json.like(f"%{needle}%", escape="\\")

    ids = sorted(wanted)
    with db.sessions() as s:
        for i in range(0, len(ids), 50):
            rows = s.scalars(sa.select(InvoiceRow.channel_json).where(
                InvoiceRow.channel == CHANNEL, sa.or_(*(like(m) for m in ids[i:i + 50])))).all()
            for text in rows:
                try:
                    mid = json.loads(text).get("message_id")
                except (ValueError, AttributeError):
                    continue
                if mid in wanted:
                    found.add(mid)
    return found


# --------------------------------------------------------------------------------------------
# IMAP
# --------------------------------------------------------------------------------------------
def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MailboxError(Exception):
    """Internal: carries a MailProblem out of the IMAP conversation (never leaves this module)."""

    def __init__(self, problem: MailProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _ok(result, what: str):
    typ, data = result
    if typ != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        raise MailboxError(MailProblem("MAIL-IMAP", f"Der IMAP-Server hat {what} abgelehnt: {typ} {detail}"))
    return data


def connect(settings: MailSettings, password: str | None = None) -> imaplib.IMAP4:
    """A logged-in IMAP connection over TLS (IMAPS or STARTTLS), or MailboxError with the reason."""
    password = password if password is not None else os.environ.get(settings.password_env)
    if not password:
        raise MailboxError(MailProblem("MAIL-PASSWORD", f"Das Passwort des Postfachs fehlt: die Umgebungsvariable "
                                                        f"{settings.password_env} ist nicht gesetzt."))
    where = f"{settings.server}:{settings.effective_port}"
    try:
        ctx = ssl.create_default_context(cafile=settings.ca_file)
        if settings.tls == "imaps":
            conn = imaplib.IMAP4_SSL(settings.server, settings.effective_port, ssl_context=ctx,
                                     timeout=settings.timeout_seconds)
        else:
            conn = imaplib.IMAP4(settings.server, settings.effective_port, timeout=settings.timeout_seconds)
            if "STARTTLS" not in conn.capabilities:
                conn.shutdown()
                raise MailboxError(MailProblem("MAIL-TLS", f"{where} bietet kein STARTTLS an; ohne TLS wird nicht "
                                                           "angemeldet (tls: imaps verwenden?)."))
            conn.starttls(ctx)
    except MailboxError:
        raise
    except ssl.SSLError as exc:
        raise MailboxError(MailProblem("MAIL-TLS", f"TLS mit {where} fehlgeschlagen: {exc}")) from None
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(MailProblem("MAIL-CONNECT", f"Postfach {where} nicht erreichbar: "
                                                       f"{type(exc).__name__}: {exc}")) from None
    try:
        conn.login(settings.user, password)
    except imaplib.IMAP4.error as exc:
        conn.shutdown()
        raise MailboxError(MailProblem("MAIL-LOGIN", f"Anmeldung als {settings.user} an {where} abgelehnt: "
                                                     f"{exc}")) from None
    return conn


def _ensure_folders(conn, settings: MailSettings) -> None:
    f = settings.folders
    for folder in (f.processed, f.no_invoice, f.several_invoices, f.too_large):
        typ, _ = conn.create(_quote(folder))  # NO [ALREADYEXISTS] is fine
        if typ != "OK":
            _ok(conn.select(_quote(folder), readonly=True), f"den Ordner {folder}")  # exists after all?
    _ok(conn.select(_quote(f.inbox)), f"den Ordner {f.inbox}")


def _sizes(conn, uids: list[str]) -> dict[str, int]:
    data = _ok(conn.uid("FETCH", ",".join(uids), "(RFC822.SIZE)"), "FETCH RFC822.SIZE")
    sizes = {}
    for line in data:
        if isinstance(line, tuple):
            line = line[0]
        if not isinstance(line, bytes):
            continue
        m_uid, m_size = re.search(rb"UID (\d+)", line), re.search(rb"RFC822\.SIZE (\d+)", line)
        if m_uid and m_size:
            sizes[m_uid.group(1).decode()] = int(m_size.group(1))
    return sizes


def _fetch(conn, uid: str, section: str) -> bytes:
    data = _ok(conn.uid("FETCH", uid, f"(BODY.PEEK[{section}])"), f"FETCH {uid}")
    for part in data:
        if isinstance(part, tuple) and len(part) == 2:
            return part[1]
    raise MailboxError(MailProblem("MAIL-IMAP", f"Nachricht UID {uid}: der Server lieferte keinen Inhalt"))


def _move(conn, uid: str, folder: str) -> None:
    if "MOVE" in conn.capabilities:
        _ok(conn.uid("MOVE", uid, _quote(folder)), f"MOVE {uid} nach {folder}")
        return
    _ok(conn.uid("COPY", uid, _quote(folder)), f"COPY {uid} nach {folder}")
    _ok(conn.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)"), f"STORE {uid} \\Deleted")
    if "UIDPLUS" in conn.capabilities:
        _ok(conn.uid("EXPUNGE", uid), f"UID EXPUNGE {uid}")
    else:
        _ok(conn.expunge(), "EXPUNGE")


def fetch_mailbox(settings: MailSettings, pipeline, db, *, password: str | None = None,
                  limit: int | None = None) -> MailRun:
    """Read every message of the inbox folder once: archive + record its files, then move it.

    Returns the outcomes; a connection problem ends the run with ``MailRun.problem`` set (the
    messages handled so far stand; the others stay in the inbox for the next run).
    """
    run = MailRun()
    conn = None
    try:
        conn = connect(settings, password)
        _ensure_folders(conn, settings)
        data = _ok(conn.uid("SEARCH", None, "UNDELETED"), "SEARCH")
        uids = [u.decode() for u in (data[0] or b"").split()]
        if limit is not None:
            uids = uids[:limit]
        max_bytes = int(settings.max_message_mb * 1024 * 1024)
        for start in range(0, len(uids), settings.batch_size):
            chunk = uids[start:start + settings.batch_size]
            sizes = _sizes(conn, chunk)
            batch: list[tuple[str, Classified]] = []
            held = 0
            for uid in chunk:
                size = sizes.get(uid, 0)
                if size > max_bytes:
                    batch.append((uid, classify_too_large(_fetch(conn, uid, "HEADER"), size, max_bytes)))
                    continue
                raw = _fetch(conn, uid, "")
                batch.append((uid, classify(raw)))
                held += len(raw)
                if held >= BATCH_BYTES:
                    _store_and_move(conn, settings, pipeline, db, batch, run)
                    batch, held = [], 0
            if batch:
                _store_and_move(conn, settings, pipeline, db, batch, run)
    except MailboxError as exc:
        run.problem = exc.problem
    except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError) as exc:
        run.problem = MailProblem("MAIL-CONNECTION-LOST", f"Verbindung zu {settings.server}:{settings.effective_port} "
                                                          f"abgebrochen: {type(exc).__name__}: {exc}. Bereits "
                                                          "gespeicherte Nachrichten sind verschoben, die übrigen "
                                                          "bleiben für den nächsten Lauf im Postfach.")
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):  # the connection may be gone already; the outcome stands
                conn.logout()
    return run


def _store_and_move(conn, settings: MailSettings, pipeline, db, batch: list[tuple[str, Classified]],
                    run: MailRun) -> None:
    """Archive and record the files of ``batch``, then move each message whose files are all stored."""
    records = [c.dedupe_key for _, c in batch if c.kind != "invoice"]
    known = known_message_ids(db, records)
    offered: list[InboxItem] = []
    plan: list[tuple[str, Classified, slice | None]] = []
    for uid, c in batch:
        if c.kind != "invoice" and c.dedupe_key in known:
            plan.append((uid, c, None))  # recorded by an earlier run or message (a re-delivery): move only
            continue
        if c.kind != "invoice":
            known.add(c.dedupe_key)
        plan.append((uid, c, slice(len(offered), len(offered) + len(c.items))))
        offered.extend(c.items)
    outcomes = pipeline.ingest(offered) if offered else []
    for uid, c, where in plan:
        files = outcomes[where] if where is not None else []
        m = MessageOutcome(uid, c.message_id, c.meta.get("from"), c.meta.get("subject"), c.kind, files=files,
                           already_received=where is None or all(f.already_received for f in files))
        run.messages.append(m)
        unstored = [f for f in files if f.state == "unreadable"]
        if unstored:
            m.problem = "nicht gespeichert, bleibt im Postfach: " + "; ".join(f.verdict for f in unstored)
            continue
        folder = getattr(settings.folders, KINDS[c.kind][2])
        _move(conn, uid, folder)
        m.folder = folder
