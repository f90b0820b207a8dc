"""The approval workflow: sachliche Richtigkeit → rechnerische Richtigkeit → Anordnung → Freigabe.

Public API for the CLI, the web inbox and finance posting (see ``service.ApprovalService``):
``Step``, ``Refusal``, ``ActionResult``, ``ApprovalService``, ``TaskView``, ``start_approval``, ``start_approval_many``.

Every rule of the Dienstanweisung (who may sign which step up to which amount, deputies, separation
of duties, two-person release) is enforced here, server-side, in the domain layer: a user
interface may hide a button, but it must never be the only thing standing between a clerk and a
forbidden action. A refused action is a value (``Refusal``) with a rule ID and a sentence a clerk
can act on; exceptions are reserved for programmer errors. This package must never import
Prefect or a web framework, and never hard-code what a municipality decides (roles, limits,
deputies come from the organisation file).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Step(StrEnum):
    """One step of the approval chain (NRW § 31 KomHVO; Nds. § 42 KomHKVO; Bay. § 41 KommHV)."""

    SACHLICH = "sachlich"        # sachlich richtig: delivered/performed as ordered
    RECHNERISCH = "rechnerisch"  # rechnerisch richtig mit … EUR: amounts, VAT, arithmetic
    ANORDNUNG = "anordnung"      # Anordnung: payment order by a person with Anordnungsbefugnis
    FREIGABE = "freigabe"        # second person's release (NRW § 31 KomHVO), only with two_person_release


@dataclass(frozen=True)
class Refusal:
    """Why an action is not allowed: a stable rule ID (for tests, logs, the web page) and a sentence."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    refusal: Refusal | None
    invoice_state: str
    next_step: Step | None


from einvoice.approval.service import (  # noqa: E402  (the types above are imported by service)
    ApprovalService,
    DuplicateView,
    EventView,
    Reminder,
    TaskView,
    start_approval,
    start_approval_many,
)

__all__ = [
    "ActionResult", "ApprovalService", "DuplicateView", "EventView", "Refusal", "Reminder", "Step",
    "TaskView", "start_approval", "start_approval_many",
]
