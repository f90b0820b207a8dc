"""The namespace URIs of every XML vocabulary the system reads or writes, defined once.

UBL 2.1 (Invoice, CreditNote, the common aggregate/basic components), UN/CEFACT CII D16B (rsm,
ram, udt, qdt), ZUGFeRD 1.0, the Peppol envelope (SBDH), Schematron reports (SVRL) and XSD.
Modules import the names from here instead of writing the URIs again. This module must never
hold anything but constants.
"""
from __future__ import annotations

#: UBL 2.1 document roots and components
UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

#: UN/CEFACT Cross Industry Invoice D16B (XRechnung CII, Factur-X / ZUGFeRD 2.x)
CII_RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
CII_RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
CII_UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
CII_QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"

#: ZUGFeRD 1.0 (recognised only to say it is not an accepted e-invoice)
ZUGFERD1 = "urn:ferd:CrossIndustryDocument:invoice:1p0"

#: the Peppol envelope an access point delivers (Standard Business Document Header)
SBDH = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"

#: Schematron validation reports, XML Schema, XSLT
SVRL = "http://purl.oclc.org/dsdl/svrl"
XSD = "http://www.w3.org/2001/XMLSchema"
XSL = "http://www.w3.org/1999/XSL/Transform"

#: prefix -> URI for XPath over both syntaxes (the prefixes the EN 16931 artefacts use)
NS = {
    "ubl": UBL_INVOICE,
    "cn": UBL_CREDIT_NOTE,
    "cac": CAC,
    "cbc": CBC,
    "rsm": CII_RSM,
    "ram": CII_RAM,
    "udt": CII_UDT,
    "qdt": CII_QDT,
}
