"""Runtime settings from the environment (secrets and installation paths, nothing municipal).

Local decisions (departments, people, limits, retention) belong in the organisation file; this
module only says where things are: database, organisation file, S3 endpoint, signing key, TSA,
archive witness.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_EXAMPLE_ORG = Path(__file__).resolve().parent.parent / "examples" / "musterhausen.yaml"


@dataclass(frozen=True)
class Settings:
    database_url: str
    organisation_file: Path
    s3_endpoint: str | None
    archive_bucket: str | None  # overrides the organisation file's archive.bucket
    signing_key_file: Path | None
    # RFC 3161 time-stamping authority that anchors the archive's checkpoints (archive.timestamp),
    # and the root certificate(s) its tokens must chain to; without a URL nothing is time-stamped.
    tsa_url: str | None = None
    tsa_roots: tuple[Path, ...] = ()
    # Leaf ranges "FIRST-LAST,..." whose late anchoring the operator has explained (anchoring
    # switched on for an existing archive, a TSA outage longer than the verifier's 72 h).
    tsa_accept_late: str = ""
    # Where every archive checkpoint is also written (archive.witness): "dir:/path" or
    # "s3://bucket/prefix", with credentials of its own that the archive's writer does not hold.
    archive_witness: str | None = None
    archive_witness_endpoint: str | None = None
    archive_witness_access_key: str | None = None
    archive_witness_secret_key: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        return cls(
            database_url=env.get("EINVOICE_DATABASE_URL", "sqlite:///var/einvoice.sqlite"),
            organisation_file=Path(env.get("EINVOICE_ORGANISATION", str(REPO_EXAMPLE_ORG))),
            s3_endpoint=env.get("EINVOICE_S3_ENDPOINT") or None,
            archive_bucket=env.get("EINVOICE_ARCHIVE_BUCKET") or None,
            signing_key_file=Path(env["EINVOICE_ARCHIVE_SIGNING_KEY"]) if env.get("EINVOICE_ARCHIVE_SIGNING_KEY") else None,
            tsa_url=env.get("EINVOICE_TSA_URL") or None,
            tsa_roots=tuple(Path(p) for p in env.get("EINVOICE_TSA_ROOTS", "").split(os.pathsep) if p),
            tsa_accept_late=env.get("EINVOICE_TSA_ACCEPT_LATE", ""),
            archive_witness=env.get("EINVOICE_ARCHIVE_WITNESS") or None,
            archive_witness_endpoint=env.get("EINVOICE_ARCHIVE_WITNESS_ENDPOINT") or None,
            archive_witness_access_key=env.get("EINVOICE_ARCHIVE_WITNESS_ACCESS_KEY_ID") or None,
            archive_witness_secret_key=env.get("EINVOICE_ARCHIVE_WITNESS_SECRET_ACCESS_KEY") or None,
        )


def s3_client(endpoint: str | None):
    """A boto3 S3 client; credentials come from the usual AWS_* environment variables."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"}, max_pool_connections=32),
    )
