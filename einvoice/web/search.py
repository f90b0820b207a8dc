"""The inbox search box: amounts as people type them, and the service whose search also matches
the Leitweg-ID and the exact amount.

The search box promises supplier, number, amount and Leitweg-ID; ``ApprovalService`` searches the
first two. Only the *search predicate* is widened here. This module must never change a rule or
an action of the service, and never log a search term.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

from einvoice.approval import ApprovalService
from einvoice.db.models import InvoiceRow
from einvoice.language import language

_AMOUNT = re.compile(r"^-?\d{1,3}(\.\d{3})*(,\d{1,2})?$|^-?\d+([.,]\d{1,2})?$")
_AMOUNT_EN = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d{1,2})?$")  # 1,234.56 as the English pages show amounts


def parse_amount(text: str | None) -> Decimal | None:
    """'1.234,56', '1234,56' or '1234.56' as a Decimal (with EINVOICE_LANGUAGE=en also '1,234.56');
    None if it is not an amount."""
    t = (text or "").strip().replace("€", "").replace("EUR", "").replace("\u00a0", "").replace(" ", "")
    if language() == "en" and _AMOUNT_EN.match(t):
        t = t.replace(",", "")
    if not t or not _AMOUNT.match(t):
        return None
    if "," in t:
        t = t.replace(".", "").replace(",", ".")
    elif t.count(".") == 1 and len(t.split(".")[1]) == 3:  # "1.234" is German thousands, not 1.234 EUR
        t = t.replace(".", "")
    try:
        return Decimal(t)
    except InvalidOperation:
        return None


class WebApprovalService(ApprovalService):
    """``ApprovalService`` whose free-text search also matches the Leitweg-ID and the exact amount.

    Every rule and every action is the inherited one.
    """

    @staticmethod
    def _search(text: str, table=InvoiceRow):
        # ``table``: InvoiceRow, or ApprovalTask, whose open rows carry copies of these columns (migration 0016).
        clauses = [ApprovalService._search(text, table),
                   sa.func.lower(table.leitweg_id).contains(text.strip().lower(), autoescape=True)]
        amount = parse_amount(text)
        if amount is not None:
            clauses.append(table.amount_due == amount)
        return sa.or_(*clauses)
