"""``einvoice org check``: can every department complete its approval chain with the people configured?

For each department the check looks for one assignment of people to the steps of the chain
(sachlich → rechnerisch → Anordnung [→ Freigabe]) in which every person holds the step's role
there (the Stadtkasse's treasury role for the Freigabe), is no auditor of the department, and no
person signs two steps the organisation file does not let them combine (``approval.
separation_of_duties``). Value limits apply: the check finds the largest amount up to which the
chain can be completed; a chain that cannot be completed for any amount is an error, a chain that
stops at a Wertgrenze is a warning (larger invoices need someone else, e.g. the Bürgermeister).
Deputies are not counted: an absence must not be what makes a chain possible.

It also flags role combinations the law forbids in one person (``FORBIDDEN_ROLE_PAIRS``).

Rule IDs: ORG-STEP-NOBODY, ORG-CHAIN-SOD (errors), ORG-ROLE-CONFLICT (error), ORG-CHAIN-LIMIT,
ORG-AUDITOR-ROLES (warnings).
This module only reads the organisation; it must never touch the database.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal

from einvoice.approval import rules
from einvoice.approval.types import Step
from einvoice.organisation import Organisation, Role

#: Roles one person must never hold together (whatever the Dienstanweisung says): who orders a
#: payment (Anordnung) must not execute it (Kasse, § 31 Abs. 3 KomHVO NRW, § 93 Abs. 3 GO NRW) nor
#: book it by hand in the Finanzbuchhaltung.
FORBIDDEN_ROLE_PAIRS: tuple[tuple[Role, Role, str], ...] = (
    (Role.ANORDNEN, Role.TREASURY, "die Anordnung und die Kasse (Zahlung) müssen getrennt sein (§ 31 Abs. 3 KomHVO NRW)"),
    (Role.ANORDNEN, Role.BOOKKEEPING, ("wer Zahlungen anordnet, darf sie nicht selbst in der Finanzbuchhaltung "
                                       "buchen (Trennung von Anordnung und Ausführung)")),
)


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # error | warning
    message: str
    department: str | None = None
    step: Step | None = None

    def __str__(self) -> str:
        where = f" department {self.department}" if self.department else ""
        step = f", step {self.step.value}" if self.step else ""
        return f"{self.severity} [{self.rule}]{where}{step}: {self.message}"


def _eligible(org: Organisation, department: str, step: Step) -> dict[str, tuple[Decimal | None, ...]]:
    """person id -> the limits of their grants for ``step`` in ``department`` (own grants only)."""
    role = rules.STEP_ROLE[step]
    out = {}
    for p in org.people:
        if rules.is_auditor(p, department):
            continue
        limits = tuple(g.limit_eur for g in p.grants
                       if g.role == role and (role in rules.CENTRAL_ROLES or g.department == department))
        if limits:
            out[p.id] = limits
    return out


def _top(limits: tuple[Decimal | None, ...]) -> Decimal | None:
    """The highest limit (None = unlimited)."""
    return None if any(lim is None for lim in limits) else max(limits)


def _lawful(org: Organisation, department: str, chain: list[Step], people: tuple[str, ...]) -> bool:
    for (i, a), (j, b) in itertools.combinations(enumerate(chain), 2):
        if people[i] != people[j]:
            continue
        if {a, b} == {Step.RECHNERISCH, Step.ANORDNUNG} or not org.approval.combinable(department, a.value, b.value):
            return False
    return True


def _le(a: Decimal | None, b: Decimal | None) -> bool:
    """a ≤ b where None is infinity."""
    return b is None or (a is not None and a <= b)


def best_chain(org: Organisation, department: str) -> tuple[Decimal | None, tuple[str, ...]] | Finding:
    """(largest amount the chain can be completed for — None = any amount —, one assignment reaching it),
    or the finding that says why the chain cannot be completed at all."""
    chain = rules.steps(org)
    eligible = {step: _eligible(org, department, step) for step in chain}
    for step in chain:
        if not eligible[step]:
            role = rules.STEP_ROLE[step]
            where = "in keiner Abteilung" if role in rules.CENTRAL_ROLES else f"in Abteilung {department}"
            return Finding("ORG-STEP-NOBODY", "error",
                           f"niemand hat die Rolle '{role.value}' {where} (außer Prüfern), also kann niemand die "
                           f"{rules.STEP_LABEL[step]} geben; keine Rechnung dieser Abteilung kann freigegeben werden.",
                           department, step)
    # Only the k people with the highest limits per step matter (k = steps in the chain): the other
    # steps use at most k-1 people, so one of a step's top k is always free and reaches at least as
    # far as anyone below them. This keeps the search small for a town with hundreds of people.
    k = len(chain)
    top = {step: sorted(eligible[step], key=lambda pid: (_top(eligible[step][pid]) is None,
                                                         _top(eligible[step][pid]) or 0), reverse=True)[:k]
           for step in chain}
    best: tuple[Decimal | None, tuple[str, ...]] | None = None
    for people in itertools.product(*(top[step] for step in chain)):
        if not _lawful(org, department, chain, people):
            continue
        reach: Decimal | None = None
        first = True
        for step, pid in zip(chain, people):
            top = _top(eligible[step][pid])
            reach = top if first else (reach if _le(reach, top) else top)
            first = False
        if best is None or _le(best[0], reach) and best[0] != reach:
            best = (reach, people)
        if reach is None:
            break
    if best is None:
        # Every step has someone, but not without one person signing two steps that may not be combined.
        stuck = _stuck_step(org, department, chain, top)
        return Finding("ORG-CHAIN-SOD", "error",
                       f"jeder Schritt hat jemanden, aber nur, wenn eine Person zwei Schritte derselben Rechnung zeichnet, "
                       f"die nach der Funktionstrennung getrennt sein müssen (approval.separation_of_duties); für die "
                       f"{rules.STEP_LABEL[stuck]} fehlt eine weitere Person "
                       f"(heute: {', '.join(sorted(eligible[stuck]))}).", department, stuck)
    return best


def _stuck_step(org, department, chain, candidates) -> Step:
    """The first step that cannot be filled once the steps before it are filled lawfully."""
    for k in range(2, len(chain) + 1):
        sub = chain[:k]
        if not any(_lawful(org, department, sub, people)
                   for people in itertools.product(*(candidates[s] for s in sub))):
            return chain[k - 1]
    return chain[-1]


def _eur(amount: Decimal) -> str:
    return f"{amount:,.2f}".replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")


def check_organisation(org: Organisation) -> list[Finding]:
    """Every finding for ``org``: chains that cannot be completed, Wertgrenzen that stop a chain,
    forbidden role combinations. No error findings = every department can release invoices."""
    findings: list[Finding] = []
    for d in org.departments:
        got = best_chain(org, d.code)
        if isinstance(got, Finding):
            findings.append(got)
        elif got[0] is not None:
            findings.append(Finding(
                "ORG-CHAIN-LIMIT", "warning",
                f"Rechnungen über {_eur(got[0])} EUR können nicht freigegeben werden: die Wertgrenzen der "
                f"Berechtigten reichen nicht weiter (z. B. {', '.join(got[1])}).", d.code))
    for p in org.people:
        held = {g.role for g in p.grants}
        for a, b, why in FORBIDDEN_ROLE_PAIRS:
            if a in held and b in held:
                findings.append(Finding("ORG-ROLE-CONFLICT", "error",
                                        f"{p.name} ({p.id}) hat die Rollen '{a.value}' und '{b.value}': {why}."))
        audited = {g.department for g in p.grants if g.role == Role.AUDITOR}
        idle = sorted({f"{g.role.value} in {g.department}" for g in p.grants
                       if g.role != Role.AUDITOR and g.department in audited})
        if idle:  # the Rechnungsprüfung stays independent: these grants never count (rules.is_auditor)
            findings.append(Finding("ORG-AUDITOR-ROLES", "warning",
                                    f"{p.name} ({p.id}) prüft diese Abteilungen und darf dort nur lesen; die Rollen "
                                    f"{', '.join(idle)} gelten deshalb nicht."))
    return findings
