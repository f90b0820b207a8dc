"""Readable HTML report for one or many validation reports (self-contained, no scripts).

For clerks: verdict first in words, then the findings grouped by stage with rule ID, severity,
message and location. Every value is HTML-escaped (messages can quote invoice content). This
module must never embed the invoice XML or load anything from the network.
"""
from __future__ import annotations

from jinja2 import Environment, select_autoescape

_TEMPLATE = """<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Prüfbericht E-Rechnung</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h2{margin-top:2em;font-size:1.1em;word-break:break-all}
.v{font-weight:bold;padding:.2em .6em;border-radius:.3em}
.ok{background:#d7f5dd}.bad{background:#fbd9d9}.none{background:#fff1c2}
table{border-collapse:collapse;width:100%;margin-top:.5em}td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.9em}
.fatal,.error{color:#a00}.warning{color:#8a5a00}.info{color:#555}
.loc{font-family:monospace;font-size:.8em;color:#555;word-break:break-all}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}
</style></head><body>
<h1>Prüfbericht E-Rechnung</h1>
<p>{{ reports|length }} Datei(en): {{ counts.valid }} gültig, {{ counts.invalid }} ungültig, {{ counts.none }} nicht geprüft.</p>
{% for r in reports %}
<section>
<h2>{{ r.path }}</h2>
<p><span class="v {{ 'ok' if r.valid is sameas true else ('bad' if r.valid is sameas false else 'none') }}">
{{ 'gültig' if r.valid is sameas true else ('ungültig' if r.valid is sameas false else 'nicht geprüft') }}</span>
&nbsp;{{ r.summary() }}</p>
<dl>
<dt>Format</dt><dd>{{ r.container }} / {{ r.syntax }}{% if r.profile_name %} / {{ r.profile_name }}{% endif %}</dd>
<dt>Profil (BT-24)</dt><dd>{{ r.profile or '–' }}</dd>
<dt>Regelwerk</dt><dd>{{ r.rules_basis or '–' }}</dd>
{% if r.rule_pack %}
<dt>Regelpaket</dt><dd>{{ r.rule_pack }}</dd>
<dt>Prüfszenario</dt><dd>{{ r.scenario or 'keines' }}{% if r.scenario_matched is sameas false %} (kein Szenario passt zur Kennung; KoSIT weist zurück){% endif %}</dd>
<dt>KoSIT-Empfehlung</dt><dd>{{ 'annehmen' if r.accepted is sameas true else ('zurückweisen' if r.accepted is sameas false else '–') }}</dd>
{% endif %}
{% if r.model %}
<dt>Rechnungsnummer</dt><dd>{{ r.model.invoice_number or '–' }} vom {{ r.model.issue_date or '–' }}</dd>
<dt>Verkäufer</dt><dd>{{ r.model.seller.name or '–' }}</dd>
<dt>Leitweg-ID (BT-10)</dt><dd>{{ r.model.buyer_reference or '–' }}</dd>
<dt>Zahlbetrag</dt><dd>{{ r.model.totals.amount_due if r.model.totals.amount_due is not none else '–' }} {{ r.model.currency or '' }}</dd>
{% endif %}
{% if not r.rule_pack %}<dt>Prüfszenario</dt><dd>{{ r.scenario or 'keines' }}</dd>{% endif %}
<dt>Prüfschritte</dt><dd>{% for k, v in r.stages.items() %}{{ k }}: {{ v }}{% if not loop.last %} · {% endif %}{% endfor %}</dd>
</dl>
{% if r.findings %}
<table><thead><tr><th>Regel</th><th>Schwere</th><th>Meldung</th><th>Stufe</th></tr></thead><tbody>
{% for f in r.findings|sort(attribute='sort_key') %}
<tr><td>{{ f.rule }}</td><td class="{{ f.severity }}">{% if f.rule_severity and f.rule_severity != f.severity %}{{ f.rule_severity }} → {% endif %}{{ f.severity }}</td><td>{{ f.message }}{% if f.location %}<div class="loc">{{ f.location }}</div>{% endif %}</td><td>{{ f.stage }}</td></tr>
{% endfor %}
</tbody></table>
{% endif %}
</section>
{% endfor %}
</body></html>
"""

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_template = _env.from_string(_TEMPLATE)


class _F:
    """Finding view with a sort key (blocking first, then by stage order)."""

    def __init__(self, f):
        from einvoice.validation.stages import SEVERITY_ORDER, STAGES

        self.rule, self.severity, self.message, self.location, self.stage = f.rule, f.severity, f.message, f.location, f.stage
        # the rule file's own severity when a custom level or override changed it (rule packs)
        self.rule_severity = getattr(f, "rule_severity", None)
        self.sort_key = (SEVERITY_ORDER.get(f.severity, 9), STAGES.index(f.stage) if f.stage in STAGES else 99, f.rule)


class _R:
    def __init__(self, r):
        self._r = r
        self.findings = [_F(f) for f in r.findings]

    def __getattr__(self, name):
        return getattr(self._r, name)


def render_reports(reports) -> str:
    counts = {
        "valid": sum(r.valid is True for r in reports),
        "invalid": sum(r.valid is False for r in reports),
        "none": sum(r.valid is None for r in reports),
    }
    return _template.render(reports=[_R(r) for r in reports], counts=counts)
