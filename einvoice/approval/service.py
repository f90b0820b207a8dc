"""ApprovalService: the one entry point that changes an invoice's approval, for CLI, web and flows.

Each public action runs in one database transaction that locks the task (and the invoice) it acts
on (``SELECT ... FOR UPDATE`` on PostgreSQL, plus the optimistic version column everywhere), checks
every rule, closes the open task, opens the next one or moves the invoice to its new state, and
writes exactly one ``InvoiceEvent``. Two people acting on the same task at once therefore give one
decision and one ``STALE`` refusal. A refused action changes nothing and returns a ``Refusal``.

Service-level rule IDs (the role/limit/deputy/SoD ones are in ``rules``): NO-SUCH-TASK,
NO-SUCH-INVOICE, STALE, AMOUNT-REQUIRED, AMOUNT-MISMATCH, REASON-REQUIRED, NO-PREVIOUS-STEP,
UNKNOWN-DEPARTMENT, SAME-DEPARTMENT, DUPLICATE-BLOCKS, NO-DUPLICATE-FLAG, NOT-IN-APPROVAL,
NOT-RETURNED, RELEASE-FAILED, BUSY (SQLite only: retried writers still locked out),
KONTIERUNG-NACH-ANORDNUNG (``account_assignment_changed``: a new Kontierung after the Anordnung needs a reason),
HOLD-OPEN (a Klärung is open: the step waits), DELEGATED (the task was handed to a named person).
The central desk's, Klärung, delegation, substitute and bulk actions are in ``desk`` (their IDs there).

This module must never skip a rule because the caller "already checked" it, and never commit a
half-made decision: the ``on_release`` hooks (finance writes its outbox record there) run inside
the release transaction, and if one raises, the release is rolled back.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, load_only
from sqlalchemy.orm.exc import StaleDataError

from einvoice.approval import messages as M
from einvoice.approval import rules
from einvoice.approval.deadlines import age_days, days_left, invoice_deadline, skonto_dates, skonto_now
from einvoice.approval.desk import DeskActions
from einvoice.approval.duplicates import find_duplicates_many
from einvoice.approval.tables import ApprovalTask, ClarificationHold, DuplicateFlag, Substitute
from einvoice.approval.types import ActionResult, Refusal, Step
from einvoice.db import Database
from einvoice.db.models import InvoiceEvent, InvoiceRow, utcnow
from einvoice.organisation import Deputy, Organisation, Role
from einvoice.states import InvoiceState, check_transition

log = logging.getLogger(__name__)

ReleaseHook = Callable[[Session, InvoiceRow], None]


#: InvoiceEvent.action per approved step (the names of the certifications in the audit trail).
STEP_ACTION = {
    Step.SACHLICH: "sachlich_richtig",
    Step.RECHNERISCH: "rechnerisch_richtig",
    Step.ANORDNUNG: "anordnung",
    Step.FREIGABE: "freigabe",
}


# --- views (plain values: safe to hand to templates, JSON, other threads) ------------------------
@dataclass(frozen=True)
class DuplicateView:
    flag_id: int
    kind: str  # exact | near
    other_invoice_id: int
    reason: str
    overridden_by: str | None
    override_reason: str | None

    @property
    def open(self) -> bool:
        return self.overridden_by is None


@dataclass(frozen=True)
class TaskView:
    task_id: int
    invoice_id: int
    step: Step
    department: str
    status: str  # open | done
    assignee: str | None  # the named person an open task was delegated to (desk.delegate); None = the pool
    candidates: tuple[str, ...]  # who may decide this task today (roles, limits, deputies, SoD)
    state: str  # the invoice's state
    invoice_number: str | None
    seller_name: str | None
    amount_due: Decimal | None
    currency: str | None
    issue_date: dt.date | None
    due_date: dt.date | None
    skonto_until: dt.date | None
    skonto_percent: Decimal | None
    skonto_amount: Decimal | None  # money lost if not paid by skonto_until
    deadline: dt.date | None
    days_left: int | None
    duplicate_flags: tuple[DuplicateView, ...]
    created_at: dt.datetime
    version: int
    leitweg_id: str | None = None
    routing_rule: str | None = None
    routing_reason: str | None = None
    outcome: str | None = None
    decided_by: str | None = None
    skonto_lost: bool = False  # the Skonto date has passed: skonto_amount is already lost
    # An open Klärung of the invoice (einvoice.approval.desk): the step waits for it; deadlines still count.
    hold_until: dt.date | None = None
    hold_reason: str | None = None
    hold_by: str | None = None


    @property
    def blocked_by_duplicate(self) -> bool:
        return any(f.open for f in self.duplicate_flags)

    @property
    def overdue(self) -> bool:
        return self.days_left is not None and self.days_left < 0

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["duplicate_flags"] = [f.__dict__ for f in self.duplicate_flags]
        d["blocked_by_duplicate"] = self.blocked_by_duplicate
        return d


@dataclass(frozen=True)
class EventView:
    id: int
    at: dt.datetime
    actor: str
    role: str | None
    on_behalf_of: str | None
    action: str
    from_state: str | None
    to_state: str | None
    amount: Decimal | None
    comment: str | None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Reminder:
    kind: str  # reminder | escalation
    task_id: int
    invoice_id: int
    step: Step
    department: str
    recipients: tuple[str, ...]
    message: str
    skonto_until: dt.date | None
    skonto_amount: Decimal | None


# --- opening the workflow (called by intake inside its transaction) ------------------------------
def _signed_by(session: Session, invoice_id: int) -> str | None:
    people: set[str] = set()
    for by, behalf in session.execute(sa.select(ApprovalTask.decided_by, ApprovalTask.on_behalf_of).where(
            ApprovalTask.invoice_id == invoice_id, ApprovalTask.signoff_valid.is_(True))):
        people.update(p for p in (by, behalf) if p)
    return "|" + "|".join(sorted(people)) + "|" if people else None


def _open_task(session: Session, invoice: InvoiceRow, step: Step, department: str, *, first: bool = False) -> ApprovalTask:
    task = ApprovalTask(
        invoice_id=invoice.id, step=step.value, department=department, status="open",
        # The sort key of the inbox: the invoice's first deadline (as of its issue date, so it does not
        # depend on when the task was opened); the page shows the deadline as of today (TaskView).
        deadline=invoice_deadline(invoice, invoice.issue_date or dt.date.today()), amount_due=invoice.amount_due,
        due_date=invoice.due_date, **dict(zip(("skonto_first", "skonto_second", "skonto_last"), skonto_dates(invoice))),
        # What the search box reads (ApprovalService._search, einvoice.web.search): a search walks the index.
        invoice_number=invoice.invoice_number, seller_name=invoice.seller_name, leitweg_id=invoice.leitweg_id,
        # autoflush: includes the sign-off just given. The first task of a new invoice has none.
        signed_by=None if first else _signed_by(session, invoice.id),
    )
    session.add(task)
    return task


def start_approval(session: Session, invoice_row: InvoiceRow, org: Organisation) -> None:
    """Open the first task (sachliche Richtigkeit) of an invoice in ``in_approval`` and flag duplicates.

    Runs inside the caller's transaction (intake's ``_store``) so an invoice never exists in
    approval without its task. Invoices in other states are left alone.
    """
    start_approval_many(session, [invoice_row], org)


def start_approval_many(session: Session, rows: list[InvoiceRow], org: Organisation) -> None:
    """``start_approval`` for a batch of newly received invoices: one flush and one duplicate
    query for the batch instead of several round trips per invoice. Each invoice is compared with
    the invoices received before it, including earlier ones of the same batch."""
    rows = [r for r in rows if r.state == InvoiceState.IN_APPROVAL.value]
    if not rows:
        return
    if any(r.id is None for r in rows):
        session.flush()
    for row in rows:
        department = row.department or org.central_desk
        if row.department is None:
            row.department = department
        _open_task(session, row, Step.SACHLICH, department, first=True)
    flags_by_invoice = find_duplicates_many(session, rows, org)
    for row in rows:
        flags = flags_by_invoice.get(row.id) or []
        if not flags:
            continue
        session.add_all(flags)
        session.add(InvoiceEvent(
            invoice_id=row.id, actor="system", action="duplicate_flagged",
            from_state=row.state, to_state=row.state, amount=row.amount_due,
            comment="; ".join(f.reason for f in flags) + ". " + M.text("duplicate-blocks-release"),
            details_json=json.dumps({"flags": [{"kind": f.kind, "other_invoice_id": f.other_invoice_id} for f in flags]}),
        ))
    session.flush()


def account_assignment_changed(session: Session, invoice_row: InvoiceRow, org: Organisation, person_id: str,
                               reason: str | None) -> Refusal | None:
    """The Kontierung of an invoice is about to change (``einvoice.finance.set_account_assignment``,
    in the caller's transaction). The Anordnung orders the payment *with* its account assignment, so
    once it is given the assignment is frozen: a change needs a reason, voids the Anordnung (and
    any later sign-off), closes the open task and opens a new Anordnung task, with an audit event
    ``account_assignment_after_anordnung`` that names who and why. Before the Anordnung nothing
    happens here. Rule ID: KONTIERUNG-NACH-ANORDNUNG (no reason given)."""
    order = session.scalar(sa.select(ApprovalTask).where(
        ApprovalTask.invoice_id == invoice_row.id, ApprovalTask.step == Step.ANORDNUNG.value,
        ApprovalTask.signoff_valid.is_(True)))
    if order is None:
        return None
    if not (reason or "").strip():
        return M.refusal(M.KONTIERUNG_NACH_ANORDNUNG, by=order.decided_by)
    # The caller holds the invoice lock; an approval action locks task then invoice. Waiting for the
    # open task here could deadlock with it, so a task someone is deciding right now is skipped: STALE.
    open_task = session.scalar(sa.select(ApprovalTask).where(ApprovalTask.invoice_id == invoice_row.id,
                                                             ApprovalTask.status == "open")
                               .with_for_update(skip_locked=True))
    if open_task is None:
        return M.refusal(M.STALE_KONTIERUNG)
    chain = rules.steps(org)
    later = chain[chain.index(Step.ANORDNUNG):]
    voided: list[str] = []
    for t in session.scalars(sa.select(ApprovalTask).where(
            ApprovalTask.invoice_id == invoice_row.id, ApprovalTask.signoff_valid.is_(True),
            ApprovalTask.step.in_([st.value for st in later]))):
        t.signoff_valid = False
        voided.append(f"{t.step} ({t.decided_by})")
    from_step = open_task.step
    open_task.status, open_task.outcome, open_task.decided_by = "done", "reassigned", person_id
    open_task.decided_at, open_task.comment, open_task.signoff_valid = utcnow(), reason, False
    session.flush()
    _open_task(session, invoice_row, Step.ANORDNUNG, open_task.department)
    session.add(InvoiceEvent(
        invoice_id=invoice_row.id, actor=person_id, action="account_assignment_after_anordnung",
        from_state=invoice_row.state, to_state=invoice_row.state, amount=invoice_row.amount_due, comment=reason,
        details_json=json.dumps({"voided_signoffs": voided, "from_step": from_step, "to_step": Step.ANORDNUNG.value,
                                 "previous_anordnung_by": order.decided_by}, ensure_ascii=False)))
    session.flush()
    return None


#: The invoice columns a TaskView shows (the validation report can be large: never load it for a list).
_INVOICE_COLUMNS = load_only(
    InvoiceRow.id, InvoiceRow.state, InvoiceRow.version, InvoiceRow.invoice_number, InvoiceRow.seller_name, InvoiceRow.amount_due,
    InvoiceRow.currency, InvoiceRow.issue_date, InvoiceRow.due_date, InvoiceRow.skonto_until, InvoiceRow.skonto_percent,
    InvoiceRow.skonto_terms, InvoiceRow.leitweg_id, InvoiceRow.routing_rule, InvoiceRow.routing_reason, InvoiceRow.department,
)


_HAS_FLAGS = sa.exists().where(DuplicateFlag.invoice_id == InvoiceRow.id).label("has_flags")


#: The groups of the inbox order, in order (``inbox_order``): open Skonto, due (not yet overdue),
#: overdue without open Skonto, neither due date nor open Skonto.
GROUPS = ("skonto", "faellig", "ueberfaellig", "ohne_frist")
#: The orders a list can be sorted by (the web's ``sort`` query parameter); "frist" is the inbox order.
SORTS = ("frist", "faellig", "betrag", "lieferant", "eingang")
#: Counts per group (``inbox_counts``) stop counting here: a figure above it only says "more than
#: COUNT_LIMIT" (the page says "mehr als 10.000"), so a million open tasks cost no more than 10,000.
COUNT_LIMIT = 10_000
#: A search term PostgreSQL expects in more invoices than this walks the list in its order and keeps
#: the hits (from the index: the tasks carry the searched columns) until the page is full; a rarer
#: term finds its invoices first (trigram indexes) and sorts the few hits (``_search_walks``).
SEARCH_WALK_ABOVE = 2_000
#: ``_unblocked`` looks at this many distinct signer lists of a scope before it gives up and lets the
#: inbox's filter do the work (a scope has a few: its earlier steps' signers).
BLOCK_PROBES = 8


def inbox_order(today: dt.date):
    """(group, key) as SQL expressions over ``approval_tasks`` for ``today``: money at stake first.

    Group 0: a Skonto is still open; key = the date of the Skonto shown today (the first of the
    task's Skonto dates on or after today), so a Skonto ending today comes first. Group 1: due date
    today or later; key = due date. Group 2: overdue (due date passed) and no open Skonto; key =
    due date. Group 3: no due date and no open Skonto. Within a key the larger amount first.
    """
    t = ApprovalTask
    open_skonto = t.skonto_last >= today
    group = sa.case((open_skonto, 0), (t.due_date >= today, 1), (t.due_date < today, 2), else_=3)
    key = sa.case((open_skonto, sa.case((t.skonto_first >= today, t.skonto_first),
                                        (t.skonto_second >= today, t.skonto_second), else_=t.skonto_last)),
                  else_=t.due_date)
    return group, key


def sort_order(sort: str, today: dt.date) -> list:
    """ORDER BY of a task list (tasks joined with their invoices) for one of ``SORTS``."""
    t = ApprovalTask
    if sort == "faellig":
        return [t.due_date.asc().nulls_last(), t.id]
    if sort == "betrag":
        return [t.amount_due.desc().nulls_last(), t.id]
    if sort == "lieferant":
        return [sa.func.lower(InvoiceRow.seller_name).asc().nulls_last(), t.id]
    if sort == "eingang":
        return [t.invoice_id, t.id]  # invoice ids are given in the order files were received
    group, key = inbox_order(today)
    return [group, key.asc().nulls_last(), t.amount_due.desc().nulls_last(), t.id]


def _merged(filters: list, today: dt.date, limit: int, offset: int):
    """The inbox order over several scopes: per scope and per group one small query walking an index
    in order and stopping after offset+limit rows, then merged. An OR over all scopes would make
    PostgreSQL read and sort every open task of those departments (tens of thousands) to return 50."""
    t = ApprovalTask
    parts = []
    for f in filters:
        for part in _group_parts(f, today, offset + limit):
            parts.append(sa.select(part.subquery()))  # wrapped: SQLite allows no LIMIT inside a compound member
    merged = (parts[0] if len(parts) == 1 else sa.union(*parts)).subquery("merged")

    def order(c):
        return [c.grp, c.key.asc().nulls_last(), c.amount.desc().nulls_last(), c.task_id]

    # The page is cut from the merged ids before joining: only its rows fetch their task and invoice.
    found = sa.select(merged).order_by(*order(merged.c)).limit(limit).offset(offset).subquery("found")
    return (sa.select(t, InvoiceRow, _HAS_FLAGS).join(found, found.c.task_id == t.id).join(InvoiceRow, InvoiceRow.id == t.invoice_id)
            .options(_INVOICE_COLUMNS).order_by(*order(found.c)))


def _groups(today: dt.date) -> list:
    """(group, key, condition, order) of each part of the inbox order (``inbox_order``); each part
    is read from one index in order. Group 0 has two parts: the first Skonto date still open, and
    (rare; a partial index holds them) a later Skonto date of a task whose first has passed."""
    t = ApprovalTask
    no_open_skonto = sa.or_(t.skonto_last.is_(None), t.skonto_last < today)
    later = sa.case((t.skonto_second >= today, t.skonto_second), else_=t.skonto_last)
    return [
        (0, t.skonto_first, t.skonto_first >= today, [t.skonto_first]),
        (0, later, sa.and_(t.skonto_second.is_not(None), t.skonto_first < today, t.skonto_last >= today), [later]),
        (1, t.due_date, sa.and_(t.due_date >= today, no_open_skonto), [t.due_date]),
        (2, t.due_date, sa.and_(t.due_date < today, no_open_skonto), [t.due_date]),
        (3, sa.cast(sa.null(), sa.Date), sa.and_(t.due_date.is_(None), no_open_skonto), []),
    ]


def _group_parts(where, today: dt.date, n: int) -> list:
    """The inbox order of one scope as small queries, each reading one index in order (``inbox_order``)."""
    t = ApprovalTask
    return [sa.select(t.id.label("task_id"), sa.literal(grp).label("grp"), key.label("key"), t.amount_due.label("amount"))
            .where(t.status == "open", where, cond).order_by(*order, t.amount_due.desc().nulls_last(), t.id).limit(n)
            for grp, key, cond, order in _groups(today)]


def _count_parts(filters: list, today: dt.date):
    """(group, count) per group of the inbox order, each count stopping at COUNT_LIMIT + 1 rows over
    all scopes: every part reads one range of one index (index-only on PostgreSQL), and a page never
    counts a million tasks to say how many there are. ``filters`` must be disjoint (they add up)."""
    t = ApprovalTask
    groups: dict[int, list] = {}
    for where in filters:
        for grp, _key, cond, _order in _groups(today):
            groups.setdefault(grp, []).append(sa.select(t.id).where(t.status == "open", where, cond))
    counts = []
    for grp, parts in groups.items():
        capped = (parts[0] if len(parts) == 1 else sa.union_all(*parts)).limit(COUNT_LIMIT + 1).subquery()
        counts.append(sa.select(sa.literal(grp).label("grp"),
                                sa.select(sa.func.count()).select_from(capped).scalar_subquery().label("n")))
    return sa.union_all(*counts)


class _Abort(Exception):
    """Internal: roll the transaction back and return this refusal."""

    def __init__(self, refusal: Refusal):
        self.refusal = refusal


#: How long a list may use the substitutes it read (actions always read them afresh).
SUBSTITUTES_FRESH_SECONDS = 2.0
#: Self-set substitutes whose period ended up to this many days ago still count as deputies, so
#: acting after the period is refused with DEPUTY-NOT-ABSENT (and its dates), not a bare NOT-AUTHORISED.
SUBSTITUTES_LOOKBACK_DAYS = 366


class ApprovalService(DeskActions):
    def __init__(self, db: Database, org: Organisation, *, on_release: Sequence[ReleaseHook],
                 today: Callable[[], dt.date] = dt.date.today):
        """``on_release`` is required on purpose: a service without the finance hook releases invoices
        that are never posted. Get the service from ``App.approval`` (it carries ``App.release_hooks()``);
        only tests that do not look at finance pass ``on_release=[]``."""
        self.db = db
        self._org_cache: tuple[float, dt.date, Organisation] | None = None
        self._org_lock = threading.Lock()
        self._pinned = threading.local()  # the organisation an action in this thread decides with
        self.org = org
        self.today = today
        self.on_release: list[ReleaseHook] = list(on_release)
        # The lists' statements (dozens of small SELECTs merged), keyed by the values they are built
        # from (the person's capacities today, the filter, the day): built once, not on every page
        # load. SQLAlchemy statements are immutable, so threads may share them.
        self._statements: dict[tuple, object] = {}

    def _statement(self, key: tuple, build: Callable[[], object]):
        stmt = self._statements.get(key)
        if stmt is None:
            if len(self._statements) >= 1024:  # a new day or many people: start afresh
                self._statements.clear()
            stmt = self._statements[key] = build()
        return stmt

    @property
    def org(self) -> Organisation:
        """The organisation file plus the substitutes people set for themselves (``Substitute``),
        which count exactly like the file's deputies (same rules, same DEPUTY-NOT-ABSENT).

        An action reads them before its transaction and keeps that reading (``_run``). A list may
        get the previous reading while another thread reads them anew: a thread that already holds
        a connection never waits for a second one (a full pool would wait forever)."""
        pinned = getattr(self._pinned, "org", None)
        if pinned is not None:
            return pinned
        today = self.today()
        cached = self._org_cache
        usable = cached is not None and cached[1] == today
        if usable and time.monotonic() - cached[0] < SUBSTITUTES_FRESH_SECONDS:
            return cached[2]
        if not self._org_lock.acquire(blocking=not usable):
            return cached[2]
        try:
            return self._read_org(today)
        finally:
            self._org_lock.release()

    def _read_org(self, today: dt.date) -> Organisation:
        with self.db.sessions() as s:
            rows = s.execute(sa.select(Substitute.person, Substitute.substitute, Substitute.valid_from, Substitute.valid_to)
                             .where(Substitute.ended_at.is_(None),
                                    Substitute.valid_to >= today - dt.timedelta(days=SUBSTITUTES_LOOKBACK_DAYS))
                             .order_by(Substitute.id)).all()
        base = self._base_org
        known = {p.id for p in base.people}
        extra = [Deputy(person=p, deputy=d, absent_from=f, absent_to=t) for p, d, f, t in rows
                 if p in known and d in known and p != d]
        merged = base.model_copy(update={"deputies": [*base.deputies, *extra]}) if extra else base
        self._org_cache = (time.monotonic(), today, merged)
        return merged

    @org.setter
    def org(self, value: Organisation) -> None:
        self._base_org = value
        self._org_cache = None

    def _forget_substitutes(self) -> None:
        """The next ``org`` reads the substitutes again (every action starts with this)."""
        self._org_cache = None

    # --- reading ------------------------------------------------------------------------------
    def _inbox_scopes(self, person_id: str, department: str | None, state: str | None, today: dt.date) -> list:
        """The WHERE clause of every capacity ``person_id`` has today (empty: nothing to decide)."""
        return self._scope_filters(person_id, self._unblocked(person_id, self._scope_keys(person_id, department, state, today)),
                                   today)

    def _scope_keys(self, person_id: str, department: str | None, state: str | None,
                    today: dt.date) -> tuple[tuple[str | None, Step, Decimal | None, bool], ...]:
        """(department or None for "any", step, Wertgrenze, leave out tasks this person signed) for
        every capacity ``person_id`` has today: plain values, the key of the lists' statements."""
        person = rules.find_person(self.org, person_id)
        if person is None:
            return ()
        scopes: list[tuple[str | None, Step, Decimal | None]] = []
        sources = [person] + [
            rules.find_person(self.org, d.person) for d in self.org.deputies
            if d.deputy == person_id and d.absent_from <= today <= d.absent_to
        ]
        for who in sources:
            if who is None:
                continue
            for g in who.grants:
                for step, role in rules.STEP_ROLE.items():
                    if g.role != role or step not in rules.steps(self.org):
                        continue
                    dept = None if role in rules.CENTRAL_ROLES else g.department
                    if dept is not None and rules.is_auditor(person, dept):
                        continue
                    scopes.append((dept, step, g.limit_eur))
        if department:
            scopes = [(department if d is None else d, st, lim) for d, st, lim in scopes if d in (None, department)]
        if state:
            scopes = [s for s in scopes if s[1].value == state]
        # One filter per (department, step), with the highest Wertgrenze of the grants for it (None:
        # no limit): the same tasks as one filter per grant, and the filters are disjoint, so counts add up.
        widest: dict[tuple[str | None, Step], Decimal | None] = {}
        for dept, step, lim in scopes:
            if (dept, step) in widest:
                old = widest[(dept, step)]
                lim = None if old is None or lim is None else max(old, lim)
            widest[(dept, step)] = lim
        # Where the organisation file lets one person combine this step with another, a task this
        # person already signed may still be theirs: ``allowed`` decides, not the inbox's filter.
        return tuple((dept, step, lim, dept is None or not rules.step_combines(self.org, dept, step))
                     for (dept, step), lim in sorted(widest.items(), key=lambda x: (x[0][0] or "", x[0][1].value)))

    def _unblocked(self, person_id: str, keys: tuple) -> tuple:
        """``keys`` without the (department, step) scopes in which this person signed an earlier step
        of every open task (separation of duties leaves them nothing there), e.g. the only
        sachlich signer of a department who also holds rechnerisch. Their inbox would otherwise
        read every task of that scope, for the list and again for the counts, to show none. A few
        index probes per scope (migration 0016): the distinct signer lists of its open tasks."""
        out = []
        with self.db.sessions() as s:
            for key in keys:
                dept, step, _limit, check_signed = key
                if check_signed and dept is not None and self._all_signed_by(s, person_id, dept, step):
                    continue
                out.append(key)
        return tuple(out)

    @staticmethod
    def _all_signed_by(s: Session, person_id: str, department: str, step: Step) -> bool:
        """Whether every open task of (department, step) lists ``person_id`` in ``signed_by``: walks
        the distinct lists in order, stopping at the first without them (or after BLOCK_PROBES)."""
        t = ApprovalTask
        scope = sa.and_(t.status == "open", t.department == department, t.step == step.value)
        if s.scalar(sa.select(t.id).where(scope, t.signed_by.is_(None)).limit(1)) is not None:
            return False
        last = None
        for _ in range(BLOCK_PROBES):
            q = sa.select(t.signed_by).where(scope, t.signed_by.is_not(None))
            last = s.scalar((q if last is None else q.where(t.signed_by > last)).order_by(t.signed_by).limit(1))
            if last is None:
                return True  # every list names this person (or there is no open task: nothing lost)
            # Exact containment: where it holds, the inbox's LIKE filter drops the task too.
            if f"|{person_id}|" not in last:
                return False
        return False

    def _scope_filters(self, person_id: str, keys, today: dt.date) -> list:
        t = ApprovalTask
        not_signed = sa.or_(t.signed_by.is_(None), ~t.signed_by.contains(f"|{person_id}|", autoescape=True))
        # A task delegated to a named person is theirs (and their deputies'), no longer the pool's.
        mine = [person_id] + [d.person for d in self.org.deputies
                              if d.deputy == person_id and d.absent_from <= today <= d.absent_to]
        not_delegated_away = sa.or_(t.assignee.is_(None), t.assignee.in_(mine))

        def scope_filter(dept: str | None, step: Step, lim: Decimal | None, check_signed: bool):
            c = [t.step == step.value, not_delegated_away]
            if check_signed:
                c.append(not_signed)
            if dept is not None:
                c.append(t.department == dept)
            if lim is not None:
                c.append(t.amount_due <= lim)
            return sa.and_(*c)

        return [scope_filter(*k) for k in keys]

    def inbox(self, person_id: str, *, department: str | None = None, search: str | None = None,
              state: str | None = None, limit: int = 50, offset: int = 0, sort: str = "frist") -> list[TaskView]:
        """Open tasks ``person_id`` may decide today, in the inbox order (``inbox_order``): open
        Skonto ending soonest first, then by due date, overdue without open Skonto after them;
        ``sort`` picks another order (``SORTS``).

        Covers own grants (within their limits) and, during an absence, the grants of the person
        stood in for. ``state`` filters by step ("sachlich", "rechnerisch", "anordnung", "freigabe").
        Tasks on invoices this person already signed are left out (separation of duties); the
        authoritative check is still ``allowed``/the action itself.
        """
        today = self.today()
        if not search and sort == "frist":
            keys = self._unblocked(person_id, self._scope_keys(person_id, department, state, today))
            if not keys:  # no capacity today: nothing to decide
                return []
            q = self._statement(("inbox", person_id, keys, today, limit, offset),
                                lambda: _merged(self._scope_filters(person_id, keys, today), today, limit, offset))
            with self.db.sessions() as s:
                return self._views(s, s.execute(q).all(), today)
        filters = self._inbox_scopes(person_id, department, state, today)
        if not filters:
            return []
        if search and sort == "frist" and self._search_walks(search):
            return self._walk(filters, search, today, limit, offset)
        t = ApprovalTask
        # A search is selective on the invoice side: let the planner find the matching invoices
        # first and sort the few hits. The other orders are chosen now and then, not the page's default.
        q = (sa.select(t, InvoiceRow, _HAS_FLAGS).join(InvoiceRow, InvoiceRow.id == t.invoice_id)
             .where(t.status == "open", sa.or_(*filters)))
        if search:
            q = q.join(hits := self._search_hits(search), hits.c.id == t.invoice_id)
        q = q.options(_INVOICE_COLUMNS).order_by(*sort_order(sort, today)).limit(limit).offset(offset)
        with self.db.sessions() as s:
            rows = s.execute(q).all()
            return self._views(s, rows, today)

    def inbox_counts(self, person_id: str, *, department: str | None = None, search: str | None = None,
                     state: str | None = None) -> dict[str, int]:
        """How many of the tasks ``inbox`` lists fall into each group (``GROUPS``). Without a search a
        figure above ``COUNT_LIMIT`` means "more than ``COUNT_LIMIT``" (counting stops there)."""
        today = self.today()
        if not search:
            keys = self._unblocked(person_id, self._scope_keys(person_id, department, state, today))
            if not keys:
                return dict.fromkeys(GROUPS, 0)
            return self._run_counts(self._statement(("inbox_counts", person_id, keys, today, COUNT_LIMIT),
                                                    lambda: _count_parts(self._scope_filters(person_id, keys, today), today)))
        filters = self._inbox_scopes(person_id, department, state, today)
        if not filters:
            return dict.fromkeys(GROUPS, 0)
        return self._counts(filters, search, today)

    def open_task_counts(self, *, department: str | None = None, search: str | None = None,
                         state: str | None = None) -> dict[str, int]:
        """``inbox_counts`` for ``open_tasks``."""
        today = self.today()
        if not search:
            return self._run_counts(self._statement(("open_counts", department, state, today, COUNT_LIMIT),
                                                    lambda: _count_parts(self._step_scopes(department, state), today)))
        return self._counts(self._step_scopes(department, state), search, today)

    def _step_scopes(self, department: str | None, state: str | None) -> list:
        """``open_tasks``' filters: one per step, so each reads an index in order (see ``inbox``)."""
        t = ApprovalTask
        chain = [st.value for st in rules.steps(self.org)] if not state else [state]
        return [sa.and_(t.step == st, *([t.department == department] if department else [])) for st in chain]

    def _counts(self, filters: list, search: str | None, today: dt.date) -> dict[str, int]:
        t = ApprovalTask
        if search:
            # The hits of a search are few: counted exactly, in one pass over them.
            group, _key = inbox_order(today)
            q = (sa.select(group.label("grp"), sa.func.count()).where(t.status == "open", sa.or_(*filters))
                 .join(hits := self._search_hits(search), hits.c.id == t.invoice_id).group_by(group))
        else:
            q = _count_parts(filters, today)
        return self._run_counts(q)

    def _run_counts(self, q) -> dict[str, int]:
        out = dict.fromkeys(GROUPS, 0)
        with self.db.sessions() as s:
            for grp, n in s.execute(q):
                out[GROUPS[grp]] += n
        return out

    def open_tasks(self, *, department: str | None = None, search: str | None = None, state: str | None = None,
                   limit: int = 50, offset: int = 0, sort: str = "frist") -> list[TaskView]:
        """All open tasks (central desk overview, auditors), in the inbox order (or ``sort``)."""
        t = ApprovalTask
        today = self.today()
        if not search and sort == "frist":
            q = self._statement(("open", department, state, today, limit, offset),
                                lambda: _merged(self._step_scopes(department, state), today, limit, offset))
        elif search and sort == "frist" and self._search_walks(search):
            return self._walk(self._step_scopes(department, state), search, today, limit, offset)
        else:
            q = sa.select(t, InvoiceRow, _HAS_FLAGS).join(InvoiceRow, InvoiceRow.id == t.invoice_id).where(t.status == "open")
            if department:
                q = q.where(t.department == department)
            if state:
                q = q.where(t.step == state)
            if search:
                q = q.join(hits := self._search_hits(search), hits.c.id == t.invoice_id)
            q = q.options(_INVOICE_COLUMNS).order_by(*sort_order(sort, today)).limit(limit).offset(offset)
        with self.db.sessions() as s:
            return self._views(s, s.execute(q).all(), today)

    def _search_walks(self, text: str) -> bool:
        """Whether a search for ``text`` should walk the list in order (many hits expected) rather
        than find the invoices first (``SEARCH_WALK_ABOVE``). PostgreSQL's row estimate decides (one
        EXPLAIN, no rows read); other databases have no trigram index to prefer and never walk."""
        if self.db.engine.dialect.name != "postgresql":
            return False
        q = sa.select(InvoiceRow.id).where(self._search(text)).compile(dialect=self.db.engine.dialect)
        with self.db.engine.connect() as conn:
            plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(q), q.params).scalar()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return plan[0]["Plan"]["Plan Rows"] > SEARCH_WALK_ABOVE

    def _walk(self, filters: list, text: str, today: dt.date, limit: int, offset: int) -> list[TaskView]:
        """A search in the inbox order by walking each scope's index in order (``_merged``) and
        keeping the tasks whose copied invoice columns match: the same rows as finding the invoices first."""
        found = self._search(text, ApprovalTask)
        q = _merged([sa.and_(f, found) for f in filters], today, limit, offset)
        with self.db.sessions() as s:
            return self._views(s, s.execute(q).all(), today)

    def _search_hits(self, text: str):
        """The ids of the invoices ``text`` finds, as a CTE the task list joins.

        Materialised on PostgreSQL, so the invoices are found on their own (trigram indexes,
        migration 0014) before the tasks are joined: planned together, PostgreSQL prefers reading
        every invoice in parallel and testing each, which costs 100 ms at 100,000 invoices."""
        return sa.select(InvoiceRow.id).where(self._search(text)).cte("hits").prefix_with("MATERIALIZED", dialect="postgresql")

    @staticmethod
    def _search(text: str, table=InvoiceRow):
        """What the search box matches, on ``InvoiceRow`` or on the copies an open ``ApprovalTask`` carries."""
        needle = text.strip().lower()
        return sa.or_(
            sa.func.lower(table.invoice_number).contains(needle, autoescape=True),
            sa.func.lower(table.seller_name).contains(needle, autoescape=True),
        )

    def task(self, task_id: int) -> TaskView:
        """One task (open or closed). Raises ``LookupError`` for an id that does not exist."""
        with self.db.sessions() as s:
            row = s.execute(sa.select(ApprovalTask, InvoiceRow, _HAS_FLAGS).join(InvoiceRow, InvoiceRow.id == ApprovalTask.invoice_id)
                            .where(ApprovalTask.id == task_id)).first()
            if row is None:
                raise LookupError(f"no approval task {task_id}")
            return self._views(s, [row], self.today())[0]

    def open_task_of(self, invoice_id: int) -> TaskView | None:
        """The open task of an invoice in approval, else None."""
        with self.db.sessions() as s:
            row = s.execute(sa.select(ApprovalTask, InvoiceRow, _HAS_FLAGS).join(InvoiceRow, InvoiceRow.id == ApprovalTask.invoice_id)
                            .where(ApprovalTask.invoice_id == invoice_id, ApprovalTask.status == "open")).first()
            return self._views(s, [row], self.today())[0] if row else None

    def tasks_of(self, invoice_id: int) -> list[TaskView]:
        """Every task an invoice went through, oldest first (the sign-off record)."""
        with self.db.sessions() as s:
            rows = s.execute(sa.select(ApprovalTask, InvoiceRow, _HAS_FLAGS).join(InvoiceRow, InvoiceRow.id == ApprovalTask.invoice_id)
                             .where(ApprovalTask.invoice_id == invoice_id).order_by(ApprovalTask.id)).all()
            return self._views(s, rows, self.today())

    def duplicates(self, invoice_id: int) -> list[DuplicateView]:
        with self.db.sessions() as s:
            return [self._dup_view(f) for f in s.scalars(
                sa.select(DuplicateFlag).where(DuplicateFlag.invoice_id == invoice_id).order_by(DuplicateFlag.id))]

    def history(self, invoice_id: int) -> list[EventView]:
        with self.db.sessions() as s:
            events = s.scalars(sa.select(InvoiceEvent).where(InvoiceEvent.invoice_id == invoice_id).order_by(InvoiceEvent.id))
            return [EventView(e.id, e.at, e.actor, e.role, e.on_behalf_of, e.action, e.from_state, e.to_state, e.amount,
                              e.comment, json.loads(e.details_json) if e.details_json else {}) for e in events]

    @staticmethod
    def _dup_view(f: DuplicateFlag) -> DuplicateView:
        return DuplicateView(f.id, f.kind, f.other_invoice_id, f.reason, f.overridden_by, f.override_reason)

    def _views(self, s: Session, rows, today: dt.date) -> list[TaskView]:
        if not rows:
            return []
        # Rows may carry a third column "has a duplicate flag" (the inbox asks for it): then only
        # flagged invoices cost a second query, and most pages need none.
        invoice_ids = {row[1].id for row in rows if len(row) < 3 or row[2]}
        flags: dict[int, list[DuplicateView]] = {}
        for f in (s.scalars(sa.select(DuplicateFlag).where(DuplicateFlag.invoice_id.in_(invoice_ids))
                            .order_by(DuplicateFlag.id)) if invoice_ids else ()):
            flags.setdefault(f.invoice_id, []).append(self._dup_view(f))
        holds = {h.invoice_id: h for h in s.scalars(sa.select(ClarificationHold).where(
            ClarificationHold.invoice_id.in_({row[1].id for row in rows}), ClarificationHold.released_at.is_(None)))}
        org = self.org
        out = []
        for task, inv, *_ in rows:
            step = Step(task.step)
            candidates: tuple[str, ...] = ()
            if task.status == "open":
                signed = frozenset(p for p in (task.signed_by or "").split("|") if p)
                if signed and rules.step_combines(self.org, task.department, step):
                    signed = rules.conflicting_signers(self.org, task.department, step, self._signoffs(s, inv.id))
                candidates = tuple(rules.people_for(org, rules.STEP_ROLE[step], task.department, inv.amount_due, today,
                                                    exclude=signed))
                if task.assignee:  # delegated: the named person, or whoever stands in for them today
                    theirs = {task.assignee} | {d.deputy for d in org.deputies if d.person == task.assignee
                                                and d.absent_from <= today <= d.absent_to}
                    candidates = tuple(c for c in candidates if c in theirs)
            sk = skonto_now(inv, today)  # the one Skonto rule (einvoice.model.skonto), as of today
            hold = holds.get(inv.id)
            out.append(TaskView(
                task_id=task.id, invoice_id=inv.id, step=step, department=task.department, status=task.status,
                candidates=candidates, state=inv.state, invoice_number=inv.invoice_number,
                seller_name=inv.seller_name, amount_due=inv.amount_due, currency=inv.currency, issue_date=inv.issue_date,
                due_date=inv.due_date, skonto_until=sk.until, skonto_percent=sk.percent, skonto_amount=sk.amount,
                deadline=(dl := invoice_deadline(inv, today)), days_left=days_left(dl, today),
                duplicate_flags=tuple(flags.get(inv.id, ())), created_at=task.created_at, version=task.version,
                leitweg_id=inv.leitweg_id, routing_rule=inv.routing_rule, routing_reason=inv.routing_reason,
                outcome=task.outcome, decided_by=task.decided_by, assignee=task.assignee if task.status == "open" else None,
                skonto_lost=sk.lost, hold_until=hold.until if hold else None, hold_reason=hold.reason if hold else None,
                hold_by=hold.set_by if hold else None,
            ))
        return out

    # --- checks shared by the actions and allowed() --------------------------------------------
    def _signoffs(self, s: Session, invoice_id: int) -> list[rules.SignOff]:
        rows = s.execute(sa.select(ApprovalTask.step, ApprovalTask.decided_by, ApprovalTask.on_behalf_of)
                         .where(ApprovalTask.invoice_id == invoice_id, ApprovalTask.signoff_valid.is_(True))
                         .order_by(ApprovalTask.id)).all()
        return [rules.SignOff(Step(step), by, behalf) for step, by, behalf in rows]

    @staticmethod
    def _active_hold(s: Session, invoice_id: int) -> ClarificationHold | None:
        return s.scalar(sa.select(ClarificationHold).where(ClarificationHold.invoice_id == invoice_id,
                                                           ClarificationHold.released_at.is_(None)))

    def _open_flags(self, s: Session, invoice_id: int) -> list[DuplicateFlag]:
        return list(s.scalars(sa.select(DuplicateFlag).where(DuplicateFlag.invoice_id == invoice_id,
                                                             DuplicateFlag.overridden_by.is_(None))))

    def _check_approve(self, s: Session, task: ApprovalTask, inv: InvoiceRow, person_id: str) -> rules.Capacity | Refusal:
        step = Step(task.step)
        cap = rules.capacity(self.org, person_id, rules.STEP_ROLE[step], task.department, inv.amount_due, self.today(),
                             what=f"approve:{step.value}")
        if isinstance(cap, Refusal):
            return cap
        if task.assignee and task.assignee not in cap.involved:
            who = rules.find_person(self.org, task.assignee)
            return M.refusal(M.DELEGATED, name=who.name if who else task.assignee)
        hold = self._active_hold(s, inv.id)
        if hold is not None:
            return M.refusal(M.HOLD_OPEN, until=M.date(hold.until), reason=hold.reason, by=hold.set_by,
                             step=M.step_name(step))
        sod = rules.separation_of_duties(step, cap, self._signoffs(s, inv.id), self.org, task.department)
        if sod is not None:
            return sod
        if rules.next_step(step, self.org) is None:
            flags = self._open_flags(s, inv.id)
            if flags:
                return M.refusal(M.DUPLICATE_BLOCKS, reason=flags[0].reason)
        return cap

    def _check_handle(self, task: ApprovalTask, inv: InvoiceRow, person_id: str, what: str) -> rules.Capacity | Refusal:
        """Reject, send back, forward: whoever may decide the step, the department head, or the central desk."""
        step = Step(task.step)
        today = self.today()
        cap = rules.capacity(self.org, person_id, rules.STEP_ROLE[step], task.department, inv.amount_due, today, what=what)
        if isinstance(cap, rules.Capacity) or cap.rule in (M.UNKNOWN_PERSON, M.AUDITOR_READ_ONLY):
            return cap
        for role in (Role.HEAD, Role.CENTRAL_DESK):
            other = rules.capacity(self.org, person_id, role, task.department, None, today, what=what)
            if isinstance(other, rules.Capacity):
                return other
        return cap

    def _check_invoice_role(self, inv: InvoiceRow, person_id: str, roles: Sequence[Role], what: str, *,
                            value_limited: bool) -> rules.Capacity | Refusal:
        """Any of ``roles`` for the invoice's department; within the grant's limit only if ``value_limited``."""
        department = inv.department or self.org.central_desk
        # Amount 0 passes every Wertgrenze: comments and reopening are not decisions about money.
        amount = inv.amount_due if value_limited else Decimal(0)
        over_limit: Refusal | None = None
        for role in roles:
            cap = rules.capacity(self.org, person_id, role, department, amount, self.today(), what=what)
            if isinstance(cap, rules.Capacity):
                return cap
            if cap.rule in (M.UNKNOWN_PERSON, M.AUDITOR_READ_ONLY):
                return cap
            over_limit = over_limit or (cap if cap.rule == M.LIMIT else None)
        if over_limit is not None:
            return over_limit
        person = rules.find_person(self.org, person_id)
        names = ", ".join(M.role_name(r) for r in roles)
        return M.refusal(M.NOT_AUTHORISED_ROLES, name=person.name if person else person_id, roles=names,
                         department=department, what=M.what(what), what_zu=M.what(what, zu=True))

    def allowed(self, task_id: int, person_id: str) -> dict[str, Refusal | None]:
        """For the web page: which actions ``person_id`` may take on this task now, and why not."""
        with self.db.sessions() as s:
            task = s.get(ApprovalTask, task_id)
            if task is None:
                r = M.refusal(M.NO_SUCH_TASK, task_id=task_id)
                return dict.fromkeys(("approve", "reject", "send_back", "forward", "comment", "override_duplicate",
                                      "delegate", "hold"), r)
            inv = s.get(InvoiceRow, task.invoice_id)
            out: dict[str, Refusal | None] = {}
            stale = None if task.status == "open" else M.refusal(M.STALE_CLOSED, outcome=M.outcome_name(task.outcome),
                                                                                 by=task.decided_by)

            def verdict(x):
                return x if isinstance(x, Refusal) else None

            out["approve"] = stale or verdict(self._check_approve(s, task, inv, person_id))
            out["reject"] = stale or verdict(self._check_handle(task, inv, person_id, "reject"))
            prev = rules.previous_step(Step(task.step), self.org)
            out["send_back"] = stale or (M.refusal(M.NO_PREVIOUS_STEP)
                                         if prev is None else verdict(self._check_handle(task, inv, person_id, "send_back")))
            out["forward"] = stale or verdict(self._check_handle(task, inv, person_id, "forward"))
            out["comment"] = verdict(self._check_comment(inv, person_id))
            out["override_duplicate"] = (M.refusal(M.NO_DUPLICATE_FLAG)
                                         if not self._open_flags(s, inv.id) else verdict(self._check_override(inv, person_id)))
            out["delegate"] = stale or verdict(self._check_handle(task, inv, person_id, "delegate"))
            out["hold"] = verdict(self._check_hold(s, inv, person_id))
            return out

    def _check_comment(self, inv: InvoiceRow, person_id: str):
        return self._check_invoice_role(inv, person_id, [Role.SACHLICH, Role.RECHNERISCH, Role.ANORDNEN, Role.HEAD,
                                                         Role.CENTRAL_DESK, Role.TREASURY], "comment",
                                       value_limited=False)

    def _check_override(self, inv: InvoiceRow, person_id: str):
        return self._check_invoice_role(inv, person_id, [Role.ANORDNEN, Role.HEAD, Role.CENTRAL_DESK],
                                        "override_duplicate", value_limited=True)

    @staticmethod
    def _refuse(refusal: Refusal):
        """For the actions in ``desk``: end the action with this refusal (nothing is written)."""
        raise _Abort(refusal)

    @staticmethod
    def _begin_approval(s: Session, inv: InvoiceRow, org: Organisation) -> None:
        start_approval_many(s, [inv], org)

    # --- running an action ---------------------------------------------------------------------
    def _run(self, fn: Callable[[Session], ActionResult], *, invoice_id: int | None = None) -> ActionResult:
        stale = M.refusal(M.STALE)
        self._forget_substitutes()  # a substitute set or ended a moment ago, in any process, counts now
        self._pinned.org = self.org  # read now, before the transaction holds a connection and locks
        try:
            return self._attempts(fn, stale, invoice_id)
        finally:
            self._pinned.org = None

    def _attempts(self, fn: Callable[[Session], ActionResult], stale: Refusal, invoice_id: int | None) -> ActionResult:
        for attempt in range(4):
            try:
                with self.db.transaction() as s:
                    result = fn(s)
                    s.flush()
                    return result
            except _Abort as abort:
                return ActionResult(False, abort.refusal, self._state_of(invoice_id), None)
            except StaleDataError:
                return ActionResult(False, stale, self._state_of(invoice_id), None)
            except IntegrityError as exc:
                # The one-open-task-per-invoice index refused a second next task, or the one-active-hold
                # index a second Klärung: a concurrent action won.
                if any(k in str(exc) for k in ("uq_approval_tasks_one_open", "approval_tasks.invoice_id",
                                               "uq_clarification_holds_active", "clarification_holds.invoice_id")):
                    return ActionResult(False, stale, self._state_of(invoice_id), None)
                raise
            except OperationalError as exc:
                # SQLite: a writer whose read snapshot predates another writer's commit cannot upgrade
                # its lock ("database is locked"). The other commit may have been on a different task,
                # so run the action again on fresh data: if it was this task, the rerun says STALE.
                if "locked" not in str(exc).lower():
                    raise
                time.sleep(0.05 * (attempt + 1))
        return ActionResult(False, M.refusal(M.BUSY), self._state_of(invoice_id), None)

    def _state_of(self, invoice_id: int | None) -> str:
        if invoice_id is None:
            return ""
        with self.db.sessions() as s:
            inv = s.get(InvoiceRow, invoice_id)
            return inv.state if inv else ""

    def _lock_task(self, s: Session, task_id: int) -> tuple[ApprovalTask, InvoiceRow]:
        task = s.get(ApprovalTask, task_id, with_for_update=True)
        if task is None:
            raise _Abort(M.refusal(M.NO_SUCH_TASK, task_id=task_id))
        inv = s.get(InvoiceRow, task.invoice_id, with_for_update=True)
        if task.status != "open":
            who = M.text("stale-who", outcome=M.outcome_name(task.outcome), by=task.decided_by) if task.decided_by else ""
            raise _Abort(M.refusal(M.STALE_DECIDED, who=who, state=M.state_name(inv.state)))
        return task, inv

    def _task_invoice_id(self, task_id: int) -> int | None:
        with self.db.sessions() as s:
            return s.scalar(sa.select(ApprovalTask.invoice_id).where(ApprovalTask.id == task_id))

    def _close(self, task: ApprovalTask, cap: rules.Capacity | None, person_id: str, outcome: str, *,
               amount: Decimal | None = None, comment: str | None = None, signoff: bool = False) -> None:
        task.status = "done"
        task.outcome = outcome
        task.decided_by = person_id
        task.on_behalf_of = cap.on_behalf_of if cap else None
        task.acted_role = cap.role.value if cap else None
        task.decided_at = utcnow()
        task.decided_on = self.today()
        task.amount = amount
        task.comment = comment
        task.signoff_valid = signoff

    def _void_signoffs(self, s: Session, invoice_id: int, steps: Sequence[Step] | None = None) -> list[str]:
        q = sa.select(ApprovalTask).where(ApprovalTask.invoice_id == invoice_id, ApprovalTask.signoff_valid.is_(True))
        if steps is not None:
            q = q.where(ApprovalTask.step.in_([x.value for x in steps]))
        voided = []
        for t in s.scalars(q):
            t.signoff_valid = False
            voided.append(t.step)
        return voided

    @staticmethod
    def _event(s: Session, inv: InvoiceRow, cap: rules.Capacity | None, person_id: str, action: str, from_state: str,
               *, amount=None, comment=None, details: dict | None = None) -> None:
        s.add(InvoiceEvent(
            invoice_id=inv.id, actor=person_id, role=cap.role.value if cap else None,
            on_behalf_of=cap.on_behalf_of if cap else None, action=action, from_state=from_state, to_state=inv.state,
            amount=amount, comment=comment, details_json=json.dumps(details, ensure_ascii=False, default=str) if details else None,
        ))

    # --- actions -------------------------------------------------------------------------------
    def approve(self, task_id: int, person_id: str, *, amount: Decimal | None = None, comment: str | None = None) -> ActionResult:
        """Sign the task's step. Rechnerische Richtigkeit needs ``amount`` = the amount due ("rechnerisch richtig mit … EUR")."""
        def act(s: Session) -> ActionResult:
            task, inv = self._lock_task(s, task_id)
            step = Step(task.step)
            cap = self._check_approve(s, task, inv, person_id)
            if isinstance(cap, Refusal):
                raise _Abort(cap)
            certified = inv.amount_due
            if step == Step.RECHNERISCH:
                if amount is None:
                    raise _Abort(M.refusal(M.AMOUNT_REQUIRED, amount=M.money(inv.amount_due, inv.currency)))
                if inv.amount_due is None or Decimal(str(amount)) != inv.amount_due:
                    raise _Abort(M.refusal(M.AMOUNT_MISMATCH, confirmed=M.money(Decimal(str(amount)), inv.currency),
                                           amount=M.money(inv.amount_due, inv.currency)))
                certified = Decimal(str(amount))
            nxt = rules.next_step(step, self.org)
            from_state = inv.state
            self._close(task, cap, person_id, "approved", amount=certified, comment=comment, signoff=True)
            if nxt is not None:
                _open_task(s, inv, nxt, task.department)
            else:
                check_transition(InvoiceState(inv.state), InvoiceState.RELEASED)
                inv.state = InvoiceState.RELEASED.value
            s.flush()  # the version checks fire here: a concurrent decision loses with STALE
            self._event(s, inv, cap, person_id, STEP_ACTION[step], from_state, amount=certified, comment=comment,
                        details={"task_id": task.id, "step": step.value, "department": task.department,
                                 "next_step": nxt.value if nxt else None})
            if nxt is None:
                s.flush()
                for hook in self.on_release:
                    try:
                        hook(s, inv)
                    except Exception as exc:  # the hook's failure must undo the release, and say why
                        log.exception("on_release hook %r failed for invoice %s", hook, inv.id)
                        raise _Abort(M.refusal(M.RELEASE_FAILED, error=f"{type(exc).__name__}: {exc}")) from exc
            return ActionResult(True, None, inv.state, nxt)

        return self._run(act, invoice_id=self._task_invoice_id(task_id))

    def reject(self, task_id: int, person_id: str, *, reason: str) -> ActionResult:
        """Return the invoice (to the supplier / central desk) with a reason; all sign-offs lapse."""
        def act(s: Session) -> ActionResult:
            task, inv = self._lock_task(s, task_id)
            if not (reason or "").strip():
                raise _Abort(M.refusal(M.REASON_REQUIRED_REJECT))
            cap = self._check_handle(task, inv, person_id, "reject")
            if isinstance(cap, Refusal):
                raise _Abort(cap)
            from_state = inv.state
            check_transition(InvoiceState(inv.state), InvoiceState.RETURNED)
            self._close(task, cap, person_id, "rejected", comment=reason)
            voided = self._void_signoffs(s, inv.id)
            inv.state = InvoiceState.RETURNED.value
            s.flush()
            self._event(s, inv, cap, person_id, "rejected", from_state, amount=inv.amount_due, comment=reason,
                        details={"task_id": task.id, "step": task.step, "voided_signoffs": voided})
            return ActionResult(True, None, inv.state, None)

        return self._run(act, invoice_id=self._task_invoice_id(task_id))

    def send_back(self, task_id: int, person_id: str, *, reason: str) -> ActionResult:
        """Return the invoice to the previous step; that step's sign-off lapses and is given again."""
        def act(s: Session) -> ActionResult:
            task, inv = self._lock_task(s, task_id)
            prev = rules.previous_step(Step(task.step), self.org)
            if prev is None:
                raise _Abort(M.refusal(M.NO_PREVIOUS_STEP))
            if not (reason or "").strip():
                raise _Abort(M.refusal(M.REASON_REQUIRED_SEND_BACK))
            cap = self._check_handle(task, inv, person_id, "send_back")
            if isinstance(cap, Refusal):
                raise _Abort(cap)
            self._close(task, cap, person_id, "sent_back", comment=reason)
            self._void_signoffs(s, inv.id, [prev])
            _open_task(s, inv, prev, task.department)
            s.flush()
            self._event(s, inv, cap, person_id, "sent_back", inv.state, comment=reason,
                        details={"task_id": task.id, "from_step": task.step, "to_step": prev.value})
            return ActionResult(True, None, inv.state, prev)

        return self._run(act, invoice_id=self._task_invoice_id(task_id))

    def forward(self, task_id: int, person_id: str, *, department: str, comment: str | None = None) -> ActionResult:
        """Send the invoice to the department that holds the budget; it starts there at sachliche Richtigkeit."""
        def act(s: Session) -> ActionResult:
            task, inv = self._lock_task(s, task_id)
            try:
                target = self.org.department(department)
            except KeyError:
                codes = ", ".join(f"{d.code} {d.name}" for d in self.org.departments)
                raise _Abort(M.refusal(M.UNKNOWN_DEPARTMENT, department=department, codes=codes)) from None
            if target.code == task.department:
                raise _Abort(M.refusal(M.SAME_DEPARTMENT, code=target.code, name=target.name))
            cap = self._check_handle(task, inv, person_id, "forward")
            if isinstance(cap, Refusal):
                raise _Abort(cap)
            source = task.department
            self._close(task, cap, person_id, "forwarded", comment=comment)
            voided = self._void_signoffs(s, inv.id)  # the new department certifies for itself
            inv.department = target.code
            inv.routing_rule = "forwarded"
            inv.routing_reason = M.text("forwarded-reason", person=person_id, source=source, code=target.code,
                                        name=target.name) + (f": {comment}" if comment else "")
            _open_task(s, inv, Step.SACHLICH, target.code)
            s.flush()
            self._event(s, inv, cap, person_id, "forwarded", inv.state, comment=comment,
                        details={"task_id": task.id, "from_department": source, "to_department": target.code,
                                 "voided_signoffs": voided})
            return ActionResult(True, None, inv.state, Step.SACHLICH)

        return self._run(act, invoice_id=self._task_invoice_id(task_id))

    def _lock_invoice(self, s: Session, invoice_id: int) -> InvoiceRow:
        inv = s.get(InvoiceRow, invoice_id, with_for_update=True)
        if inv is None:
            raise _Abort(M.refusal(M.NO_SUCH_INVOICE, invoice_id=invoice_id))
        return inv

    def comment(self, invoice_id: int, person_id: str, text: str) -> ActionResult:
        """A note on the invoice for everyone who handles it (no state change, one audit event)."""
        def act(s: Session) -> ActionResult:
            inv = self._lock_invoice(s, invoice_id)
            if not (text or "").strip():
                raise _Abort(M.refusal(M.REASON_REQUIRED_COMMENT))
            cap = self._check_comment(inv, person_id)
            if isinstance(cap, Refusal):
                raise _Abort(cap)
            self._event(s, inv, cap, person_id, "comment", inv.state, comment=text)
            return ActionResult(True, None, inv.state, None)

        return self._run(act, invoice_id=invoice_id)

    def override_duplicate(self, invoice_id: int, person_id: str, *, reason: str) -> ActionResult:
        """Declare the duplicate flags of an invoice unfounded (logged with the reason); release is possible again."""
        def act(s: Session) -> ActionResult:
            inv = self._lock_invoice(s, invoice_id)
            flags = self._open_flags(s, inv.id)
            if not flags:
                raise _Abort(M.refusal(M.NO_DUPLICATE_FLAG))
            if not (reason or "").strip():
                raise _Abort(M.refusal(M.REASON_REQUIRED_OVERRIDE))
            cap = self._check_override(inv, person_id)
            if isinstance(cap, Refusal):
                raise _Abort(cap)
            now = utcnow()
            for f in flags:
                f.overridden_by, f.overridden_at, f.override_reason = person_id, now, reason
            self._event(s, inv, cap, person_id, "duplicate_override", inv.state, comment=reason,
                        details={"flags": [{"id": f.id, "kind": f.kind, "other_invoice_id": f.other_invoice_id} for f in flags]})
            return ActionResult(True, None, inv.state, None)

        return self._run(act, invoice_id=invoice_id)

    def reopen(self, invoice_id: int, person_id: str, *, department: str | None = None, comment: str | None = None) -> ActionResult:
        """Central desk: put a returned invoice back into approval (e.g. after the supplier's clarification)."""
        def act(s: Session) -> ActionResult:
            inv = self._lock_invoice(s, invoice_id)
            if inv.state != InvoiceState.RETURNED.value:
                raise _Abort(M.refusal(M.NOT_RETURNED, state=M.state_name(inv.state)))
            cap = self._check_invoice_role(inv, person_id, [Role.CENTRAL_DESK, Role.HEAD], "reopen",
                                           value_limited=False)
            if isinstance(cap, Refusal):
                raise _Abort(cap)
            dept = department or inv.department or self.org.central_desk
            try:
                self.org.department(dept)
            except KeyError:
                codes = ", ".join(f"{d.code} {d.name}" for d in self.org.departments)
                raise _Abort(M.refusal(M.UNKNOWN_DEPARTMENT, department=dept, codes=codes)) from None
            from_state = inv.state
            check_transition(InvoiceState(inv.state), InvoiceState.IN_APPROVAL)
            inv.state = InvoiceState.IN_APPROVAL.value
            inv.department = dept
            _open_task(s, inv, Step.SACHLICH, dept)
            s.flush()
            self._event(s, inv, cap, person_id, "reopened", from_state, comment=comment, details={"department": dept})
            return ActionResult(True, None, inv.state, Step.SACHLICH)

        return self._run(act, invoice_id=invoice_id)

    # --- deadlines -----------------------------------------------------------------------------
    def send_reminders(self, now: dt.datetime | None = None) -> list[Reminder]:
        """Remind the candidates of tasks open ``reminder_after_days`` (or whose Skonto date is that
        close), escalate to the department head after ``escalate_after_days``. Each task is reminded
        and escalated once; each is recorded as an audit event. Delivery (e-mail) is the caller's job.
        """
        now = now or utcnow()
        today = now.date()
        rules_ = self.org.approval
        out: list[Reminder] = []
        with self.db.sessions() as s:
            ids = s.scalars(sa.select(ApprovalTask.id).where(
                ApprovalTask.status == "open",
                sa.or_(ApprovalTask.reminded_at.is_(None), ApprovalTask.escalated_at.is_(None))).order_by(ApprovalTask.id)).all()
        for task_id in ids:
            with self.db.transaction() as s:
                task = s.get(ApprovalTask, task_id, with_for_update=True)
                if task is None or task.status != "open":
                    continue
                inv = s.get(InvoiceRow, task.invoice_id)
                step = Step(task.step)
                age = age_days(task.created_at, today)
                left = days_left(task.deadline, today)
                sk = skonto_now(inv, today)
                lost = sk.amount
                risk = ""
                if sk.until and lost is not None:
                    sk_left = (sk.until - today).days
                    risk = (M.text("reminder-skonto-open", amount=M.money(lost), until=M.date(sk.until), left=sk_left)
                            if not sk.lost else M.text("reminder-skonto-lost", until=M.date(sk.until), amount=M.money(lost)))
                what = M.text("reminder-what", step=M.step_name(step), number=inv.invoice_number or inv.id,
                              seller=inv.seller_name or "?", amount=M.money(inv.amount_due, inv.currency))
                kind = None
                if task.escalated_at is None and age >= rules_.escalate_after_days:
                    kind = "escalation"
                    recipients = self._heads(task.department, today)
                    message = M.text("escalation", age=age, department=task.department, what=what, risk=risk)
                    task.escalated_at = now
                elif task.reminded_at is None and (age >= rules_.reminder_after_days or
                                                  (sk.until is not None and left is not None and left <= rules_.reminder_after_days)):
                    kind = "reminder"
                    recipients = tuple(rules.people_for(self.org, rules.STEP_ROLE[step], task.department, inv.amount_due, today,
                                                        exclude=rules.conflicting_signers(self.org, task.department, step, self._signoffs(s, inv.id))))
                    if not recipients:  # nobody may decide this step today: say so to whom can fix it
                        recipients = self._heads(task.department, today)
                        risk += M.text("reminder-nobody")
                    message = M.text("reminder", age=age, what=what, risk=risk,
                                     deadline=M.text("reminder-deadline", date=M.date(task.deadline)) if task.deadline else "")
                    task.reminded_at = now
                if kind is None:
                    continue
                self._event(s, inv, None, "system", kind, inv.state, comment=message,
                            details={"task_id": task.id, "recipients": list(recipients), "skonto_at_risk": str(lost) if lost else None})
                out.append(Reminder(kind, task.id, inv.id, step, task.department, tuple(recipients), message,
                                    sk.until, lost))
        return out

    def _heads(self, department: str, today: dt.date) -> tuple[str, ...]:
        heads = [p.id for p in self.org.people if any(g.role == Role.HEAD and g.department == department for g in p.grants)]
        out: list[str] = []
        for h in heads:
            if rules.absent_on(self.org, h, today):
                out.extend(d.deputy for d in self.org.deputies if d.person == h and d.absent_from <= today <= d.absent_to)
            else:
                out.append(h)
        if not out:  # no head configured: the central desk must see it, never nobody
            out = [p.id for p in self.org.people if any(g.role == Role.CENTRAL_DESK for g in p.grants)]
        return tuple(dict.fromkeys(out))
