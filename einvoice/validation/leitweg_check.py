"""The advisory Leitweg-ID finding: is BT-10 of an XRechnung a Leitweg-ID with a valid check digit?

BT-10 of an XRechnung is normally a Leitweg-ID; a wrong check digit means misrouting. KoSIT has
no rule for this, so the finding is advice (info) unless the configuration raises it. Both the
built-in engine and the rule-pack path add it. This module must never report a missing BT-10
(BR-DE-15 does) and never give more than information.
"""
from __future__ import annotations

from einvoice.identifiers.leitweg import check_leitweg_id
from einvoice.model import NS
from einvoice.validation.report import Finding

RULE = "DE-LEITWEG-ID"

_CII_PATH = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:BuyerReference"


def finding(root, syntax: str, stage: str = "xrechnung") -> Finding | None:
    """The DE-LEITWEG-ID finding for the buyer reference (BT-10), or None when it is fine or absent."""
    path = _CII_PATH if syntax == "cii" else "cbc:BuyerReference"
    value = root.findtext(path, namespaces=NS)
    if value is None or not value.strip():
        return None  # BR-DE-15 reports the missing value
    problems = check_leitweg_id(value.strip())
    if not problems:
        return None
    return Finding(
        RULE,
        "info",
        "The buyer reference (BT-10) is not a valid Leitweg-ID: " + " ".join(problems)
        + " If the buyer is a public body, the invoice may not reach it.",
        path if syntax == "cii" else "/*/cbc:BuyerReference",
        stage,
    )
