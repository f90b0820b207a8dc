"""The posting record: everything the finance system needs to book one released invoice.

Built once, inside the transaction that releases the invoice, from the invoice row, the EN 16931
model of the original (VAT breakdown, payee, Skonto terms, line accounting references BT-133),
the approval tasks (who certified what, when, with which amount; who gave the Anordnung) and the
organisation file (department defaults for Sachkonto/Kostenstelle/Produkt). The record is plain
JSON (amounts as decimal strings, never floats) described by ``schemas/posting.schema.json``.

Account assignment, first source that applies:
  1. the approver's assignment (``set_account_assignment``; an audit event ``account_assignment``),
  2. accounting references on the invoice lines (BT-133), or on the document (BT-19) — tokens are
     recognised as the department's Kostenstellen and Produkte, other digit strings as Sachkonto,
  3. the department defaults (its ``default_account`` or ``finance.default_account``, its first
     cost centre and product).
Split lines share the amount due in proportion to their gross line amounts (net × (1 + VAT rate)),
so a line at 7 % carries less VAT than one at 19 %; the cents that rounding
leaves over go to the largest share, so the lines always add up to the amount due exactly.

This module must never write to the database except through ``set_account_assignment`` (which
writes one audit event), never talk to the finance system, and never invent an account that the
organisation file does not name.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from einvoice.approval import messages as approval_messages
from einvoice.db.models import InvoiceEvent, InvoiceRow
from einvoice.finance import errors
from einvoice.finance import messages as M
from einvoice.finance.errors import FinanceProblem
from einvoice.finance.sepa_charset import sepa_text
from einvoice.identifiers import find_supplier, iban_key
from einvoice.model import skonto as _skonto
from einvoice.organisation import Department, Organisation, Role

SCHEMA_ID = "einvoice-posting/1"
CENT = Decimal("0.01")
CREDIT_NOTE_CODES = {"381", "396", "81", "83", "261", "262", "296", "308", "532"}


def money(v: Decimal | None) -> str | None:
    return None if v is None else str(Decimal(v).quantize(CENT, rounding=ROUND_HALF_UP))


def idempotency_key(row: InvoiceRow) -> str:
    """Stable per invoice file: a re-built record (after a restore) keeps the key the finance system knows."""
    return "einv-" + row.file_sha256[:48]


def canonical_json(record: dict) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def record_sha256(record: dict) -> str:
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()




# --------------------------------------------------------------------------------------------
# account assignment
# --------------------------------------------------------------------------------------------
def _default_account(dept: Department | None, org: Organisation) -> dict:
    return {
        "sachkonto": (dept.default_account if dept else None) or org.finance.default_account,
        "kostenstelle": dept.cost_centres[0] if dept and dept.cost_centres else None,
        "produkt": dept.products[0] if dept and dept.products else None,
    }


def parse_reference(text: str | None, dept: Department | None) -> dict | None:
    """Read Kostenstelle / Produkt / Sachkonto out of a buyer accounting reference (BT-19 / BT-133)."""
    if not text or not text.strip():
        return None
    found: dict[str, str] = {}
    for token in re.split(r"[\s/;,|]+", text.strip()):
        if not token:
            continue
        if dept and token in dept.cost_centres:
            found.setdefault("kostenstelle", token)
        elif dept and token in dept.products:
            found.setdefault("produkt", token)
        elif re.fullmatch(r"\d{4,10}", token):
            found.setdefault("sachkonto", token)
    return found or None


def allocate(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split ``total`` in proportion to ``weights``; the rounding rest goes to the largest share."""
    s = sum(weights)
    if not weights or s == 0:
        raise ValueError("nothing to allocate against")
    shares = [(total * w / s).quantize(CENT, rounding=ROUND_HALF_UP) for w in weights]
    rest = total - sum(shares)
    if rest:
        i = max(range(len(shares)), key=lambda k: abs(shares[k]))
        shares[i] += rest
    return shares


def _approver_assignment(session: Session, invoice_id: int) -> tuple[list[dict], dict] | None:
    ev = session.scalars(
        sa.select(InvoiceEvent).where(InvoiceEvent.invoice_id == invoice_id, InvoiceEvent.action == "account_assignment")
        .order_by(InvoiceEvent.id.desc()).limit(1)
    ).first()
    if ev is None or not ev.details_json:
        return None
    details = json.loads(ev.details_json)
    return details["lines"], {"by": ev.actor, "at": ev.at.isoformat() if ev.at else None}


def account_assignment(session: Session, row: InvoiceRow, org: Organisation, model=None, root=None) -> list[dict]:
    # ``root`` is no longer read: the model carries BT-133 on its lines (callers still pass it).
    dept = _dept(org, row.department)
    default = _default_account(dept, org)
    total = Decimal(row.amount_due)
    given = _approver_assignment(session, row.id)
    if given is not None:
        lines, who = given
        out = []
        for ln in lines:
            acc = {k: ln.get(k) or default[k] for k in ("sachkonto", "kostenstelle", "produkt")}
            out.append({**acc, "amount": money(Decimal(ln["amount"])), "source": "approver",
                        "assigned_by": who["by"], "invoice_lines": [], "reference": ln.get("text")})
        return out
    if model is not None and model.lines:
        refs = {ln.id: ln.buyer_accounting_reference for ln in model.lines if ln.id and ln.buyer_accounting_reference}
        doc_ref = parse_reference(getattr(model, "buyer_accounting_reference", None), dept)
        if refs and all(ln.net_amount is not None for ln in model.lines):
            groups: dict[tuple, dict] = {}
            for ln in model.lines:
                parsed = parse_reference(refs.get(ln.id or ""), dept) or doc_ref or {}
                acc = {k: parsed.get(k) or default[k] for k in ("sachkonto", "kostenstelle", "produkt")}
                key = (acc["sachkonto"], acc["kostenstelle"], acc["produkt"])
                g = groups.setdefault(key, {**acc, "net": Decimal(0), "invoice_lines": [], "refs": []})
                # Weighted by the line's gross (net plus its VAT rate): the body bears the VAT it cannot deduct.
                g["net"] += ln.net_amount * (1 + (ln.vat_rate or 0) / 100)
                g["invoice_lines"].append(ln.id)
                if refs.get(ln.id or ""):
                    g["refs"].append(refs[ln.id or ""])
            if len(groups) > 1 and sum(g["net"] for g in groups.values()) != 0:
                shares = allocate(total, [g["net"] for g in groups.values()])
                return [{"sachkonto": g["sachkonto"], "kostenstelle": g["kostenstelle"], "produkt": g["produkt"],
                         "amount": money(sh), "source": "invoice-lines", "assigned_by": None,
                         "invoice_lines": [x for x in g["invoice_lines"] if x], "reference": "; ".join(sorted(set(g["refs"]))) or None}
                        for g, sh in zip(groups.values(), shares)]
            if len(groups) == 1:
                g = next(iter(groups.values()))
                return [{"sachkonto": g["sachkonto"], "kostenstelle": g["kostenstelle"], "produkt": g["produkt"],
                         "amount": money(total), "source": "invoice-lines", "assigned_by": None,
                         "invoice_lines": [x for x in g["invoice_lines"] if x], "reference": "; ".join(sorted(set(g["refs"]))) or None}]
        if doc_ref:
            acc = {k: doc_ref.get(k) or default[k] for k in ("sachkonto", "kostenstelle", "produkt")}
            return [{**acc, "amount": money(total), "source": "invoice-document", "assigned_by": None,
                     "invoice_lines": [], "reference": model.buyer_accounting_reference}]
    return [{**default, "amount": money(total), "source": "department-default", "assigned_by": None,
             "invoice_lines": [], "reference": None}]


def _dept(org: Organisation, code: str | None) -> Department | None:
    if code is None:
        return None
    try:
        return org.department(code)
    except KeyError:
        return None


def set_account_assignment(db, org: Organisation, invoice_id: int, person_id: str, lines: list[dict], *,
                           comment: str | None = None) -> FinanceProblem | None:
    """An approver splits the amount across Sachkonto/Kostenstelle/Produkt before the release.

    ``lines``: dicts with ``amount`` and any of ``sachkonto``, ``kostenstelle``, ``produkt``, ``text``.
    Stored as an audit event (who, when, what); the latest one wins when the record is built.
    Returns a problem (nothing stored) or None.
    """
    with db.transaction() as s:
        inv = s.get(InvoiceRow, invoice_id, with_for_update=True)
        if inv is None:
            return M.problem(M.NOT_FOUND_INVOICE, invoice_id=invoice_id)
        if inv.state != "in_approval":
            return M.problem(errors.ASSIGN_STATE, invoice_id=invoice_id,
                             state=(approval_messages.state_name(inv.state, "de"), approval_messages.state_name(inv.state, "en")))
        dept = _dept(org, inv.department)
        if dept is None:
            return M.problem(errors.ASSIGN_DEPARTMENT, invoice_id=invoice_id)
        try:
            person = org.person(person_id)
        except KeyError:
            return M.problem(errors.ASSIGN_PERSON, person=person_id, org=org.name)
        allowed_roles = {Role.SACHLICH, Role.RECHNERISCH, Role.ANORDNEN, Role.HEAD}
        if not any(g.department == dept.code and g.role in allowed_roles for g in person.grants):
            return M.problem(errors.ASSIGN_ROLE, name=person.name, department=dept.code)
        if not lines:
            return M.problem(errors.ASSIGN_EMPTY)
        clean = []
        for i, ln in enumerate(lines, 1):
            try:
                amount = Decimal(str(ln["amount"])).quantize(CENT, rounding=ROUND_HALF_UP)
            except Exception:
                return M.problem(errors.ASSIGN_AMOUNT, line=i, amount=ln.get("amount"))
            kst, prod = ln.get("kostenstelle"), ln.get("produkt")
            if kst and kst not in dept.cost_centres:
                return M.problem(errors.ASSIGN_KOSTENSTELLE, line=i, kostenstelle=kst, department=dept.code,
                                 known=", ".join(dept.cost_centres) or M.both("none-configured"))
            if prod and prod not in dept.products:
                return M.problem(errors.ASSIGN_PRODUKT, line=i, produkt=prod, department=dept.code,
                                 known=", ".join(dept.products) or M.both("none-configured"))
            sk = ln.get("sachkonto")
            if sk and not re.fullmatch(r"\d{4,10}", str(sk)):
                return M.problem(errors.ASSIGN_SACHKONTO, line=i, sachkonto=sk)
            clean.append({"sachkonto": sk, "kostenstelle": kst, "produkt": prod, "amount": money(amount), "text": ln.get("text")})
        total = sum(Decimal(c["amount"]) for c in clean)
        if inv.amount_due is None or total != inv.amount_due:
            return M.problem(errors.ASSIGN_SUM, total=total, amount=inv.amount_due, currency=inv.currency or "EUR")
        # After the Anordnung the Kontierung is frozen: a change needs a reason and a new Anordnung.
        from einvoice.approval.service import account_assignment_changed

        refusal = account_assignment_changed(s, inv, org, person_id, comment)
        if refusal is not None:
            return FinanceProblem(refusal.rule, refusal.message)
        s.add(InvoiceEvent(invoice_id=inv.id, actor=person_id, action="account_assignment", from_state=inv.state,
                           to_state=inv.state, amount=total, comment=comment,
                           details_json=json.dumps({"lines": clean}, ensure_ascii=False)))
    return None


# --------------------------------------------------------------------------------------------
# certifications
# --------------------------------------------------------------------------------------------
def certifications(session: Session, row: InvoiceRow, org: Organisation) -> list[dict]:
    from einvoice.approval.tables import ApprovalTask

    tasks = session.scalars(
        sa.select(ApprovalTask).where(ApprovalTask.invoice_id == row.id, ApprovalTask.signoff_valid.is_(True),
                                      ApprovalTask.outcome == "approved").order_by(ApprovalTask.decided_at, ApprovalTask.id)
    ).all()
    out = []
    for t in tasks:
        out.append({
            "step": t.step, "person": t.decided_by, "person_name": _person_name(org, t.decided_by),
            "on_behalf_of": t.on_behalf_of, "role": t.acted_role, "department": t.department,
            "at": t.decided_at.isoformat() if t.decided_at else None,
            "amount": money(t.amount) if t.step == "rechnerisch" else None, "comment": t.comment,
        })
    return out


def _person_name(org: Organisation, pid: str | None) -> str | None:
    if pid is None:
        return None
    try:
        return org.person(pid).name
    except KeyError:
        return None


# --------------------------------------------------------------------------------------------
# the record
# --------------------------------------------------------------------------------------------
def _supplier(org: Organisation, row: InvoiceRow):
    return find_supplier(org, row.seller_vat_id, row.seller_id)


def build_record(session: Session, row: InvoiceRow, org: Organisation, *, model=None, root=None,
                 now: Callable[[], dt.datetime] | None = None) -> dict:
    """The posting record of ``row`` as a JSON-ready dict (see schemas/posting.schema.json)."""
    now_dt = (now or (lambda: dt.datetime.now(dt.timezone.utc)))()
    dept = _dept(org, row.department)
    pm = None
    if model is not None:
        pm = next((p for p in model.payment_means if p.iban), None)
    payee_party = model.payee if model is not None and model.payee is not None and model.payee.name else None
    supplier = _supplier(org, row)
    iban = (pm.iban if pm else None) or row.iban
    iban = iban_key(iban) or None
    # Every usable term (einvoice.model.skonto drops out-of-range ones); which one is taken is decided by
    # the payment run with the same rule (einvoice.model.skonto.applicable), never here.
    if model is not None and model.skonto and row.issue_date:
        terms, _findings = _skonto.dated_terms(model.skonto, row.issue_date)
    else:
        terms = _skonto.terms_of_row(row)
    skonto = [{"days": t.days_from(row.issue_date),
               "percent": str(t.percent), "until": t.until.isoformat(), "base_amount": money(t.base_amount),
               "amount_if_taken": money(t.payment(row.amount_due))} for t in terms]
    remittance = next((p.remittance_info for p in (model.payment_means if model is not None else ()) if p.remittance_info), None)
    if org.finance.budget_year_from == "issue_date" and row.issue_date:
        budget_year = row.issue_date.year
    elif org.finance.budget_year_from == "due_date" and row.due_date:
        budget_year = row.due_date.year
    else:
        budget_year = now_dt.astimezone().year
    certs = certifications(session, row, org)
    order = next((c for c in certs if c["step"] == "anordnung"), None)
    totals = model.totals if model is not None else None
    record: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "idempotency_key": idempotency_key(row),
        "created_at": now_dt.isoformat(),
        "source": "invoice" if model is not None else "invoice-row",
        "organisation": org.name,
        "invoice": {
            "id": row.id, "number": row.invoice_number, "issue_date": row.issue_date.isoformat() if row.issue_date else None,
            "type_code": row.type_code, "kind": "credit_note" if row.type_code in CREDIT_NOTE_CODES else "invoice",
            "leitweg_id": row.leitweg_id, "order_reference": row.order_reference, "file_sha256": row.file_sha256,
            "syntax": row.syntax,
        },
        "payee": {
            "name": (payee_party.name if payee_party else None) or row.seller_name,
            "seller_name": row.seller_name, "vat_id": row.seller_vat_id, "seller_id": row.seller_id,
            "iban": iban, "bic": (pm.bic if pm and pm.bic else None),
            "remittance_information": sepa_text(remittance, 140) if remittance else None,  # BT-83
            "supplier_master": ({"name": supplier.name, "seller_id": supplier.seller_id,
                                 "iban_matches": iban_key(supplier.iban) == (iban or "") if supplier.iban else None}
                                if supplier else None),
        },
        "amount": {
            "due": money(row.amount_due), "currency": row.currency or "EUR",
            "net": money(totals.tax_exclusive) if totals else None,
            "tax": money(totals.tax) if totals else None,
            "gross": money(totals.tax_inclusive if totals else row.tax_inclusive_amount),
            "prepaid": money(totals.prepaid) if totals else None,
        },
        "vat_breakdown": [
            {"category": v.category, "rate": None if v.rate is None else str(v.rate),
             "taxable_amount": money(v.taxable_amount), "tax_amount": money(v.tax_amount),
             "exemption_reason": v.exemption_reason}
            for v in (model.vat_breakdown if model is not None else ())
        ],
        "payment_terms": {
            "due_date": row.due_date.isoformat() if row.due_date else None,
            "text": model.payment_terms if model is not None else None,
            "skonto": skonto,
        },
        "budget_year": budget_year,
        "department": {"code": row.department, "name": dept.name if dept else None},
        "account_assignment": account_assignment(session, row, org, model, root),
        "certifications": certs,
        "ordering_person": ({"person": order["person"], "person_name": order["person_name"],
                             "on_behalf_of": order["on_behalf_of"], "at": order["at"]} if order else None),
        "archive": {"entry_id": row.archive_entry_id, "sequence": row.archive_sequence,
                    "original_key": row.archive_original_key},
    }
    return record


def completeness(record: dict) -> list[FinanceProblem]:
    """What the finance system cannot do without; the release is refused while any is missing."""
    problems = []
    if not record["amount"]["due"]:
        problems.append(M.problem(M.RECORD_INCOMPLETE_AMOUNT))
    if not record["payee"]["name"]:
        problems.append(M.problem(M.RECORD_INCOMPLETE_PAYEE))
    for i, a in enumerate(record["account_assignment"], 1):
        if not a["sachkonto"]:
            problems.append(M.problem(M.RECORD_INCOMPLETE_SACHKONTO, line=i, department=record["department"]["code"]))
    if record["ordering_person"] is None:
        problems.append(M.problem(M.RECORD_INCOMPLETE_ANORDNUNG))
    return problems
