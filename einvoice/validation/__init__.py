"""The validation engine: one call turns the bytes of a received file into a ``Report``.

Layers, in order: intake (what is it, find the XML) → safe parse → scenario (exact BT-24 match,
as KoSIT's validator; ``scenarios``) → XSD → EN 16931 Schematron (+ native CEN CII rules) →
XRechnung CIUS rules (BR-DE and the merged Peppol rules, native) → ZUGFeRD profile check (XML vs
PDF XMP) → semantic model with range checks (``plausibility``). The scenario's custom levels are
applied before the verdict. These are the *built-in* rules, and every report says so; the
official KoSIT rule pack is a separate engine.

Verdict (``Report.valid``):
- ``True``  every applicable stage ran and no finding of severity fatal/error remains;
- ``False`` the document was read and breaks at least one rule in a stage that ran (even when a
  later stage could not run), or is not well-formed XML, or matches no scenario, or is a
  Factur-X MINIMUM / BASIC WL document (no invoice under § 14 UStG);
- ``None``  not validated: not an e-invoice we can check (plain PDF, unsupported or legacy
  format, too large) or a stage could not run (e.g. Saxon failed). Never "valid".

Stage states: ``passed``/``failed`` (ran), ``skipped`` (does not apply to this document, e.g. BR-DE
rules for a non-XRechnung invoice; never used for a stage that should have run), ``error``
(should have run but could not: the verdict becomes ``None``).

This package must never re-serialise the received XML before running rules, never report
``valid=True`` when a stage errored, and never raise for bad input (internal failures become a
finding ``ENGINE-ERROR`` and ``valid=None``). No Prefect imports here.
"""
from __future__ import annotations

import traceback

from einvoice import intake as _intake
from einvoice.validation.config import ValidationConfig
from einvoice.validation.report import STAGES, Finding, Report

__all__ = ["validate", "Finding", "Report", "ValidationConfig", "warm", "STAGES"]

_DEFAULT = ValidationConfig()

# Problems of the input itself: the document is rejected (False), not "not validated" (None).
# A broken Peppol envelope (einvoice.intake.sbdh) is a failed delivery the sender must repeat: rejected too.
_REJECTING_PARSE_RULES = {"XML-SYNTAX", "XML-ENCODING", "XML-DOCTYPE", "XML-EMPTY", "INTAKE-EMPTY",
                          "SBDH-HEADER", "SBDH-NO-PAYLOAD", "SBDH-MULTIPLE-PAYLOADS"}

NOT_INVOICE_PROFILES = ("MINIMUM", "BASIC WL")


def warm(*, facturx: bool = True) -> None:
    """Load the schemas and compile the stylesheets now (call before forking workers).

    ``facturx=False`` prepares only what XRechnung needs (UBL, and CII without the Factur-X
    patterns); the Factur-X/ZUGFeRD stylesheets (about 0.8 s each) are then compiled by the
    first worker that meets such a PDF."""
    from einvoice.validation import codelists, schematron, xsd

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
            _run(data, rep, cfg)
            rulepacks.add_to(rep, cfg, received)
    except Exception as exc:  # last line of defence: a bug must not look like a verdict
        rep.findings.append(
            Finding(
                "ENGINE-ERROR",
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
    return rep


def _apply_overrides(rep: Report, cfg: ValidationConfig) -> None:
    if cfg.severity_overrides:
        rep.findings = [
            Finding(f.rule, cfg.severity_overrides[f.rule], f.message, f.location, f.stage) if f.rule in cfg.severity_overrides else f
            for f in rep.findings
        ]


def _order_stages(rep: Report) -> None:
    rep.stages = {k: rep.stages[k] for k in sorted(rep.stages, key=lambda s: STAGES.index(s) if s in STAGES else 99)}


#: findings that say a stage could not run (not that the invoice broke a rule)
_STAGE_ERROR_RULES = frozenset({"XSD-ERROR", "EN16931-ERROR", "XRECHNUNG-ERROR", "MODEL", "ENGINE-ERROR", "VALIDATION-TIMEOUT"})


def _finalise(rep: Report, cfg: ValidationConfig, ran: list[str], errored: list[str], scenario=None) -> None:
    """Apply the scenario's custom levels and the overrides, set stage states from the findings,
    decide the verdict."""
    from einvoice.validation.scenarios import apply_custom_levels

    rep.findings = apply_custom_levels(rep.findings, scenario)
    _apply_overrides(rep, cfg)
    for st in ran:
        rep.stages[st] = "failed" if any(f.blocking and f.stage == st for f in rep.findings) else "passed"
    for st in errored:
        rep.stages[st] = "error"
    _order_stages(rep)
    # A rule broken in a stage that ran decides "invalid" even when a later stage could not run
    # (KoSIT stops after a failed XSD and rejects); the errored stage's own finding does not count.
    broken = any(f.blocking and f.rule not in _STAGE_ERROR_RULES for f in rep.findings)
    if errored and not broken:
        rep.valid = None
        rep.not_validated_reason = rep.not_validated_reason or f"stage {', '.join(errored)} could not run"
    else:
        rep.valid = not any(f.blocking for f in rep.findings if f.rule not in _STAGE_ERROR_RULES)
        if rep.valid is False:
            rep.not_validated_reason = None


def _run(data: bytes, rep: Report, cfg: ValidationConfig) -> None:
    from einvoice.validation import brde, en16931, peppol, scenarios, xsd

    ran: list[str] = []
    errored: list[str] = []
    it = _intake.detect(data, rep.path, max_file_bytes=cfg.max_file_bytes, max_xml_bytes=cfg.max_xml_bytes)
    rep.container = it.container
    rep.syntax = it.syntax
    rep.profile = it.profile
    rep.profile_name = it.profile_name
    rep.xml = it.xml
    for p in it.problems:
        stage = "parse" if p.rule.startswith("XML-") else "intake"
        rep.findings.append(Finding(p.rule, p.severity, p.message, p.location, stage))

    if it.root is None or it.syntax in ("unsupported", "none", "zugferd1"):
        # Nothing we can validate. Malformed/hostile XML is rejected (False); anything else
        # (plain PDF, other formats, legacy ZUGFeRD 1.0, over the size limit) is "not validated".
        parse_failed = any(f.stage == "parse" for f in rep.findings)
        rep.stages["intake"] = "failed" if any(f.stage == "intake" and f.blocking for f in rep.findings) else "passed"
        if parse_failed:
            rep.stages["parse"] = "failed"
        elif it.root is not None:
            rep.stages["parse"] = "passed"
        for st in ("xsd", "en16931", "xrechnung"):
            rep.stages[st] = "skipped"
        _apply_overrides(rep, cfg)
        _order_stages(rep)
        if any(p.rule in _REJECTING_PARSE_RULES for p in it.problems):
            rep.valid = False
            return
        rep.valid = None
        if it.syntax == "zugferd1":
            rep.not_validated_reason = "ZUGFeRD 1.0 (legacy format) is recognised but not validated"
        elif it.syntax == "unsupported":
            rep.not_validated_reason = "unsupported format (not UBL or CII)"
        elif any(p.rule == "PDF-NO-XML" for p in it.problems):
            rep.not_validated_reason = "plain PDF without structured invoice data"
        elif it.problems:
            rep.not_validated_reason = it.problems[0].message
        else:
            rep.not_validated_reason = "no invoice found"
        return
    # an envelope problem (einvoice.intake.sbdh) fails intake even though its payload can be checked
    rep.stages["intake"] = "failed" if any(f.stage == "intake" and f.blocking for f in rep.findings) else "passed"
    rep.stages["parse"] = "passed"
    root = it.root
    # Factur-X/ZUGFeRD rules apply to documents that declare a Factur-X/ZUGFeRD guideline, and to
    # hybrid PDFs unless their XML declares XRechnung (the EN16931 profile's guideline ID is the
    # plain "urn:cen.eu:en16931:2017", so the container is the only hint there).
    facturx = _intake.is_facturx(it.profile) or (it.container == "pdf" and not _intake.is_xrechnung(it.profile))

    # ---- scenario: the exact specification identifier (BT-24) decides, as in KoSIT's validator
    choice = scenarios.select(root, it.syntax, facturx=facturx)
    scenario = choice.scenario
    rep.scenario = scenario.name if scenario else None
    if choice.outcome != "matched" and it.syntax in ("ubl-invoice", "ubl-creditnote", "cii"):
        rep.findings.append(Finding("KOSIT-SCENARIO", "error" if choice.rejects else "info",
                                    scenarios.message(choice, it.syntax), "BT-24", "intake"))
        if choice.rejects:
            rep.stages["intake"] = "failed"

    # ---- XSD
    key = xsd.xsd_key(it.syntax, it.profile_name, facturx)
    try:
        for msg, loc in xsd.validate_xsd(root, key):
            rep.findings.append(Finding("XSD", "fatal", f"Schema violation ({key}): {msg}", loc, "xsd"))
        ran.append("xsd")
    except Exception as exc:
        rep.findings.append(Finding("XSD-ERROR", "fatal", f"The XML schema {key} could not be applied: {exc}", None, "xsd"))
        errored.append("xsd")

    # ---- § 14 UStG: MINIMUM and BASIC WL carry too little data to be an invoice
    not_invoice = it.profile_name in NOT_INVOICE_PROFILES
    if not_invoice:
        rep.findings.append(
            Finding(
                "DE-USTG-14",
                "fatal",
                f"Factur-X/ZUGFeRD profile {it.profile_name}: this document is not an invoice under German VAT law "
                "(§ 14 UStG) — it lacks the invoice lines/VAT data. Keep it as a document, but ask the sender for an "
                "invoice in profile EN 16931 (COMFORT), EXTENDED or XRECHNUNG.",
                None,
                "profile",
            )
        )
        rep.stages["en16931"] = "skipped"
    elif cfg.schematron:
        try:
            rep.findings.extend(en16931.run(it.xml, root, it.syntax, facturx=facturx, profile_name=it.profile_name))
            ran.append("en16931")
        except Exception as exc:
            from einvoice.xml.safe import limits_problem

            # A document beyond the rule processor's parser limits is rejected as a format error
            # with the reason (KoSIT's parser refuses it too); anything else is "not validated".
            limit = limits_problem(root)
            if limit is not None:
                rep.findings.append(Finding(limit.rule, "fatal", limit.message, limit.location, "parse"))
                rep.stages["parse"] = "failed"
            rep.findings.append(
                Finding("EN16931-ERROR", "fatal", f"The EN 16931 business rules could not be run: {str(exc)[:500]}", None, "en16931")
            )
            errored.append("en16931")
            if it.syntax == "cii":
                try:  # our own CII rules still run: their violations decide "invalid"
                    rep.findings.extend(en16931.native_cii(root, facturx=facturx))
                except Exception:  # noqa: BLE001 - the stage is already marked as not run
                    pass
    else:
        errored.append("en16931")
        rep.not_validated_reason = "EN 16931 rules switched off in the configuration"

    # ---- XRechnung CIUS (BR-DE), native
    if it.syntax in ("ubl-invoice", "ubl-creditnote", "cii"):
        # an XRechnung scenario, or an identifier that claims XRechnung without matching one
        # (rejected by KOSIT-SCENARIO; the rules still tell the sender what else is wrong)
        declared = scenario.xrechnung if scenario is not None else _intake.is_xrechnung(it.profile)
        if declared or cfg.xrechnung_rules_for_all:
            try:
                extension = scenario.extension if scenario is not None else False
                for v in brde.check(root, it.syntax, extension=extension):
                    sev = v.severity if declared else "info"
                    rep.findings.append(Finding(v.rule, sev, v.message, v.location, "xrechnung"))
                # the Peppol BIS rules KoSIT merged into its XRechnung schematron
                for f in peppol.check(root, it.syntax):
                    rep.findings.append(f if declared else Finding(f.rule, "info", f.message, f.location, f.stage))
                if declared:
                    ran.append("xrechnung")
                    _leitweg_finding(rep, root, it.syntax)
                else:
                    rep.stages["xrechnung"] = "skipped"
            except Exception as exc:
                # only an XRechnung depends on these rules; for others they were advice
                rep.findings.append(
                    Finding("XRECHNUNG-ERROR", "fatal" if declared else "warning", f"The XRechnung rules could not be run: {exc}", None, "xrechnung")
                )
                if declared:
                    errored.append("xrechnung")
        else:
            rep.stages["xrechnung"] = "skipped"

    # ---- profile: Factur-X XMP conformance level vs the XML's guideline ID
    if it.container == "pdf":
        ran.append("profile")
        rep.findings.extend(_profile_findings(it))
    elif not_invoice:
        ran.append("profile")

    # ---- semantic model: later steps read the invoice through it, so an invoice whose model
    # cannot be built, or whose dates/amounts/Skonto terms are out of range, is never "valid"
    if cfg.build_model and it.syntax in ("ubl-invoice", "ubl-creditnote", "cii"):
        from einvoice.validation import plausibility

        try:
            from einvoice.model import invoice_from_xml

            rep.model = invoice_from_xml(root, it.syntax)
        except Exception as exc:  # noqa: BLE001 - reported as a finding, the verdict says "not validated"
            rep.findings.append(plausibility.unreadable_model(exc))
            errored.append("model")
            rep.not_validated_reason = plausibility.MODEL_UNREADABLE
        else:
            found = plausibility.check(rep.model)
            rep.findings.extend(found)
            if found:
                ran.append("model")
            rep.findings.extend(plausibility.skonto_warnings(rep.model))
    _finalise(rep, cfg, ran, errored, scenario)


def _leitweg_finding(rep: Report, root, syntax: str) -> None:
    """BT-10 of an XRechnung is normally a Leitweg-ID; a wrong check digit means misrouting.
    KoSIT has no rule for this, so it is advisory (info) unless the configuration raises it."""
    from einvoice.identifiers.leitweg import check_leitweg_id
    from einvoice.xml.namespaces import NS

    path = "cbc:BuyerReference" if syntax != "cii" else "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:BuyerReference"
    value = root.findtext(path, namespaces=NS)
    if value is None or not value.strip():
        return  # BR-DE-15 reports the missing value
    problems = check_leitweg_id(value.strip())
    if problems:
        rep.findings.append(
            Finding(
                "DE-LEITWEG-ID",
                "info",
                "The buyer reference (BT-10) is not a valid Leitweg-ID: " + " ".join(problems)
                + " If the buyer is a public body, the invoice may not reach it.",
                path if syntax == "cii" else "/*/cbc:BuyerReference",
                "xrechnung",
            )
        )


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


def _profile_findings(it) -> list[Finding]:
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
