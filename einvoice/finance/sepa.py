"""SEPA payment runs: one pain.001.001.09 credit-transfer file for the posted invoices that are due.

Which invoices: state POSTED (the finance system confirmed the booking — the Stadtkasse pays
booked Anordnungen only, and the state machine allows PAID only after POSTED), not yet in any
payment run, whose payment deadline is on or before ``due_by``. Skonto follows the one rule of
``einvoice.model.skonto``: the term that applies on the payment day — the later of today (the day the
run is made, German calendar) and the execution date, so a past execution date never revives a
Skonto that ended before today — is the open term with the largest deduction; the deadline is its
date, else the due date (BT-9); an invoice without a due date is payable at once. The amount is
the amount due (BT-115), or with Skonto amount − percent/100 × (BASISBETRAG, else the amount due),
half-up to cents. The Verwendungszweck starts with the supplier's remittance information (BT-83)
when the invoice gives one, then the invoice number and date (SEPA character set, 140 characters).

Credit notes (type 381 and the other credit-note codes) are never paid out. Each one is netted in
the run against an invoice of the same creditor (normalised VAT ID / seller ID) that is paid in
this run and exceeds the credit: that transfer is reduced by the credit, the credit note is
settled (POSTED → PAID, a payment item with the negative amount, the invoice's Verwendungszweck
names it). Otherwise it waits (SEPA-CREDIT-NOTE-WAITING: the creditor has open invoices not paid
in this run) or is held for a person (SEPA-CREDIT-NOTE-NOTHING-OPEN: nothing open to net against;
ask for a refund).

The creditor account is the invoice's IBAN (BT-84), else the supplier master data's.
Held back, with a reason (``PaymentRunResult.skipped``): amounts ≤ 0, currencies other
than EUR, invalid IBAN/BIC (python-stdnum), and — when ``finance.check_supplier_iban`` is on — an
IBAN that differs from the supplier master data (changed bank details are the classic invoice
fraud; a person must confirm them first). The supplier is found and the IBANs are compared in
the normalised form of ``einvoice.identifiers`` ("DE 812 345 673" is DE812345673).

Exactly once: the run and its items (``payment_items.invoice_id`` is unique, so an invoice is in
one run only) are one transaction. The XML is validated against the pain.001.001.09 XSD shipped in
``sepaxml`` (pinned by SHA-256 in schemas/registry.json) and its NbOfTxs/CtrlSum are recomputed
from the file before that transaction commits.

Two persons release it (``einvoice.finance.payment_release``, § 31 Abs. 3 KomHVO NRW): the run is
prepared (``created``), released by a first and by a second person of the Kasse, neither of whom
gave the Anordnung of an invoice in it; the second release moves every invoice POSTED → PAID with
its audit event in one transaction, and only then is the file written (atomically) for the bank.
The XML is also kept in the database, so a file lost in a crash or a full disk is written by the
next run (or ``export_run``), never regenerated with new ids; ``export_run`` refuses a run that
is not released by two persons.

This module must never include an invoice twice, never pay an invoice that is not POSTED, and
never write a file that failed validation.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from lxml import etree
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from einvoice.db import Database
from einvoice.db.models import InvoiceRow, utcnow
from einvoice.finance import errors
from einvoice.finance import messages as M
from einvoice.finance.connectors import write_atomic
from einvoice.finance.errors import FinanceError, FinanceProblem
from einvoice.finance.record import CENT, CREDIT_NOTE_CODES
from einvoice.finance.sepa_charset import sepa_text
from einvoice.finance.tables import FinancePosting, PaymentItem
from einvoice.finance.tables import PaymentRun as PaymentRunRow
from einvoice.identifiers import find_supplier, iban_key, same_seller
from einvoice.model import skonto
from einvoice.organisation import Organisation
from einvoice.states import InvoiceState

PAIN_NS = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
LOCAL_TIME = ZoneInfo("Europe/Berlin")  # Skonto dates are German calendar days


@dataclass
class PaymentRunResult:
    path: Path | None
    message_id: str | None
    count: int
    control_sum: Decimal
    invoices: list[int]
    skonto_taken: Decimal
    run_id: int | None = None
    execution_date: dt.date | None = None
    skipped: list[tuple[int, FinanceProblem]] = field(default_factory=list)
    recovered: list[Path] = field(default_factory=list)  # files of earlier runs written now (see payment_run)
    status: str | None = None  # created (waits for two releases) | first_release | released

    def as_dict(self) -> dict:
        return {"run_id": self.run_id, "path": str(self.path) if self.path else None, "message_id": self.message_id,
                "count": self.count, "control_sum": str(self.control_sum), "skonto_taken": str(self.skonto_taken),
                "execution_date": self.execution_date.isoformat() if self.execution_date else None,
                "invoices": self.invoices, "skipped": [{"invoice_id": i, **p.as_dict()} for i, p in self.skipped],
                "recovered": [str(p) for p in self.recovered], "status": self.status}


@dataclass(frozen=True)
class _Tx:
    invoice_id: int
    end_to_end_id: str
    amount_due: Decimal
    amount: Decimal
    skonto: Decimal
    name: str
    iban: str
    bic: str | None
    remittance: str
    credit: Decimal = Decimal("0.00")  # credit notes netted into this transfer
    credit_notes: tuple[int, ...] = ()


# --------------------------------------------------------------------------------------------
# text and identifiers
# --------------------------------------------------------------------------------------------
def check_iban(value: str | None) -> tuple[str | None, FinanceProblem | None]:
    from stdnum import iban
    from stdnum.exceptions import ValidationError

    if not value:
        return None, M.problem(M.SEPA_IBAN_MISSING)
    try:
        return iban.validate(value), None
    except ValidationError as exc:
        return None, M.problem(errors.SEPA_IBAN, iban=value, error=exc)


def check_bic(value: str | None) -> tuple[str | None, FinanceProblem | None]:
    if not value:
        return None, None
    from stdnum import bic
    from stdnum.exceptions import ValidationError

    try:
        return bic.validate(value), None
    except ValidationError as exc:
        return None, M.problem(errors.SEPA_BIC, bic=value, error=exc)


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    import schemas

    path = schemas.resolve("sepa", "pain.001.001.09").path
    return etree.XMLSchema(etree.parse(str(path)))


def validate_pain001(xml: bytes) -> list[str]:
    """XSD errors of a pain.001.001.09 document (empty list: valid)."""
    schema = _schema()
    doc = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def totals_of(xml: bytes) -> dict:
    """NbOfTxs/CtrlSum as stated in the file and as recomputed from its transactions."""
    ns = {"p": PAIN_NS}
    doc = etree.fromstring(xml)
    amounts = [Decimal(a) for a in doc.xpath("//p:CdtTrfTxInf/p:Amt/p:InstdAmt/text()", namespaces=ns)]
    return {
        "grp_count": int(doc.xpath("string(//p:GrpHdr/p:NbOfTxs)", namespaces=ns)),
        "grp_sum": Decimal(doc.xpath("string(//p:GrpHdr/p:CtrlSum)", namespaces=ns)),
        "pmt_count": sum(int(x) for x in doc.xpath("//p:PmtInf/p:NbOfTxs/text()", namespaces=ns)),
        "pmt_sum": sum((Decimal(x) for x in doc.xpath("//p:PmtInf/p:CtrlSum/text()", namespaces=ns)), Decimal(0)),
        "tx_count": len(amounts),
        "tx_sum": sum(amounts, Decimal(0)),
    }


# --------------------------------------------------------------------------------------------
# building the file
# --------------------------------------------------------------------------------------------
def build_pain001(*, message_id: str, created: dt.datetime, execution_date: dt.date, payer, txs: list[_Tx]) -> bytes:
    total = sum((t.amount for t in txs), Decimal(0)).quantize(CENT)
    doc = _el("Document")
    root = etree.SubElement(doc, _q("CstmrCdtTrfInitn"))
    grp = etree.SubElement(root, _q("GrpHdr"))
    _sub(grp, "MsgId", message_id)
    _sub(grp, "CreDtTm", created.astimezone(dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"))
    _sub(grp, "NbOfTxs", str(len(txs)))
    _sub(grp, "CtrlSum", f"{total:.2f}")
    _sub(_sub(grp, "InitgPty"), "Nm", sepa_text(payer.initiating_party or payer.name, 70))
    pmt = _sub(root, "PmtInf")
    _sub(pmt, "PmtInfId", message_id)
    _sub(pmt, "PmtMtd", "TRF")
    _sub(pmt, "BtchBookg", "true")
    _sub(pmt, "NbOfTxs", str(len(txs)))
    _sub(pmt, "CtrlSum", f"{total:.2f}")
    _sub(_sub(_sub(pmt, "PmtTpInf"), "SvcLvl"), "Cd", "SEPA")
    _sub(_sub(pmt, "ReqdExctnDt"), "Dt", execution_date.isoformat())
    _sub(_sub(pmt, "Dbtr"), "Nm", sepa_text(payer.name, 70))
    _sub(_sub(_sub(pmt, "DbtrAcct"), "Id"), "IBAN", payer.iban)
    fin = _sub(_sub(pmt, "DbtrAgt"), "FinInstnId")
    if payer.bic:
        _sub(fin, "BICFI", payer.bic)
    else:
        _sub(_sub(fin, "Othr"), "Id", "NOTPROVIDED")
    _sub(pmt, "ChrgBr", "SLEV")
    for t in txs:
        tx = _sub(pmt, "CdtTrfTxInf")
        _sub(_sub(tx, "PmtId"), "EndToEndId", t.end_to_end_id)
        _sub(_sub(tx, "Amt"), "InstdAmt", f"{t.amount:.2f}", Ccy="EUR")
        if t.bic:
            _sub(_sub(_sub(tx, "CdtrAgt"), "FinInstnId"), "BICFI", t.bic)
        _sub(_sub(tx, "Cdtr"), "Nm", t.name)
        _sub(_sub(_sub(tx, "CdtrAcct"), "Id"), "IBAN", t.iban)
        _sub(_sub(tx, "RmtInf"), "Ustrd", t.remittance)
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _q(tag: str) -> str:
    return f"{{{PAIN_NS}}}{tag}"


def _el(tag, text=None, **attrs):
    el = etree.Element(_q(tag), nsmap={None: PAIN_NS})
    if text is not None:
        el.text = text
    for k, v in attrs.items():
        el.set(k, v)
    return el


def _sub(parent, tag: str, text: str | None = None, **attrs):
    el = etree.SubElement(parent, _q(tag))
    if text is not None:
        el.text = text
    for k, v in attrs.items():
        el.set(k, v)
    return el


# --------------------------------------------------------------------------------------------
# selecting and paying
# --------------------------------------------------------------------------------------------
def _deadline(inv: InvoiceRow, record: dict | None, pay_day: dt.date) -> dt.date | None:
    term = skonto.payment_term(record, inv, pay_day)
    return term.until if term is not None else inv.due_date


def run_day(created: dt.datetime) -> dt.date:
    """The day the run is made, in Germany (Skonto dates are German calendar days)."""
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.timezone.utc)
    return created.astimezone(LOCAL_TIME).date()


def _supplier_iban(org: Organisation, inv: InvoiceRow) -> str | None:
    """The supplier master data's IBAN (normalised), matched by normalised VAT ID / seller ID."""
    sup = find_supplier(org, inv.seller_vat_id, inv.seller_id)
    return (iban_key(sup.iban) or None) if sup is not None else None


def payment_run(db: Database, org: Organisation, *, due_by: dt.date, output_dir: Path,
                execution_date: dt.date | None = None, actor: str | None = None,
                now: Callable[[], dt.datetime] = utcnow) -> PaymentRunResult:
    """Build, validate and record one pain.001.001.09 file, waiting for its two releases; see the module docstring.

    ``actor``: the person of the Kasse who prepares it (checked: known, role treasury); None when the
    scheduler prepares it (a prepared run pays nothing: two persons release it).
    Raises ``FinanceError`` (nothing recorded, nothing written) when the actor may not, no payer account
    is configured, the generated file fails the XSD or its totals, or another run took an invoice meanwhile.
    """
    if actor is not None:
        from einvoice.finance import authority
        from einvoice.organisation import Role

        who = authority.acting_as(org, actor, Role.TREASURY, what="prepare a payment run")
        if isinstance(who, FinanceProblem):
            raise FinanceError(who)
    payer = org.finance.payer
    if payer is None:
        raise FinanceError(M.problem(errors.SEPA_PAYER_MISSING))
    # A run recorded earlier whose file could not be written (full disk, crash right after the commit)
    # is written first: its invoices are already PAID and would otherwise never reach the bank.
    recovered = [export_run(db, rid, output_dir) for rid in unwritten_runs(db)]
    created = now()
    today = run_day(created)
    execution_date = execution_date or today
    # Skonto is taken only if still open on the day the money can leave: never before today.
    pay_day = skonto.payment_day(today, execution_date)
    prefix = org.finance.payment_message_prefix
    message_id = f"{prefix}-{created:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"[:35]
    skipped: list[tuple[int, FinanceProblem]] = []
    txs: list[_Tx] = []
    try:
        with db.transaction() as s:
            paid = sa.select(PaymentItem.invoice_id)
            q = (sa.select(InvoiceRow).where(InvoiceRow.state == InvoiceState.POSTED.value, InvoiceRow.id.not_in(paid))
                 .order_by(InvoiceRow.id))
            if db.engine.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            candidates = s.scalars(q).all()
            postings = {p.invoice_id: p for p in s.scalars(
                sa.select(FinancePosting).where(FinancePosting.invoice_id.in_([c.id for c in candidates])))} if candidates else {}
            credit_notes: list[InvoiceRow] = []
            for inv in candidates:
                if inv.type_code in CREDIT_NOTE_CODES:
                    credit_notes.append(inv)  # settled against the creditor's invoices below, never paid out
                    continue
                p = postings.get(inv.id)
                record = json.loads(p.record_json) if p else None
                deadline = _deadline(inv, record, pay_day)
                if deadline is not None and deadline > due_by:
                    continue
                tx, problem = _transaction(org, inv, record, pay_day, prefix)
                if problem is not None:
                    skipped.append((inv.id, problem))
                    continue
                txs.append(tx)
            by_id = {inv.id: inv for inv in candidates}
            txs, settled, held = _net_credit_notes(credit_notes, txs, by_id, candidates)
            skipped.extend(held)
            if not txs:
                return PaymentRunResult(None, None, 0, Decimal("0.00"), [], Decimal("0.00"), None, execution_date, skipped,
                                  recovered)
            xml = build_pain001(message_id=message_id, created=created, execution_date=execution_date, payer=payer, txs=txs)
            xsd_errors = validate_pain001(xml)
            if xsd_errors:
                raise FinanceError(M.problem(errors.SEPA_XSD, errors="; ".join(xsd_errors[:5])))
            control_sum = sum((t.amount for t in txs), Decimal(0)).quantize(CENT)
            tot = totals_of(xml)
            if not (tot["grp_count"] == tot["pmt_count"] == tot["tx_count"] == len(txs)
                    and tot["grp_sum"] == tot["pmt_sum"] == tot["tx_sum"] == control_sum):
                raise FinanceError(M.problem(errors.SEPA_TOTALS, totals=tot, count=len(txs),
                                                   control_sum=control_sum))
            skonto_taken = sum((t.skonto for t in txs), Decimal(0)).quantize(CENT)
            run = PaymentRunRow(message_id=message_id, created_at=created, created_by=actor or "scheduler", due_by=due_by,
                                execution_date=execution_date, count=len(txs), control_sum=control_sum,
                                skonto_taken=skonto_taken, xml=xml.decode("utf-8"), xml_sha256=hashlib.sha256(xml).hexdigest(),
                                status="created")
            s.add(run)
            s.flush()
            for t in txs:
                # The item reserves the invoice for this run; it is paid at the second release.
                s.add(PaymentItem(run_id=run.id, invoice_id=t.invoice_id, end_to_end_id=t.end_to_end_id,
                                  amount_due=t.amount_due, amount_paid=t.amount, skonto=t.skonto, creditor_name=t.name,
                                  creditor_iban=t.iban, creditor_bic=t.bic, remittance=t.remittance))
            for cn, t, credit in settled:
                # The credit note is settled by the reduced transfer: recorded as a payment item with the
                # negative amount (unique invoice_id: it can never be settled twice). Like the invoices,
                # it moves POSTED → PAID only at the run's second release (einvoice.finance.payment_release).
                s.add(PaymentItem(run_id=run.id, invoice_id=cn.id, end_to_end_id=t.end_to_end_id, amount_due=cn.amount_due,
                                  amount_paid=-credit, skonto=Decimal("0.00"), creditor_name=t.name, creditor_iban=t.iban,
                                  creditor_bic=t.bic, remittance=sepa_text(f"Gutschrift {cn.invoice_number or cn.id} "
                                                                           f"verrechnet mit {t.end_to_end_id}", 140)))
            s.flush()
            run_id = run.id
    except (IntegrityError, OperationalError, StaleDataError) as exc:
        # A concurrent run took (some of) these invoices: the unique invoice_id on payment_items, the
        # invoice version column or SQLite's write lock stop this one. Nothing of it was recorded.
        if isinstance(exc, OperationalError) and "lock" not in str(exc).lower():
            raise
        raise FinanceError(M.problem(errors.SEPA_CONFLICT)) from None
    # No file yet: it goes to the bank only after two persons released the run (payment_release).
    return PaymentRunResult(None, message_id, len(txs), control_sum, [t.invoice_id for t in txs], skonto_taken, run_id,
                      execution_date, skipped, recovered, status="created")


def _transaction(org: Organisation, inv: InvoiceRow, record: dict | None, pay_day: dt.date,
                 prefix: str) -> tuple[_Tx | None, FinanceProblem | None]:
    if inv.type_code in CREDIT_NOTE_CODES:  # payment_run nets them; this is the last guard
        return None, M.problem(errors.SEPA_CREDIT_NOTE)
    if (inv.currency or "EUR") != "EUR":
        return None, M.problem(errors.SEPA_CURRENCY, currency=inv.currency)
    if inv.amount_due is None or inv.amount_due <= 0:
        return None, M.problem(errors.SEPA_AMOUNT, amount=inv.amount_due)
    payee = (record or {}).get("payee") or {}
    master = _supplier_iban(org, inv)
    # No IBAN on the invoice (BT-84 is optional): the supplier master data is the agreed account.
    iban, problem = check_iban(payee.get("iban") or inv.iban or master)
    if problem:
        return None, problem
    bic, problem = check_bic(payee.get("bic"))
    if problem:
        return None, problem
    if org.finance.check_supplier_iban and master and master != iban_key(iban):
        return None, M.problem(errors.SEPA_IBAN_CHANGED, iban=iban, master=master)
    term = skonto.payment_term(record, inv, pay_day)
    amount = Decimal(inv.amount_due).quantize(CENT)
    if term is not None:
        amount = term.payment(inv.amount_due)
    deduction = (Decimal(inv.amount_due) - amount).quantize(CENT)
    name = sepa_text(payee.get("name") or inv.seller_name, 70)
    return _Tx(inv.id, f"{prefix}-{inv.id}"[:35], Decimal(inv.amount_due), amount, deduction, name, iban, bic,
               _remittance(inv, payee.get("remittance_information"), term, deduction)), None


def _remittance(inv: InvoiceRow, bt83: str | None, term: skonto.Term | None, deduction: Decimal) -> str:
    """The Verwendungszweck: the supplier's remittance information (BT-83) first — it is what the
    supplier matches the payment with — then invoice number and date and the Skonto taken
    (``_net_credit_notes`` appends netted credit notes)."""
    parts = [bt83.strip()] if bt83 and bt83.strip() else []
    ref = f"RE {inv.invoice_number or '-'}" if not (parts and inv.invoice_number and inv.invoice_number in parts[0]) else ""
    if inv.issue_date:
        ref += f" vom {inv.issue_date:%d.%m.%Y}"
    if ref.strip():
        parts.append(ref.strip())
    if deduction and term is not None:
        parts.append(f"abzgl. {term.percent.normalize()} Prozent Skonto {deduction}")
    return sepa_text(" ".join(parts), 140)


def _net_credit_notes(credit_notes: list[InvoiceRow], txs: list[_Tx], by_id: dict[int, InvoiceRow],
                      candidates: list[InvoiceRow]) -> tuple[list[_Tx], list[tuple[InvoiceRow, _Tx, Decimal]],
                                                          list[tuple[int, FinanceProblem]]]:
    """Settle credit notes against the same creditor's transfers of this run (see the module docstring).

    Returns the transfers (some reduced), the settled credit notes (credit note, transfer, credit)
    and the ones held back with the reason.
    """
    settled: list[tuple[InvoiceRow, _Tx, Decimal]] = []
    held: list[tuple[int, FinanceProblem]] = []
    credits_of: dict[int, list[tuple[InvoiceRow, Decimal]]] = {}
    txs = list(txs)
    for cn in credit_notes:
        if (cn.currency or "EUR") != "EUR":
            held.append((cn.id, M.problem(M.SEPA_CURRENCY_CREDIT_NOTE, currency=cn.currency)))
            continue
        credit = abs(Decimal(cn.amount_due or 0)).quantize(CENT)
        if not credit:
            held.append((cn.id, M.problem(M.SEPA_AMOUNT_CREDIT_NOTE)))
            continue
        mine = [i for i, t in enumerate(txs)
                if same_seller(cn.seller_vat_id, cn.seller_id, by_id[t.invoice_id].seller_vat_id, by_id[t.invoice_id].seller_id)]
        # The oldest transfer that stays positive after the deduction (a SEPA transfer is never 0 or negative).
        target = next((i for i in mine if txs[i].amount > credit), None)
        if target is not None:
            t = txs[target]
            credits_of.setdefault(t.invoice_id, []).append((cn, credit))
            t = replace(t, amount=(t.amount - credit).quantize(CENT), credit=(t.credit + credit).quantize(CENT),
                        credit_notes=t.credit_notes + (cn.id,))
            txs[target] = t
            settled.append((cn, t, credit))
            continue
        still_open = [o.id for o in candidates if o.type_code not in CREDIT_NOTE_CODES and o.id not in {x.invoice_id for x in txs}
                      and same_seller(cn.seller_vat_id, cn.seller_id, o.seller_vat_id, o.seller_id)]
        if mine or still_open:
            held.append((cn.id, M.problem(
                M.SEPA_CREDIT_NOTE_WAITING_OPEN, credit=credit, open=", ".join(f"#{i}" for i in still_open))
                if still_open else M.problem(errors.SEPA_CREDIT_NOTE_WAITING, credit=credit)))
        else:
            held.append((cn.id, M.problem(errors.SEPA_CREDIT_NOTE_NOTHING_OPEN, credit=credit)))
    # The settled transfers' Verwendungszweck names the credit notes (rebuilt once per transfer).
    for i, t in enumerate(txs):
        if t.invoice_id in credits_of:
            base = t.remittance
            extra = " ".join(f"abzgl. Gutschrift {cn.invoice_number or cn.id} {c}" for cn, c in credits_of[t.invoice_id])
            txs[i] = replace(t, remittance=sepa_text(f"{base} {extra}", 140))
    settled = [(cn, next(t for t in txs if t.invoice_id == tx.invoice_id), c) for cn, tx, c in settled]
    return txs, settled, held


def export_run(db: Database, run_id: int, output_dir: Path) -> Path:
    """(Re)write the stored XML of a released run to ``output_dir/<MsgId>.xml`` atomically; returns the path.
    A run not yet released by two persons is refused (PAY-NOT-RELEASED): its file must not reach the bank."""
    with db.sessions() as s:
        run = s.get(PaymentRunRow, run_id)
        if run is None:
            raise FinanceError(M.problem(M.NOT_FOUND_RUN, run_id=run_id))
        if run.status != "released":
            from einvoice.finance import authority

            raise FinanceError(authority.not_released(run_id, run.status))
        xml, message_id = run.xml.encode("utf-8"), run.message_id
    path = Path(output_dir) / f"{message_id}.xml"
    write_atomic(path, xml)
    with db.transaction() as s:
        s.get(PaymentRunRow, run_id).path = str(path)
    return path


def unwritten_runs(db: Database) -> list[int]:
    with db.sessions() as s:
        return list(s.scalars(sa.select(PaymentRunRow.id).where(PaymentRunRow.path.is_(None), PaymentRunRow.status == "released")
                              .order_by(PaymentRunRow.id)))


def runs_awaiting_release(db: Database) -> list[dict]:
    """Prepared payment runs whose file has not gone to the bank: they wait for a first or a
    second person's release (``einvoice payments release``)."""
    with db.sessions() as s:
        runs = s.scalars(sa.select(PaymentRunRow).where(PaymentRunRow.status.in_(("created", "first_release")))
                         .order_by(PaymentRunRow.id)).all()
        return [{"id": r.id, "message_id": r.message_id, "status": r.status, "count": r.count,
                 "control_sum": str(r.control_sum), "first_release_by": r.first_release_by} for r in runs]


def list_runs(db: Database, limit: int = 50) -> list[dict]:
    with db.sessions() as s:
        runs = s.scalars(sa.select(PaymentRunRow).order_by(PaymentRunRow.id.desc()).limit(limit)).all()
        return [{"id": r.id, "message_id": r.message_id, "created_at": r.created_at.isoformat(), "due_by": r.due_by.isoformat(),
                 "execution_date": r.execution_date.isoformat(), "count": r.count, "control_sum": str(r.control_sum),
                 "skonto_taken": str(r.skonto_taken), "path": r.path, "xml_sha256": r.xml_sha256, "status": r.status,
                 "created_by": r.created_by, "first_release_by": r.first_release_by,
                 "second_release_by": r.second_release_by} for r in runs]
