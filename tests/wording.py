"""A small word-list heuristic for tests: does a text a person reads contain words of the other language?

Rule IDs, codes and proper names are left alone: the lists hold only function words and common
words that occur in sentences ("the", "may", "must" / "der", "nicht", "bitte") and on the pages
("page", "search" / "Seite", "Suche"), not terms of the trade that stay German in English texts
(sachliche Richtigkeit, Anordnung, Wertgrenze, Skonto, Leitweg-ID). ``TERMS`` are names of
things that read the same in both languages and are taken out before the words are compared.
"""
from __future__ import annotations

import html as html_lib
import re

ENGLISH = frozenset("""
the this that these you your may must cannot can't already someone somebody nobody invoice invoices department
please not only with has have is are were be been of to for and or by there step steps reject rejected forward
forwarded amount limit grant belongs assigned supplier order reference found received approved closed unknown
which who when why what because again here now any one needs give given sign signed deputy absent
shall should missing allowed contain contains sum
page pages search reset deadline due overdue today tomorrow days left inbox overview treasury submit
file result notes sorted open tasks previous next receipt
""".split())

GERMAN = frozenset("""
der die das den dem des und nicht ist sind war eine einer eines einem diese dieser dieses bitte kann können darf
dürfen muss müssen wurde wurden für mit von nur bereits keine kein keinen zurück rechnung rechnungen amt ämter
jemand niemand heute gerade noch sie ihr ihre wenn weil oder auch schon zum zur beim
seite seiten suche filtern zurücksetzen frist fällig überfällig morgen tagen tage lieferant betrag hinweise
posteingang übersicht stadtkasse abmelden anmelden einreichen datei ergebnis eingang sortiert nach bis vom alle
offene offenen aufgaben vorige nächste zuletzt geändert
""".split())

#: Names that are the same in both languages (a product, a header of the HTTP protocol, the
#: XRechnung keyword of a Skonto term in BT-20, quoted in the explanation of BR-DE-18).
TERMS = ("Single Sign-on", "Authorization: Bearer", "#SKONTO#TAGE=")

WORD = re.compile(r"[A-Za-zÄÖÜäöüß']+")
RULE_ID = re.compile(r"\b[A-Z0-9]+(?:-[A-Z0-9]+)+\b")  # NOT-AUTHORISED, BR-DE-18: codes, not words
WITH_DIGIT = re.compile(r"[^\s,;()]*\d[^\s,;()]*")  # invoice numbers, ids (RE-af611be1): data, not words
EMAIL = re.compile(r"[^\s<>()\[\],;:]+@[^\s<>()\[\],;:]+")  # addresses (einkauf@lieferant.example): data, not words


def foreign_words(text: str, lang: str) -> set[str]:
    """Words of the *other* language in ``text`` (lang = the language the text should be in)."""
    for term in TERMS:
        text = text.replace(term, " ")
    words = {w.lower() for w in WORD.findall(WITH_DIGIT.sub(" ", RULE_ID.sub(" ", EMAIL.sub(" ", text))))}
    return words & (ENGLISH if lang == "de" else GERMAN)


def visible_text(html: str) -> str:
    """What a person reads on a page: the text outside tags, scripts and styles, plus title/aria/placeholder texts."""
    html = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    attrs = " ".join(re.findall(r'(?:title|aria-label|placeholder|alt)="([^"]*)"', html))
    text = re.sub(r"(?s)<[^>]+>", " ", html)
    return html_lib.unescape(text + " " + attrs)
