"""Fixtures of the e-mail intake tests: a real Dovecot (module-wide), the samples, an App on SeaweedFS
and the test database, and a mailbox emptied before each test."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devtools.dovecot import Dovecot
from tests.intake.helpers import FOLDERS, _imap


@pytest.fixture(scope="module")
def dovecot():
    server = Dovecot().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    from devtools.samples import write_samples

    directory = tmp_path_factory.mktemp("samples")
    write_samples(directory)
    return {p.name: p.read_bytes() for p in directory.iterdir()}


@pytest.fixture
def app(tmp_path, monkeypatch, seaweedfs, database_url, bucket_name):
    from archive import Archive
    from einvoice.app import App

    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EINVOICE_DATABASE_URL", database_url)
    monkeypatch.setenv("EINVOICE_ARCHIVE_BUCKET", bucket_name)
    monkeypatch.setenv("EINVOICE_ARCHIVE_SIGNING_KEY", str(key_file))
    monkeypatch.setenv("EINVOICE_VALIDATION_JOBS", "1")
    Archive.init_bucket(seaweedfs.client(), bucket_name)
    a = App.from_env()
    yield a
    a.db.dispose()


@pytest.fixture
def mailbox(dovecot):
    """A clean mailbox: every folder emptied before the test."""
    conn = _imap(dovecot)
    for folder in FOLDERS:
        typ, data = conn.select(folder)
        if typ == "OK" and int(data[0]) > 0:
            conn.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
            conn.expunge()
    conn.logout()
    return dovecot
