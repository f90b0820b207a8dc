"""The language and the time zone of everything a person reads (issue #17: built for German clerks).

``EINVOICE_LANGUAGE`` is ``de`` (default) or ``en``; each layer keeps its texts in one table
(rule ID or key -> (German, English)) and picks with ``pick``. Times are stored in UTC and shown
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


def local(value: dt.datetime) -> dt.datetime:
    """A stored time (UTC; naive values are UTC, as SQLite returns them) in Europe/Berlin."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(PEOPLE_TZ)
