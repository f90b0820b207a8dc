"""What a supplier notice says and to whom: the recipient, the text (German, then English) and the
exact RFC 5322 message with the validation report attached.

The recipient is, in this order: the reply address the channel recorded (``invoices.channel_json``
``reply_to``, written by the e-mail and upload channels), the seller's electronic address (BT-34)
when its scheme is ``EM`` (e-mail), the seller's contact e-mail (BT-43). None of these: no notice
can be sent, and a person must tell the supplier (the outbox records it, never drops it).

Texts are Jinja2 templates (shipped defaults in ``templates/``; an organisation may point
``notices.templates_directory`` at its own, per kind or for all kinds). This module never sends
and never touches the database: it only decides and renders.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from einvoice.states import InvoiceState

#: The kinds of notice, by the state a received file ends in.
REJECTED, NOT_VALIDATED, NOT_AN_INVOICE, RECEIVED = "rejected", "not_validated", "not_an_invoice", "received"
KIND_FOR_STATE = {InvoiceState.REJECTED.value: REJECTED, InvoiceState.NOT_VALIDATED.value: NOT_VALIDATED,
                  InvoiceState.NOT_AN_INVOICE.value: NOT_AN_INVOICE, InvoiceState.IN_APPROVAL.value: RECEIVED}
KINDS = (REJECTED, NOT_VALIDATED, NOT_AN_INVOICE, RECEIVED)

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: A plain check, not RFC 5321 in full: one @, no spaces or angle brackets, a dot in the domain.
_ADDRESS = re.compile(r"^[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\"]+$")


def kind_for(state: str, acknowledge_received: bool) -> str | None:
    """Which notice a file that ends in ``state`` gets (None: none)."""
    kind = KIND_FOR_STATE.get(state)
    if kind == RECEIVED and not acknowledge_received:
        return None
    return kind


def is_address(value: str | None) -> bool:
    return bool(value) and bool(_ADDRESS.match(value.strip()))


def seller_addresses(model) -> dict:
    """The seller's addresses of an EN 16931 model: BT-34 (value and scheme) and BT-43."""
    if model is None or getattr(model, "seller", None) is None:
        return {}
    seller = model.seller
    out = {}
    ea = getattr(seller, "electronic_address", None)
    if ea is not None and getattr(ea, "value", None):
        out["electronic_address"], out["electronic_address_scheme"] = ea.value, ea.scheme
    contact = getattr(seller, "contact", None)
    if contact is not None and getattr(contact, "email", None):
        out["contact_email"] = contact.email
    return out


def channel_data(channel_json: str | None) -> dict:
    """The channel's metadata as a dict ({} when absent or not a JSON object)."""
    if not channel_json:
        return {}
    try:
        data = json.loads(channel_json)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def choose_recipient(channel: dict, addresses: dict) -> tuple[str | None, str | None, list[str]]:
    """(address, where it came from, why other candidates were passed over)."""
    skipped: list[str] = []
    candidates = [("person", addresses.get("given_by_person")), ("channel reply_to", channel.get("reply_to"))]
    scheme = (addresses.get("electronic_address_scheme") or "").upper()
    if addresses.get("electronic_address"):
        if scheme == "EM":
            candidates.append(("BT-34", addresses["electronic_address"]))
        else:
            skipped.append(f"BT-34 {addresses['electronic_address']!r} has scheme {scheme or 'none'}, not EM (e-mail)")
    candidates.append(("BT-43", addresses.get("contact_email")))
    for source, value in candidates:
        if not value:
            continue
        if isinstance(value, str):
            _, addr = email.utils.parseaddr(value)
            if is_address(addr):
                return addr, source, skipped
        skipped.append(f"{source} {value!r} is not an e-mail address")
    return None, None, skipped


@dataclass(frozen=True)
class Finding:
    """A finding as a notice names it: the rule ID, the official text (``message``) and, in German
    and English, its BMF class, explanation and readable location (einvoice.validation.explain)."""

    rule: str
    severity: str
    message: str
    location: str | None
    bmf_class: str = ""
    class_de: str = ""
    class_en: str = ""
    explanation_de: str = ""
    explanation_en: str = ""
    where_de: str | None = None
    where_en: str | None = None


def _report_data(report_json: str | None) -> dict:
    if not report_json:
        return {}
    try:
        data = json.loads(report_json)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def report_findings(report_json: str | None) -> list[Finding]:
    """The findings that made the verdict (fatal and error first, then warnings)."""
    from einvoice.validation import explain

    order = {"fatal": 0, "error": 1, "warning": 2, "info": 3}
    found = []
    for f in _report_data(report_json).get("findings", []):
        de, en = explain.finding_view(f, "de"), explain.finding_view(f, "en")
        found.append(Finding(de.rule, de.severity, (f.get("message") or "").strip(), f.get("location"), de.bmf_class,
                             de.class_name, en.class_name, de.explanation, en.explanation, de.where, en.where))
    return sorted(found, key=lambda f: order.get(f.severity, 9))


def report_sentences(report_json: str | None, invoice) -> dict[str, str]:
    """The verdict in one sentence, German and English, with the invoice number and date the
    database holds ({} without a report)."""
    from einvoice.validation import explain

    data = _report_data(report_json)
    if not data:
        return {}
    return {lang: explain.report_view(data, number=invoice.invoice_number, issue_date=invoice.issue_date,
                                      filename=invoice.filename, lang=lang).sentence for lang in ("de", "en")}


def report_html(report_json: str | None) -> bytes | None:
    """The project's HTML validation report, rebuilt from the stored JSON report."""
    if not report_json:
        return None
    from einvoice.validation import Finding as VFinding
    from einvoice.validation import Report
    from einvoice.validation.html import render_reports

    d = json.loads(report_json)
    report = Report(path=d.get("path") or "", container=d.get("container") or "unknown", syntax=d.get("syntax") or "none",
                    not_validated_reason=d.get("not_validated_reason"),
                    profile=d.get("profile"), profile_name=d.get("profile_name"), valid=d.get("valid"),
                    stages=d.get("stages") or {}, rule_pack=d.get("rule_pack"), scenario=d.get("scenario"),
                    scenario_matched=d.get("scenario_matched"), accepted=d.get("accepted"), rules_basis=d.get("rules_basis"),
                    findings=[VFinding(rule=f["rule"], severity=f["severity"], message=f["message"], location=f.get("location"),
                                       stage=f.get("stage") or "", rule_severity=f.get("rule_severity"))
                              for f in d.get("findings", [])])
    if report.valid is None and report.not_validated_reason is None and d.get("summary", "").startswith("not validated: "):
        report.not_validated_reason = d["summary"][len("not validated: "):]
    return render_reports([report]).encode("utf-8")


def _environment(templates_directory: str | None) -> SandboxedEnvironment:
    loaders = [FileSystemLoader(templates_directory)] if templates_directory else []
    # Sandboxed: the organisation's templates are configuration, not code.
    return SandboxedEnvironment(loader=ChoiceLoader([*loaders, FileSystemLoader(str(TEMPLATES))]),
                                undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


def _render(env: SandboxedEnvironment, kind: str, part: str, context: dict) -> str:
    try:
        template = env.get_template(f"{kind}.{part}.txt.j2")
    except TemplateNotFound:
        template = env.get_template(f"{part}.txt.j2")
    return template.render(**context)


def message_id_for(notice_id: int, kind: str, file_sha256: str, domain: str) -> str:
    """Derived from the notice row: the same notice always has the same Message-ID."""
    return f"<einvoice-notice-{notice_id}-{kind}-{file_sha256[:16]}@{domain}>"


def build_message(*, settings, organisation_name: str, notice_id: int, kind: str, invoice, recipient: str,
                  channel: dict, now: dt.datetime) -> tuple[str, bytes]:
    """(Message-ID, the exact RFC 5322 bytes) of one notice."""
    if not settings.from_address:
        raise ValueError("notices.from_address is not set")
    domain = settings.message_id_domain or settings.from_address.rsplit("@", 1)[-1]
    message_id = message_id_for(notice_id, kind, invoice.file_sha256, domain)
    findings = report_findings(invoice.report_json)
    blocking = [f for f in findings if f.severity in ("fatal", "error")]
    sentences = report_sentences(invoice.report_json, invoice)
    context = {
        "kind": kind, "organisation": organisation_name, "filename": invoice.filename,
        "received": invoice.received_at.date().isoformat() if invoice.received_at else "",
        "invoice_number": invoice.invoice_number, "issue_date": invoice.issue_date.isoformat() if invoice.issue_date else None,
        "seller": invoice.seller_name, "amount_due": f"{invoice.amount_due:.2f}" if invoice.amount_due is not None else None,
        "currency": invoice.currency or "EUR", "sha256": invoice.file_sha256, "verdict": invoice.verdict or "",
        "rule_ids": sorted({f.rule for f in blocking}), "findings": blocking or findings[:20],
        "contact": settings.contact, "attachments": list(settings.attach),
        # the verdict in one sentence, as the clerk's page shows it (BMF classes and rule IDs)
        "summary_de": sentences.get("de", ""), "summary_en": sentences.get("en", ""),
    }
    env = _environment(settings.templates_directory)
    subject = " ".join(_render(env, kind, "subject", context).split())
    body = _render(env, kind, "body", context)

    msg = EmailMessage(policy=SMTP)
    msg["From"] = email.utils.formataddr((settings.from_name or organisation_name, settings.from_address))
    msg["To"] = recipient
    msg["Reply-To"] = settings.reply_to or settings.from_address
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(now.astimezone(dt.timezone.utc))
    msg["Message-ID"] = message_id
    original = channel.get("message_id")
    if isinstance(original, str) and original.strip().startswith("<"):
        msg["In-Reply-To"] = original.strip()
        msg["References"] = original.strip()
    # RFC 3834: an automatic message; auto-responders must not answer it (no mail loops).
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Einvoice-Notice"] = kind
    msg["Content-Language"] = "de, en"
    msg.set_content(body, subtype="plain", charset="utf-8", cte="quoted-printable")
    if kind != RECEIVED or findings:
        if "html" in settings.attach and invoice.report_json:
            msg.add_attachment(report_html(invoice.report_json).decode("utf-8"), subtype="html", charset="utf-8",
                               cte="base64", filename="pruefbericht.html")
        if "json" in settings.attach and invoice.report_json:
            msg.add_attachment(invoice.report_json.encode("utf-8"), maintype="application", subtype="json",
                               filename="pruefbericht.json")
    return message_id, msg.as_bytes(policy=SMTP)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
