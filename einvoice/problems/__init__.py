"""The one shape of an error for people within einvoice: ``Problem(rule, message)``.

Every stage reports what went wrong as a value, never as an exception: a stable rule ID (what
tests, logs and the finance system match on) and a sentence a person can act on (German where
a person of the administration or a supplier reads it). The stage-specific types (an intake or
envelope problem with its severity, a finance or notice problem, an approval refusal, a refused
upload with its HTTP status, ...) are subclasses that add what their stage needs, so code that
only shows or logs a problem reads ``.rule`` and ``.message`` of any of them. This module must
never import anything of einvoice: every layer may use it. (The archive has its own findings in
``archive.problems``: the archive knows nothing of einvoice.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """Why something was not done or not accepted: a stable rule ID and a sentence."""

    rule: str
    message: str
    #: further facts for logs and machine readers (amounts, ids); never needed to understand it
    details: dict[str, Any] | None = field(default=None, kw_only=True, compare=False, hash=False)

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"
