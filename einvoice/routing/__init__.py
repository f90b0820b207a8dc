"""Routing: which department holds the budget responsibility for an invoice.

Precedence (each decision carries the rule that made it and a reason a clerk can read):
  1. ``leitweg-id``  — BT-10 equals a Leitweg-ID (Feinadressierung) of a department
  1a. ``peppol-receiver`` — BT-10 is missing or names no department, and the invoice came over
     Peppol to the participant ``0204:<Leitweg-ID>`` of a department (the network addressed it)
  2. ``order-reference`` — BT-13 starts with a department's order-number prefix
  3. ``supplier`` — the seller (BT-31 VAT ID or BT-29 seller ID) has a default department
  4. ``central-desk`` — nothing matched: the zentrale Rechnungseingangsstelle decides by hand
An invoice is never dropped for being unroutable. A Peppol receiver that differs from BT-10 is
named in the reason (in German) whichever rule decides, so the clerk sees the disagreement; BT-10
still wins when it names a department (it is the buyer's own, finer address inside the invoice).
This module must never write to the database.
"""
from __future__ import annotations

from dataclasses import dataclass

from einvoice.identifiers import find_supplier
from einvoice.intake.sbdh import leitweg_id_of
from einvoice.language import pick
from einvoice.organisation import Organisation

#: Every routing reason a clerk reads (the invoice page's "Zuordnung"), German and English, defined
#: once; written in the language set by EINVOICE_LANGUAGE when the invoice is routed.
REASONS: dict[str, tuple[str, str]] = {
    "leitweg-id": ("Leitweg-ID (BT-10) {leitweg_id} gehört zu {code} {name}",
                   "Leitweg-ID (BT-10) {leitweg_id} belongs to {code} {name}"),
    "order-reference": ("Bestellnummer (BT-13) {ref} hat das Präfix {prefix} von {code} {name}",
                        "order reference (BT-13) {ref} has prefix {prefix} of {code} {name}"),
    "supplier": ("Lieferant {supplier} ist {code} {name} zugeordnet", "supplier {supplier} is assigned to {code} {name}"),
    "central-desk": ("kein Amt gefunden ({tried}): an {name}", "no department found ({tried}): to {name}"),
    "tried-leitweg-unknown": ("Leitweg-ID „{value}“ unbekannt", "Leitweg-ID '{value}' unknown"),
    "tried-no-leitweg": ("keine Leitweg-ID", "no Leitweg-ID"),
    "tried-peppol-unknown": ("Peppol-Empfänger {value} gehört zu keiner Dienststelle",
                             "Peppol receiver {value} belongs to no department"),
    "tried-order-unknown": ("Bestellnummer „{value}“ hat kein bekanntes Präfix", "order reference '{value}' has no known prefix"),
    "tried-no-order": ("keine Bestellnummer", "no order reference"),
    "tried-supplier": ("Lieferant {value} hat kein Standard-Amt", "supplier {value} has no default department"),
}


def reason(key: str, **params) -> str:
    return pick(REASONS[key]).format(**params)


@dataclass(frozen=True)
class RoutingInput:
    """The fields routing looks at, taken from the EN 16931 model."""

    buyer_reference: str | None = None  # BT-10 (Leitweg-ID)
    order_reference: str | None = None  # BT-13
    seller_vat_id: str | None = None  # BT-31
    seller_ids: tuple[str, ...] = ()  # BT-29
    seller_name: str | None = None  # BT-27
    #: the Peppol receiver participant ID from the SBDH (channel metadata), e.g. "0204:05999000-66-70"
    peppol_receiver: str | None = None


@dataclass(frozen=True)
class RoutingDecision:
    department: str
    rule: str  # "leitweg-id" | "order-reference" | "supplier" | "central-desk"
    reason: str

    @property
    def to_central_desk(self) -> bool:
        return self.rule == "central-desk"


def _norm(value: str | None) -> str:
    return (value or "").strip().upper().replace(" ", "")


def route_by_leitweg_id(inp: RoutingInput, org: Organisation) -> RoutingDecision | None:
    lw = _norm(inp.buyer_reference)
    if not lw:
        return None
    for d in org.departments:
        if lw in (_norm(x) for x in d.leitweg_ids):
            return RoutingDecision(d.code, "leitweg-id", reason("leitweg-id", leitweg_id=inp.buyer_reference, code=d.code, name=d.name))
    return None


def _department_of_leitweg_id(leitweg_id: str | None, org: Organisation):
    lw = _norm(leitweg_id)
    if not lw:
        return None
    for d in org.departments:
        if lw in (_norm(x) for x in d.leitweg_ids):
            return d
    return None


def route_by_peppol_receiver(inp: RoutingInput, org: Organisation) -> RoutingDecision | None:
    """BT-10 did not route (checked before): the Peppol receiver ``0204:<Leitweg-ID>`` may."""
    receiver_lw = leitweg_id_of(inp.peppol_receiver)
    d = _department_of_leitweg_id(receiver_lw, org)
    if d is None:
        return None
    if inp.buyer_reference:
        why = (f"Peppol-Empfänger {inp.peppol_receiver} weicht von BT-10 {inp.buyer_reference} ab; "
               f"BT-10 gehört zu keiner Dienststelle, die Empfänger-ID zu {d.code} {d.name}")
    else:
        why = f"BT-10 (Leitweg-ID) fehlt; zugeordnet nach dem Peppol-Empfänger {inp.peppol_receiver}: {d.code} {d.name}"
    return RoutingDecision(d.code, "peppol-receiver", why)


def peppol_disagreement(inp: RoutingInput, org: Organisation) -> str | None:
    """The German note for a Peppol receiver that names another Leitweg-ID than BT-10 (None if it agrees)."""
    receiver_lw = leitweg_id_of(inp.peppol_receiver)
    if receiver_lw is None or not inp.buyer_reference or _norm(receiver_lw) == _norm(inp.buyer_reference):
        return None
    d = _department_of_leitweg_id(receiver_lw, org)
    owner = f"gehört zu {d.code} {d.name}" if d is not None else "gehört zu keiner Dienststelle"
    return f"Peppol-Empfänger {inp.peppol_receiver} weicht von BT-10 {inp.buyer_reference} ab (Empfänger {owner})"


def route_by_order_reference(inp: RoutingInput, org: Organisation) -> RoutingDecision | None:
    ref = _norm(inp.order_reference)
    if not ref:
        return None
    # Longest prefix wins so that "TBA-S-" can be more specific than "TBA-".
    best: tuple[int, str, str] | None = None
    for d in org.departments:
        for prefix in d.order_prefixes:
            p = _norm(prefix)
            if p and ref.startswith(p) and (best is None or len(p) > best[0]):
                best = (len(p), d.code, prefix)
    if best is None:
        return None
    dept = org.department(best[1])
    return RoutingDecision(dept.code, "order-reference", reason("order-reference", ref=inp.order_reference, prefix=best[2], code=dept.code, name=dept.name))


def route_by_supplier(inp: RoutingInput, org: Organisation) -> RoutingDecision | None:
    # The same normalised match as the payment run's IBAN check (einvoice.identifiers).
    s = find_supplier(org, inp.seller_vat_id, inp.seller_ids, only=lambda sup: sup.default_department)
    if s is None:
        return None
    dept = org.department(s.default_department)
    return RoutingDecision(dept.code, "supplier", reason("supplier", supplier=s.name, code=dept.code, name=dept.name))


RULES = (route_by_leitweg_id, route_by_peppol_receiver, route_by_order_reference, route_by_supplier)


def route(inp: RoutingInput, org: Organisation) -> RoutingDecision:
    for rule in RULES:
        decision = rule(inp, org)
        if decision is not None:
            return _with_peppol_note(decision, inp, org)
    return _with_peppol_note(_central_desk(inp, org), inp, org)


def _with_peppol_note(decision: RoutingDecision, inp: RoutingInput, org: Organisation) -> RoutingDecision:
    note = peppol_disagreement(inp, org)
    if note is None or decision.rule == "peppol-receiver":  # that reason says it already
        return decision
    return RoutingDecision(decision.department, decision.rule, f"{decision.reason}; {note}")


def _central_desk(inp: RoutingInput, org: Organisation) -> RoutingDecision:
    desk = org.department(org.central_desk)
    tried = []
    tried.append(reason("tried-leitweg-unknown", value=inp.buyer_reference) if inp.buyer_reference else reason("tried-no-leitweg"))
    if inp.peppol_receiver and not inp.buyer_reference:
        tried.append(reason("tried-peppol-unknown", value=inp.peppol_receiver))
    tried.append(reason("tried-order-unknown", value=inp.order_reference) if inp.order_reference else reason("tried-no-order"))
    tried.append(reason("tried-supplier", value=inp.seller_name or inp.seller_vat_id or "?"))
    return RoutingDecision(desk.code, "central-desk", reason("central-desk", tried="; ".join(tried), name=desk.name))


def routing_input(invoice, peppol_receiver: str | None = None) -> RoutingInput:
    """Build the routing input from an ``einvoice.model.Invoice`` (and the SBDH receiver, if any)."""
    seller = getattr(invoice, "seller", None)
    ids = getattr(seller, "identifiers", None) or ()
    if isinstance(ids, str):
        ids = (ids,)
    return RoutingInput(
        buyer_reference=getattr(invoice, "buyer_reference", None),
        order_reference=getattr(invoice, "order_reference", None),
        seller_vat_id=getattr(seller, "vat_id", None),
        seller_ids=tuple(str(getattr(i, "value", i)) for i in ids),
        seller_name=getattr(seller, "name", None),
        peppol_receiver=peppol_receiver,
    )
