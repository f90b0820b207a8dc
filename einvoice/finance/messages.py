"""Every text of the finance interface a person reads, German and English, defined once.

``MESSAGES`` maps a problem ID of ``einvoice.finance.errors`` (or ``ID/variant`` where one ID has
several situations; the problem's ``rule`` is always the ID before the slash) to its (German,
English) sentence; ``problem(KEY, **values)`` builds the ``FinanceProblem`` in the language set
(``EINVOICE_LANGUAGE``, German by default) and keeps the English sentence as ``message_en`` for
machine readers that were promised English (the pull API). A value given as a (German, English)
pair is picked per language. ``TRAIL`` words the audit-trail comments the finance outbox writes.

This module must never decide anything: it only words what the finance modules decided. Raise
sites name a constant (``errors.NAME`` or a variant below), never a string
(``tests/finance/test_problem_ids.py``).
"""
from __future__ import annotations

from einvoice.finance import errors
from einvoice.finance.errors import FinanceProblem
from einvoice.language import language, pick, worded

# Variants: one ID, several situations (the key is "ID/variant").
NOT_FOUND_INVOICE = f"{errors.NOT_FOUND}/invoice"
NOT_FOUND_RUN = f"{errors.NOT_FOUND}/run"
NOT_FOUND_KEY = f"{errors.NOT_FOUND}/key"
NOT_FOUND_OUTBOX = f"{errors.NOT_FOUND}/outbox"
STALE_RUN = f"{errors.STALE}/run"
STALE_CONFIRM = f"{errors.STALE}/confirm"
PAY_RUN_STATE_RELEASED = f"{errors.PAY_RUN_STATE}/released"
RECORD_INCOMPLETE_AMOUNT = f"{errors.RECORD_INCOMPLETE}/amount"
RECORD_INCOMPLETE_PAYEE = f"{errors.RECORD_INCOMPLETE}/payee"
RECORD_INCOMPLETE_SACHKONTO = f"{errors.RECORD_INCOMPLETE}/sachkonto"
RECORD_INCOMPLETE_ANORDNUNG = f"{errors.RECORD_INCOMPLETE}/anordnung"
SEPA_IBAN_MISSING = f"{errors.SEPA_IBAN}/missing"
SEPA_CURRENCY_CREDIT_NOTE = f"{errors.SEPA_CURRENCY}/credit_note"
SEPA_AMOUNT_CREDIT_NOTE = f"{errors.SEPA_AMOUNT}/credit_note"
SEPA_CREDIT_NOTE_WAITING_OPEN = f"{errors.SEPA_CREDIT_NOTE_WAITING}/open"
BOOKING_REQUIRED_PULL = f"{errors.BOOKING_REQUIRED}/pull"

MESSAGES: dict[str, tuple[str, str]] = {
    # -- the posting record
    errors.RECORD_INCOMPLETE: ("Der Buchungssatz ist unvollständig.", "The posting record is incomplete."),
    RECORD_INCOMPLETE_AMOUNT: ("Die Rechnung hat keinen Zahlbetrag (BT-115).", "the invoice has no amount due (BT-115)."),
    RECORD_INCOMPLETE_PAYEE: ("Die Rechnung nennt weder Verkäufer noch Zahlungsempfänger (BT-27/BT-59).",
                              "the invoice names no seller or payee (BT-27/BT-59)."),
    RECORD_INCOMPLETE_SACHKONTO: (
        "Kontierungszeile {line} hat kein Sachkonto: bitte default_account für das Amt {department} oder "
        "finance.default_account in der Organisationsdatei setzen, oder vor der Freigabe kontieren.",
        "account line {line} has no Sachkonto: set default_account for department {department} or "
        "finance.default_account in the organisation file, or assign accounts before the release."),
    RECORD_INCOMPLETE_ANORDNUNG: ("Für diese Rechnung ist keine gültige Anordnung festgehalten.",
                                  "no valid Anordnung is recorded for this invoice."),
    errors.RECORD_SOURCE: (
        "Das Original der Rechnung {invoice_id} konnte nicht aus dem Archiv gelesen werden ({error}); der Buchungssatz "
        "braucht es. Bitte später erneut versuchen.",
        "the original of invoice {invoice_id} could not be read from the archive ({error}); the posting record needs it. "
        "Try again later."),
    errors.RECORD_NOT_QUEUED: ("Die Freigabe hat für Rechnung {invoice_id} keinen Buchungssatz vorgemerkt.",
                               "the release hook queued no posting record for invoice {invoice_id}."),
    errors.RECORD_OUTCOME: (
        "Die Antwort konnte nicht gespeichert werden ({error}); der Buchungssatz wird erneut gesendet und als Dublette "
        "beantwortet.",
        "the answer could not be stored ({error}); the record will be sent again and answered as a duplicate."),
    # -- account assignment
    NOT_FOUND_INVOICE: ("Es gibt keine Rechnung {invoice_id}.", "there is no invoice {invoice_id}"),
    errors.ASSIGN_STATE: (
        "Rechnung {invoice_id} ist im Stand „{state}“; die Kontierung kann nur während der Freigabe (vor der "
        "Zahlungsfreigabe) geändert werden.",
        "invoice {invoice_id} is {state}; the account assignment can only be changed while the invoice is in approval "
        "(before the release)."),
    errors.ASSIGN_DEPARTMENT: ("Rechnung {invoice_id} hat kein bekanntes Amt; bitte zuerst zuordnen.",
                               "invoice {invoice_id} has no known department; route it first."),
    errors.ASSIGN_PERSON: ("„{person}“ ist keine Person von {org}.", "'{person}' is not a person of {org}."),
    errors.ASSIGN_ROLE: (
        "{name} darf im Amt {department} nicht kontieren (dafür braucht es dort sachlich, rechnerisch, anordnen oder "
        "die Amtsleitung).",
        "{name} may not assign accounts in department {department} (needs sachlich, rechnerisch, anordnen or head there)."),
    errors.ASSIGN_EMPTY: ("Bitte mindestens eine Zeile mit Betrag angeben.", "give at least one line with an amount."),
    errors.ASSIGN_AMOUNT: ("Zeile {line}: „{amount}“ ist kein Betrag.", "line {line}: '{amount}' is not an amount."),
    errors.ASSIGN_KOSTENSTELLE: (
        "Zeile {line}: Kostenstelle {kostenstelle} gehört nicht zum Amt {department} ({known}).",
        "line {line}: Kostenstelle {kostenstelle} does not belong to department {department} ({known})."),
    errors.ASSIGN_PRODUKT: (
        "Zeile {line}: Produkt {produkt} gehört nicht zum Amt {department} ({known}).",
        "line {line}: Produkt {produkt} does not belong to department {department} ({known})."),
    errors.ASSIGN_SACHKONTO: ("Zeile {line}: Sachkonto „{sachkonto}“ muss 4 bis 10 Ziffern haben.",
                              "line {line}: Sachkonto '{sachkonto}' must be 4 to 10 digits."),
    errors.ASSIGN_SUM: (
        "Die Zeilen ergeben {total}, die Rechnung verlangt aber {amount} {currency}; die Zeilen müssen den Zahlbetrag ergeben.",
        "the lines add up to {total}, but the invoice asks for {amount} {currency}; the lines must add up to the amount due."),
    # -- delivery
    errors.HTTP_TIMEOUT: (
        "Das Finanzverfahren hat nicht innerhalb von {seconds} s geantwortet; es wird erneut versucht "
        "(der Idempotenzschlüssel verhindert eine Doppelbuchung).",
        "the finance system did not answer within {seconds} s; will retry (the idempotency key prevents a double booking)."),
    errors.HTTP_CONNECT: ("Das Finanzverfahren war nicht erreichbar ({error}); es wird erneut versucht.",
                          "the finance system could not be reached ({error}); will retry."),
    errors.HTTP_5XX: ("Das Finanzverfahren antwortete mit HTTP {status}{answer}; es wird erneut versucht.",
                      "the finance system answered HTTP {status}{answer}; will retry."),
    errors.HTTP_REJECTED: ("Das Finanzverfahren hat den Buchungssatz abgelehnt: {reason}",
                           "the finance system refused the record: {reason}"),
    errors.HTTP_BAD_ANSWER: (
        "Das Finanzverfahren antwortete mit HTTP {status} ohne Buchungsnummer und ohne bekannten Status; es wird erneut "
        "versucht.",
        "the finance system answered HTTP {status} without a booking number or a known status; will retry."),
    errors.HMAC_SECRET_MISSING: (
        "Die Umgebungsvariable {env} (der Signaturschlüssel des Webhooks) ist nicht gesetzt; es wurde nichts gesendet.",
        "the environment variable {env} (the webhook signing key) is not set; nothing was sent."),
    errors.WEBHOOK_URL_MISSING: ("finance.webhook.url ist in der Organisationsdatei nicht gesetzt.",
                                 "finance.webhook.url is not set in the organisation file."),
    errors.FILE_WRITE: ("Die Exportdatei in {directory} konnte nicht geschrieben werden ({error}); es wird erneut versucht.",
                        "the export file in {directory} could not be written ({error}); will retry."),
    errors.UNKNOWN: ("Die Übermittlung ist fehlgeschlagen, ohne ein Problem zu nennen.",
                     "the delivery failed without naming its problem."),
    errors.MAX_ATTEMPTS: (
        "Die Übermittlung ist {attempts}-mal fehlgeschlagen (zuletzt: {last}); eine Person muss das klären: "
        "`einvoice finance retry`, sobald die Ursache behoben ist.",
        "delivery failed {attempts} times (last: {last}); a person must resolve it: `einvoice finance retry` once the "
        "cause is fixed."),
    errors.LEASE_LOST: ("Ein anderer Prozess hat diesen Buchungssatz übernommen; dessen Ergebnis zählt.",
                        "another worker took this record over; its outcome counts."),
    errors.REJECTED: ("Das Finanzverfahren hat den Buchungssatz abgelehnt: {reason}",
                      "the finance system refused the record: {reason}"),
    # -- confirmations and operator actions
    errors.RECEIPT_STATUS: ("{file} Zeile {line}: Status „{status}“ ist weder `booked` noch `duplicate` noch `rejected`.",
                            "{file} line {line}: status '{status}' is not booked, duplicate or rejected."),
    errors.RECEIPT_UNREADABLE: ("Die Quittungsdatei {file} kann nicht gelesen werden ({error}); sie bleibt liegen.",
                                "receipt file {file} cannot be read ({error}); it was left in place."),
    errors.NOT_FOUND: ("Nicht gefunden.", "Not found."),
    NOT_FOUND_RUN: ("Es gibt keinen Zahlungslauf {run_id}.", "there is no payment run {run_id}."),
    NOT_FOUND_KEY: ("Kein Buchungssatz hat den Idempotenzschlüssel „{key}“.",
                    "no posting record has the idempotency key '{key}'."),
    NOT_FOUND_OUTBOX: ("Es gibt keinen Ausgangseintrag {outbox_id}.", "there is no outbox entry {outbox_id}."),
    errors.NOT_DEAD: (
        "Ausgangseintrag {outbox_id} ist im Stand „{status}“; nur unzustellbare und wartende Einträge können erneut "
        "gesendet werden.",
        "outbox entry {outbox_id} is {status}; only dead letters and waiting entries can be retried."),
    errors.ALREADY_CONFIRMED: ("{key} ist bereits als {booking} bestätigt.", "{key} was already confirmed as {booking}."),
    errors.BOOKING_REQUIRED: ("Bitte die Buchungsnummer angeben, die das Finanzverfahren für diese Rechnung zeigt.",
                              "give the booking number the finance system shows for this invoice."),
    BOOKING_REQUIRED_PULL: ("Status „booked“ braucht eine booking_number.", "status 'booked' needs a booking_number."),
    errors.BOOKING_CONFLICT: (
        "{key} ist bereits mit Buchungsnummer {booking} bestätigt; das Finanzverfahren meldet jetzt {new} (über {via}). "
        "Bitte im Finanzverfahren auf eine Doppelbuchung prüfen und sie klären: `einvoice finance resolve`.",
        "{key} was already confirmed with booking number {booking}; the finance system now reports {new} (via {via}). "
        "Check for a double booking in the finance system and settle it: `einvoice finance resolve`."),
    errors.STALE: ("Jemand anderes hat das gerade geändert; bitte neu laden.", "Someone else changed this meanwhile; reload."),
    STALE_RUN: ("Jemand anderes hat diesen Zahlungslauf gerade freigegeben; bitte neu laden.",
                "Someone else released this payment run a moment ago; reload."),
    STALE_CONFIRM: ("Der Buchungssatz hat sich während der Bestätigung geändert; bitte erneut versuchen.",
                    "the record changed while confirming it; try again."),
    # -- the pull API
    errors.PULL_DISABLED: ("Die Organisation nutzt den Pull-Anschluss nicht (finance.connector).",
                           "the organisation does not use the pull connector (finance.connector)."),
    errors.PULL_TOKEN_MISSING: (
        "Die Pull-API ist nicht eingerichtet: die Umgebungsvariable {env} ist nicht gesetzt oder kürzer als {min} Zeichen.",
        "the pull API is not configured: environment variable {env} is not set or shorter than {min} characters."),
    errors.PULL_UNAUTHORIZED: ("Bearer-Token fehlt oder ist falsch.", "missing or wrong bearer token."),
    # -- payment runs
    errors.SEPA_AMOUNT: ("Nichts zu zahlen (Zahlbetrag {amount}).", "nothing to pay (amount due {amount})."),
    SEPA_AMOUNT_CREDIT_NOTE: ("Die Gutschrift hat keinen Betrag; nichts zu verrechnen.",
                              "the credit note has no amount; nothing to settle."),
    errors.SEPA_BIC: ("Die BIC {bic} ist ungültig ({error}).", "the BIC {bic} is not valid ({error})."),
    errors.SEPA_CONFLICT: (
        "Ein anderer Zahlungslauf hat gleichzeitig einige dieser Rechnungen aufgenommen; nichts wurde festgehalten. "
        "Bitte erneut starten.",
        "another payment run included some of these invoices at the same time; nothing was recorded. Run again."),
    errors.SEPA_CREDIT_NOTE: ("Eine Gutschrift ist eine Forderung gegen den Lieferanten; sie wird verrechnet, nicht ausgezahlt.",
                              "a credit note is a claim against the supplier; it is settled, not paid out."),
    errors.SEPA_CREDIT_NOTE_WAITING: (
        "Gutschrift über {credit} EUR: keine in diesem Lauf bezahlte Rechnung dieses Gläubigers ist größer als die "
        "Gutschrift; sie wird in einem späteren Lauf mit einer größeren Rechnung verrechnet. Sie wird nie ausgezahlt.",
        "credit note of {credit} EUR: no invoice of this creditor paid in this run is larger than the credit; it is "
        "netted in a later run against a larger invoice. It is never paid out."),
    SEPA_CREDIT_NOTE_WAITING_OPEN: (
        "Gutschrift über {credit} EUR: keine in diesem Lauf bezahlte Rechnung dieses Gläubigers ist größer als die "
        "Gutschrift; sie wird in einem späteren Lauf mit den offenen Rechnungen {open} verrechnet. Sie wird nie ausgezahlt.",
        "credit note of {credit} EUR: no invoice of this creditor paid in this run is larger than the credit; it is "
        "netted in a later run against open invoice(s) {open}. It is never paid out."),
    errors.SEPA_CREDIT_NOTE_NOTHING_OPEN: (
        "Gutschrift über {credit} EUR: der Gläubiger hat keine offene Rechnung zum Verrechnen. Eine Person entscheidet "
        "(Erstattung beim Lieferanten anfordern oder auf die nächste Rechnung warten); sie wird nie ausgezahlt.",
        "credit note of {credit} EUR: the creditor has no open invoice to net it against. A person decides (ask the "
        "supplier for a refund, or wait for the next invoice); it is never paid out."),
    errors.SEPA_CURRENCY: ("SEPA-Überweisungen sind in EUR; diese Rechnung ist in {currency}.",
                           "SEPA transfers are in EUR; this invoice is in {currency}."),
    SEPA_CURRENCY_CREDIT_NOTE: (
        "Diese Gutschrift ist in {currency}; sie kann nicht mit EUR-Überweisungen verrechnet werden. Eine Person muss sie klären.",
        "this credit note is in {currency}; it cannot be netted with EUR transfers. A person must settle it."),
    errors.SEPA_FILE_WRITE: (
        "Zahlungslauf {run_id} ist freigegeben und seine Rechnungen sind bezahlt, aber die Datei konnte nicht nach "
        "{directory} geschrieben werden ({error}); der nächste Zahlungslauf schreibt sie, oder "
        "`einvoice payments export {run_id} --out DIR --by PERSON`.",
        "payment run {run_id} is released and its invoices are paid, but the file could not be written to {directory} "
        "({error}); the next payment run writes it, or `einvoice payments export {run_id} --out DIR --by PERSON`."),
    errors.SEPA_IBAN: ("Die IBAN {iban} ist ungültig ({error}); die Rechnung kann nicht überwiesen werden.",
                       "the IBAN {iban} is not valid ({error}); the invoice cannot be paid by transfer."),
    SEPA_IBAN_MISSING: ("Die Rechnung nennt keine IBAN (BT-84); bitte beim Lieferanten die Bankverbindung erfragen.",
                        "the invoice names no IBAN (BT-84); ask the supplier for bank details."),
    errors.SEPA_IBAN_CHANGED: (
        "Die Rechnung verlangt Zahlung auf {iban}, in den Lieferantenstammdaten steht aber {master}; bitte die neue "
        "Bankverbindung beim Lieferanten bestätigen lassen (telefonisch, nicht per E-Mail) und zuerst die Stammdaten ändern.",
        "the invoice asks for payment to {iban}, but the supplier master data has {master}; confirm the new bank details "
        "with the supplier (by phone, not by e-mail) and update the master data first."),
    errors.SEPA_PAYER_MISSING: (
        "finance.payer (Kontoinhaber, IBAN und BIC der eigenen Körperschaft) ist in der Organisationsdatei nicht gesetzt.",
        "finance.payer (the body's own account name, IBAN and BIC) is not set in the organisation file."),
    errors.SEPA_TOTALS: ("NbOfTxs/CtrlSum in der Datei stimmen nicht: {totals}, erwartet {count} / {control_sum}",
                         "NbOfTxs/CtrlSum in the file do not match: {totals}, expected {count} / {control_sum}"),
    errors.SEPA_XSD: ("Die erzeugte pain.001 ist nicht gültig gegen das XSD pain.001.001.09: {errors}",
                      "the generated pain.001 does not validate against the pain.001.001.09 XSD: {errors}"),
    # -- who may act on postings and payments
    errors.UNKNOWN_PERSON: (
        "„{person}“ ist keine Person der Organisationsdatei von {org}; {what} darf nur eine namentlich bekannte Person.",
        "'{person}' is not a person of the organisation file of {org}; only a person known by name may {what}."),
    errors.REASON_REQUIRED: ("Bitte den Grund angeben: {what} wird mit Begründung im Prüfpfad festgehalten.",
                             "Give the reason: {what} is kept in the audit trail with its reason."),
    errors.PAY_FOUR_EYES: (
        "{person} hat Zahlungslauf {run_id} bereits als erste Person freigegeben; die zweite Freigabe muss eine andere "
        "Person der Kasse geben (Vier-Augen-Prinzip, § 31 Abs. 3 KomHVO NRW).",
        "{person} already gave the first release of payment run {run_id}; the second release must come from another "
        "person of the Kasse (four-eyes principle, § 31 Abs. 3 KomHVO NRW)."),
    errors.PAY_NOT_RELEASED: (
        "Zahlungslauf {run_id} ist noch nicht von zwei Personen freigegeben (Stand: {status}); die Datei geht erst nach "
        "der zweiten Freigabe an die Bank.",
        "payment run {run_id} is not yet released by two persons (state: {status}); the file goes to the bank only after "
        "the second release."),
    errors.PAY_RELEASE_ANORDNUNG: (
        "{person} hat die Anordnung für Rechnung {invoices} in Zahlungslauf {run_id} gegeben und darf die Zahlung daher "
        "nicht freigeben: Anordnung und Kasse sind getrennt (§ 31 Abs. 3 KomHVO NRW).",
        "{person} gave the Anordnung for invoice {invoices} in payment run {run_id} and so may not release the payment: "
        "Anordnung and Kasse are separate (§ 31 Abs. 3 KomHVO NRW)."),
    errors.PAY_RELEASE_BOOKED: (
        "{person} hat Rechnung {invoices} in Zahlungslauf {run_id} von Hand gebucht und darf die Zahlung daher nicht "
        "freigeben: Buchung und Zahlung sind getrennt.",
        "{person} booked invoice {invoices} in payment run {run_id} by hand and so may not release the payment: "
        "booking and payment are separate."),
    errors.PAY_RUN_STATE: ("Zahlungslauf {run_id} wartet nicht auf die {stage}. Freigabe (Stand: {status}).",
                           "payment run {run_id} is not waiting for release {stage} (state: {status})."),
    PAY_RUN_STATE_RELEASED: ("Zahlungslauf {run_id} ist bereits von zwei Personen freigegeben.",
                             "payment run {run_id} is already released by two persons."),
}

#: Words inside the sentences above (what a person tried; a rejection without a reason).
WORDS: dict[str, tuple[str, str]] = {
    "nobody": ("niemand", "nobody"),
    "refused": ("abgelehnt", "refused"),
    "none-configured": ("keine eingerichtet", "none configured"),
    "no-reason": ("kein Grund angegeben", "no reason given"),
    "manual-booking": ("eine Buchung von Hand (auch gegen eine Ablehnung des Finanzverfahrens)",
                       "a booking made by hand (also against a refusal by the finance system)"),
}

#: Audit-trail comments the finance outbox, the repair and the payment release write (German, English).
TRAIL: dict[str, tuple[str, str]] = {
    "posted": ("Im Finanzverfahren gebucht als {booking}", "booked in the finance system as {booking}"),
    "posted-no-number": ("Vom Finanzverfahren angenommen (ohne Buchungsnummer)",
                         "accepted by the finance system (no booking number given)"),
    "repaired": ("Freigegeben ohne Buchungssatz (von einem Dienst ohne Finanzanbindung freigegeben); der Buchungssatz "
                 "ist jetzt vorgemerkt",
                 "released without a posting record (released by a service without the finance hook); the posting "
                 "record is queued now"),
    "paid": ("SEPA-Zahlungslauf {message_id}, Ausführungsdatum {execution}, zweite Freigabe durch {person} "
             "(erste: {first}){skonto}{credit}",
             "SEPA payment run {message_id}, execution date {execution}, second release by {person} (first: {first})"
             "{skonto}{credit}"),
    "paid-skonto": (", Skonto {skonto} EUR abgezogen", ", Skonto {skonto} EUR taken"),
    "paid-credit": (", Gutschrift verrechnet: {amount} EUR von der Überweisung für Rechnung #{invoice} abgezogen",
                    ", credit note settled: {amount} EUR deducted from the transfer for invoice #{invoice}"),
    "first-release": ("SEPA-Zahlungslauf {message_id}: erste Freigabe durch {person}; eine zweite Person muss ihn freigeben",
                      "SEPA payment run {message_id}: first release by {person}; a second person must release it"),
}


def _lang(lang: str | None) -> str:
    return lang or language()


def _format(key: str, lang: str, values: dict) -> str:
    picked = {k: pick(v, lang) if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, str) for x in v) else v
              for k, v in values.items()}
    return pick(MESSAGES[key], lang).format(**picked)


def problem(key: str, /, lang: str | None = None, **values) -> FinanceProblem:
    """The problem ``key`` (an ID of ``errors``, or ``ID/variant``) worded in ``lang`` (default: the setting).

    A value may be a (German, English) pair; the English sentence is kept as ``message_en``."""
    return FinanceProblem(key.split("/")[0], _format(key, _lang(lang), values), message_en=_format(key, "en", values),
                          message_de=_format(key, "de", values))


def trail(key: str, /, **values) -> tuple[str, dict[str, str]]:
    """A comment for the audit trail (``TRAIL``): in the language set, plus both wordings for the details."""
    return worded(TRAIL[key], **values)


def trail_part(key: str, /, **values) -> tuple[str, str]:
    """A part of a trail comment (``TRAIL``) in both languages, to pass as a value of ``trail``."""
    de, en = TRAIL[key]
    return de.format(**values), en.format(**values)


def trail_of(problem: FinanceProblem) -> tuple[str, dict[str, str]]:
    """A problem as an audit-trail comment ("[ID] sentence"), with both wordings where known."""
    if problem.message_de is None or problem.message_en is None:
        return str(problem), {}
    return worded(("[{rule}] {de}", "[{rule}] {en}"), rule=problem.rule, de=problem.message_de, en=problem.message_en)


def word(key: str, lang: str | None = None) -> str:
    return pick(WORDS[key], _lang(lang))


def both(key: str) -> tuple[str, str]:
    """A word of ``WORDS`` as a (German, English) pair, to pass as a value of ``problem``."""
    return WORDS[key]
