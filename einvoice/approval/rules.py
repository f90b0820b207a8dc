"""The rules of the approval chain as pure functions over the organisation file.

Who may fill which step in which department up to which amount, when a deputy may stand in, and
separation of duties. Everything a municipality decides comes from ``Organisation``; this module
only applies it. It must never touch the database (the service hands in what it read) and never
return ``True``/``False`` where a clerk needs to know *why*: a refusal names its rule.

Rule IDs (stable; the web inbox and tests use them):
  UNKNOWN-PERSON, AUDITOR-READ-ONLY, NOT-AUTHORISED, LIMIT, DEPUTY-NOT-ABSENT,
  SOD-ANORDNUNG-RECHNERISCH, SOD-ONE-PERSON-ONE-STEP

Separation of duties is strict by default (one person, one step); the organisation file names the
steps one person may combine (``approval.separation_of_duties``, per department if needed).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from einvoice.approval import messages as M
from einvoice.approval.types import Refusal, Step
from einvoice.organisation import Organisation, Person, Role, RoleGrant

#: Which role of the organisation file fills which step. Freigabe is the second person's release
#: of the payment order (NRW § 31 KomHVO); the Stadtkasse (treasury) gives it.
STEP_ROLE: dict[Step, Role] = {
    Step.SACHLICH: Role.SACHLICH,
    Step.RECHNERISCH: Role.RECHNERISCH,
    Step.ANORDNUNG: Role.ANORDNEN,
    Step.FREIGABE: Role.TREASURY,
}

#: Roles whose grants are not tied to the invoice's department: the Stadtkasse releases the
#: payment orders of every department, the central desk handles every misrouted invoice.
CENTRAL_ROLES = frozenset({Role.TREASURY, Role.CENTRAL_DESK, Role.BOOKKEEPING})

#: The steps' German names (einvoice.approval.messages holds both languages).
STEP_LABEL = {
    Step.SACHLICH: "sachliche Richtigkeit",
    Step.RECHNERISCH: "rechnerische Richtigkeit",
    Step.ANORDNUNG: "Anordnung",
    Step.FREIGABE: "Freigabe (Zweitfreigabe der Zahlung)",
}


def steps(org: Organisation) -> list[Step]:
    """The chain this body uses: the fourth step only when the organisation file asks for it."""
    chain = [Step.SACHLICH, Step.RECHNERISCH, Step.ANORDNUNG]
    if org.approval.two_person_release:
        chain.append(Step.FREIGABE)
    return chain


def next_step(step: Step, org: Organisation) -> Step | None:
    chain = steps(org)
    i = chain.index(step)
    return chain[i + 1] if i + 1 < len(chain) else None


def previous_step(step: Step, org: Organisation) -> Step | None:
    chain = steps(org)
    i = chain.index(step)
    return chain[i - 1] if i > 0 else None


@dataclass(frozen=True)
class Capacity:
    """In which capacity a person acts: on their own grant, or as deputy of an absent person."""

    person: str
    role: Role
    grant: RoleGrant
    on_behalf_of: str | None = None

    @property
    def involved(self) -> frozenset[str]:
        """Everyone this action is attributed to (a deputy acts *as* the absent person)."""
        return frozenset(p for p in (self.person, self.on_behalf_of) if p)


@dataclass(frozen=True)
class SignOff:
    """A valid sign-off already given on this invoice (read from the closed tasks)."""

    step: Step
    person: str
    on_behalf_of: str | None = None

    @property
    def involved(self) -> frozenset[str]:
        return frozenset(p for p in (self.person, self.on_behalf_of) if p)


def find_person(org: Organisation, person_id: str) -> Person | None:
    try:
        return org.person(person_id)
    except KeyError:
        return None


def _grants(person: Person, role: Role, department: str) -> list[RoleGrant]:
    return [g for g in person.grants if g.role == role and (role in CENTRAL_ROLES or g.department == department)]


def within_limit(grant: RoleGrant, amount: Decimal | None) -> bool:
    if grant.limit_eur is None:
        return True
    return amount is not None and amount <= grant.limit_eur


def is_auditor(person: Person, department: str) -> bool:
    # The Rechnungsprüfung must stay independent of what it audits: read only, even with other grants.
    return any(g.role == Role.AUDITOR and g.department == department for g in person.grants)


def absent_on(org: Organisation, person_id: str, day: dt.date) -> bool:
    return any(d.person == person_id and d.absent_from <= day <= d.absent_to for d in org.deputies)


def capacity(org: Organisation, person_id: str, role: Role, department: str, amount: Decimal | None,
             today: dt.date, *, what: str) -> Capacity | Refusal:
    """May ``person_id`` act in ``role`` for ``department`` on ``amount`` today? In which capacity?

    Own grants come first; a deputy entry counts only while the absent person's absence lasts, and
    then with the absent person's grant and limit. ``what`` names the action for the message (a key
    of ``messages.WHAT``; a free text is used as it is).
    """
    person = find_person(org, person_id)
    if person is None:
        return M.refusal(M.UNKNOWN_PERSON, person=person_id, org=org.name)
    if is_auditor(person, department):
        return M.refusal(M.AUDITOR_READ_ONLY, name=person.name, department=department, what=M.what(what))
    own = _grants(person, role, department)
    for g in own:
        if within_limit(g, amount):
            return Capacity(person.id, role, g)
    deputy_refusal: Refusal | None = None
    nearest: int | None = None  # of several deputy periods, the refusal names the one nearest to today
    for d in org.deputies:
        if d.deputy != person.id:
            continue
        absent = find_person(org, d.person)
        theirs = [g for g in _grants(absent, role, department)] if absent else []
        if not theirs:
            continue
        if not (d.absent_from <= today <= d.absent_to):
            distance = (d.absent_from - today).days if today < d.absent_from else (today - d.absent_to).days
            if deputy_refusal is None or (deputy_refusal.rule == M.DEPUTY_NOT_ABSENT and distance < (nearest or 0)):
                nearest = distance
                deputy_refusal = M.refusal(
                    M.DEPUTY_NOT_ABSENT, name=person.name, absent=absent.name, start=M.date(d.absent_from),
                    end=M.date(d.absent_to), today=M.date(today))
            continue
        for g in theirs:
            if within_limit(g, amount):
                return Capacity(person.id, role, g, on_behalf_of=absent.id)
        deputy_refusal = M.refusal(
            M.LIMIT_DEPUTY, absent=absent.name, role=M.role_name(role), department=department,
            limit=M.money(theirs[0].limit_eur), amount=M.money(amount), name=person.name, what=M.what(what))
    if own:
        limits = ", ".join(M.money(g.limit_eur) for g in own)
        return M.refusal(M.LIMIT, name=person.name, what=M.what(what), department=department, limits=limits,
                         amount=M.money(amount))
    if deputy_refusal is not None:
        return deputy_refusal
    return M.refusal(M.NOT_AUTHORISED_CENTRAL if role in CENTRAL_ROLES else M.NOT_AUTHORISED, name=person.name,
                     role=M.role_name(role), department=department, what=M.what(what))


def separation_of_duties(step: Step, cap: Capacity, signoffs: Iterable[SignOff], org: Organisation,
                         department: str | None = None) -> Refusal | None:
    """One person fills one step of an invoice, unless the organisation file lets them combine the two
    steps in ``department`` (``approval.separation_of_duties``); the Anordnung never by who certified
    the amounts (the loader refuses any file that would allow it)."""
    for s in signoffs:
        both = cap.involved & s.involved
        if not both:
            continue
        who = find_person(org, next(iter(sorted(both))))
        name = who.name if who else next(iter(both))
        if step == Step.ANORDNUNG and s.step == Step.RECHNERISCH:
            return M.refusal(M.SOD_ANORDNUNG_RECHNERISCH, name=name)
        if org.approval.combinable(department, s.step.value, step.value):
            continue  # the Dienstanweisung allows this combined certification in this department
        return M.refusal(M.SOD_ONE_PERSON_ONE_STEP, name=name, signed=M.step_name(s.step), step=M.step_name(step))
    return None


def conflicting_signers(org: Organisation, department: str, step: Step, signoffs: Iterable[SignOff]) -> frozenset[str]:
    """The people whose sign-offs on an invoice keep them from signing ``step`` (the inverse of
    ``separation_of_duties``, for candidate lists)."""
    out: set[str] = set()
    for s in signoffs:
        if (step == Step.ANORDNUNG and s.step == Step.RECHNERISCH) or not org.approval.combinable(department, s.step.value, step.value):
            out |= s.involved
    return frozenset(out)


def step_combines(org: Organisation, department: str, step: Step) -> bool:
    """Does the organisation file let one person combine ``step`` with any other step in ``department``?"""
    return any(org.approval.combinable(department, step.value, other.value) for other in Step if other != step)


@dataclass(frozen=True)
class _RoleIndex:
    """Who holds ``role`` for one department, prepared once per organisation (lists are hot paths)."""

    limits: dict[str, tuple[Decimal | None, ...]]  # grant holder -> limits of their grants
    order: tuple[str, ...]  # holders and their deputies, in the order of the organisation file


_INDEX: dict[int, tuple[Organisation, dict[tuple[Role, str], _RoleIndex]]] = {}


def _role_index(org: Organisation, role: Role, department: str) -> _RoleIndex:
    cached = _INDEX.get(id(org))
    if cached is None or cached[0] is not org:  # id() can be reused after an org is collected
        if len(_INDEX) >= 16:  # an organisation file reloaded now and then: keep only recent ones
            _INDEX.pop(next(iter(_INDEX)))
        cached = (org, {})
        _INDEX[id(org)] = cached
    key = (role, "*" if role in CENTRAL_ROLES else department)
    idx = cached[1].get(key)
    if idx is None:
        limits = {p.id: tuple(g.limit_eur for g in _grants(p, role, department)) for p in org.people}
        limits = {k: v for k, v in limits.items() if v}
        deputies = {d.deputy for d in org.deputies if d.person in limits}
        order = tuple(p.id for p in org.people if p.id in limits or p.id in deputies)
        idx = cached[1][key] = _RoleIndex(limits, order)
    return idx


def _any_within(limits: tuple[Decimal | None, ...], amount: Decimal | None) -> bool:
    return any(lim is None or (amount is not None and amount <= lim) for lim in limits)


def people_for(org: Organisation, role: Role, department: str, amount: Decimal | None, today: dt.date,
               exclude: frozenset[str] = frozenset()) -> list[str]:
    """Who could act in ``role`` today: the same decision as ``capacity`` + separation of duties
    against the people in ``exclude``, without building refusal messages (the inbox calls this for
    every row it shows; ``test_candidates_agree_with_capacity`` pins the equivalence)."""
    idx = _role_index(org, role, department)
    out: list[str] = []
    for pid in idx.order:
        if pid in exclude or is_auditor(org.person(pid), department):
            continue
        if _any_within(idx.limits.get(pid, ()), amount):
            out.append(pid)
            continue
        for d in org.deputies:  # as in capacity(): the first deputy entry that qualifies is the one used
            if d.deputy != pid or not (d.absent_from <= today <= d.absent_to):
                continue
            if _any_within(idx.limits.get(d.person, ()), amount):
                if d.person not in exclude:
                    out.append(pid)
                break
    return out
