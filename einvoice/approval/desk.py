"""The central desk's and the approvers' further actions: reopen, Klärung, delegation, substitutes, bulk.

Part of ``ApprovalService`` (mixed in as ``DeskActions``), so every action here runs through the
same transaction, locking and ``_run`` as the approval actions, and every decision about money still
goes through ``ApprovalService.approve`` with all its rules:

* the zentrale Rechnungseingangsstelle lists the documents validation rejected and the files that are
  no e-invoice (``desk_documents``: reason as rule IDs, channel, time of receipt) and reopens a rejected
  document with a reason (``reopen_rejected``): it is routed like a new invoice (or to the department
  the desk names) and starts at the sachliche Richtigkeit, duplicate check included. A file that is no
  e-invoice under § 14 UStG stays a document: it never enters approval;
* a Klärung (``set_hold``/``release_hold``): the invoice waits for a clarification until a date; the
  step cannot be signed meanwhile (HOLD-OPEN), the deadlines keep counting and stay visible;
* delegation of an open task to a named person who the organisation file allows to sign it
  (``delegate``); from then on only that person, or whoever stands in for them, signs it (DELEGATED);
* Abwesenheitsvertretung set by a person for themselves (``set_substitute``/``end_substitute``): it
  counts exactly like a deputy of the organisation file (``ApprovalService.org``), so the substitute
  acts "als Vertretung für …" during the period and is refused after it (DEPUTY-NOT-ABSENT);
* bulk approval of one step (``approve_many``): each invoice is decided and logged on its own by
  ``approve``; the result lists which were recorded and which were refused, with rule ID and reason.

Rule IDs here: NOT-REJECTED, NOT-AN-E-INVOICE, REOPEN-NO-DATA, REASON-REQUIRED, HOLD-DATE, HOLD-EXISTS,
NO-HOLD, DELEGATE-SELF, DELEGATE-NOT-ALLOWED, SUBSTITUTE-SELF, SUBSTITUTE-PERIOD, SUBSTITUTE-DEPARTMENT,
SUBSTITUTE-NO-GRANTS, NO-SUCH-SUBSTITUTE, BULK-WRONG-STEP, BULK-EMPTY, BULK-TOO-MANY (texts in ``messages``).
Every action writes one ``InvoiceEvent`` per invoice it changes (substitutes, which belong to no
invoice, are their own record in ``substitutes``) and one line on the ``einvoice.audit`` logger (ids
and rule IDs only, never the free text). This module must never decide a rule ``rules`` or
``ApprovalService`` already decides, and never sign a step itself.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import load_only

from einvoice.approval import messages as M
from einvoice.approval import rules
from einvoice.approval.tables import ApprovalTask, ClarificationHold, Substitute
from einvoice.approval.types import ActionResult, Refusal, Step
from einvoice.db.models import InvoiceRow, utcnow
from einvoice.organisation import Role
from einvoice.routing import RoutingInput, route
from einvoice.states import InvoiceState, check_transition

audit = logging.getLogger("einvoice.audit")

#: The states the desk's document list shows: rejected by validation, and files that are no e-invoice.
DESK_STATES = (InvoiceState.REJECTED.value, InvoiceState.NOT_AN_INVOICE.value)
#: At most this many invoices in one bulk decision (one page of the inbox, with room).
BULK_LIMIT = 100
#: A self-set substitute lasts at most this long; longer absences belong in the organisation file.
SUBSTITUTE_MAX_DAYS = 366


@dataclass(frozen=True)
class DeskDocument:
    """One rejected or non-invoice document as the desk's list shows it."""

    invoice_id: int
    state: str
    filename: str
    channel: str
    received_at: dt.datetime
    invoice_number: str | None
    seller_name: str | None
    amount_due: Decimal | None
    currency: str | None
    rules: tuple[str, ...]  # the blocking findings' rule IDs (all findings' if none blocks)
    summary: str
    reopenable: bool  # rejected, with the data approval needs


@dataclass(frozen=True)
class HoldView:
    id: int
    invoice_id: int
    reason: str
    until: dt.date
    set_by: str
    set_at: dt.datetime
    released_by: str | None
    released_at: dt.datetime | None
    release_note: str | None

    @property
    def active(self) -> bool:
        return self.released_at is None


@dataclass(frozen=True)
class SubstituteView:
    id: int
    person: str
    substitute: str
    valid_from: dt.date
    valid_to: dt.date
    ended_at: dt.datetime | None

    def current(self, today: dt.date) -> bool:
        return self.ended_at is None and self.valid_from <= today <= self.valid_to


@dataclass(frozen=True)
class SubstituteResult:
    ok: bool
    refusal: Refusal | None
    entry: SubstituteView | None = None


@dataclass(frozen=True)
class BulkOutcome:
    """One invoice of a bulk decision: recorded (``ok``) or refused with its rule ID and reason."""

    task_id: int
    invoice_id: int | None
    invoice_number: str | None
    amount_due: Decimal | None
    currency: str | None
    ok: bool
    refusal: Refusal | None


def _rule_ids(report_json: str | None) -> tuple[str, ...]:
    try:
        findings = (json.loads(report_json) or {}).get("findings") or [] if report_json else []
    except ValueError:
        return ()
    blocking = [f.get("rule") for f in findings if f.get("severity") in ("fatal", "error")]
    chosen = blocking or [f.get("rule") for f in findings]
    return tuple(dict.fromkeys(r for r in chosen if r))


def _missing_data(inv: InvoiceRow) -> list[str]:
    missing = []
    if not inv.invoice_number:
        missing.append("BT-1")
    if inv.amount_due is None:
        missing.append("BT-115")
    return missing


def _hold_view(h: ClarificationHold) -> HoldView:
    return HoldView(h.id, h.invoice_id, h.reason, h.until, h.set_by, h.set_at, h.released_by, h.released_at, h.release_note)


def _substitute_view(x: Substitute) -> SubstituteView:
    return SubstituteView(x.id, x.person, x.substitute, x.valid_from, x.valid_to, x.ended_at)


class DeskActions:
    """Mixed into ``ApprovalService`` (which provides ``db``, ``org``, ``today`` and the shared checks)."""

    # --- the central desk's documents --------------------------------------------------------------
    def desk_documents(self, *, state: str | None = None, channel: str | None = None,
                       search: str | None = None, limit: int = 50, offset: int = 0) -> list[DeskDocument]:
        """Rejected and non-invoice documents, newest first (``state``/``channel`` narrow the list)."""
        q = sa.select(InvoiceRow).options(load_only(
            InvoiceRow.id, InvoiceRow.state, InvoiceRow.filename, InvoiceRow.channel, InvoiceRow.received_at, InvoiceRow.invoice_number,
            InvoiceRow.seller_name, InvoiceRow.amount_due, InvoiceRow.currency, InvoiceRow.verdict, InvoiceRow.report_json))
        q = q.where(InvoiceRow.state.in_([state] if state in DESK_STATES else list(DESK_STATES)))
        if channel:
            q = q.where(InvoiceRow.channel == channel)
        if search:
            needle = search.strip().lower()
            q = q.where(sa.or_(sa.func.lower(InvoiceRow.invoice_number).contains(needle, autoescape=True),
                               sa.func.lower(InvoiceRow.seller_name).contains(needle, autoescape=True),
                               sa.func.lower(InvoiceRow.filename).contains(needle, autoescape=True)))
        q = q.order_by(InvoiceRow.received_at.desc(), InvoiceRow.id.desc()).limit(limit).offset(offset)
        with self.db.sessions() as s:
            rows = s.scalars(q).all()
        return [DeskDocument(
            invoice_id=r.id, state=r.state, filename=r.filename, channel=r.channel, received_at=r.received_at,
            invoice_number=r.invoice_number, seller_name=r.seller_name, amount_due=r.amount_due, currency=r.currency,
            rules=_rule_ids(r.report_json), summary=r.verdict or "",
            reopenable=r.state == InvoiceState.REJECTED.value and not _missing_data(r)) for r in rows]

    def desk_document_counts(self) -> dict[str, int]:
        with self.db.sessions() as s:
            found = dict(s.execute(sa.select(InvoiceRow.state, sa.func.count()).where(InvoiceRow.state.in_(DESK_STATES))
                                   .group_by(InvoiceRow.state)).all())
        return {st: int(found.get(st, 0)) for st in DESK_STATES}

    def desk_channels(self) -> list[str]:
        """The channels documents came in by (for the list's filter)."""
        with self.db.sessions() as s:
            return sorted(s.scalars(sa.select(InvoiceRow.channel).where(InvoiceRow.state.in_(DESK_STATES)).distinct()))

    def reopen_rejected(self, invoice_id: int, person_id: str, *, reason: str,
                        department: str | None = None) -> ActionResult:
        """Central desk: a rejected document goes into approval after all (e.g. the supplier explained
        the finding), with a reason. It is routed as intake would route it (Leitweg-ID, order, supplier;
        else the central desk) unless ``department`` is named, and starts at the sachliche Richtigkeit
        with the duplicate check. The findings stay on the invoice for every approver to see."""
        def act(s) -> ActionResult:
            inv = self._lock_invoice(s, invoice_id)
            if inv.state == InvoiceState.NOT_AN_INVOICE.value:
                self._refuse(M.refusal(M.NOT_AN_E_INVOICE))
            if inv.state != InvoiceState.REJECTED.value:
                self._refuse(M.refusal(M.NOT_REJECTED, state=M.state_name(inv.state)))
            if not (reason or "").strip():
                self._refuse(M.refusal(M.REASON_REQUIRED_REOPEN))
            cap = self._check_invoice_role(inv, person_id, [Role.CENTRAL_DESK], "reopen_rejected", value_limited=False)
            if isinstance(cap, Refusal):
                self._refuse(cap)
            missing = _missing_data(inv)
            if missing:
                self._refuse(M.refusal(M.REOPEN_NO_DATA, missing=", ".join(missing)))
            org = self.org
            if department:
                try:
                    target = org.department(department)
                except KeyError:
                    codes = ", ".join(f"{d.code} {d.name}" for d in org.departments)
                    self._refuse(M.refusal(M.UNKNOWN_DEPARTMENT, department=department, codes=codes))
                rule = "central-desk-reopen"
                why = M.text("reopened-reason", person=person_id, code=target.code, name=target.name)
            else:
                decision = route(RoutingInput(
                    buyer_reference=inv.leitweg_id, order_reference=inv.order_reference, seller_vat_id=inv.seller_vat_id,
                    seller_ids=(inv.seller_id,) if inv.seller_id else (), seller_name=inv.seller_name), org)
                target, rule, why = org.department(decision.department), decision.rule, decision.reason
            from_state = inv.state
            check_transition(InvoiceState(inv.state), InvoiceState.IN_APPROVAL)
            inv.state = InvoiceState.IN_APPROVAL.value
            inv.department, inv.routing_rule, inv.routing_reason = target.code, rule, why
            self._begin_approval(s, inv, org)
            s.flush()
            self._event(s, inv, cap, person_id, "reopened_after_rejection", from_state, amount=inv.amount_due,
                        comment=reason, details={"department": target.code, "routing_rule": rule, "routing_reason": why,
                                                 "findings": list(_rule_ids(inv.report_json))})
            audit.info("reopened_after_rejection invoice=%s by=%s department=%s", inv.id, person_id, target.code)
            return ActionResult(True, None, inv.state, Step.SACHLICH)

        return self._run(act, invoice_id=invoice_id)

    # --- Klärung --------------------------------------------------------------------------------
    def _check_hold(self, s, inv: InvoiceRow, person_id: str):
        """Who may start or close a Klärung: whoever may handle the open step (its role holders, the
        head, the central desk); without an open task, the central desk or the head."""
        task = s.scalar(sa.select(ApprovalTask).where(ApprovalTask.invoice_id == inv.id, ApprovalTask.status == "open"))
        if task is not None:
            return self._check_handle(task, inv, person_id, "hold")
        return self._check_invoice_role(inv, person_id, [Role.CENTRAL_DESK, Role.HEAD], "hold", value_limited=False)

    def set_hold(self, invoice_id: int, person_id: str, *, reason: str,
                 until: dt.date | None) -> ActionResult:
        """Start a Klärung: the invoice waits for ``reason`` to be clarified, expected by ``until``."""
        def act(s) -> ActionResult:
            inv = self._lock_invoice(s, invoice_id)
            if not (reason or "").strip():
                self._refuse(M.refusal(M.REASON_REQUIRED_HOLD))
            today = self.today()
            if until is None or until < today:
                self._refuse(M.refusal(M.HOLD_DATE, today=M.date(today), until=M.date(until) if until else "–"))
            cap = self._check_hold(s, inv, person_id)
            if isinstance(cap, Refusal):
                self._refuse(cap)
            current = self._active_hold(s, inv.id)
            if current is not None:
                self._refuse(M.refusal(M.HOLD_EXISTS, since=M.date(current.set_at.date()), by=current.set_by,
                                       reason=current.reason))
            s.add(ClarificationHold(invoice_id=inv.id, reason=reason.strip(), until=until, set_by=person_id))
            s.flush()  # the one-active-hold index decides a race here (IntegrityError -> STALE)
            self._event(s, inv, cap, person_id, "hold_set", inv.state, comment=reason.strip(),
                        details={"until": until.isoformat()})
            audit.info("hold_set invoice=%s by=%s until=%s", inv.id, person_id, until.isoformat())
            return ActionResult(True, None, inv.state, None)

        return self._run(act, invoice_id=invoice_id)

    def release_hold(self, invoice_id: int, person_id: str, *, note: str | None = None) -> ActionResult:
        """Close the Klärung (with an optional note on what was clarified); the step can be signed again."""
        def act(s) -> ActionResult:
            inv = self._lock_invoice(s, invoice_id)
            hold = self._active_hold(s, inv.id)
            if hold is None:
                self._refuse(M.refusal(M.NO_HOLD))
            cap = self._check_hold(s, inv, person_id)
            if isinstance(cap, Refusal):
                self._refuse(cap)
            hold.released_by, hold.released_at, hold.release_note = person_id, utcnow(), (note or "").strip() or None
            self._event(s, inv, cap, person_id, "hold_released", inv.state, comment=hold.release_note,
                        details={"hold_id": hold.id, "reason": hold.reason, "until": hold.until.isoformat(),
                                 "set_by": hold.set_by})
            audit.info("hold_released invoice=%s by=%s hold=%s", inv.id, person_id, hold.id)
            return ActionResult(True, None, inv.state, None)

        return self._run(act, invoice_id=invoice_id)

    def holds_of(self, invoice_id: int) -> list[HoldView]:
        with self.db.sessions() as s:
            return [_hold_view(h) for h in s.scalars(sa.select(ClarificationHold).where(
                ClarificationHold.invoice_id == invoice_id).order_by(ClarificationHold.id))]

    # --- delegation -----------------------------------------------------------------------------
    def delegation_choices(self, task_id: int) -> list[str]:
        """The people the organisation file allows to sign this open task today (whom it may be delegated to)."""
        with self.db.sessions() as s:
            task = s.get(ApprovalTask, task_id)
            if task is None or task.status != "open":
                return []
            inv = s.get(InvoiceRow, task.invoice_id)
            step = Step(task.step)
            org = self.org
            exclude = rules.conflicting_signers(org, task.department, step, self._signoffs(s, inv.id))
            return rules.people_for(org, rules.STEP_ROLE[step], task.department, inv.amount_due, self.today(),
                                    exclude=exclude)

    def delegate(self, task_id: int, person_id: str, *, to: str, comment: str | None = None) -> ActionResult:
        """Hand the open task to the named person ``to``, who must be allowed to sign it (role, limit,
        deputies, separation of duties: the same checks as signing). Logged in the invoice's trail."""
        def act(s) -> ActionResult:
            task, inv = self._lock_task(s, task_id)
            cap = self._check_handle(task, inv, person_id, "delegate")
            if isinstance(cap, Refusal):
                self._refuse(cap)
            target = rules.find_person(self.org, to)
            if target is None:
                self._refuse(M.refusal(M.UNKNOWN_PERSON, person=to, org=self.org.name))
            if target.id == person_id:
                self._refuse(M.refusal(M.DELEGATE_SELF))
            step = Step(task.step)
            theirs = rules.capacity(self.org, target.id, rules.STEP_ROLE[step], task.department, inv.amount_due,
                                    self.today(), what=f"approve:{step.value}")
            if not isinstance(theirs, Refusal):
                theirs = rules.separation_of_duties(step, theirs, self._signoffs(s, inv.id), self.org, task.department)
            if isinstance(theirs, Refusal):
                self._refuse(M.refusal(M.DELEGATE_NOT_ALLOWED, name=target.name, step=M.step_name(step),
                                       why=theirs.message, rule=theirs.rule))
            previous = task.assignee
            task.assignee, task.assigned_by, task.assigned_at = target.id, person_id, utcnow()
            s.flush()  # the task's version check: a decision taken meanwhile wins (STALE)
            self._event(s, inv, cap, person_id, "delegated", inv.state, comment=(comment or "").strip() or None,
                        details={"task_id": task.id, "step": step.value, "to": target.id, "previous": previous})
            audit.info("delegated invoice=%s task=%s by=%s to=%s", inv.id, task.id, person_id, target.id)
            return ActionResult(True, None, inv.state, step)

        return self._run(act, invoice_id=self._task_invoice_id(task_id))

    # --- substitutes ----------------------------------------------------------------------------
    def set_substitute(self, person_id: str, substitute: str, *, valid_from: dt.date | None,
                       valid_to: dt.date | None) -> SubstituteResult:
        """``person_id`` names who stands in for them from ``valid_from`` to ``valid_to`` (inclusive).

        The substitute must be a colleague with a grant in one of the person's departments; the period
        must not end in the past and lasts at most ``SUBSTITUTE_MAX_DAYS``. From then on the substitute
        acts with the person's grants and limits during the period, as a deputy of the organisation file."""
        org = self.org
        me = rules.find_person(org, person_id)
        if me is None:
            return SubstituteResult(False, M.refusal(M.UNKNOWN_PERSON, person=person_id, org=org.name))
        other = rules.find_person(org, substitute)
        if other is None:
            return SubstituteResult(False, M.refusal(M.UNKNOWN_PERSON, person=substitute, org=org.name))
        if other.id == me.id:
            return SubstituteResult(False, M.refusal(M.SUBSTITUTE_SELF))
        today = self.today()
        if (valid_from is None or valid_to is None or valid_to < valid_from or valid_to < today
                or (valid_to - valid_from).days >= SUBSTITUTE_MAX_DAYS):
            return SubstituteResult(False, M.refusal(
                M.SUBSTITUTE_PERIOD, start=M.date(valid_from) if valid_from else "–", end=M.date(valid_to) if valid_to else "–",
                today=M.date(today), days=SUBSTITUTE_MAX_DAYS))
        mine = {g.department for g in me.grants if g.role != Role.AUDITOR}
        if not mine:
            return SubstituteResult(False, M.refusal(M.SUBSTITUTE_NO_GRANTS, name=me.name))
        if not mine & {g.department for g in other.grants if g.role != Role.AUDITOR}:
            return SubstituteResult(False, M.refusal(M.SUBSTITUTE_DEPARTMENT, substitute=other.name,
                                                     departments=", ".join(sorted(mine))))
        with self.db.transaction() as s:
            row = Substitute(person=me.id, substitute=other.id, valid_from=valid_from, valid_to=valid_to)
            s.add(row)
            s.flush()
            view = _substitute_view(row)
        self._forget_substitutes()
        audit.info("substitute_set person=%s substitute=%s from=%s to=%s entry=%s", me.id, other.id,
                   valid_from.isoformat(), valid_to.isoformat(), view.id)
        return SubstituteResult(True, None, view)

    def end_substitute(self, entry_id: int, person_id: str) -> SubstituteResult:
        """The person withdraws their own substitute entry (it no longer counts from now on)."""
        with self.db.transaction() as s:
            row = s.get(Substitute, entry_id, with_for_update=True)
            if row is None or row.person != person_id or row.ended_at is not None:
                who = rules.find_person(self.org, person_id)
                return SubstituteResult(False, M.refusal(M.NO_SUCH_SUBSTITUTE, entry=entry_id,
                                                         name=who.name if who else person_id))
            row.ended_at = utcnow()
            view = _substitute_view(row)
        self._forget_substitutes()
        audit.info("substitute_ended person=%s entry=%s", person_id, entry_id)
        return SubstituteResult(True, None, view)

    def substitutes_of(self, person_id: str) -> list[SubstituteView]:
        """The entries ``person_id`` set for themselves, newest first."""
        with self.db.sessions() as s:
            return [_substitute_view(x) for x in s.scalars(sa.select(Substitute).where(Substitute.person == person_id)
                                                           .order_by(Substitute.id.desc()).limit(50))]

    def standing_in_for(self, person_id: str) -> list[SubstituteView]:
        """The entries naming ``person_id`` as substitute that are not withdrawn, newest first."""
        with self.db.sessions() as s:
            return [_substitute_view(x) for x in s.scalars(sa.select(Substitute).where(
                Substitute.substitute == person_id, Substitute.ended_at.is_(None)).order_by(Substitute.id.desc()).limit(50))]

    # --- bulk decisions -------------------------------------------------------------------------
    def approve_many(self, task_ids: Iterable[int], person_id: str, *, step: Step | str,
                     amounts: Mapping[int, Decimal] | None = None, comment: str | None = None) -> list[BulkOutcome]:
        """Sign ``step`` on each of ``task_ids``, one by one through ``approve`` (each checked, each in
        its own transaction with its own audit event). ``amounts`` are the amounts the person confirmed
        per task for the rechnerische Richtigkeit. One refusal never stops the others."""
        ids = list(dict.fromkeys(int(t) for t in task_ids))
        step = Step(step)
        if not ids:
            return [BulkOutcome(0, None, None, None, None, False, M.refusal(M.BULK_EMPTY))]
        if len(ids) > BULK_LIMIT:
            return [BulkOutcome(0, None, None, None, None, False,
                                M.refusal(M.BULK_TOO_MANY, limit=BULK_LIMIT, count=len(ids)))]
        with self.db.sessions() as s:
            found = {r.id: r for r in s.execute(
                sa.select(ApprovalTask.id, ApprovalTask.step, InvoiceRow.id.label("invoice_id"), InvoiceRow.invoice_number,
                          InvoiceRow.amount_due, InvoiceRow.currency)
                .join(InvoiceRow, InvoiceRow.id == ApprovalTask.invoice_id).where(ApprovalTask.id.in_(ids)))}
        out: list[BulkOutcome] = []
        for task_id in ids:
            r = found.get(task_id)
            if r is None:
                out.append(BulkOutcome(task_id, None, None, None, None, False, M.refusal(M.NO_SUCH_TASK, task_id=task_id)))
                continue
            if r.step != step.value:
                refusal = M.refusal(M.BULK_WRONG_STEP, actual=M.step_name(r.step), step=M.step_name(step))
                out.append(BulkOutcome(task_id, r.invoice_id, r.invoice_number, r.amount_due, r.currency, False, refusal))
                continue
            amount = (amounts or {}).get(task_id) if step == Step.RECHNERISCH else None
            result = self.approve(task_id, person_id, amount=amount, comment=comment)
            out.append(BulkOutcome(task_id, r.invoice_id, r.invoice_number, r.amount_due, r.currency, result.ok,
                                   result.refusal))
        audit.info("approve_many by=%s step=%s recorded=%s refused=%s", person_id, step.value,
                   sum(o.ok for o in out), ",".join(sorted({o.refusal.rule for o in out if o.refusal})) or "-")
        return out
