"""Canonical JSON: the one byte encoding of leaves, checkpoints and proofs that gets hashed/signed.

Sorted keys, no insignificant whitespace, UTF-8 (no ``\\u`` escapes for non-ASCII), and no
floating-point numbers: float formatting differs between implementations, so a float in a
hashed record would make the hash depend on the verifier's language. Callers pass amounts as
strings ("1234.50"). This module must never accept a value whose encoding is ambiguous.
"""
from __future__ import annotations

import json
from typing import Any

from .errors import ArchiveError


def _check(value: Any, path: str) -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise ArchiveError(f"{path}: floating-point numbers are not allowed in archived records "
                           f"(got {value!r}); pass amounts as strings such as \"1234.50\"")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ArchiveError(f"{path}: object keys must be strings, got {k!r}")
            _check(v, f"{path}.{k}")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check(v, f"{path}[{i}]")
        return
    raise ArchiveError(f"{path}: value of type {type(value).__name__} cannot be archived as JSON; "
                       f"convert it to a string first (dates as ISO 8601)")


def dumps(value: Any) -> bytes:
    """Encode ``value`` canonically; raises ArchiveError for values without one encoding."""
    _check(value, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _no_float(text: str) -> Any:
    raise ValueError(f"floating-point number {text} (not allowed in canonical JSON)")


# Built once: json.loads(...) with hooks would build a new decoder per call (verifier hot path).
_DECODER = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def loads(data: bytes) -> Any:
    """Decode JSON bytes; raises ArchiveError (kind integrity) for invalid UTF-8/JSON or any float."""
    try:
        return _DECODER.decode(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArchiveError(f"not valid canonical-JSON input: {exc}", kind="integrity") from exc


def encodes_to(value: Any, data: bytes) -> bool:
    """True if ``value`` (decoded by ``loads``, so free of floats) encodes canonically to ``data``."""
    return _ENCODER.encode(value).encode("utf-8") == data


def is_canonical(data: bytes) -> bool:
    """True if ``data`` is exactly the canonical encoding of what it decodes to."""
    try:
        return encodes_to(loads(data), data)
    except ArchiveError:
        return False
