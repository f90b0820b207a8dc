"""The approval workflow's vocabulary: the steps of the chain, a refused action, an action's result.

Its own module so every part of ``einvoice.approval`` (rules, messages, the service) can import
it without importing the package's public face, which imports them. This module holds no rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from einvoice.problems import Problem


class Step(StrEnum):
    """One step of the approval chain (NRW § 31 KomHVO; Nds. § 42 KomHKVO; Bay. § 41 KommHV)."""

    SACHLICH = "sachlich"        # sachlich richtig: delivered/performed as ordered
    RECHNERISCH = "rechnerisch"  # rechnerisch richtig mit … EUR: amounts, VAT, arithmetic
    ANORDNUNG = "anordnung"      # Anordnung: payment order by a person with Anordnungsbefugnis
    FREIGABE = "freigabe"        # second person's release (NRW § 31 KomHVO), only with two_person_release


@dataclass(frozen=True)
class Refusal(Problem):
    """Why an action is not allowed: a stable rule ID (for tests, logs, the web page) and a sentence."""


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    refusal: Refusal | None
    invoice_state: str
    next_step: Step | None
