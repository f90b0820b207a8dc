"""Factur-X/ZUGFeRD hybrid PDFs: the XMP conformance level against the embedded XML's profile.

A PDF/A-3 hybrid invoice declares its profile twice, in the XMP metadata (``fx:ConformanceLevel``)
and in the XML's guideline ID (BT-24). The XML is what counts; a missing or different XMP level is
a warning for the producer. This module must never change the verdict on its own (warnings only)
and never read anything but what intake extracted.
"""
from __future__ import annotations

from einvoice.validation.report import Finding

#: XMP conformance level (upper case) -> the profile name intake gives the XML
_XMP_NAMES = {
    "MINIMUM": "MINIMUM",
    "BASIC WL": "BASIC WL",
    "BASICWL": "BASIC WL",
    "BASIC": "BASIC",
    "EN 16931": "EN16931",
    "EN16931": "EN16931",
    "COMFORT": "EN16931",
    "EXTENDED": "EXTENDED",
    "XRECHNUNG": "XRECHNUNG",
}


def profile_findings(it) -> list[Finding]:
    """Warnings about the XMP conformance level of a PDF (``einvoice.intake.Intake``)."""
    out = []
    xml_level = {"COMFORT": "EN16931"}.get(it.profile_name, it.profile_name)
    if not it.xmp_level:
        out.append(
            Finding(
                "FX-XMP-LEVEL",
                "warning",
                "The PDF's XMP metadata does not state the Factur-X/ZUGFeRD conformance level (fx:ConformanceLevel); "
                "PDF/A-3 hybrid invoices must declare it.",
                "PDF XMP metadata",
                "profile",
            )
        )
    else:
        xmp = _XMP_NAMES.get(it.xmp_level.strip().upper())
        if xmp != xml_level:
            out.append(
                Finding(
                    "FX-PROFILE-MISMATCH",
                    "warning",
                    f"The PDF metadata declares profile {it.xmp_level!r} but the embedded XML declares "
                    f"{it.profile or 'no profile'} ({it.profile_name or 'unknown'}). The XML is what counts; the producer "
                    "should fix the metadata.",
                    "PDF XMP fx:ConformanceLevel",
                    "profile",
                )
            )
    return out
