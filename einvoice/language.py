"""The language and the time zone of everything a person reads (issue #17: built for German clerks).

``EINVOICE_LANGUAGE`` is ``de`` (default) or ``en``; each layer keeps its texts in one table
(rule ID or key -> (German, English)) and picks with ``pick``. A trail comment is stored in the
language set and, in its details, in both (``worded``), so the pages show it in the language set
when it is read (``shown``; older rows without both wordings show as they were stored). Times are stored in UTC and shown
in Europe/Berlin (``local``). This module must never hold a layer's texts itself and never
read anything but the environment.
"""
from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

LANGUAGES = ("de", "en")
#: Where the people who read the pages, the trail and the reminders work.
PEOPLE_TZ = ZoneInfo("Europe/Berlin")


def language() -> str:
    """``de`` or ``en`` from EINVOICE_LANGUAGE (read on every call, so tests and services can switch)."""
    value = (os.environ.get("EINVOICE_LANGUAGE") or "de").strip().lower()
    return value if value in LANGUAGES else "de"


def pick(texts: tuple[str, str], lang: str | None = None) -> str:
    """The German or English one of a (de, en) pair."""
    return texts[1] if (lang or language()) == "en" else texts[0]


def worded(texts: tuple[str, str], **values) -> tuple[str, dict[str, str]]:
    """A comment for the audit trail: the sentence in the language set, and both wordings to keep in
    the event's details (``comment_de``, ``comment_en``). A value may itself be a (de, en) pair."""
    de, en = (texts[i].format(**{k: v[i] if _pair(v) else v for k, v in values.items()}) for i in (0, 1))
    return pick((de, en)), {"comment_de": de, "comment_en": en}


def shown(comment: str | None, details: dict | None, lang: str | None = None) -> str:
    """A stored trail comment in the language set, where the event kept both wordings."""
    return (details or {}).get(f"comment_{lang or language()}") or comment or ""


def _pair(value) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(x, str) for x in value)


def local(value: dt.datetime) -> dt.datetime:
    """A stored time (UTC; naive values are UTC, as SQLite returns them) in Europe/Berlin."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(PEOPLE_TZ)
