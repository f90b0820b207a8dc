"""ORM tables of the approval workflow: tasks (one per step an invoice passes), duplicate flags,
clarification holds (Klärung) and self-set substitutes (Abwesenheitsvertretung).

A task is one step (sachlich, rechnerisch, Anordnung, Freigabe) of one invoice in one department.
While an invoice is ``in_approval`` exactly one of its tasks is open; every decision closes the
open task and, where the workflow goes on, opens the next one. Closed tasks are the record of who
signed which step (``decided_by``, ``on_behalf_of`` when a deputy acted, role, amount); a sign-off
stops counting (``signoff_valid`` false) when the invoice is sent back past it, forwarded or
returned, but the row stays. The audit trail itself is ``InvoiceEvent``; these tables never
replace it. Nothing here deletes rows, and this module holds no business rule.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from einvoice.db.metadata import Base
from einvoice.db.models import utcnow

#: Index key: the amount in the inbox order's direction (larger first, none last), so a walk in
#: that order reads only the rows it returns (migration 0016).
_AMOUNT_DESC = sa.desc(sa.column("amount_due")).nulls_last()


class ApprovalTask(Base):
    __tablename__ = "approval_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    step: Mapped[str] = mapped_column(sa.String(16))
    department: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")  # open | done
    # Copied from the invoice when the task opens so the inbox can filter and sort on one table:
    # deadline = the earlier of Skonto date and due date (a lost discount is lost money).
    deadline: Mapped[dt.date | None]
    amount_due: Mapped[Decimal | None]
    # "|a.schulz|b.keller|": who already holds a valid sign-off on this invoice when the task opened
    # (deputies and the person they stood in for). Lets the inbox drop tasks a person may not take
    # (one person, one step) without probing the sign-offs row by row. ``allowed`` stays authoritative.
    signed_by: Mapped[str | None] = mapped_column(sa.String(1024))
    # The inbox order (migration 0012): the invoice's due date, and the dates the Skonto shown takes
    # as the days pass (deadlines.skonto_dates); no Skonto is open once skonto_last has passed.
    due_date: Mapped[dt.date | None]
    skonto_first: Mapped[dt.date | None]
    skonto_second: Mapped[dt.date | None]
    skonto_last: Mapped[dt.date | None]
    # The search box's columns of the invoice (BT-1, BT-27, BT-10; set at intake, never changed), on
    # open tasks (migration 0016): a search with many hits walks the inbox index and filters there.
    invoice_number: Mapped[str | None] = mapped_column(sa.String(255))
    seller_name: Mapped[str | None] = mapped_column(sa.String(255))
    leitweg_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Optimistic locking: a decision is UPDATE ... WHERE version = n, so two approvers cannot both win.
    version: Mapped[int] = mapped_column(default=1)

    # The decision (set when the task closes).
    outcome: Mapped[str | None] = mapped_column(sa.String(16))  # approved | rejected | sent_back | forwarded
    decided_by: Mapped[str | None] = mapped_column(sa.String(64))
    on_behalf_of: Mapped[str | None] = mapped_column(sa.String(64))  # the absent person a deputy stood in for
    acted_role: Mapped[str | None] = mapped_column(sa.String(32))
    decided_at: Mapped[dt.datetime | None]
    decided_on: Mapped[dt.date | None]  # the business day the decision counted for (deputy periods)
    amount: Mapped[Decimal | None]  # "rechnerisch richtig mit … EUR"
    comment: Mapped[str | None] = mapped_column(sa.Text)
    signoff_valid: Mapped[bool] = mapped_column(default=False)

    # Deadline follow-up (einvoice.approval.deadlines): each is sent once per task.
    reminded_at: Mapped[dt.datetime | None]
    escalated_at: Mapped[dt.datetime | None]

    # Delegation (migration 0013): the open task was handed to this named person, who alone (or
    # whoever stands in for them) may sign it; the head or the central desk can delegate it again.
    assignee: Mapped[str | None] = mapped_column(sa.String(64))
    assigned_by: Mapped[str | None] = mapped_column(sa.String(64))
    assigned_at: Mapped[dt.datetime | None]

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # The inbox order (einvoice.approval.service.inbox_order): each group of open tasks read in
        # order per (department, step) and per step (Stadtkasse, desk, overview). Open tasks only
        # (done ones pile up forever), carrying every column the lists filter on, so the walk and the
        # counts per group are answered from the index alone on PostgreSQL (migration 0014), and so
        # is a search walking them (the search columns, migration 0016).
        *(sa.Index(name, *columns, postgresql_include=[*included, "invoice_number", "seller_name", "leitweg_id", "assignee"], postgresql_where=sa.text("status = 'open'"),
                   sqlite_where=sa.text("status = 'open'")) for name, columns, included in (
            ("ix_approval_tasks_open_skonto", ("department", "step", "skonto_first", _AMOUNT_DESC, "id"),
             ["signed_by", "skonto_second", "skonto_last", "due_date"]),
            ("ix_approval_tasks_open_skonto_step", ("step", "skonto_first", _AMOUNT_DESC, "id"),
             ["department", "signed_by", "skonto_second", "skonto_last", "due_date"]),
            ("ix_approval_tasks_open_due", ("department", "step", "due_date", _AMOUNT_DESC, "id"), ["signed_by", "skonto_last"]),
            ("ix_approval_tasks_open_due_step", ("step", "due_date", _AMOUNT_DESC, "id"), ["department", "signed_by", "skonto_last"]),
        )),
        # The distinct signer lists of a scope's open tasks, read a few at a time (ApprovalService._unblocked).
        sa.Index("ix_approval_tasks_open_signed", "department", "step", "signed_by",
                 postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'")),
        sa.Index("ix_approval_tasks_skonto_later", "status", "skonto_last",
                 sqlite_where=sa.text("skonto_second IS NOT NULL"), postgresql_where=sa.text("skonto_second IS NOT NULL")),
        # Separation of duties in the inbox query: "has this person signed this invoice already?"
        sa.Index("ix_approval_tasks_decided_by", "decided_by", "invoice_id"),
        sa.Index("ix_approval_tasks_on_behalf_of", "on_behalf_of", "invoice_id"),
        # The database itself guarantees at most one open task per invoice, whatever a caller does.
        sa.Index("uq_approval_tasks_one_open", "invoice_id", unique=True,
                 sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'")),
        # "Delegated to me": the few open tasks handed to one person.
        sa.Index("ix_approval_tasks_assignee", "assignee", "status",
                 sqlite_where=sa.text("assignee IS NOT NULL"), postgresql_where=sa.text("assignee IS NOT NULL")),
    )


class DuplicateFlag(Base):
    """``invoice_id`` may be a second copy of ``other_invoice_id``; blocks release until overridden."""

    __tablename__ = "duplicate_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    other_invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))  # exact | near
    reason: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    overridden_by: Mapped[str | None] = mapped_column(sa.String(64))
    overridden_at: Mapped[dt.datetime | None]
    override_reason: Mapped[str | None] = mapped_column(sa.Text)


class ClarificationHold(Base):
    """Klärung: an invoice waits for a clarification (reason, expected by ``until``); while it is
    active the step cannot be signed. Released holds stay as the record of who asked and who ended it."""

    __tablename__ = "clarification_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    until: Mapped[dt.date]  # Wiedervorlage: when the clarification is expected
    set_by: Mapped[str] = mapped_column(sa.String(64))
    set_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    released_by: Mapped[str | None] = mapped_column(sa.String(64))
    released_at: Mapped[dt.datetime | None]
    release_note: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        # At most one active hold per invoice, whatever two clerks do at once.
        sa.Index("uq_clarification_holds_active", "invoice_id", unique=True,
                 sqlite_where=sa.text("released_at IS NULL"), postgresql_where=sa.text("released_at IS NULL")),
    )


class Substitute(Base):
    """Abwesenheitsvertretung set by ``person`` themselves: ``substitute`` acts for them from
    ``valid_from`` to ``valid_to`` (inclusive), exactly like a deputy of the organisation file.
    A withdrawn entry (``ended_at``) no longer counts; rows are never deleted."""

    __tablename__ = "substitutes"

    id: Mapped[int] = mapped_column(primary_key=True)
    person: Mapped[str] = mapped_column(sa.String(64), index=True)
    substitute: Mapped[str] = mapped_column(sa.String(64), index=True)
    valid_from: Mapped[dt.date]
    valid_to: Mapped[dt.date]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]
