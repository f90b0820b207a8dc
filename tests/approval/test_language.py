"""Every text of the approval layer a person reads is in the language set (EINVOICE_LANGUAGE, German
by default), and English stays complete (issue #17).

Three checks: every entry of ``einvoice.approval.messages`` and ``einvoice.routing.REASONS`` in both
languages; no ``Refusal(...)`` built outside the message table; and the refusals, duplicate
reasons, reminders and routing reasons the service really produces, walked in both languages.
"""
from __future__ import annotations

import datetime as dt
import re
import string
from decimal import Decimal
from pathlib import Path

import pytest

from einvoice import routing
from einvoice.approval import ApprovalService
from einvoice.approval import messages as M
from tests.wording import foreign_words

ROOT = Path(__file__).resolve().parents[2]


class _Any(dict):
    def __missing__(self, key):
        return "X"


def _fill(template: str) -> str:
    return string.Formatter().vformat(template, (), _Any())


@pytest.mark.parametrize("table", ["REFUSALS", "STEPS", "ROLES", "ACTIONS", "OUTCOMES", "STATES", "TEXTS"])
def test_every_entry_has_both_languages_without_foreign_words(table):
    entries = getattr(M, table)
    assert entries
    for key, (de, en) in entries.items():
        assert de and en, key
        assert not foreign_words(_fill(de), "de"), (table, key, foreign_words(_fill(de), "de"))
        assert not foreign_words(_fill(en), "en"), (table, key, foreign_words(_fill(en), "en"))
    for key, (de, de_zu, en) in M.WHAT.items():
        assert not foreign_words(de + " " + de_zu, "de") and not foreign_words(en, "en"), key
    for key, (de, en) in routing.REASONS.items():
        assert not foreign_words(_fill(de), "de") and not foreign_words(_fill(en), "en"), key


def test_refusals_are_built_only_from_the_table():
    """A refusal with a hand-written message would skip the language setting: none outside messages.py."""
    for path in sorted((ROOT / "einvoice" / "approval").glob("*.py")):
        if path.name in ("messages.py", "__init__.py", "types.py"):  # the table, the type itself
            continue
        hits = [m.group(0) for m in re.finditer(r"\bRefusal\(", path.read_text(encoding="utf-8"))]
        assert not hits, f"{path.name} builds a Refusal itself; add its text to messages.REFUSALS"
    # Every rule ID the rules module documents has its text.
    documented = re.findall(r"[A-Z][A-Z-]+[A-Z]", (ROOT / "einvoice/approval/rules.py").read_text().split('"""')[1])
    keys = {k.split("/")[0] for k in M.REFUSALS}
    assert {d for d in documented if "-" in d} <= keys


def _walk(svc: ApprovalService, new_invoice, clock) -> list[str]:
    """Drive the service into as many refusals as one town allows; return every text it gave a person."""
    out: list[str] = []
    seen_rules: set[str] = set()
    numbers = iter(range(1, 1000))
    make = new_invoice

    def new_invoice(**kw):  # fixed invoice numbers: the random default could spell a word
        kw.setdefault("number", f"T-{next(numbers)}")
        return make(**kw)

    def no(result):
        assert not result.ok, result
        out.append(result.refusal.message)
        seen_rules.add(result.refusal.rule)
        return result.refusal

    def task(inv):
        return svc.open_task_of(inv).task_id

    a = new_invoice(amount="1190.00")
    t = task(a)
    no(svc.approve(t, "z.zz"))
    no(svc.approve(t, "k.lange"))
    no(svc.approve(t, "m.vogel"))  # LIMIT
    no(svc.approve(t, "d.yilmaz"))  # NOT-AUTHORISED
    no(svc.send_back(t, "a.schulz", reason="x"))
    no(svc.reject(t, "a.schulz", reason=""))
    no(svc.forward(t, "a.schulz", department="99"))
    no(svc.forward(t, "a.schulz", department="66"))
    no(svc.comment(a, "a.schulz", ""))
    no(svc.comment(a, "d.yilmaz", "hallo"))
    no(svc.override_duplicate(a, "c.wagner", reason="x"))
    no(svc.reopen(a, "h.wolf"))
    no(svc.approve(999_999, "a.schulz"))
    no(svc.comment(999_999, "a.schulz", "x"))
    assert svc.approve(t, "a.schulz").ok
    no(svc.approve(t, "a.schulz"))  # STALE (decided)
    out.extend(r.message for r in svc.allowed(t, "a.schulz").values() if r)
    t2 = task(a)
    no(svc.approve(t2, "b.keller"))  # AMOUNT-REQUIRED
    no(svc.approve(t2, "b.keller", amount=Decimal("1.00")))  # AMOUNT-MISMATCH
    no(svc.send_back(t2, "b.keller", reason=""))
    assert svc.approve(t2, "l.schmitt", amount=Decimal("1190.00")).ok
    t3 = task(a)
    no(svc.approve(t3, "l.schmitt"))  # SOD-ANORDNUNG-RECHNERISCH
    no(svc.approve(t3, "a.schulz"))  # NOT-AUTHORISED, and SOD in allowed()
    assert svc.approve(t3, "c.wagner").ok
    t4 = task(a)
    no(svc.approve(t4, "a.schulz"))  # NOT-AUTHORISED (central role)
    out.extend(r.message for r in svc.allowed(t4, "c.wagner").values() if r)
    # SOD-ONE-PERSON-ONE-STEP: the Hauptamt, where f.becker holds both sachlich and rechnerisch.
    h = new_invoice(department="10", amount="500.00")
    assert svc.approve(task(h), "f.becker").ok
    no(svc.approve(task(h), "f.becker", amount=Decimal("500.00")))
    # A deputy outside the absence.
    no(svc.approve(task(new_invoice()), "b.keller"))
    # Duplicates: the reason, the override without a reason, the release blocked.
    first = new_invoice(number="DUP-1")
    dup = new_invoice(number="DUP-1")
    out.extend(f.reason for f in svc.duplicates(dup))
    out.extend(e.comment for e in svc.history(dup) if e.comment)
    no(svc.override_duplicate(dup, "c.wagner", reason=""))
    assert svc.approve(task(dup), "a.schulz").ok
    assert svc.approve(task(dup), "b.keller", amount=Decimal("1190.00")).ok
    assert svc.approve(task(dup), "c.wagner").ok
    no(svc.approve(task(dup), "j.krause"))  # DUPLICATE-BLOCKS
    no(svc.approve(task(new_invoice(amount="9000.00", number="GROSS-1")), "q.fuchs"))  # sachlich: NOT-AUTHORISED
    # Forwarding writes a routing reason; a reminder a message.
    f = new_invoice()
    assert svc.forward(task(f), "a.schulz", department="40", comment=None).ok
    out.append(svc.open_task_of(f).routing_reason)
    reminders = svc.send_reminders(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=10))  # tasks are dated by the real clock
    assert {r.kind for r in reminders} == {"escalation"}
    out.extend(r.message for r in reminders)
    out.extend(e.comment for e in svc.history(a) if e.comment)
    assert first
    expected = {"UNKNOWN-PERSON", "AUDITOR-READ-ONLY", "LIMIT", "NOT-AUTHORISED", "NO-PREVIOUS-STEP", "REASON-REQUIRED",
                "UNKNOWN-DEPARTMENT", "SAME-DEPARTMENT", "NO-DUPLICATE-FLAG", "NOT-RETURNED", "NO-SUCH-TASK",
                "NO-SUCH-INVOICE", "STALE", "AMOUNT-REQUIRED", "AMOUNT-MISMATCH", "SOD-ANORDNUNG-RECHNERISCH",
                "SOD-ONE-PERSON-ONE-STEP", "DEPUTY-NOT-ABSENT", "DUPLICATE-BLOCKS"}
    assert expected <= seen_rules, expected - seen_rules
    return out


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_service_speaks_the_language_set(lang, monkeypatch, svc, new_invoice, clock):
    monkeypatch.setenv("EINVOICE_LANGUAGE", lang)
    texts = _walk(svc, new_invoice, clock)
    assert len(texts) > 30
    bad = {t: foreign_words(t, lang) for t in texts if foreign_words(t, lang)}
    assert not bad, bad
    # Trail labels of every action the service writes.
    for action in M.ACTIONS:
        assert not foreign_words(M.action_name(action), lang)
    assert M.role_name("treasury") == ("Kasse" if lang == "de" else "treasury")
    assert M.action_name("sachlich_richtig") == ("sachlich richtig" if lang == "de" else "sachlich richtig (certified)")


def test_routing_reasons_follow_the_setting(monkeypatch, org):
    inp = routing.RoutingInput(buyer_reference="05999000-66-70")
    assert routing.route(inp, org).reason == "Leitweg-ID (BT-10) 05999000-66-70 gehört zu 66 Tiefbauamt"
    monkeypatch.setenv("EINVOICE_LANGUAGE", "en")
    assert routing.route(inp, org).reason == "Leitweg-ID (BT-10) 05999000-66-70 belongs to 66 Tiefbauamt"
    lost = routing.route(routing.RoutingInput(seller_name="Zeta GmbH"), org)
    assert lost.to_central_desk and not foreign_words(lost.reason, "en")
    monkeypatch.setenv("EINVOICE_LANGUAGE", "de")
    lost = routing.route(routing.RoutingInput(seller_name="Zeta GmbH"), org)
    assert lost.reason.startswith("kein Amt gefunden") and not foreign_words(lost.reason, "de")


def test_finance_questions_are_worded_too(monkeypatch, org):
    """einvoice.finance asks ``rules.capacity`` with English phrases; the refusal reads in one language."""
    import datetime as dt

    from einvoice.approval import rules
    from einvoice.organisation import Role

    for lang in ("de", "en"):
        monkeypatch.setenv("EINVOICE_LANGUAGE", lang)
        for what in ("send a posting again", "release payment run 17", "hand payment run 17 to the bank again",
                     "prepare a payment run", "enter a booking number", "record a booking made by hand"):
            r = rules.capacity(org, "a.schulz", Role.TREASURY, org.central_desk, Decimal(0), dt.date(2026, 11, 23), what=what)
            assert r.rule == "NOT-AUTHORISED" and not foreign_words(r.message, lang), r.message
    monkeypatch.setenv("EINVOICE_LANGUAGE", "de")
    assert M.what("release payment run 17") == "den Zahlungslauf 17 freigeben"


def test_unknown_language_falls_back_to_german(monkeypatch):
    monkeypatch.setenv("EINVOICE_LANGUAGE", "fr")
    assert M.refusal("NO-SUCH-TASK", task_id=5).message == "Es gibt keine Freigabeaufgabe 5."
    assert M.money(Decimal("1234.5")) == "1.234,50 EUR"
    monkeypatch.setenv("EINVOICE_LANGUAGE", "en")
    assert M.money(Decimal("1234.5")) == "1,234.50 EUR"


def _code_free(text: str) -> str:
    """Commands and status codes in backticks are code, not words of a language."""
    return re.sub(r"`[^`]*`", " ", text)


@pytest.mark.parametrize("table", ["finance.MESSAGES", "finance.WORDS", "finance.TRAIL", "notices.TRAIL"])
def test_finance_and_notice_texts_have_both_languages_without_foreign_words(table):
    from einvoice.finance import messages as finance
    from einvoice.notices import outbox as notices

    entries = getattr({"finance": finance, "notices": notices}[table.split(".")[0]], table.split(".")[1])
    assert entries
    for key, (de, en) in entries.items():
        assert de and en and de != en, key
        assert not foreign_words(_code_free(_fill(de)), "de"), (table, key, foreign_words(_code_free(_fill(de)), "de"))
        assert not foreign_words(_code_free(_fill(en)), "en"), (table, key, foreign_words(_code_free(_fill(en)), "en"))


@pytest.mark.parametrize("stored", ["valid", "valid (1 warning)", "valid (4 warnings)", "invalid",
                                    "invalid: BR-DE-15 Leitweg-ID fehlt; +2 more", "not validated: stage xsd could not run",
                                    "not validated: a validation stage could not run"])
def test_stored_verdicts_are_shown_in_the_language_set(stored, monkeypatch):
    from einvoice.validation.report import verdict_text

    monkeypatch.setenv("EINVOICE_LANGUAGE", "de")
    de = verdict_text(stored)
    assert de != stored and not foreign_words(de, "de"), de
    monkeypatch.setenv("EINVOICE_LANGUAGE", "en")
    assert verdict_text(stored) == stored
    assert verdict_text("nicht archiviert, bleibt im Eingang: S3 down") == "not archived, stays in the inbox: S3 down"
