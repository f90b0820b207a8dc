"""`make demo`: a complete local run with no network and no set-up.

Starts a throw-away SeaweedFS (S3 with Object Lock) on free loopback ports, uses SQLite and
Prefect's ephemeral API, generates the project's sample invoices, runs the ``process-inbox`` flow
over them twice (the second run shows idempotency), prints a summary and stops what it started.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path


def main(workdir: str | None = None) -> int:
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The ephemeral API server needs longer than the default to start on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from einvoice.seaweedfs import SeaweedFS

    base = Path(workdir or tempfile.mkdtemp(prefix="einvoice-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    inbox = base / "inbox"
    key_file = base / "archive-signing-key.pem"
    key = Ed25519PrivateKey.generate()
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (base / "archive-signing-key.pub.pem").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    print(f"demo directory: {base}")
    print("starting SeaweedFS (S3 with Object Lock) on free loopback ports ...", flush=True)
    with SeaweedFS(data_dir=base / "seaweedfs") as s3server:
        os.environ.update(s3server.env())
        os.environ["EINVOICE_DATABASE_URL"] = f"sqlite:///{base / 'einvoice.sqlite'}"
        os.environ["EINVOICE_ARCHIVE_SIGNING_KEY"] = str(key_file)
        os.environ["PREFECT_HOME"] = str(base / "prefect")
        from archive import Archive
        from einvoice.app import App
        from einvoice.samples import write_samples

        app = App.from_env()
        Archive.init_bucket(app.s3, app.archive_bucket)
        samples = write_samples(inbox)
        (inbox / "manifest.json").unlink(missing_ok=True)  # the generator's index, not a received file
        print(f"S3 endpoint {s3server.endpoint}, bucket {app.archive_bucket}; {len(samples)} sample files in {inbox}")

        from einvoice.cli import print_outcomes
        from einvoice.pipeline import IngestOutcome
        from flows.process_inbox import process_inbox

        print("running flow process-inbox (Prefect ephemeral API) ...", flush=True)
        outcomes = [IngestOutcome(**o) for o in process_inbox(str(inbox))]
        print_outcomes(outcomes)
        print("running it again: every file is recognised as already received (idempotent) ...", flush=True)
        again = [IngestOutcome(**o) for o in process_inbox(str(inbox))]
        repeated = sum(o.already_received for o in again)
        print(f"second run: {repeated} of {len(again)} files already received, nothing stored twice")
        print("verifying the archive as an auditor would (every hash, the chain, the tree, signatures, locks) ...", flush=True)
        from archive.store import S3Store
        from archive.verify import verify

        report = verify(S3Store(app.s3, app.archive_bucket), key.public_key(), check_lock=True)
        print(report.to_text())
        if not report.ok:
            return 1
        app.db.dispose()
    print("SeaweedFS stopped.")
    if workdir is None and os.environ.get("EINVOICE_DEMO_KEEP") != "1":
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
