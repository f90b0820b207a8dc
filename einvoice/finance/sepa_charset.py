"""The character set every SEPA bank accepts: text for payment files and posting records.

Both the pain.001 payment file (``einvoice.finance.sepa``) and the posting record's remittance
information (``einvoice.finance.record``) use it; its own module so neither imports the other
for it. This module holds no business rule and must never write or log anything.
"""
from __future__ import annotations

import re
import unicodedata

_TRANSLIT = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "&": "+"}
_ALLOWED = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")


def sepa_text(text: str | None, max_len: int) -> str:
    """Reduce to the EPC basic Latin character set every SEPA bank accepts (umlauts spelled out)."""
    s = "".join(_TRANSLIT.get(ch, ch) for ch in (text or ""))
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    s = _ALLOWED.sub(" ", s)
    s = re.sub(r"\s+", " ", s).strip()
    return s[:max_len].rstrip() or "-"
