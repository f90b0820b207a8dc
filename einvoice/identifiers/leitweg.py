"""Leitweg-ID (BT-10) format and check-digit verification.

The Leitweg-ID routes an invoice to the right public buyer: ``Grobadressierung`` (2-12 digits),
optional ``Feinadressierung`` (up to 30 of A-Z/0-9), two check digits (ISO 7064 MOD 97-10), joined
by hyphens, 5-46 characters in all (KoSIT "Formatspezifikation Leitweg-ID").

This module only checks; it must never "repair" a Leitweg-ID (a wrong routing key must reach a
person, not be guessed).
"""
from __future__ import annotations

import re

_FORMAT = re.compile(r"^(?P<grob>[0-9]{2,12})(?:-(?P<fein>[A-Z0-9]{1,30}))?-(?P<check>[0-9]{2})$")
_KNOWN_LAND = {f"{n:02d}" for n in range(1, 17)} | {"99"}


def mod97_10(text: str) -> int:
    """ISO 7064 MOD 97-10 remainder of ``text`` (digits, letters A=10 ... Z=35)."""
    digits = "".join(str(int(c, 36)) for c in text)
    return int(digits) % 97


def check_leitweg_id(value: str) -> list[str]:
    """Return problems with ``value`` as a Leitweg-ID; an empty list means it is valid."""
    if value is None or not value.strip():
        return ["The Leitweg-ID (BT-10) is empty."]
    v = value.strip()
    problems: list[str] = []
    if v != value:
        problems.append("The Leitweg-ID has leading or trailing spaces.")
    if not 5 <= len(v) <= 46:
        problems.append(f"The Leitweg-ID '{v}' has {len(v)} characters; it must have 5 to 46.")
    m = _FORMAT.match(v)
    if not m:
        if v.upper() != v and _FORMAT.match(v.upper()):
            problems.append(f"The Leitweg-ID '{v}' contains lower-case letters; only A-Z and 0-9 are allowed.")
        else:
            problems.append(
                f"The Leitweg-ID '{v}' does not have the form Grobadressierung(2-12 digits)"
                "[-Feinadressierung(up to 30 of A-Z, 0-9)]-Prüfziffer(2 digits)."
            )
        return problems
    if m.group("grob")[:2] not in _KNOWN_LAND:
        problems.append(
            f"The Leitweg-ID '{v}' starts with '{m.group('grob')[:2]}'; the first two digits must name a Land (01-16) or the Bund (99)."
        )
    if mod97_10(v.replace("-", "")) != 1:
        problems.append(
            f"The check digits of the Leitweg-ID '{v}' are wrong (ISO 7064 MOD 97-10); the ID was probably mistyped."
        )
    return problems


def is_valid_leitweg_id(value: str) -> bool:
    return not check_leitweg_id(value)
