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


def _make_fast_encode():
    """The C encoder behind ``_ENCODER``, called directly: JSONEncoder.encode spends more time in
    Python (per-call set-up, a circular-reference memo) than the C encoder spends encoding a leaf.
    No memo is needed for values that came out of ``loads`` (they cannot be circular). None if
    this Python has no C encoder or it disagrees with ``_ENCODER`` on a sample."""
    from json import encoder as json_encoder

    # Undocumented (None without the C extension) and absent from the standard library's stubs.
    c_make_encoder = getattr(json_encoder, "c_make_encoder", None)
    if c_make_encoder is None:
        return None
    try:
        enc = c_make_encoder(None, _ENCODER.default, json_encoder.encode_basestring, None, ":", ",", True, False, False)
        sample = {"b": [1, "ä\n\u2028\"", None, True, {"y": -12345678901234567890, "x": ""}], "a": {}}
        if "".join(enc(sample, 0)) != _ENCODER.encode(sample):
            return None
    except TypeError:
        return None
    return lambda value: "".join(enc(value, 0))


_fast_encode = _make_fast_encode()


def encodes_to(value: Any, data: bytes) -> bool:
    """True if ``value`` (decoded by ``loads``, so free of floats) encodes canonically to ``data``."""
    text = _fast_encode(value) if _fast_encode is not None else _ENCODER.encode(value)
    return text.encode("utf-8") == data


def is_canonical(data: bytes) -> bool:
    """True if ``data`` is exactly the canonical encoding of what it decodes to."""
    try:
        return encodes_to(loads(data), data)
    except ArchiveError:
        return False
