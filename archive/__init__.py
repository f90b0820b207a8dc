"""Audit-proof archive: content-addressed documents, an RFC 9162 hash-chained Merkle log with
Ed25519-signed checkpoints on S3 Object Lock (COMPLIANCE), and an offline verifier.

Usable alone by an auditor: this package knows nothing about invoices beyond "an entry with
documents and metadata", and must never import from the rest of the project (``einvoice``,
``flows``). See ``archive/README.md`` for the layout and the guarantees.
"""
from .errors import ArchiveError
from .model import ArchiveDocument, Checkpoint, EntryInput, EntryReceipt, RetentionPolicy
from .writer import Archive

__all__ = ["Archive", "ArchiveDocument", "ArchiveError", "Checkpoint", "EntryInput", "EntryReceipt",
           "RetentionPolicy"]
