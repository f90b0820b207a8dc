"""Validation findings and the report users read (text summary, JSON; the HTML view is
``einvoice.validation.html``, which imports this module, never the reverse).

Each finding carries its BMF class (``explain.bmf_class``: format, business rule, content) and,
in the JSON, its explanation and readable location in German and English beside the official
rule text (``message``); the report carries the class of its verdict and the verdict as one
sentence a clerk can paste into a reply (``sentence``). ``summary`` stays the short technical
line earlier versions wrote.

The report states plainly whether an invoice was validated at all: ``valid`` is True only when
every stage that applies ran and passed; a stage that was skipped for a reason that matters or
that failed to run makes ``valid`` None ("not validated"). This module must never turn an
unknown result into "valid", and never drop a finding to make a report look better.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from einvoice.language import LANGUAGES, language
from einvoice.validation import explain
from einvoice.validation.stages import SEVERITY_ORDER, STAGES

if TYPE_CHECKING:  # pragma: no cover
    from einvoice.model import Invoice

Severity = Literal["fatal", "error", "warning", "info"]
StageState = Literal["passed", "failed", "skipped", "error"]


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    location: str | None
    stage: str
    #: the severity the rule file gives (e.g. a Schematron flag) when it differs in kind from
    #: ``severity``, which is the effective one after custom levels (rule packs) and overrides
    rule_severity: str | None = None

    def to_dict(self) -> dict:
        return {"rule": self.rule, "severity": self.severity, "effective_severity": self.severity,
                "rule_severity": self.rule_severity or self.severity, "message": self.message,
                "location": self.location, "stage": self.stage, "bmf_class": self.bmf_class,
                "explanation": {lang: self.explanation(lang) for lang in LANGUAGES},
                "where": {lang: self.where(lang) for lang in LANGUAGES}}

    @property
    def bmf_class(self) -> str:
        """``format``, ``business_rule``, ``content`` or ``not_checked`` (BMF-Schreiben 15.10.2025)."""
        return explain.bmf_class(self.rule, self.stage)

    def explanation(self, lang: str | None = None) -> str:
        """What the finding means, in German (default) or English, with the business terms it names."""
        return explain.explanation(self.rule, self.message, self.location, self.stage, lang)

    def where(self, lang: str | None = None) -> str | None:
        """The location as business term and position ("Rechnungsposition 3 › … (BT-131)")."""
        return explain.where(self.location, lang)

    @property
    def blocking(self) -> bool:
        return self.severity in ("fatal", "error")


@dataclass
class Report:
    path: str
    container: Literal["xml", "pdf", "unknown"] = "unknown"
    syntax: str = "none"
    profile: str | None = None
    profile_name: str | None = None
    valid: bool | None = None
    findings: list[Finding] = field(default_factory=list)
    stages: dict[str, StageState] = field(default_factory=dict)
    xml: bytes | None = None
    model: "Invoice | None" = None
    #: why the invoice was not validated (valid is None), in words
    not_validated_reason: str | None = None
    #: the installed rule pack that decided (einvoice.rulepacks), the KoSIT scenario the document
    #: matched (built-in rules: the scenario of the same name, None = no scenario, see finding
    #: KOSIT-SCENARIO), KoSIT's accept decision, and what the verdict rests on in words (the built-in
    #: engine always says "built-in rules, not the official KoSIT configuration")
    rule_pack: str | None = None
    scenario: str | None = None
    scenario_matched: bool | None = None
    accepted: bool | None = None
    rules_basis: str | None = None

    # ---------------------------------------------------------------- views
    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def rule_ids(self, *, severities=("fatal", "error"), stage: str | None = None) -> set[str]:
        return {f.rule for f in self.findings if f.severity in severities and (stage is None or f.stage == stage)}

    def summary(self) -> str:
        """One line a clerk understands."""
        if self.valid is True:
            w = len(self.warnings)
            return "valid" + (f" ({w} warning{'s' if w != 1 else ''})" if w else "")
        if self.valid is None:
            return "not validated: " + (self.not_validated_reason or "a validation stage could not run")
        errs = sorted(self.errors, key=lambda f: (SEVERITY_ORDER[f.severity], STAGES.index(f.stage) if f.stage in STAGES else 99))
        if not errs:
            return "invalid"
        first = errs[0]
        text = first.message.split("\n")[0]
        if len(text) > 140:
            text = text[:137] + "..."
        head = text if text.startswith(f"[{first.rule}]") or text.startswith(first.rule) else f"{first.rule} {text}"
        more = len(errs) - 1
        return f"invalid: {head}" + (f"; +{more} more" if more else "")

    @property
    def bmf_class(self) -> str | None:
        """The BMF class of the verdict (the gravest class of its blocking findings; None when valid
        or when only a check could not run)."""
        return explain.verdict_class(self.valid, self.findings, self.not_validated_reason)

    def sentence(self, lang: str | None = None) -> str:
        """The verdict in one sentence for a reply to the supplier ("Die Rechnung RE-123 vom
        01.12.2026 ist keine gültige E-Rechnung: 2 Geschäftsregelfehler (BR-CO-15, BR-DE-1).")."""
        model = self.model
        return explain.sentence(self.valid, self.findings, number=getattr(model, "invoice_number", None),
                                issue_date=getattr(model, "issue_date", None), filename=self.path,
                                reason=self.not_validated_reason, lang=lang)

    def to_dict(self) -> dict:
        model = self.model
        issue_date = getattr(model, "issue_date", None)
        return {
            "path": self.path,
            "container": self.container,
            "syntax": self.syntax,
            "profile": self.profile,
            "profile_name": self.profile_name,
            "valid": self.valid,
            "summary": self.summary(),
            "findings": [f.to_dict() for f in self.findings],
            "stages": dict(self.stages),
            "rule_pack": self.rule_pack,
            "scenario": self.scenario,
            "scenario_matched": self.scenario_matched,
            "accepted": self.accepted,
            "rules_basis": self.rules_basis,
            "bmf_class": self.bmf_class,
            "sentence": {lang: self.sentence(lang) for lang in LANGUAGES},
            "not_validated_reason": self.not_validated_reason,
            "invoice_number": getattr(model, "invoice_number", None),
            "issue_date": issue_date.isoformat() if hasattr(issue_date, "isoformat") else None,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


#: The forms of ``Report.summary()`` (stored as ``invoices.verdict``; code parses the English form,
#: so it stays as it is) and of the pipeline's verdicts, worded in German where a person reads them.
#: Pattern on the stored text -> German. The finding's own sentence and a reason are kept as they are.
VERDICT_DE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"valid"), "gültig"),
    (re.compile(r"valid \(1 warning\)"), "gültig (1 Warnung)"),
    (re.compile(r"valid \((?P<n>\d+) warnings\)"), "gültig ({n} Warnungen)"),
    (re.compile(r"invalid"), "ungültig"),
    (re.compile(r"invalid: (?P<head>.*); \+(?P<n>\d+) more", re.S), "ungültig: {head}; +{n} weitere"),
    (re.compile(r"invalid: (?P<head>.*)", re.S), "ungültig: {head}"),
    (re.compile(r"not validated: a validation stage could not run"), "nicht geprüft: eine Prüfstufe konnte nicht laufen"),
    (re.compile(r"not validated: validation time budget exceeded"), "nicht geprüft: die Prüfzeit wurde überschritten"),
    (re.compile(r"not validated: internal error in the validator"), "nicht geprüft: interner Fehler der Prüfung"),
    (re.compile(r"not validated: EN 16931 rules switched off in the configuration"),
     "nicht geprüft: die EN-16931-Regeln sind in der Konfiguration abgeschaltet"),
    (re.compile(r"not validated: stage (?P<stages>.*) could not run", re.S), "nicht geprüft: Stufe {stages} konnte nicht laufen"),
    (re.compile(r"not validated: (?P<why>.*)", re.S), "nicht geprüft: {why}"),
]
#: Verdicts the pipeline stores in German (files that never got a report) -> English.
VERDICT_EN: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"nicht archiviert, bleibt im Eingang: (?P<why>.*)", re.S), "not archived, stays in the inbox: {why}"),
]


def verdict_text(stored: str | None, lang: str | None = None) -> str:
    """A stored verdict (``Report.summary()`` or a pipeline verdict) in the language set; text of
    another form is shown as stored."""
    text = stored or ""
    for pattern, wording in VERDICT_DE if (lang or language()) != "en" else VERDICT_EN:
        m = pattern.fullmatch(text)
        if m:
            return wording.format(**m.groupdict())
    return text
