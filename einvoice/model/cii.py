"""The model from UN/CEFACT CII D16B (XRechnung CII, Factur-X / ZUGFeRD 2.x): one step per
business group.

``invoice_from_cii`` reads the header trade agreement, delivery and settlement and the line items;
each step reads one group and returns model values. This module must never validate and never
raise on a missing or malformed optional element.
"""
from __future__ import annotations

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
    Note,
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
    _findtext,
    _ident,
    _note,
    _opt_sum,
    _s,
    _t,
    parse_skonto,
)


def _cii_address(el) -> Address | None:
    if el is None:
        return None
    return Address(
        line1=_t(el, "ram:LineOne"),
        line2=_t(el, "ram:LineTwo"),
        line3=_t(el, "ram:LineThree"),
        city=_t(el, "ram:CityName"),
        post_code=_t(el, "ram:PostcodeCode"),
        subdivision=_t(el, "ram:CountrySubDivisionName"),
        country_code=_t(el, "ram:CountryID"),
    )


def _cii_party(party) -> Party | None:
    if party is None:
        return None
    vat_id = tax_number = None
    for reg in _findall(party, "ram:SpecifiedTaxRegistration/ram:ID"):
        if reg.get("schemeID") == "VA":
            vat_id = vat_id or _s(reg.text)
        elif reg.get("schemeID") == "FC":
            tax_number = tax_number or _s(reg.text)
    idents = tuple(
        Identifier(_s(i.text), _s(i.get("schemeID")))
        for i in list(_findall(party, "ram:ID")) + list(_findall(party, "ram:GlobalID"))
        if _s(i.text)
    )
    contact = _find(party, "ram:DefinedTradeContact")
    return Party(
        name=_t(party, "ram:Name"),
        trading_name=_t(party, "ram:SpecifiedLegalOrganization/ram:TradingBusinessName"),
        identifiers=idents,
        legal_id=_ident(party, "ram:SpecifiedLegalOrganization/ram:ID"),
        vat_id=vat_id,
        tax_number=tax_number,
        legal_info=_t(party, "ram:Description"),
        electronic_address=_ident(party, "ram:URIUniversalCommunication/ram:URIID"),
        address=_cii_address(_find(party, "ram:PostalTradeAddress")),
        contact=Contact(
            _t(contact, "ram:PersonName") or _t(contact, "ram:DepartmentName"),
            _t(contact, "ram:TelephoneUniversalCommunication/ram:CompleteNumber"),
            _t(contact, "ram:EmailURIUniversalCommunication/ram:URIID"),
        )
        if contact is not None
        else None,
    )


def _cii_period(el) -> Period | None:
    if el is None:
        return None
    return Period(
        _date(_t(el, "ram:StartDateTime/udt:DateTimeString")), _date(_t(el, "ram:EndDateTime/udt:DateTimeString"))
    )


def _cii_payment_means(stl) -> tuple[PaymentMeans, ...]:  # BG-16 with BG-17/18/19
    if stl is None:
        return ()
    creditor_id = _t(stl, "ram:CreditorReferenceID")
    mandate_id = _t(stl, "ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID")
    means = []
    for pm in _findall(stl, "ram:SpecifiedTradeSettlementPaymentMeans"):
        card = _find(pm, "ram:ApplicableTradeSettlementFinancialCard")
        debited = _t(pm, "ram:PayerPartyDebtorFinancialAccount/ram:IBANID")
        means.append(
            PaymentMeans(
                code=_t(pm, "ram:TypeCode"),
                text=_t(pm, "ram:Information"),
                remittance_info=_t(stl, "ram:PaymentReference"),
                iban=_t(pm, "ram:PayeePartyCreditorFinancialAccount/ram:IBANID")
                or _t(pm, "ram:PayeePartyCreditorFinancialAccount/ram:ProprietaryID"),
                account_name=_t(pm, "ram:PayeePartyCreditorFinancialAccount/ram:AccountName"),
                bic=_t(pm, "ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID"),
                card=PaymentCard(_t(card, "ram:ID"), _t(card, "ram:CardholderName")) if card is not None else None,
                direct_debit=DirectDebit(mandate_id, creditor_id, debited) if (debited or mandate_id) else None,
            )
        )
    return tuple(means)


def _cii_payment_terms(stl) -> str | None:  # BT-20, every description kept with its line break
    descs = [d.text for d in _findall(stl, "ram:SpecifiedTradePaymentTerms/ram:Description") if d.text is not None] if stl is not None else []
    return "\n".join(descs) if descs else None


def _cii_totals(stl, currency: str | None) -> Totals:  # BG-22 with BT-110/111
    ms = _find(stl, "ram:SpecifiedTradeSettlementHeaderMonetarySummation") if stl is not None else None
    tax_amount = tax_accounting = None
    for ta in _findall(ms, "ram:TaxTotalAmount") if ms is not None else ():
        if ta.get("currencyID") in (None, currency) and tax_amount is None:
            tax_amount = _dec(ta.text)
        else:
            tax_accounting = _dec(ta.text)
    return Totals(
        line_total=_dec(_t(ms, "ram:LineTotalAmount")),
        allowances=_opt_sum(_dec(_t(ms, "ram:AllowanceTotalAmount"))),
        charges=_opt_sum(_dec(_t(ms, "ram:ChargeTotalAmount"))),
        tax_exclusive=_dec(_t(ms, "ram:TaxBasisTotalAmount")),
        tax=tax_amount,
        tax_accounting=tax_accounting,
        tax_inclusive=_dec(_t(ms, "ram:GrandTotalAmount")),
        prepaid=_opt_sum(_dec(_t(ms, "ram:TotalPrepaidAmount"))),
        rounding=_opt_sum(_dec(_t(ms, "ram:RoundingAmount"))),
        amount_due=_dec(_t(ms, "ram:DuePayableAmount")),
    )


def _cii_vat_breakdown(stl) -> tuple[VatBreakdown, ...]:  # BG-23
    return tuple(
        VatBreakdown(
            category=_t(t, "ram:CategoryCode"),
            rate=_dec(_t(t, "ram:RateApplicablePercent")),
            taxable_amount=_dec(_t(t, "ram:BasisAmount")),
            tax_amount=_dec(_t(t, "ram:CalculatedAmount")),
            exemption_reason=_t(t, "ram:ExemptionReason"),
            exemption_code=_t(t, "ram:ExemptionReasonCode"),
        )
        for t in (_findall(stl, "ram:ApplicableTradeTax") if stl is not None else ())
    )


def _cii_allowances_charges(stl) -> tuple[AllowanceCharge, ...]:  # BG-20 / BG-21
    return tuple(
        AllowanceCharge(
            is_charge=_t(ac, "ram:ChargeIndicator/udt:Indicator") == "true",
            amount=_dec(_t(ac, "ram:ActualAmount")),
            base_amount=_dec(_t(ac, "ram:BasisAmount")),
            percent=_dec(_t(ac, "ram:CalculationPercent")),
            vat_category=_t(ac, "ram:CategoryTradeTax/ram:CategoryCode"),
            vat_rate=_dec(_t(ac, "ram:CategoryTradeTax/ram:RateApplicablePercent")),
            reason=_t(ac, "ram:Reason"),
            reason_code=_t(ac, "ram:ReasonCode"),
        )
        for ac in (_findall(stl, "ram:SpecifiedTradeAllowanceCharge") if stl is not None else ())
    )


def _cii_attachments(agr) -> tuple[tuple[Attachment, ...], str | None]:
    """BG-24 attachments, and BT-17 (a referenced document with type code 50)."""
    attachments = []
    tender = None
    for ard in _findall(agr, "ram:AdditionalReferencedDocument") if agr is not None else ():
        code = _t(ard, "ram:TypeCode")
        if code == "130":  # BT-18
            continue
        if code == "50":  # BT-17
            tender = tender or _t(ard, "ram:IssuerAssignedID")
            continue
        obj = _find(ard, "ram:AttachmentBinaryObject")
        attachments.append(
            Attachment(
                id=_t(ard, "ram:IssuerAssignedID"),
                description=_t(ard, "ram:Name"),
                uri=_t(ard, "ram:URIID"),
                filename=_s(obj.get("filename")) if obj is not None else None,
                mime_code=_s(obj.get("mimeCode")) if obj is not None else None,
            )
        )
    return tuple(attachments), tender


def _cii_line(li) -> InvoiceLine:  # BG-25
    la = _find(li, "ram:SpecifiedLineTradeAgreement")
    ld = _find(li, "ram:SpecifiedLineTradeDelivery")
    ls = _find(li, "ram:SpecifiedLineTradeSettlement")
    prod = _find(li, "ram:SpecifiedTradeProduct")
    return InvoiceLine(
        id=_t(li, "ram:AssociatedDocumentLineDocument/ram:LineID"),
        note=_t(li, "ram:AssociatedDocumentLineDocument/ram:IncludedNote/ram:Content"),
        quantity=_dec(_t(ld, "ram:BilledQuantity")),
        unit_code=_attr(ld, "ram:BilledQuantity", "unitCode"),
        net_amount=_dec(_t(ls, "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount")),
        order_line_reference=_t(la, "ram:BuyerOrderReferencedDocument/ram:LineID"),
        buyer_accounting_reference=_t(ls, "ram:ReceivableSpecifiedTradeAccountingAccount/ram:ID"),
        period=_cii_period(_find(ls, "ram:BillingSpecifiedPeriod")) if ls is not None else None,
        net_price=_dec(_t(la, "ram:NetPriceProductTradePrice/ram:ChargeAmount")),
        price_base_quantity=_base_qty(_dec(_t(la, "ram:NetPriceProductTradePrice/ram:BasisQuantity"))),
        vat_category=_t(ls, "ram:ApplicableTradeTax/ram:CategoryCode"),
        vat_rate=_dec(_t(ls, "ram:ApplicableTradeTax/ram:RateApplicablePercent")),
        item_name=_t(prod, "ram:Name"),
        item_description=_t(prod, "ram:Description"),
        seller_item_id=_t(prod, "ram:SellerAssignedID"),
        standard_item_id=_ident(prod, "ram:GlobalID"),
    )


def _cii_lines(tx) -> tuple[InvoiceLine, ...]:
    return tuple(_cii_line(li) for li in (_findall(tx, "ram:IncludedSupplyChainTradeLineItem") if tx is not None else ()))


def _cii_delivery(dlv) -> Delivery | None:  # BG-13 with BG-15
    ship = _find(dlv, "ram:ShipToTradeParty") if dlv is not None else None
    delivery_date = _date(_t(dlv, "ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime/udt:DateTimeString"))
    if ship is None and delivery_date is None:
        return None
    return Delivery(
        name=_t(ship, "ram:Name"),
        location_id=_ident(ship, "ram:ID") or _ident(ship, "ram:GlobalID"),
        date=delivery_date,
        address=_cii_address(_find(ship, "ram:PostalTradeAddress")) if ship is not None else None,
    )


def _cii_notes(doc) -> tuple[Note, ...]:  # BG-1
    notes = []
    for n in _findall(doc, "ram:IncludedNote") if doc is not None else ():
        note = _note(_findtext(n, "ram:Content"), _t(n, "ram:SubjectCode"))
        if note is not None:
            notes.append(note)
    return tuple(notes)


def _cii_preceding_invoices(stl) -> tuple[PrecedingInvoice, ...]:  # BG-3
    return tuple(
        PrecedingInvoice(
            _t(r, "ram:IssuerAssignedID") or "",
            _date(_t(r, "ram:FormattedIssueDateTime/qdt:DateTimeString")),
        )
        for r in (_findall(stl, "ram:InvoiceReferencedDocument") if stl is not None else ())
    )


def invoice_from_cii(root) -> Invoice:
    """The model of a CII CrossIndustryInvoice root element."""
    doc = _find(root, "rsm:ExchangedDocument")
    tx = _find(root, "rsm:SupplyChainTradeTransaction")
    agr = _find(tx, "ram:ApplicableHeaderTradeAgreement") if tx is not None else None
    dlv = _find(tx, "ram:ApplicableHeaderTradeDelivery") if tx is not None else None
    stl = _find(tx, "ram:ApplicableHeaderTradeSettlement") if tx is not None else None
    currency = _t(stl, "ram:InvoiceCurrencyCode")
    payment_terms = _cii_payment_terms(stl)
    attachments, tender = _cii_attachments(agr)
    return Invoice(
        invoice_number=_t(doc, "ram:ID"),
        issue_date=_date(_t(doc, "ram:IssueDateTime/udt:DateTimeString")),
        type_code=_t(doc, "ram:TypeCode"),
        currency=currency,
        tax_currency=_t(stl, "ram:TaxCurrencyCode"),
        due_date=_date(_t(stl, "ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString")),
        buyer_reference=_t(agr, "ram:BuyerReference"),
        project_reference=_t(agr, "ram:SpecifiedProcuringProject/ram:ID"),
        contract_reference=_t(agr, "ram:ContractReferencedDocument/ram:IssuerAssignedID"),
        order_reference=_t(agr, "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID"),
        sales_order_reference=_t(agr, "ram:SellerOrderReferencedDocument/ram:IssuerAssignedID"),
        tender_reference=tender,
        buyer_accounting_reference=_t(stl, "ram:ReceivableSpecifiedTradeAccountingAccount/ram:ID"),
        payment_terms=payment_terms,
        notes=_cii_notes(doc),
        process_id=_t(root, "rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID"),
        specification_id=_t(root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"),
        preceding_invoices=_cii_preceding_invoices(stl),
        seller=_cii_party(_find(agr, "ram:SellerTradeParty") if agr is not None else None) or Party(),
        buyer=_cii_party(_find(agr, "ram:BuyerTradeParty") if agr is not None else None) or Party(),
        payee=_cii_party(_find(stl, "ram:PayeeTradeParty") if stl is not None else None),
        tax_representative=_cii_party(_find(agr, "ram:SellerTaxRepresentativeTradeParty") if agr is not None else None),
        delivery=_cii_delivery(dlv),
        invoice_period=_cii_period(_find(stl, "ram:BillingSpecifiedPeriod")) if stl is not None else None,
        payment_means=_cii_payment_means(stl),
        skonto=parse_skonto(payment_terms),
        allowances_charges=_cii_allowances_charges(stl),
        totals=_cii_totals(stl, currency),
        vat_breakdown=_cii_vat_breakdown(stl),
        attachments=attachments,
        lines=_cii_lines(tx),
    )
