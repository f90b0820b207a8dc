"""The model from UBL 2.1 (Invoice and CreditNote): one step per business group.

``invoice_from_ubl`` reads the document in the order of EN 16931 (header, parties, delivery,
payment, allowances and charges, totals, VAT breakdown, attachments, lines); each step reads one
group and returns model values. This module must never validate and never raise on a missing or
malformed optional element.
"""
from __future__ import annotations

from lxml import etree

from einvoice.model.types import (
    Address,
    AllowanceCharge,
    Attachment,
    Contact,
    Delivery,
    DirectDebit,
    Identifier,
    Invoice,
    InvoiceLine,
    Party,
    PaymentCard,
    PaymentMeans,
    Period,
    PrecedingInvoice,
    Totals,
    VatBreakdown,
)
from einvoice.model.values import (
    _attr,
    _base_qty,
    _date,
    _dec,
    _find,
    _findall,
    _ident,
    _note,
    _opt_sum,
    _s,
    _t,
    parse_skonto,
)


def _ubl_address(el) -> Address | None:
    if el is None:
        return None
    return Address(
        line1=_t(el, "cbc:StreetName"),
        line2=_t(el, "cbc:AdditionalStreetName"),
        line3=_t(el, "cac:AddressLine/cbc:Line"),
        city=_t(el, "cbc:CityName"),
        post_code=_t(el, "cbc:PostalZone"),
        subdivision=_t(el, "cbc:CountrySubentity"),
        country_code=_t(el, "cac:Country/cbc:IdentificationCode"),
    )


def _ubl_party(party) -> Party | None:
    if party is None:
        return None
    vat_id = tax_number = None
    for pts in _findall(party, "cac:PartyTaxScheme"):
        cid = _t(pts, "cbc:CompanyID")
        if _t(pts, "cac:TaxScheme/cbc:ID") == "VAT":
            vat_id = vat_id or cid
        else:
            tax_number = tax_number or cid
    contact = _find(party, "cac:Contact")
    idents = tuple(
        Identifier(_s(i.text), _s(i.get("schemeID")))
        for i in _findall(party, "cac:PartyIdentification/cbc:ID")
        # schemeID SEPA is the creditor ID (BT-90), not a party identifier
        if _s(i.text) and i.get("schemeID") != "SEPA"
    )
    return Party(
        name=_t(party, "cac:PartyLegalEntity/cbc:RegistrationName") or _t(party, "cac:PartyName/cbc:Name"),
        trading_name=_t(party, "cac:PartyName/cbc:Name") if _find(party, "cac:PartyLegalEntity/cbc:RegistrationName") is not None else None,
        identifiers=idents,
        legal_id=_ident(party, "cac:PartyLegalEntity/cbc:CompanyID"),
        vat_id=vat_id,
        tax_number=tax_number,
        legal_info=_t(party, "cac:PartyLegalEntity/cbc:CompanyLegalForm"),
        electronic_address=_ident(party, "cbc:EndpointID"),
        address=_ubl_address(_find(party, "cac:PostalAddress")),
        contact=Contact(_t(contact, "cbc:Name"), _t(contact, "cbc:Telephone"), _t(contact, "cbc:ElectronicMail"))
        if contact is not None
        else None,
    )


def _ubl_period(el) -> Period | None:
    if el is None:
        return None
    return Period(_date(_t(el, "cbc:StartDate")), _date(_t(el, "cbc:EndDate")))


# UBL requires cbc:ID in cac:OrderReference even when only the sales order reference (BT-14)
# is known; producers then write a placeholder (PEPPOL: "NA", the KoSIT testsuite: "Dummywert").
_ORDER_PLACEHOLDERS = {"NA", "N/A", "DUMMYWERT"}


def _ubl_order_reference(root) -> str | None:
    value = _t(root, "cac:OrderReference/cbc:ID")
    if value and value.upper() in _ORDER_PLACEHOLDERS and _t(root, "cac:OrderReference/cbc:SalesOrderID"):
        return None
    return value


def _ubl_payment_means(root) -> tuple[PaymentMeans, ...]:  # BG-16 with BG-17/18/19
    creditor_id = _t(root, "cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='SEPA']") or _t(
        root, "cac:PayeeParty/cac:PartyIdentification/cbc:ID[@schemeID='SEPA']"
    )
    means = []
    for pm in _findall(root, "cac:PaymentMeans"):
        card = _find(pm, "cac:CardAccount")
        mandate = _find(pm, "cac:PaymentMandate")
        means.append(
            PaymentMeans(
                code=_t(pm, "cbc:PaymentMeansCode"),
                text=_attr(pm, "cbc:PaymentMeansCode", "name"),
                remittance_info=_t(pm, "cbc:PaymentID"),
                iban=_t(pm, "cac:PayeeFinancialAccount/cbc:ID"),
                account_name=_t(pm, "cac:PayeeFinancialAccount/cbc:Name"),
                bic=_t(pm, "cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID"),
                card=PaymentCard(_t(card, "cbc:PrimaryAccountNumberID"), _t(card, "cbc:HolderName")) if card is not None else None,
                direct_debit=DirectDebit(_t(mandate, "cbc:ID"), creditor_id, _t(mandate, "cac:PayerFinancialAccount/cbc:ID"))
                if mandate is not None
                else None,
            )
        )
    return tuple(means)


def _ubl_payment_terms(root) -> str | None:  # BT-20, every note kept with its line break
    terms_notes = [n.text for n in _findall(root, "cac:PaymentTerms/cbc:Note") if n.text is not None]
    return "\n".join(terms_notes) if terms_notes else None


def _ubl_totals(root, currency: str | None) -> Totals:  # BG-22 with BT-110/111
    tax_amount = tax_accounting = None
    for tt in _findall(root, "cac:TaxTotal"):
        amt = _find(tt, "cbc:TaxAmount")
        if amt is None:
            continue
        if amt.get("currencyID") == currency and tax_amount is None:
            tax_amount = _dec(amt.text)
        else:
            tax_accounting = _dec(amt.text)
    lmt = _find(root, "cac:LegalMonetaryTotal")
    return Totals(
        line_total=_dec(_t(lmt, "cbc:LineExtensionAmount")),
        allowances=_opt_sum(_dec(_t(lmt, "cbc:AllowanceTotalAmount"))),
        charges=_opt_sum(_dec(_t(lmt, "cbc:ChargeTotalAmount"))),
        tax_exclusive=_dec(_t(lmt, "cbc:TaxExclusiveAmount")),
        tax=tax_amount,
        tax_accounting=tax_accounting,
        tax_inclusive=_dec(_t(lmt, "cbc:TaxInclusiveAmount")),
        prepaid=_opt_sum(_dec(_t(lmt, "cbc:PrepaidAmount"))),
        rounding=_opt_sum(_dec(_t(lmt, "cbc:PayableRoundingAmount"))),
        amount_due=_dec(_t(lmt, "cbc:PayableAmount")),
    )


def _ubl_vat_breakdown(root) -> tuple[VatBreakdown, ...]:  # BG-23
    vat = []
    for tt in _findall(root, "cac:TaxTotal"):
        for st in _findall(tt, "cac:TaxSubtotal"):
            vat.append(
                VatBreakdown(
                    category=_t(st, "cac:TaxCategory/cbc:ID"),
                    rate=_dec(_t(st, "cac:TaxCategory/cbc:Percent")),
                    taxable_amount=_dec(_t(st, "cbc:TaxableAmount")),
                    tax_amount=_dec(_t(st, "cbc:TaxAmount")),
                    exemption_reason=_t(st, "cac:TaxCategory/cbc:TaxExemptionReason"),
                    exemption_code=_t(st, "cac:TaxCategory/cbc:TaxExemptionReasonCode"),
                )
            )
    return tuple(vat)


def _ubl_allowances_charges(root) -> tuple[AllowanceCharge, ...]:  # BG-20 / BG-21
    return tuple(
        AllowanceCharge(
            is_charge=_t(ac, "cbc:ChargeIndicator") == "true",
            amount=_dec(_t(ac, "cbc:Amount")),
            base_amount=_dec(_t(ac, "cbc:BaseAmount")),
            percent=_dec(_t(ac, "cbc:MultiplierFactorNumeric")),
            vat_category=_t(ac, "cac:TaxCategory/cbc:ID"),
            vat_rate=_dec(_t(ac, "cac:TaxCategory/cbc:Percent")),
            reason=_t(ac, "cbc:AllowanceChargeReason"),
            reason_code=_t(ac, "cbc:AllowanceChargeReasonCode"),
        )
        for ac in _findall(root, "cac:AllowanceCharge")
    )


def _ubl_attachments(root) -> tuple[tuple[Attachment, ...], str | None]:
    """BG-24 attachments, and BT-17 when a producer writes it as a document reference (code 50)."""
    attachments = []
    tender = None
    for adr in _findall(root, "cac:AdditionalDocumentReference"):
        code = _t(adr, "cbc:DocumentTypeCode")
        if code == "130":  # invoiced object identifier BT-18, not an attachment
            continue
        if code == "50":  # tender or lot reference in some producers' UBL
            tender = tender or _t(adr, "cbc:ID")
            continue
        obj = _find(adr, "cac:Attachment/cbc:EmbeddedDocumentBinaryObject")
        attachments.append(
            Attachment(
                id=_t(adr, "cbc:ID"),
                description=_t(adr, "cbc:DocumentDescription"),
                uri=_t(adr, "cac:Attachment/cac:ExternalReference/cbc:URI"),
                filename=_s(obj.get("filename")) if obj is not None else None,
                mime_code=_s(obj.get("mimeCode")) if obj is not None else None,
            )
        )
    return tuple(attachments), tender


def _ubl_line(ln, qty_tag: str) -> InvoiceLine:  # BG-25
    item = _find(ln, "cac:Item")
    return InvoiceLine(
        id=_t(ln, "cbc:ID"),
        note=_t(ln, "cbc:Note"),
        quantity=_dec(_t(ln, qty_tag)),
        unit_code=_attr(ln, qty_tag, "unitCode"),
        net_amount=_dec(_t(ln, "cbc:LineExtensionAmount")),
        order_line_reference=_t(ln, "cac:OrderLineReference/cbc:LineID"),
        buyer_accounting_reference=_t(ln, "cbc:AccountingCost"),
        period=_ubl_period(_find(ln, "cac:InvoicePeriod")),
        net_price=_dec(_t(ln, "cac:Price/cbc:PriceAmount")),
        price_base_quantity=_base_qty(_dec(_t(ln, "cac:Price/cbc:BaseQuantity"))),
        vat_category=_t(item, "cac:ClassifiedTaxCategory/cbc:ID"),
        vat_rate=_dec(_t(item, "cac:ClassifiedTaxCategory/cbc:Percent")),
        item_name=_t(item, "cbc:Name"),
        item_description=_t(item, "cbc:Description"),
        seller_item_id=_t(item, "cac:SellersItemIdentification/cbc:ID"),
        standard_item_id=_ident(item, "cac:StandardItemIdentification/cbc:ID"),
    )


def _ubl_lines(root, credit: bool) -> tuple[InvoiceLine, ...]:
    line_tag = "cac:CreditNoteLine" if credit else "cac:InvoiceLine"
    qty_tag = "cbc:CreditedQuantity" if credit else "cbc:InvoicedQuantity"
    return tuple(_ubl_line(ln, qty_tag) for ln in _findall(root, line_tag))


def _ubl_delivery(root) -> Delivery | None:  # BG-13 with BG-15
    delivery_el = _find(root, "cac:Delivery")
    if delivery_el is None:
        return None
    return Delivery(
        name=_t(delivery_el, "cac:DeliveryParty/cac:PartyName/cbc:Name"),
        location_id=_ident(delivery_el, "cac:DeliveryLocation/cbc:ID"),
        date=_date(_t(delivery_el, "cbc:ActualDeliveryDate")),
        address=_ubl_address(_find(delivery_el, "cac:DeliveryLocation/cac:Address")),
    )


def _ubl_preceding_invoices(root) -> tuple[PrecedingInvoice, ...]:  # BG-3
    return tuple(
        PrecedingInvoice(_t(r, "cbc:ID") or "", _date(_t(r, "cbc:IssueDate")))
        for r in _findall(root, "cac:BillingReference/cac:InvoiceDocumentReference")
    )


def invoice_from_ubl(root) -> Invoice:
    """The model of a UBL Invoice or CreditNote root element."""
    credit = etree.QName(root).localname == "CreditNote"
    currency = _t(root, "cbc:DocumentCurrencyCode")
    payment_terms = _ubl_payment_terms(root)
    attachments, tender = _ubl_attachments(root)
    due = _date(_t(root, "cbc:DueDate")) or _date(_t(root, "cac:PaymentMeans/cbc:PaymentDueDate"))
    return Invoice(
        invoice_number=_t(root, "cbc:ID"),
        issue_date=_date(_t(root, "cbc:IssueDate")),
        type_code=_t(root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode"),
        currency=currency,
        tax_currency=_t(root, "cbc:TaxCurrencyCode"),
        due_date=due,
        buyer_reference=_t(root, "cbc:BuyerReference"),
        project_reference=_t(root, "cac:ProjectReference/cbc:ID"),
        contract_reference=_t(root, "cac:ContractDocumentReference/cbc:ID"),
        order_reference=_ubl_order_reference(root),
        sales_order_reference=_t(root, "cac:OrderReference/cbc:SalesOrderID"),
        tender_reference=_t(root, "cac:OriginatorDocumentReference/cbc:ID") or tender,
        buyer_accounting_reference=_t(root, "cbc:AccountingCost"),
        payment_terms=payment_terms,
        notes=tuple(n for n in (_note(e.text) for e in _findall(root, "cbc:Note")) if n is not None),
        process_id=_t(root, "cbc:ProfileID"),
        specification_id=_t(root, "cbc:CustomizationID"),
        preceding_invoices=_ubl_preceding_invoices(root),
        seller=_ubl_party(_find(root, "cac:AccountingSupplierParty/cac:Party")) or Party(),
        buyer=_ubl_party(_find(root, "cac:AccountingCustomerParty/cac:Party")) or Party(),
        payee=_ubl_party(_find(root, "cac:PayeeParty")),
        tax_representative=_ubl_party(_find(root, "cac:TaxRepresentativeParty")),
        delivery=_ubl_delivery(root),
        invoice_period=_ubl_period(_find(root, "cac:InvoicePeriod")),
        payment_means=_ubl_payment_means(root),
        skonto=parse_skonto(payment_terms),
        allowances_charges=_ubl_allowances_charges(root),
        totals=_ubl_totals(root, currency),
        vat_breakdown=_ubl_vat_breakdown(root),
        attachments=attachments,
        lines=_ubl_lines(root, credit),
    )
