"""The supplier-notice outbox: queue a notice when a received file ends rejected, not validated or
not an e-invoice (and, if configured, an acknowledgement when it is accepted), send it by SMTP,
retry with backoff, dead-letter it, archive the exact message as a follow-up entry.

Queueing (``queue_for_intake``) runs inside the intake transaction that records the file and its
state, so a file never ends in a notice state without its notice row; the unique
(invoice, kind) constraint makes it one notice per file and kind. ``queue_missing`` is the
idempotent catch-up scan for recent files without one.

Delivery is AT MOST ONCE. SMTP has no idempotency key the receiving side honours (a Message-ID
only lets some mail systems hide a duplicate), so a notice is never re-sent on the chance it was
lost. Each attempt is: (1) claim the row (lease, attempt counted; own transaction); (2) build
the message once (its bytes and Message-ID are stored and never change); (3) MAIL FROM / RCPT TO;
(4) note ``handed_over_at`` (own transaction) just before DATA; (5) DATA; (6) record the outcome.
A crash before (4) provably sent nothing: when the lease runs out the row is simply pending again.
A crash between (4) and (6) (the server may have accepted the message, the database does not
know) leaves the row ``uncertain``: it is never sent again on its own, a person checks the mail
server's log for the Message-ID and settles it (``einvoice notices settle --sent`` or ``retry``).
The price of at-most-once is that rare window needing a person; the price of at-least-once would
be suppliers receiving the same rejection twice with no way to tell. Permanent refusals (5xx on
the recipient) and ``max_attempts`` temporary failures end as dead letters; a file without any
usable address ends ``no_address``. Every end state is an audit event on the invoice and is
listed for a person (``einvoice notices list --attention``); nothing is dropped.

This module must never send from inside a database transaction, never change a message once its
bytes are stored, and never delete a notice row.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from einvoice import retention
from einvoice.db import Database
from einvoice.db import outbox as delivery
from einvoice.db.models import InvoiceEvent, InvoiceRow, as_utc, utcnow
from einvoice.language import worded
from einvoice.notices import approvers
from einvoice.notices import message as msg
from einvoice.notices.smtp import SmtpSender
from einvoice.notices.tables import SupplierNotice
from einvoice.problems import Problem

log = logging.getLogger(__name__)

#: Statuses that wait for a person.
NEEDS_A_PERSON = ("dead", "no_address", "uncertain")
OPEN = ("pending", "in_flight")
#: Relation and kind of the archived follow-up entry.
ARCHIVE_KIND = "supplier-notice"

#: The audit-trail comments (and stored problems) of the notice outbox, (German, English); kept in
#: both wordings with the event, so the invoice page shows them in the language set.
TRAIL: dict[str, tuple[str, str]] = {
    "sent": ("Hinweis an {recipient} gesendet ({source})", "notice sent to {recipient} ({source})"),
    "no-address": (
        "Keine E-Mail-Adresse des Lieferanten: keine Antwortadresse aus dem Eingangskanal, keine BT-34 mit Schema EM, "
        "keine BT-43{skipped}. Eine Person muss den Lieferanten benachrichtigen oder eine Adresse angeben: "
        "`einvoice notices retry --to`.",
        "no e-mail address for the supplier: no reply address from the channel, no BT-34 with scheme EM, no BT-43"
        "{skipped}. A person must tell the supplier, or give an address: `einvoice notices retry --to`."),
    "refused": ("Der Mailserver hat den Hinweis abgelehnt: {message}. Eine Person muss den Lieferanten benachrichtigen "
                "oder die Ursache beheben, dann `einvoice notices retry`.",
                "the mail server refused the notice: {message}. A person must tell the supplier or fix the cause, "
                "then `einvoice notices retry`."),
    "failed": ("Das Senden ist {attempts}-mal fehlgeschlagen (zuletzt: {rule}: {message}). Eine Person muss den "
               "Lieferanten benachrichtigen oder die Ursache beheben, dann `einvoice notices retry`.",
               "sending failed {attempts} times (last: {rule}: {message}). A person must tell the supplier or fix "
               "the cause, then `einvoice notices retry`."),
    "worker-stopped": (
        "Der Prozess hat beim Senden dieses Hinweises {attempts}-mal angehalten, jedes Mal bevor die Nachricht "
        "hinausging. Eine Person muss sie prüfen, dann `einvoice notices retry`.",
        "the worker stopped {attempts} times while sending this notice, each time before the message went out. "
        "A person must look at it, then `einvoice notices retry`."),
    "uncertain": (
        "Ein Prozess hat angehalten, nachdem er die Nachricht {message_id} dem Mailserver übergeben und bevor er die "
        "Antwort festgehalten hatte; sie ist möglicherweise zugestellt. Bitte im Protokoll des Mailservers nach der "
        "Message-ID sehen, dann `einvoice notices settle --sent` oder `einvoice notices retry`.",
        "a worker stopped after handing message {message_id} to the mail server and before recording the answer; "
        "it may have been delivered. Check the mail server's log for the Message-ID, then "
        "`einvoice notices settle --sent` or `einvoice notices retry`."),
}


@dataclass(frozen=True)
class NoticeProblem(Problem):
    """Why something could not be done, with its rule ID (for people: the message)."""


@dataclass(frozen=True)
class NoticeResult:
    notice_id: int
    invoice_id: int
    kind: str
    outcome: str  # sent | retry | dead | no_address | uncertain | skipped | error
    recipient: str | None = None
    message_id: str | None = None
    attempts: int = 0
    problem: str | None = None


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0          # will be retried
    dead: int = 0            # dead letters made in this run
    no_address: int = 0
    uncertain: int = 0       # leases found run out after the hand-over (needs a person)
    archived: int = 0
    problem: NoticeProblem | None = None  # the run could not send at all (configuration)
    results: list[NoticeResult] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "dead": self.dead, "no_address": self.no_address,
                "uncertain": self.uncertain, "archived": self.archived,
                "problem": str(self.problem) if self.problem else None,
                "results": [r.__dict__ for r in self.results]}


@dataclass(frozen=True)
class NoticeView:
    id: int
    invoice_id: int
    kind: str
    status: str
    attempts: int
    filename: str
    invoice_number: str | None
    seller_name: str | None
    recipient: str | None
    recipient_source: str | None
    message_id: str | None
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None
    last_error_code: str | None
    last_error: str | None
    archive_entry_id: str | None
    resolved_by: str | None
    resolution: str | None

    @property
    def needs_a_person(self) -> bool:
        return self.status in NEEDS_A_PERSON

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in self.__dict__.items()} | {
            "needs_a_person": self.needs_a_person}


# ------------------------------------------------------------------------------------------------
# queueing
# ------------------------------------------------------------------------------------------------
def queue_for_intake(session: Session, received: list[tuple[InvoiceRow, object]], org) -> int:
    """Queue the notices of newly recorded files, in the intake's transaction.

    ``received``: (invoice row, flushed; its EN 16931 model or None). Returns how many were queued.
    """
    cfg = org.notices
    if not cfg.enabled:
        return 0
    now = utcnow()
    n = 0
    for row, model in received:
        kind = msg.kind_for(row.state, cfg.acknowledge_received)
        if kind is None:
            continue
        session.add(SupplierNotice(invoice_id=row.id, kind=kind, status="pending", attempts=0, next_attempt_at=now,
                                   addresses_json=json.dumps(msg.seller_addresses(model), ensure_ascii=False),
                                   created_at=now, updated_at=now))
        n += 1
    return n


def queue_missing(db: Database, org, *, since: dt.datetime, model_of: Callable[[InvoiceRow], object] | None = None,
                  limit: int = 1000) -> int:
    """Queue notices for files received since ``since`` that should have one and have none.

    Idempotent (the unique constraint settles a race with a peer). ``since`` keeps an installation
    that turns notices on from writing to every supplier of past years. ``model_of`` may read the
    original (for BT-34/BT-43); without it only the channel's reply address is known.
    """
    cfg = org.notices
    if not cfg.enabled:
        return 0
    states = [s for s, k in msg.KIND_FOR_STATE.items() if k != msg.RECEIVED or cfg.acknowledge_received]
    # "Has the notice of its current state": a file held as not validated that an operator later
    # rejects gets the rejection notice too (one per file and kind).
    kind_of_state = sa.case({state: kind for state, kind in msg.KIND_FOR_STATE.items()}, value=InvoiceRow.state)
    has = sa.exists().where(SupplierNotice.invoice_id == InvoiceRow.id, SupplierNotice.kind == kind_of_state)
    with db.sessions() as s:
        rows = s.scalars(sa.select(InvoiceRow).where(InvoiceRow.state.in_(states), InvoiceRow.received_at >= since, ~has)
                         .order_by(InvoiceRow.id).limit(limit)).all()
        s.expunge_all()
    queued = 0
    for row in rows:
        model = None
        if model_of is not None:
            try:
                model = model_of(row)
            except Exception:  # noqa: BLE001 - without the model the channel's address may still do
                log.warning("could not read the original of invoice %s for its notice address", row.id, exc_info=True)
        try:
            with db.transaction() as s:
                queued += queue_for_intake(s, [(row, model)], org)
        except sa.exc.IntegrityError:
            pass  # a peer queued it meanwhile: one notice per file and kind
    return queued


# ------------------------------------------------------------------------------------------------
# the outbox
# ------------------------------------------------------------------------------------------------
class NoticeOutbox:
    def __init__(self, db: Database, org, sender=None, *, archive=None, now: Callable[[], dt.datetime] = utcnow,
                 worker_id: str | None = None):
        self.db, self.org, self.cfg = db, org, org.notices
        self.sender = sender if sender is not None else SmtpSender(self.cfg.smtp)
        self.archive = archive
        self.now = now
        self.worker_id = worker_id or delivery.new_worker_id()

    def backoff(self, attempts: int) -> dt.timedelta:
        """Delay before the next attempt after ``attempts`` failed ones (``einvoice.db.outbox.backoff``)."""
        return delivery.backoff(self.cfg.retry, attempts)

    # ---- sending -------------------------------------------------------------------------------
    def send_pending(self, *, limit: int = 100) -> SendReport:
        """Send the notices that are due (and archive sent ones when an archive is given)."""
        report = SendReport()
        self._recover(report)
        problem = self.sender.check() if hasattr(self.sender, "check") else None
        if problem is None and not self.cfg.from_address:
            problem = ("NOTICE-CONFIG", "notices.from_address is not set in the organisation file")
        if problem is not None:
            report.problem = NoticeProblem(*problem)
        else:
            for notice_id in self._claim(limit):
                try:
                    result = self._send_one(notice_id)
                except Exception as exc:  # noqa: BLE001 - the lease runs out and the row is looked at again
                    log.exception("sending notice %s failed", notice_id)
                    result = NoticeResult(notice_id, 0, "?", "error", problem=f"{type(exc).__name__}: {exc}")
                report.results.append(result)
                if result.outcome == "sent":
                    report.sent += 1
                elif result.outcome == "retry":
                    report.failed += 1
                elif result.outcome == "dead":
                    report.dead += 1
                elif result.outcome == "no_address":
                    report.no_address += 1
                elif result.outcome == "uncertain":
                    report.uncertain += 1
        report.archived = self.archive_pending(limit=limit)
        return report

    def _recover(self, report: SendReport) -> None:
        """Rows whose lease ran out (a crashed worker): pending again, or uncertain after a hand-over.

        Each row is taken by a conditional UPDATE, so two workers recovering at once record it once.
        """
        now = self.now()
        expired = delivery.lease_ran_out(SupplierNotice, now)
        try:
            with self.db.transaction() as s:
                ids = s.scalars(sa.select(SupplierNotice.id).where(*expired)).all()
                for nid in ids:
                    taken = s.execute(sa.update(SupplierNotice).where(SupplierNotice.id == nid, *expired).values(
                        status=sa.case((SupplierNotice.handed_over_at.is_(None), "pending"), else_="uncertain"),
                        next_attempt_at=now, lease_until=None, leased_by=None, updated_at=now)).rowcount
                    if taken != 1:
                        continue
                    n = s.get(SupplierNotice, nid)
                    s.refresh(n)
                    if n.status == "pending":
                        if delivery.exhausted(self.cfg.retry, n.attempts):
                            # Workers keep dying while sending this one (nothing went out): a person looks.
                            why, texts = worded(TRAIL["worker-stopped"], attempts=n.attempts)
                            delivery.dead_letter(n, "NOTICE-WORKER-STOPPED", why)
                            self._event(s, n, "notice_dead_letter", n.last_error, **texts)
                            report.dead += 1
                        continue  # provably nothing went out: it is sent on a later attempt
                    n.last_error_code = "NOTICE-SMTP-UNCERTAIN"
                    n.last_error, texts = worded(TRAIL["uncertain"], message_id=n.message_id)
                    self._event(s, n, "notice_uncertain", n.last_error, **texts)
                    report.uncertain += 1
                    report.results.append(NoticeResult(n.id, n.invoice_id, n.kind, "uncertain", n.recipient,
                                                       n.message_id, n.attempts, n.last_error))
        except OperationalError as exc:  # a peer is recovering the same rows (SQLite): its run records them
            if "lock" not in str(exc).lower():
                raise
            log.info("notice recovery lost a race; the peer records the rows")

    def _claim(self, limit: int) -> list[int]:
        """Lease up to ``limit`` due rows to this worker; each by a conditional UPDATE (status still
        pending), so two workers never both hold one row."""
        now = self.now()
        due = delivery.due(SupplierNotice, now)
        mine: list[int] = []
        try:
            with self.db.transaction() as s:
                ids = s.scalars(sa.select(SupplierNotice.id).where(*due)
                                .order_by(SupplierNotice.next_attempt_at, SupplierNotice.id).limit(limit)).all()
                for nid in ids:
                    taken = s.execute(sa.update(SupplierNotice).where(SupplierNotice.id == nid, *due).values(
                        **delivery.lease(self.cfg.retry, self.worker_id, now),
                        attempts=SupplierNotice.attempts + 1)).rowcount
                    if taken == 1:
                        mine.append(nid)
        except OperationalError as exc:  # SQLite: a peer claimed at the same moment; its rows are its own
            if "lock" not in str(exc).lower():
                raise
            return []
        return mine

    def _prepare(self, notice_id: int) -> NoticeResult | tuple[str, str, bytes]:
        """Build the message once (or take the stored one): (recipient, Message-ID, bytes), or the
        result when there is nobody to send it to."""
        now = self.now()
        with self.db.transaction() as s:
            n = s.get(SupplierNotice, notice_id, with_for_update=True)
            if n.status != "in_flight" or n.leased_by != self.worker_id:
                return NoticeResult(n.id, n.invoice_id, n.kind, "skipped", n.recipient, n.message_id, n.attempts,
                                    "another worker took this notice over")
            if n.message is not None:
                return n.recipient, n.message_id, n.message
            inv = s.get(InvoiceRow, n.invoice_id)
            if approvers.is_approver_kind(n.kind):  # the second kind of message: to a person of the organisation
                return self._prepare_for_approver(s, n, now)
            channel = msg.channel_data(inv.channel_json)
            addresses = json.loads(n.addresses_json or "{}")
            recipient, source, skipped = msg.choose_recipient(channel, addresses)
            if recipient is None:
                n.status, n.lease_until, n.updated_at = "no_address", None, now
                n.last_error_code = "NOTICE-NO-ADDRESS"
                n.last_error, texts = worded(TRAIL["no-address"], skipped=f" ({'; '.join(skipped)})" if skipped else "")
                self._event(s, n, "notice_no_address", n.last_error, **texts)
                return NoticeResult(n.id, n.invoice_id, n.kind, "no_address", None, None, n.attempts, n.last_error)
            message_id, data = msg.build_message(settings=self.cfg, organisation_name=self.org.name, notice_id=n.id,
                                                 kind=n.kind, invoice=inv, recipient=recipient, channel=channel, now=now)
            n.recipient, n.recipient_source = recipient, source
            n.message_id, n.message, n.message_sha256 = message_id, data, msg.sha256(data)
            n.updated_at = now
            return recipient, message_id, data

    def _prepare_for_approver(self, s: Session, n: SupplierNotice, now: dt.datetime):
        data = json.loads(n.addresses_json or "{}")
        recipient, source, why = approvers.recipient(self.org, data)
        if recipient is None:
            n.status, n.lease_until, n.updated_at = "no_address", None, now
            n.last_error_code, n.last_error = "NOTICE-NO-ADDRESS", why + "."
            self._event(s, n, "notice_no_address", n.last_error)
            return NoticeResult(n.id, n.invoice_id, n.kind, "no_address", None, None, n.attempts, n.last_error)
        message_id, data_bytes = approvers.build_message(settings=self.cfg, org=self.org, notice_id=n.id, kind=n.kind,
                                                         data=data, recipient_address=recipient, now=now)
        n.recipient, n.recipient_source = recipient, source
        n.message_id, n.message, n.message_sha256 = message_id, data_bytes, msg.sha256(data_bytes)
        n.updated_at = now
        return recipient, message_id, data_bytes

    def _send_one(self, notice_id: int) -> NoticeResult:
        try:
            prepared = self._prepare(notice_id)
        except Exception as exc:  # noqa: BLE001 - a template or report that cannot be rendered: counted, then dead
            log.exception("building notice %s failed", notice_id)
            from einvoice.notices.smtp import SendOutcome

            return self._record(notice_id, SendOutcome("retry", "NOTICE-BUILD", f"the message could not be built "
                                                                                 f"({type(exc).__name__}: {exc})"))
        if isinstance(prepared, NoticeResult):
            return prepared
        recipient, message_id, data = prepared

        def hand_over() -> bool:
            # Durably noted before the content goes out: from here on a crash means "maybe delivered".
            # Only while this worker still holds the lease (a conditional UPDATE).
            with self.db.transaction() as s:
                return s.execute(sa.update(SupplierNotice).where(
                    SupplierNotice.id == notice_id, SupplierNotice.status == "in_flight",
                    SupplierNotice.leased_by == self.worker_id).values(handed_over_at=self.now())).rowcount == 1

        outcome = self.sender.send(self.cfg.from_address, recipient, data, before_data=hand_over)
        return self._record(notice_id, outcome)

    def _record(self, notice_id: int, outcome) -> NoticeResult:
        now = self.now()
        with self.db.transaction() as s:
            n = s.get(SupplierNotice, notice_id, with_for_update=True)
            mine = delivery.holds_lease(n, self.worker_id)
            if outcome.kind not in ("sent", "uncertain") and not mine and n.status != "uncertain":
                # Another worker took the row over (our lease ran out before the hand-over): its outcome counts.
                return NoticeResult(n.id, n.invoice_id, n.kind, "skipped", n.recipient, n.message_id, n.attempts,
                                    f"{outcome.rule}: {outcome.message}")
            n.lease_until, n.leased_by, n.updated_at = None, None, now
            if outcome.kind == "sent":
                n.status, n.sent_at = "sent", now
                n.last_error_code = n.last_error = None
                comment, texts = worded(TRAIL["sent"], recipient=n.recipient, source=n.recipient_source)
                self._event(s, n, "notice_sent", comment, server=outcome.message, **texts)
                return NoticeResult(n.id, n.invoice_id, n.kind, "sent", n.recipient, n.message_id, n.attempts)
            n.last_error_code, n.last_error = outcome.rule, outcome.message
            if outcome.kind == "uncertain":
                n.status = "uncertain"
                self._event(s, n, "notice_uncertain", outcome.message)
                return NoticeResult(n.id, n.invoice_id, n.kind, "uncertain", n.recipient, n.message_id, n.attempts,
                                    outcome.message)
            n.handed_over_at = None  # the server answered: it did not take the message
            if outcome.kind == "rejected" or delivery.exhausted(self.cfg.retry, n.attempts):
                why, texts = (worded(TRAIL["refused"], message=outcome.message) if outcome.kind == "rejected" else
                              worded(TRAIL["failed"], attempts=n.attempts, rule=outcome.rule, message=outcome.message))
                delivery.dead_letter(n, outcome.rule, why)
                self._event(s, n, "notice_dead_letter", n.last_error, **texts)
                return NoticeResult(n.id, n.invoice_id, n.kind, "dead", n.recipient, n.message_id, n.attempts, n.last_error)
            delivery.retry_later(n, self.cfg.retry, now)
            return NoticeResult(n.id, n.invoice_id, n.kind, "retry", n.recipient, n.message_id, n.attempts,
                                f"{outcome.rule}: {outcome.message}")

    @staticmethod
    def _event(s: Session, n: SupplierNotice, action: str, comment: str, *, actor: str = "system", **extra) -> None:
        inv = s.get(InvoiceRow, n.invoice_id)
        details = {"notice_id": n.id, "kind": n.kind, "recipient": n.recipient, "recipient_source": n.recipient_source,
                   "message_id": n.message_id, "message_sha256": n.message_sha256, "attempts": n.attempts}
        details.update({k: v for k, v in extra.items() if v is not None})
        s.add(InvoiceEvent(invoice_id=n.invoice_id, actor=actor, action=action, from_state=inv.state, to_state=inv.state,
                           comment=comment, details_json=json.dumps(details, ensure_ascii=False)))

    # ---- a person resolves ---------------------------------------------------------------------
    def _allowed(self, person_id: str) -> NoticeProblem | None:
        """Only the zentrale Rechnungseingangsstelle (role ``central_desk``) answers suppliers."""
        from einvoice.organisation import Role

        try:
            person = self.org.person(person_id)
        except KeyError:
            return NoticeProblem("UNKNOWN-PERSON", f"{person_id!r} is not a person of the organisation file.")
        if not any(g.role == Role.CENTRAL_DESK for g in person.grants):
            return NoticeProblem("NOTICE-ROLE", f"{person.name} has no role central_desk: only the zentrale "
                                                "Rechnungseingangsstelle resolves supplier notices.")
        return None

    def retry(self, notice_id: int, person_id: str, *, to: str | None = None, comment: str | None = None) -> NoticeProblem | None:
        """Send a dead, uncertain or address-less notice again (``to``: a new address; the message
        is then built afresh for it). An uncertain notice may reach the supplier twice: the person
        decides that after checking the mail server."""
        if to is not None and not msg.is_address(to):
            return NoticeProblem("NOTICE-ADDRESS", f"{to!r} is not an e-mail address.")
        refused = self._allowed(person_id)
        if refused:
            return refused
        now = self.now()
        with self.db.transaction() as s:
            n = s.get(SupplierNotice, notice_id, with_for_update=True)
            if n is None:
                return NoticeProblem("NOT-FOUND", f"there is no notice {notice_id}.")
            if n.status not in NEEDS_A_PERSON + ("pending",):
                return NoticeProblem("NOTICE-NOT-WAITING", f"notice {notice_id} is {n.status}; only dead, uncertain, "
                                                           "address-less and pending notices can be sent again.")
            if n.status == "no_address" and to is None:
                return NoticeProblem("NOTICE-NO-ADDRESS", f"notice {notice_id} has no address: give one with --to.")
            was = n.status
            if to is not None:
                # A new recipient: the message is built again for it on the next attempt (same Message-ID:
                # it is still this one notice).
                n.addresses_json = json.dumps({**json.loads(n.addresses_json or "{}"), "given_by_person": to})
                n.message = n.message_id = n.message_sha256 = None
                n.recipient, n.recipient_source = None, None
            delivery.start_over(n, now)
            n.leased_by = n.handed_over_at = None
            n.resolved_by, n.resolution, n.updated_at = person_id, f"retry ({was}): {comment or ''}".strip(), now
            self._event(s, n, "notice_retry", comment or "", actor=person_id, was=was, to=to)
        return None

    def settle_sent(self, notice_id: int, person_id: str, *, comment: str) -> NoticeProblem | None:
        """A person found the message in the mail server's log (or told the supplier otherwise): sent."""
        if not (comment or "").strip():
            return NoticeProblem("REASON-REQUIRED", "say how you know the supplier got it (e.g. the mail server log line).")
        refused = self._allowed(person_id)
        if refused:
            return refused
        now = self.now()
        with self.db.transaction() as s:
            n = s.get(SupplierNotice, notice_id, with_for_update=True)
            if n is None:
                return NoticeProblem("NOT-FOUND", f"there is no notice {notice_id}.")
            if n.status not in NEEDS_A_PERSON:
                return NoticeProblem("NOTICE-NOT-WAITING", f"notice {notice_id} is {n.status}, not waiting for a person.")
            was = n.status
            n.status, n.sent_at = "sent", now
            n.resolved_by, n.resolution, n.updated_at = person_id, f"settled as sent ({was}): {comment}", now
            self._event(s, n, "notice_settled_sent", comment, actor=person_id, was=was)
        return None

    # ---- archive -------------------------------------------------------------------------------
    def archive_pending(self, *, limit: int = 100) -> int:
        """Archive sent supplier notices (exact message bytes) as follow-up entries of the invoice's
        entry (approver notifications are internal mail, not part of the Beleg's story)."""
        if self.archive is None:
            return 0
        with self.db.sessions() as s:
            ids = s.scalars(sa.select(SupplierNotice.id).where(SupplierNotice.status == "sent",
                                                               SupplierNotice.message.is_not(None),
                                                               SupplierNotice.archived_at.is_(None),
                                                               SupplierNotice.kind.not_in(approvers.KINDS))
                            .order_by(SupplierNotice.id).limit(limit)).all()
        return sum(1 for i in ids if self._archive_one(i))

    def _archive_one(self, notice_id: int) -> bool:
        from archive import ArchiveDocument, EntryInput

        with self.db.sessions() as s:
            n = s.get(SupplierNotice, notice_id)
            inv = s.get(InvoiceRow, n.invoice_id)
            entry = EntryInput(
                entry_id=notice_entry_id(n.message_id),
                documents=[ArchiveDocument("notice.eml", "message/rfc822", n.message)],
                metadata={k: v for k, v in {
                    "kind": ARCHIVE_KIND, "notice_kind": n.kind, "invoice_id": inv.id, "invoice_number": inv.invoice_number,
                    "seller": inv.seller_name, "recipient": n.recipient, "recipient_source": n.recipient_source,
                    "message_id": n.message_id, "message_sha256": n.message_sha256,
                    "sent_at": as_utc(n.sent_at).isoformat() if n.sent_at else None}.items() if v is not None},
                # Part of the Beleg's story: kept as long as the received document itself.
                retention_class=retention.INVOICE,
                retention_base=max(retention.local_date(n.sent_at or self.now()), retention.local_date(inv.received_at)),
                relates_to=inv.archive_entry_id, relation=ARCHIVE_KIND if inv.archive_entry_id else None,
            )
        try:
            receipt = self.archive.append([entry])[0]
        except Exception:  # noqa: BLE001 - S3 down: the notice waits for the next run, nothing is lost
            log.exception("archiving notice %s failed; archive_pending will try again", notice_id)
            return False
        with self.db.transaction() as s:
            n = s.get(SupplierNotice, notice_id)
            n.archive_entry_id, n.archived_at = receipt.entry_id, self.now()
        return True

    # ---- reading -------------------------------------------------------------------------------
    def list(self, *, status: str | None = None, attention: bool = False, invoice_id: int | None = None,
             limit: int = 100) -> list[NoticeView]:
        q = (sa.select(SupplierNotice, InvoiceRow).join(InvoiceRow, InvoiceRow.id == SupplierNotice.invoice_id)
             .order_by(SupplierNotice.id).limit(limit))
        if attention:
            q = q.where(SupplierNotice.status.in_(NEEDS_A_PERSON))
        elif status:
            q = q.where(SupplierNotice.status == status)
        if invoice_id is not None:
            q = q.where(SupplierNotice.invoice_id == invoice_id)
        with self.db.sessions() as s:
            return [_view(n, inv) for n, inv in s.execute(q).all()]

    def message(self, notice_id: int) -> bytes | None:
        """The exact bytes of a notice's message (None before it was built)."""
        with self.db.sessions() as s:
            n = s.get(SupplierNotice, notice_id)
            return None if n is None else n.message

    def unarchived(self) -> int:
        with self.db.sessions() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(SupplierNotice).where(
                SupplierNotice.status == "sent", SupplierNotice.message.is_not(None),
                SupplierNotice.archived_at.is_(None), SupplierNotice.kind.not_in(approvers.KINDS))) or 0


def notice_entry_id(message_id: str) -> str:
    return f"{ARCHIVE_KIND}:{message_id.strip('<>')}"


def _view(n: SupplierNotice, inv: InvoiceRow) -> NoticeView:
    return NoticeView(
        id=n.id, invoice_id=inv.id, kind=n.kind, status=n.status, attempts=n.attempts, filename=inv.filename,
        invoice_number=inv.invoice_number, seller_name=inv.seller_name, recipient=n.recipient,
        recipient_source=n.recipient_source, message_id=n.message_id, next_attempt_at=as_utc(n.next_attempt_at),
        sent_at=as_utc(n.sent_at), last_error_code=n.last_error_code, last_error=n.last_error,
        archive_entry_id=n.archive_entry_id, resolved_by=n.resolved_by, resolution=n.resolution)


def notice_outbox_for_app(app, sender=None, *, archive: bool = True) -> NoticeOutbox:
    """The outbox as the CLI and the flows use it (the archive only when S3 is configured and wanted)."""
    archive_obj = app.archive if archive and app.settings.s3_endpoint else None
    return NoticeOutbox(app.db, app.organisation, sender, archive=archive_obj)
