"""Routing: which department holds the budget responsibility for an invoice.

Precedence (each decision carries the rule that made it and a reason a clerk can read):
  1. ``leitweg-id``  — BT-10 equals a Leitweg-ID (Feinadressierung) of a department
  2. ``order-reference`` — BT-13 starts with a department's order-number prefix
  3. ``supplier`` — the seller (BT-31 VAT ID or BT-29 seller ID) has a default department
  4. ``central-desk`` — nothing matched: the zentrale Rechnungseingangsstelle decides by hand
An invoice is never dropped for being unroutable. This module must never write to the database.
"""
from __future__ import annotations

from dataclasses import dataclass

from einvoice.identifiers import find_supplier
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


RULES = (route_by_leitweg_id, route_by_order_reference, route_by_supplier)


def route(inp: RoutingInput, org: Organisation) -> RoutingDecision:
    for rule in RULES:
        decision = rule(inp, org)
        if decision is not None:
            return decision
    desk = org.department(org.central_desk)
    tried = []
    tried.append(reason("tried-leitweg-unknown", value=inp.buyer_reference) if inp.buyer_reference else reason("tried-no-leitweg"))
    tried.append(reason("tried-order-unknown", value=inp.order_reference) if inp.order_reference else reason("tried-no-order"))
    tried.append(reason("tried-supplier", value=inp.seller_name or inp.seller_vat_id or "?"))
    return RoutingDecision(desk.code, "central-desk", reason("central-desk", tried="; ".join(tried), name=desk.name))


def routing_input(invoice) -> RoutingInput:
    """Build the routing input from an ``einvoice.model.Invoice``."""
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
    )
