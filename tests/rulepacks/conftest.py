"""Fixtures for the rule-pack tests.

``toy_pack_source`` writes a small validator configuration of our own (scenarios.xml in KoSIT's
format, a lax XSD, a Schematron-style XSLT emitting SVRL, a report stylesheet) so the engine's
steps are tested on a fresh clone. ``kosit_pack`` installs the official XRechnung configuration
from ../shared/rulepacks into a temporary directory (skips when it is absent).
"""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_PACK = REPO.parent / "shared" / "rulepacks" / "xrechnung-3.0.2-kosit-2026-01-31-cen-1.3.16"
CORPUS = REPO.parent / "shared" / "corpus"
EXPECTED_KOSIT = CORPUS / "expected-dev-kosit.json"

TOY_ID = "urn:example:toy-cius"
UBL_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CBC_NS = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

_SCENARIO = """
  <scenario>
    <name>{name}</name>
    <namespace prefix="cbc">urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2</namespace>
    <namespace prefix="invoice">urn:oasis:names:specification:ubl:schema:xsd:Invoice-2</namespace>
    <namespace prefix="rep">http://www.xoev.de/de/validator/varl/1</namespace>
    <match>exists(/invoice:Invoice[cbc:CustomizationID/text() = '{ident}'])</match>
    <validateWithXmlSchema><resource><name>Toy schema</name><location>resources/toy.xsd</location></resource></validateWithXmlSchema>
    <validateWithSchematron><resource><name>Toy EN16931 rules</name><location>resources/toy-en16931.xsl</location></resource></validateWithSchematron>
    <createReport>
      <resource><name>Toy report</name><location>resources/report.xsl</location></resource>
      {levels}
    </createReport>
    <acceptMatch>/rep:report/rep:assessment[1]/rep:accept[1]</acceptMatch>
  </scenario>"""

_XSD = f"""<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{UBL_NS}" elementFormDefault="qualified">
  <xs:element name="Invoice">
    <xs:complexType>
      <!-- anything from other namespaces; an element in the Invoice namespace fails the XSD -->
      <xs:sequence><xs:any namespace="##other" processContents="skip" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""

_XSL = f"""<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
  xmlns:svrl="http://purl.oclc.org/dsdl/svrl" xmlns:invoice="{UBL_NS}" xmlns:cbc="{CBC_NS}">
  <xsl:template match="/">
    <svrl:schematron-output title="toy">
      <xsl:if test="not(/invoice:Invoice/cbc:ID)">
        <svrl:failed-assert id="TOY-1" flag="fatal" location="/invoice:Invoice"><svrl:text>[TOY-1] An invoice shall have an invoice number.</svrl:text></svrl:failed-assert>
      </xsl:if>
      <xsl:for-each select="/invoice:Invoice/cbc:Note">
        <svrl:failed-assert id="TOY-2" flag="fatal" location="/invoice:Invoice/cbc:Note[{{position()}}]"><svrl:text>[TOY-2] Notes are not allowed.</svrl:text></svrl:failed-assert>
      </xsl:for-each>
      <xsl:if test="/invoice:Invoice/cbc:DueDate">
        <svrl:failed-assert id="TOY-3" flag="warning" location="/invoice:Invoice/cbc:DueDate"><svrl:text>[TOY-3] A due date is discouraged.</svrl:text></svrl:failed-assert>
      </xsl:if>
    </svrl:schematron-output>
  </xsl:template>
</xsl:stylesheet>
"""

_REPORT = """<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:param name="input-document"/>
  <xsl:template match="/"><unused/></xsl:template>
</xsl:stylesheet>
"""


def write_toy_pack(directory: Path, *, name: str = "Toy Configuration 1.0", ident: str = TOY_ID,
                   duplicate: bool = False) -> Path:
    """A validator configuration of our own: TOY-2 is turned into a warning by a custom level,
    plus a plain-EN16931 scenario; ``duplicate`` adds a second scenario matching ``ident``."""
    (directory / "resources").mkdir(parents=True)
    scen = [_SCENARIO.format(name="Toy CIUS (UBL Invoice)", ident=ident, levels='<customLevel level="warning">TOY-2</customLevel>')]
    if duplicate:
        scen.append(_SCENARIO.format(name="Toy CIUS again (UBL Invoice)", ident=ident, levels=""))
    scen.append(_SCENARIO.format(name="EN16931 (UBL Invoice)", ident="urn:cen.eu:en16931:2017", levels=""))
    (directory / "scenarios.xml").write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<scenarios xmlns="http://www.xoev.de/de/validator/framework/1/scenarios" frameworkVersion="1.0.0">
  <name>{name}</name><author>einvoice tests</author><date>2026-12-01</date>
  {''.join(scen)}
  <noScenarioReport><resource><name>Default</name><location>resources/report.xsl</location></resource></noScenarioReport>
</scenarios>
""", encoding="utf-8")
    (directory / "resources" / "toy.xsd").write_text(_XSD, encoding="utf-8")
    (directory / "resources" / "toy-en16931.xsl").write_text(_XSL, encoding="utf-8")
    (directory / "resources" / "report.xsl").write_text(_REPORT, encoding="utf-8")
    return directory


def toy_invoice(*, ident: str = TOY_ID, number: bool = True, note: bool = False, due: bool = False, bogus: bool = False) -> bytes:
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<invoice:Invoice xmlns:invoice="{UBL_NS}" xmlns:cbc="{CBC_NS}">',
             f"<cbc:CustomizationID>{ident}</cbc:CustomizationID>"]
    if number:
        parts.append("<cbc:ID>R-1</cbc:ID>")
    if note:
        parts.append("<cbc:Note>Bitte zahlen</cbc:Note>")
    if due:
        parts.append("<cbc:DueDate>2026-12-31</cbc:DueDate>")
    if bogus:
        parts.append("<invoice:Bogus/>")
    parts.append("</invoice:Invoice>")
    return "\n".join(parts).encode("utf-8")


@pytest.fixture
def toy_pack_source(tmp_path) -> Path:
    return write_toy_pack(tmp_path / "toy-1.0")


@pytest.fixture
def pack_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "installed"
    monkeypatch.setenv("EINVOICE_RULEPACK_DIR", str(d))
    return d


@pytest.fixture(scope="session")
def _kosit_installed(tmp_path_factory) -> Path:
    if not SHARED_PACK.is_dir():
        pytest.skip(f"KoSIT's XRechnung configuration not found at {SHARED_PACK} (only present beside the project checkout)")
    from einvoice.rulepacks import store

    d = tmp_path_factory.mktemp("kosit-rulepacks")
    store.install(SHARED_PACK, root=d)
    return d


@pytest.fixture
def kosit_pack(_kosit_installed, monkeypatch) -> Path:
    """The official XRechnung 3.0.2 configuration installed in a temporary rule-pack directory."""
    monkeypatch.setenv("EINVOICE_RULEPACK_DIR", str(_kosit_installed))
    return _kosit_installed
