"""A small word-list heuristic for tests: does a text a person reads contain words of the other language?

Rule IDs, codes and proper names are left alone: the lists hold only function words and common
words that occur in sentences ("the", "may", "must" / "der", "nicht", "bitte"), not terms of the
trade that stay German in English texts (sachliche Richtigkeit, Anordnung, Wertgrenze).
"""
from __future__ import annotations

import re

ENGLISH = frozenset("""
the this that these you your may must cannot can't already someone somebody nobody invoice invoices department
please not only with has have is are were be been of to for and or by there step steps reject rejected forward
forwarded amount limit grant belongs assigned supplier order reference found received approved closed unknown
which who when why what because again here now any one needs give given sign signed deputy absent
shall should missing allowed contain contains sum
""".split())

GERMAN = frozenset("""
der die das den dem des und nicht ist sind war eine einer eines einem diese dieser dieses bitte kann können darf
dürfen muss müssen wurde wurden für mit von nur bereits keine kein keinen zurück rechnung rechnungen amt ämter
jemand niemand heute gerade noch sie ihr ihre wenn weil oder auch schon zum zur beim
""".split())

WORD = re.compile(r"[A-Za-zÄÖÜäöüß']+")
RULE_ID = re.compile(r"\b[A-Z0-9]+(?:-[A-Z0-9]+)+\b")  # NOT-AUTHORISED, BR-DE-18: codes, not words
WITH_DIGIT = re.compile(r"[^\s,;()]*\d[^\s,;()]*")  # invoice numbers, ids (RE-af611be1): data, not words


def foreign_words(text: str, lang: str) -> set[str]:
    """Words of the *other* language in ``text`` (lang = the language the text should be in)."""
    words = {w.lower() for w in WORD.findall(WITH_DIGIT.sub(" ", RULE_ID.sub(" ", text)))}
    return words & (ENGLISH if lang == "de" else GERMAN)
