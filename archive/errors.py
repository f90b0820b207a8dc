"""The one exception type of the archive package.

Every failure the archive reports to a caller is an ``ArchiveError`` with a message that names
what was expected and what was found. Integrity findings of the verifier are *values* (see
``archive.verify.Problem``), not exceptions: a verifier must report every problem, not stop at
the first one. This module must never import anything outside the standard library.
"""
from __future__ import annotations


class ArchiveError(Exception):
    """A usage, configuration, storage or integrity error of the archive.

    ``kind`` lets callers (and the CLI exit codes) tell classes apart without parsing text:
    ``"usage"`` (bad arguments, bad bucket), ``"io"`` (storage unreachable, object missing),
    ``"integrity"`` (stored data does not match what the log says), ``"conflict"`` (another
    writer won a race and the retry budget was exhausted).
    """

    def __init__(self, message: str, kind: str = "usage") -> None:
        super().__init__(message)
        self.kind = kind
