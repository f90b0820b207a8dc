"""The mixed ZUGFeRD corpus (PDFs and XML from many producers, legacy and foreign formats).

There is no official verdict per file, so this checks what must hold for every file: no
internal error, no stage that could not run, and the right classification of the special
folders. Figures measured 2026-11-22 (see the issue note): correct/ ZUGFeRD 2: 63 valid, 28
invalid (13 of them MINIMUM/BASIC WL, no invoice under § 14 UStG); fail/ ZUGFeRD 2: 19 of 21
invalid (the other two fail on PDF/A properties, which we do not check).
"""
from __future__ import annotations

import pytest

from tests.validation.conftest import CORPUS, corpus_or_skip


def _files():
    root = CORPUS / "zugferd"
    if not root.is_dir():
        return [pytest.param(None, id="corpus-missing")]
    return [
        pytest.param(p, id=str(p.relative_to(root)))
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix.lower() in (".xml", ".pdf")
    ]


@pytest.mark.corpus
@pytest.mark.parametrize("path", _files())
def test_zugferd_corpus_file(path, engine):
    corpus_or_skip()
    rep = engine.validate(path.read_bytes(), str(path))
    rel = path.relative_to(CORPUS / "zugferd").as_posix()
    assert "ENGINE-ERROR" not in {f.rule for f in rep.findings}
    assert "error" not in rep.stages.values(), rep.summary()
    if rel.startswith("ZUGFeRDv1/"):
        assert rep.valid is None and rep.syntax in ("zugferd1", "unsupported")
    if rel.startswith("unstructured/"):
        assert rep.valid is None and rep.syntax == "none"
    if rel.startswith("fatturaPA/"):
        assert rep.valid is not True and rep.syntax in ("unsupported", "none")
    if rep.profile_name in ("MINIMUM", "BASIC WL"):
        assert rep.valid is False and "DE-USTG-14" in {f.rule for f in rep.findings}
    if rel.startswith("ZUGFeRDv2/fail/Mustangproject/factur-x-invalid-xml-encoding-attribute"):
        assert rep.valid is False
