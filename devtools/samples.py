"""The project's own sample invoices: valid XRechnung/Factur-X documents and deliberately broken ones.

``einvoice-dev samples DIR [--count N] [--seed S]`` (and :func:`write_samples`) writes a fixed set of
files with stable names for the demo and the tests, plus N varied valid invoices for benchmarks,
and a ``manifest.json`` saying what each file is and what the pipeline must make of it.

Every document is built here, in code, with lxml (the PDFs by hand plus the ``factur-x``
package). This module must never copy or read anything from the shared conformance corpus, must
never use the network, and must never put wall-clock time or randomness that is not derived from
``--seed`` into its output: the same arguments always give byte-identical files (the Factur-X
PDF included, see :func:`_frozen_facturx_clock`).

All companies, people, bank accounts and VAT IDs here are fictional; identifiers only carry valid
check digits (VAT ID: ISO 7064 MOD 11,10; IBAN and Leitweg-ID: ISO 7064 MOD 97-10) so that the
validators accept them.
"""
from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import json
import random
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal

import click
from lxml import etree

from einvoice.xml import namespaces

__all__ = [
    "BUYER",
    "DEPARTMENTS",
    "SUPPLIERS",
    "Sample",
    "SampleSupplier",
    "samples_cmd",
    "write_samples",
]

XRECHNUNG_3_0 = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
EN16931 = "urn:cen.eu:en16931:2017"
# BT-23. XRechnung 3.0 takes over the Peppol rule that a business process must be named.
PEPPOL_BILLING = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

# ---------------------------------------------------------------------------------------------
# Master data (fictional). The example organisation (examples/musterhausen.yaml) matches suppliers
# by these values and routes by the Leitweg-IDs below, so change them together.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleSupplier:
    key: str          # short stable key, used in generated file names
    name: str         # BT-27
    vat_id: str       # BT-31, German USt-IdNr. with a valid MOD 11,10 check digit
    seller_id: str    # BT-29, the supplier's creditor number at the town
    iban: str         # BT-84
    bic: str          # BT-86
    street: str
    post_code: str
    city: str
    contact_name: str  # BT-41
    phone: str         # BT-42
    email: str         # BT-43
    endpoint: str      # BT-34, electronic address (scheme EM)


SUPPLIERS: tuple[SampleSupplier, ...] = (
    SampleSupplier("tiefbau-schmidt", "Tiefbau Schmidt GmbH", "DE812345673", "K-66017", "DE89370400440532013000",
             "COBADEFFXXX", "Baggerweg 12", "59001", "Musterhausen", "Petra Schmidt", "+49 2345 67890",
             "p.schmidt@tiefbau-schmidt.example", "rechnung@tiefbau-schmidt.example"),
    SampleSupplier("buero-meyer", "Bürobedarf Meyer KG", "DE213456786", "K-10042", "DE02120300000000202051",
             "BYLADEM1001", "Papierstraße 3", "10115", "Berlin", "Jan Meyer", "030 1234567",
             "j.meyer@buero-meyer.example", "rechnung@buero-meyer.example"),
    SampleSupplier("schulbuch-nord", "Schulbuchverlag Nord AG", "DE314159262", "K-40007", "DE66370501980012345678",
             "COLSDE33XXX", "Hafenkante 7", "20095", "Hamburg", "Lena Voss", "040 9876543",
             "l.voss@schulbuch-nord.example", "invoice@schulbuch-nord.example"),
    SampleSupplier("it-service-west", "IT-Service West GmbH", "DE271828180", "K-10311", "DE44500105175407324931",
             "INGDDEFFXXX", "Am Rechenzentrum 1", "44135", "Dortmund", "Murat Demir", "0231 555123",
             "m.demir@it-service-west.example", "billing@it-service-west.example"),
    SampleSupplier("jugendreisen-sauerland", "Jugendreisen Sauerland e.K.", "DE161803398", "K-51023",
             "DE70440100460099887766", "PBNKDEFFXXX", "Talsperrenweg 9", "59872", "Meschede",
             "Sabine Kuhn", "0291 44556", "s.kuhn@jugendreisen-sauerland.example",
             "rechnung@jugendreisen-sauerland.example"),
    SampleSupplier("gruen-und-co", "Grünpflege & Co. GmbH", "DE141421358", "K-66102", "DE47300200900012345600",
             "HYVEDEMM300", "Lindenallee 44", "40213", "Düsseldorf", "Tobias Brandt", "0211 7788990",
             "t.brandt@gruen-und-co.example", "rechnung@gruen-und-co.example"),
)
_SUPPLIER = {s.key: s for s in SUPPLIERS}


@dataclass(frozen=True)
class Buyer:
    name: str
    street: str
    post_code: str
    city: str
    endpoint: str  # BT-49


BUYER = Buyer("Stadt Musterhausen", "Rathausplatz 1", "59000", "Musterhausen", "rechnungseingang@musterhausen.example")

# Leitweg-ID (BT-10) -> department code in examples/musterhausen.yaml. "05999000-90" carries only
# the Grobadressierung: the pipeline cannot route it to a department, the central desk (20) gets it.
DEPARTMENTS: dict[str, str] = {
    "05999000-10-44": "10",  # Hauptamt
    "05999000-40-51": "40",  # Schulamt
    "05999000-51-18": "51",  # Jugendamt
    "05999000-66-70": "66",  # Tiefbauamt
    "05999000-90": "20",     # central desk (Kämmerei)
}
_ORDER_PREFIX = {"10": "HA-", "40": "SCH-", "51": "JA-", "66": "TBA-", "20": "KA-"}

# ---------------------------------------------------------------------------------------------
# Invoice model and arithmetic (EN 16931: amounts with two decimals; each line net amount and each
# VAT category's tax amount rounded half up, totals are sums of rounded values).
# ---------------------------------------------------------------------------------------------

CENT = Decimal("0.01")


def _r2(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def _amt(x: Decimal) -> str:
    return str(_r2(x))


@dataclass(frozen=True)
class Line:
    name: str
    quantity: Decimal
    unit: str          # UN/ECE Rec 20 code: C62 piece, HUR hour, MTR metre, MTK m², LS lump sum ...
    price: Decimal     # BT-146 net price per unit
    vat_rate: Decimal  # BT-152, category S

    @cached_property
    def net(self) -> Decimal:
        return _r2(self.quantity * self.price)


@dataclass(frozen=True)
class SampleInvoice:
    number: str
    issue_date: dt.date
    due_date: dt.date
    supplier: SampleSupplier
    lines: tuple[Line, ...]
    buyer_reference: str | None    # BT-10, the Leitweg-ID
    order_reference: str | None    # BT-13
    type_code: str = "380"
    delivery_date: dt.date | None = None
    payment_terms: str | None = None  # BT-20
    preceding: tuple[str, dt.date] | None = None  # BG-3 (number, date)
    note: str | None = None  # BT-22

    # cached_property writes straight into __dict__, so it works on a frozen dataclass; the
    # builders ask for these amounts many times per document.
    @cached_property
    def line_total(self) -> Decimal:
        return sum((ln.net for ln in self.lines), Decimal("0.00"))

    @cached_property
    def _vat_groups(self) -> tuple[tuple[Decimal, Decimal, Decimal], ...]:
        basis: dict[Decimal, Decimal] = {}
        for ln in self.lines:
            basis[ln.vat_rate] = basis.get(ln.vat_rate, Decimal("0.00")) + ln.net
        return tuple((rate, b, _r2(b * rate / 100)) for rate, b in sorted(basis.items(), reverse=True))

    def vat_groups(self) -> tuple[tuple[Decimal, Decimal, Decimal], ...]:
        """(rate, taxable amount, tax amount) per VAT rate, highest rate first."""
        return self._vat_groups

    @cached_property
    def tax_total(self) -> Decimal:
        return sum((t for _, _, t in self._vat_groups), Decimal("0.00"))

    @cached_property
    def grand_total(self) -> Decimal:
        return self.line_total + self.tax_total


def _rate(r: Decimal) -> str:
    # "19.00" rather than "19": both are valid, two decimals are what most producers send.
    return str(r.quantize(CENT))


def _qty(q: Decimal) -> str:
    # Plain notation: Decimal("20").normalize() would print "2E+1", which xs:decimal rejects.
    return format(q.normalize(), "f")


def skonto_terms(days: int, percent: Decimal, text: str | None = None) -> str:
    """BT-20 with one Skonto line in BR-DE-18 syntax; the rule wants a newline after the last line."""
    line = f"#SKONTO#TAGE={days}#PROZENT={percent.quantize(CENT)}#\n"
    return (text + "\n" if text else "") + line


# ---------------------------------------------------------------------------------------------
# UBL 2.1 (Invoice / CreditNote). Element order follows the UBL 2.1 XSD sequences.
# ---------------------------------------------------------------------------------------------

NS_INV = namespaces.UBL_INVOICE
NS_CN = namespaces.UBL_CREDIT_NOTE
NS_CAC = namespaces.CAC
NS_CBC = namespaces.CBC


def _cac(name: str) -> str:
    return f"{{{NS_CAC}}}{name}"


def _cbc(name: str) -> str:
    return f"{{{NS_CBC}}}{name}"


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    e = etree.SubElement(parent, tag, attrib) if attrib else etree.SubElement(parent, tag)
    if text is not None:
        e.text = text
    return e


# Sub-trees that depend only on master data or a VAT rate (parties, bank account, tax category)
# are built once and copied: lxml's deepcopy runs in C and is several times faster than building
# the same elements again, which roughly halves the time of a large --count run.
_PROTOTYPES: dict[tuple, etree._Element] = {}


def _add_cached(parent: etree._Element, tag: str, key: tuple,
                fill: Callable[[etree._Element], object]) -> etree._Element:
    """Append and return a ``tag`` element filled by ``fill``; ``key`` must capture all ``fill`` uses."""
    proto = _PROTOTYPES.get((tag, key))
    if proto is None:
        # Built under a stand-in for the real root so it carries the same prefixes; appending the
        # copy to the real document then drops the (identical) namespace declarations again.
        holder = etree.Element(parent.getroottree().getroot().tag, nsmap=parent.getroottree().getroot().nsmap)
        proto = etree.SubElement(holder, tag)
        fill(proto)
        _PROTOTYPES[(tag, key)] = proto
    new = copy.deepcopy(proto)
    parent.append(new)
    return new


def _ubl_party(parent: etree._Element, *, endpoint: str, name: str, street: str, post_code: str, city: str,
               party_id: str | None = None, vat_id: str | None = None,
               contact: tuple[str, str, str] | None = None) -> None:
    party = _el(parent, _cac("Party"))
    _el(party, _cbc("EndpointID"), endpoint, schemeID="EM")
    if party_id:
        _el(_el(party, _cac("PartyIdentification")), _cbc("ID"), party_id)
    addr = _el(party, _cac("PostalAddress"))
    _el(addr, _cbc("StreetName"), street)
    _el(addr, _cbc("CityName"), city)
    _el(addr, _cbc("PostalZone"), post_code)
    _el(_el(addr, _cac("Country")), _cbc("IdentificationCode"), "DE")
    if vat_id:
        pts = _el(party, _cac("PartyTaxScheme"))
        _el(pts, _cbc("CompanyID"), vat_id)
        _el(_el(pts, _cac("TaxScheme")), _cbc("ID"), "VAT")
    _el(_el(party, _cac("PartyLegalEntity")), _cbc("RegistrationName"), name)
    if contact:
        c = _el(party, _cac("Contact"))
        _el(c, _cbc("Name"), contact[0])
        _el(c, _cbc("Telephone"), contact[1])
        _el(c, _cbc("ElectronicMail"), contact[2])


def _ubl_tax_category(parent: etree._Element, tag: str, rate: Decimal) -> None:
    def fill(cat: etree._Element) -> None:
        _el(cat, _cbc("ID"), "S")
        _el(cat, _cbc("Percent"), _rate(rate))
        _el(_el(cat, _cac("TaxScheme")), _cbc("ID"), "VAT")

    _add_cached(parent, _cac(tag), (rate,), fill)


def build_ubl(inv: SampleInvoice) -> etree._Element:
    """An XRechnung 3.0 UBL Invoice, or CreditNote when ``inv.type_code`` is 381."""
    credit = inv.type_code == "381"
    root_ns = NS_CN if credit else NS_INV
    root = etree.Element(f"{{{root_ns}}}{'CreditNote' if credit else 'Invoice'}",
                         nsmap={None: root_ns, "cac": NS_CAC, "cbc": NS_CBC})
    _el(root, _cbc("CustomizationID"), XRECHNUNG_3_0)
    _el(root, _cbc("ProfileID"), PEPPOL_BILLING)
    _el(root, _cbc("ID"), inv.number)
    _el(root, _cbc("IssueDate"), inv.issue_date.isoformat())
    if credit:
        # A UBL CreditNote has no header DueDate; BT-9 goes to PaymentMeans/PaymentDueDate.
        _el(root, _cbc("CreditNoteTypeCode"), inv.type_code)
    else:
        _el(root, _cbc("DueDate"), inv.due_date.isoformat())
        _el(root, _cbc("InvoiceTypeCode"), inv.type_code)
    if inv.note:
        _el(root, _cbc("Note"), inv.note)
    _el(root, _cbc("DocumentCurrencyCode"), "EUR")
    if inv.buyer_reference:
        _el(root, _cbc("BuyerReference"), inv.buyer_reference)
    if inv.order_reference:
        _el(_el(root, _cac("OrderReference")), _cbc("ID"), inv.order_reference)
    if inv.preceding:
        ref = _el(_el(root, _cac("BillingReference")), _cac("InvoiceDocumentReference"))
        _el(ref, _cbc("ID"), inv.preceding[0])
        _el(ref, _cbc("IssueDate"), inv.preceding[1].isoformat())
    s = inv.supplier
    _add_cached(root, _cac("AccountingSupplierParty"), (s,), lambda e: _ubl_party(
        e, endpoint=s.endpoint, name=s.name, street=s.street, post_code=s.post_code, city=s.city,
        party_id=s.seller_id, vat_id=s.vat_id, contact=(s.contact_name, s.phone, s.email)))
    _add_cached(root, _cac("AccountingCustomerParty"), (BUYER,), lambda e: _ubl_party(
        e, endpoint=BUYER.endpoint, name=BUYER.name, street=BUYER.street, post_code=BUYER.post_code,
        city=BUYER.city))
    if inv.delivery_date:
        _el(_el(root, _cac("Delivery")), _cbc("ActualDeliveryDate"), inv.delivery_date.isoformat())
    pm = _el(root, _cac("PaymentMeans"))
    _el(pm, _cbc("PaymentMeansCode"), "58")  # SEPA credit transfer
    if credit:
        _el(pm, _cbc("PaymentDueDate"), inv.due_date.isoformat())
    _el(pm, _cbc("PaymentID"), inv.number)  # BT-83 remittance information
    _add_cached(pm, _cac("PayeeFinancialAccount"), (s,), lambda acct: (
        _el(acct, _cbc("ID"), s.iban),
        _el(acct, _cbc("Name"), s.name),
        _el(_el(acct, _cac("FinancialInstitutionBranch")), _cbc("ID"), s.bic)))
    if inv.payment_terms:
        _el(_el(root, _cac("PaymentTerms")), _cbc("Note"), inv.payment_terms)
    tt = _el(root, _cac("TaxTotal"))
    _el(tt, _cbc("TaxAmount"), _amt(inv.tax_total), currencyID="EUR")
    for rate, basis, tax in inv.vat_groups():
        st = _el(tt, _cac("TaxSubtotal"))
        _el(st, _cbc("TaxableAmount"), _amt(basis), currencyID="EUR")
        _el(st, _cbc("TaxAmount"), _amt(tax), currencyID="EUR")
        _ubl_tax_category(st, "TaxCategory", rate)
    lmt = _el(root, _cac("LegalMonetaryTotal"))
    _el(lmt, _cbc("LineExtensionAmount"), _amt(inv.line_total), currencyID="EUR")
    _el(lmt, _cbc("TaxExclusiveAmount"), _amt(inv.line_total), currencyID="EUR")
    _el(lmt, _cbc("TaxInclusiveAmount"), _amt(inv.grand_total), currencyID="EUR")
    _el(lmt, _cbc("PayableAmount"), _amt(inv.grand_total), currencyID="EUR")
    line_tag, qty_tag = ("CreditNoteLine", "CreditedQuantity") if credit else ("InvoiceLine", "InvoicedQuantity")
    for i, ln in enumerate(inv.lines, 1):
        def skeleton(il: etree._Element, ln: Line = ln) -> None:
            # Everything but the per-invoice values, which are filled in below by position.
            _el(il, _cbc("ID"))
            _el(il, _cbc(qty_tag), unitCode=ln.unit)
            _el(il, _cbc("LineExtensionAmount"), currencyID="EUR")
            item = _el(il, _cac("Item"))
            _el(item, _cbc("Name"), ln.name)
            _ubl_tax_category(item, "ClassifiedTaxCategory", ln.vat_rate)
            _el(_el(il, _cac("Price")), _cbc("PriceAmount"), currencyID="EUR")

        il = _add_cached(root, _cac(line_tag), (ln.name, ln.unit, ln.vat_rate), skeleton)
        il[0].text = str(i)
        il[1].text = _qty(ln.quantity)
        il[2].text = _amt(ln.net)
        il[4][0].text = str(ln.price)
    return root


# ---------------------------------------------------------------------------------------------
# UN/CEFACT CII D16B (XRechnung CII and Factur-X EN16931). Element order follows the XSDs.
# ---------------------------------------------------------------------------------------------

NS_RSM = namespaces.CII_RSM
NS_RAM = namespaces.CII_RAM
NS_UDT = namespaces.CII_UDT
NS_QDT = namespaces.CII_QDT


def _ram(name: str) -> str:
    return f"{{{NS_RAM}}}{name}"


def _date102(parent: etree._Element, tag: str, d: dt.date, ns: str = NS_UDT) -> None:
    _el(_el(parent, tag), f"{{{ns}}}DateTimeString", d.strftime("%Y%m%d"), format="102")


def _cii_party(parent: etree._Element, *, name: str, street: str, post_code: str, city: str, endpoint: str,
               party_id: str | None = None, vat_id: str | None = None,
               contact: tuple[str, str, str] | None = None) -> None:
    if party_id:
        _el(parent, _ram("ID"), party_id)
    _el(parent, _ram("Name"), name)
    if contact:
        c = _el(parent, _ram("DefinedTradeContact"))
        _el(c, _ram("PersonName"), contact[0])
        _el(_el(c, _ram("TelephoneUniversalCommunication")), _ram("CompleteNumber"), contact[1])
        _el(_el(c, _ram("EmailURIUniversalCommunication")), _ram("URIID"), contact[2])
    addr = _el(parent, _ram("PostalTradeAddress"))
    _el(addr, _ram("PostcodeCode"), post_code)
    _el(addr, _ram("LineOne"), street)
    _el(addr, _ram("CityName"), city)
    _el(addr, _ram("CountryID"), "DE")
    _el(_el(parent, _ram("URIUniversalCommunication")), _ram("URIID"), endpoint, schemeID="EM")
    if vat_id:
        _el(_el(parent, _ram("SpecifiedTaxRegistration")), _ram("ID"), vat_id, schemeID="VA")


def build_cii(inv: SampleInvoice, guideline: str = XRECHNUNG_3_0) -> etree._Element:
    """A CII CrossIndustryInvoice; ``guideline`` is BT-24 (XRechnung 3.0 or plain EN 16931 for Factur-X)."""
    root = etree.Element(f"{{{NS_RSM}}}CrossIndustryInvoice",
                         nsmap={"rsm": NS_RSM, "ram": NS_RAM, "qdt": NS_QDT, "udt": NS_UDT})
    ctx = _el(root, f"{{{NS_RSM}}}ExchangedDocumentContext")
    if guideline == XRECHNUNG_3_0:
        _el(_el(ctx, _ram("BusinessProcessSpecifiedDocumentContextParameter")), _ram("ID"), PEPPOL_BILLING)
    _el(_el(ctx, _ram("GuidelineSpecifiedDocumentContextParameter")), _ram("ID"), guideline)
    doc = _el(root, f"{{{NS_RSM}}}ExchangedDocument")
    _el(doc, _ram("ID"), inv.number)
    _el(doc, _ram("TypeCode"), inv.type_code)
    _date102(doc, _ram("IssueDateTime"), inv.issue_date)
    if inv.note:
        _el(_el(doc, _ram("IncludedNote")), _ram("Content"), inv.note)
    tx = _el(root, f"{{{NS_RSM}}}SupplyChainTradeTransaction")
    for i, ln in enumerate(inv.lines, 1):
        def skeleton(li: etree._Element, ln: Line = ln) -> None:
            # Everything but the per-invoice values, which are filled in below by position.
            _el(_el(li, _ram("AssociatedDocumentLineDocument")), _ram("LineID"))
            _el(_el(li, _ram("SpecifiedTradeProduct")), _ram("Name"), ln.name)
            _el(_el(_el(li, _ram("SpecifiedLineTradeAgreement")), _ram("NetPriceProductTradePrice")),
                _ram("ChargeAmount"))
            _el(_el(li, _ram("SpecifiedLineTradeDelivery")), _ram("BilledQuantity"), unitCode=ln.unit)
            lset = _el(li, _ram("SpecifiedLineTradeSettlement"))
            tax = _el(lset, _ram("ApplicableTradeTax"))
            _el(tax, _ram("TypeCode"), "VAT")
            _el(tax, _ram("CategoryCode"), "S")
            _el(tax, _ram("RateApplicablePercent"), _rate(ln.vat_rate))
            _el(_el(lset, _ram("SpecifiedTradeSettlementLineMonetarySummation")), _ram("LineTotalAmount"))

        li = _add_cached(tx, _ram("IncludedSupplyChainTradeLineItem"), (ln.name, ln.unit, ln.vat_rate), skeleton)
        li[0][0].text = str(i)
        li[2][0][0].text = str(ln.price)
        li[3][0].text = _qty(ln.quantity)
        li[4][1][0].text = _amt(ln.net)
    agr = _el(tx, _ram("ApplicableHeaderTradeAgreement"))
    if inv.buyer_reference:
        _el(agr, _ram("BuyerReference"), inv.buyer_reference)
    s = inv.supplier
    _add_cached(agr, _ram("SellerTradeParty"), (s,), lambda e: _cii_party(
        e, name=s.name, street=s.street, post_code=s.post_code, city=s.city, endpoint=s.endpoint,
        party_id=s.seller_id, vat_id=s.vat_id, contact=(s.contact_name, s.phone, s.email)))
    _add_cached(agr, _ram("BuyerTradeParty"), (BUYER,), lambda e: _cii_party(
        e, name=BUYER.name, street=BUYER.street, post_code=BUYER.post_code, city=BUYER.city,
        endpoint=BUYER.endpoint))
    if inv.order_reference:
        _el(_el(agr, _ram("BuyerOrderReferencedDocument")), _ram("IssuerAssignedID"), inv.order_reference)
    dlv = _el(tx, _ram("ApplicableHeaderTradeDelivery"))
    if inv.delivery_date:
        _date102(_el(dlv, _ram("ActualDeliverySupplyChainEvent")), _ram("OccurrenceDateTime"), inv.delivery_date)
    st = _el(tx, _ram("ApplicableHeaderTradeSettlement"))
    _el(st, _ram("PaymentReference"), inv.number)
    _el(st, _ram("InvoiceCurrencyCode"), "EUR")

    def payment_means(pm: etree._Element) -> None:
        _el(pm, _ram("TypeCode"), "58")  # SEPA credit transfer
        acct = _el(pm, _ram("PayeePartyCreditorFinancialAccount"))
        _el(acct, _ram("IBANID"), s.iban)
        _el(acct, _ram("AccountName"), s.name)
        _el(_el(pm, _ram("PayeeSpecifiedCreditorFinancialInstitution")), _ram("BICID"), s.bic)

    _add_cached(st, _ram("SpecifiedTradeSettlementPaymentMeans"), (s,), payment_means)
    for rate, basis, tax_amount in inv.vat_groups():
        t = _el(st, _ram("ApplicableTradeTax"))
        _el(t, _ram("CalculatedAmount"), _amt(tax_amount))
        _el(t, _ram("TypeCode"), "VAT")
        _el(t, _ram("BasisAmount"), _amt(basis))
        _el(t, _ram("CategoryCode"), "S")
        _el(t, _ram("RateApplicablePercent"), _rate(rate))
    terms = _el(st, _ram("SpecifiedTradePaymentTerms"))
    if inv.payment_terms:
        _el(terms, _ram("Description"), inv.payment_terms)
    _date102(terms, _ram("DueDateDateTime"), inv.due_date)
    sums = _el(st, _ram("SpecifiedTradeSettlementHeaderMonetarySummation"))
    _el(sums, _ram("LineTotalAmount"), _amt(inv.line_total))
    _el(sums, _ram("TaxBasisTotalAmount"), _amt(inv.line_total))
    _el(sums, _ram("TaxTotalAmount"), _amt(inv.tax_total), currencyID="EUR")
    _el(sums, _ram("GrandTotalAmount"), _amt(inv.grand_total))
    _el(sums, _ram("DuePayableAmount"), _amt(inv.grand_total))
    if inv.preceding:
        ref = _el(st, _ram("InvoiceReferencedDocument"))
        _el(ref, _ram("IssuerAssignedID"), inv.preceding[0])
        _date102(ref, _ram("FormattedIssueDateTime"), inv.preceding[1], ns=NS_QDT)
    return root


def _xml_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# ---------------------------------------------------------------------------------------------
# PDF. A one-page PDF written by hand so the bytes are ours and fixed. Text is drawn with a tiny
# Type 3 "pixel" font defined inside the file: PDF/A forbids fonts that are not embedded, and
# embedding a system TrueType font would make the output depend on the machine. Colour is set in
# CalGray (device independent), so PDF/A needs no ICC output intent.
# ---------------------------------------------------------------------------------------------

# 5x7 glyphs, rows top to bottom. Characters outside this set are shown as "?".
_GLYPHS: dict[str, str] = {
    " ": " ".join(["00000"] * 7),
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
    ".": "00000 00000 00000 00000 00000 01100 01100", ",": "00000 00000 00000 00000 01100 00100 01000",
    "-": "00000 00000 00000 11111 00000 00000 00000", ":": "00000 01100 01100 00000 01100 01100 00000",
    "/": "00000 00001 00010 00100 01000 10000 00000", "%": "11000 11001 00010 00100 01000 10011 00011",
    "(": "00010 00100 01000 01000 01000 00100 00010", ")": "01000 00100 00010 00010 00010 00100 01000",
    "#": "01010 01010 11111 01010 11111 01010 01010", "=": "00000 00000 11111 00000 11111 00000 00000",
    "@": "01110 10001 00001 01101 10101 10101 01110", "?": "01110 10001 00001 00010 00100 00000 00100",
    "&": "01100 10010 10100 01000 10101 10010 01101", "+": "00000 00100 00100 11111 00100 00100 00000",
}
# Adobe Glyph List names, so that text extraction works even without the ToUnicode map.
_GLYPH_NAMES = {
    " ": "space", ".": "period", ",": "comma", "-": "hyphen", ":": "colon", "/": "slash", "%": "percent",
    "(": "parenleft", ")": "parenright", "#": "numbersign", "=": "equal", "@": "at", "?": "question",
    "&": "ampersand", "+": "plus", **{d: n for d, n in zip("0123456789", (
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"))},
}
_TRANSLIT = {"Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "SS", "€": "EUR", "_": "-"}


def _pdf_text(s: str) -> str:
    out = []
    for ch in s.upper():
        ch = _TRANSLIT.get(ch, ch)
        out.extend(c if c in _GLYPHS else "?" for c in ch)
    return "".join(out)


def _glyph_proc(bits: str) -> bytes:
    rows = bits.split()
    ops = ["600 0 0 0 500 700 d1"]
    for r, row in enumerate(rows):
        for c, bit in enumerate(row):
            if bit == "1":
                ops.append(f"{c * 100} {(6 - r) * 100} 100 100 re")
    if len(ops) > 1:
        ops.append("f")
    return "\n".join(ops).encode("ascii")


def _stream(data: bytes, extra: str = "") -> bytes:
    packed = zlib.compress(data, 9)
    return (f"<< /Length {len(packed)} /Filter /FlateDecode{extra} >>\nstream\n".encode("ascii")
            + packed + b"\nendstream")


def make_pdf(lines: list[str], title: str) -> bytes:
    """A one-page A4 PDF showing ``lines``; deterministic bytes, PDF/A-friendly (see section comment)."""
    chars = sorted(_GLYPHS)
    codes = {ch: ord(ch) for ch in chars}  # all glyph characters are ASCII 32..95
    first, last = min(codes.values()), max(codes.values())
    objs: list[bytes] = []

    def add(body: bytes) -> int:
        objs.append(body)
        return len(objs)

    catalog = add(b"")  # filled below, needs the page tree number
    pages = add(b"")
    glyph_refs = {ch: add(_stream(_glyph_proc(_GLYPHS[ch]))) for ch in chars}
    names = {ch: _GLYPH_NAMES.get(ch, ch) for ch in chars}
    charprocs = " ".join(f"/{names[ch]} {ref} 0 R" for ch, ref in glyph_refs.items())
    differences = " ".join(f"{codes[ch]} /{names[ch]}" for ch in chars)
    # Codes are ASCII, so the ToUnicode map is the identity on first..last.
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
            "1 begincodespacerange <00> <FF> endcodespacerange\n"
            f"1 beginbfrange <{first:02X}> <{last:02X}> <{first:04X}> endbfrange\n"
            "endcmap CMapName currentdict /CMap defineresource pop end end\n")
    to_unicode = add(_stream(cmap.encode("ascii")))
    widths = " ".join("600" if chr(c) in _GLYPHS else "0" for c in range(first, last + 1))
    font = add(
        f"<< /Type /Font /Subtype /Type3 /Name /F1 /FontBBox [0 0 500 700] "
        f"/FontMatrix [0.001 0 0 0.001 0 0] /CharProcs << {charprocs} >> "
        f"/Encoding << /Type /Encoding /Differences [{differences}] >> "
        f"/FirstChar {first} /LastChar {last} /Widths [{widths}] /ToUnicode {to_unicode} 0 R "
        f"/Resources << >> >>".encode("ascii"))
    content = ["/CS0 cs 0 scn", "BT", "/F1 10 Tf", "14 TL", "56 780 Td"]
    for i, text in enumerate(lines):
        esc = _pdf_text(text).replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        content.append(f"({esc}) {'Tj' if i == 0 else chr(39)}")
    content.append("ET")
    contents = add(_stream("\n".join(content).encode("ascii")))
    page = add(
        f"<< /Type /Page /Parent {pages} 0 R /MediaBox [0 0 595 842] /Contents {contents} 0 R "
        f"/Resources << /Font << /F1 {font} 0 R >> "
        f"/ColorSpace << /CS0 [/CalGray << /WhitePoint [0.9505 1 1.089] /Gamma 2.2 >>] >> >> >>".encode("ascii"))
    objs[pages - 1] = f"<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>".encode("ascii")
    objs[catalog - 1] = f"<< /Type /Catalog /Pages {pages} 0 R >>".encode("ascii")
    # Second header line with bytes > 127 marks the file as binary (ISO 19005 6.1.2).
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode("ascii") + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode("ascii")
    out += b"".join(f"{o:010d} 00000 n \n".encode("ascii") for o in offsets)
    # PDF/A wants a file identifier; derive it from the content so it is stable.
    file_id = hashlib.md5(bytes(out) + title.encode("utf-8")).hexdigest()
    out += (f"trailer\n<< /Size {len(objs) + 1} /Root {catalog} 0 R /ID [<{file_id}> <{file_id}>] >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode("ascii")
    return bytes(out)


def _invoice_pdf_lines(inv: SampleInvoice) -> list[str]:
    s = inv.supplier
    out = [s.name, f"{s.street}, {s.post_code} {s.city}", "", f"An: {BUYER.name}",
           f"{BUYER.street}, {BUYER.post_code} {BUYER.city}", "",
           f"Rechnung {inv.number} vom {inv.issue_date:%d.%m.%Y}"]
    if inv.buyer_reference:
        out.append(f"Leitweg-ID: {inv.buyer_reference}")
    if inv.order_reference:
        out.append(f"Bestellung: {inv.order_reference}")
    out.append("")
    for i, ln in enumerate(inv.lines, 1):
        out.append(f"{i}. {ln.name}: {_qty(ln.quantity)} x {ln.price} EUR = {_amt(ln.net)} EUR "
                   f"(USt {_rate(ln.vat_rate)} %)")
    out.append("")
    out.append(f"Netto: {_amt(inv.line_total)} EUR")
    for rate, basis, tax in inv.vat_groups():
        out.append(f"USt {_rate(rate)} % auf {_amt(basis)} EUR: {_amt(tax)} EUR")
    out.append(f"Gesamt: {_amt(inv.grand_total)} EUR, faellig am {inv.due_date:%d.%m.%Y}")
    out.append(f"IBAN {s.iban}, BIC {s.bic}, USt-IdNr. {s.vat_id}")
    return out


_FACTURX_LOCK = threading.Lock()


@contextlib.contextmanager
def _frozen_facturx_clock(when: dt.datetime) -> Iterator[None]:
    """Make factur-x stamp ``when`` instead of the current time.

    factur-x 7.8 writes the current time into the PDF Info dictionary, the XMP metadata and the
    embedded file's /ModDate, through two module-level helpers; replacing those for the duration
    of one call is the only way to get reproducible bytes. The lock keeps concurrent callers from
    seeing each other's clock. If a factur-x upgrade renames the helpers this fails loudly here
    (AttributeError) instead of silently producing varying PDFs.
    """
    import facturx.facturx as fx

    pdf_stamp = when.strftime("D:%Y%m%d%H%M%S+00'00'")
    xmp_stamp = when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    with _FACTURX_LOCK:
        old_pdf, old_xmp = fx._get_pdf_timestamp, fx._get_metadata_timestamp
        fx._get_pdf_timestamp = lambda date=None: old_pdf(date) if date is not None else pdf_stamp
        fx._get_metadata_timestamp = lambda: xmp_stamp
        try:
            yield
        finally:
            fx._get_pdf_timestamp, fx._get_metadata_timestamp = old_pdf, old_xmp


def make_facturx_pdf(inv: SampleInvoice, *, check_xsd: bool = True) -> bytes:
    """A Factur-X / ZUGFeRD 2 EN16931 PDF/A-3 with the CII XML embedded as factur-x.xml."""
    import io
    import tempfile

    import facturx
    from pypdf import PdfWriter

    xml = _xml_bytes(build_cii(inv, guideline=EN16931))
    base = make_pdf(_invoice_pdf_lines(inv), title=inv.number)
    meta = {
        "author": inv.supplier.name,
        "keywords": "",
        "title": f"{inv.supplier.name}: Invoice {inv.number}",
        "subject": f"Invoice {inv.number} dated {inv.issue_date.isoformat()} issued by {inv.supplier.name}",
    }
    stamp = dt.datetime.combine(inv.issue_date, dt.time(12, 0), tzinfo=dt.timezone.utc)
    # Not generate_from_binary: factur-x 7.8 writes the new PDF into the same BytesIO it read the
    # original from, after the original bytes, so the result is two PDFs glued together with
    # wrong xref offsets. Writing to a named output file gives a clean PDF.
    with tempfile.TemporaryDirectory(prefix="einvoice-samples-") as tmp:
        out_path = Path(tmp) / "out.pdf"
        with _frozen_facturx_clock(stamp):
            facturx.generate_from_file(io.BytesIO(base), xml, flavor="factur-x", level="en16931",
                                       check_xsd=check_xsd, pdf_metadata=meta, lang="de-DE",
                                       output_pdf_file=str(out_path))
        made = out_path.read_bytes()
    # factur-x always writes /Keywords into the Info dictionary but puts no pdf:Keywords into the
    # XMP; PDF/A requires every Info entry to have its XMP twin, so drop the (empty) entry.
    writer = PdfWriter(clone_from=io.BytesIO(made), keep_initial_header=True)
    if writer._info is not None:
        info = writer._info.get_object()
        info.pop("/Keywords", None)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# The fixed samples
# ---------------------------------------------------------------------------------------------

Expected = Literal["valid", "invalid", "not-an-invoice"]


@dataclass(frozen=True)
class Sample:
    """One written file and what the pipeline must make of it (also a row of manifest.json)."""

    filename: str
    description: str
    expected: Expected
    reason: str              # why it is valid, or which check must reject it
    # Code (examples/musterhausen.yaml) of the department a valid document is routed to by its
    # Leitweg-ID ("20", the central desk, for the bare "05999000-90"); None for every file the
    # pipeline must reject, even when it carries a Leitweg-ID (see leitweg_id).
    department: str | None
    leitweg_id: str | None = None  # BT-10 as written
    syntax: str | None = None  # "ubl-invoice", "ubl-creditnote", "cii", "facturx-pdf", None
    invoice_number: str | None = None
    total: str | None = None   # BT-115 amount due as written (a string to keep it exact)


D = Decimal


def _tiefbau_invoice() -> SampleInvoice:
    return SampleInvoice(
        number="TBS-2026-00481",
        issue_date=dt.date(2026, 3, 2),
        due_date=dt.date(2026, 4, 1),
        delivery_date=dt.date(2026, 2, 27),
        supplier=_SUPPLIER["tiefbau-schmidt"],
        buyer_reference="05999000-66-70",
        order_reference="TBA-2026-0815",
        payment_terms=skonto_terms(
            14, D("2"), "Zahlbar innerhalb von 14 Tagen mit 2 % Skonto, innerhalb von 30 Tagen ohne Abzug."),
        note="Sanierung Gehweg Lindenstraße, Abschnitt 2",
        lines=(
            Line("Asphaltdeckschicht AC 8 D N, einbauen", D("125.5"), "MTK", D("38.40"), D("19")),
            Line("Bordstein 15/30 setzen", D("42"), "MTR", D("27.95"), D("19")),
            Line("Fachbuch Straßenbau (Dokumentation)", D("1"), "C62", D("49.90"), D("7")),
        ),
    )


def _schulamt_creditnote() -> SampleInvoice:
    return SampleInvoice(
        number="SBN-GS-2026-0042",
        type_code="381",
        issue_date=dt.date(2026, 3, 9),
        due_date=dt.date(2026, 3, 23),
        supplier=_SUPPLIER["schulbuch-nord"],
        buyer_reference="05999000-40-51",
        order_reference="SCH-2026-0112",
        preceding=("SBN-2026-1187", dt.date(2026, 2, 16)),
        note="Gutschrift für zurückgesandte Mathematikbücher Klasse 3 (Rechnung SBN-2026-1187)",
        lines=(
            Line("Mathematik entdecken 3, Schülerbuch", D("12"), "C62", D("21.50"), D("7")),
            Line("Lernsoftware Mathe 3, Schullizenz (anteilig)", D("1"), "C62", D("84.03"), D("19")),
        ),
    )


def _hauptamt_cii_invoice() -> SampleInvoice:
    return SampleInvoice(
        number="ITW-R-2026-3307",
        issue_date=dt.date(2026, 3, 16),
        due_date=dt.date(2026, 4, 15),
        delivery_date=dt.date(2026, 3, 13),
        supplier=_SUPPLIER["it-service-west"],
        buyer_reference="05999000-10-44",
        order_reference="HA-2026-0073",
        payment_terms=skonto_terms(10, D("3")),
        lines=(
            Line("Notebook 14 Zoll, Verwaltungsausstattung", D("4"), "C62", D("899.00"), D("19")),
            Line("Einrichtung und Migration", D("6.5"), "HUR", D("95.00"), D("19")),
            Line("Handbuch Datenschutz in der Verwaltung", D("2"), "C62", D("39.80"), D("7")),
        ),
    )


def _jugendamt_facturx_invoice() -> SampleInvoice:
    return SampleInvoice(
        number="JRS-2026-0219",
        issue_date=dt.date(2026, 3, 20),
        due_date=dt.date(2026, 4, 19),
        delivery_date=dt.date(2026, 3, 18),
        supplier=_SUPPLIER["jugendreisen-sauerland"],
        buyer_reference="05999000-51-18",
        order_reference="JA-2026-0031",
        payment_terms="Zahlbar innerhalb von 30 Tagen ohne Abzug.",
        lines=(
            Line("Busfahrt Ferienfreizeit Sauerland", D("1"), "LS", D("780.00"), D("19")),
            Line("Verpflegung Ferienfreizeit, je Teilnehmer", D("24"), "C62", D("18.70"), D("7")),
        ),
    )


def _meyer_invoice(number: str, buyer_reference: str | None) -> SampleInvoice:
    return SampleInvoice(
        number=number,
        issue_date=dt.date(2026, 3, 4),
        due_date=dt.date(2026, 4, 3),
        supplier=_SUPPLIER["buero-meyer"],
        buyer_reference=buyer_reference,
        order_reference="HA-2026-0058",
        lines=(
            Line("Kopierpapier A4, 80 g, Karton", D("20"), "C62", D("24.99"), D("19")),
            Line("Ordner A4, breit", D("50"), "C62", D("2.35"), D("19")),
        ),
    )


def _broken_xsd(inv: SampleInvoice) -> bytes:
    # IssueDate after DueDate: each element is fine, the order breaks the UBL xs:sequence.
    root = build_ubl(inv)
    issue = root.find(_cbc("IssueDate"))
    due = root.find(_cbc("DueDate"))
    due.addnext(issue)
    return _xml_bytes(root)


def _broken_totals(inv: SampleInvoice) -> bytes:
    # Sum of line net amounts (BT-106) and the totals derived from it are off by 100.00 while the
    # lines stay as they are: EN 16931 BR-CO-10 (and BR-CO-13/15) must fire.
    root = build_ubl(inv)
    lmt = root.find(_cac("LegalMonetaryTotal"))
    for tag in ("LineExtensionAmount", "TaxInclusiveAmount", "PayableAmount"):
        e = lmt.find(_cbc(tag))
        e.text = _amt(D(e.text) + 100)
    return _xml_bytes(root)


def _fixed_samples() -> list[tuple[Sample, bytes]]:
    out: list[tuple[Sample, bytes]] = []

    def add(inv: SampleInvoice | None, data: bytes, **kw) -> None:
        if inv is not None:
            kw.setdefault("invoice_number", inv.number)
            kw.setdefault("leitweg_id", inv.buyer_reference)
            if kw["expected"] == "valid":
                kw.setdefault("department", DEPARTMENTS.get(inv.buyer_reference or ""))
        kw.setdefault("department", None)
        out.append((Sample(**kw), data))

    inv = _tiefbau_invoice()
    add(inv, _xml_bytes(build_ubl(inv)), filename="01-xrechnung-ubl-invoice.xml", syntax="ubl-invoice",
        description="XRechnung 3.0 UBL invoice, Tiefbau Schmidt GmbH to the Tiefbauamt, 19 % and 7 % VAT, Skonto",
        expected="valid", reason="passes XSD, EN 16931 and XRechnung rules", total=_amt(inv.grand_total))
    inv = _schulamt_creditnote()
    add(inv, _xml_bytes(build_ubl(inv)), filename="02-xrechnung-ubl-creditnote.xml", syntax="ubl-creditnote",
        description="XRechnung 3.0 UBL credit note (381) to the Schulamt, referencing invoice SBN-2026-1187",
        expected="valid", reason="passes XSD, EN 16931 and XRechnung rules", total=_amt(inv.grand_total))
    inv = _hauptamt_cii_invoice()
    add(inv, _xml_bytes(build_cii(inv)), filename="03-xrechnung-cii-invoice.xml", syntax="cii",
        description="XRechnung 3.0 CII invoice, IT-Service West GmbH to the Hauptamt, Skonto",
        expected="valid", reason="passes XSD, EN 16931 and XRechnung rules", total=_amt(inv.grand_total))
    inv = _jugendamt_facturx_invoice()
    add(inv, make_facturx_pdf(inv), filename="04-facturx-en16931.pdf", syntax="facturx-pdf",
        description="Factur-X / ZUGFeRD 2 EN16931 PDF/A-3 with embedded factur-x.xml, to the Jugendamt",
        expected="valid", reason="embedded CII passes the Factur-X EN16931 XSD and EN 16931 rules",
        total=_amt(inv.grand_total))

    good = _xml_bytes(build_ubl(_meyer_invoice("BM-2026-10001", "05999000-10-44")))
    # Close <cbc:CustomizationID> with a different tag: a classic hand-edit error, not well-formed.
    malformed = good.replace(b"</cbc:CustomizationID>", b"</cbc:CustomisationID>", 1)
    add(None, malformed, filename="10-broken-malformed.xml", syntax=None,
        description="UBL invoice whose CustomizationID element is closed with a different tag name",
        expected="invalid", reason="not well-formed XML (mismatched end tag)", invoice_number="BM-2026-10001")
    inv = _meyer_invoice("BM-2026-10002", "05999000-10-44")
    add(inv, _broken_xsd(inv), filename="11-broken-xsd.xml", syntax="ubl-invoice",
        description="UBL invoice with IssueDate placed after DueDate",
        expected="invalid", reason="XSD: cbc:IssueDate out of order (UBL 2.1 Invoice sequence)")
    inv = _meyer_invoice("BM-2026-10003", None)
    add(inv, _xml_bytes(build_ubl(inv)), filename="12-broken-no-leitweg-id.xml", syntax="ubl-invoice",
        description="XRechnung 3.0 UBL invoice without buyer reference (BT-10, Leitweg-ID)",
        expected="invalid", reason="XRechnung BR-DE-15: buyer reference (Leitweg-ID) missing",
        total=_amt(inv.grand_total))
    inv = _meyer_invoice("BM-2026-10004", "05999000-10-44")
    add(inv, _broken_totals(inv), filename="13-broken-wrong-totals.xml", syntax="ubl-invoice",
        description="XRechnung 3.0 UBL invoice whose document totals are 100.00 EUR higher than its lines",
        expected="invalid", reason="EN 16931 BR-CO-10: sum of line net amounts does not match BT-106")
    add(None, make_pdf(["Buerobedarf Meyer KG", "", "Rechnung BM-2026-10005 vom 04.03.2026",
                        "Kopierpapier A4, 20 Karton: 499.80 EUR", "Gesamt inkl. 19 % USt: 594.76 EUR",
                        "", "Dies ist eine reine PDF-Rechnung ohne strukturierte Daten."], title="plain"),
        filename="14-plain.pdf", syntax=None,
        description="plain PDF invoice image with no embedded XML", expected="not-an-invoice",
        reason="PDF without embedded e-invoice XML: not an e-invoice in the sense of § 14 UStG")
    return out


# ---------------------------------------------------------------------------------------------
# Peppol: a document as an access point delivers it, wrapped in an SBDH (einvoice.intake.sbdh)
# ---------------------------------------------------------------------------------------------
NS_SBDH = namespaces.SBDH
PEPPOL_INVOICE_DOCTYPE = ("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##"
                          "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0::2.1")
PEPPOL_CII_DOCTYPE = ("urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100::CrossIndustryInvoice##"
                      "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0::D16B")


def sbdh_envelope(*payloads: bytes, receiver: str | None = "0204:05999000-66-70",
                  sender: str | None = "0088:4035811991014", instance_id: str | None = "4c1d0f6e-0000-4000-8000-000000000001",
                  document_type: str | None = None, created: str = "2026-03-02T10:15:00+01:00",
                  header: bool = True) -> bytes:
    """The ``payloads`` (XML documents as bytes, normally one) in a Peppol Standard Business
    Document, as an access point writes it into its delivery folder. ``None`` leaves a header
    field out; ``header=False`` leaves out the whole header (both to build broken envelopes)."""
    def sub(parent, tag, text=None, **attrib):
        el = etree.SubElement(parent, f"{{{NS_SBDH}}}{tag}", attrib)
        el.text = text
        return el

    roots = [etree.fromstring(p) for p in payloads]
    first = etree.QName(roots[0]) if roots else None
    if document_type is None and first is not None:
        document_type = PEPPOL_CII_DOCTYPE if first.localname == "CrossIndustryInvoice" else PEPPOL_INVOICE_DOCTYPE.replace(
            "Invoice", first.localname, 2) if first.localname != "Invoice" else PEPPOL_INVOICE_DOCTYPE
    sbd = etree.Element(f"{{{NS_SBDH}}}StandardBusinessDocument", nsmap={None: NS_SBDH})
    if header:
        h = sub(sbd, "StandardBusinessDocumentHeader")
        sub(h, "HeaderVersion", "1.0")
        for role, value in (("Sender", sender), ("Receiver", receiver)):
            party = sub(h, role)
            if value is not None:
                sub(party, "Identifier", value, Authority="iso6523-actorid-upis")
        ident = sub(h, "DocumentIdentification")
        if first is not None:
            sub(ident, "Standard", first.namespace)
            sub(ident, "TypeVersion", "2.1" if first.localname != "CrossIndustryInvoice" else "D16B")
        if instance_id is not None:
            sub(ident, "InstanceIdentifier", instance_id)
        if first is not None:
            sub(ident, "Type", first.localname)
        sub(ident, "CreationAndOrCreationTime", created)
        scope = sub(h, "BusinessScope")
        for kind, value in (("DOCUMENTID", document_type), ("PROCESSID", PEPPOL_BILLING)):
            if value is not None:
                sc = sub(scope, "Scope")
                sub(sc, "Type", kind)
                sub(sc, "InstanceIdentifier", value)
                sub(sc, "Identifier", "busdox-docid-qns" if kind == "DOCUMENTID" else "cenbii-procid-ubl")
    for root in roots:
        sbd.append(root)
    return _xml_bytes(sbd)


# ---------------------------------------------------------------------------------------------
# Generated valid invoices for benchmarks
# ---------------------------------------------------------------------------------------------

_ITEMS: tuple[tuple[str, str, Decimal, Decimal, Decimal], ...] = (
    # name, unit, min price, max price, VAT rate
    ("Kopierpapier A4, Karton", "C62", D("18"), D("32"), D("19")),
    ("Toner schwarz", "C62", D("45"), D("180"), D("19")),
    ("Beratungsleistung", "HUR", D("65"), D("140"), D("19")),
    ("Wartung Serverraum", "HUR", D("70"), D("120"), D("19")),
    ("Pflasterarbeiten", "MTK", D("25"), D("90"), D("19")),
    ("Rasenpflege", "MTK", D("0.35"), D("1.80"), D("19")),
    ("Baumschnitt", "C62", D("40"), D("260"), D("19")),
    ("Schulbuch", "C62", D("9.90"), D("39.90"), D("7")),
    ("Fachzeitschrift, Jahresabo", "C62", D("60"), D("240"), D("7")),
    ("Verpflegung je Teilnehmer", "C62", D("6.50"), D("24"), D("7")),
    ("Busfahrt", "LS", D("180"), D("1400"), D("19")),
    ("Kabel NYM-J 3x1,5", "MTR", D("0.69"), D("1.95"), D("19")),
    ("Softwarelizenz, Jahresmiete", "C62", D("120"), D("2400"), D("19")),
    ("Zeitungsanzeige Ausschreibung", "C62", D("90"), D("650"), D("7")),
)
_LEITWEG_WEIGHTS = (("05999000-10-44", 3), ("05999000-40-51", 3), ("05999000-51-18", 2),
                    ("05999000-66-70", 3), ("05999000-90", 1))


def _generated_invoice(rng: random.Random, seed: int, n: int) -> SampleInvoice:
    supplier = SUPPLIERS[rng.randrange(len(SUPPLIERS))]
    lw = rng.choices([lw for lw, _ in _LEITWEG_WEIGHTS], weights=[w for _, w in _LEITWEG_WEIGHTS])[0]
    issue = dt.date(2026, 1, 2) + dt.timedelta(days=rng.randrange(330))
    lines = []
    for _ in range(rng.randint(1, 6)):
        name, unit, lo, hi, rate = _ITEMS[rng.randrange(len(_ITEMS))]
        price = _r2(lo + (hi - lo) * D(rng.randrange(10001)) / 10000)
        qty = D(rng.randint(1, 40)) if unit in ("C62", "LS") else D(rng.randint(5, 4000)) / 10
        if unit == "LS":
            qty = D(1)
        lines.append(Line(name, qty, unit, price, rate))
    terms = None
    if rng.random() < 0.3:
        terms = skonto_terms(rng.choice((7, 10, 14)), D(rng.choice(("1.5", "2", "3"))))
    preceding = None
    if rng.random() < 0.05:  # a few credit notes (381), each for an earlier invoice of the supplier
        preceding = (f"{supplier.key[:3].upper()}-2025-{rng.randrange(1, 10000):04d}",
                     issue - dt.timedelta(days=rng.randrange(10, 60)))
    return SampleInvoice(
        # The seed is part of the number so corpora made with different seeds never collide.
        number=f"G{seed}-{n:06d}",
        issue_date=issue,
        due_date=issue + dt.timedelta(days=rng.choice((14, 30, 30, 45))),
        delivery_date=issue - dt.timedelta(days=rng.randrange(1, 10)),
        supplier=supplier,
        buyer_reference=lw,
        order_reference=f"{_ORDER_PREFIX[DEPARTMENTS[lw]]}2026-{rng.randrange(1, 10000):04d}",
        payment_terms=None if preceding else terms,  # no Skonto on money going back
        type_code="381" if preceding else "380",
        preceding=preceding,
        lines=tuple(lines),
    )


# One in this many generated invoices is a Factur-X PDF: a PDF takes ~80 ms (pypdf), an XML
# invoice ~0.3 ms. The first one comes early (n = 10) so small runs contain one too.
PDF_EVERY = 1000
_PDF_OFFSET = 10


def generate(count: int, seed: int = 0) -> Iterator[tuple[Sample, bytes]]:
    """Yield ``count`` valid, varied invoices (about 5 % credit notes); same (count, seed), same bytes."""
    rng = random.Random(seed)
    for n in range(1, count + 1):
        inv = _generated_invoice(rng, seed, n)
        kind = rng.random()
        if n % PDF_EVERY == _PDF_OFFSET:
            syntax, ext, data = "facturx-pdf", "pdf", make_facturx_pdf(inv, check_xsd=False)
        elif kind < 0.6:
            syntax = "ubl-creditnote" if inv.type_code == "381" else "ubl-invoice"
            ext, data = "xml", _xml_bytes(build_ubl(inv))
        else:
            syntax, ext, data = "cii", "xml", _xml_bytes(build_cii(inv))
        short = {"ubl-invoice": "ubl", "ubl-creditnote": "ubl-cn", "cii": "cii", "facturx-pdf": "facturx"}[syntax]
        what = "credit note" if inv.type_code == "381" else "invoice"
        yield Sample(
            filename=f"gen-{n:05d}-{short}-{inv.supplier.key}.{ext}",
            description=f"generated {syntax} {what} {inv.number} from {inv.supplier.name}",
            expected="valid", reason="generated valid invoice", department=DEPARTMENTS[inv.buyer_reference],
            leitweg_id=inv.buyer_reference, syntax=syntax, invoice_number=inv.number,
            total=_amt(inv.grand_total),
        ), data


_SAMPLE_FIELDS = tuple(f.name for f in fields(Sample))  # asdict() deep-copies: 10x slower


_GENERATED_NAME = re.compile(r"gen-[0-9]{5,}-(ubl|ubl-cn|cii|facturx)-[a-z0-9-]+\.(xml|pdf)")


def write_samples(directory: Path, count: int = 0, seed: int = 0) -> list[Sample]:
    """Write the fixed samples, ``count`` generated ones and ``manifest.json`` into ``directory``.

    Generated files left over from an earlier, larger run are removed, so that the directory
    holds exactly what the manifest lists (the demo ingests the whole directory). Nothing else
    in the directory is touched.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []
    for sample, data in (*_fixed_samples(), *generate(count, seed)):
        (directory / sample.filename).write_bytes(data)
        samples.append(sample)
    written = {s.filename for s in samples}
    for path in directory.iterdir():
        if path.name not in written and _GENERATED_NAME.fullmatch(path.name) and path.is_file():
            path.unlink()
    manifest = {"generator": "devtools.samples", "count": count, "seed": seed,
                "samples": [{f: getattr(s, f) for f in _SAMPLE_FIELDS} for s in samples]}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
    return samples


@click.command("samples")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--count", default=0, show_default=True, type=click.IntRange(min=0),
              help="additional valid generated invoices (for benchmarks)")
@click.option("--seed", default=0, show_default=True, type=int, help="seed for the generated invoices")
def samples_cmd(directory: Path, count: int, seed: int) -> None:
    """Write the project's sample invoices (valid and broken) and manifest.json into DIRECTORY."""
    samples = write_samples(directory, count=count, seed=seed)
    by = {}
    for s in samples:
        by[s.expected] = by.get(s.expected, 0) + 1
    click.echo(f"wrote {len(samples)} files to {directory} ("
               + ", ".join(f"{v} {k}" for k, v in sorted(by.items())) + "), see manifest.json")
