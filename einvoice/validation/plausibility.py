"""Range checks of the values the semantic model reads (dates, amounts, Skonto terms).

The rule sets (XSD, EN 16931, XRechnung) accept an invoice dated 9999-12-31, an amount of
10^17 EUR or a Skonto term of three million days: they are well-formed values. Later steps cannot
work with them (a due date past the calendar's end, an amount the database cannot hold), and no
real invoice to a public body has them, so each such value is a content error with its own rule
ID and a message the clerk can send to the supplier. One rule function per rule ID.

Limits: dates from 1900-01-01 to 2100-12-31, every amount, quantity and rate finite and below
10^12 in magnitude, Skonto days 0 to 3650 and Skonto percent 0 to 100. An invoice without a
number (BT-1) or an amount due (BT-115) in the model cannot be processed either.

This module must never change the model and never raise for any model the builder returns.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from einvoice.validation.report import Finding

DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(2100, 12, 31)
MAX_MAGNITUDE = Decimal(10) ** 12
SKONTO_MAX_DAYS = 3650

STAGE = "model"


def sane_date(value) -> bool:
    return isinstance(value, date) and DATE_MIN <= value <= DATE_MAX


def sane_decimal(value, limit: Decimal = MAX_MAGNITUDE) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and abs(value) < limit


_FIELDS: dict[type, tuple[str, ...]] = {}


def _walk(obj, path: str = "") -> Iterator[tuple[str, object]]:
    """(field path, value) of every date and Decimal in the model's dataclasses and tuples."""
    stack = [(path, obj)]
    while stack:
        path, obj = stack.pop()
        if isinstance(obj, (date, Decimal)):
            yield path, obj
        elif isinstance(obj, (tuple, list)):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(obj))
        elif obj is not None and not isinstance(obj, (str, int, bool)):
            names = _FIELDS.get(type(obj))
            if names is None:
                names = _FIELDS[type(obj)] = tuple(f.name for f in dataclasses.fields(obj)) if dataclasses.is_dataclass(obj) else ()
            stack.extend((f"{path}.{n}" if path else n, getattr(obj, n)) for n in names)


def de_plaus_date(model, leaves=None) -> list[Finding]:
    out = []
    if model.issue_date is None:
        out.append(Finding("DE-PLAUS-DATE", "error",
                           "[DE-PLAUS-DATE] Das Rechnungsdatum (BT-2) fehlt oder ist kein gültiges Kalenderdatum; "
                           "die Rechnung kann so nicht bearbeitet werden.", "BT-2", STAGE))
    for path, value in leaves if leaves is not None else _walk(model):
        if isinstance(value, date) and not sane_date(value):
            out.append(Finding("DE-PLAUS-DATE", "error",
                               f"[DE-PLAUS-DATE] Das Datum {value.isoformat()} ({path}) liegt außerhalb des plausiblen "
                               f"Bereichs {DATE_MIN.year}–{DATE_MAX.year}; bitte beim Lieferanten eine korrigierte Rechnung anfordern.",
                               path, STAGE))
    return out


def de_plaus_amount(model, leaves=None) -> list[Finding]:
    out = []
    for path, value in leaves if leaves is not None else _walk(model):
        if isinstance(value, Decimal) and not sane_decimal(value) and not path.startswith("skonto"):
            shown = str(value) if len(str(value)) <= 40 else str(value)[:37] + "..."
            out.append(Finding("DE-PLAUS-AMOUNT", "error",
                               f"[DE-PLAUS-AMOUNT] Der Wert {shown} ({path}) ist keine endliche Zahl unter 10^12; "
                               "ein solcher Betrag kann nicht gebucht werden.", path, STAGE))
    return out


def de_plaus_skonto(model, leaves=None) -> list[Finding]:
    out = []
    for i, term in enumerate(getattr(model, "skonto", None) or ()):
        days_ok = isinstance(term.days, int) and 0 <= term.days <= SKONTO_MAX_DAYS
        pct_ok = sane_decimal(term.percent, Decimal(100) + 1) and Decimal(0) <= term.percent <= Decimal(100)
        base_ok = term.base_amount is None or sane_decimal(term.base_amount)
        if not (days_ok and pct_ok and base_ok):
            days = str(term.days) if len(str(term.days)) <= 12 else f"{str(term.days)[:9]}…"
            out.append(Finding("DE-PLAUS-SKONTO", "error",
                               f"[DE-PLAUS-SKONTO] Skonto-Angabe {i + 1} (BT-20: TAGE={days}, PROZENT={term.percent}) ist nicht "
                               f"plausibel: erlaubt sind 0–{SKONTO_MAX_DAYS} Tage und 0–100 Prozent.", f"skonto[{i}]", STAGE))
    return out


def de_model_incomplete(model, leaves=None) -> list[Finding]:
    missing = []
    if not (model.invoice_number or "").strip():
        missing.append("Rechnungsnummer (BT-1)")
    if getattr(model.totals, "amount_due", None) is None:
        missing.append("Zahlbetrag (BT-115)")
    if not missing:
        return []
    return [Finding("DE-MODEL-INCOMPLETE", "error",
                    "[DE-MODEL-INCOMPLETE] Aus der Rechnung ließ sich nicht lesen: " + ", ".join(missing)
                    + "; ohne diese Angaben kann sie nicht freigegeben werden.", None, STAGE)]


RULES = (de_plaus_date, de_plaus_amount, de_plaus_skonto, de_model_incomplete)


def check(model) -> list[Finding]:
    out: list[Finding] = []
    leaves = list(_walk(model))  # one walk for all rules
    for rule in RULES:
        out.extend(rule(model, leaves))
    return out


#: why a report is "not validated" when the model could not be built (built-in engine and rule pack)
MODEL_UNREADABLE = "the invoice data could not be read into the model"


def unreadable_model(exc: Exception) -> Finding:
    """The blocking finding when the invoice data cannot be read into the model: never valid."""
    return Finding("MODEL", "fatal",
                   f"[MODEL] Die Rechnungsdaten konnten nicht gelesen werden ({type(exc).__name__}: {str(exc)[:200]}); "
                   "die Rechnung wurde nicht angenommen.", None, "model")


def skonto_warnings(model) -> list[Finding]:
    """Skonto terms that cannot be used (over a year, percentages out of range) are no Skonto the
    payment run takes (einvoice.model.skonto): said as warnings; absurd ones are blocking in ``check``."""
    from einvoice.model import skonto

    return [Finding(f.rule, "warning", f.message, None, "model") for f in skonto.findings(model.skonto, model.issue_date)]
