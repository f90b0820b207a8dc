"""Findings of the verifiers (``archive.verify``, ``archive.proof``): severities and the ``Problem`` value.

Shared by the log verifier, the proof verifier and the version/witness checks so none of them
imports another's module. A finding is a value with a stable ``code`` (the rule id an auditor
greps for), a message, the key it concerns and expected vs computed values. This module must
never import anything but the standard library.
"""
from __future__ import annotations

from dataclasses import dataclass

FAILURE, ORPHAN, NOTE = "failure", "orphan", "note"


@dataclass
class Problem:
    severity: str
    code: str
    message: str
    key: str | None = None
    expected: str | None = None
    computed: str | None = None

    def text(self) -> str:
        s = f"[{self.severity}] {self.code}: {self.message}"
        if self.expected is not None or self.computed is not None:
            s += f" (expected {self.expected}, computed {self.computed})"
        return s
