"""Readable HTML report for one or many validation reports (self-contained, no scripts).

For clerks: the verdict first as one sentence with its BMF class, then every finding with rule
ID, class, severity, an explanation in the reader's language built from the business terms, a
readable location, and the official rule text beside it ("Originaltext"). Labels come from one
(German, English) table; the language is EINVOICE_LANGUAGE. Every value is HTML-escaped
(messages can quote invoice content). This module imports ``report`` (never the reverse) and
must never embed the invoice XML or load anything from the network.
"""
from __future__ import annotations

from jinja2 import Environment, select_autoescape

from einvoice.language import language, pick
from einvoice.validation import explain
from einvoice.validation.report import SEVERITY_ORDER, STAGES, Report

#: every label of the page: key -> (German, English)
LABELS: dict[str, tuple[str, str]] = {
    "title": ("Prüfbericht E-Rechnung", "E-invoice validation report"),
    "counts": ("{n} Datei(en): {valid} gültig, {invalid} ungültig, {none} nicht geprüft.",
               "{n} file(s): {valid} valid, {invalid} invalid, {none} not validated."),
    "valid": ("gültig", "valid"), "invalid": ("ungültig", "invalid"), "none": ("nicht geprüft", "not validated"),
    "class": ("Fehlerart (BMF)", "Defect class (BMF)"), "format": ("Format", "Format"),
    "profile": ("Profil (BT-24)", "Profile (BT-24)"), "basis": ("Regelwerk", "Rules"),
    "pack": ("Regelpaket", "Rule pack"), "scenario": ("Prüfszenario", "Scenario"), "no_scenario": ("keines", "none"),
    "no_match": ("kein Szenario passt zur Kennung; KoSIT weist zurück", "no scenario matches the identifier; KoSIT rejects"),
    "kosit": ("KoSIT-Empfehlung", "KoSIT recommendation"), "accept": ("annehmen", "accept"), "reject": ("zurückweisen", "reject"),
    "number": ("Rechnungsnummer", "Invoice number"), "of": ("vom", "of"), "seller": ("Verkäufer", "Seller"),
    "leitweg": ("Leitweg-ID (BT-10)", "Leitweg-ID (BT-10)"), "due": ("Zahlbetrag", "Amount due"),
    "stages": ("Prüfschritte", "Stages"), "rule": ("Regel", "Rule"), "severity": ("Schwere", "Severity"),
    "explanation": ("Erläuterung", "Explanation"), "where": ("Ort", "Location"), "original": ("Originaltext", "Original text"),
    "stage": ("Stufe", "Stage"),
}

_TEMPLATE = """<!DOCTYPE html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ t.title }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h2{margin-top:2em;font-size:1.1em;word-break:break-all}
.v{font-weight:bold;padding:.2em .6em;border-radius:.3em}
.ok{background:#d7f5dd}.bad{background:#fbd9d9}.none{background:#fff1c2}
table{border-collapse:collapse;width:100%;margin-top:.5em}td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.9em}
.fatal,.error{color:#a00}.warning{color:#8a5a00}.info{color:#555}
.where{font-size:.85em;color:#444}.orig{font-size:.8em;color:#555;margin-top:.3em}.orig summary{cursor:pointer}
.loc{font-family:monospace;font-size:.8em;color:#555;word-break:break-all}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}
</style></head><body>
<h1>{{ t.title }}</h1>
<p>{{ counts }}</p>
{% for r in reports %}
<section>
<h2>{{ r.path }}</h2>
<p><span class="v {{ 'ok' if r.valid is sameas true else ('bad' if r.valid is sameas false else 'none') }}">
{{ t.valid if r.valid is sameas true else (t.invalid if r.valid is sameas false else t.none) }}</span>
&nbsp;<span class="sentence">{{ r.sentence }}</span></p>
<dl>
{% if r.class_name %}<dt>{{ t.class }}</dt><dd class="bmf">{{ r.class_name }}</dd>{% endif %}
<dt>{{ t.format }}</dt><dd>{{ r.container }} / {{ r.syntax }}{% if r.profile_name %} / {{ r.profile_name }}{% endif %}</dd>
<dt>{{ t.profile }}</dt><dd>{{ r.profile or '–' }}</dd>
<dt>{{ t.basis }}</dt><dd>{{ r.basis or '–' }}</dd>
{% if r.rule_pack %}
<dt>{{ t.pack }}</dt><dd>{{ r.rule_pack }}</dd>
<dt>{{ t.scenario }}</dt><dd>{{ r.scenario or t.no_scenario }}{% if r.scenario_matched is sameas false %} ({{ t.no_match }}){% endif %}</dd>
<dt>{{ t.kosit }}</dt><dd>{{ t.accept if r.accepted is sameas true else (t.reject if r.accepted is sameas false else '–') }}</dd>
{% endif %}
{% if r.model %}
<dt>{{ t.number }}</dt><dd>{{ r.model.invoice_number or '–' }} {{ t.of }} {{ r.issue_date_text or '–' }}</dd>
<dt>{{ t.seller }}</dt><dd>{{ r.model.seller.name or '–' }}</dd>
<dt>{{ t.leitweg }}</dt><dd>{{ r.model.buyer_reference or '–' }}</dd>
<dt>{{ t.due }}</dt><dd>{{ r.model.totals.amount_due if r.model.totals.amount_due is not none else '–' }} {{ r.model.currency or '' }}</dd>
{% endif %}
{% if not r.rule_pack %}<dt>{{ t.scenario }}</dt><dd>{{ r.scenario or t.no_scenario }}</dd>{% endif %}
<dt>{{ t.stages }}</dt><dd>{% for k, v in r.stage_names %}{{ k }}: {{ v }}{% if not loop.last %} · {% endif %}{% endfor %}</dd>
</dl>
{% if r.findings %}
<table><thead><tr><th>{{ t.rule }}</th><th>{{ t.class }}</th><th>{{ t.severity }}</th><th>{{ t.explanation }}</th><th>{{ t.stage }}</th></tr></thead><tbody>
{% for f in r.findings %}
<tr><td>{{ f.rule }}</td><td class="bmf">{{ f.class_name }}</td><td class="{{ f.severity }}">{% if f.rule_severity and f.rule_severity != f.severity %}{{ f.rule_severity_name }} → {% endif %}{{ f.severity_name }}</td>
<td><div class="explanation">{{ f.explanation }}</div>{% if f.where %}<div class="where">{{ t.where }}: {{ f.where }}</div>{% endif %}
{% if f.original %}<details class="orig"><summary>{{ t.original }}</summary>{{ f.original }}{% if f.location %}<div class="loc">{{ f.location }}</div>{% endif %}</details>{% endif %}</td>
<td>{{ f.stage_name }}</td></tr>
{% endfor %}
</tbody></table>
{% endif %}
</section>
{% endfor %}
</body></html>
"""

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_template = _env.from_string(_TEMPLATE)


class _R:
    """A report as the page shows it: its findings explained, sorted (blocking first, then by
    stage order and rule), its verdict as a sentence."""

    def __init__(self, r: Report, lang: str):
        self._r = r
        order = sorted(r.findings, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9),
                                                  STAGES.index(f.stage) if f.stage in STAGES else 99, f.rule))
        self.findings = [explain.finding_view(f, lang) for f in order]
        self.sentence = r.sentence(lang)
        self.class_name = explain.class_name(r.bmf_class, lang)
        self.basis = explain.basis(r.rules_basis, lang)
        self.issue_date_text = explain.date_text(getattr(r.model, "issue_date", None), lang)
        self.stage_names = [(explain.stage_name(k, lang), explain.state_name(v, lang)) for k, v in r.stages.items()]

    def __getattr__(self, name):
        return getattr(self._r, name)


def render_reports(reports: list[Report], lang: str | None = None) -> str:
    lang = lang or language()
    t = {k: pick(v, lang) for k, v in LABELS.items()}
    counts = t["counts"].format(n=len(reports), valid=sum(r.valid is True for r in reports),
                                invalid=sum(r.valid is False for r in reports), none=sum(r.valid is None for r in reports))
    return _template.render(reports=[_R(r, lang) for r in reports], counts=counts, t=t, lang=lang)
