"""One normalisation for the identifiers that decide "same supplier", "same account" and "same invoice".

Suppliers write their VAT ID (BT-31), seller ID (BT-29), IBAN (BT-84) and invoice number (BT-1)
with spaces, dots, hyphens, in lower case, with or without the country prefix. Every comparison of
these values — the duplicate check (``einvoice.approval.duplicates``), the supplier master-data
match (routing, posting record, payment run) and the IBAN hold-back of the payment run — goes
through the keys below, so ``DE812345673``, ``de 812 345 673``, ``DE-812.345.673`` and (for a
German seller) ``812345673`` are the same VAT ID everywhere.

* ``vat_id_key``: ``stdnum.eu.vat.compact`` (separators removed, upper case, the country's own
  formatting rules); a number without a country prefix gets the seller's country, by default
  ``DE`` (the bodies using this project are German and so are most of their suppliers).
* ``iban_key``: ``stdnum.iban.compact`` (spaces removed, upper case).
* ``seller_id_key``: upper case without spaces, dots, hyphens and slashes.
* ``invoice_number_key``: upper case, no punctuation or spaces, leading zeros of each digit group
  removed ("RE-0042" = "re 42"); the duplicate check uses it for near duplicates.

The keys are for comparing only: the values stored and shown stay as the supplier wrote them.
This module must never validate (a check-digit error is the validator's finding, not a reason to
treat two equal strings as different) and never touch the database.
"""
from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s.\-/,_]+")
_NON_ALNUM = re.compile(r"[^0-9A-Z]+")
_LEADING_ZEROS = re.compile(r"(?<![0-9])0+(?=[0-9])")
_COUNTRY = re.compile(r"^[A-Z]{2}")

DEFAULT_COUNTRY = "DE"


def vat_id_key(value: str | None, country: str | None = None) -> str:
    """Comparable form of a VAT ID ("" when there is none); ``country`` is the seller's (BT-40), default DE."""
    if not value:
        return ""
    s = _SEPARATORS.sub("", str(value)).upper()
    if not s:
        return ""
    if not _COUNTRY.match(s):
        s = (country or DEFAULT_COUNTRY).strip().upper()[:2] + s
    try:
        from stdnum.eu import vat

        return vat.compact(s)
    except Exception:  # an unknown country prefix or a malformed number: compare the cleaned text
        return s


def iban_key(value: str | None) -> str:
    """Comparable form of an IBAN ("" when there is none)."""
    if not value:
        return ""
    from stdnum import iban

    return iban.compact(str(value))


def seller_id_key(value: str | None) -> str:
    """Comparable form of a seller identifier BT-29 ("" when there is none)."""
    return _SEPARATORS.sub("", str(value or "")).upper()


def invoice_number_key(number: str | None) -> str:
    """Invoice number without punctuation, spaces, case and leading zeros of each digit group."""
    if not number:
        return ""
    # Zeros are stripped per digit group before the separators go, so "2026/0017" equals "2026-17".
    return "".join(_LEADING_ZEROS.sub("", part) for part in _NON_ALNUM.split(str(number).upper()))


def same_seller(vat_a: str | None, id_a: str | None, vat_b: str | None, id_b: str | None) -> str | None:
    """Why two parties are the same seller ("VAT ID …" / "seller ID …"), or None when they are not (or unknown)."""
    ka, kb = vat_id_key(vat_a), vat_id_key(vat_b)
    if ka and ka == kb:
        return f"VAT ID {ka}"
    sa, sb = seller_id_key(id_a), seller_id_key(id_b)
    if sa and sa == sb:
        return f"seller ID {id_a.strip()}"
    return None


def find_supplier(org, vat_id: str | None, seller_ids, *, only=None) -> object | None:
    """The supplier of the organisation's master data with this VAT ID or one of these seller IDs, else None.

    ``seller_ids``: one id, or an iterable of ids (routing knows all BT-29 of an invoice);
    ``only``: consider only suppliers for which it returns true (routing: those with a department).
    """
    if isinstance(seller_ids, str) or seller_ids is None:
        seller_ids = (seller_ids,)
    vat = vat_id_key(vat_id)
    ids = {seller_id_key(i) for i in seller_ids if i}
    ids.discard("")
    for sup in org.suppliers:
        if only is not None and not only(sup):
            continue
        if (vat and vat_id_key(sup.vat_id) == vat) or (sup.seller_id and seller_id_key(sup.seller_id) in ids):
            return sup
    return None
