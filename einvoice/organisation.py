"""The organisation file: who the municipality is, its departments, people, roles and limits.

Everything a municipality decides locally in its *Dienstanweisung* (departments, Leitweg-IDs,
cost centres, who may certify or order payment up to which amount, deputies, archive retention,
finance connector) lives in one YAML file, validated on load. Errors name the field and say what
is wrong, so the person editing the file can fix it. This module must never hold such decisions
as constants in code, and never read secrets (those come from the environment).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class OrganisationConfigError(ValueError):
    """The organisation file cannot be used; the message lists every problem with its location."""


class Role(StrEnum):
    """Roles in the approval chain (NRW § 31 KomHVO; Nds. § 42 KomHKVO; Bay. § 41 KommHV)."""

    SACHLICH = "sachlich"          # certifies sachliche Richtigkeit (delivered as ordered)
    RECHNERISCH = "rechnerisch"    # certifies rechnerische Richtigkeit (amounts, VAT, arithmetic)
    ANORDNEN = "anordnen"          # gives the Anordnung (payment order), needs Anordnungsbefugnis
    CENTRAL_DESK = "central_desk"  # zentrale Rechnungseingangsstelle: unroutable invoices
    TREASURY = "treasury"          # Stadtkasse: release and payment
    BOOKKEEPING = "bookkeeping"    # Finanzbuchhaltung: resolves postings the finance system refused
    AUDITOR = "auditor"            # Rechnungsprüfung: read only
    HEAD = "head"                  # department head: receives escalations


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


LeitwegId = Annotated[str, Field(min_length=5, max_length=46)]


class Department(_Model):
    code: str = Field(description="short code, e.g. the KGSt Amt number '66'")
    name: str
    leitweg_ids: list[LeitwegId] = Field(default_factory=list, description="BT-10 values addressed to this department")
    cost_centres: list[str] = Field(default_factory=list, description="Kostenstellen")
    products: list[str] = Field(default_factory=list, description="Produkte, e.g. '01.10.01'")
    order_prefixes: list[str] = Field(default_factory=list, description="BT-13 order reference prefixes")
    default_account: str | None = Field(default=None, description="Sachkonto used when nothing else is known")

    @field_validator("leitweg_ids")
    @classmethod
    def _check_leitweg_ids(cls, values: list[str]) -> list[str]:
        from einvoice.identifiers.leitweg import check_leitweg_id

        for v in values:
            problems = check_leitweg_id(v)
            if problems:
                raise ValueError(f"Leitweg-ID {v!r}: " + "; ".join(problems))
        return values


class Supplier(_Model):
    name: str
    vat_id: str | None = Field(default=None, description="BT-31")
    seller_id: str | None = Field(default=None, description="BT-29")
    iban: str | None = Field(default=None, description="BT-84 as agreed in the supplier master data")
    default_department: str | None = None


class RoleGrant(_Model):
    department: str
    role: Role
    limit_eur: Decimal | None = Field(default=None, description="value limit (Wertgrenze); none = unlimited")


class Person(_Model):
    id: str = Field(pattern=r"^[a-z0-9._-]+$")
    name: str
    email: str | None = None
    grants: list[RoleGrant] = Field(default_factory=list)


class Deputy(_Model):
    """Vertretung: `deputy` may act for `person` only while `person` is absent."""

    person: str
    deputy: str
    absent_from: dt.date
    absent_to: dt.date

    @model_validator(mode="after")
    def _period(self) -> "Deputy":
        if self.absent_to < self.absent_from:
            raise ValueError(f"absence of {self.person}: absent_to {self.absent_to} is before absent_from {self.absent_from}")
        if self.person == self.deputy:
            raise ValueError(f"{self.person} cannot be their own deputy")
        return self


#: The certification steps one person may be allowed to combine (``approval.separation_of_duties``).
CERTIFICATION_STEPS = ("sachlich", "rechnerisch", "anordnung")

#: Step pairs no Dienstanweisung can allow one person to combine: who orders the payment must not
#: have certified the amounts (§ 31 KomHVO NRW, § 42 KomHKVO Nds., VV Nr. 2.3 zu § 70 BHO), and the
#: Freigabe is by definition a second person.
FORBIDDEN_STEP_COMBINATIONS = frozenset({frozenset({"rechnerisch", "anordnung"})})

StepName = Literal["sachlich", "rechnerisch", "anordnung"]


class StepCombinations(_Model):
    """Which approval steps of one invoice one person may sign together (the rest: one person, one step)."""

    may_combine: list[Annotated[list[StepName], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list,
        description="pairs of steps one person may sign on the same invoice, e.g. [[sachlich, rechnerisch]] "
                    "where the Dienstanweisung allows a combined certification (NRW, Nds., VV-LHO). "
                    "Empty (the default): every step by another person. rechnerisch+anordnung is never allowed.")

    @field_validator("may_combine")
    @classmethod
    def _lawful(cls, pairs: list[list[str]]) -> list[list[str]]:
        for pair in pairs:
            if pair[0] == pair[1]:
                raise ValueError(f"may_combine {pair}: name two different steps")
            if frozenset(pair) in FORBIDDEN_STEP_COMBINATIONS:
                raise ValueError(f"may_combine {pair}: whoever gives the Anordnung must not have certified the "
                                 "rechnerische Richtigkeit (§ 31 KomHVO NRW); no Dienstanweisung can allow this")
        return pairs

    def pairs(self) -> frozenset[frozenset[str]]:
        return frozenset(frozenset(p) for p in self.may_combine)


class SeparationOfDuties(StepCombinations):
    """Default combinations for every department, and per-department ones that replace them."""

    departments: dict[str, StepCombinations] = Field(
        default_factory=dict, description="department code -> its own may_combine (replaces the default there)")


class ApprovalRules(_Model):
    two_person_release: bool = Field(default=True, description="NRW § 31 KomHVO: payment order released by two employees")
    reminder_after_days: int = 3
    escalate_after_days: int = 7
    separation_of_duties: SeparationOfDuties = Field(
        default_factory=SeparationOfDuties,
        description="which steps one person may combine (default: none; one person, one step)")

    def combinable(self, department: str | None, step_a: str, step_b: str) -> bool:
        """May one person sign both ``step_a`` and ``step_b`` of one invoice in ``department``?"""
        sod = self.separation_of_duties
        own = sod.departments.get(department or "")
        return frozenset((str(step_a), str(step_b))) in (own or sod).pairs()


class DuplicateRules(_Model):
    """Duplicate detection (einvoice.approval.duplicates): what counts as the same invoice twice."""

    enabled: bool = Field(default=True, description="flag duplicates when an invoice enters approval")
    near_duplicates: bool = Field(default=True, description="also flag same seller + amount + issue date with an invoice number that differs only in punctuation, leading zeros or case")
    ignore_states: list[str] = Field(default_factory=lambda: ["rejected", "not_an_invoice"], description="earlier invoices in these states never count as the original")

    @field_validator("ignore_states")
    @classmethod
    def _known_states(cls, values: list[str]) -> list[str]:
        from einvoice.states import InvoiceState

        unknown = [v for v in values if v not in {s.value for s in InvoiceState}]
        if unknown:
            raise ValueError(f"unknown invoice state(s) {unknown}; known: {', '.join(s.value for s in InvoiceState)}")
        return values


#: Retention classes per kind of archive entry (keys of ``archive.retention_years``; which entry
#: runs on which clock is ``einvoice.retention``'s, the classes and their legal defaults are here,
#: where the organisation file is read and completed).
INVOICE = "invoice"                # the received document and its validation report (Beleg)
APPROVAL_TRAIL = "approval-trail"  # who certified, ordered and released a payment (Beleg)
PAYMENT_FILE = "payment-file"      # a pain.001 payment run (Beleg)
POSTING_RECORD = "posting-record"  # the booking in the finance system (books)
PROCEDURE = "procedure"            # the Verfahrensdokumentation
DEFAULT_YEARS = {INVOICE: 8, APPROVAL_TRAIL: 8, PAYMENT_FILE: 8, POSTING_RECORD: 10, PROCEDURE: 10}

#: The severities of a validation finding, most severe first (``validation_severity_overrides``
#: may set a rule to any of them; ``einvoice.validation.config`` applies them).
SEVERITIES = ("fatal", "error", "warning", "info")


def _default_retention_years() -> dict[str, int]:
    return dict(DEFAULT_YEARS)


class ArchiveSettings(_Model):
    bucket: str = "einvoice-archive"
    retention_years: dict[str, Annotated[int, Field(ge=1, le=100)]] = Field(
        default_factory=_default_retention_years,
        description="years each retention class is kept, from the end of the calendar year of receipt or "
                    "booking: invoice, approval-trail, payment-file (Belege, default 8), posting-record and "
                    "procedure (books, Verfahrensdokumentation, default 10); classes not named keep their "
                    "default. Longer municipal periods are decided later: einvoice extend-retention")

    @field_validator("retention_years")
    @classmethod
    def _retention_years(cls, value: dict[str, int]) -> dict[str, int]:
        # Classes the file does not name keep the legal default: an entry kind is never unconfigured.
        return {**_default_retention_years(), **value}


class WebhookSettings(_Model):
    """HTTP webhook connector: one signed JSON POST per posting record."""

    url: str | None = Field(default=None, description="endpoint of the finance system that receives posting records")
    hmac_secret_env: str = Field(default="EINVOICE_FINANCE_HMAC_SECRET", pattern=r"^[A-Z_][A-Z0-9_]*$",
                                 description="NAME of the environment variable holding the HMAC-SHA256 key (never the key itself)")
    timeout_seconds: float = Field(default=10.0, gt=0, description="per request; a slower answer counts as a failed attempt")
    signature_header: str = "X-Einvoice-Signature"
    timestamp_header: str = "X-Einvoice-Timestamp"
    idempotency_header: str = "Idempotency-Key"


class FileExportSettings(_Model):
    """File connector: one JSON and one CSV file per batch, written atomically into a directory."""

    directory: str = Field(default="var/finance-export", description="directory the finance system imports from")
    formats: list[Literal["json", "csv"]] = Field(default_factory=lambda: ["json", "csv"], min_length=1)
    csv_delimiter: str = Field(default=";", min_length=1, max_length=1)
    receipts_directory: str | None = Field(default=None, description="where the finance system drops receipt CSVs "
                                           "(idempotency_key;booking_number;status[;message]) that confirm or reject exported records")


class PullSettings(_Model):
    """Pull connector: the finance system fetches pending records over HTTP and acknowledges each."""

    token_env: str = Field(default="EINVOICE_FINANCE_PULL_TOKEN", pattern=r"^[A-Z_][A-Z0-9_]*$",
                           description="NAME of the environment variable holding the bearer token")
    max_batch: int = Field(default=100, ge=1, le=1000)


class RetrySettings(_Model):
    max_attempts: int = Field(default=8, ge=1, description="after this many failed attempts a record goes to the dead letters")
    backoff_initial_seconds: float = Field(default=30.0, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    backoff_max_seconds: float = Field(default=3600.0, ge=0)
    lease_seconds: float = Field(default=300.0, gt=0, description="a delivery that has not finished after this long is taken over (crash recovery); must exceed the webhook timeout")


class Payer(_Model):
    """The body's own account, debited by SEPA payment runs (pain.001 Dbtr / DbtrAcct / DbtrAgt)."""

    name: str = Field(max_length=140)
    iban: str
    bic: str | None = None
    initiating_party: str | None = Field(default=None, max_length=140, description="InitgPty/Nm; defaults to name")

    @field_validator("iban")
    @classmethod
    def _check_iban(cls, v: str) -> str:
        from stdnum import iban
        from stdnum.exceptions import ValidationError as _Invalid

        try:
            return iban.validate(v)
        except _Invalid as exc:
            raise ValueError(f"payer IBAN {v!r} is not valid: {exc}") from None

    @field_validator("bic")
    @classmethod
    def _check_bic(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from stdnum import bic
        from stdnum.exceptions import ValidationError as _Invalid

        try:
            return bic.validate(v)
        except _Invalid as exc:
            raise ValueError(f"payer BIC {v!r} is not valid: {exc}") from None


class FinanceSettings(_Model):
    """Connection to the finance system (posting records) and the bank (SEPA payment files)."""

    connector: Literal["webhook", "file", "pull"] = Field(default="file", description="how posting records reach the finance system")
    webhook: WebhookSettings = WebhookSettings()
    file: FileExportSettings = FileExportSettings()
    pull: PullSettings = PullSettings()
    retry: RetrySettings = RetrySettings()
    default_account: str | None = Field(default=None, description="Sachkonto when neither the approver, the invoice nor the department names one")
    budget_year_from: Literal["release", "issue_date", "due_date"] = Field(
        default="release", description="which date decides the Haushaltsjahr of a posting")
    payer: Payer | None = Field(default=None, description="the body's own account for SEPA payment runs")
    payment_message_prefix: str = Field(default="EINV", pattern=r"^[A-Za-z0-9]{1,8}$", description="prefix of pain.001 MsgId")
    check_supplier_iban: bool = Field(default=True, description="hold payments whose IBAN differs from the supplier master data")

    @model_validator(mode="after")
    def _consistent(self) -> "FinanceSettings":
        if self.connector == "webhook" and not self.webhook.url:
            raise ValueError("finance.connector is 'webhook' but finance.webhook.url is not set")
        if self.connector == "webhook" and self.retry.lease_seconds <= self.webhook.timeout_seconds:
            raise ValueError(f"finance.retry.lease_seconds ({self.retry.lease_seconds}) must be longer than "
                             f"finance.webhook.timeout_seconds ({self.webhook.timeout_seconds})")
        return self


class MailFolders(_Model):
    """Where the mailbox reader moves each message once its files are archived and recorded."""

    inbox: str = Field(default="INBOX", description="folder read for new messages")
    processed: str = Field(default="Verarbeitet", description="messages with exactly one e-invoice")
    no_invoice: str = Field(default="Keine-Rechnung", description="messages without an e-invoice (or whose MIME "
                                                                  "structure could not be read)")
    several_invoices: str = Field(default="Mehrere-Rechnungen", description="messages with more than one e-invoice "
                                                                            "(e-mail channels take one invoice per mail)")
    too_large: str = Field(default="Zu-gross", description="messages above max_message_mb (not read)")

    @field_validator("inbox", "processed", "no_invoice", "several_invoices", "too_large")
    @classmethod
    def _ascii(cls, value: str) -> str:
        # IMAP folder names outside ASCII need modified UTF-7 (RFC 3501 5.1.3), which the reader does not do.
        if not value or not all(" " <= ch <= "~" for ch in value):
            raise ValueError(f"mail folder {value!r}: use ASCII letters, digits and -_. (e.g. Zu-gross, not Zu-groß)")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> "MailFolders":
        names = [self.inbox, self.processed, self.no_invoice, self.several_invoices, self.too_large]
        if len(set(names)) != len(names):
            raise ValueError(f"mail folders must all differ (the inbox is read again each run): {names}")
        return self


class MailSettings(_Model):
    """The e-mail intake channel: one IMAP mailbox, read over TLS (einvoice.intake.mail)."""

    server: str = Field(description="IMAP server host name")
    port: int | None = Field(default=None, ge=1, le=65535, description="default 993 (imaps) or 143 (starttls)")
    tls: Literal["imaps", "starttls"] = Field(default="imaps", description="TLS from the first byte (imaps) or "
                                              "upgraded with STARTTLS; plaintext IMAP is not offered")
    ca_file: str | None = Field(default=None, description="PEM file of the CA that signed the server's certificate "
                                "(an internal CA); default: the system's trusted CAs")
    user: str
    password_env: str = Field(default="EINVOICE_MAIL_PASSWORD", pattern=r"^[A-Z_][A-Z0-9_]*$",
                              description="NAME of the environment variable holding the password (never the password)")
    folders: MailFolders = MailFolders()
    max_message_mb: float = Field(default=70, gt=0, le=1024, description="larger messages are not downloaded: "
                                  "moved to folders.too_large and recorded (base64 makes a 50 MB file a ~68 MB message)")
    timeout_seconds: float = Field(default=60, gt=0, description="per network operation")
    batch_size: int = Field(default=20, ge=1, le=500, description="messages archived and recorded together")

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls == "imaps" else 143)
class SmtpSettings(_Model):
    """The mail server supplier notices are sent through (the password comes from the environment)."""

    host: str | None = Field(default=None, description="SMTP server; none: notices are queued but not sent "
                                                       "(the send step says so and they wait)")
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls", description="starttls (port 587), ssl (implicit TLS, port 465) or none (only for a "
                                        "relay on the same host)")
    username: str | None = Field(default=None, description="login; none: no authentication")
    password_env: str = Field(default="EINVOICE_SMTP_PASSWORD", pattern=r"^[A-Z_][A-Z0-9_]*$",
                              description="NAME of the environment variable holding the SMTP password (never the password)")
    timeout_seconds: float = Field(default=30.0, gt=0)
    ca_file: str | None = Field(default=None, description="CA certificate(s) to trust for the server (default: the system's)")


class ApproverNoticeSettings(_Model):
    """E-mails to approvers (einvoice.notices.approvers), through the same outbox and SMTP server as
    the supplier notices; each at most once per task, reason and person; to the person's ``email``."""

    enabled: bool = Field(default=False, description="send approvers e-mails about their tasks")
    new_task: bool = Field(default=True, description="when a task opens: to everyone who may decide it")
    skonto_days_before: int | None = Field(
        default=3, ge=0, le=60, description="when an open task's Skonto ends in this many days or fewer "
                                            "(null: no Skonto e-mails); to everyone who may decide it")
    escalation: bool = Field(default=True, description="when a task has waited approval.escalate_after_days: to "
                                                       "the head of department (deputy when absent; else the central desk)")
    catch_up_days: int = Field(default=3, ge=0, le=60, description="tasks opened (or that reached the escalation "
                                                                   "age) longer ago get no e-mail: turning this on must not "
                                                                   "mail every old task, and each scan stays small")
    web_url: str | None = Field(default=None, description="address of the web inbox, for a link to the invoice, "
                                                          "e.g. https://rechnung.musterhausen.example")


class NoticeSettings(_Model):
    """Supplier notices (einvoice.notices): telling the supplier that a file was not accepted, and why."""

    enabled: bool = Field(default=True, description="queue a notice for every received file that is rejected, "
                                                    "not validated or not an e-invoice")
    acknowledge_received: bool = Field(default=False, description="also send an acknowledgement of receipt for "
                                                                  "files accepted into approval")
    from_address: str | None = Field(default=None, description="sender address of the notices, e.g. "
                                                               "rechnungseingang@musterhausen.example; required to send")
    from_name: str | None = Field(default=None, description="display name of the sender (default: the organisation's name)")
    reply_to: str | None = Field(default=None, description="where the supplier's answers go (default: from_address)")
    contact: str | None = Field(default=None, description="who the supplier can ask (phone, e-mail), quoted in the notice")
    attach: list[Literal["html", "json"]] = Field(default_factory=lambda: ["html", "json"],
                                                  description="validation report formats attached to the notice")
    templates_directory: str | None = Field(
        default=None, description="directory with own Jinja2 templates (subject.txt.j2, body.txt.j2, or "
                                  "<kind>.subject.txt.j2 / <kind>.body.txt.j2); missing ones fall back to the shipped defaults")
    message_id_domain: str | None = Field(default=None, description="domain of the Message-ID (default: from_address's)")
    smtp: SmtpSettings = SmtpSettings()
    retry: RetrySettings = Field(default_factory=lambda: RetrySettings(max_attempts=6, backoff_initial_seconds=60,
                                                                       backoff_max_seconds=3600, lease_seconds=300))
    approvers: ApproverNoticeSettings = ApproverNoticeSettings()


class Organisation(_Model):
    name: str
    leitweg_grob: str = Field(description="Grobadressierung of the body, e.g. '05999000'")
    central_desk: str = Field(description="department code of the zentrale Rechnungseingangsstelle")
    departments: list[Department]
    suppliers: list[Supplier] = Field(default_factory=list)
    people: list[Person] = Field(default_factory=list)
    deputies: list[Deputy] = Field(default_factory=list)
    approval: ApprovalRules = ApprovalRules()
    duplicates: DuplicateRules = DuplicateRules()
    archive: ArchiveSettings = ArchiveSettings()
    finance: FinanceSettings = FinanceSettings()
    mail: MailSettings | None = Field(default=None, description="the e-mail intake mailbox (einvoice mail fetch)")
    notices: NoticeSettings = NoticeSettings()
    validation_severity_overrides: dict[str, str] = Field(
        default_factory=dict, description="rule ID -> fatal|error|warning|info, e.g. {'BR-DE-21': 'info'}")

    @field_validator("validation_severity_overrides")
    @classmethod
    def _check_overrides(cls, value: dict[str, str]) -> dict[str, str]:
        overrides = {k: v.lower() for k, v in value.items()}
        for rule, severity in overrides.items():  # a typo is an error at load time, not a changed verdict
            if severity not in SEVERITIES:
                raise ValueError(f"severity override for {rule!r}: {severity!r} is not one of {', '.join(SEVERITIES)}")
        return overrides

    @model_validator(mode="after")
    def _references(self) -> "Organisation":
        codes = [d.code for d in self.departments]
        problems: list[str] = []
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            problems.append(f"departments: code(s) {sorted(dup)} used twice")
        if self.central_desk not in codes:
            problems.append(f"central_desk: {self.central_desk!r} is not a department code ({', '.join(codes)})")
        seen: dict[str, str] = {}
        for d in self.departments:
            for lw in d.leitweg_ids:
                if lw in seen:
                    problems.append(f"Leitweg-ID {lw} belongs to both {seen[lw]} and {d.code}")
                seen[lw] = d.code
        for s in self.suppliers:
            if s.default_department and s.default_department not in codes:
                problems.append(f"supplier {s.name!r}: default_department {s.default_department!r} does not exist")
        people = {p.id for p in self.people}
        for p in self.people:
            for g in p.grants:
                if g.department not in codes:
                    problems.append(f"person {p.id}: grant for unknown department {g.department!r}")
        for code in self.approval.separation_of_duties.departments:
            if code not in codes:
                problems.append(f"approval.separation_of_duties.departments: unknown department {code!r}")
        for d in self.deputies:
            for who in (d.person, d.deputy):
                if who not in people:
                    problems.append(f"deputies: unknown person {who!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # --- look-ups -------------------------------------------------------------------------
    def department(self, code: str) -> Department:
        for d in self.departments:
            if d.code == code:
                return d
        raise KeyError(code)

    def person(self, person_id: str) -> Person:
        for p in self.people:
            if p.id == person_id:
                return p
        raise KeyError(person_id)


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {loc}: {err['msg']}")
    return "\n".join(lines)


def parse_organisation(data: dict, source: str = "<dict>") -> Organisation:
    try:
        return Organisation.model_validate(data)
    except ValidationError as exc:
        raise OrganisationConfigError(f"{source}: organisation file is not valid:\n{_format_errors(exc)}") from None


def load_organisation(path: str | Path) -> Organisation:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OrganisationConfigError(f"{path}: cannot read organisation file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OrganisationConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise OrganisationConfigError(f"{path}: expected a mapping at the top level")
    return parse_organisation(data, str(path))


def json_schema() -> dict:
    """The JSON Schema of the organisation file (written to schemas/organisation.schema.json)."""
    schema = Organisation.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "einvoice organisation configuration"
    return schema
