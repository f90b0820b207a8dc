"""Wiring: builds the database, organisation, archive and intake pipeline from the settings.

The CLI, the web app and the Prefect flows all start here so they run the same configuration.
This module holds no business rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from einvoice.db import Database
from einvoice.organisation import Organisation, load_organisation
from einvoice.settings import Settings, s3_client


def intake_hooks() -> list:
    """What intake runs in the transaction that records new files (``IntakePipeline.on_record``):
    the approval chain's first tasks and duplicate check, then the supplier notices."""
    from einvoice.approval import start_approval_many
    from einvoice.notices import queue_for_intake

    def start_approval(session, recorded, organisation) -> None:
        start_approval_many(session, [row for row, _model in recorded], organisation)

    return [start_approval, queue_for_intake]


@dataclass
class App:
    settings: Settings

    @classmethod
    def from_env(cls) -> "App":
        return cls(Settings.from_env())

    @cached_property
    def organisation(self) -> Organisation:
        return load_organisation(self.settings.organisation_file)

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.database_url).migrate()

    @property
    def archive_bucket(self) -> str:
        return self.settings.archive_bucket or self.organisation.archive.bucket

    @cached_property
    def s3(self):
        return s3_client(self.settings.s3_endpoint)

    @cached_property
    def archive(self):
        from archive import Archive, RetentionPolicy

        key = None
        if self.settings.signing_key_file is not None:
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            key = load_pem_private_key(self.settings.signing_key_file.read_bytes(), password=None)
        policy = RetentionPolicy(classes=dict(self.organisation.archive.retention_years), default_class="invoice")
        return Archive(self.s3, self.archive_bucket, signing_key=key, policy=policy, witness=self.archive_witness)

    @cached_property
    def archive_witness(self):
        """Where every checkpoint is also written (EINVOICE_ARCHIVE_WITNESS; None: no witness).

        An S3 witness gets its own client with EINVOICE_ARCHIVE_WITNESS_ACCESS_KEY_ID/_SECRET_ACCESS_KEY:
        credentials the archive bucket's writer role must not have, or the witness proves nothing."""
        s = self.settings
        if not s.archive_witness:
            return None
        from archive.witness import open_witness

        if s.archive_witness.startswith("s3://") and not (s.archive_witness_access_key and s.archive_witness_secret_key):
            raise ValueError("EINVOICE_ARCHIVE_WITNESS names a bucket but EINVOICE_ARCHIVE_WITNESS_ACCESS_KEY_ID / "
                             "_SECRET_ACCESS_KEY are not set: the witness needs credentials of its own")
        return open_witness(s.archive_witness, endpoint=s.archive_witness_endpoint or s.s3_endpoint,
                            access_key=s.archive_witness_access_key, secret_key=s.archive_witness_secret_key)

    @cached_property
    def timestamp_authority(self):
        """The RFC 3161 TSA that anchors the archive (None when EINVOICE_TSA_URL is not set)."""
        if not self.settings.tsa_url:
            return None
        from archive.timestamp import TimestampAuthority, load_certificates

        if not self.settings.tsa_roots:
            raise ValueError("EINVOICE_TSA_URL is set but EINVOICE_TSA_ROOTS is not: name the TSA's root "
                             "certificate file(s), so its tokens can be checked before they are stored")
        return TimestampAuthority(self.settings.tsa_url, load_certificates(self.settings.tsa_roots))

    def release_hooks(self) -> list:
        """Functions run inside the transaction that releases an invoice (finance writes its outbox there)."""
        from einvoice.finance import release_hook

        return [release_hook(self)]

    @cached_property
    def approval(self):
        from einvoice.approval import ApprovalService

        return ApprovalService(self.db, self.organisation, on_release=self.release_hooks())

    def original_bytes(self, invoice_row) -> bytes:
        """The received file exactly as archived (the archive, not the database, holds originals)."""
        # The archive's content of a key is its first (locked) version: a later version or a delete
        # marker someone with the bucket's write credentials added must never be served instead.
        import hashlib

        from archive import ArchiveError
        from archive.store import S3Store

        key = invoice_row.archive_original_key
        data = S3Store(self.s3, self.archive_bucket).get(key)
        if data is None:
            raise ArchiveError(f"archived original {key} is missing from bucket {self.archive_bucket}", kind="io")
        if key.startswith("objects/sha256/") and hashlib.sha256(data).hexdigest() != key.rsplit("/", 1)[1]:
            raise ArchiveError(f"archived original {key} does not hash to its name: run `einvoice archive verify`",
                               kind="integrity")
        return data

    @cached_property
    def intake(self):
        from einvoice.pipeline import IntakePipeline, default_validation_jobs
        from einvoice.validation.config import ValidationConfig

        config = ValidationConfig(severity_overrides=dict(self.organisation.validation_severity_overrides))
        return IntakePipeline(self.db, self.organisation, self.archive, validation_config=config,
                              validation_jobs=default_validation_jobs(), on_record=intake_hooks())
