"""Fixtures for archive tests: a lock-enabled bucket on the session SeaweedFS, a signing key."""
from __future__ import annotations

from datetime import date

import pytest

from archive import Archive, ArchiveDocument, EntryInput, RetentionPolicy, signing


@pytest.fixture(scope="session")
def signing_key():
    return signing.generate()


@pytest.fixture
def pub_pem(tmp_path, signing_key):
    p = tmp_path / "archive-pub.pem"
    p.write_bytes(signing.public_pem(signing_key.public_key()))
    return p


@pytest.fixture
def locked_bucket(s3, bucket_name):
    Archive.init_bucket(s3, bucket_name)
    return bucket_name


@pytest.fixture
def archive(s3, locked_bucket, signing_key):
    a = Archive(s3, locked_bucket, signing_key=signing_key,
                policy=RetentionPolicy())  # the default classes: Belege 8 years, books and procedure 10
    yield a
    a.close()


def make_entry(i: int, *, extra: bytes = b"", base: date = date(2026, 11, 2), **kw) -> EntryInput:
    xml = f"<Invoice><ID>R-{i}</ID></Invoice>".encode() + extra
    return EntryInput(
        entry_id=f"entry-{i}",
        documents=[ArchiveDocument("original.xml", "application/xml", xml),
                   ArchiveDocument("report.json", "application/json", f'{{"valid":true,"n":{i}}}'.encode())],
        metadata={"invoice_number": f"R-{i}", "seller": "Muster GmbH", "issue_date": base.isoformat(),
                  "format": "xrechnung-ubl", "channel": "upload"},
        retention_class=kw.pop("retention_class", "invoice"), retention_base=base, **kw)
