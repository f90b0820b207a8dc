"""Who may act on postings and payments: every finance and payment action by a known person with the right role.

The same checks as the approval chain (``einvoice.approval.rules.capacity``: the person must be in
the organisation file, hold the role, act within its Wertgrenze, deputies only during an absence,
auditors only read), applied to the finance side, plus the rules of the Kasse:

* the Finanzbuchhaltung (role ``bookkeeping``) retries and resolves postings; overriding a refusal
  by the finance system needs that role and a reason and is logged;
* the Stadtkasse (role ``treasury``) prepares payment runs and releases them, two different persons
  (§ 31 Abs. 3 KomHVO NRW), neither of whom gave the Anordnung of an invoice in the file (the Kasse
  is separate from the Anordnung) or booked one of its invoices by hand (booking and payment apart).

Rule IDs (stable; German and English messages for the clerk in ``einvoice.finance.messages``):
  UNKNOWN-PERSON, NOT-AUTHORISED, LIMIT, DEPUTY-NOT-ABSENT, AUDITOR-READ-ONLY (from the approval rules),
  PAY-FOUR-EYES, PAY-RELEASE-ANORDNUNG, PAY-RELEASE-BOOKED, PAY-RUN-STATE, PAY-NOT-RELEASED,
  REASON-REQUIRED.

This module decides and never writes: the caller reads what it needs in its transaction and acts
on the answer. Values, not exceptions: every refusal is a ``FinanceProblem`` with its rule ID.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from einvoice.approval import Refusal, rules
from einvoice.approval import messages as approval_messages
from einvoice.finance import errors
from einvoice.finance import messages as M
from einvoice.finance.errors import FinanceProblem
from einvoice.organisation import Organisation, Role

#: The audit-trail actors that are systems, not people (they never pass ``acting_as``).
SYSTEM_ACTORS = frozenset({"system", "finance-system", "scheduler"})


def acting_as(org: Organisation, person_id: str | None, role: Role, *, what: str, amount: Decimal | None = Decimal(0),
              today: dt.date | None = None):
    """May ``person_id`` act in ``role`` (a central role: any department) on ``amount`` today?
    Returns the ``einvoice.approval.rules.Capacity`` it acts in, or the ``FinanceProblem``."""
    if not person_id or person_id in SYSTEM_ACTORS:
        return M.problem(errors.UNKNOWN_PERSON, person=person_id or M.both("nobody"), org=org.name,
                         what=(approval_messages.what(what, "de"), approval_messages.what(what, "en")))
    got = rules.capacity(org, person_id, role, org.central_desk, amount, today or dt.date.today(), what=what)
    if isinstance(got, Refusal):
        return FinanceProblem(got.rule, got.message)
    return got


def reason_required(reason: str | None, what: tuple[str, str]) -> FinanceProblem | None:
    """``what``: the action as a (German, English) pair, e.g. ``messages.both("manual-booking")``."""
    if (reason or "").strip():
        return None
    return M.problem(errors.REASON_REQUIRED, what=what)


def release_state(status: str, stage: int, run_id: int) -> FinanceProblem | None:
    """Stage 1 needs a run that is waiting for its first release, stage 2 one waiting for its second."""
    want = {1: "created", 2: "first_release"}[stage]
    if status == want:
        return None
    if status == "released":
        return M.problem(M.PAY_RUN_STATE_RELEASED, run_id=run_id)
    return M.problem(errors.PAY_RUN_STATE, run_id=run_id, stage=stage, status=status)


def four_eyes(first_by: str | None, person_id: str, run_id: int) -> FinanceProblem | None:
    if first_by is not None and first_by == person_id:
        return M.problem(errors.PAY_FOUR_EYES, person=person_id, run_id=run_id)
    return None


def not_anordnender(person_id: str, anordnungen: dict[int, set[str]], run_id: int) -> FinanceProblem | None:
    """``anordnungen``: invoice id -> the people involved in its valid Anordnung (signer and absent principal)."""
    own = sorted(inv for inv, people in anordnungen.items() if person_id in people)
    if own:
        return M.problem(errors.PAY_RELEASE_ANORDNUNG, person=person_id, invoices=", ".join(map(str, own)), run_id=run_id)
    return None


def not_booker(person_id: str, booked_by_hand: dict[int, str], run_id: int) -> FinanceProblem | None:
    """``booked_by_hand``: invoice id -> who recorded a manual booking for it."""
    own = sorted(inv for inv, who in booked_by_hand.items() if who == person_id)
    if own:
        return M.problem(errors.PAY_RELEASE_BOOKED, person=person_id, invoices=", ".join(map(str, own)), run_id=run_id)
    return None


def not_released(run_id: int, status: str) -> FinanceProblem:
    return M.problem(errors.PAY_NOT_RELEASED, run_id=run_id, status=status)
