"""How an installed rule pack takes part in ``einvoice.validation.validate``.

- XML documents in UBL or CII that do not declare a Factur-X/ZUGFeRD profile: when a pack is
  active on the receipt date, the pack decides (``decide``); the built-in rules do not run.
- Factur-X/ZUGFeRD (PDF or XML) keep their built-in profile rules; when a pack has a scenario
  for the embedded XML, its verdict is added (``add_to``) and both must pass.
- Without an active pack, every report says it was judged by the built-in rules, not by the
  official KoSIT configuration.

Report fields: ``rule_pack`` (pack that decided), ``scenario`` (its scenario), ``accepted`` (the
KoSIT accept decision), ``rules_basis`` (in words). ``valid`` is KoSIT's decision when a scenario
matched; when none matched, ``accepted`` is False (KoSIT rejects) and ``valid`` is the verdict of
the pack's plain EN 16931 scenario for the syntax, so an EN 16931 invoice in another CIUS (e.g.
Peppol BIS) is told apart from a broken one; a warning names the identifier found and the
identifiers the pack supports.

This module must never report ``valid=True`` when a step of the pack could not run or the pack
failed its integrity check, and never silently fall back to the built-in rules for a document
that an installed, active pack should have judged.
"""
from __future__ import annotations

import datetime as dt

from einvoice.rulepacks import check as _check
from einvoice.rulepacks import store
from einvoice.rulepacks.pack import PackError

BUILTIN_BASIS = "built-in rules, not the official KoSIT configuration"
_SEV = {"error": "error", "warning": "warning", "information": "info"}
_SYNTAXES = ("ubl-invoice", "ubl-creditnote", "cii")


def _today() -> dt.date:
    # receipt dates are German calendar days (00:30 on 1 January is already the new year there)
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo("Europe/Berlin")).date()


def active(received: dt.date | None = None) -> tuple[list, str | None]:
    """([(InstalledPack, PackDefinition)] active on the receipt date, newest first; problem).

    The problem (in words) is set when packs are installed but one that is active fails its
    integrity check or cannot be read; then no verdict may be given."""
    day = received or _today()
    try:
        packs = [p for p in store.cached_installed() if p.active_on(day)]
    except PackError as exc:
        return [], str(exc)
    out = []
    for p in sorted(packs, key=lambda p: (p.valid_from or dt.date.min, p.installed_at, p.id), reverse=True):
        try:
            out.append((p, store.load(p)))
        except PackError as exc:
            return [], str(exc)
    return out, None


def any_installed() -> bool:
    try:
        return bool(store.cached_installed())
    except PackError:
        return True


def warm(received: dt.date | None = None) -> None:
    """Verify and compile every pack active today (before forking workers)."""
    from einvoice.rulepacks import pack as _pack

    packs, _problem = active(received)
    for _inst, defn in packs:
        try:
            _pack.compile_all(defn)
        except PackError:
            pass  # each document then reports the failing step (RULEPACK-ERROR, not validated)
        _check.prepare(defn)
    _pack.processor()


def _set_basis(rep, inst, scenario_name: str | None) -> None:
    rep.rule_pack = inst.describe()
    rep.scenario = scenario_name
    rep.rules_basis = f"official KoSIT configuration: rule pack {inst.describe()}" + (
        f", scenario {scenario_name!r}" if scenario_name else ", no scenario")


def _findings(bag, overrides: dict[str, str]):
    from einvoice.validation.report import Finding

    out = []
    for m in bag.messages:
        sev = _SEV.get(m.effective, "error")
        if m.rule in overrides:
            sev = overrides[m.rule]
        rule = "XSD" if m.step == "xsd" else m.rule
        text = m.text if m.step == "xsd" else (m.text if m.text.startswith(f"[{m.rule}]") else f"[{m.rule}] {m.text}")
        if m.step == "xsd":
            schema = ", ".join(r.name for r in bag.judged_by.schema) if bag.judged_by else "XML Schema"
            code = "" if m.rule == "generic-error" else f" {m.rule}"
            text = f"Schema violation ({schema}){code}: {text}"
        out.append(Finding(rule, sev, text, m.location, m.step, rule_severity=m.flag or m.level))
    return out


def _no_scenario_finding(bag):
    from einvoice.validation.report import Finding

    supported = ", ".join(bag.definition.identifiers)
    if bag.selection_problem == "ambiguous":
        return Finding(
            "KOSIT-SCENARIO-AMBIGUOUS", "fatal",
            f"Several scenarios of rule pack {bag.pack.id} match this document ({', '.join(bag.matched_names)}); "
            "KoSIT's validator rejects such a document. The rule pack is faulty: ask the operators.",
            None, "scenario")
    judged = f" The EN 16931 verdict below comes from the pack's scenario {bag.judged_by.name!r}." if bag.judged_by else ""
    return Finding(
        "KOSIT-NO-SCENARIO", "warning",
        f"The official XRechnung validation (KoSIT configuration {bag.pack.id}) has no scenario for the "
        f"specification identifier (BT-24) {bag.identifier!r}, so KoSIT's validator rejects this document. "
        f"Identifiers the pack accepts: {supported}.{judged}",
        "BT-24", "scenario")


def _fill(rep, bag, cfg) -> None:
    """Turn a finished check into the report's findings, stages and verdict."""
    from einvoice.validation.report import Finding

    overrides = dict(cfg.severity_overrides or {})
    _set_basis(rep, bag.pack, bag.scenario.name if bag.scenario else (bag.judged_by.name if bag.judged_by else None))
    rep.scenario_matched = bag.scenario is not None
    rep.accepted = bag.accept
    if bag.selection_problem:
        rep.findings.append(_no_scenario_finding(bag))
    rep.findings.extend(_findings(bag, overrides))
    for e in bag.errors:
        rep.findings.append(Finding("RULEPACK-ERROR", "fatal", f"The rule pack {bag.pack.id} could not run: {e}; the invoice was NOT validated.", None, "rulepack"))
    stages = {}
    for name, state in bag.steps.items():
        if name in ("report",):
            continue
        if state == "ran":
            state = "failed" if any(f.blocking and f.stage == name for f in rep.findings) else "passed"
        stages[name] = state
    if bag.selection_problem == "no-scenario":
        # KoSIT's XRechnung acceptance does not apply to a document of another specification
        # (its rejection is in ``accepted`` and the warning); the EN 16931 stages still count
        stages["scenario"] = stages["acceptance"] = "skipped"
    if bag.xsd_errors and bag.judged_by is not None:
        for sch_i, res in enumerate(bag.judged_by.schematrons):
            stages[_check.step_name(res, sch_i)] = "skipped"  # KoSIT stops after a failed XSD
    rep.stages.update(stages)
    if bag.stopped or bag.errors:
        rep.valid = None
        rep.not_validated_reason = "a step of the rule pack could not run"
        return
    if bag.selection_problem == "ambiguous":
        rep.valid = None
        rep.not_validated_reason = "the rule pack has several scenarios for this document"
        return
    if bag.scenario is not None:
        decided = bag.accept
    else:
        decided = _check.en16931_verdict(bag)  # no scenario: the plain EN 16931 verdict
    if decided is None:
        rep.valid = None
        rep.not_validated_reason = "the rule pack gave no decision"
        return
    if overrides:
        # local severity overrides act as further custom levels on top of the scenario's
        decided = not bag.xsd_errors and not any(f.blocking for f in rep.findings)
    # the report stylesheet's decision, and never "valid" while an effective error is listed
    # (both come from the same report; this guards against a pack whose acceptMatch says more)
    rep.valid = bool(decided) and not bag.xsd_errors and not any(f.blocking for f in rep.findings)
    if overrides and rep.stages.get("acceptance") in ("passed", "failed"):
        rep.stages["acceptance"] = "passed" if rep.valid else "failed"  # KoSIT's own: ``accepted``
    if rep.valid and any(v in ("failed", "error") for v in rep.stages.values()):
        rep.valid = False  # never "valid" past a failed stage


def decide(data: bytes, rep, cfg, received: dt.date | None = None) -> bool:
    """Let an active rule pack judge ``data``; True when it did (``rep`` is then complete)."""
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF") or not cfg.schematron:
        return False
    packs, problem = active(received)
    if not packs and problem is None:
        return False
    from einvoice import intake as _intake

    it = _intake.detect(data, rep.path, max_file_bytes=cfg.max_file_bytes, max_xml_bytes=cfg.max_xml_bytes)
    if it.container != "xml" or it.root is None or it.syntax not in _SYNTAXES or _intake.is_facturx(it.profile):
        return False  # malformed, other formats, Factur-X/ZUGFeRD: the built-in rules
    if any(p.severity in ("fatal", "error") for p in it.problems):
        return False  # a broken Peppol envelope (einvoice.intake.sbdh): the pack would judge only the payload
    rep.container, rep.syntax, rep.profile, rep.profile_name, rep.xml = it.container, it.syntax, it.profile, it.profile_name, it.xml
    from einvoice.validation.report import Finding

    for p in it.problems:
        rep.findings.append(Finding(p.rule, p.severity, p.message, p.location, "intake"))
    rep.stages["intake"] = "passed"
    if problem is not None:
        rep.findings.append(Finding("RULEPACK-INTEGRITY", "fatal", f"{problem} The invoice was NOT validated.", None, "rulepack"))
        rep.stages["rulepack"] = "error"
        rep.valid = None
        rep.not_validated_reason = "the installed rule pack failed its integrity check"
        rep.rules_basis = "rule pack refused (integrity check failed)"
        return True
    bag = _check.run(it.xml, packs, reference=rep.path, max_bytes=cfg.max_xml_bytes, root=it.root)
    if bag.definition is None:
        return False  # not readable for the pack (cannot happen after intake parsed it)
    _fill(rep, bag, cfg)
    if _intake.is_xrechnung(it.profile):
        from einvoice.validation import leitweg_check

        # the advisory Leitweg-ID check digit finding of the built-in engine (info only): our own
        # advice, not a rule of the pack's XRechnung layer
        advice = leitweg_check.finding(it.root, it.syntax, stage="advice")
        if advice is not None:
            rep.findings.append(advice)
    if cfg.build_model:
        _model_checks(rep, it)
    return True


def _model_checks(rep, it) -> None:
    """The same local checks after the pack as after the built-in rules (einvoice.validation.engine):
    an invoice whose data cannot be read into the model is never valid (not validated), and the
    values later steps need are range-checked (validation.plausibility). Like local severity
    overrides, they act on ``valid``; ``accepted`` stays KoSIT's recommendation."""
    from einvoice.model import invoice_from_xml
    from einvoice.validation import plausibility

    try:
        rep.model = invoice_from_xml(it.root, it.syntax)
    except Exception as exc:  # noqa: BLE001 - reported as a finding, the verdict says "not validated"
        rep.findings.append(plausibility.unreadable_model(exc))
        rep.stages["model"] = "error"
        rep.valid = None
        rep.not_validated_reason = plausibility.MODEL_UNREADABLE
        return
    found = plausibility.check(rep.model)
    rep.findings.extend(found)
    rep.findings.extend(plausibility.skonto_warnings(rep.model))
    if found:
        rep.stages["model"] = "failed" if any(f.blocking for f in found) else "passed"
        if any(f.blocking for f in found) and rep.valid:
            rep.valid = False


def add_to(rep, cfg, received: dt.date | None = None) -> None:
    """After the built-in engine: name the basis; for Factur-X/ZUGFeRD add the pack's verdict."""
    if rep.rule_pack is not None:
        return
    packs, problem = active(received)
    if not packs and problem is None:
        rep.rules_basis = BUILTIN_BASIS
        if any_installed():
            day = (received or _today()).isoformat()
            rep.rules_basis += f" (no installed rule pack is valid on the receipt date {day}: see einvoice rules list)"
        return
    rep.rules_basis = BUILTIN_BASIS + " (no rule-pack scenario applies to this document)"
    if rep.xml is None or rep.syntax not in _SYNTAXES or rep.valid is None and rep.stages.get("parse") != "passed":
        return
    from einvoice.validation.report import Finding

    if problem is not None:
        rep.findings.append(Finding("RULEPACK-INTEGRITY", "fatal", f"{problem} The invoice was NOT validated.", None, "rulepack"))
        rep.valid, rep.not_validated_reason = None, "the installed rule pack failed its integrity check"
        return
    bag = _check.run(rep.xml, packs, reference=rep.path, max_bytes=cfg.max_xml_bytes)
    if bag.definition is None or bag.scenario is None:
        if bag.definition is not None:
            rep.findings.append(Finding(
                "KOSIT-NO-SCENARIO", "info",
                f"KoSIT's XRechnung configuration ({bag.pack.id}) has no scenario for {bag.identifier!r}; "
                "this Factur-X/ZUGFeRD document is judged by its profile rules.", "BT-24", "rulepack"))
        return
    _set_basis(rep, bag.pack, bag.scenario.name)
    rep.rules_basis = "profile rules (built-in) and " + rep.rules_basis
    rep.accepted = bag.accept
    rep.scenario_matched = True
    extra = _findings(bag, dict(cfg.severity_overrides or {}))
    rep.findings.extend(type(f)(f.rule, f.severity, f.message, f.location, "rulepack-" + f.stage, rule_severity=f.rule_severity) for f in extra)
    if bag.stopped or bag.errors or bag.accept is None:
        rep.valid, rep.not_validated_reason = None, "a step of the rule pack could not run"
    elif rep.valid is True and not bag.accept:
        rep.valid = False
    rep.stages["rulepack"] = "passed" if bag.accept else "failed"
