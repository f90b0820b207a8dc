"""The invoice state machine: every received file is in exactly one of these states.

Transitions are listed explicitly; moving an invoice along any other edge is a programmer error.
This module must never touch the database: callers (intake, approval, finance) persist the
transition together with its audit event in one transaction.
"""
from __future__ import annotations

from enum import StrEnum


class InvoiceState(StrEnum):
    NOT_VALIDATED = "not_validated"    # a validation stage could not run: held for an operator, never treated as valid
    NOT_AN_INVOICE = "not_an_invoice"  # plain PDF, unsupported format, MINIMUM/BASIC WL: kept as document only
    REJECTED = "rejected"              # failed validation: goes back to the supplier with the findings (the
                                       # central desk may still reopen it into approval, with a reason)
    IN_APPROVAL = "in_approval"        # routed to a department: sachlich → rechnerisch → Anordnung
    RETURNED = "returned"              # refused by an approver (reason recorded), back to supplier/central desk
    RELEASED = "released"              # Anordnung given and (NRW) released by a second person: ready to post
    POSTED = "posted"                  # the finance system confirmed the booking
    PAID = "paid"                      # included in a SEPA payment run


TRANSITIONS: dict[InvoiceState | None, frozenset[InvoiceState]] = {
    None: frozenset({InvoiceState.NOT_VALIDATED, InvoiceState.NOT_AN_INVOICE, InvoiceState.REJECTED, InvoiceState.IN_APPROVAL}),
    InvoiceState.NOT_VALIDATED: frozenset({InvoiceState.NOT_AN_INVOICE, InvoiceState.REJECTED, InvoiceState.IN_APPROVAL}),
    InvoiceState.NOT_AN_INVOICE: frozenset(),
    InvoiceState.REJECTED: frozenset({InvoiceState.IN_APPROVAL}),  # only einvoice.approval.desk.reopen_rejected
    InvoiceState.IN_APPROVAL: frozenset({InvoiceState.RETURNED, InvoiceState.RELEASED}),
    InvoiceState.RETURNED: frozenset({InvoiceState.IN_APPROVAL}),
    InvoiceState.RELEASED: frozenset({InvoiceState.POSTED}),
    InvoiceState.POSTED: frozenset({InvoiceState.PAID}),
    InvoiceState.PAID: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A caller tried to move an invoice along an edge the state machine does not have."""


def check_transition(current: InvoiceState | None, target: InvoiceState) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"invoice cannot go from {current or 'new'} to {target}")
