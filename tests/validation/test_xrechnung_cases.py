"""Rules of KoSIT's XRechnung schematron the built-in engine copies, without a rule pack.

- every case of ``xrechnung_cases`` (Peppol R055, R110/R111, R120; BR-TMP-2, BR-DE-TMP-32, the
  CVD rules) gives the finding KoSIT's XPath gives, with KoSIT's severity (R120 and BR-TMP-2
  warnings, BR-DE-TMP-32 information: none of them makes an invoice invalid);
- the XPath arithmetic the Peppol rules copy is compared with Saxon itself (the processor KoSIT's
  stylesheets run on) on generated values: decimal division (18 places, ties towards zero, the
  scale Saxon keeps), round(x * 100) div 100, ordering an untyped amount against 0 (negative
  zero, NaN), xs:date casts and comparisons.
"""
from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pytest

from einvoice.validation import ValidationConfig, peppol, validate
from tests.validation.xrechnung_cases import CASES, SEVERITY

CFG = ValidationConfig(build_model=False)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_built_in_finding_as_kosit_xpath_gives_it(case, tmp_path, monkeypatch):
    monkeypatch.setenv("EINVOICE_RULEPACK_DIR", str(tmp_path / "none"))
    rep = validate(case.build(), "peppol.xml", config=CFG)
    assert rep.rule_pack is None and rep.stages["xsd"] == "passed", rep.summary()
    for rule, fires in case.expect.items():
        got = [f.severity for f in rep.findings if f.rule == rule]
        if fires is not None:
            assert got == ([SEVERITY[rule]] if fires else []), (rule, got, rep.summary())
        assert all(f.stage == "xrechnung" and f.message.startswith(f"[{rule}] ") for f in rep.findings if f.rule == rule)
    # a warning or an information alone never makes the invoice invalid
    if not any(SEVERITY[r] in ("fatal", "error") for r in case.expect):
        assert rep.valid is not False or any(f.blocking and f.rule not in case.expect for f in rep.findings), rep.summary()


def test_rules_are_registered_per_syntax_with_kosits_flag():
    for syntax in ("ubl", "cii"):
        rules = peppol.RULES_BY_SYNTAX[syntax]
        assert rules["PEPPOL-EN16931-R120"] == "warning"
        assert {rules[r] for r in ("PEPPOL-EN16931-R055", "PEPPOL-EN16931-R110", "PEPPOL-EN16931-R111")} == {"fatal"}


# ---------------------------------------------------------------- the arithmetic, against Saxon
@pytest.fixture(scope="module")
def saxon():
    from saxonche import PySaxonProcessor

    proc = PySaxonProcessor(license=False)
    xp = proc.new_xpath_processor()
    xp.declare_namespace("xs", "http://www.w3.org/2001/XMLSchema")
    return proc, xp


def _decimals(rng: random.Random, n: int) -> list[str]:
    """Decimal lexicals as invoices write them and worse: trailing zeros, no integer part, signs."""
    out = ["0", "-0.00", "300", "300.00", "300.", "3.10", ".5", "1.00000000000000000000", "0.0000000000000000000003"]
    while len(out) < n:
        whole = str(rng.choice([0, 1, 3, 7, 10, 100, rng.randrange(10**rng.randrange(1, 25))]))
        frac = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 22)))
        s = rng.choice(["", "-", "+"]) + whole + (("." + frac) if frac or rng.random() < 0.3 else "")
        out.append(s + "0" * rng.randrange(0, 3) if "." in s else s)
    return out


def test_decimal_division_and_rounding_as_saxon(saxon):
    _, xp = saxon
    rng = random.Random(20260201)
    values = _decimals(rng, 150)
    pairs = [(a, b) for a in values[:40] for b in values[:40]] + [(rng.choice(values), rng.choice(values)) for _ in range(600)]
    for a, b in pairs:
        if Decimal(b) == 0:
            continue
        want = Fraction(Decimal(xp.evaluate_single(f"string(xs:decimal('{a}') div xs:decimal('{b}'))").get_string_value()))
        assert peppol._saxon_div(peppol._xs_decimal(a), peppol._xs_decimal(b)) == want, (a, b)
    for a in values + ["0.005", "-0.005", "0.015", "-0.025", "1.0049", "-1.0051", "2.5"]:
        want = Fraction(Decimal(xp.evaluate_single(f"string(round(xs:decimal('{a}') * 10 * 10) div 100)").get_string_value()))
        assert peppol._xpath_round2(peppol._dec_value(peppol._xs_decimal(a))) == want, a


def test_ordering_an_untyped_amount_against_zero_as_saxon(saxon):
    proc, xp = saxon
    values = ["5", "-5", "0", "-0", "+0", "-00", "0.00", "-0.00", "-.0", "-0.", "-0e0", "-0E0", "1e-400", "-1e-400", "1e400",
              "-1e400", "NaN", "INF", "-INF", " -0.50 ", "\t3\n", "0.000000000000000000000000001", "-0.000000000000000000000000001"]
    doc = proc.parse_xml(xml_text="<r>" + "".join(f"<v>{v}</v>" for v in values) + "</r>")
    xp.set_context(xdm_item=doc)
    for i, v in enumerate(values, 1):
        saxon_says = [xp.evaluate_single(f"/r/v[{i}] {op} 0").get_string_value() == "true" for op in ("<", "=", ">")]
        assert saxon_says == [peppol._order_to_0(v) == o for o in (-1, 0, 1)], v
    for bad in ("", "abc", "1,5", "1_000", "0x10", "infinity", "nan"):
        with pytest.raises(peppol._CastError):
            peppol._order_to_0(bad)


def test_dates_cast_and_compared_as_saxon(saxon):
    _, xp = saxon
    dates = ["2026-02-01", "2026-02-01Z", "2026-02-01+01:00", "2026-01-31-14:00", "2026-02-01+14:00", "2026-02-01-00:00",
             "2024-02-29", "1900-02-29", "2026-02-30", "2026-13-01", "0000-01-01", "-0001-12-31", "-0004-02-29",
             "12026-02-01", "02026-02-01", "2147483647-12-31", "2147483648-01-01", "2026-02-01+15:00", "2026-02-01+14:59",
             "2026-02-01+00:60", " 2026-02-01 ", "2026-2-01", "26-02-01", "2026-02-01T00:00:00", ""]
    for d in dates:
        castable = xp.evaluate_single(f"'{d}' castable as xs:date").get_string_value() == "true"
        try:
            peppol._xs_date(d)
            ours = True
        except peppol._CastError:
            ours = False
        assert ours is castable, d
    # (Saxon's comparison overflows for years near 2^31: not copied)
    good = [d for d in dates if xp.evaluate_single(f"'{d}' castable as xs:date").get_string_value() == "true" and "2147" not in d]
    for a in good:
        for b in good:
            want = xp.evaluate_single(f"xs:date('{a}') >= xs:date('{b}')").get_string_value() == "true"
            assert (peppol._xs_date(a) >= peppol._xs_date(b)) is want, (a, b)
