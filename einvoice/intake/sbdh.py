"""Peppol: the Standard Business Document (SBDH envelope) an access point delivers.

A Peppol access point hands over each document wrapped in a ``StandardBusinessDocument``: a
``StandardBusinessDocumentHeader`` (sender and receiver participant IDs, document type, process,
instance identifier, creation time) followed by exactly one payload element, here a UBL
Invoice/CreditNote or a CII CrossIndustryInvoice. This module reads the header and takes the
payload out of an envelope that ``einvoice.xml.safe`` has already parsed (size limits, no DTD).

The envelope is the received original: it is archived byte for byte as it came. Only the payload
is validated, so it is serialised here from the parsed envelope (see :func:`payload_bytes`).

This module must never raise on hostile or broken input (problems come back as values with a rule
ID), never take invoice content from the header (the header is channel metadata: who sent it to
whom, never what was invoiced), and never import Prefect.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from lxml import etree

from einvoice.problems import Problem
from einvoice.xml.namespaces import SBDH as NS_SBDH

ROOT = f"{{{NS_SBDH}}}StandardBusinessDocument"
HEADER = f"{{{NS_SBDH}}}StandardBusinessDocumentHeader"
#: ISO 6523 ICD of the Leitweg-ID: German public buyers are Peppol participants ``0204:<Leitweg-ID>``
LEITWEG_ICD = "0204"
#: the participant identifier scheme Peppol uses; some access points write it in front of the ID
PEPPOL_SCHEME = "iso6523-actorid-upis"


@dataclass(frozen=True)
class EnvelopeProblem(Problem):
    severity: str  # fatal | error | warning | info (as einvoice.intake.IntakeProblem)
    location: str | None = None


@dataclass(frozen=True)
class Header:
    """What the SBDH says about the delivery (channel metadata, never invoice content)."""

    sender: str | None = None  # participant ID, e.g. "0088:4000001000005"
    sender_authority: str | None = None  # e.g. "iso6523-actorid-upis"
    receiver: str | None = None  # e.g. "0204:05999000-66-70"
    receiver_authority: str | None = None
    standard: str | None = None  # DocumentIdentification/Standard (the payload's namespace)
    type: str | None = None  # DocumentIdentification/Type ("Invoice", "CreditNote", ...)
    type_version: str | None = None
    instance_id: str | None = None  # DocumentIdentification/InstanceIdentifier
    created: str | None = None  # DocumentIdentification/CreationAndOrCreationTime, as written
    document_type: str | None = None  # BusinessScope Scope DOCUMENTID: the Peppol document type identifier
    process: str | None = None  # BusinessScope Scope PROCESSID

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @property
    def receiver_leitweg_id(self) -> str | None:
        return leitweg_id_of(self.receiver)


@dataclass
class Unwrapped:
    header: Header | None = None
    payload: bytes | None = None  # the payload element serialised as its own XML document
    payload_name: str | None = None  # local name of the payload's root element
    problems: list[EnvelopeProblem] = field(default_factory=list)


def leitweg_id_of(participant: str | None) -> str | None:
    """The Leitweg-ID of a participant ID ``0204:<Leitweg-ID>`` (with or without the scheme in
    front), else None. The ID is returned as written (routing compares normalised)."""
    if not participant:
        return None
    value = participant.strip()
    if value.lower().startswith(PEPPOL_SCHEME + "::"):
        value = value[len(PEPPOL_SCHEME) + 2:]
    icd, sep, rest = value.partition(":")
    if sep and icd.strip() == LEITWEG_ICD and rest.strip():
        return rest.strip()
    return None


def looks_like_sbdh(data: bytes) -> bool:
    """Cheap sniff before parsing: does the start of ``data`` name the SBDH namespace?"""
    return NS_SBDH.encode() in data[:8192]


def is_envelope(root: etree._Element) -> bool:
    return isinstance(root.tag, str) and root.tag == ROOT


def _text(el: etree._Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path, namespaces={"s": NS_SBDH})
    if found is None or found.text is None or not found.text.strip():
        return None
    return found.text.strip()


def _attr(el: etree._Element | None, path: str, name: str) -> str | None:
    found = el.find(path, namespaces={"s": NS_SBDH}) if el is not None else None
    value = found.get(name) if found is not None else None
    return value.strip() if value and value.strip() else None


def _scope(header: etree._Element, kind: str) -> str | None:
    for scope in header.iterfind("s:BusinessScope/s:Scope", namespaces={"s": NS_SBDH}):
        if (_text(scope, "s:Type") or "").upper() == kind:
            return _text(scope, "s:InstanceIdentifier")
    return None


def read_header(header: etree._Element) -> Header:
    return Header(
        sender=_text(header, "s:Sender/s:Identifier"),
        sender_authority=_attr(header, "s:Sender/s:Identifier", "Authority"),
        receiver=_text(header, "s:Receiver/s:Identifier"),
        receiver_authority=_attr(header, "s:Receiver/s:Identifier", "Authority"),
        standard=_text(header, "s:DocumentIdentification/s:Standard"),
        type=_text(header, "s:DocumentIdentification/s:Type"),
        type_version=_text(header, "s:DocumentIdentification/s:TypeVersion"),
        instance_id=_text(header, "s:DocumentIdentification/s:InstanceIdentifier"),
        created=_text(header, "s:DocumentIdentification/s:CreationAndOrCreationTime"),
        document_type=_scope(header, "DOCUMENTID"),
        process=_scope(header, "PROCESSID"),
    )


def payload_bytes(payload: etree._Element) -> bytes:
    """The payload element as an XML document of its own (UTF-8, with declaration).

    The envelope is the original as received and is archived as such; this serialisation is what
    gets validated. lxml writes every namespace in scope at the payload onto its root (prefixes
    the producer declared on the envelope included), so the payload means exactly what it meant
    inside the envelope (the envelope's own default namespace may come along unused: harmless); its
    tail (whitespace after it in the envelope) is not part of it.
    """
    return etree.tostring(payload, encoding="UTF-8", xml_declaration=True, with_tail=False)


def unwrap(root: etree._Element) -> Unwrapped:
    """Header and payload of a parsed ``StandardBusinessDocument`` (``is_envelope(root)``)."""
    out = Unwrapped()
    children = [c for c in root if isinstance(c.tag, str)]  # comments and PIs are no payload
    headers = [c for c in children if c.tag == HEADER]
    payloads = [c for c in children if c.tag != HEADER]
    if len(headers) != 1:
        out.problems.append(EnvelopeProblem(
            "SBDH-HEADER", "Der Peppol-Umschlag (SBDH) hat " + ("keinen" if not headers else f"{len(headers)}")
            + " StandardBusinessDocumentHeader; erwartet ist genau einer. Der Zugangspunkt (Access Point) "
            "des Absenders muss das Dokument neu senden.",
            "fatal", "/StandardBusinessDocument"))
    else:
        out.header = read_header(headers[0])
        missing = [label for label, value in (
            ("Sender/Identifier", out.header.sender), ("Receiver/Identifier", out.header.receiver),
            ("DocumentIdentification/InstanceIdentifier", out.header.instance_id)) if value is None]
        if missing:
            out.problems.append(EnvelopeProblem(
                "SBDH-HEADER", "Im Kopf des Peppol-Umschlags (SBDH) fehlt " + ", ".join(missing) + "; ohne diese Angaben ist die "
                "Zustellung nicht nachvollziehbar. Der Zugangspunkt des Absenders muss das Dokument neu senden.",
                "fatal",
                "/StandardBusinessDocument/StandardBusinessDocumentHeader"))
    if not payloads:
        out.problems.append(EnvelopeProblem(
            "SBDH-NO-PAYLOAD", "Der Peppol-Umschlag (SBDH) enthält kein Dokument: nach dem Kopf folgt keine Rechnung. "
            "Der Absender muss die Rechnung neu senden.",
            "fatal", "/StandardBusinessDocument"))
        return out
    if len(payloads) > 1:
        names = ", ".join(etree.QName(p).localname for p in payloads)
        out.problems.append(EnvelopeProblem(
            "SBDH-MULTIPLE-PAYLOADS", f"Der Peppol-Umschlag (SBDH) enthält {len(payloads)} Dokumente ({names}); erlaubt ist genau eines. "
            "Keines wurde geprüft; der Absender muss jede Rechnung einzeln senden.",
            "fatal", "/StandardBusinessDocument"))
        return out
    payload = payloads[0]
    out.payload_name = etree.QName(payload).localname
    out.payload = payload_bytes(payload)
    if out.header is not None and out.header.type and out.header.type != out.payload_name:
        out.problems.append(EnvelopeProblem(
            "SBDH-TYPE", f"Der Kopf des Peppol-Umschlags nennt den Dokumenttyp {out.header.type!r}, enthalten ist aber "
            f"{out.payload_name!r}; geprüft wurde das enthaltene Dokument.",
            "warning",
            "/StandardBusinessDocument/StandardBusinessDocumentHeader/DocumentIdentification/Type"))
    if out.header is not None:
        h = out.header
        out.problems.append(EnvelopeProblem(
            "SBDH-ENVELOPE", f"Über Peppol empfangen (SBDH entpackt): Absender {h.sender or '?'}, Empfänger {h.receiver or '?'}, "
            f"Dokumenttyp {h.document_type or h.type or '?'}, Instanz {h.instance_id or '?'}.",
            "info", None))
    return out
