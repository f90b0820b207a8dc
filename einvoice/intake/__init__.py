"""Intake: what did we receive? XML invoice, hybrid PDF, plain PDF, something else.

Given the bytes of one file, this module finds the invoice XML (the file itself, or the XML
embedded in a Factur-X/ZUGFeRD/XRechnung PDF, or the payload of a Peppol SBDH envelope, see
``einvoice.intake.sbdh``), parses it safely, names its syntax (UBL Invoice, UBL CreditNote, CII, ZUGFeRD
1.0) and reads the specification identifier (BT-24) and, for PDFs, the Factur-X conformance level
from the XMP metadata.

It must never change the bytes it extracts (the XML is the legal original, GoBD; an SBDH envelope
is the original of a Peppol delivery, its payload is serialised from it), never trust the
file name or extension over the content, and never raise on hostile input: every problem becomes
an ``IntakeProblem`` with a rule ID and a message a clerk can act on.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

from lxml import etree

from einvoice.intake import sbdh
from einvoice.problems import Problem
from einvoice.xml.namespaces import CBC as NS_CBC
from einvoice.xml.namespaces import CII_RAM as NS_RAM
from einvoice.xml.namespaces import CII_RSM as NS_CII
from einvoice.xml.namespaces import UBL_CREDIT_NOTE as NS_UBL_CN
from einvoice.xml.namespaces import UBL_INVOICE as NS_UBL_INV
from einvoice.xml.namespaces import ZUGFERD1 as NS_ZF1
from einvoice.xml.safe import DEFAULT_MAX_XML_BYTES, parse_xml

#: whole input files (PDFs included) above this size are not read at all
DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024

ROOTS = {
    (NS_UBL_INV, "Invoice"): "ubl-invoice",
    (NS_UBL_CN, "CreditNote"): "ubl-creditnote",
    (NS_CII, "CrossIndustryInvoice"): "cii",
    (NS_ZF1, "CrossIndustryDocument"): "zugferd1",
}

# Names under which hybrid invoices embed their XML, in order of preference (compared lower-case).
EMBEDDED_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml", "zugferd_invoice.xml")


@dataclass(frozen=True)
class IntakeProblem(Problem):
    severity: str  # fatal | error | warning | info
    location: str | None = None


@dataclass
class Intake:
    container: str = "unknown"  # xml | pdf | unknown
    xml: bytes | None = None  # the invoice XML exactly as received / extracted
    root: etree._Element | None = None
    syntax: str = "none"  # ubl-invoice | ubl-creditnote | cii | zugferd1 | unsupported | none
    profile: str | None = None  # BT-24 as written
    profile_name: str | None = None
    embedded_name: str | None = None  # attachment name inside the PDF
    xmp_level: str | None = None  # fx:ConformanceLevel from the PDF XMP
    xmp_document_name: str | None = None  # fx:DocumentFileName from the PDF XMP
    #: the Peppol SBDH header when the file was a StandardBusinessDocument (``xml`` is then its payload)
    envelope: sbdh.Header | None = None
    problems: list[IntakeProblem] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# profiles
# --------------------------------------------------------------------------------------------
def profile_name(spec_id: str | None) -> str | None:
    """Short profile name for a specification identifier (BT-24 / guideline ID)."""
    if not spec_id:
        return None
    s = spec_id.strip().lower()
    if "xrechnung" in s:
        return "XRECHNUNG"
    if s.endswith(":minimum") or s.endswith("1p0:minimum"):
        return "MINIMUM"
    if s.endswith(":basicwl"):
        return "BASIC WL"
    if s.endswith(":basic"):
        return "BASIC"
    if s.endswith(":extended"):
        return "EXTENDED"
    if s.endswith(":comfort"):
        return "COMFORT"  # ZUGFeRD 1.0 name of the EN 16931 level
    if "peppol" in s:
        return "PEPPOL BIS 3"
    if s.startswith("urn:cen.eu:en16931:2017"):
        return "EN16931"
    return None


#: Factur-X/ZUGFeRD profiles that carry too little data to be an invoice under § 14 UStG: such a
#: document is kept as a document only (validation: DE-USTG-14; pipeline: state not_an_invoice)
NOT_INVOICE_PROFILES = frozenset({"MINIMUM", "BASIC WL"})


def not_an_invoice(profile: str | None) -> bool:
    """Whether a profile name (``profile_name``) is one of the ``NOT_INVOICE_PROFILES``."""
    return (profile or "").upper() in NOT_INVOICE_PROFILES


def is_xrechnung(spec_id: str | None) -> bool:
    return bool(spec_id) and "xrechnung" in spec_id.lower()


def is_facturx(spec_id: str | None) -> bool:
    s = (spec_id or "").lower()
    return "factur-x.eu" in s or "zugferd.de" in s


def _read_profile(root: etree._Element, syntax: str) -> str | None:
    if syntax in ("ubl-invoice", "ubl-creditnote"):
        v = root.findtext(f"{{{NS_CBC}}}CustomizationID")
    elif syntax == "cii":
        v = root.findtext(
            f"{{{NS_CII}}}ExchangedDocumentContext/{{{NS_RAM}}}GuidelineSpecifiedDocumentContextParameter/{{{NS_RAM}}}ID"
        )
    elif syntax == "zugferd1":
        v = None
        for el in root.iter("{*}GuidelineSpecifiedDocumentContextParameter"):
            v = el.findtext("{*}ID")
            break
    else:
        return None
    return v.strip() if v else None


# --------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------
def _pdf_extract(data: bytes, intake: Intake, max_xml: int) -> None:
    # pypdf logs warnings for every quirk of real-world PDFs; they are not findings.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data), strict=False)
        attachments = {}
        try:
            for name, contents in (reader.attachments or {}).items():
                attachments[name] = contents
        except Exception as exc:  # broken name trees are common; report, do not crash
            intake.problems.append(
                IntakeProblem("PDF-ATTACHMENTS", f"The PDF's list of embedded files could not be read completely: {exc}", "warning")
            )
        intake.xmp_level, intake.xmp_document_name = _xmp_info(reader)
    except Exception as exc:
        intake.problems.append(
            IntakeProblem("PDF-READ", f"The PDF could not be read (damaged or not a PDF): {type(exc).__name__}: {exc}", "fatal")
        )
        return
    chosen = None
    lower = {n.lower(): n for n in attachments}
    for wanted in EMBEDDED_NAMES:
        if wanted in lower:
            chosen = lower[wanted]
            break
    if chosen is None:
        # Some producers use other names; accept any embedded XML whose root is an invoice.
        for name in attachments:
            if name.lower().endswith(".xml"):
                for content in attachments[name]:
                    root, _ = parse_xml(content, max_bytes=max_xml)
                    if root is not None and (etree.QName(root).namespace, etree.QName(root).localname) in ROOTS:
                        chosen = name
                        break
            if chosen:
                break
    if chosen is None:
        intake.syntax = "none"
        intake.problems.append(
            IntakeProblem(
                "PDF-NO-XML",
                "This is a plain PDF without structured invoice data (no factur-x.xml, zugferd-invoice.xml or "
                "xrechnung.xml embedded). It is not an e-invoice; ask the sender for an XRechnung or ZUGFeRD invoice.",
                "fatal",
            )
        )
        return
    intake.embedded_name = chosen
    intake.xml = attachments[chosen][0]


def _xmp_info(reader) -> tuple[str | None, str | None]:
    """(ConformanceLevel, DocumentFileName) from the XMP packet, parsed safely."""
    try:
        meta = reader.trailer["/Root"].get("/Metadata")
        if meta is None:
            return None, None
        raw = meta.get_object().get_data()
    except Exception:
        return None, None
    root, problem = parse_xml(raw, max_bytes=4 * 1024 * 1024)
    if root is None:
        return None, None
    level = name = None
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        local = etree.QName(el).localname
        if local == "ConformanceLevel" and el.text and level is None:
            level = el.text.strip()
        elif local == "DocumentFileName" and el.text and name is None:
            name = el.text.strip()
        # the same facts may be given as attributes of rdf:Description
        for k, v in el.attrib.items():
            lk = etree.QName(k).localname
            if lk == "ConformanceLevel" and level is None:
                level = v.strip()
            elif lk == "DocumentFileName" and name is None:
                name = v.strip()
    return level, name


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------
def detect(
    data: bytes,
    path: str = "",
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_xml_bytes: int = DEFAULT_MAX_XML_BYTES,
) -> Intake:
    intake = Intake()
    if data is None or len(data) == 0:
        intake.problems.append(IntakeProblem("INTAKE-EMPTY", "The file is empty (0 bytes); there is nothing to validate.", "fatal"))
        return intake
    if len(data) > max_file_bytes:
        intake.problems.append(
            IntakeProblem(
                "INTAKE-SIZE",
                f"The file has {len(data):,} bytes, more than the configured limit of {max_file_bytes:,}; it was not read.",
                "fatal",
            )
        )
        return intake
    head = data[:1024].lstrip()
    stripped = head.lstrip(b"\xef\xbb\xbf")
    looks_xml = stripped.startswith(b"<") or head[:2] in (b"\xff\xfe", b"\xfe\xff")
    # XML first: a note in an XML invoice may well contain the text "%PDF-"; a PDF may have a
    # few bytes of junk before its header (readers accept it within the first 1024 bytes).
    if not looks_xml and b"%PDF-" in data[:1024]:
        intake.container = "pdf"
        _pdf_extract(data, intake, max_xml_bytes)
        if intake.xml is None:
            return intake
    elif not looks_xml:
        intake.problems.append(
            IntakeProblem(
                "INTAKE-FORMAT",
                "The file is neither XML nor PDF; it cannot be an e-invoice (XRechnung, ZUGFeRD/Factur-X).",
                "fatal",
            )
        )
        return intake
    else:
        intake.container = "xml"
        intake.xml = data

    root, problem = parse_xml(intake.xml, max_bytes=max_xml_bytes)
    if problem is not None:
        where = f" (embedded file {intake.embedded_name})" if intake.embedded_name else ""
        intake.problems.append(IntakeProblem(problem.rule, problem.message + where, "fatal", problem.location))
        return intake
    if intake.container == "xml" and sbdh.is_envelope(root):
        # A Peppol delivery: the envelope is the received original (archived as such); what is
        # validated from here on is its payload, serialised as a document of its own (einvoice.intake.sbdh).
        env = sbdh.unwrap(root)
        intake.envelope = env.header
        intake.problems.extend(IntakeProblem(p.rule, p.message, p.severity, p.location) for p in env.problems)
        if env.payload is None:
            return intake
        intake.xml = env.payload
        root, problem = parse_xml(intake.xml, max_bytes=max_xml_bytes)
        if problem is not None:  # pragma: no cover - lxml wrote it from a tree it had parsed
            intake.problems.append(IntakeProblem(problem.rule, problem.message + " (Peppol-Nutzdaten)", "fatal", problem.location))
            return intake
    intake.root = root
    qn = etree.QName(root)
    syntax = ROOTS.get((qn.namespace, qn.localname))
    if syntax is None:
        intake.syntax = "unsupported"
        what = "Italian FatturaPA" if qn.localname == "FatturaElettronica" else f"root element {qn.localname!r} ({qn.namespace or 'no namespace'})"
        intake.problems.append(
            IntakeProblem(
                "INTAKE-UNSUPPORTED",
                f"Unsupported format: {what}. Accepted are XRechnung/EN 16931 in UBL 2.1 or UN/CEFACT CII, and ZUGFeRD/Factur-X.",
                "fatal",
            )
        )
        return intake
    intake.syntax = syntax
    intake.profile = _read_profile(root, syntax)
    intake.profile_name = profile_name(intake.profile)
    if syntax == "zugferd1":
        intake.problems.append(
            IntakeProblem(
                "ZUGFERD1-LEGACY",
                "This is a ZUGFeRD 1.0 invoice (legacy format, replaced by ZUGFeRD 2 / Factur-X in 2019). It is recognised "
                "but not validated; ask the sender for ZUGFeRD 2.x or XRechnung.",
                "fatal",
            )
        )
    return intake
