"""Which invoices a signed-in person may *see*, read from the organisation file's grants.

Seeing is not deciding: whether a person may approve, reject, forward ... is decided by
``ApprovalService`` alone (and the page shows its refusal). This module only keeps invoices of
other departments out of sight:

* a person sees invoices of every department they hold a departmental grant in (sachlich,
  rechnerisch, anordnen, head; auditors too, read only), and during an absence those of the
  person they stand in for. A treasury or central-desk grant is not departmental: it names the
  department the Stadtkasse or the desk belongs to, not invoices it may read (see below);
* the central desk (zentrale Rechnungseingangsstelle) sees every invoice: it receives all of them
  and the service lets it forward, return or reject in any department;
* the treasury (Stadtkasse) sees invoices waiting for its Freigabe and everything released,
  posted or paid, in every department (it releases and pays for all of them);
* anyone the service names as a candidate for the open task sees that invoice.

An invoice without a department (rejected, not an invoice) belongs to the central desk. This
module must never widen access beyond the organisation file, and never write anything.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from einvoice.approval.rules import CENTRAL_ROLES  # treasury, central desk: grants not bound to one department
from einvoice.organisation import Organisation, Role

TREASURY_STATES = frozenset({"released", "posted", "paid"})


@dataclass(frozen=True)
class Viewer:
    """The signed-in person as the pages need them (all derived from the organisation file)."""

    person_id: str
    name: str
    departments: frozenset[str]  # departmental grants, own and (today) of people stood in for
    roles: frozenset[Role]
    all_departments: bool  # central desk
    treasury: bool

    @property
    def central_desk(self) -> bool:
        return Role.CENTRAL_DESK in self.roles

    @property
    def treasury_view(self) -> bool:
        """The list of released/posted/paid invoices (their own departments' only, unless treasury/central desk)."""
        return self.treasury or self.all_departments or bool(self.roles & {Role.AUDITOR, Role.HEAD, Role.ANORDNEN})


def viewer(org: Organisation, person_id: str, today: dt.date) -> Viewer | None:
    try:
        person = org.person(person_id)
    except KeyError:
        return None
    grants = list(person.grants)
    for d in org.deputies:
        if d.deputy == person_id and d.absent_from <= today <= d.absent_to:
            try:
                grants.extend(org.person(d.person).grants)
            except KeyError:
                continue
    roles = frozenset(g.role for g in grants)
    # A treasury grant in 20 (Kämmerei) is no licence to read department 20's invoices at every
    # step: the treasury's reach is the state-bound rule in may_see, in every department alike.
    departmental = frozenset(g.department for g in grants if g.role not in CENTRAL_ROLES)
    return Viewer(
        person_id=person.id, name=person.name, departments=departmental, roles=roles,
        all_departments=Role.CENTRAL_DESK in roles, treasury=Role.TREASURY in roles,
    )


def may_see(org: Organisation, v: Viewer, *, department: str | None, state: str, open_step: str | None = None,
            candidates: tuple[str, ...] = ()) -> bool:
    dept = department or org.central_desk
    if v.all_departments or dept in v.departments:
        return True
    if v.treasury and (state in TREASURY_STATES or open_step == "freigabe"):
        return True
    return v.person_id in candidates


def visible_departments(org: Organisation, v: Viewer) -> list[str] | None:
    """Department codes for list filters; None means every department."""
    if v.all_departments:
        return None
    return [d.code for d in org.departments if d.code in v.departments]
