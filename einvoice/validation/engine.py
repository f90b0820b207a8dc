"""The validation engine: one call turns the bytes of a received file into a ``Report``.

The built-in rules run as one ordered tuple of named steps (``STEPS``), the way KoSIT's validator
runs its ``DefaultCheck``: read the file → stop when there is nothing to validate → detect the
profile → select the scenario (exact BT-24 match, ``scenarios``) → XSD → § 14 UStG profile check →
EN 16931 Schematron (+ native CEN CII rules) → XRechnung CIUS rules (BR-DE and the merged Peppol
rules, native) → Factur-X XMP profile check (``xmp``) → semantic model with range checks
(``plausibility``) → verdict (the scenario's custom levels and the local overrides first). Each step
reads and writes one ``Check``; a step that decides the report sets ``Check.done`` and no later
step runs. These are the *built-in* rules, and every report says so; an installed KoSIT rule pack
is a separate engine (``einvoice.rulepacks.integration``) that decides first when it applies.

Verdict (``Report.valid``):
- ``True``  every applicable stage ran and no finding of severity fatal/error remains;
- ``False`` the document was read and breaks at least one rule in a stage that ran (even when a
  later stage could not run), or is not well-formed XML, or matches no scenario, or is a
  Factur-X MINIMUM / BASIC WL document (no invoice under § 14 UStG, ``intake.NOT_INVOICE_PROFILES``);
- ``None``  not validated: not an e-invoice we can check (plain PDF, unsupported or legacy
  format, too large) or a stage could not run (e.g. Saxon failed). Never "valid".

Stage states: ``passed``/``failed`` (ran), ``skipped`` (does not apply to this document, e.g. BR-DE
rules for a non-XRechnung invoice; never used for a stage that should have run), ``error``
(should have run but could not: the verdict becomes ``None``).

This module must never re-serialise the received XML before running rules, never report
``valid=True`` when a stage errored, and never raise for bad input (internal failures become a
finding ``ENGINE_ERROR`` and ``valid=None``). No Prefect imports here.
"""
from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from einvoice import intake as _intake
from einvoice.validation import (
    brde,
    codelists,
    en16931,
    leitweg_check,
    peppol,
    plausibility,
    scenarios,
    schematron,
    xmp,
    xsd,
)
from einvoice.validation.config import ValidationConfig
from einvoice.validation.report import Finding, Report
from einvoice.validation.stages import STAGES

#: the rule of the finding that says the validator itself failed on a file (never a verdict)
ENGINE_ERROR = "ENGINE-ERROR"
#: the rule of the finding that says a file took longer than the time budget (``einvoice.pipeline``)
VALIDATION_TIMEOUT = "VALIDATION-TIMEOUT"

_DEFAULT = ValidationConfig()

# Problems of the input itself: the document is rejected (False), not "not validated" (None).
# A broken Peppol envelope (einvoice.intake.sbdh) is a failed delivery the sender must repeat: rejected too.
_REJECTING_PARSE_RULES = {"XML-SYNTAX", "XML-ENCODING", "XML-DOCTYPE", "XML-EMPTY", "INTAKE-EMPTY",
                          "SBDH-HEADER", "SBDH-NO-PAYLOAD", "SBDH-MULTIPLE-PAYLOADS"}

#: findings that say a stage could not run (not that the invoice broke a rule)
_STAGE_ERROR_RULES = frozenset({"XSD-ERROR", "EN16931-ERROR", "XRECHNUNG-ERROR", "MODEL", ENGINE_ERROR, VALIDATION_TIMEOUT})

#: the syntaxes the rule layers know (ZUGFeRD 1.0 and foreign formats are only recognised)
_RULE_SYNTAXES = ("ubl-invoice", "ubl-creditnote", "cii")


def warm(*, facturx: bool = True) -> None:
    """Load the schemas and compile the stylesheets now (call before forking workers).

    ``facturx=False`` prepares only what XRechnung needs (UBL, and CII without the Factur-X
    patterns); the Factur-X/ZUGFeRD stylesheets (about 0.8 s each) are then compiled by the
    first worker that meets such a PDF."""
    for key in ("ubl-invoice", "ubl-creditnote", "cii", "cii-facturx-basicwl", "cii-facturx-basic", "cii-facturx-en16931", "cii-facturx-extended", "cii-facturx-minimum"):
        xsd.schema(key)
    if facturx:
        schematron.warm()
    else:
        schematron.executable("en16931-ubl")
        schematron.executable("en16931-cii-facturx", cen_only=True)
    codelists.lists()
    from einvoice.rulepacks import integration as rulepacks

    rulepacks.warm()  # the installed rule packs active today (verified, compiled)


def validate(data: bytes, path: str = "", *, config: ValidationConfig | None = None, received=None) -> Report:
    """Validate one received file (XML or PDF bytes). Never raises for bad input.

    ``received`` (a date, default today) chooses among installed rule packs by validity window."""
    cfg = config or _DEFAULT
    rep = Report(path=path)
    try:
        from einvoice.rulepacks import integration as rulepacks

        # an installed KoSIT rule pack decides for XRechnung/EN 16931 XML (einvoice.rulepacks)
        if not rulepacks.decide(data, rep, cfg, received):
            run_steps(data, rep, cfg)
            rulepacks.add_to(rep, cfg, received)
    except Exception as exc:  # last line of defence: a bug must not look like a verdict
        _crashed(rep, exc)
    return rep


def _crashed(rep: Report, exc: Exception) -> None:
    """Turn an internal failure into the ENGINE-ERROR finding and "not validated"."""
    rep.findings.append(
        Finding(
            ENGINE_ERROR,
            "fatal",
            f"Internal error in the validator ({type(exc).__name__}: {exc}); the invoice was NOT validated. "
            "Please report this file to the operators.",
            traceback.format_exc(limit=3).splitlines()[-1],
            "engine",
        )
    )
    rep.stages["engine"] = "error"
    rep.valid = None
    rep.not_validated_reason = "internal error in the validator"


# --------------------------------------------------------------------------------------------
# the state the steps share
# --------------------------------------------------------------------------------------------
@dataclass
class Check:
    """One run of the built-in rules over one file: the input, what the steps found so far."""

    data: bytes
    rep: Report
    cfg: ValidationConfig
    it: _intake.Intake = field(default_factory=_intake.Intake)
    #: Factur-X/ZUGFeRD profile rules apply (set by ``detect_profile``)
    facturx: bool = False
    scenario: scenarios.Scenario | None = None
    #: a MINIMUM / BASIC WL document: no invoice under § 14 UStG (set by ``check_not_an_invoice``)
    not_invoice: bool = False
    #: stages that ran (their state follows from the findings) and stages that could not run
    ran: list[str] = field(default_factory=list)
    errored: list[str] = field(default_factory=list)
    #: the report is complete; no later step runs
    done: bool = False


# --------------------------------------------------------------------------------------------
# the steps, in the order they run
# --------------------------------------------------------------------------------------------
def read_file(c: Check) -> None:
    """Intake and safe parse: container, syntax, BT-24 profile and the XML exactly as received."""
    it = c.it = _intake.detect(c.data, c.rep.path, max_file_bytes=c.cfg.max_file_bytes, max_xml_bytes=c.cfg.max_xml_bytes)
    rep = c.rep
    rep.container, rep.syntax, rep.profile, rep.profile_name, rep.xml = it.container, it.syntax, it.profile, it.profile_name, it.xml
    for p in it.problems:
        stage = "parse" if p.rule.startswith("XML-") else "intake"
        rep.findings.append(Finding(p.rule, p.severity, p.message, p.location, stage))


def stop_if_nothing_to_validate(c: Check) -> None:
    """Malformed/hostile XML is rejected (False); anything else without XML in a known syntax
    (plain PDF, other formats, legacy ZUGFeRD 1.0, over the size limit) is "not validated"."""
    it, rep = c.it, c.rep
    if it.root is not None and it.syntax not in ("unsupported", "none", "zugferd1"):
        return
    c.done = True
    parse_failed = any(f.stage == "parse" for f in rep.findings)
    rep.stages["intake"] = "failed" if any(f.stage == "intake" and f.blocking for f in rep.findings) else "passed"
    if parse_failed:
        rep.stages["parse"] = "failed"
    elif it.root is not None:
        rep.stages["parse"] = "passed"
    for st in ("xsd", "en16931", "xrechnung"):
        rep.stages[st] = "skipped"
    _apply_overrides(rep, c.cfg)
    _order_stages(rep)
    if any(p.rule in _REJECTING_PARSE_RULES for p in it.problems):
        rep.valid = False
        return
    rep.valid = None
    rep.not_validated_reason = _why_not_validated(it)


def _why_not_validated(it: _intake.Intake) -> str:
    if it.syntax == "zugferd1":
        return "ZUGFeRD 1.0 (legacy format) is recognised but not validated"
    if it.syntax == "unsupported":
        return "unsupported format (not UBL or CII)"
    if any(p.rule == "PDF-NO-XML" for p in it.problems):
        return "plain PDF without structured invoice data"
    if it.problems:
        return it.problems[0].message
    return "no invoice found"


def detect_profile(c: Check) -> None:
    """Intake and parse passed; decide whether the Factur-X/ZUGFeRD profile rules apply."""
    rep, it = c.rep, c.it
    # an envelope problem (einvoice.intake.sbdh) fails intake even though its payload can be checked
    rep.stages["intake"] = "failed" if any(f.stage == "intake" and f.blocking for f in rep.findings) else "passed"
    rep.stages["parse"] = "passed"
    # Factur-X/ZUGFeRD rules apply to documents that declare a Factur-X/ZUGFeRD guideline, and to
    # hybrid PDFs unless their XML declares XRechnung (the EN16931 profile's guideline ID is the
    # plain "urn:cen.eu:en16931:2017", so the container is the only hint there).
    c.facturx = _intake.is_facturx(it.profile) or (it.container == "pdf" and not _intake.is_xrechnung(it.profile))


def select_scenario(c: Check) -> None:
    """The exact specification identifier (BT-24) picks the scenario, as in KoSIT's validator."""
    rep, it = c.rep, c.it
    choice = scenarios.select(it.root, it.syntax, facturx=c.facturx)
    c.scenario = choice.scenario
    rep.scenario = c.scenario.name if c.scenario else None
    if choice.outcome != "matched" and it.syntax in _RULE_SYNTAXES:
        rep.findings.append(Finding("KOSIT-SCENARIO", "error" if choice.rejects else "info",
                                    scenarios.message(choice, it.syntax), "BT-24", "intake"))
        if choice.rejects:
            rep.stages["intake"] = "failed"


def check_xsd(c: Check) -> None:
    """The XML schema of the syntax and profile."""
    it = c.it
    key = xsd.xsd_key(it.syntax, it.profile_name, c.facturx)
    try:
        for msg, loc in xsd.validate_xsd(it.root, key):
            c.rep.findings.append(Finding("XSD", "fatal", f"Schema violation ({key}): {msg}", loc, "xsd"))
        c.ran.append("xsd")
    except Exception as exc:
        c.rep.findings.append(Finding("XSD-ERROR", "fatal", f"The XML schema {key} could not be applied: {exc}", None, "xsd"))
        c.errored.append("xsd")


def check_not_an_invoice(c: Check) -> None:
    """§ 14 UStG: MINIMUM and BASIC WL carry too little data to be an invoice."""
    c.not_invoice = _intake.not_an_invoice(c.it.profile_name)
    if not c.not_invoice:
        return
    c.rep.findings.append(
        Finding(
            "DE-USTG-14",
            "fatal",
            f"Factur-X/ZUGFeRD profile {c.it.profile_name}: this document is not an invoice under German VAT law "
            "(§ 14 UStG) — it lacks the invoice lines/VAT data. Keep it as a document, but ask the sender for an "
            "invoice in profile EN 16931 (COMFORT), EXTENDED or XRECHNUNG.",
            None,
            "profile",
        )
    )
    c.rep.stages["en16931"] = "skipped"


def check_en16931(c: Check) -> None:
    """The EN 16931 business rules (Schematron, plus our native CII rules)."""
    if c.not_invoice:
        return
    if not c.cfg.schematron:
        c.errored.append("en16931")
        c.rep.not_validated_reason = "EN 16931 rules switched off in the configuration"
        return
    it = c.it
    try:
        c.rep.findings.extend(en16931.run(it.xml, it.root, it.syntax, facturx=c.facturx, profile_name=it.profile_name))
        c.ran.append("en16931")
    except Exception as exc:
        _en16931_could_not_run(c, exc)


def _en16931_could_not_run(c: Check, exc: Exception) -> None:
    from einvoice.xml.safe import limits_problem

    rep, it = c.rep, c.it
    # A document beyond the rule processor's parser limits is rejected as a format error
    # with the reason (KoSIT's parser refuses it too); anything else is "not validated".
    limit = limits_problem(it.root)
    if limit is not None:
        rep.findings.append(Finding(limit.rule, "fatal", limit.message, limit.location, "parse"))
        rep.stages["parse"] = "failed"
    rep.findings.append(
        Finding("EN16931-ERROR", "fatal", f"The EN 16931 business rules could not be run: {str(exc)[:500]}", None, "en16931")
    )
    c.errored.append("en16931")
    if it.syntax == "cii":
        try:  # our own CII rules still run: their violations decide "invalid"
            rep.findings.extend(en16931.native_cii(it.root, facturx=c.facturx))
        except Exception:  # noqa: BLE001 - the stage is already marked as not run
            pass


def check_xrechnung(c: Check) -> None:
    """The XRechnung CIUS (BR-DE) and the Peppol rules KoSIT merged into it, native."""
    rep, it = c.rep, c.it
    if it.syntax not in _RULE_SYNTAXES:
        return
    # an XRechnung scenario, or an identifier that claims XRechnung without matching one
    # (rejected by KOSIT-SCENARIO; the rules still tell the sender what else is wrong)
    declared = c.scenario.xrechnung if c.scenario is not None else _intake.is_xrechnung(it.profile)
    if not (declared or c.cfg.xrechnung_rules_for_all):
        rep.stages["xrechnung"] = "skipped"
        return
    try:
        extension = c.scenario.extension if c.scenario is not None else False
        for v in brde.check(it.root, it.syntax, extension=extension):
            rep.findings.append(Finding(v.rule, v.severity if declared else "info", v.message, v.location, "xrechnung"))
        for f in peppol.check(it.root, it.syntax):
            rep.findings.append(f if declared else Finding(f.rule, "info", f.message, f.location, f.stage))
        if declared:
            c.ran.append("xrechnung")
            advice = leitweg_check.finding(it.root, it.syntax)
            if advice is not None:
                rep.findings.append(advice)
        else:
            rep.stages["xrechnung"] = "skipped"
    except Exception as exc:
        # only an XRechnung depends on these rules; for others they were advice
        rep.findings.append(
            Finding("XRECHNUNG-ERROR", "fatal" if declared else "warning", f"The XRechnung rules could not be run: {exc}", None, "xrechnung")
        )
        if declared:
            c.errored.append("xrechnung")


def check_pdf_profile(c: Check) -> None:
    """Factur-X XMP conformance level of a PDF vs the XML's guideline ID."""
    if c.it.container == "pdf":
        c.ran.append("profile")
        c.rep.findings.extend(xmp.profile_findings(c.it))
    elif c.not_invoice:
        c.ran.append("profile")


def check_model(c: Check) -> None:
    """The semantic model: later steps read the invoice through it, so an invoice whose model
    cannot be built, or whose dates/amounts/Skonto terms are out of range, is never "valid"."""
    rep, it = c.rep, c.it
    if not (c.cfg.build_model and it.syntax in _RULE_SYNTAXES):
        return
    from einvoice.model import invoice_from_xml

    try:
        rep.model = invoice_from_xml(it.root, it.syntax)
    except Exception as exc:  # noqa: BLE001 - reported as a finding, the verdict says "not validated"
        rep.findings.append(plausibility.unreadable_model(exc))
        c.errored.append("model")
        rep.not_validated_reason = plausibility.MODEL_UNREADABLE
        return
    found = plausibility.check(rep.model)
    rep.findings.extend(found)
    if found:
        c.ran.append("model")
    rep.findings.extend(plausibility.skonto_warnings(rep.model))


def verdict(c: Check) -> None:
    """Apply the scenario's custom levels and the overrides, set stage states from the findings,
    decide the verdict."""
    rep = c.rep
    rep.findings = scenarios.apply_custom_levels(rep.findings, c.scenario)
    _apply_overrides(rep, c.cfg)
    for st in c.ran:
        rep.stages[st] = "failed" if any(f.blocking and f.stage == st for f in rep.findings) else "passed"
    for st in c.errored:
        rep.stages[st] = "error"
    _order_stages(rep)
    # A rule broken in a stage that ran decides "invalid" even when a later stage could not run
    # (KoSIT stops after a failed XSD and rejects); the errored stage's own finding does not count.
    broken = any(f.blocking and f.rule not in _STAGE_ERROR_RULES for f in rep.findings)
    if c.errored and not broken:
        rep.valid = None
        rep.not_validated_reason = rep.not_validated_reason or f"stage {', '.join(c.errored)} could not run"
    else:
        rep.valid = not any(f.blocking for f in rep.findings if f.rule not in _STAGE_ERROR_RULES)
        if rep.valid is False:
            rep.not_validated_reason = None
    c.done = True


#: the built-in rules, in the order they run
STEPS: tuple[Callable[[Check], None], ...] = (
    read_file,
    stop_if_nothing_to_validate,
    detect_profile,
    select_scenario,
    check_xsd,
    check_not_an_invoice,
    check_en16931,
    check_xrechnung,
    check_pdf_profile,
    check_model,
    verdict,
)


def run_steps(data: bytes, rep: Report, cfg: ValidationConfig) -> Check:
    """Run ``STEPS`` over one file into ``rep`` until a step completes the report."""
    c = Check(data, rep, cfg)
    for step in STEPS:
        step(c)
        if c.done:
            break
    return c


# --------------------------------------------------------------------------------------------
# helpers of more than one step
# --------------------------------------------------------------------------------------------
def _apply_overrides(rep: Report, cfg: ValidationConfig) -> None:
    if cfg.severity_overrides:
        rep.findings = [
            Finding(f.rule, cfg.severity_overrides[f.rule], f.message, f.location, f.stage) if f.rule in cfg.severity_overrides else f
            for f in rep.findings
        ]


def _order_stages(rep: Report) -> None:
    rep.stages = {k: rep.stages[k] for k in sorted(rep.stages, key=lambda s: STAGES.index(s) if s in STAGES else 99)}
