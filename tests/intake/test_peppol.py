"""Peppol intake: SBDH envelopes from an access point's delivery folder.

Fixtures are the project's own samples (devtools.samples) wrapped by ``samples.sbdh_envelope``.
Unit tests check unwrapping, validation and routing; the pipeline tests ingest a directory into a
real database and a real SeaweedFS archive (Object Lock) and read back rows and archived objects.
"""
from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lxml import etree

from devtools import samples
from einvoice.intake import detect, sbdh
from einvoice.organisation import load_organisation
from einvoice.routing import RoutingInput, route
from einvoice.settings import REPO_EXAMPLE_ORG
from einvoice.validation import validate

UBL = "01-xrechnung-ubl-invoice.xml"  # BT-10 05999000-66-70 (Tiefbauamt)
CII = "03-xrechnung-cii-invoice.xml"  # BT-10 05999000-10-44 (Hauptamt)
CN = "02-xrechnung-ubl-creditnote.xml"  # BT-10 05999000-40-51 (Schulamt)


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("samples")
    samples.write_samples(d)
    return {p.name: p.read_bytes() for p in d.iterdir() if p.name != "manifest.json"}


def no_bt10_en16931() -> bytes:
    """A valid EN 16931 (not XRechnung) UBL invoice without BT-10, order reference HA-… (Hauptamt)."""
    root = samples.build_ubl(samples._meyer_invoice("BM-2026-20001", None))
    root.find(samples._cbc("CustomizationID")).text = samples.EN16931
    return samples._xml_bytes(root)


def c14n(data: bytes) -> bytes:
    # exclusive: namespaces in scope but unused (the envelope's own, inherited by the payload) do not count
    return etree.tostring(etree.fromstring(data), method="c14n", exclusive=True)


# --------------------------------------------------------------------------------------------
# unwrapping and validation
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, syntax", [(UBL, "ubl-invoice"), (CII, "cii"), (CN, "ubl-creditnote")])
def test_wrapped_payload_is_the_document_and_validates_like_unwrapped(plain, name, syntax):
    envelope = samples.sbdh_envelope(plain[name], receiver="0204:05999000-66-70")
    it = detect(envelope, name)
    assert it.syntax == syntax and it.container == "xml"
    assert c14n(it.xml) == c14n(plain[name]), "the payload means exactly what the sample does"
    assert it.envelope.receiver == "0204:05999000-66-70" and it.envelope.receiver_authority == "iso6523-actorid-upis"
    assert it.envelope.sender == "0088:4035811991014"
    assert it.envelope.instance_id and it.envelope.process == samples.PEPPOL_BILLING
    assert it.envelope.document_type.startswith(etree.QName(etree.fromstring(plain[name])).namespace)

    wrapped, bare = validate(envelope, name), validate(plain[name], name)
    assert (wrapped.valid, bare.valid) == (True, True)
    assert {f.rule for f in wrapped.findings} - {f.rule for f in bare.findings} == {"SBDH-ENVELOPE"}
    assert wrapped.model.invoice_number == bare.model.invoice_number
    assert wrapped.model.totals.amount_due == bare.model.totals.amount_due


def test_invalid_payload_is_rejected_by_its_own_rule(plain):
    wrapped = validate(samples.sbdh_envelope(plain["13-broken-wrong-totals.xml"]), "13.xml")
    assert wrapped.valid is False and "BR-CO-10" in wrapped.rule_ids()


def test_prefixes_declared_on_the_envelope_stay_with_the_payload(plain):
    # Some access points declare the payload's prefixes on the envelope root only.
    cbc = b' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"'
    sbd = b'<StandardBusinessDocument xmlns="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"'
    envelope = samples.sbdh_envelope(plain[UBL])
    assert envelope.count(cbc) == 1
    moved = envelope.replace(cbc, b"").replace(sbd, sbd + cbc)
    root = etree.fromstring(moved)
    assert "cbc" in root.nsmap and b"xmlns:cbc" not in moved.split(b"<Invoice", 1)[1]
    it = detect(moved, UBL)
    assert c14n(it.xml) == c14n(plain[UBL])
    assert validate(moved, UBL).valid is True


BROKEN = {
    # name: (envelope builder, rule ID)
    "no-payload": (lambda p: samples.sbdh_envelope(), "SBDH-NO-PAYLOAD"),
    "two-payloads": (lambda p: samples.sbdh_envelope(p[UBL], p[CII]), "SBDH-MULTIPLE-PAYLOADS"),
    "no-header": (lambda p: samples.sbdh_envelope(p[UBL], header=False), "SBDH-HEADER"),
    "no-receiver": (lambda p: samples.sbdh_envelope(p[UBL], receiver=None), "SBDH-HEADER"),
    "malformed": (lambda p: samples.sbdh_envelope(p[UBL])[:-40], "XML-SYNTAX"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_envelope_is_rejected_with_its_rule(plain, case):
    build, rule = BROKEN[case]
    report = validate(build(plain), f"{case}.xml")
    assert report.valid is False, report.summary()
    assert rule in report.rule_ids(), [f.rule for f in report.findings]
    assert report.summary().startswith("invalid: " + rule)
    assert report.stages["intake" if rule.startswith("SBDH") else "parse"] == "failed"


def test_type_in_header_that_disagrees_with_the_payload_is_a_warning(plain):
    envelope = samples.sbdh_envelope(plain[UBL]).replace(b"<Type>Invoice</Type>", b"<Type>CreditNote</Type>")
    report = validate(envelope, UBL)
    assert report.valid is True
    assert [f.severity for f in report.findings if f.rule == "SBDH-TYPE"] == ["warning"]


def test_plain_files_do_not_look_like_envelopes(plain):
    for data in plain.values():
        assert not sbdh.looks_like_sbdh(data)
        assert detect(data).envelope is None


@pytest.mark.parametrize("participant, expected", [
    ("0204:05999000-66-70", "05999000-66-70"), ("iso6523-actorid-upis::0204:991-1234512345-06", "991-1234512345-06"),
    ("0088:4035811991014", None), ("0204:", None), (None, None), ("05999000-66-70", None),
])
def test_leitweg_id_of_a_participant(participant, expected):
    assert sbdh.leitweg_id_of(participant) == expected


# --------------------------------------------------------------------------------------------
# routing
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def org():
    return load_organisation(REPO_EXAMPLE_ORG)


def test_receiver_that_agrees_with_bt10_adds_nothing(org):
    d = route(RoutingInput(buyer_reference="05999000-66-70", peppol_receiver="0204:05999000-66-70"), org)
    assert (d.department, d.rule) == ("66", "leitweg-id") and "Peppol" not in d.reason


def test_receiver_that_differs_from_a_known_bt10_is_named_and_bt10_decides(org):
    d = route(RoutingInput(buyer_reference="05999000-66-70", peppol_receiver="0204:05999000-10-44"), org)
    assert (d.department, d.rule) == ("66", "leitweg-id")
    assert "Peppol-Empfänger 0204:05999000-10-44 weicht von BT-10 05999000-66-70 ab (Empfänger gehört zu 10 Hauptamt)" in d.reason


def test_receiver_routes_when_bt10_is_missing_or_unknown(org):
    missing = route(RoutingInput(order_reference="HA-1", peppol_receiver="0204:05999000-40-51"), org)
    assert (missing.department, missing.rule) == ("40", "peppol-receiver")
    assert "BT-10 (Leitweg-ID) fehlt" in missing.reason and "0204:05999000-40-51" in missing.reason
    unknown = route(RoutingInput(buyer_reference="05999000-77-00", peppol_receiver="0204:05999000-40-51"), org)
    assert (unknown.department, unknown.rule) == ("40", "peppol-receiver")
    assert "Peppol-Empfänger 0204:05999000-40-51 weicht von BT-10 05999000-77-00 ab" in unknown.reason


def test_unknown_receiver_falls_through_and_is_named(org):
    d = route(RoutingInput(order_reference="HA-1", peppol_receiver="0204:05999000-77-00"), org)
    assert (d.department, d.rule) == ("10", "order-reference")
    other = route(RoutingInput(peppol_receiver="0088:123"), org)
    assert other.rule == "central-desk"
    nowhere = route(RoutingInput(peppol_receiver="0204:05999000-77-00"), org)
    assert nowhere.rule == "central-desk" and "Peppol-Empfänger 0204:05999000-77-00 gehört zu keiner Dienststelle" in nowhere.reason


# --------------------------------------------------------------------------------------------
# the pipeline: a delivery folder into the database and the archive
# --------------------------------------------------------------------------------------------
@pytest.fixture
def environment(tmp_path, monkeypatch, seaweedfs, database_url, bucket_name):
    from archive import Archive

    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EINVOICE_DATABASE_URL", database_url)
    monkeypatch.setenv("EINVOICE_ARCHIVE_BUCKET", bucket_name)
    monkeypatch.setenv("EINVOICE_ARCHIVE_SIGNING_KEY", str(key_file))
    monkeypatch.setenv("EINVOICE_VALIDATION_JOBS", "1")
    Archive.init_bucket(seaweedfs.client(), bucket_name)
    return {"bucket": bucket_name}


def _rows(app) -> dict:
    import sqlalchemy as sa

    from einvoice.db.models import InvoiceEvent, InvoiceRow

    with app.db.sessions() as s:
        rows = {r.filename: r for r in s.scalars(sa.select(InvoiceRow))}
        events = s.scalars(sa.select(InvoiceEvent)).all()
    return rows, events


@pytest.mark.s3
def test_delivery_folder_is_ingested_like_unwrapped_files(environment, plain, tmp_path, s3):
    from einvoice.app import App
    from einvoice.intake.inbox import list_inbox, read_inbox_file

    inbox = tmp_path / "peppol-in"
    inbox.mkdir()
    files = {
        "p-ubl.xml": samples.sbdh_envelope(plain[UBL], receiver="0204:05999000-66-70", instance_id="uuid-ubl"),
        "p-cii.xml": samples.sbdh_envelope(plain[CII], receiver="0204:05999000-10-44", instance_id="uuid-cii"),
        # receiver disagrees with BT-10 05999000-66-70: BT-10 decides, the reason says so
        "p-disagree.xml": samples.sbdh_envelope(plain[UBL].replace(b"TBS-2026-00481", b"TBS-2026-00482"),
                                                receiver="0204:05999000-40-51"),
        # no BT-10 (EN 16931, order reference HA-…): the receiver routes it to the Schulamt
        "p-no-bt10.xml": samples.sbdh_envelope(no_bt10_en16931(), receiver="0204:05999000-40-51"),
        "p-no-payload.xml": samples.sbdh_envelope(),
        "p-two.xml": samples.sbdh_envelope(plain[CN], plain[CII]),
        "p-malformed.xml": samples.sbdh_envelope(plain[CN])[:-40],
        "plain-ubl.xml": plain[CN],  # plain UBL beside the envelopes keeps working
    }
    for name, data in files.items():
        (inbox / name).write_bytes(data)

    app = App.from_env()
    outcomes = {o.name: o for o in app.intake.ingest([read_inbox_file(p) for p in list_inbox(inbox)])}
    rows, events = _rows(app)
    assert set(rows) == set(files) == set(outcomes), "every file is exactly one row"
    for name, row in rows.items():
        assert [e.action for e in events if e.invoice_id == row.id] == ["received"], name

    ubl, cii = rows["p-ubl.xml"], rows["p-cii.xml"]
    assert (ubl.state, ubl.department, ubl.routing_rule, ubl.syntax) == ("in_approval", "66", "leitweg-id", "ubl-invoice")
    assert (cii.state, cii.department, cii.routing_rule, cii.syntax) == ("in_approval", "10", "leitweg-id", "cii")
    assert "Peppol" not in ubl.routing_reason
    assert ubl.invoice_number == "TBS-2026-00481" and ubl.leitweg_id == "05999000-66-70"
    assert ubl.channel == "peppol" and outcomes["p-ubl.xml"].channel == "peppol"
    meta = json.loads(ubl.channel_json)
    assert meta["receiver"] == "0204:05999000-66-70" and meta["sender"] == "0088:4035811991014"
    assert meta["instance_id"] == "uuid-ubl" and meta["receiver_authority"] == "iso6523-actorid-upis"
    assert meta["document_type"] == samples.PEPPOL_INVOICE_DOCTYPE and meta["inbox"] == "directory"
    assert json.loads(cii.channel_json)["document_type"] == samples.PEPPOL_CII_DOCTYPE

    # The envelope is the archived original, byte for byte and locked; the payload beside it.
    bucket = environment["bucket"]
    obj = s3.get_object(Bucket=bucket, Key=ubl.archive_original_key)
    assert obj["Body"].read() == files["p-ubl.xml"] and obj["ObjectLockMode"] == "COMPLIANCE"
    keys = app.archive.receipt(ubl.archive_entry_id).document_keys
    assert set(keys) == {"p-ubl.xml", "validation-report.json", "p-ubl.xml.payload.xml"}
    payload = s3.get_object(Bucket=bucket, Key=keys["p-ubl.xml.payload.xml"])["Body"].read()
    assert c14n(payload) == c14n(plain[UBL])
    # the invoice page and finance read the archived original: it must still yield the invoice
    assert app.original_bytes(ubl) == files["p-ubl.xml"] and detect(app.original_bytes(ubl)).syntax == "ubl-invoice"

    disagree = rows["p-disagree.xml"]
    assert (disagree.state, disagree.department, disagree.routing_rule) == ("in_approval", "66", "leitweg-id")
    assert ("Peppol-Empfänger 0204:05999000-40-51 weicht von BT-10 05999000-66-70 ab (Empfänger gehört zu 40 Schulamt)"
            in disagree.routing_reason)

    no_bt10 = rows["p-no-bt10.xml"]
    assert (no_bt10.state, no_bt10.department, no_bt10.routing_rule) == ("in_approval", "40", "peppol-receiver")
    assert no_bt10.leitweg_id is None and "BT-10 (Leitweg-ID) fehlt" in no_bt10.routing_reason

    for name, rule in (("p-no-payload.xml", "SBDH-NO-PAYLOAD"), ("p-two.xml", "SBDH-MULTIPLE-PAYLOADS"),
                       ("p-malformed.xml", "XML-SYNTAX")):
        row = rows[name]
        assert row.state == "rejected" and row.department is None, name
        assert rule in row.verdict and rule in {f["rule"] for f in json.loads(row.report_json)["findings"]}, row.verdict
        assert s3.get_object(Bucket=bucket, Key=row.archive_original_key)["Body"].read() == files[name]
    assert rows["p-no-payload.xml"].channel == "peppol"
    assert rows["p-malformed.xml"].channel == "directory", "unreadable as XML: nothing says it came over Peppol"
    assert set(app.archive.receipt(rows["p-two.xml"].archive_entry_id).document_keys) == {"p-two.xml", "validation-report.json"}

    bare = rows["plain-ubl.xml"]
    assert (bare.state, bare.department, bare.channel, bare.channel_json) == ("in_approval", "40", "directory", None)
    assert set(app.archive.receipt(bare.archive_entry_id).document_keys) == {"plain-ubl.xml", "validation-report.json"}

    # Idempotent as any inbox: the same envelopes again change nothing.
    again = app.intake.ingest([read_inbox_file(p) for p in list_inbox(inbox)])
    assert all(o.already_received for o in again)
    assert len(_rows(app)[0]) == len(files)


@pytest.mark.s3
def test_s3_delivery_prefix_through_the_flow_task(environment, plain, s3, bucket_name):
    """An access point that delivers into an S3 prefix: the process-inbox flow's own listing and
    batch task (called as plain functions, without a Prefect server) make it a Peppol delivery."""
    from flows.process_inbox import ingest_batch, list_entries

    inbox_bucket = f"in-{bucket_name}"[:63]
    s3.create_bucket(Bucket=inbox_bucket)
    envelope = samples.sbdh_envelope(plain[CII], receiver="0204:05999000-10-44", instance_id="uuid-s3")
    s3.put_object(Bucket=inbox_bucket, Key="peppol/in/p-cii.xml", Body=envelope)
    s3.put_object(Bucket=inbox_bucket, Key="peppol/in/half.xml.part", Body=envelope[:100])  # still being written
    keys = list_entries(f"s3://{inbox_bucket}/peppol/in/")
    assert keys == ["peppol/in/p-cii.xml"]
    [outcome] = ingest_batch.fn(keys, "s3", inbox_bucket)
    assert (outcome["state"], outcome["department"], outcome["channel"]) == ("in_approval", "10", "peppol")

    from einvoice.app import App
    from einvoice.db.models import InvoiceRow

    app = App.from_env()
    with app.db.sessions() as s:
        row = s.get(InvoiceRow, outcome["invoice_id"])
    meta = json.loads(row.channel_json)
    assert (meta["inbox"], meta["instance_id"], meta["receiver"]) == ("s3", "uuid-s3", "0204:05999000-10-44")
    assert app.original_bytes(row) == envelope
