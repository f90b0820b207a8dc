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

from einvoice.approval.service import (
    ApprovalService,
    DuplicateView,
    EventView,
    Reminder,
    TaskView,
    start_approval,
    start_approval_many,
)
from einvoice.approval.types import ActionResult, Refusal, Step

__all__ = [
    "ActionResult", "ApprovalService", "DuplicateView", "EventView", "Refusal", "Reminder", "Step",
    "TaskView", "start_approval", "start_approval_many",
]
