"""What a finding means for the clerk: its BMF class, a German (or English) explanation built
from the rule and the business terms it names, a readable location, and the one-sentence verdict
a clerk can paste into a reply to the supplier.

The BMF letter of 15.10.2025 sorts the defects of an e-invoice into three classes:
- Formatfehler: the file is no e-invoice at all (not well-formed XML, XML schema violated, no
  structured invoice data or no matching scenario, a profile that is no invoice under § 14 UStG);
- Geschäftsregelfehler: a business rule of EN 16931, XRechnung (CIUS) or Peppol BIS is broken;
- Inhaltsfehler: the content is implausible or incomplete (our range checks, identifiers).
Findings that say a check could not run (the validator, a rule pack, a time limit) are no defect
of the invoice: their class is ``not_checked``.

Rule IDs stay the key; the official rule text stays beside the explanation ("Originaltext").
The texts are defined here once, each as (German, English); the language is EINVOICE_LANGUAGE
(``einvoice.language``). This module works on plain values (rule, message, location, stage) and
stored JSON reports, so it must never import ``report`` or ``html`` (they import it), never
change a finding, and never decide a verdict: it only words what the engine decided.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from einvoice.language import language, pick
from einvoice.validation import terms

# ---------------------------------------------------------------- BMF classes
FORMAT, BUSINESS_RULE, CONTENT, NOT_CHECKED = "format", "business_rule", "content", "not_checked"
#: the order a verdict names them in (gravest first)
CLASS_ORDER = (FORMAT, BUSINESS_RULE, CONTENT, NOT_CHECKED)
CLASS_NAMES: dict[str, tuple[str, str]] = {
    FORMAT: ("Formatfehler", "format error"),
    BUSINESS_RULE: ("Geschäftsregelfehler", "business rule error"),
    CONTENT: ("Inhaltsfehler", "content error"),
    NOT_CHECKED: ("Prüfung nicht möglich", "check not possible"),
}
CLASS_PLURALS: dict[str, tuple[str, str]] = {
    FORMAT: ("Formatfehler", "format errors"),
    BUSINESS_RULE: ("Geschäftsregelfehler", "business rule errors"),
    CONTENT: ("Inhaltsfehler", "content errors"),
    NOT_CHECKED: ("nicht ausführbare Prüfungen", "checks that could not run"),
}
CLASS_MEANINGS: dict[str, tuple[str, str]] = {
    FORMAT: ("Die Datei ist keine E-Rechnung im Sinne des BMF-Schreibens vom 15.10.2025 (Format).",
             "The file is no e-invoice in the sense of the BMF letter of 15.10.2025 (format)."),
    BUSINESS_RULE: ("Eine Geschäftsregel der EN 16931 bzw. XRechnung ist verletzt.",
                    "A business rule of EN 16931 or XRechnung is broken."),
    CONTENT: ("Der Inhalt ist unvollständig oder nicht plausibel.", "The content is incomplete or implausible."),
    NOT_CHECKED: ("Kein Mangel der Rechnung: die Prüfung konnte technisch nicht laufen.",
                  "No defect of the invoice: the check could not run."),
}

#: our own findings that say a check could not run
_NOT_CHECKED_RULES = frozenset({"ENGINE-ERROR", "VALIDATION-TIMEOUT", "XSD-ERROR", "EN16931-ERROR", "XRECHNUNG-ERROR",
                                "MODEL", "RULEPACK-ERROR", "RULEPACK-INTEGRITY", "EINVOICE-INTERNAL", "PDF-ATTACHMENTS",
                                "INTAKE-SIZE", "XML-SIZE"})
_FORMAT_RULES = frozenset({"XSD", "KOSIT-SCENARIO", "KOSIT-NO-SCENARIO", "KOSIT-SCENARIO-AMBIGUOUS", "DE-USTG-14",
                           "ZUGFERD1-LEGACY", "PDF-NO-XML", "PDF-READ", "FX-XMP-LEVEL", "FX-PROFILE-MISMATCH"})
_CONTENT_RULES = frozenset({"DE-MODEL-INCOMPLETE", "SKONTO-RANGE", "DE-LEITWEG-ID"})
_FORMAT_PREFIXES = ("XML-", "INTAKE-", "SBDH-", "PDF-")
_CONTENT_PREFIXES = ("DE-PLAUS-",)


def bmf_class(rule: str, stage: str | None = None) -> str:
    """The BMF class of a finding (``format``, ``business_rule``, ``content``, ``not_checked``)."""
    if rule in _NOT_CHECKED_RULES:
        return NOT_CHECKED
    if rule in _FORMAT_RULES or rule.startswith(_FORMAT_PREFIXES):
        return FORMAT
    if rule in _CONTENT_RULES or rule.startswith(_CONTENT_PREFIXES):
        return CONTENT
    if rule.startswith(("BR-", "CII-", "UBL-", "PEPPOL-", "FX-SCH-")):
        return BUSINESS_RULE
    return {"intake": FORMAT, "parse": FORMAT, "xsd": FORMAT, "profile": FORMAT, "model": CONTENT,
            "engine": NOT_CHECKED, "rulepack": NOT_CHECKED}.get(stage or "", BUSINESS_RULE)


def class_name(cls: str | None, lang: str | None = None) -> str:
    return pick(CLASS_NAMES[cls], lang) if cls in CLASS_NAMES else ""


# ---------------------------------------------------------------- severities, stages, states
SEVERITY_NAMES: dict[str, tuple[str, str]] = {
    "fatal": ("schwerwiegend", "fatal"), "error": ("Fehler", "error"),
    "warning": ("Warnung", "warning"), "info": ("Hinweis", "note"),
}
STAGE_NAMES: dict[str, tuple[str, str]] = {
    "intake": ("Eingang", "intake"), "parse": ("XML lesen", "XML parsing"), "xsd": ("XML-Schema", "XML schema"),
    "en16931": ("EN 16931", "EN 16931"), "xrechnung": ("XRechnung", "XRechnung"), "profile": ("Profil", "profile"),
    "model": ("Inhalt", "content"), "engine": ("Prüfprogramm", "validator"), "rulepack": ("Regelpaket", "rule pack"),
}
STATE_NAMES: dict[str, tuple[str, str]] = {
    "passed": ("bestanden", "passed"), "failed": ("nicht bestanden", "failed"),
    "skipped": ("entfällt", "skipped"), "error": ("nicht gelaufen", "could not run"),
}


def severity_name(severity: str, lang: str | None = None) -> str:
    return pick(SEVERITY_NAMES[severity], lang) if severity in SEVERITY_NAMES else severity


def stage_name(stage: str, lang: str | None = None) -> str:
    return pick(STAGE_NAMES[stage], lang) if stage in STAGE_NAMES else stage


def state_name(state: str, lang: str | None = None) -> str:
    return pick(STATE_NAMES[state], lang) if state in STATE_NAMES else state


# ---------------------------------------------------------------- explanations
#: one rule -> (German, English); "{terms}" is the business terms the rule text names
RULE_TEXTS: dict[str, tuple[str, str]] = {
    # EN 16931 arithmetic (BR-CO)
    "BR-CO-10": ("Die Summe der Nettobeträge der Rechnungspositionen (BT-106) stimmt nicht mit der Summe der "
                 "einzelnen Nettobeträge (BT-131) überein.",
                 "The sum of invoice line net amounts (BT-106) is not the sum of the line net amounts (BT-131)."),
    "BR-CO-11": ("Die Summe der Nachlässe auf Dokumentenebene (BT-107) stimmt nicht mit den einzelnen Nachlässen (BT-92) überein.",
                 "The sum of document level allowances (BT-107) is not the sum of the allowances (BT-92)."),
    "BR-CO-12": ("Die Summe der Zuschläge auf Dokumentenebene (BT-108) stimmt nicht mit den einzelnen Zuschlägen (BT-99) überein.",
                 "The sum of document level charges (BT-108) is not the sum of the charges (BT-99)."),
    "BR-CO-13": ("Der Gesamtbetrag ohne Umsatzsteuer (BT-109) muss die Summe der Positionsbeträge (BT-106) abzüglich "
                 "Nachlässe (BT-107) zuzüglich Zuschläge (BT-108) sein; das ist hier nicht der Fall.",
                 "The total without VAT (BT-109) must be the line total (BT-106) minus allowances (BT-107) plus "
                 "charges (BT-108); it is not."),
    "BR-CO-14": ("Der Gesamtbetrag der Umsatzsteuer (BT-110) stimmt nicht mit der Summe der Steuerbeträge je Kategorie (BT-117) überein.",
                 "The total VAT amount (BT-110) is not the sum of the VAT category tax amounts (BT-117)."),
    "BR-CO-15": ("Rechenfehler: der Gesamtbetrag einschließlich Umsatzsteuer (BT-112) muss der Gesamtbetrag ohne "
                 "Umsatzsteuer (BT-109) plus der Gesamtbetrag der Umsatzsteuer (BT-110) sein.",
                 "Arithmetic error: the total with VAT (BT-112) must be the total without VAT (BT-109) plus the "
                 "total VAT amount (BT-110)."),
    "BR-CO-16": ("Rechenfehler: der fällige Zahlungsbetrag (BT-115) muss der Gesamtbetrag einschließlich Umsatzsteuer "
                 "(BT-112) abzüglich Vorauszahlung (BT-113) zuzüglich Rundungsbetrag (BT-114) sein.",
                 "Arithmetic error: the amount due (BT-115) must be the total with VAT (BT-112) minus the paid amount "
                 "(BT-113) plus the rounding amount (BT-114)."),
    "BR-CO-17": ("Der Steuerbetrag einer Umsatzsteuerkategorie (BT-117) muss Steuerbasisbetrag (BT-116) mal "
                 "Steuersatz (BT-119) sein, auf zwei Nachkommastellen gerundet.",
                 "A VAT category tax amount (BT-117) must be the taxable amount (BT-116) times the rate (BT-119), "
                 "rounded to two decimals."),
    "BR-CO-18": ("Die Rechnung muss mindestens eine Umsatzsteueraufschlüsselung (BG-23) enthalten.",
                 "The invoice must contain at least one VAT breakdown (BG-23)."),
    "BR-CO-25": ("Bei einem positiven Zahlungsbetrag (BT-115) muss ein Fälligkeitsdatum (BT-9) oder müssen "
                 "Zahlungsbedingungen (BT-20) angegeben sein.",
                 "With a positive amount due (BT-115) a payment due date (BT-9) or payment terms (BT-20) must be given."),
    "BR-CO-26": ("Der Verkäufer muss über eine Kennung (BT-29), eine Registernummer (BT-30) oder eine "
                 "Umsatzsteuer-Identifikationsnummer (BT-31) erkennbar sein.",
                 "The seller must be identified by an identifier (BT-29), a registration number (BT-30) or a VAT "
                 "identifier (BT-31)."),
    # EN 16931 core
    "BR-01": ("Die Spezifikationskennung (BT-24) fehlt.", "The specification identifier (BT-24) is missing."),
    "BR-02": ("Die Rechnungsnummer (BT-1) fehlt.", "The invoice number (BT-1) is missing."),
    "BR-03": ("Das Rechnungsdatum (BT-2) fehlt.", "The invoice issue date (BT-2) is missing."),
    "BR-04": ("Der Code für den Rechnungstyp (BT-3) fehlt.", "The invoice type code (BT-3) is missing."),
    "BR-05": ("Der Code für die Rechnungswährung (BT-5) fehlt.", "The invoice currency code (BT-5) is missing."),
    "BR-06": ("Der Name des Verkäufers (BT-27) fehlt.", "The seller name (BT-27) is missing."),
    "BR-07": ("Der Name des Käufers (BT-44) fehlt.", "The buyer name (BT-44) is missing."),
    "BR-08": ("Die Postanschrift des Verkäufers (BG-5) fehlt.", "The seller postal address (BG-5) is missing."),
    "BR-09": ("Der Ländercode des Verkäufers (BT-40) fehlt.", "The seller country code (BT-40) is missing."),
    "BR-10": ("Die Postanschrift des Käufers (BG-8) fehlt.", "The buyer postal address (BG-8) is missing."),
    "BR-11": ("Der Ländercode des Käufers (BT-55) fehlt.", "The buyer country code (BT-55) is missing."),
    "BR-12": ("Die Summe der Nettobeträge der Rechnungspositionen (BT-106) fehlt.", "The sum of invoice line net amounts (BT-106) is missing."),
    "BR-13": ("Der Gesamtbetrag ohne Umsatzsteuer (BT-109) fehlt.", "The invoice total without VAT (BT-109) is missing."),
    "BR-14": ("Der Gesamtbetrag einschließlich Umsatzsteuer (BT-112) fehlt.", "The invoice total with VAT (BT-112) is missing."),
    "BR-15": ("Der fällige Zahlungsbetrag (BT-115) fehlt.", "The amount due for payment (BT-115) is missing."),
    "BR-16": ("Die Rechnung enthält keine Rechnungsposition (BG-25).", "The invoice has no invoice line (BG-25)."),
    "BR-21": ("Eine Rechnungsposition hat keine Kennung (BT-126).", "An invoice line has no identifier (BT-126)."),
    "BR-22": ("Eine Rechnungsposition hat keine Menge (BT-129).", "An invoice line has no invoiced quantity (BT-129)."),
    "BR-23": ("Eine Rechnungsposition hat keine Maßeinheit (BT-130).", "An invoice line has no unit of measure (BT-130)."),
    "BR-24": ("Eine Rechnungsposition hat keinen Nettobetrag (BT-131).", "An invoice line has no net amount (BT-131)."),
    "BR-25": ("Eine Rechnungsposition hat keinen Artikelnamen (BT-153).", "An invoice line has no item name (BT-153)."),
    "BR-26": ("Eine Rechnungsposition hat keinen Nettopreis (BT-146).", "An invoice line has no item net price (BT-146)."),
    "BR-27": ("Der Nettopreis eines Artikels (BT-146) darf nicht negativ sein.", "An item net price (BT-146) must not be negative."),
    "BR-28": ("Der Bruttopreis eines Artikels (BT-148) darf nicht negativ sein.", "An item gross price (BT-148) must not be negative."),
    "BR-29": ("Das Enddatum des Rechnungszeitraums (BT-74) liegt vor dem Anfangsdatum (BT-73).",
              "The invoicing period end date (BT-74) is before its start date (BT-73)."),
    "BR-30": ("Das Enddatum des Abrechnungszeitraums einer Position (BT-135) liegt vor dem Anfangsdatum (BT-134).",
              "An invoice line period end date (BT-135) is before its start date (BT-134)."),
    "BR-45": ("In einer Umsatzsteueraufschlüsselung fehlt der Steuerbasisbetrag (BT-116).",
              "A VAT breakdown has no taxable amount (BT-116)."),
    "BR-46": ("In einer Umsatzsteueraufschlüsselung fehlt der Steuerbetrag (BT-117).", "A VAT breakdown has no tax amount (BT-117)."),
    "BR-47": ("In einer Umsatzsteueraufschlüsselung fehlt der Code der Umsatzsteuerkategorie (BT-118).",
              "A VAT breakdown has no VAT category code (BT-118)."),
    "BR-48": ("In einer Umsatzsteueraufschlüsselung fehlt der Steuersatz (BT-119).", "A VAT breakdown has no VAT rate (BT-119)."),
    "BR-49": ("Eine Zahlungsanweisung hat keinen Code für die Zahlungsart (BT-81).", "A payment instruction has no payment means code (BT-81)."),
    "BR-50": ("Bei einer Überweisung fehlt die Kennung des Zahlungskontos (BT-84, IBAN).",
              "A credit transfer has no payment account identifier (BT-84)."),
    "BR-61": ("Bei Zahlung per Überweisung muss die Kennung des Zahlungskontos (BT-84, IBAN) angegeben sein.",
              "With payment by credit transfer the payment account identifier (BT-84) must be given."),
    # XRechnung (BR-DE)
    "BR-DE-1": ("Die Zahlungsanweisungen (BG-16) fehlen; eine XRechnung muss angeben, wie gezahlt werden soll.",
                "The payment instructions (BG-16) are missing; an XRechnung must say how to pay."),
    "BR-DE-2": ("Die Kontaktdaten des Verkäufers (BG-6) fehlen.", "The seller contact (BG-6) is missing."),
    "BR-DE-3": ("Der Ort des Verkäufers (BT-37) fehlt.", "The seller city (BT-37) is missing."),
    "BR-DE-4": ("Die Postleitzahl des Verkäufers (BT-38) fehlt.", "The seller post code (BT-38) is missing."),
    "BR-DE-5": ("Die Kontaktstelle des Verkäufers (BT-41) fehlt.", "The seller contact point (BT-41) is missing."),
    "BR-DE-6": ("Die Telefonnummer des Verkäufers (BT-42) fehlt.", "The seller contact telephone number (BT-42) is missing."),
    "BR-DE-7": ("Die E-Mail-Adresse des Verkäufers (BT-43) fehlt.", "The seller contact email address (BT-43) is missing."),
    "BR-DE-8": ("Der Ort des Käufers (BT-52) fehlt.", "The buyer city (BT-52) is missing."),
    "BR-DE-9": ("Die Postleitzahl des Käufers (BT-53) fehlt.", "The buyer post code (BT-53) is missing."),
    "BR-DE-10": ("Zur Lieferanschrift (BG-15) fehlt der Ort (BT-77).", "The deliver-to address (BG-15) has no city (BT-77)."),
    "BR-DE-11": ("Zur Lieferanschrift (BG-15) fehlt die Postleitzahl (BT-78).", "The deliver-to address (BG-15) has no post code (BT-78)."),
    "BR-DE-14": ("In einer Umsatzsteueraufschlüsselung (BG-23) fehlt der Steuersatz (BT-119).",
                 "A VAT breakdown (BG-23) has no VAT rate (BT-119)."),
    "BR-DE-15": ("Die Käuferreferenz (BT-10, Leitweg-ID) fehlt; ohne sie kann die Rechnung nicht zugeordnet werden.",
                 "The buyer reference (BT-10, Leitweg-ID) is missing; without it the invoice cannot be routed."),
    "BR-DE-16": ("Die Steuernummer bzw. Umsatzsteuer-Identifikationsnummer des Verkäufers (BT-31, BT-32) oder des "
                 "Steuervertreters (BG-11) fehlt.",
                 "The seller VAT identifier or tax number (BT-31, BT-32) or a tax representative (BG-11) is missing."),
    "BR-DE-17": ("Der Code für den Rechnungstyp (BT-3) ist für eine XRechnung nicht vorgesehen.",
                 "The invoice type code (BT-3) is not one XRechnung provides for."),
    "BR-DE-18": ("Die Skonto-Angabe in den Zahlungsbedingungen (BT-20) hat nicht das vorgeschriebene Format "
                 "(#SKONTO#TAGE=…#PROZENT=…#).",
                 "The cash discount in the payment terms (BT-20) does not follow the required format (#SKONTO#TAGE=…#PROZENT=…#)."),
    "BR-DE-19": ("Die IBAN des Zahlungskontos (BT-84) ist keine gültige IBAN.", "The payment account IBAN (BT-84) is not a valid IBAN."),
    "BR-DE-20": ("Die IBAN des zu belastenden Kontos (BT-91) ist keine gültige IBAN.", "The debited account IBAN (BT-91) is not a valid IBAN."),
    "BR-DE-21": ("Die Spezifikationskennung (BT-24) ist nicht die der XRechnung.",
                 "The specification identifier (BT-24) is not the XRechnung identifier."),
    "BR-DE-22": ("Die Dateinamen der angehängten Dokumente (BT-125) sind nicht eindeutig.",
                 "The file names of the attached documents (BT-125) are not unique."),
    "BR-DE-23-a": ("Bei Zahlung per Überweisung fehlen die Überweisungsangaben (BG-17).",
                   "With payment by credit transfer the credit transfer data (BG-17) are missing."),
    "BR-DE-23-b": ("Bei Zahlung per Überweisung dürfen keine Karten- (BG-18) oder Lastschriftangaben (BG-19) stehen.",
                   "With payment by credit transfer no card (BG-18) or direct debit (BG-19) data may be given."),
    "BR-DE-24-a": ("Bei Kartenzahlung fehlen die Angaben zur Zahlungskarte (BG-18).",
                   "With card payment the payment card data (BG-18) are missing."),
    "BR-DE-24-b": ("Bei Kartenzahlung dürfen keine Überweisungs- (BG-17) oder Lastschriftangaben (BG-19) stehen.",
                   "With card payment no credit transfer (BG-17) or direct debit (BG-19) data may be given."),
    "BR-DE-25-a": ("Bei Lastschrift fehlen die Lastschriftangaben (BG-19).", "With direct debit the direct debit data (BG-19) are missing."),
    "BR-DE-25-b": ("Bei Lastschrift dürfen keine Überweisungs- (BG-17) oder Kartenangaben (BG-18) stehen.",
                   "With direct debit no credit transfer (BG-17) or card (BG-18) data may be given."),
    "BR-DE-26": ("Eine korrigierte Rechnung (Typ 384) soll die vorausgegangene Rechnung (BG-3) nennen.",
                 "A corrected invoice (type 384) should name the preceding invoice (BG-3)."),
    "BR-DE-27": ("Die Telefonnummer des Verkäufers (BT-42) soll mindestens drei Ziffern enthalten.",
                 "The seller contact telephone number (BT-42) should contain at least three digits."),
    "BR-DE-28": ("Die E-Mail-Adresse des Verkäufers (BT-43) hat kein gültiges Format.",
                 "The seller contact email address (BT-43) is not a valid address."),
    "BR-DE-30": ("Bei Lastschrift fehlt die Gläubiger-Identifikationsnummer (BT-90).",
                 "With direct debit the bank assigned creditor identifier (BT-90) is missing."),
    "BR-DE-31": ("Bei Lastschrift fehlt die Kennung des zu belastenden Kontos (BT-91).",
                 "With direct debit the debited account identifier (BT-91) is missing."),
    "BR-CO-04": ("Jede Rechnungsposition (BG-25) muss eine Umsatzsteuerkategorie (BT-151) haben.",
                 "Each invoice line (BG-25) must have a VAT category code (BT-151)."),
    "BR-CO-09": ("Die Umsatzsteuer-Identifikationsnummern (BT-31, BT-48, BT-63) müssen mit dem Ländercode beginnen (z. B. DE).",
                 "The VAT identifiers (BT-31, BT-48, BT-63) must start with the country prefix (e.g. DE)."),
    "BR-S-02": ("Bei Positionen mit Umsatzsteuer zum Normalsatz muss die Umsatzsteuer-Identifikationsnummer (BT-31) oder "
                "Steuernummer (BT-32) des Verkäufers oder die seines Steuervertreters (BT-63) angegeben sein.",
                "With standard rated lines the seller VAT identifier (BT-31), the seller tax registration identifier "
                "(BT-32) or the tax representative VAT identifier (BT-63) must be given."),
    "BR-S-05": ("Bei einer Position mit Normalsatz muss der Umsatzsteuersatz des Artikels (BT-152) größer als null sein.",
                "In a standard rated invoice line the item VAT rate (BT-152) must be greater than zero."),
    "UBL-SR-48": ("Jede Rechnungsposition muss genau eine Umsatzsteuerkategorie des Artikels (BT-151) haben.",
                  "Each invoice line must have exactly one item VAT category (BT-151)."),
    "UBL-SR-53": ("Zum Steuerschema des Verkäufers fehlt die Umsatzsteuer-Identifikationsnummer bzw. Steuernummer (BT-31/BT-32).",
                  "The seller's tax scheme is given without the VAT identifier or tax registration identifier (BT-31/BT-32)."),
    "CII-SR-461": ("Das Abrechnungsdatum der Umsatzsteuer (BT-7) darf nur einmal angegeben sein.",
                   "The value added tax point date (BT-7) may be given only once."),
    "CII-SR-465": ("Die Kontaktstelle des Verkäufers (BT-41) soll entweder als Person oder als Abteilung angegeben sein, nicht beides.",
                   "The seller contact point (BT-41) should be given as a person or as a department, not both."),
    "CII-SR-466": ("Die Kontaktstelle des Käufers (BT-56) soll entweder als Person oder als Abteilung angegeben sein, nicht beides.",
                   "The buyer contact point (BT-56) should be given as a person or as a department, not both."),
    "BR-DEX-03": ("Eine Unterposition muss genau eine Gruppe mit Umsatzsteuerinformationen enthalten (XRechnung-Erweiterung).",
                  "A sub invoice line must contain exactly one VAT information group (XRechnung extension)."),
    "BR-DEX-09": ("Rechenfehler: der fällige Zahlungsbetrag (BT-115) muss der Gesamtbetrag einschließlich Umsatzsteuer "
                  "(BT-112) abzüglich Vorauszahlung (BT-113) zuzüglich Rundungsbetrag (BT-114) und Zahlungen Dritter sein.",
                  "Arithmetic error: the amount due (BT-115) must be the total with VAT (BT-112) minus the paid amount "
                  "(BT-113) plus the rounding amount (BT-114) and third party payments."),
    "BR-DEX-15": ("Die CII-Datei verwendet Unterpositionen, die die XRechnung in CII nicht unterstützt.",
                  "The CII file uses sub invoice lines, which XRechnung does not support in CII."),
    "BR-TMP-2": ("Der Speicherort eines externen Dokuments (BT-124) muss eine absolute Internetadresse mit gültigem Schema sein.",
                 "The external document location (BT-124) must be an absolute URL with a valid scheme."),
    "BR-DE-TMP-32": ("Die Rechnung soll das Liefer- bzw. Leistungsdatum (BT-72), einen Rechnungszeitraum (BG-14) oder in jeder "
                     "Position einen Abrechnungszeitraum (BG-26) angeben.",
                     "The invoice should give the actual delivery date (BT-72), an invoicing period (BG-14) or a line period "
                     "(BG-26) in every line."),
    # XRechnung CVD (Clean Vehicles Directive: Beschaffung sauberer Straßenfahrzeuge)
    "BR-DE-CVD-01": ("In einer Rechnung über saubere Straßenfahrzeuge (CVD) fehlt die Vertragsnummer (BT-12).",
                     "A clean vehicles (CVD) invoice lacks the contract reference (BT-12)."),
    "BR-DE-CVD-02": ("In einer Rechnung über saubere Straßenfahrzeuge (CVD) fehlt die Vergabe- oder Losnummer (BT-17).",
                     "A clean vehicles (CVD) invoice lacks the tender or lot reference (BT-17)."),
    "BR-DE-CVD-03": ("Eine Rechnung über saubere Straßenfahrzeuge (CVD) braucht eine Position mit einer Artikelklassifizierung "
                     "nach Schema „CVD“ (BT-158) und dem Artikelattribut „cva“ (BT-160).",
                     "A clean vehicles (CVD) invoice needs a line with an item classification of scheme 'CVD' (BT-158) and "
                     "the item attribute 'cva' (BT-160)."),
    "BR-DE-CVD-04": ("Eine Artikelklassifizierung nach Schema „CVD“ (BT-158) muss eine der Fahrzeugklassen M1, M2, M3, N1, N2, N3 sein.",
                     "An item classification of scheme 'CVD' (BT-158) must be one of the vehicle categories M1, M2, M3, N1, N2, N3."),
    "BR-DE-CVD-05": ("Der Wert des Artikelattributs „cva“ (BT-161) muss „clean“, „zero-emission“ oder „other“ sein.",
                     "The value of the item attribute 'cva' (BT-161) must be 'clean', 'zero-emission' or 'other'."),
    "BR-DE-CVD-06-a": ("Eine Position mit Artikelklassifizierung nach Schema „CVD“ (BT-158) muss genau ein Artikelattribut „cva“ (BT-160) haben.",
                       "A line with an item classification of scheme 'CVD' (BT-158) must have exactly one item attribute 'cva' (BT-160)."),
    "BR-DE-CVD-06-b": ("Eine Position mit dem Artikelattribut „cva“ (BT-160) muss genau eine Artikelklassifizierung nach Schema „CVD“ (BT-158) haben.",
                       "A line with the item attribute 'cva' (BT-160) must have exactly one item classification of scheme 'CVD' (BT-158)."),
    "BR-TMP-CVD-01": ("Das Schema der Artikelklassifizierung (BT-158) muss aus der Codeliste UNTDID 7143 stammen oder „CVD“ sein.",
                      "The scheme of the item classification (BT-158) must come from the code list UNTDID 7143 or be 'CVD'."),
    # Peppol rules KoSIT merged into XRechnung
    "PEPPOL-EN16931-R008": ("Die Datei enthält leere Elemente; jedes Element muss einen Wert haben.",
                            "The file contains empty elements; every element must have a value."),
    "PEPPOL-EN16931-R001": ("Der Geschäftsprozesstyp (BT-23) fehlt.", "The business process type (BT-23) is missing."),
    "PEPPOL-EN16931-R005": ("Die Umsatzsteuer-Buchungswährung (BT-6) darf nicht die Rechnungswährung (BT-5) sein.",
                            "The VAT accounting currency (BT-6) must differ from the invoice currency (BT-5)."),
    "PEPPOL-EN16931-R010": ("Die elektronische Adresse des Käufers (BT-49) fehlt.", "The buyer electronic address (BT-49) is missing."),
    "PEPPOL-EN16931-R020": ("Die elektronische Adresse des Verkäufers (BT-34) fehlt.", "The seller electronic address (BT-34) is missing."),
    "PEPPOL-EN16931-R041": ("Zu einem Prozentsatz eines Nachlasses oder Zuschlags fehlt der Grundbetrag.",
                            "An allowance or charge percentage is given without its base amount."),
    "PEPPOL-EN16931-R042": ("Zu einem Grundbetrag eines Nachlasses oder Zuschlags fehlt der Prozentsatz.",
                            "An allowance or charge base amount is given without its percentage."),
    "PEPPOL-EN16931-R043": ("Die Kennzeichnung als Nachlass oder Zuschlag muss „true“ oder „false“ sein.",
                            "The allowance/charge indicator must be 'true' or 'false'."),
    "PEPPOL-EN16931-R044": ("Zuschläge auf den Artikelpreis sind nicht erlaubt, nur Rabatte.",
                            "Charges on the item price are not allowed, only discounts."),
    "PEPPOL-EN16931-R046": ("Der Nettopreis (BT-146) muss der Bruttopreis (BT-148) abzüglich des Rabatts (BT-147) sein.",
                            "The item net price (BT-146) must be the gross price (BT-148) minus the price discount (BT-147)."),
    "PEPPOL-EN16931-R053": ("Es darf höchstens einen Gesamtbetrag der Umsatzsteuer in Rechnungswährung geben.",
                            "Only one total VAT amount in the invoice currency may be given."),
    "PEPPOL-EN16931-R054": ("Ein Gesamtbetrag der Umsatzsteuer in Buchungswährung (BT-111) muss genau dann einmal angegeben "
                            "sein, wenn eine Buchungswährung (BT-6) angegeben ist.",
                            "A total VAT amount in accounting currency (BT-111) must be given exactly once when an "
                            "accounting currency (BT-6) is given, and not otherwise."),
    "PEPPOL-EN16931-R055": ("Der Gesamtbetrag der Umsatzsteuer (BT-110) und der Gesamtbetrag der Umsatzsteuer in Buchungswährung "
                            "(BT-111) müssen dasselbe Vorzeichen haben.",
                            "The total VAT amount (BT-110) and the total VAT amount in accounting currency (BT-111) must have "
                            "the same sign."),
    "PEPPOL-EN16931-R061": ("Bei Lastschrift fehlt die Mandatsreferenz (BT-89).", "With direct debit the mandate reference (BT-89) is missing."),
    "PEPPOL-EN16931-R101": ("Eine Objektkennung auf Positionsebene (BT-128) muss den Dokumenttyp 130 haben.",
                            "An invoice line object identifier (BT-128) must have the document type 130."),
    "PEPPOL-EN16931-R110": ("Der Abrechnungszeitraum einer Position muss innerhalb des Rechnungszeitraums liegen (Anfang).",
                            "An invoice line period must lie within the invoicing period (start)."),
    "PEPPOL-EN16931-R111": ("Der Abrechnungszeitraum einer Position muss innerhalb des Rechnungszeitraums liegen (Ende).",
                            "An invoice line period must lie within the invoicing period (end)."),
    "PEPPOL-EN16931-R121": ("Die Basismenge zum Artikelpreis (BT-149) muss größer als null sein.",
                            "The item price base quantity (BT-149) must be greater than zero."),
    "PEPPOL-EN16931-R130": ("Die Maßeinheit der Basismenge (BT-150) muss die der Menge (BT-130) sein.",
                            "The base quantity unit (BT-150) must be the invoiced quantity unit (BT-130)."),
    "PEPPOL-EN16931-R040": ("Der Betrag eines Nachlasses oder Zuschlags muss Grundbetrag mal Prozentsatz / 100 sein.",
                            "An allowance or charge amount must be base amount times percentage / 100."),
    "PEPPOL-EN16931-R120": ("Rechenfehler in einer Rechnungsposition: der Nettobetrag (BT-131) muss Menge mal Preis "
                            "zuzüglich Zuschläge abzüglich Nachlässe sein.",
                            "Arithmetic error in an invoice line: the net amount (BT-131) must be quantity times price "
                            "plus charges minus allowances."),
    # our own: format
    "XML-SYNTAX": ("Die Datei ist kein wohlgeformtes XML und damit keine E-Rechnung.",
                   "The file is not well-formed XML and therefore no e-invoice."),
    "XML-ENCODING": ("Die Zeichenkodierung der XML-Datei ist fehlerhaft oder nicht zulässig.",
                     "The character encoding of the XML file is wrong or not allowed."),
    "XML-DOCTYPE": ("Die XML-Datei enthält eine DOCTYPE-Deklaration; solche Dateien werden aus Sicherheitsgründen zurückgewiesen.",
                    "The XML file contains a DOCTYPE declaration; such files are rejected for security reasons."),
    "XML-EMPTY": ("Die Datei ist leer; sie enthält kein XML-Dokument.", "The file is empty; it contains no XML document."),
    "XML-LIMITS": ("Die XML-Datei überschreitet die Grenzen des Prüfprogramms (Verschachtelung oder Größe).",
                   "The XML file exceeds the limits of the validator (nesting or size)."),
    "XML-SIZE": ("Die XML-Daten sind größer als die zulässige Höchstgröße und wurden nicht geprüft.",
                 "The XML data are larger than the allowed maximum and were not checked."),
    "INTAKE-EMPTY": ("Die Datei ist leer (0 Bytes).", "The file is empty (0 bytes)."),
    "INTAKE-SIZE": ("Die Datei ist größer als die zulässige Höchstgröße und wurde nicht geprüft.",
                    "The file is larger than the allowed maximum and was not checked."),
    "INTAKE-FORMAT": ("Die Datei ist weder eine XML-Rechnung (XRechnung, UBL, CII) noch ein PDF mit eingebetteten "
                      "Rechnungsdaten (ZUGFeRD/Factur-X) und damit keine E-Rechnung.",
                      "The file is neither an XML invoice (XRechnung, UBL, CII) nor a PDF with embedded invoice data "
                      "(ZUGFeRD/Factur-X), so it is no e-invoice."),
    "INTAKE-UNSUPPORTED": ("Das Format der Datei ist kein zugelassenes E-Rechnungsformat (UBL oder CII).",
                           "The file's format is no accepted e-invoice format (UBL or CII)."),
    "PDF-NO-XML": ("Reines PDF ohne strukturierte Rechnungsdaten: das ist keine E-Rechnung.",
                   "A plain PDF without structured invoice data: this is no e-invoice."),
    "PDF-READ": ("Das PDF ist beschädigt oder kein PDF und kann nicht gelesen werden.",
                 "The PDF is damaged or no PDF and cannot be read."),
    "PDF-ATTACHMENTS": ("Die Liste der im PDF eingebetteten Dateien konnte nicht vollständig gelesen werden.",
                        "The list of files embedded in the PDF could not be read completely."),
    "ZUGFERD1-LEGACY": ("ZUGFeRD 1.0 ist ein veraltetes Format und keine E-Rechnung nach EN 16931.",
                        "ZUGFeRD 1.0 is a legacy format and no e-invoice under EN 16931."),
    "SBDH-HEADER": ("Der Peppol-Umschlag (SBDH) ist fehlerhaft; die Sendung muss wiederholt werden.",
                    "The Peppol envelope (SBDH) is faulty; the delivery must be repeated."),
    "SBDH-NO-PAYLOAD": ("Der Peppol-Umschlag (SBDH) enthält keine Rechnung.", "The Peppol envelope (SBDH) contains no invoice."),
    "SBDH-MULTIPLE-PAYLOADS": ("Der Peppol-Umschlag (SBDH) enthält mehrere Dokumente statt einer Rechnung.",
                               "The Peppol envelope (SBDH) contains several documents instead of one invoice."),
    "SBDH-TYPE": ("Der im Peppol-Umschlag angegebene Dokumenttyp passt nicht zum Inhalt.",
                  "The document type named in the Peppol envelope does not match its content."),
    "SBDH-ENVELOPE": ("Die Rechnung kam in einem Peppol-Umschlag (SBDH); geprüft wurde die enthaltene Rechnung.",
                      "The invoice came in a Peppol envelope (SBDH); the invoice inside was checked."),
    "KOSIT-SCENARIO": ("Die Spezifikationskennung (BT-24) passt zu keinem Prüfszenario; die Datei wird als "
                       "E-Rechnung zurückgewiesen.",
                       "The specification identifier (BT-24) matches no validation scenario; the file is rejected."),
    "KOSIT-NO-SCENARIO": ("Für diese Datei gibt es kein Prüfszenario im Regelpaket (Spezifikationskennung BT-24).",
                          "The rule pack has no scenario for this file (specification identifier BT-24)."),
    "KOSIT-SCENARIO-AMBIGUOUS": ("Mehrere Prüfszenarien passen auf die Spezifikationskennung (BT-24); die Datei wird zurückgewiesen.",
                                 "Several scenarios match the specification identifier (BT-24); the file is rejected."),
    "DE-USTG-14": ("Profil MINIMUM oder BASIC WL: das Dokument enthält zu wenige Angaben und ist keine Rechnung im "
                   "Sinne des § 14 UStG; bitte eine Rechnung im Profil EN 16931, EXTENDED oder XRECHNUNG anfordern.",
                   "Profile MINIMUM or BASIC WL: the document carries too little data and is no invoice under § 14 UStG; "
                   "ask for an invoice in profile EN 16931, EXTENDED or XRECHNUNG."),
    "FX-XMP-LEVEL": ("In den PDF-Metadaten (XMP) fehlt das Profil (fx:ConformanceLevel) der ZUGFeRD/Factur-X-Rechnung.",
                     "The PDF metadata (XMP) do not state the ZUGFeRD/Factur-X profile (fx:ConformanceLevel)."),
    "FX-PROFILE-MISMATCH": ("Das Profil in den PDF-Metadaten (XMP) passt nicht zum Profil der eingebetteten XML-Daten; "
                            "maßgeblich sind die XML-Daten.",
                            "The profile in the PDF metadata (XMP) does not match the embedded XML; the XML counts."),
    # our own: content
    "DE-PLAUS-DATE": ("Ein Datum fehlt oder liegt außerhalb des plausiblen Bereichs 1900–2100.",
                      "A date is missing or outside the plausible range 1900–2100."),
    "DE-PLAUS-AMOUNT": ("Ein Betrag ist keine endliche Zahl unter 10^12 und kann nicht gebucht werden.",
                        "An amount is no finite number below 10^12 and cannot be booked."),
    "DE-PLAUS-SKONTO": ("Die Skonto-Angabe (BT-20) ist nicht plausibel: erlaubt sind 0–3650 Tage und 0–100 Prozent.",
                        "The cash discount term (BT-20) is implausible: 0–3650 days and 0–100 percent are allowed."),
    "DE-MODEL-INCOMPLETE": ("Rechnungsnummer (BT-1) oder fälliger Zahlungsbetrag (BT-115) ließen sich nicht lesen; "
                            "ohne sie kann die Rechnung nicht freigegeben werden.",
                            "The invoice number (BT-1) or the amount due (BT-115) could not be read; without them the "
                            "invoice cannot be approved."),
    "SKONTO-RANGE": ("Die Skonto-Angabe (BT-20) kann nicht genutzt werden (Frist oder Prozentsatz außerhalb des Üblichen).",
                     "The cash discount term (BT-20) cannot be used (period or percentage out of range)."),
    "DE-LEITWEG-ID": ("Die Käuferreferenz (BT-10) ist keine gültige Leitweg-ID; eine öffentliche Stelle erhält die "
                      "Rechnung so möglicherweise nicht.",
                      "The buyer reference (BT-10) is no valid Leitweg-ID; a public body may not receive the invoice."),
    # check not possible
    "ENGINE-ERROR": ("Interner Fehler im Prüfprogramm; die Rechnung wurde NICHT geprüft. Bitte die Datei dem Betrieb melden.",
                     "Internal error in the validator; the invoice was NOT checked. Please report the file to the operators."),
    "VALIDATION-TIMEOUT": ("Die Prüfung hat das Zeitlimit überschritten; die Rechnung wurde nicht geprüft.",
                           "The check took longer than allowed; the invoice was not checked."),
    "XSD-ERROR": ("Das XML-Schema konnte nicht angewendet werden; die Rechnung wurde nicht vollständig geprüft.",
                  "The XML schema could not be applied; the invoice was not fully checked."),
    "EN16931-ERROR": ("Die Geschäftsregeln der EN 16931 konnten nicht ausgeführt werden.", "The EN 16931 business rules could not run."),
    "XRECHNUNG-ERROR": ("Die Regeln der XRechnung konnten nicht ausgeführt werden.", "The XRechnung rules could not run."),
    "MODEL": ("Die Rechnungsdaten konnten nicht gelesen werden; die Rechnung wurde nicht angenommen.",
              "The invoice data could not be read; the invoice was not accepted."),
    "RULEPACK-ERROR": ("Das Regelpaket konnte nicht ausgeführt werden; die Rechnung wurde nicht geprüft.",
                       "The rule pack could not run; the invoice was not checked."),
    "RULEPACK-INTEGRITY": ("Das installierte Regelpaket hat seine Integritätsprüfung nicht bestanden; die Rechnung wurde nicht geprüft.",
                           "The installed rule pack failed its integrity check; the invoice was not checked."),
    "EINVOICE-INTERNAL": ("Interner Fehler beim Eingang; die Datei wurde nicht geprüft.",
                          "Internal error at intake; the file was not checked."),
}

#: rule families, first match wins: (regular expression on the rule ID, (German, English))
FAMILIES: tuple[tuple[re.Pattern, tuple[str, str]], ...] = tuple((re.compile(p), t) for p, t in (
    (r"^BR-CO-", ("Die Angaben passen rechnerisch oder inhaltlich nicht zueinander (Rechen- bzw. Abhängigkeitsregel der EN 16931).",
                  "The values do not add up or do not fit together (calculation or dependency rule of EN 16931).")),
    (r"^BR-CL-(\d+)$", ("Ein Code steht nicht in der vorgeschriebenen Codeliste{codelist}.",
                        "A code is not in the prescribed code list{codelist}.")),
    (r"^BR-DEX-", ("Eine Vorgabe der XRechnung-Erweiterung (Extension) ist nicht erfüllt.",
                   "A requirement of the XRechnung extension is not met.")),
    (r"^BR-DE-", ("Eine Vorgabe der XRechnung (deutsche Nutzungsspezifikation, CIUS) ist nicht erfüllt.",
                  "A requirement of XRechnung (the German CIUS) is not met.")),
    (r"^BR-TMP-", ("Eine Übergangsregel der XRechnung ist nicht erfüllt.", "A transitional XRechnung rule is not met.")),
    (r"^BR-(S|Z|E|AE|K|G|O|IC|IG|IP|B)-08$", (
        "Rechenfehler in der Umsatzsteueraufschlüsselung der Kategorie {category}: der Steuerbasisbetrag (BT-116) muss "
        "die Summe der Nettobeträge der Positionen (BT-131) zuzüglich Zuschläge (BT-99) abzüglich Nachlässe (BT-92) "
        "dieser Kategorie sein.",
        "Arithmetic error in the VAT breakdown of the category {category}: the taxable amount (BT-116) must be the sum "
        "of the line net amounts (BT-131) plus charges (BT-99) minus allowances (BT-92) of that category.")),
    (r"^BR-(S|Z|E|AE|K|G|O|IC|IG|IP|B)-09$", (
        "Rechenfehler in der Umsatzsteueraufschlüsselung der Kategorie {category}: der Steuerbetrag (BT-117) muss "
        "Steuerbasisbetrag (BT-116) mal Steuersatz (BT-119) sein.",
        "Arithmetic error in the VAT breakdown of the category {category}: the tax amount (BT-117) must be the taxable "
        "amount (BT-116) times the rate (BT-119).")),
    (r"^BR-(S|Z|E|AE|K|G|O|IC|IG|IP|B)-", ("Eine Regel zur Umsatzsteuerkategorie {category} ist nicht erfüllt.",
                                           "A rule for the VAT category {category} is not met.")),
    (r"^BR-\d", ("Eine Grundregel der EN 16931 ist nicht erfüllt (Pflichtangabe oder zulässiger Wert).",
                 "A core rule of EN 16931 is not met (mandatory data or allowed value).")),
    (r"^CII-SR-", ("Die CII-Datei enthält ein Element, das die EN 16931 in der CII-Syntax nicht vorsieht oder nur "
                   "einmal erlaubt (Syntaxeinschränkung).",
                   "The CII file contains an element EN 16931 does not provide for in CII, or allows only once "
                   "(syntax restriction).")),
    (r"^CII-DT-", ("Ein Datentyp in der CII-Datei verwendet ein Attribut oder Element, das die EN 16931 nicht zulässt.",
                   "A data type in the CII file uses an attribute or element EN 16931 does not allow.")),
    (r"^UBL-CR-", ("Die UBL-Datei enthält ein Element, das die EN 16931 in der UBL-Syntax nicht vorsieht (Syntaxeinschränkung).",
                   "The UBL file contains an element EN 16931 does not provide for in UBL (syntax restriction).")),
    (r"^UBL-SR-", ("Ein Element der UBL-Datei kommt öfter vor als erlaubt (Syntaxregel).",
                   "An element of the UBL file occurs more often than allowed (syntax rule).")),
    (r"^UBL-DT-", ("Ein Datentyp in der UBL-Datei verwendet ein Attribut, das die EN 16931 nicht zulässt.",
                   "A data type in the UBL file uses an attribute EN 16931 does not allow.")),
    (r"^PEPPOL-COMMON-", ("Eine Kennung hat nicht das Format, das ihr Schema verlangt (Peppol-Regel).",
                          "An identifier does not have the format its scheme requires (Peppol rule).")),
    (r"^PEPPOL-", ("Eine Regel der Peppol BIS Billing 3.0, die die XRechnung übernommen hat, ist nicht erfüllt.",
                   "A Peppol BIS Billing 3.0 rule that XRechnung adopted is not met.")),
    (r"^FX-SCH-", ("Eine Regel des ZUGFeRD/Factur-X-Profils ist nicht erfüllt.", "A rule of the ZUGFeRD/Factur-X profile is not met.")),
    (r"^(SBDH|INTAKE|XML|PDF)-", ("Die Datei kann nicht als E-Rechnung gelesen werden.", "The file cannot be read as an e-invoice.")),
))
_FALLBACK = ("Die Prüfung hat einen Mangel gemeldet; Einzelheiten stehen im Originaltext.",
             "The check reported a defect; the original text has the details.")

VAT_CATEGORIES: dict[str, tuple[str, str]] = {
    "S": ("„Normalsatz“ (S)", "'standard rate' (S)"), "Z": ("„Nullsatz“ (Z)", "'zero rated' (Z)"),
    "E": ("„steuerbefreit“ (E)", "'exempt' (E)"),
    "AE": ("„Steuerschuldnerschaft des Leistungsempfängers“ (AE)", "'reverse charge' (AE)"),
    "K": ("„innergemeinschaftliche Lieferung“ (K)", "'intra-community supply' (K)"),
    "G": ("„Ausfuhr“ (G)", "'export outside the EU' (G)"), "O": ("„nicht steuerbar“ (O)", "'not subject to VAT' (O)"),
    "IC": ("„IGIC Kanaren“ (L)", "'IGIC Canary Islands' (L)"), "IG": ("„IGIC Kanaren“ (L)", "'IGIC Canary Islands' (L)"),
    "IP": ("„IPSI Ceuta/Melilla“ (M)", "'IPSI Ceuta/Melilla' (M)"), "B": ("„Split Payment“ (B)", "'split payment' (B)"),
}
_TERMS_NAMED = ("Betroffene Angaben: {terms}.", "Fields concerned: {terms}.")


#: the code list behind each BR-CL rule of EN 16931 (number -> (German, English))
CODE_LISTS: dict[int, tuple[str, str]] = {
    1: ("Rechnungstyp, UNTDID 1001", "invoice type, UNTDID 1001"), 3: ("Währung, ISO 4217", "currency, ISO 4217"),
    4: ("Währung, ISO 4217", "currency, ISO 4217"), 5: ("Währung, ISO 4217", "currency, ISO 4217"),
    6: ("Datumscode, UNTDID 2005", "date code, UNTDID 2005"), 7: ("Objektkennung, UNTDID 1153", "object identifier, UNTDID 1153"),
    8: ("Betreff der Bemerkung, UNTDID 4451", "note subject, UNTDID 4451"), 10: ("Kennungsschema, ISO 6523", "identifier scheme, ISO 6523"),
    11: ("Registerschema, ISO 6523", "registration scheme, ISO 6523"),
    13: ("Artikelklassifizierung, UNTDID 7143", "item classification, UNTDID 7143"),
    14: ("Ländercode, ISO 3166-1", "country code, ISO 3166-1"), 15: ("Ländercode, ISO 3166-1", "country code, ISO 3166-1"),
    16: ("Zahlungsart, UNTDID 4461", "payment means, UNTDID 4461"),
    17: ("Umsatzsteuerkategorie, UNTDID 5305", "VAT category, UNTDID 5305"),
    18: ("Umsatzsteuerkategorie, UNTDID 5305", "VAT category, UNTDID 5305"),
    19: ("Grund des Nachlasses, UNTDID 5189", "allowance reason, UNTDID 5189"),
    20: ("Grund des Zuschlags, UNTDID 7161", "charge reason, UNTDID 7161"),
    21: ("Artikelkennung, ISO 6523", "item identifier scheme, ISO 6523"),
    22: ("Grund der Steuerbefreiung, VATEX", "VAT exemption reason, VATEX"),
    23: ("Maßeinheit, UN/ECE Recommendation 20/21", "unit of measure, UN/ECE Recommendation 20/21"),
    24: ("Dateityp (MIME) des Anhangs", "attachment MIME type"), 25: ("Schema der elektronischen Adresse, EAS", "electronic address scheme, EAS"),
    26: ("Schema der Lieferortkennung, ISO 6523", "deliver-to location scheme, ISO 6523"),
}


def _family(rule: str) -> tuple[str, str]:
    for pattern, texts in FAMILIES:
        m = pattern.match(rule)
        if m:
            if "{category}" in texts[0]:
                cat = VAT_CATEGORIES.get(m.group(1), (m.group(1), m.group(1)))
                return texts[0].format(category=cat[0]), texts[1].format(category=cat[1])
            if "{codelist}" in texts[0]:
                known = CODE_LISTS.get(int(m.group(1)))
                return (texts[0].format(codelist=f" ({known[0]})" if known else ""),
                        texts[1].format(codelist=f" ({known[1]})" if known else ""))
            return texts
    return _FALLBACK


#: details the official text carries that the clerk needs (the code or value found): pattern ->
#: (German, English) with the pattern's groups
_DETAILS: tuple[tuple[re.Pattern, tuple[str, str]], ...] = tuple((re.compile(p), t) for p, t in (
    (r"Code '([^']*)' is not allowed", ("Gefundener Code: „{0}“.", "Code found: '{0}'.")),
    (r"Value of '([^']*)' is not allowed", ("Der Wert von „{0}“ ist hier nicht zulässig.", "The value of '{0}' is not allowed here.")),
    (r"(?:Attribute|Element) '?(@?[\w:]+)'? marked as not used", ("„{0}“ ist in diesem Profil nicht vorgesehen und darf nicht vorkommen.",
                                                                  "'{0}' is not used in this profile and must not occur.")),
))
#: function words that tell a German official text (our own rules, some Peppol rules) from an English one
_DE_HINTS = frozenset("der die das den dem des muss müssen darf dürfen nicht und ein eine einen ist sind wird zu".split())
_EN_HINTS = frozenset("the must shall should not and a an is are be of to with".split())


def _detail(message: str, lang: str) -> str:
    for pattern, texts in _DETAILS:
        m = pattern.search(message)
        if m:
            return pick(texts, lang).format(*m.groups())
    return ""


def _is_german(text: str) -> bool:
    words = re.findall(r"[a-zäöüß]+", text.lower())
    return sum(w in _DE_HINTS for w in words) > max(1, sum(w in _EN_HINTS for w in words))


# XSD messages (libxml2, English): the element names and the kind of problem, said in German
_XSD_PATTERNS: tuple[tuple[re.Pattern, tuple[str, str]], ...] = tuple((re.compile(p), t) for p, t in (
    (r"Element '([^']+)': This element is not expected\. Expected is(?: one of)? \( ([^)]+) \)",
     ("Das Element „{0}“ steht an einer Stelle, an der es nicht erlaubt ist; erwartet: {1}.",
      "The element '{0}' is not allowed here; expected: {1}.")),
    (r"Element '([^']+)': This element is not expected\.",
     ("Das Element „{0}“ ist an dieser Stelle nicht erlaubt.", "The element '{0}' is not allowed here.")),
    (r"Element '([^']+)': Missing child element\(s\)\. Expected is(?: one of)? \( ([^)]+) \)",
     ("Im Element „{0}“ fehlt ein Pflichtelement: {1}.", "The element '{0}' lacks a mandatory child: {1}.")),
    (r"Element '([^']+)'(?:, attribute '([^']+)')?: \[facet '([^']+)'\] The value '([^']*)'",
     ("Der Wert „{3}“ im Element „{0}“ hat nicht das vorgeschriebene Format.",
      "The value '{3}' in the element '{0}' does not have the prescribed format.")),
    (r"Element '([^']+)'(?:, attribute '([^']+)')?: '([^']*)' is not a valid value",
     ("Der Wert „{2}“ im Element „{0}“ ist für diesen Datentyp nicht zulässig.",
      "The value '{2}' in the element '{0}' is not valid for its data type.")),
    (r"Element '([^']+)': The attribute '([^']+)' is required but missing",
     ("Im Element „{0}“ fehlt das Pflichtattribut „{1}“.", "The element '{0}' lacks the mandatory attribute '{1}'.")),
    (r"Element '([^']+)', attribute '([^']+)': The attribute '[^']+' is not allowed",
     ("Das Attribut „{1}“ ist im Element „{0}“ nicht erlaubt.", "The attribute '{1}' is not allowed in the element '{0}'.")),
    (r"Element '([^']+)': No matching global declaration",
     ("Das Wurzelelement „{0}“ ist in diesem XML-Schema nicht vorgesehen.",
      "The root element '{0}' is not declared by this XML schema.")),
    (r"Element '([^']+)'",
     ("Das Element „{0}“ entspricht nicht dem XML-Schema.", "The element '{0}' does not match the XML schema.")),
))
_NS_NAME = re.compile(r"\{[^}]*\}")


def _xsd(message: str, lang: str) -> str:
    head = pick(("Die Datei verletzt das XML-Schema der Rechnungssyntax und ist damit keine gültige E-Rechnung.",
                 "The file violates the XML schema of the invoice syntax and is therefore no valid e-invoice."), lang)
    for pattern, texts in _XSD_PATTERNS:
        m = pattern.search(message)
        if m:
            groups = [_NS_NAME.sub("", g or "") for g in m.groups()]
            return f"{head} {pick(texts, lang).format(*groups)}"
    return head


def _term_list(codes: list[str], lang: str, limit: int = 5) -> str:
    shown = ", ".join(terms.label(c, lang) for c in codes[:limit])
    # "… u. a" without its period: the sentence around it ends with one
    return shown + (pick((" u. a", " and others"), lang) if len(codes) > limit else "")


def explanation(rule: str, message: str = "", location: str | None = None, stage: str | None = None,
                lang: str | None = None) -> str:
    """The explanation of a finding in the language (default: EINVOICE_LANGUAGE)."""
    lang = lang or language()
    if rule == "XSD":
        return _xsd(message or "", lang)
    own = RULE_TEXTS.get(rule) or RULE_TEXTS.get(re.sub(r"-\d$", "", rule) if rule.startswith("PEPPOL-") else "")
    if own is not None:
        text = pick(own, lang)
        # our German plausibility messages carry the value and the field: keep them for German readers
        if lang == "de" and bmf_class(rule, stage) == CONTENT and message and rule != "DE-LEITWEG-ID":
            text = _strip_id(rule, message)
            if location and f" ({location})" in text and _model_term(location):
                # "(issue_date)" is the model's field name; the clerk reads the business term
                text = text.replace(f" ({location})", f", {where(location, lang)},")
        named = [c for c in terms.codes_in(message) if c not in terms.codes_in(text)]
        if named and bmf_class(rule, stage) != CONTENT:
            text += " " + pick(_TERMS_NAMED, lang).format(terms=_term_list(named, lang))
        return text
    stripped = _strip_id(rule, message or "")
    if lang == "de" and _is_german(stripped):
        text = stripped  # the rule's own text is German already (our Peppol and XRechnung rules)
    else:
        text = pick(_family(rule), lang)
        detail = _detail(message or "", lang)
        if detail:
            text += " " + detail
    codes = [c for c in terms.codes_in(message) if c not in terms.codes_in(text)]
    if not codes and location:
        code = location_term(location)
        if code and code not in terms.codes_in(text):
            codes = [code]
    if codes:
        text += " " + pick(_TERMS_NAMED, lang).format(terms=_term_list(codes, lang))
    return text


def _strip_id(rule: str, message: str) -> str:
    text = message.strip()
    for prefix in (f"[{rule}]", rule):
        if text.startswith(prefix):
            text = text[len(prefix):].lstrip(" -:")
    return text


# ---------------------------------------------------------------- readable locations
_CII_TOP = frozenset({"ExchangedDocumentContext", "ExchangedDocument", "SupplyChainTradeTransaction"})
_RELATIVE = re.compile(r"^[A-Za-z]\w*:[A-Za-z][\w.-]*(/[A-Za-z]\w*:[A-Za-z][\w.-]*(\[\d+\])?)*$")
_STEP = re.compile(r"""(?:(?:\*|[\w.-]+):)?(\*|@?[\w.-]+)((?:\[[^\]]*\])*)""")
_INDEX = re.compile(r"\[(\d+)\]")
_XSD_LINE = re.compile(r"^line (\d+)\s*(.*)$")
_MODEL_PATH = re.compile(r"^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*$")
#: fields of the semantic model (einvoice.model) a content finding names -> business term
MODEL_FIELDS: dict[str, str] = {
    "invoice_number": "BT-1", "issue_date": "BT-2", "type_code": "BT-3", "currency": "BT-5", "tax_currency": "BT-6",
    "due_date": "BT-9", "buyer_reference": "BT-10", "payment_terms": "BT-20", "skonto": "BT-20",
    "preceding_invoices": "BG-3", "preceding_invoices.issue_date": "BT-26", "seller": "BG-4", "buyer": "BG-7",
    "payee": "BG-10", "tax_representative": "BG-11", "delivery": "BG-13", "delivery.date": "BT-72",
    "invoice_period": "BG-14", "invoice_period.start": "BT-73", "invoice_period.end": "BT-74",
    "payment_means": "BG-16", "allowances_charges": "BG-20/BG-21", "allowances_charges.amount": "BT-92/BT-99",
    "allowances_charges.base_amount": "BT-93/BT-100", "allowances_charges.percent": "BT-94/BT-101",
    "allowances_charges.vat_rate": "BT-96/BT-103", "totals": "BG-22", "totals.line_total": "BT-106",
    "totals.allowances": "BT-107", "totals.charges": "BT-108", "totals.tax_exclusive": "BT-109", "totals.tax": "BT-110",
    "totals.tax_accounting": "BT-111", "totals.tax_inclusive": "BT-112", "totals.prepaid": "BT-113",
    "totals.rounding": "BT-114", "totals.amount_due": "BT-115", "vat_breakdown": "BG-23",
    "vat_breakdown.taxable_amount": "BT-116", "vat_breakdown.tax_amount": "BT-117", "vat_breakdown.rate": "BT-119",
    "lines": "BG-25", "lines.quantity": "BT-129", "lines.net_amount": "BT-131", "lines.period": "BG-26",
    "lines.period.start": "BT-134", "lines.period.end": "BT-135", "lines.net_price": "BT-146",
    "lines.price_base_quantity": "BT-149", "lines.vat_rate": "BT-152",
}
_PLACES: dict[str, tuple[str, str]] = {
    "PDF XMP metadata": ("PDF-Metadaten (XMP)", "PDF metadata (XMP)"),
    "PDF XMP fx:ConformanceLevel": ("PDF-Metadaten (XMP), Profilangabe", "PDF metadata (XMP), profile"),
}


def parse_steps(location: str) -> list[tuple[str, int | None]] | None:
    """The steps of an absolute XPath (SVRL ``/*:Invoice[namespace-uri()='…'][1]/…`` or lxml's
    ``/ubl:Invoice/cac:InvoiceLine[3]/…``) as (local name or "*", position or None); None when the
    text is no such path."""
    if not location.startswith("/"):
        # a path relative to the root as our own rules write it ("rsm:SupplyChainTradeTransaction/…")
        if not _RELATIVE.match(location):
            return None
        top = location.split("/", 1)[0].split(":")[-1]
        location = ("/rsm:CrossIndustryInvoice/" if top in _CII_TOP else "/ubl:Invoice/") + location
    steps: list[tuple[str, int | None]] = []
    for part in _split(location):
        if not part:
            continue
        m = _STEP.fullmatch(part)
        if m is None:
            return None
        indexes = _INDEX.findall(m.group(2) or "")
        steps.append((m.group(1), int(indexes[-1]) if indexes else None))
    return steps


def _split(path: str) -> list[str]:
    """Split on "/" outside predicates (namespace URIs contain slashes)."""
    parts, depth, cur = [], 0, []
    for ch in path:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "/" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def location_term(location: str | None) -> str | None:
    """The business term at a location (the deepest element that has one), or None."""
    if not location:
        return None
    if location in terms.TERMS:
        return location
    steps = parse_steps(_XSD_LINE.sub(r"\2", location).strip() or location)
    if not steps:
        return _model_term(location)
    names = _names(steps)
    for end in range(len(names), 0, -1):
        code = terms.term_of(names[:end])
        if code:
            return code
    return None


def _model_term(location: str) -> str | None:
    if not _MODEL_PATH.match(location):
        return None
    key = re.sub(r"\[\d+\]", "", location)
    while key:
        if key in MODEL_FIELDS:
            return MODEL_FIELDS[key]
        key = key.rpartition(".")[0]
    return None


def where(location: str | None, lang: str | None = None) -> str | None:
    """A short readable location: "Rechnungsposition 3 › Nettobetrag der Rechnungsposition (BT-131)";
    a path without business terms is shown without namespace predicates ("Invoice/Foo[2]")."""
    if not location:
        return None
    lang = lang or language()
    if location in _PLACES:
        return pick(_PLACES[location], lang)
    if terms.name(location):
        return terms.label(location, lang)
    line = None
    m = _XSD_LINE.match(location)
    if m:
        line, location = int(m.group(1)), m.group(2).strip()
    prefix = pick(("Zeile {0} der Datei", "line {0} of the file"), lang).format(line) if line else ""
    steps = parse_steps(location) if location else None
    if steps is None:
        model = _model_where(location, lang) if location else None
        text = model or location
        return " › ".join(p for p in (prefix, text) if p) or None
    crumbs = _crumbs(steps, lang)
    return " › ".join(p for p in (prefix, crumbs) if p) or None


_CII_TRANSACTION = frozenset({"ApplicableHeaderTradeAgreement", "ApplicableHeaderTradeDelivery",
                              "ApplicableHeaderTradeSettlement", "IncludedSupplyChainTradeLineItem"})


def _names(steps: list[tuple[str, int | None]]) -> list[str]:
    """Local names from the root. lxml writes "*" for an element in a default namespace; the root
    and CII's transaction element are named after their children (the top levels are fixed)."""
    names = [n for n, _ in steps]
    if len(names) > 2 and names[1] == "*" and names[2] in _CII_TRANSACTION:
        names[1] = "SupplyChainTradeTransaction"
    if names and names[0] == "*":
        names[0] = "CrossIndustryInvoice" if len(names) > 1 and names[1] in _CII_TOP else "Invoice"
    return names


def _crumbs(steps: list[tuple[str, int | None]], lang: str) -> str:
    names = _names(steps)
    if not names:
        return ""
    if len(names) == 1 and names[0] in terms.ROOTS:
        return pick(("Rechnung (Dokumentebene)", "invoice (document level)"), lang)
    out: list[str] = []
    last_code, last_depth = None, -1
    for i in range(1, len(names) + 1):
        code = terms.term_of(names[:i])
        if not code:
            continue
        if code in terms.REPEATING:
            # lxml leaves out the position of an element that is the only one of its name
            out.append(f"{terms.name(code, lang) or code} {steps[i - 1][1] or 1}")
        last_code, last_depth = code, i
    if last_code is None:
        return _clean(steps)
    tail = names[last_depth:]
    final = terms.label(last_code, lang)
    if last_code in terms.REPEATING:
        # the deepest term is the repeating group itself: "Rechnungsposition 3 (BG-25)"
        final = f"{out.pop()} ({last_code})"
    if tail and tail != ["*"]:
        if len(tail) == 1 and tail[0].startswith("@"):
            element = pick(("Attribut „{0}“", "attribute '{0}'"), lang).format(tail[0][1:])
        else:
            element = pick(("Element „{0}“", "element '{0}'"), lang).format("/".join(tail))
        final = f"{final} › {element}"
    return " › ".join(out + [final])


def _clean(steps: list[tuple[str, int | None]]) -> str:
    # the root element is the document itself; the rest is shown without namespace predicates
    inner = steps[1:] if steps and steps[0][0] in terms.ROOTS | {"*"} else steps
    return "/".join(f"{n}[{i}]" if i and i > 1 else n for n, i in inner)


def _model_where(location: str, lang: str) -> str | None:
    code = _model_term(location)
    if code is None:
        return None
    m = re.match(r"^(lines|skonto|vat_breakdown|allowances_charges)\[(\d+)\]", location)
    group = {"lines": "BG-25", "vat_breakdown": "BG-23", "allowances_charges": "BG-20/BG-21"}.get(m.group(1)) if m else None
    if m and group and code != group:
        return f"{terms.name(group, lang)} {int(m.group(2)) + 1} › {terms.label(code, lang)}"
    if m and m.group(1) == "skonto":
        return pick(("Skonto-Angabe {0} in {1}", "cash discount term {0} in {1}"), lang).format(
            int(m.group(2)) + 1, terms.label("BT-20", lang))
    return terms.label(code, lang)


def original_text(rule: str, message: str) -> str:
    """The rule's own text without the "[RULE]-" prefix the rule files put in front."""
    return _strip_id(rule, message or "")


# ---------------------------------------------------------------- the verdict in one sentence
NOT_VALIDATED_REASONS: dict[str, tuple[str, str, str | None]] = {
    # English reason the engine records -> (German, English, BMF class of the verdict)
    "plain PDF without structured invoice data": ("reines PDF ohne strukturierte Rechnungsdaten",
                                                  "a plain PDF without structured invoice data", FORMAT),
    "unsupported format (not UBL or CII)": ("kein zugelassenes E-Rechnungsformat, weder UBL noch CII",
                                            "no accepted e-invoice format, neither UBL nor CII", FORMAT),
    "ZUGFeRD 1.0 (legacy format) is recognised but not validated": (
        "ZUGFeRD 1.0 ist ein veraltetes Format", "ZUGFeRD 1.0 is a legacy format", FORMAT),
    "no invoice found": ("in der Datei wurde keine Rechnung gefunden", "no invoice was found in the file", FORMAT),
    "internal error in the validator": ("interner Fehler im Prüfprogramm", "an internal error in the validator", None),
    "EN 16931 rules switched off in the configuration": (
        "die Regeln der EN 16931 sind in der Konfiguration abgeschaltet",
        "the EN 16931 rules are switched off in the configuration", None),
    "the invoice data could not be read into the model": (
        "die Rechnungsdaten konnten nicht gelesen werden", "the invoice data could not be read", None),
    "a step of the rule pack could not run": ("ein Schritt des Regelpakets konnte nicht laufen",
                                              "a step of the rule pack could not run", None),
    "the rule pack has several scenarios for this document": (
        "im Regelpaket passen mehrere Prüfszenarien auf dieses Dokument",
        "several scenarios of the rule pack match this document", None),
    "the rule pack gave no decision": ("das Regelpaket hat keine Entscheidung geliefert", "the rule pack gave no decision", None),
    "the installed rule pack failed its integrity check": (
        "das installierte Regelpaket hat seine Integritätsprüfung nicht bestanden",
        "the installed rule pack failed its integrity check", None),
    "validation time budget exceeded": ("die Prüfung hat das Zeitlimit überschritten", "the check took longer than allowed", None),
}


def _reason(reason: str | None, lang: str) -> tuple[str, str | None]:
    if not reason:
        return pick(("eine Prüfstufe konnte nicht laufen", "a validation stage could not run"), lang), None
    known = NOT_VALIDATED_REASONS.get(reason)
    if known is not None:
        return pick(known[:2], lang), known[2]
    if reason.startswith("stage ") and reason.endswith(" could not run"):
        stages = reason[len("stage "):-len(" could not run")].split(", ")
        names = ", ".join(stage_name(s, lang) for s in stages)
        return pick(("die Prüfstufe {0} konnte nicht laufen", "the stage {0} could not run"), lang).format(names), None
    rule = reason.split(" ", 1)[0]
    if re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)+", rule):  # "RULE message" from the intake
        return f"{rule}: {explanation(rule, reason, None, 'intake', lang)}", bmf_class(rule, "intake")
    return pick(("eine Prüfstufe konnte nicht laufen", "a validation stage could not run"), lang), None


def date_text(value, lang: str | None = None) -> str | None:
    """A date as the reader writes it: 01.12.2026 (German) or 2026-12-01 (English)."""
    return _date(value, lang or language())


def _date(value, lang: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    return value.strftime("%d.%m.%Y") if lang == "de" else value.isoformat()


def _subject(number: str | None, issue_date, filename: str | None, lang: str) -> str:
    day = _date(issue_date, lang)
    if number:
        text = pick(("Die Rechnung {0}", "Invoice {0}"), lang).format(number)
        return text + (pick((" vom {0}", " of {0}"), lang).format(day) if day else "")
    if filename:
        return pick(("Die Datei „{0}“", "The file '{0}'"), lang).format(filename.rsplit("/", 1)[-1])
    return pick(("Die Rechnung", "The invoice"), lang)


def verdict_class(valid: bool | None, findings, reason: str | None = None) -> str | None:
    """The BMF class of a verdict: the gravest class among the blocking findings (format before
    business rule before content); for "not validated" a format class when the file is no
    e-invoice at all; None for a valid invoice or when only a check could not run."""
    if valid is True:
        return None
    classes = {bmf_class(f.rule, f.stage) for f in findings if f.severity in ("fatal", "error")}
    for cls in (FORMAT, BUSINESS_RULE, CONTENT):
        if cls in classes and (valid is False or cls == FORMAT):
            return cls
    if valid is None:
        return _reason(reason, "en")[1]
    return None


def sentence(valid: bool | None, findings, *, number: str | None = None, issue_date=None, filename: str | None = None,
             reason: str | None = None, lang: str | None = None) -> str:
    """The verdict in one sentence a clerk can paste into a reply to the supplier."""
    lang = lang or language()
    subject = _subject(number, issue_date, filename, lang)
    if valid is True:
        notes = sorted({f.rule for f in findings if f.severity == "warning"})
        text = pick(("{0} ist eine gültige E-Rechnung.", "{0} is a valid e-invoice."), lang).format(subject)
        if notes:
            text += " " + pick(("Dazu {0} {1} ohne Einfluss auf die Annahme ({2}).",
                                "With {0} {1} that do not affect acceptance ({2})."), lang).format(
                len(notes), pick(("Warnung", "warning") if len(notes) == 1 else ("Warnungen", "warnings"), lang),
                _ids(notes, lang))
        return text
    blocking = [f for f in findings if f.severity in ("fatal", "error")]
    by_class: dict[str, list[str]] = {}
    for f in blocking:
        cls = bmf_class(f.rule, f.stage)
        if cls != NOT_CHECKED and f.rule not in by_class.setdefault(cls, []):
            by_class[cls].append(f.rule)
    if valid is None and not by_class.get(FORMAT):
        why, cls = _reason(reason, lang)
        if cls == FORMAT:
            return pick(("{0} ist keine E-Rechnung (Formatfehler: {1}).", "{0} is no e-invoice (format error: {1})."),
                        lang).format(subject, why)
        return pick(("{0} konnte nicht vollständig geprüft werden ({1}); sie wird von Hand bearbeitet.",
                     "{0} could not be fully checked ({1}); it is handled manually."), lang).format(subject, why)
    parts = []
    for cls in (FORMAT, BUSINESS_RULE, CONTENT):
        ids = by_class.get(cls)
        if ids:
            noun = pick(CLASS_NAMES[cls] if len(ids) == 1 else CLASS_PLURALS[cls], lang)
            parts.append(f"{len(ids)} {noun} ({_ids(ids, lang)})")
    if not parts:
        return pick(("{0} ist keine gültige E-Rechnung.", "{0} is not a valid e-invoice."), lang).format(subject)
    head = (pick(("{0} ist keine E-Rechnung", "{0} is no e-invoice"), lang) if FORMAT in by_class
            else pick(("{0} ist keine gültige E-Rechnung", "{0} is not a valid e-invoice"), lang)).format(subject)
    if valid is None and reason in NOT_VALIDATED_REASONS and NOT_VALIDATED_REASONS[reason][2] == FORMAT:
        head += f" ({pick(NOT_VALIDATED_REASONS[reason][:2], lang)})"  # plain PDF, other format: say which
    return f"{head}: {_join(parts, lang)}."


def _ids(ids: list[str], lang: str, limit: int = 6) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (pick((" u. a.", " and others"), lang) if len(ids) > limit else "")


def _join(parts: list[str], lang: str) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + pick((" und ", " and "), lang) + parts[-1]


# ---------------------------------------------------------------- views for pages and mails
@dataclass(frozen=True)
class FindingView:
    rule: str
    severity: str
    severity_name: str
    bmf_class: str
    class_name: str
    explanation: str
    where: str | None
    original: str
    location: str | None
    stage: str
    stage_name: str
    rule_severity: str | None = None
    rule_severity_name: str | None = None


def finding_view(f, lang: str | None = None) -> FindingView:
    """A finding (``Finding`` or a stored JSON dict) as the clerk reads it."""
    lang = lang or language()
    get = f.get if isinstance(f, dict) else (lambda k, d=None: getattr(f, k, d))
    rule, message, location, stage = get("rule") or "?", get("message") or "", get("location"), get("stage") or ""
    severity = get("severity") or "error"
    cls = bmf_class(rule, stage)
    return FindingView(rule=rule, severity=severity, severity_name=severity_name(severity, lang), bmf_class=cls,
                       class_name=class_name(cls, lang), explanation=explanation(rule, message, location, stage, lang),
                       where=where(location, lang), original=original_text(rule, message), location=location,
                       stage=stage, stage_name=stage_name(stage, lang), rule_severity=get("rule_severity"),
                       rule_severity_name=severity_name(get("rule_severity") or severity, lang))


@dataclass(frozen=True)
class _F:
    rule: str
    severity: str
    stage: str


@dataclass(frozen=True)
class ReportView:
    valid: bool | None
    sentence: str
    bmf_class: str | None
    class_name: str
    findings: list[FindingView]
    #: (stage name, state name, state key) in the order the stages ran
    stages: list[tuple[str, str, str]]


_ORDER = {"fatal": 0, "error": 1, "warning": 2, "info": 3}


def report_view(data: dict, *, number: str | None = None, issue_date=None, filename: str | None = None,
                lang: str | None = None) -> ReportView:
    """A stored JSON report (``Report.to_dict``, old or new) as the clerk reads it."""
    lang = lang or language()
    raw = data.get("findings") or []
    plain = [_F(f.get("rule") or "?", f.get("severity") or "error", f.get("stage") or "") for f in raw]
    valid = data.get("valid")
    reason = data.get("not_validated_reason")
    if reason is None and (data.get("summary") or "").startswith("not validated: "):
        reason = data["summary"][len("not validated: "):]
    cls = verdict_class(valid, plain, reason)
    text = sentence(valid, plain, number=number or data.get("invoice_number"),
                    issue_date=issue_date or data.get("issue_date"), filename=filename or data.get("path"),
                    reason=reason, lang=lang)
    views = sorted((finding_view(f, lang) for f in raw), key=lambda v: _ORDER.get(v.severity, 9))
    stages = [(stage_name(k, lang), state_name(v, lang), v) for k, v in (data.get("stages") or {}).items()]
    return ReportView(valid=valid, sentence=text, bmf_class=cls, class_name=class_name(cls, lang), findings=views,
                      stages=stages)


# ---------------------------------------------------------------- what the verdict rests on
#: the phrases of ``Report.rules_basis`` (einvoice.rulepacks.integration) -> (German, English)
BASIS_PHRASES: tuple[tuple[str, tuple[str, str]], ...] = (
    ("built-in rules, not the official KoSIT configuration",
     ("eingebaute Regeln, nicht die offizielle KoSIT-Konfiguration", "built-in rules, not the official KoSIT configuration")),
    (" (no rule-pack scenario applies to this document)",
     (" (kein Szenario des Regelpakets passt zu diesem Dokument)", " (no rule-pack scenario applies to this document)")),
    ("profile rules (built-in) and ", ("Profilregeln (eingebaut) und ", "profile rules (built-in) and ")),
    ("official KoSIT configuration: rule pack ", ("offizielle KoSIT-Konfiguration: Regelpaket ", "official KoSIT configuration: rule pack ")),
    (", scenario ", (", Szenario ", ", scenario ")),
    (", no scenario", (", kein Szenario", ", no scenario")),
    ("rule pack refused (integrity check failed)",
     ("Regelpaket abgelehnt (Integritätsprüfung fehlgeschlagen)", "rule pack refused (integrity check failed)")),
)


def basis(text: str | None, lang: str | None = None) -> str | None:
    """``Report.rules_basis`` in the reader's language (names of packs and scenarios verbatim)."""
    if not text:
        return text
    lang = lang or language()
    for phrase, texts in BASIS_PHRASES:
        text = text.replace(phrase, pick(texts, lang))
    return text
