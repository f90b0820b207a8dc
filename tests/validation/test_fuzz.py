"""Bounded fuzzing (fixed seed, about a minute) and the reproducers the long fuzz runs found.

- ``test_fuzz_validate``: mutated generated (and, when present, corpus) invoices; every input
  keeps the invariants of ``tests.validation.fuzzing.check`` (no internal error, nothing that is
  not well-formed is valid, a valid invoice has its number and amount).
- ``test_fuzz_batch_is_ingested_whole``: a batch of mutated files through the real IntakePipeline
  (database + archive): no exception, one outcome and one row per file.
- the reproducers: each one the way it failed before, with the verdict it must get now.

The long run is ``bench/fuzz.py`` (outside CI).
"""
from __future__ import annotations

import random
import time

import pytest

from tests.validation import fuzzing
from tests.validation.conftest import CORPUS
from tests.validation.fixtures import CII, UBL

SEED = 20261206
BUDGET_S = 45.0  # inputs are generated until this much time has passed (plus one input)


def _rules(rep, blocking=True):
    return {f.rule for f in rep.findings if f.blocking or not blocking}


@pytest.mark.timeout(240)
def test_fuzz_validate(engine):
    rng = random.Random(SEED)
    seeds = fuzzing.seeds(CORPUS if CORPUS.is_dir() else None, limit_corpus=20)
    failures, n, start = [], 0, time.monotonic()
    while time.monotonic() - start < BUDGET_S and n < 20000:
        name, data = rng.choice(seeds)
        how, mutated = fuzzing.mutate(rng, data)
        rep = engine.validate(mutated, name)
        for problem in fuzzing.check(mutated, rep):
            failures.append(f"input {n} ({name}, {how}): {problem}")
        n += 1
    assert n >= 200, f"only {n} inputs in {BUDGET_S} s"
    assert not failures, "\n".join(failures[:20])


@pytest.mark.timeout(300)
def test_fuzz_batch_is_ingested_whole(database_url, tmp_path, engine):
    from archive import Archive, RetentionPolicy
    from archive.store import DirStore
    from einvoice.app import intake_hooks
    from einvoice.db import Database
    from einvoice.intake.inbox import InboxItem
    from einvoice.organisation import load_organisation
    from einvoice.pipeline import IntakePipeline
    from tests.validation.fixtures import REPO_EXAMPLE_ORG

    rng = random.Random(SEED + 1)
    seeds = fuzzing.seeds(None)
    items = [InboxItem(f"repro-{i}.xml", data) for i, data in enumerate(REPRODUCERS_FOR_INGEST)]
    while len(items) < 40:
        _name, data = rng.choice(seeds)
        how, mutated = fuzzing.mutate(rng, data)
        items.append(InboxItem(f"fuzz-{len(items)}-{how}{'.pdf' if data.startswith(b'%PDF') else '.xml'}"[:200], mutated))
    db = Database(database_url).migrate()
    try:
        archive = Archive.on_store(DirStore(tmp_path / "archive"), policy=RetentionPolicy(classes={"invoice": 8}, default_class="invoice"))
        pipeline = IntakePipeline(db, load_organisation(REPO_EXAMPLE_ORG), archive, on_record=intake_hooks())
        outcomes = pipeline.ingest(items)
        assert len(outcomes) == len(items)
        distinct = {it.sha256 for it in items}
        assert {o.sha256 for o in outcomes} == distinct
        for o in outcomes:
            assert o.invoice_id is not None and o.state, o
            if o.valid is True:
                assert o.state == "in_approval"
        # the reproducers: dated 9999-12-31 / Skonto of 3 million days are rejected, not crashed on
        by_name = {o.name: o for o in outcomes}
        assert by_name["repro-0.xml"].valid is False and by_name["repro-1.xml"].valid is False
        # a second run of the same batch (the retry) finds every file already received
        again = pipeline.ingest(items)
        assert all(o.already_received for o in again)
    finally:
        db.dispose()


# ------------------------------------------------------------------------------------ reproducers
CII_9999 = CII.replace(b'format="102">20261102<', b'format="102">99991231<')
CII_SKONTO_3M = CII.replace(b"TAGE=14#", b"TAGE=3000000#")
REPRODUCERS_FOR_INGEST = (CII_9999, CII_SKONTO_3M, CII.replace(b"TAGE=14#", b"TAGE=" + b"9" * 5000 + b"#"),
                          UBL.replace(b"<cbc:IssueDate>2026-11-02<", b"<cbc:IssueDate>9999-12-31<"),
                          UBL.replace(b"<cbc:DocumentCurrencyCode>EUR<", b"<cbc:DocumentCurrencyCode>EUROS<"))


@pytest.mark.parametrize("data,rule", [
    (CII_9999, "DE-PLAUS-DATE"),
    (UBL.replace(b"<cbc:IssueDate>2026-11-02<", b"<cbc:IssueDate>9999-12-31<"), "DE-PLAUS-DATE"),
    (CII_SKONTO_3M, "DE-PLAUS-SKONTO"),
    (CII.replace(b"TAGE=14#", b"TAGE=" + b"9" * 5000 + b"#"), "DE-PLAUS-SKONTO"),
    (CII.replace(b'format="102">20261102<', b'format="102">Dies ist kein Datum<'), "CII-DT-097"),
    (CII.replace(b'format="102">20261102<', b'format="102">00000000<'), "CII-DT-097"),
    (UBL.replace(b">119.00<", b">1E+400<"), "XSD"),
    (b"\xef\xbb\xbf" + UBL.replace(b'encoding="UTF-8"', b'encoding="bogus-enc"'), "XML-ENCODING"),
    (CII.replace(b"xrechnung_3.0</ram:ID>", b"xrechnung_3.0 </ram:ID>"), "KOSIT-SCENARIO"),
    (CII.replace(b"xrechnung_3.0</ram:ID>", b"xrechnung_3.1</ram:ID>"), "KOSIT-SCENARIO"),
    (CII.replace(b"xrechnung_3.0</ram:ID>", b"xrechnung_<!-- split -->3.0</ram:ID>"), "KOSIT-SCENARIO"),
    (UBL.replace(b"xrechnung_3.0</cbc:CustomizationID>", b"xrechnung_2.3</cbc:CustomizationID>"), "KOSIT-SCENARIO"),
    (CII.replace(b"<ram:ApplicableHeaderTradeDelivery/>", b"<ram:ApplicableHeaderTradeDelivery/><ram:X/>"), "XSD"),
], ids=["cii-9999", "ubl-9999", "skonto-3M-days", "skonto-5000-digits", "cii-date-text", "cii-date-zeros", "amount-1e400",
        "bom-bogus-encoding", "id-trailing-space", "id-xrechnung-3.1", "cii-id-split-by-comment", "id-xrechnung-2.3", "xsd-fail"])
def test_reproducer_is_rejected(engine, data, rule):
    rep = engine.validate(data, "repro.xml")
    assert rep.valid is False, rep.summary()
    assert rule in _rules(rep), sorted(_rules(rep, blocking=False))
    assert "ENGINE-ERROR" not in _rules(rep, blocking=False)


def test_ubl_invoice_id_split_by_comment_still_matches(engine):
    """UBL Invoice: KoSIT compares the string value, so a comment inside the identifier is harmless."""
    rep = engine.validate(UBL.replace(b"xrechnung_3.0</cbc:CustomizationID>", b"xrechnung_<!-- x -->3.0</cbc:CustomizationID>"), "x.xml")
    assert rep.valid is True and rep.scenario == "EN16931 XRechnung (UBL Invoice)"


def test_no_scenario_message_names_identifier_and_supported(engine):
    rep = engine.validate(CII.replace(b"xrechnung_3.0</ram:ID>", b"xrechnung_3.1</ram:ID>"), "x.xml")
    [f] = [f for f in rep.findings if f.rule == "KOSIT-SCENARIO"]
    assert "xrechnung_3.1'" in f.message and "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0'" in f.message
    assert rep.scenario is None and rep.to_dict()["rules_basis"].startswith("built-in rules, not the official KoSIT configuration")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_wide_encodings_are_validated(engine, encoding):
    """UTF-32 with BOM and UTF-16 without BOM used to end 'not validated' (Saxon refused them)."""
    name = "UTF-32" if "32" in encoding else "UTF-16"
    rep = engine.validate(UBL.decode().replace('encoding="UTF-8"', f'encoding="{name}"').encode(encoding), "wide.xml")
    assert rep.valid is True, rep.summary()


_EXT = (b'<ext:UBLExtensions xmlns:ext="urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2">'
        b"<ext:UBLExtension><ext:ExtensionContent>%s</ext:ExtensionContent></ext:UBLExtension></ext:UBLExtensions>")


@pytest.mark.parametrize("content", [
    b'<x:a xmlns:x="urn:x">' * 120 + b"v" + b"</x:a>" * 120,
    b'<x:a xmlns:x="urn:x" ' + b" ".join(b'x:a%d="1"' % i for i in range(250)) + b"/>",
    b'<x:a xmlns:x="urn:' + b"x" * 1200 + b'"/>',
], ids=["depth-120", "250-attributes", "namespace-1200-chars"])
def test_schema_valid_documents_beyond_parser_limits_are_rejected(engine, content):
    """XSD-valid (the extension content is open) but refused by the rule processor's parser: a
    format error with its reason, not 'not validated'."""
    data = UBL.replace(b"<cbc:CustomizationID>", _EXT % content + b"<cbc:CustomizationID>", 1)
    rep = engine.validate(data, "limits.xml")
    assert rep.stages["xsd"] == "passed", rep.summary()
    assert rep.valid is False and "XML-LIMITS" in _rules(rep), rep.summary()


def test_failed_xsd_decides_invalid_even_when_the_rules_cannot_run(engine):
    data = UBL.replace(b"<cbc:Note>", b'<cbc:Note><x:a xmlns:x="urn:x">' + b"<x:a>" * 120 + b"</x:a>" * 120 + b"</x:a>", 1)
    rep = engine.validate(data, "xsd-and-saxon.xml")
    assert rep.stages["xsd"] == "failed"
    assert rep.valid is False, rep.summary()


def test_model_that_cannot_be_built_is_never_valid(engine, monkeypatch):
    import einvoice.model

    def boom(*a, **k):
        raise ValueError("cannot read")

    monkeypatch.setattr(einvoice.model, "invoice_from_xml", boom)
    rep = engine.validate(UBL, "x.xml")
    assert rep.valid is None and rep.stages.get("model") == "error" and "MODEL" in {f.rule for f in rep.findings}


@pytest.mark.timeout(120)
def test_time_budget_ends_a_pathological_file_and_keeps_the_others(engine, monkeypatch):
    """A file that takes longer than the budget is recorded as not validated (VALIDATION-TIMEOUT);
    the files before and after it keep their own verdicts. The slow file is simulated: the
    workers are forked after the patch, so they validate 'slow.xml' by sleeping."""
    import einvoice.validation
    from einvoice.intake.inbox import InboxItem
    from einvoice.pipeline import ValidatorPool

    real = einvoice.validation.validate

    def slow_for_one(data, path="", **kw):
        if path == "slow.xml":
            time.sleep(60)
        return real(data, path, **kw)

    monkeypatch.setattr(einvoice.validation, "validate", slow_for_one)
    pool = ValidatorPool(2, None, time_budget=3)
    try:
        items = [InboxItem("a.xml", UBL), InboxItem("slow.xml", CII), InboxItem("b.xml", CII), InboxItem("c.xml", UBL)]
        t0 = time.monotonic()
        results = [r for (r, _summary, _json), _next in pool.validate(items)]
        assert time.monotonic() - t0 < 40
    finally:
        pool.close()
    assert [r.valid for r in results] == [True, None, True, True], [r.summary() for r in results]
    assert "VALIDATION-TIMEOUT" in {f.rule for f in results[1].findings}
    assert "3 s" in results[1].findings[0].message


def test_native_cii_rules_decide_when_the_stylesheet_raises(engine):
    """A duplicated total made the Factur-X stylesheet raise a type error ('not validated'); the
    native CEN rule that forbids the duplicate still runs and rejects the invoice."""
    data = CII.replace(b"<ram:TaxBasisTotalAmount>100.00</ram:TaxBasisTotalAmount>",
                       b"<ram:TaxBasisTotalAmount>100.00</ram:TaxBasisTotalAmount>" * 2)
    rep = engine.validate(data, "dup.xml")
    assert rep.stages["xsd"] == "passed"
    assert rep.valid is False and "CII-SR-480" in _rules(rep), rep.summary()


def test_nul_byte_in_the_declared_encoding_of_a_wide_document(engine):
    """Found by bench/fuzz.py (seed 7, input 95,691): a UTF-16 document whose declared encoding
    name contains a NUL byte made the BOM check raise (ENGINE-ERROR)."""
    data = UBL.decode().replace('encoding="UTF-8"', 'encoding="UTF-\x0016"').encode("utf-16")
    rep = engine.validate(data, "nul.xml")
    assert "ENGINE-ERROR" not in _rules(rep, blocking=False)
    assert rep.valid is False and "XML-ENCODING" in _rules(rep), rep.summary()
