"""The business terms of EN 16931 / XRechnung (BT-1 … BT-165, BG-1 … BG-32) with their German
and English names, and where each sits in UBL and CII (element name path -> term).

The German names follow the XRechnung specification's "Bezeichner"; the English ones the
EN 16931-1 semantic model. ``label("BT-112")`` gives "Gesamtbetrag einschließlich Umsatzsteuer
(BT-112)" (or the English name when the language is English). The element maps let a finding's
XPath be read as a business term: the key is the path of local element names *ending* at the
element (the longest matching suffix wins), so ``InvoiceLine/LineExtensionAmount`` is BT-131 and
``LegalMonetaryTotal/LineExtensionAmount`` BT-106.

This module is a table and nothing else: it must never read a document, never decide about a
rule, and never hold texts that are not names of business terms.
"""
from __future__ import annotations

import re

from einvoice.language import pick

#: code -> (German name, English name)
TERMS: dict[str, tuple[str, str]] = {
    "BT-1": ("Rechnungsnummer", "Invoice number"),
    "BT-2": ("Rechnungsdatum", "Invoice issue date"),
    "BT-3": ("Code für den Rechnungstyp", "Invoice type code"),
    "BT-5": ("Code für die Rechnungswährung", "Invoice currency code"),
    "BT-6": ("Code für die Umsatzsteuer-Buchungswährung", "VAT accounting currency code"),
    "BT-7": ("Abrechnungsdatum der Umsatzsteuer", "Value added tax point date"),
    "BT-8": ("Code für das Abrechnungsdatum der Umsatzsteuer", "Value added tax point date code"),
    "BT-9": ("Fälligkeitsdatum der Zahlung", "Payment due date"),
    "BT-10": ("Käuferreferenz (Leitweg-ID)", "Buyer reference"),
    "BT-11": ("Projektreferenz", "Project reference"),
    "BT-12": ("Vertragsreferenz", "Contract reference"),
    "BT-13": ("Bestellreferenz", "Purchase order reference"),
    "BT-14": ("Auftragsreferenz", "Sales order reference"),
    "BT-15": ("Referenz auf die Wareneingangsmeldung", "Receiving advice reference"),
    "BT-16": ("Referenz auf die Versandanzeige", "Despatch advice reference"),
    "BT-17": ("Referenz auf die Ausschreibung oder das Los", "Tender or lot reference"),
    "BT-18": ("Objektkennung", "Invoiced object identifier"),
    "BT-19": ("Buchungsreferenz des Käufers", "Buyer accounting reference"),
    "BT-20": ("Zahlungsbedingungen", "Payment terms"),
    "BT-21": ("Code für den Betreff der Rechnungsbemerkung", "Invoice note subject code"),
    "BT-22": ("Rechnungsbemerkung", "Invoice note"),
    "BT-23": ("Geschäftsprozesstyp", "Business process type"),
    "BT-24": ("Spezifikationskennung", "Specification identifier"),
    "BT-25": ("Nummer der vorausgegangenen Rechnung", "Preceding invoice reference"),
    "BT-26": ("Datum der vorausgegangenen Rechnung", "Preceding invoice issue date"),
    "BT-27": ("Name des Verkäufers", "Seller name"),
    "BT-28": ("Handelsname des Verkäufers", "Seller trading name"),
    "BT-29": ("Kennung des Verkäufers", "Seller identifier"),
    "BT-30": ("Registernummer des Verkäufers", "Seller legal registration identifier"),
    "BT-31": ("Umsatzsteuer-Identifikationsnummer des Verkäufers", "Seller VAT identifier"),
    "BT-32": ("Steuernummer des Verkäufers", "Seller tax registration identifier"),
    "BT-33": ("Weitere rechtliche Informationen zum Verkäufer", "Seller additional legal information"),
    "BT-34": ("Elektronische Adresse des Verkäufers", "Seller electronic address"),
    "BT-35": ("Anschriftszeile 1 des Verkäufers", "Seller address line 1"),
    "BT-36": ("Anschriftszeile 2 des Verkäufers", "Seller address line 2"),
    "BT-37": ("Ort des Verkäufers", "Seller city"),
    "BT-38": ("Postleitzahl des Verkäufers", "Seller post code"),
    "BT-39": ("Region des Verkäufers", "Seller country subdivision"),
    "BT-40": ("Ländercode des Verkäufers", "Seller country code"),
    "BT-41": ("Kontaktstelle des Verkäufers", "Seller contact point"),
    "BT-42": ("Telefonnummer des Verkäufers (Kontakt)", "Seller contact telephone number"),
    "BT-43": ("E-Mail-Adresse des Verkäufers (Kontakt)", "Seller contact email address"),
    "BT-44": ("Name des Käufers", "Buyer name"),
    "BT-45": ("Handelsname des Käufers", "Buyer trading name"),
    "BT-46": ("Kennung des Käufers", "Buyer identifier"),
    "BT-47": ("Registernummer des Käufers", "Buyer legal registration identifier"),
    "BT-48": ("Umsatzsteuer-Identifikationsnummer des Käufers", "Buyer VAT identifier"),
    "BT-49": ("Elektronische Adresse des Käufers", "Buyer electronic address"),
    "BT-50": ("Anschriftszeile 1 des Käufers", "Buyer address line 1"),
    "BT-51": ("Anschriftszeile 2 des Käufers", "Buyer address line 2"),
    "BT-52": ("Ort des Käufers", "Buyer city"),
    "BT-53": ("Postleitzahl des Käufers", "Buyer post code"),
    "BT-54": ("Region des Käufers", "Buyer country subdivision"),
    "BT-55": ("Ländercode des Käufers", "Buyer country code"),
    "BT-56": ("Kontaktstelle des Käufers", "Buyer contact point"),
    "BT-57": ("Telefonnummer des Käufers (Kontakt)", "Buyer contact telephone number"),
    "BT-58": ("E-Mail-Adresse des Käufers (Kontakt)", "Buyer contact email address"),
    "BT-59": ("Name des Zahlungsempfängers", "Payee name"),
    "BT-60": ("Kennung des Zahlungsempfängers", "Payee identifier"),
    "BT-61": ("Registernummer des Zahlungsempfängers", "Payee legal registration identifier"),
    "BT-62": ("Name des Steuervertreters des Verkäufers", "Seller tax representative name"),
    "BT-63": ("Umsatzsteuer-Identifikationsnummer des Steuervertreters", "Seller tax representative VAT identifier"),
    "BT-64": ("Anschriftszeile 1 des Steuervertreters", "Tax representative address line 1"),
    "BT-65": ("Anschriftszeile 2 des Steuervertreters", "Tax representative address line 2"),
    "BT-66": ("Ort des Steuervertreters", "Tax representative city"),
    "BT-67": ("Postleitzahl des Steuervertreters", "Tax representative post code"),
    "BT-68": ("Region des Steuervertreters", "Tax representative country subdivision"),
    "BT-69": ("Ländercode des Steuervertreters", "Tax representative country code"),
    "BT-70": ("Name des Waren- oder Dienstleistungsempfängers", "Deliver to party name"),
    "BT-71": ("Kennung des Lieferorts", "Deliver to location identifier"),
    "BT-72": ("Tatsächliches Lieferdatum", "Actual delivery date"),
    "BT-73": ("Anfangsdatum des Rechnungszeitraums", "Invoicing period start date"),
    "BT-74": ("Enddatum des Rechnungszeitraums", "Invoicing period end date"),
    "BT-75": ("Anschriftszeile 1 der Lieferanschrift", "Deliver to address line 1"),
    "BT-76": ("Anschriftszeile 2 der Lieferanschrift", "Deliver to address line 2"),
    "BT-77": ("Ort der Lieferanschrift", "Deliver to city"),
    "BT-78": ("Postleitzahl der Lieferanschrift", "Deliver to post code"),
    "BT-79": ("Region der Lieferanschrift", "Deliver to country subdivision"),
    "BT-80": ("Ländercode der Lieferanschrift", "Deliver to country code"),
    "BT-81": ("Code für die Zahlungsart", "Payment means type code"),
    "BT-82": ("Zahlungsart (Text)", "Payment means text"),
    "BT-83": ("Verwendungszweck", "Remittance information"),
    "BT-84": ("Kennung des Zahlungskontos (IBAN)", "Payment account identifier"),
    "BT-85": ("Name des Zahlungskontos", "Payment account name"),
    "BT-86": ("Kennung des Zahlungsdienstleisters (BIC)", "Payment service provider identifier"),
    "BT-87": ("Kartennummer der Zahlungskarte", "Payment card primary account number"),
    "BT-88": ("Name des Karteninhabers", "Payment card holder name"),
    "BT-89": ("Mandatsreferenz", "Mandate reference identifier"),
    "BT-90": ("Gläubiger-Identifikationsnummer", "Bank assigned creditor identifier"),
    "BT-91": ("Kennung des zu belastenden Kontos", "Debited account identifier"),
    "BT-92": ("Betrag des Nachlasses auf Dokumentenebene", "Document level allowance amount"),
    "BT-93": ("Grundbetrag des Nachlasses auf Dokumentenebene", "Document level allowance base amount"),
    "BT-94": ("Prozentsatz des Nachlasses auf Dokumentenebene", "Document level allowance percentage"),
    "BT-95": ("Umsatzsteuerkategorie des Nachlasses auf Dokumentenebene", "Document level allowance VAT category code"),
    "BT-96": ("Umsatzsteuersatz des Nachlasses auf Dokumentenebene", "Document level allowance VAT rate"),
    "BT-97": ("Grund für den Nachlass auf Dokumentenebene", "Document level allowance reason"),
    "BT-98": ("Code für den Grund des Nachlasses auf Dokumentenebene", "Document level allowance reason code"),
    "BT-99": ("Betrag des Zuschlags auf Dokumentenebene", "Document level charge amount"),
    "BT-100": ("Grundbetrag des Zuschlags auf Dokumentenebene", "Document level charge base amount"),
    "BT-101": ("Prozentsatz des Zuschlags auf Dokumentenebene", "Document level charge percentage"),
    "BT-102": ("Umsatzsteuerkategorie des Zuschlags auf Dokumentenebene", "Document level charge VAT category code"),
    "BT-103": ("Umsatzsteuersatz des Zuschlags auf Dokumentenebene", "Document level charge VAT rate"),
    "BT-104": ("Grund für den Zuschlag auf Dokumentenebene", "Document level charge reason"),
    "BT-105": ("Code für den Grund des Zuschlags auf Dokumentenebene", "Document level charge reason code"),
    "BT-106": ("Summe der Nettobeträge aller Rechnungspositionen", "Sum of invoice line net amount"),
    "BT-107": ("Summe der Nachlässe auf Dokumentenebene", "Sum of allowances on document level"),
    "BT-108": ("Summe der Zuschläge auf Dokumentenebene", "Sum of charges on document level"),
    "BT-109": ("Gesamtbetrag ohne Umsatzsteuer", "Invoice total amount without VAT"),
    "BT-110": ("Gesamtbetrag der Umsatzsteuer", "Invoice total VAT amount"),
    "BT-111": ("Gesamtbetrag der Umsatzsteuer in Buchungswährung", "Invoice total VAT amount in accounting currency"),
    "BT-112": ("Gesamtbetrag einschließlich Umsatzsteuer", "Invoice total amount with VAT"),
    "BT-113": ("Vorauszahlungsbetrag", "Paid amount"),
    "BT-114": ("Rundungsbetrag", "Rounding amount"),
    "BT-115": ("Fälliger Zahlungsbetrag", "Amount due for payment"),
    "BT-116": ("Steuerbasisbetrag der Umsatzsteuerkategorie", "VAT category taxable amount"),
    "BT-117": ("Steuerbetrag der Umsatzsteuerkategorie", "VAT category tax amount"),
    "BT-118": ("Code der Umsatzsteuerkategorie", "VAT category code"),
    "BT-119": ("Umsatzsteuersatz der Kategorie", "VAT category rate"),
    "BT-120": ("Grund der Steuerbefreiung", "VAT exemption reason text"),
    "BT-121": ("Code für den Grund der Steuerbefreiung", "VAT exemption reason code"),
    "BT-122": ("Kennung der rechnungsbegründenden Unterlage", "Supporting document reference"),
    "BT-123": ("Beschreibung der rechnungsbegründenden Unterlage", "Supporting document description"),
    "BT-124": ("Speicherort des externen Dokuments", "External document location"),
    "BT-125": ("Angehängtes Dokument", "Attached document"),
    "BT-126": ("Kennung der Rechnungsposition", "Invoice line identifier"),
    "BT-127": ("Freitext zur Rechnungsposition", "Invoice line note"),
    "BT-128": ("Objektkennung der Rechnungsposition", "Invoice line object identifier"),
    "BT-129": ("Menge", "Invoiced quantity"),
    "BT-130": ("Maßeinheit der Menge", "Invoiced quantity unit of measure code"),
    "BT-131": ("Nettobetrag der Rechnungsposition", "Invoice line net amount"),
    "BT-132": ("Referenz auf die Bestellposition", "Referenced purchase order line reference"),
    "BT-133": ("Buchungsreferenz des Käufers zur Rechnungsposition", "Invoice line buyer accounting reference"),
    "BT-134": ("Anfangsdatum des Abrechnungszeitraums der Position", "Invoice line period start date"),
    "BT-135": ("Enddatum des Abrechnungszeitraums der Position", "Invoice line period end date"),
    "BT-136": ("Betrag des Nachlasses auf Positionsebene", "Invoice line allowance amount"),
    "BT-137": ("Grundbetrag des Nachlasses auf Positionsebene", "Invoice line allowance base amount"),
    "BT-138": ("Prozentsatz des Nachlasses auf Positionsebene", "Invoice line allowance percentage"),
    "BT-139": ("Grund für den Nachlass auf Positionsebene", "Invoice line allowance reason"),
    "BT-140": ("Code für den Grund des Nachlasses auf Positionsebene", "Invoice line allowance reason code"),
    "BT-141": ("Betrag des Zuschlags auf Positionsebene", "Invoice line charge amount"),
    "BT-142": ("Grundbetrag des Zuschlags auf Positionsebene", "Invoice line charge base amount"),
    "BT-143": ("Prozentsatz des Zuschlags auf Positionsebene", "Invoice line charge percentage"),
    "BT-144": ("Grund für den Zuschlag auf Positionsebene", "Invoice line charge reason"),
    "BT-145": ("Code für den Grund des Zuschlags auf Positionsebene", "Invoice line charge reason code"),
    "BT-146": ("Nettopreis des Artikels", "Item net price"),
    "BT-147": ("Rabatt auf den Artikelpreis", "Item price discount"),
    "BT-148": ("Bruttopreis des Artikels", "Item gross price"),
    "BT-149": ("Basismenge zum Artikelpreis", "Item price base quantity"),
    "BT-150": ("Maßeinheit der Basismenge", "Item price base quantity unit of measure code"),
    "BT-151": ("Umsatzsteuerkategorie des Artikels", "Invoiced item VAT category code"),
    "BT-152": ("Umsatzsteuersatz des Artikels", "Invoiced item VAT rate"),
    "BT-153": ("Artikelname", "Item name"),
    "BT-154": ("Artikelbeschreibung", "Item description"),
    "BT-155": ("Artikelnummer des Verkäufers", "Item seller's identifier"),
    "BT-156": ("Artikelnummer des Käufers", "Item buyer's identifier"),
    "BT-157": ("Standardkennung des Artikels", "Item standard identifier"),
    "BT-158": ("Klassifizierungskennung des Artikels", "Item classification identifier"),
    "BT-159": ("Ursprungsland des Artikels", "Item country of origin"),
    "BT-160": ("Name der Artikeleigenschaft", "Item attribute name"),
    "BT-161": ("Wert der Artikeleigenschaft", "Item attribute value"),
    "BT-162": ("Anschriftszeile 3 des Verkäufers", "Seller address line 3"),
    "BT-163": ("Anschriftszeile 3 des Käufers", "Buyer address line 3"),
    "BT-164": ("Anschriftszeile 3 des Steuervertreters", "Tax representative address line 3"),
    "BT-165": ("Anschriftszeile 3 der Lieferanschrift", "Deliver to address line 3"),
    "BG-1": ("Rechnungsbemerkung", "Invoice note"),
    "BG-2": ("Prozesssteuerung", "Process control"),
    "BG-3": ("Vorausgegangene Rechnung", "Preceding invoice reference"),
    "BG-4": ("Verkäufer", "Seller"),
    "BG-5": ("Postanschrift des Verkäufers", "Seller postal address"),
    "BG-6": ("Kontaktdaten des Verkäufers", "Seller contact"),
    "BG-7": ("Käufer", "Buyer"),
    "BG-8": ("Postanschrift des Käufers", "Buyer postal address"),
    "BG-9": ("Kontaktdaten des Käufers", "Buyer contact"),
    "BG-10": ("Zahlungsempfänger", "Payee"),
    "BG-11": ("Steuervertreter des Verkäufers", "Seller tax representative party"),
    "BG-12": ("Postanschrift des Steuervertreters", "Seller tax representative postal address"),
    "BG-13": ("Lieferinformationen", "Delivery information"),
    "BG-14": ("Rechnungszeitraum", "Invoicing period"),
    "BG-15": ("Lieferanschrift", "Deliver to address"),
    "BG-16": ("Zahlungsanweisungen", "Payment instructions"),
    "BG-17": ("Überweisung", "Credit transfer"),
    "BG-18": ("Zahlungskarte", "Payment card information"),
    "BG-19": ("Lastschrift", "Direct debit"),
    "BG-20": ("Nachlass auf Dokumentenebene", "Document level allowance"),
    "BG-21": ("Zuschlag auf Dokumentenebene", "Document level charge"),
    "BG-22": ("Gesamtbeträge der Rechnung", "Document totals"),
    "BG-23": ("Umsatzsteueraufschlüsselung", "VAT breakdown"),
    "BG-24": ("Rechnungsbegründende Unterlage", "Additional supporting document"),
    "BG-25": ("Rechnungsposition", "Invoice line"),
    "BG-26": ("Abrechnungszeitraum der Position", "Invoice line period"),
    "BG-27": ("Nachlass auf Positionsebene", "Invoice line allowance"),
    "BG-28": ("Zuschlag auf Positionsebene", "Invoice line charge"),
    "BG-29": ("Preiseinzelheiten", "Price details"),
    "BG-30": ("Umsatzsteuerinformationen der Position", "Line VAT information"),
    "BG-31": ("Artikelinformationen", "Item information"),
    "BG-32": ("Artikeleigenschaft", "Item attribute"),
}

#: Terms that UBL and CII carry in the same element for two business terms (allowance or charge,
#: decided by the ChargeIndicator): one label naming both.
PAIRS: dict[str, tuple[str, str]] = {
    "BG-20/BG-21": ("Nachlass oder Zuschlag auf Dokumentenebene", "Document level allowance or charge"),
    "BT-92/BT-99": ("Betrag des Nachlasses oder Zuschlags", "Allowance or charge amount"),
    "BT-93/BT-100": ("Grundbetrag des Nachlasses oder Zuschlags", "Allowance or charge base amount"),
    "BT-94/BT-101": ("Prozentsatz des Nachlasses oder Zuschlags", "Allowance or charge percentage"),
    "BT-95/BT-102": ("Umsatzsteuerkategorie des Nachlasses oder Zuschlags", "Allowance or charge VAT category code"),
    "BT-96/BT-103": ("Umsatzsteuersatz des Nachlasses oder Zuschlags", "Allowance or charge VAT rate"),
    "BT-97/BT-104": ("Grund für den Nachlass oder Zuschlag", "Allowance or charge reason"),
    "BT-98/BT-105": ("Code für den Grund des Nachlasses oder Zuschlags", "Allowance or charge reason code"),
    "BG-27/BG-28": ("Nachlass oder Zuschlag auf Positionsebene", "Invoice line allowance or charge"),
    "BT-136/BT-141": ("Betrag des Nachlasses oder Zuschlags der Position", "Line allowance or charge amount"),
    "BT-137/BT-142": ("Grundbetrag des Nachlasses oder Zuschlags der Position", "Line allowance or charge base amount"),
    "BT-138/BT-143": ("Prozentsatz des Nachlasses oder Zuschlags der Position", "Line allowance or charge percentage"),
    "BT-139/BT-144": ("Grund für den Nachlass oder Zuschlag der Position", "Line allowance or charge reason"),
    "BT-140/BT-145": ("Code für den Grund des Nachlasses oder Zuschlags der Position", "Line allowance or charge reason code"),
    "BT-31/BT-32": ("Umsatzsteuer-Identifikationsnummer oder Steuernummer des Verkäufers", "Seller VAT identifier or tax registration identifier"),
    "BT-110/BT-111": ("Gesamtbetrag der Umsatzsteuer", "Invoice total VAT amount"),
}

#: the groups that repeat: a location inside one names its position ("Rechnungsposition 3")
REPEATING = frozenset({"BG-1", "BG-3", "BG-16", "BG-20/BG-21", "BG-20", "BG-21", "BG-23", "BG-24", "BG-25",
                       "BG-27/BG-28", "BG-27", "BG-28", "BG-32"})

CODE = re.compile(r"\b(B[TG])-(\d{1,3})\b")


def name(code: str, lang: str | None = None) -> str | None:
    """The name of a business term or group ("BT-112", "BG-25", "BT-92/BT-99") or None."""
    texts = TERMS.get(code) or PAIRS.get(code)
    return pick(texts, lang) if texts else None


def label(code: str, lang: str | None = None) -> str:
    """"Gesamtbetrag einschließlich Umsatzsteuer (BT-112)"; an unknown code stays as it is."""
    n = name(code, lang)
    if not n:
        return code
    # "Käuferreferenz (Leitweg-ID)" -> "Käuferreferenz (Leitweg-ID, BT-10)", not two brackets
    return f"{n[:-1]}, {code})" if n.endswith(")") else f"{n} ({code})"


def codes_in(text: str | None) -> list[str]:
    """The BT/BG codes a text names, in order, each once ("BT-112", "BG-23")."""
    seen: list[str] = []
    for kind, number in CODE.findall(text or ""):
        code = f"{kind}-{int(number)}"
        if code not in seen:
            seen.append(code)
    return seen


# ---------------------------------------------------------------- element paths -> terms
def _under(prefix: str, entries: dict[str, str]) -> dict[tuple[str, ...], str]:
    head = tuple(prefix.split("/")) if prefix else ()
    return {head + tuple(k.split("/")): v for k, v in entries.items()}


def _address(lines: tuple[str, str, str], city: str, post: str, region: str, country: str, *, cii: bool) -> dict[str, str]:
    if cii:
        return {"LineOne": lines[0], "LineTwo": lines[1], "LineThree": lines[2], "CityName": city,
                "PostcodeCode": post, "CountrySubDivisionName": region, "CountryID": country}
    return {"StreetName": lines[0], "AdditionalStreetName": lines[1], "AddressLine/Line": lines[2], "CityName": city,
            "PostalZone": post, "CountrySubentity": region, "Country/IdentificationCode": country, "Country": country}


def _ubl() -> dict[tuple[str, ...], str]:
    m: dict[tuple[str, ...], str] = {}
    for root in ("Invoice", "CreditNote"):
        m |= _under(root, {
            "ID": "BT-1", "IssueDate": "BT-2", "InvoiceTypeCode": "BT-3", "CreditNoteTypeCode": "BT-3",
            "DocumentCurrencyCode": "BT-5", "TaxCurrencyCode": "BT-6", "TaxPointDate": "BT-7", "DueDate": "BT-9",
            "BuyerReference": "BT-10", "ProjectReference": "BT-11", "ProjectReference/ID": "BT-11",
            "ContractDocumentReference": "BT-12", "ContractDocumentReference/ID": "BT-12",
            "OrderReference": "BT-13", "OrderReference/ID": "BT-13", "OrderReference/SalesOrderID": "BT-14",
            "ReceiptDocumentReference/ID": "BT-15", "DespatchDocumentReference/ID": "BT-16",
            "OriginatorDocumentReference/ID": "BT-17", "AccountingCost": "BT-19", "PaymentTerms": "BT-20",
            "PaymentTerms/Note": "BT-20", "Note": "BT-22", "ProfileID": "BT-23", "CustomizationID": "BT-24",
            "BillingReference": "BG-3", "BillingReference/InvoiceDocumentReference/ID": "BT-25",
            "BillingReference/InvoiceDocumentReference/IssueDate": "BT-26",
            "AccountingSupplierParty": "BG-4", "AccountingCustomerParty": "BG-7", "PayeeParty": "BG-10",
            "TaxRepresentativeParty": "BG-11", "Delivery": "BG-13", "InvoicePeriod": "BG-14",
            "InvoicePeriod/StartDate": "BT-73", "InvoicePeriod/EndDate": "BT-74", "PaymentMeans": "BG-16",
            "AllowanceCharge": "BG-20/BG-21", "LegalMonetaryTotal": "BG-22", "TaxTotal": "BT-110/BT-111",
            "TaxTotal/TaxAmount": "BT-110/BT-111", "TaxTotal/TaxSubtotal": "BG-23",
            "AdditionalDocumentReference": "BG-24", "InvoiceLine": "BG-25", "CreditNoteLine": "BG-25",
        })
    seller = "AccountingSupplierParty/Party"
    m |= _under(seller, {"PartyName/Name": "BT-28", "PartyIdentification/ID": "BT-29",
                         "PartyLegalEntity/RegistrationName": "BT-27", "PartyLegalEntity/CompanyID": "BT-30",
                         "PartyLegalEntity/CompanyLegalForm": "BT-33", "PartyTaxScheme/CompanyID": "BT-31/BT-32",
                         "EndpointID": "BT-34", "PostalAddress": "BG-5", "Contact": "BG-6", "Contact/Name": "BT-41",
                         "Contact/Telephone": "BT-42", "Contact/ElectronicMail": "BT-43"})
    m |= _under(seller + "/PostalAddress", _address(("BT-35", "BT-36", "BT-162"), "BT-37", "BT-38", "BT-39", "BT-40", cii=False))
    buyer = "AccountingCustomerParty/Party"
    m |= _under(buyer, {"PartyName/Name": "BT-45", "PartyIdentification/ID": "BT-46",
                        "PartyLegalEntity/RegistrationName": "BT-44", "PartyLegalEntity/CompanyID": "BT-47",
                        "PartyTaxScheme/CompanyID": "BT-48", "EndpointID": "BT-49", "PostalAddress": "BG-8",
                        "Contact": "BG-9", "Contact/Name": "BT-56", "Contact/Telephone": "BT-57",
                        "Contact/ElectronicMail": "BT-58"})
    m |= _under(buyer + "/PostalAddress", _address(("BT-50", "BT-51", "BT-163"), "BT-52", "BT-53", "BT-54", "BT-55", cii=False))
    m |= _under("PayeeParty", {"PartyName/Name": "BT-59", "PartyIdentification/ID": "BT-60",
                               "PartyLegalEntity/CompanyID": "BT-61"})
    m |= _under("TaxRepresentativeParty", {"PartyName/Name": "BT-62", "PartyTaxScheme/CompanyID": "BT-63",
                                           "PostalAddress": "BG-12"})
    m |= _under("TaxRepresentativeParty/PostalAddress", _address(("BT-64", "BT-65", "BT-164"), "BT-66", "BT-67", "BT-68", "BT-69", cii=False))
    m |= _under("Delivery", {"DeliveryParty/PartyName/Name": "BT-70", "DeliveryLocation/ID": "BT-71",
                             "ActualDeliveryDate": "BT-72", "DeliveryLocation/Address": "BG-15"})
    m |= _under("Delivery/DeliveryLocation/Address", _address(("BT-75", "BT-76", "BT-165"), "BT-77", "BT-78", "BT-79", "BT-80", cii=False))
    m |= _under("PaymentMeans", {"PaymentMeansCode": "BT-81", "PaymentMeansCode/@name": "BT-82", "PaymentID": "BT-83",
                                 "PayeeFinancialAccount": "BG-17", "PayeeFinancialAccount/ID": "BT-84",
                                 "PayeeFinancialAccount/Name": "BT-85",
                                 "PayeeFinancialAccount/FinancialInstitutionBranch/ID": "BT-86",
                                 "CardAccount": "BG-18", "CardAccount/PrimaryAccountNumberID": "BT-87",
                                 "CardAccount/HolderName": "BT-88", "PaymentMandate": "BG-19",
                                 "PaymentMandate/ID": "BT-89", "PaymentMandate/PayerFinancialAccount/ID": "BT-91"})
    allowance = {"Amount": "BT-92/BT-99", "BaseAmount": "BT-93/BT-100", "MultiplierFactorNumeric": "BT-94/BT-101",
                 "TaxCategory": "BT-95/BT-102", "TaxCategory/ID": "BT-95/BT-102", "TaxCategory/Percent": "BT-96/BT-103",
                 "AllowanceChargeReason": "BT-97/BT-104", "AllowanceChargeReasonCode": "BT-98/BT-105"}
    for root in ("Invoice", "CreditNote"):
        m |= _under(f"{root}/AllowanceCharge", allowance)
    m |= _under("LegalMonetaryTotal", {"LineExtensionAmount": "BT-106", "AllowanceTotalAmount": "BT-107",
                                       "ChargeTotalAmount": "BT-108", "TaxExclusiveAmount": "BT-109",
                                       "TaxInclusiveAmount": "BT-112", "PrepaidAmount": "BT-113",
                                       "PayableRoundingAmount": "BT-114", "PayableAmount": "BT-115"})
    m |= _under("TaxSubtotal", {"TaxableAmount": "BT-116", "TaxAmount": "BT-117", "TaxCategory": "BT-118", "TaxCategory/ID": "BT-118",
                                "TaxCategory/Percent": "BT-119", "TaxCategory/TaxExemptionReason": "BT-120",
                                "TaxCategory/TaxExemptionReasonCode": "BT-121"})
    m |= _under("AdditionalDocumentReference", {"ID": "BT-122", "DocumentDescription": "BT-123",
                                                "Attachment/ExternalReference/URI": "BT-124",
                                                "Attachment/EmbeddedDocumentBinaryObject": "BT-125"})
    for line, qty in (("InvoiceLine", "InvoicedQuantity"), ("CreditNoteLine", "CreditedQuantity")):
        m |= _under(line, {
            "ID": "BT-126", "Note": "BT-127", "DocumentReference/ID": "BT-128", qty: "BT-129", f"{qty}/@unitCode": "BT-130",
            "LineExtensionAmount": "BT-131", "OrderLineReference/LineID": "BT-132", "AccountingCost": "BT-133",
            "InvoicePeriod": "BG-26", "InvoicePeriod/StartDate": "BT-134", "InvoicePeriod/EndDate": "BT-135",
            "AllowanceCharge": "BG-27/BG-28", "AllowanceCharge/Amount": "BT-136/BT-141",
            "AllowanceCharge/BaseAmount": "BT-137/BT-142", "AllowanceCharge/MultiplierFactorNumeric": "BT-138/BT-143",
            "AllowanceCharge/AllowanceChargeReason": "BT-139/BT-144",
            "AllowanceCharge/AllowanceChargeReasonCode": "BT-140/BT-145",
            "Price": "BG-29", "Price/PriceAmount": "BT-146", "Price/AllowanceCharge/Amount": "BT-147",
            "Price/AllowanceCharge/BaseAmount": "BT-148", "Price/BaseQuantity": "BT-149",
            "Price/BaseQuantity/@unitCode": "BT-150", "Item": "BG-31", "Item/ClassifiedTaxCategory": "BG-30",
            "Item/ClassifiedTaxCategory/ID": "BT-151", "Item/ClassifiedTaxCategory/Percent": "BT-152",
            "Item/Name": "BT-153", "Item/Description": "BT-154", "Item/SellersItemIdentification/ID": "BT-155",
            "Item/BuyersItemIdentification/ID": "BT-156", "Item/StandardItemIdentification/ID": "BT-157",
            "Item/CommodityClassification/ItemClassificationCode": "BT-158",
            "Item/OriginCountry/IdentificationCode": "BT-159", "Item/AdditionalItemProperty": "BG-32",
            "Item/AdditionalItemProperty/Name": "BT-160", "Item/AdditionalItemProperty/Value": "BT-161",
        })
    return m


def _cii_lines() -> dict[tuple[str, ...], str]:
    """The invoice line (BG-25) and its product (BG-31) in CII."""
    m: dict[tuple[str, ...], str] = {}
    line = "IncludedSupplyChainTradeLineItem"
    m |= _under(line, {
        "": "BG-25", "AssociatedDocumentLineDocument/LineID": "BT-126", "AssociatedDocumentLineDocument/IncludedNote/Content": "BT-127",
        "SpecifiedTradeProduct": "BG-31", "SpecifiedTradeProduct/Name": "BT-153", "SpecifiedTradeProduct/Description": "BT-154",
        "SpecifiedTradeProduct/SellerAssignedID": "BT-155", "SpecifiedTradeProduct/BuyerAssignedID": "BT-156",
        "SpecifiedTradeProduct/GlobalID": "BT-157", "SpecifiedTradeProduct/DesignatedProductClassification/ClassCode": "BT-158",
        "SpecifiedTradeProduct/OriginTradeCountry/ID": "BT-159", "SpecifiedTradeProduct/ApplicableProductCharacteristic": "BG-32",
        "SpecifiedTradeProduct/ApplicableProductCharacteristic/Description": "BT-160",
        "SpecifiedTradeProduct/ApplicableProductCharacteristic/Value": "BT-161",
        "SpecifiedLineTradeAgreement": "BG-29", "SpecifiedLineTradeAgreement/BuyerOrderReferencedDocument/LineID": "BT-132",
        "SpecifiedLineTradeAgreement/GrossPriceProductTradePrice/ChargeAmount": "BT-148",
        "SpecifiedLineTradeAgreement/GrossPriceProductTradePrice/AppliedTradeAllowanceCharge/ActualAmount": "BT-147",
        "SpecifiedLineTradeAgreement/NetPriceProductTradePrice/ChargeAmount": "BT-146",
        "SpecifiedLineTradeAgreement/NetPriceProductTradePrice/BasisQuantity": "BT-149",
        "SpecifiedLineTradeAgreement/GrossPriceProductTradePrice/BasisQuantity": "BT-149",
        "SpecifiedLineTradeDelivery/BilledQuantity": "BT-129", "SpecifiedLineTradeDelivery/BilledQuantity/@unitCode": "BT-130",
        "SpecifiedLineTradeSettlement/ApplicableTradeTax": "BG-30",
        "SpecifiedLineTradeSettlement/ApplicableTradeTax/CategoryCode": "BT-151",
        "SpecifiedLineTradeSettlement/ApplicableTradeTax/RateApplicablePercent": "BT-152",
        "SpecifiedLineTradeSettlement/BillingSpecifiedPeriod": "BG-26",
        "SpecifiedLineTradeSettlement/BillingSpecifiedPeriod/StartDateTime": "BT-134",
        "SpecifiedLineTradeSettlement/BillingSpecifiedPeriod/EndDateTime": "BT-135",
        "SpecifiedLineTradeSettlement/SpecifiedTradeAllowanceCharge": "BG-27/BG-28",
        "SpecifiedLineTradeSettlement/SpecifiedTradeAllowanceCharge/ActualAmount": "BT-136/BT-141",
        "SpecifiedLineTradeSettlement/SpecifiedTradeAllowanceCharge/BasisAmount": "BT-137/BT-142",
        "SpecifiedLineTradeSettlement/SpecifiedTradeAllowanceCharge/CalculationPercent": "BT-138/BT-143",
        "SpecifiedLineTradeSettlement/SpecifiedTradeAllowanceCharge/Reason": "BT-139/BT-144",
        "SpecifiedLineTradeSettlement/SpecifiedTradeAllowanceCharge/ReasonCode": "BT-140/BT-145",
        "SpecifiedLineTradeSettlement/SpecifiedTradeSettlementLineMonetarySummation/LineTotalAmount": "BT-131",
        "SpecifiedLineTradeSettlement/AdditionalReferencedDocument/IssuerAssignedID": "BT-128",
        "SpecifiedLineTradeSettlement/ReceivableSpecifiedTradeAccountingAccount/ID": "BT-133",
    })
    m.pop((line, ""), None)
    m[(line,)] = "BG-25"
    return m


def _cii() -> dict[tuple[str, ...], str]:
    m: dict[tuple[str, ...], str] = {}
    m |= _under("ExchangedDocumentContext", {"GuidelineSpecifiedDocumentContextParameter/ID": "BT-24",
                                             "GuidelineSpecifiedDocumentContextParameter": "BT-24",
                                             "BusinessProcessSpecifiedDocumentContextParameter/ID": "BT-23"})
    m |= _under("ExchangedDocument", {"ID": "BT-1", "TypeCode": "BT-3", "IssueDateTime": "BT-2",
                                      "IssueDateTime/DateTimeString": "BT-2", "IncludedNote": "BG-1",
                                      "IncludedNote/Content": "BT-22", "IncludedNote/SubjectCode": "BT-21"})
    m |= _cii_lines()
    agreement = "ApplicableHeaderTradeAgreement"
    m |= _under(agreement, {
        "BuyerReference": "BT-10", "SellerTradeParty": "BG-4", "BuyerTradeParty": "BG-7",
        "SellerTaxRepresentativeTradeParty": "BG-11", "SellerOrderReferencedDocument/IssuerAssignedID": "BT-14",
        "BuyerOrderReferencedDocument/IssuerAssignedID": "BT-13", "ContractReferencedDocument/IssuerAssignedID": "BT-12",
        "AdditionalReferencedDocument": "BG-24", "AdditionalReferencedDocument/IssuerAssignedID": "BT-122",
        "AdditionalReferencedDocument/Name": "BT-123", "AdditionalReferencedDocument/URIID": "BT-124",
        "AdditionalReferencedDocument/AttachmentBinaryObject": "BT-125", "SpecifiedProcuringProject/ID": "BT-11",
        "SpecifiedProcuringProject": "BT-11",
    })
    for party, codes in (("SellerTradeParty", ("BT-27", "BT-28", "BT-29", "BT-30", "BT-31/BT-32", "BT-34", "BG-5", "BG-6", "BT-41", "BT-42", "BT-43")),
                         ("BuyerTradeParty", ("BT-44", "BT-45", "BT-46", "BT-47", "BT-48", "BT-49", "BG-8", "BG-9", "BT-56", "BT-57", "BT-58"))):
        m |= _under(f"{agreement}/{party}", {
            "Name": codes[0], "SpecifiedLegalOrganization/TradingBusinessName": codes[1], "ID": codes[2], "GlobalID": codes[2],
            "SpecifiedLegalOrganization/ID": codes[3], "SpecifiedTaxRegistration/ID": codes[4],
            "URIUniversalCommunication/URIID": codes[5], "PostalTradeAddress": codes[6], "DefinedTradeContact": codes[7],
            "DefinedTradeContact/PersonName": codes[8], "DefinedTradeContact/DepartmentName": codes[8],
            "DefinedTradeContact/TelephoneUniversalCommunication/CompleteNumber": codes[9],
            "DefinedTradeContact/EmailURIUniversalCommunication/URIID": codes[10],
        })
    m[(agreement, "SellerTradeParty", "Description")] = "BT-33"
    m |= _under(f"{agreement}/SellerTradeParty/PostalTradeAddress", _address(("BT-35", "BT-36", "BT-162"), "BT-37", "BT-38", "BT-39", "BT-40", cii=True))
    m |= _under(f"{agreement}/BuyerTradeParty/PostalTradeAddress", _address(("BT-50", "BT-51", "BT-163"), "BT-52", "BT-53", "BT-54", "BT-55", cii=True))
    m |= _under(f"{agreement}/SellerTaxRepresentativeTradeParty", {"Name": "BT-62", "SpecifiedTaxRegistration/ID": "BT-63",
                                                                   "PostalTradeAddress": "BG-12"})
    m |= _under(f"{agreement}/SellerTaxRepresentativeTradeParty/PostalTradeAddress", _address(("BT-64", "BT-65", "BT-164"), "BT-66", "BT-67", "BT-68", "BT-69", cii=True))
    delivery = "ApplicableHeaderTradeDelivery"
    m |= _under(delivery, {"": "BG-13", "ShipToTradeParty/Name": "BT-70", "ShipToTradeParty/ID": "BT-71",
                           "ShipToTradeParty/GlobalID": "BT-71", "ShipToTradeParty/PostalTradeAddress": "BG-15",
                           "ActualDeliverySupplyChainEvent/OccurrenceDateTime": "BT-72",
                           "DespatchAdviceReferencedDocument/IssuerAssignedID": "BT-16",
                           "ReceivingAdviceReferencedDocument/IssuerAssignedID": "BT-15"})
    m.pop((delivery, ""), None)
    m[(delivery,)] = "BG-13"
    m |= _under(f"{delivery}/ShipToTradeParty/PostalTradeAddress", _address(("BT-75", "BT-76", "BT-165"), "BT-77", "BT-78", "BT-79", "BT-80", cii=True))
    settlement = "ApplicableHeaderTradeSettlement"
    m |= _under(settlement, {
        "CreditorReferenceID": "BT-90", "PaymentReference": "BT-83", "TaxCurrencyCode": "BT-6", "InvoiceCurrencyCode": "BT-5",
        "PayeeTradeParty": "BG-10", "PayeeTradeParty/Name": "BT-59", "PayeeTradeParty/ID": "BT-60",
        "PayeeTradeParty/GlobalID": "BT-60", "PayeeTradeParty/SpecifiedLegalOrganization/ID": "BT-61",
        "SpecifiedTradeSettlementPaymentMeans": "BG-16", "SpecifiedTradeSettlementPaymentMeans/TypeCode": "BT-81",
        "SpecifiedTradeSettlementPaymentMeans/Information": "BT-82",
        "SpecifiedTradeSettlementPaymentMeans/ApplicableTradeSettlementFinancialCard": "BG-18",
        "SpecifiedTradeSettlementPaymentMeans/ApplicableTradeSettlementFinancialCard/ID": "BT-87",
        "SpecifiedTradeSettlementPaymentMeans/ApplicableTradeSettlementFinancialCard/CardholderName": "BT-88",
        "SpecifiedTradeSettlementPaymentMeans/PayerPartyDebtorFinancialAccount/IBANID": "BT-91",
        "SpecifiedTradeSettlementPaymentMeans/PayeePartyCreditorFinancialAccount": "BG-17",
        "SpecifiedTradeSettlementPaymentMeans/PayeePartyCreditorFinancialAccount/IBANID": "BT-84",
        "SpecifiedTradeSettlementPaymentMeans/PayeePartyCreditorFinancialAccount/ProprietaryID": "BT-84",
        "SpecifiedTradeSettlementPaymentMeans/PayeePartyCreditorFinancialAccount/AccountName": "BT-85",
        "SpecifiedTradeSettlementPaymentMeans/PayeeSpecifiedCreditorFinancialInstitution/BICID": "BT-86",
        "ApplicableTradeTax": "BG-23", "ApplicableTradeTax/CalculatedAmount": "BT-117",
        "ApplicableTradeTax/BasisAmount": "BT-116", "ApplicableTradeTax/CategoryCode": "BT-118",
        "ApplicableTradeTax/RateApplicablePercent": "BT-119", "ApplicableTradeTax/ExemptionReason": "BT-120",
        "ApplicableTradeTax/ExemptionReasonCode": "BT-121", "ApplicableTradeTax/DueDateTypeCode": "BT-8",
        "ApplicableTradeTax/TaxPointDate": "BT-7", "BillingSpecifiedPeriod": "BG-14",
        "BillingSpecifiedPeriod/StartDateTime": "BT-73", "BillingSpecifiedPeriod/EndDateTime": "BT-74",
        "SpecifiedTradeAllowanceCharge": "BG-20/BG-21", "SpecifiedTradeAllowanceCharge/ActualAmount": "BT-92/BT-99",
        "SpecifiedTradeAllowanceCharge/BasisAmount": "BT-93/BT-100",
        "SpecifiedTradeAllowanceCharge/CalculationPercent": "BT-94/BT-101",
        "SpecifiedTradeAllowanceCharge/CategoryTradeTax/CategoryCode": "BT-95/BT-102",
        "SpecifiedTradeAllowanceCharge/CategoryTradeTax/RateApplicablePercent": "BT-96/BT-103",
        "SpecifiedTradeAllowanceCharge/Reason": "BT-97/BT-104", "SpecifiedTradeAllowanceCharge/ReasonCode": "BT-98/BT-105",
        "SpecifiedTradePaymentTerms": "BT-20", "SpecifiedTradePaymentTerms/Description": "BT-20",
        "SpecifiedTradePaymentTerms/DueDateDateTime": "BT-9", "SpecifiedTradePaymentTerms/DirectDebitMandateID": "BT-89",
        "SpecifiedTradeSettlementHeaderMonetarySummation": "BG-22",
        "SpecifiedTradeSettlementHeaderMonetarySummation/LineTotalAmount": "BT-106",
        "SpecifiedTradeSettlementHeaderMonetarySummation/ChargeTotalAmount": "BT-108",
        "SpecifiedTradeSettlementHeaderMonetarySummation/AllowanceTotalAmount": "BT-107",
        "SpecifiedTradeSettlementHeaderMonetarySummation/TaxBasisTotalAmount": "BT-109",
        "SpecifiedTradeSettlementHeaderMonetarySummation/TaxTotalAmount": "BT-110/BT-111",
        "SpecifiedTradeSettlementHeaderMonetarySummation/RoundingAmount": "BT-114",
        "SpecifiedTradeSettlementHeaderMonetarySummation/GrandTotalAmount": "BT-112",
        "SpecifiedTradeSettlementHeaderMonetarySummation/TotalPrepaidAmount": "BT-113",
        "SpecifiedTradeSettlementHeaderMonetarySummation/DuePayableAmount": "BT-115",
        "InvoiceReferencedDocument": "BG-3", "InvoiceReferencedDocument/IssuerAssignedID": "BT-25",
        "InvoiceReferencedDocument/FormattedIssueDateTime": "BT-26",
        "ReceivableSpecifiedTradeAccountingAccount/ID": "BT-19",
    })
    return m


#: element path suffix (local names; attributes as "@name") -> term code, per syntax family
UBL_ELEMENTS = _ubl()
CII_ELEMENTS = _cii()
#: the root elements: a location that is only the root means "the whole document"
ROOTS = frozenset({"Invoice", "CreditNote", "CrossIndustryInvoice"})
#: the longest key, so a lookup tries only as many suffixes as can match
_LONGEST = max(len(k) for k in (*UBL_ELEMENTS, *CII_ELEMENTS))


def term_of(names: list[str] | tuple[str, ...]) -> str | None:
    """The term of the element at the end of ``names`` (local names from the root), or None."""
    table = CII_ELEMENTS if names and names[0] == "CrossIndustryInvoice" else UBL_ELEMENTS
    for start in range(max(0, len(names) - _LONGEST), len(names)):
        code = table.get(tuple(names[start:]))
        if code is not None:
            return code
    return None
