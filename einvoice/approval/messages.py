"""Every text of the approval layer a person reads, German and English, defined once.

One table per kind of text, each entry (German, English): refusals (key = rule ID, or
``RULE/variant`` where one rule has several situations; the ``Refusal.rule`` is always the rule
ID before the slash), the names of steps, roles, trail actions and outcomes, the actions named
inside a refusal ("… may not sign the Anordnung"), duplicate reasons, reminders and forwarding
reasons. The language is ``EINVOICE_LANGUAGE`` (``einvoice.language``; German by default).

This module must never decide anything: it only words what ``rules`` and ``service`` decided.
A new refusal gets its constant and its entry here (both languages); ``tests/approval/test_language.py``
fails on any ``Refusal(...)`` built elsewhere in the approval package and on English words in the
German texts (and German words in the English ones), ``tests/approval/test_refusal_ids.py`` on a
refusal ID spelled as a string outside this module.
"""
from __future__ import annotations

import re
from decimal import Decimal

from einvoice.approval.types import Refusal, Step
from einvoice.language import language, pick
from einvoice.organisation import Role

# Refusal IDs (``Refusal.rule``) and the keys of their variants (``RULE/variant``): raise sites
# name these constants, never a string; each has its German and English text in ``REFUSALS``.
UNKNOWN_PERSON = "UNKNOWN-PERSON"
AUDITOR_READ_ONLY = "AUDITOR-READ-ONLY"
DEPUTY_NOT_ABSENT = "DEPUTY-NOT-ABSENT"
LIMIT_DEPUTY = "LIMIT/deputy"
LIMIT = "LIMIT"
NOT_AUTHORISED = "NOT-AUTHORISED"
NOT_AUTHORISED_CENTRAL = "NOT-AUTHORISED/central"
NOT_AUTHORISED_ROLES = "NOT-AUTHORISED/roles"
SOD_ANORDNUNG_RECHNERISCH = "SOD-ANORDNUNG-RECHNERISCH"
SOD_ONE_PERSON_ONE_STEP = "SOD-ONE-PERSON-ONE-STEP"
STALE = "STALE"
STALE_DECIDED = "STALE/decided"
STALE_CLOSED = "STALE/closed"
STALE_KONTIERUNG = "STALE/kontierung"
KONTIERUNG_NACH_ANORDNUNG = "KONTIERUNG-NACH-ANORDNUNG"
DUPLICATE_BLOCKS = "DUPLICATE-BLOCKS"
NO_SUCH_TASK = "NO-SUCH-TASK"
NO_SUCH_INVOICE = "NO-SUCH-INVOICE"
NO_PREVIOUS_STEP = "NO-PREVIOUS-STEP"
NO_DUPLICATE_FLAG = "NO-DUPLICATE-FLAG"
AMOUNT_REQUIRED = "AMOUNT-REQUIRED"
AMOUNT_MISMATCH = "AMOUNT-MISMATCH"
REASON_REQUIRED_REJECT = "REASON-REQUIRED/reject"
REASON_REQUIRED_SEND_BACK = "REASON-REQUIRED/send_back"
REASON_REQUIRED_COMMENT = "REASON-REQUIRED/comment"
REASON_REQUIRED_OVERRIDE = "REASON-REQUIRED/override"
UNKNOWN_DEPARTMENT = "UNKNOWN-DEPARTMENT"
SAME_DEPARTMENT = "SAME-DEPARTMENT"
NOT_RETURNED = "NOT-RETURNED"
RELEASE_FAILED = "RELEASE-FAILED"
# Central desk, Klärung, delegation, substitutes, bulk decisions (einvoice.approval.desk).
NOT_REJECTED = "NOT-REJECTED"
NOT_AN_E_INVOICE = "NOT-AN-E-INVOICE"
REOPEN_NO_DATA = "REOPEN-NO-DATA"
REASON_REQUIRED_REOPEN = "REASON-REQUIRED/reopen"
REASON_REQUIRED_HOLD = "REASON-REQUIRED/hold"
HOLD_DATE = "HOLD-DATE"
HOLD_EXISTS = "HOLD-EXISTS"
NO_HOLD = "NO-HOLD"
HOLD_OPEN = "HOLD-OPEN"
DELEGATED = "DELEGATED"
DELEGATE_SELF = "DELEGATE-SELF"
DELEGATE_NOT_ALLOWED = "DELEGATE-NOT-ALLOWED"
SUBSTITUTE_SELF = "SUBSTITUTE-SELF"
SUBSTITUTE_PERIOD = "SUBSTITUTE-PERIOD"
SUBSTITUTE_DEPARTMENT = "SUBSTITUTE-DEPARTMENT"
SUBSTITUTE_NO_GRANTS = "SUBSTITUTE-NO-GRANTS"
NO_SUCH_SUBSTITUTE = "NO-SUCH-SUBSTITUTE"
BULK_WRONG_STEP = "BULK-WRONG-STEP"
BULK_EMPTY = "BULK-EMPTY"
BULK_TOO_MANY = "BULK-TOO-MANY"
BUSY = "BUSY"

REFUSALS: dict[str, tuple[str, str]] = {
    UNKNOWN_PERSON: (
        "„{person}“ ist keine Person in der Organisationsdatei von {org}.",
        "'{person}' is not a person in the organisation file of {org}."),
    AUDITOR_READ_ONLY: (
        "{name} prüft das Amt {department} (Rechnungsprüfung) und darf nur lesen, nicht {what}.",
        "{name} audits department {department} (Rechnungsprüfung) and may only read, not {what}."),
    DEPUTY_NOT_ABSENT: (
        "{name} vertritt {absent} nur während der Abwesenheit ({start}–{end}); heute ({today}) ist {absent} nicht abwesend.",
        "{name} stands in for {absent} only while {absent} is absent ({start}–{end}); today ({today}) {absent} is not absent."),
    LIMIT_DEPUTY: (
        "Die Wertgrenze von {absent} für {role} im Amt {department} beträgt {limit}; diese Rechnung lautet über {amount}, "
        "daher kann {name} auch in Vertretung nicht {what}.",
        "{absent}'s limit for {role} in department {department} is {limit}; this invoice is for {amount}, "
        "so {name} cannot {what} as deputy either."),
    LIMIT: (
        "{name} darf im Amt {department} nur bis {limits} {what} (Wertgrenze); diese Rechnung lautet über {amount}. "
        "Das muss jemand mit höherer Wertgrenze tun.",
        "{name} may {what} in department {department} only up to {limits} (Wertgrenze); this invoice is for {amount}. "
        "Someone with a higher limit must do it."),
    NOT_AUTHORISED: (
        "{name} hat die Rolle „{role}“ für das Amt {department} nicht und darf daher nicht {what}.",
        "{name} has no '{role}' grant for department {department}, so may not {what}."),
    NOT_AUTHORISED_CENTRAL: (
        "{name} hat die Rolle „{role}“ nicht (für alle Ämter) und darf daher nicht {what}.",
        "{name} has no '{role}' grant for any department, so may not {what}."),
    NOT_AUTHORISED_ROLES: (
        "{name} braucht eine der Rollen {roles} für das Amt {department}, um {what_zu}.",
        "{name} needs one of the roles {roles} for department {department} to {what}."),
    SOD_ANORDNUNG_RECHNERISCH: (
        "{name} hat die rechnerische Richtigkeit dieser Rechnung bescheinigt und darf deshalb nicht die Anordnung geben "
        "(Funktionstrennung, § 31 KomHVO NRW). Das muss eine andere Person mit Anordnungsbefugnis tun.",
        "{name} certified the rechnerische Richtigkeit of this invoice and therefore may not give the Anordnung "
        "(separation of duties, § 31 KomHVO NRW). Another person with Anordnungsbefugnis must do it."),
    SOD_ONE_PERSON_ONE_STEP: (
        "{name} hat bereits {signed} dieser Rechnung bescheinigt; eine Person darf nur einen Schritt einer Rechnung "
        "übernehmen, daher muss jemand anderes {step} übernehmen.",
        "{name} already signed the {signed} of this invoice; one person may fill only one step of an invoice, "
        "so someone else must give the {step}."),
    STALE: (
        "Jemand anderes hat diese Aufgabe gerade entschieden; bitte laden Sie die Aufgabe neu und sehen Sie sie sich noch einmal an.",
        "Someone else decided this task a moment ago; reload the task and look again."),
    STALE_DECIDED: (
        "Jemand anderes hat diese Aufgabe gerade entschieden{who}; die Rechnung ist jetzt „{state}“.",
        "Someone else decided this task a moment ago{who}; the invoice is now '{state}'."),
    STALE_CLOSED: (
        "Diese Aufgabe ist abgeschlossen ({outcome} durch {by}).",
        "This task is closed ({outcome} by {by})."),
    STALE_KONTIERUNG: (
        "Jemand anderes entscheidet diese Rechnung gerade; bitte laden Sie sie neu und ändern Sie die Kontierung dann noch einmal.",
        "Someone else is deciding this invoice right now; load the invoice again and repeat the account assignment."),
    KONTIERUNG_NACH_ANORDNUNG: (
        "Die Anordnung für diese Rechnung hat {by} bereits mit der bisherigen Kontierung gegeben. Eine neue Kontierung "
        "braucht eine neue Anordnung: bitte den Grund der Änderung angeben; die Rechnung geht dann zurück zur Anordnung.",
        "{by} already gave the Anordnung for this invoice with the previous account assignment. A new account "
        "assignment needs a new Anordnung: give the reason for the change; the invoice then goes back to the Anordnung."),
    DUPLICATE_BLOCKS: (
        "Diese Rechnung ist möglicherweise eine Dublette ({reason}); sie kann erst freigegeben werden, wenn jemand mit "
        "Anordnungsbefugnis, die Amtsleitung oder die Rechnungseingangsstelle den Verdacht mit Begründung aufhebt.",
        "This invoice may be a duplicate ({reason}); it cannot be released until someone with Anordnungsbefugnis, "
        "the department head or the central desk overrides the flag with a reason."),
    NO_SUCH_TASK: ("Es gibt keine Freigabeaufgabe {task_id}.", "There is no approval task {task_id}."),
    NO_SUCH_INVOICE: ("Es gibt keine Rechnung {invoice_id}.", "There is no invoice {invoice_id}."),
    NO_PREVIOUS_STEP: (
        "Dies ist der erste Schritt (sachliche Richtigkeit): bitte die Rechnung zurückweisen oder an das richtige Amt weiterleiten.",
        "This is the first step (sachliche Richtigkeit): reject the invoice or forward it to the right department instead."),
    NO_DUPLICATE_FLAG: ("Diese Rechnung hat keinen offenen Dublettenverdacht.", "This invoice has no open duplicate flag."),
    AMOUNT_REQUIRED: (
        "Die rechnerische Richtigkeit wird mit einem Betrag bescheinigt: bitte den Zahlbetrag ({amount}) bestätigen.",
        "Rechnerische Richtigkeit is certified with an amount: confirm the amount due ({amount})."),
    AMOUNT_MISMATCH: (
        "Sie haben {confirmed} bestätigt, die Rechnung verlangt aber {amount}; ist die Rechnung falsch, bitte "
        "zurückweisen oder zurückgeben.",
        "You confirmed {confirmed}, but the invoice asks for {amount}; if the invoice is wrong, reject it or send it back."),
    REASON_REQUIRED_REJECT: (
        "Bitte begründen Sie die Zurückweisung; der Lieferant und die Rechnungseingangsstelle lesen die Begründung.",
        "Say why the invoice is returned; the supplier and the central desk read it."),
    REASON_REQUIRED_SEND_BACK: (
        "Bitte begründen Sie die Rückgabe, damit der vorige Schritt weiß, was zu prüfen ist.",
        "Say why the invoice goes back, so the previous step knows what to check."),
    REASON_REQUIRED_COMMENT: ("Der Kommentar ist leer.", "The comment is empty."),
    REASON_REQUIRED_OVERRIDE: (
        "Bitte begründen Sie, warum das keine Dublette ist; die Rechnungsprüfung liest die Begründung.",
        "Say why this is not a duplicate; the Rechnungsprüfung reads it."),
    UNKNOWN_DEPARTMENT: (
        "Es gibt kein Amt „{department}“; bitte eines davon wählen: {codes}.",
        "There is no department '{department}'; choose one of: {codes}."),
    SAME_DEPARTMENT: (
        "Die Rechnung liegt bereits beim Amt {code} {name}.",
        "The invoice is already with department {code} {name}."),
    NOT_RETURNED: (
        "Nur eine zurückgewiesene Rechnung kann wieder aufgenommen werden; diese ist „{state}“.",
        "Only a returned invoice can be reopened; this one is '{state}'."),
    RELEASE_FAILED: (
        "Die Freigabe konnte nicht abgeschlossen werden ({error}); es wurde nichts geändert. Bitte erneut versuchen "
        "oder den Betrieb verständigen.",
        "The release could not be completed ({error}); nothing was changed, try again or call the operator."),
    # Central desk, Klärung, delegation, substitutes, bulk decisions (einvoice.approval.desk).
    NOT_REJECTED: (
        "Wieder aufnehmen kann die Rechnungseingangsstelle nur ein abgewiesenes Dokument; dieses ist „{state}“.",
        "The central desk can reopen only a rejected document; this one is '{state}'."),
    NOT_AN_E_INVOICE: (
        "Dieses Dokument ist keine E-Rechnung im Sinne des § 14 UStG (z. B. ein reines PDF oder das Profil MINIMUM/BASIC WL) "
        "und kann nicht in die Freigabe gehen; bitte den Lieferanten um eine E-Rechnung bitten.",
        "This document is no e-invoice under § 14 UStG (e.g. a plain PDF or the MINIMUM/BASIC WL profile) and cannot "
        "enter approval; ask the supplier for an e-invoice."),
    REOPEN_NO_DATA: (
        "Aus diesem Dokument ließen sich Rechnungsnummer und Zahlbetrag nicht lesen ({missing}); ohne sie kann niemand "
        "die rechnerische Richtigkeit bescheinigen. Bitte den Lieferanten um eine berichtigte Rechnung bitten.",
        "The invoice number and the amount due could not be read from this document ({missing}); without them nobody "
        "can certify the rechnerische Richtigkeit. Ask the supplier for a corrected invoice."),
    REASON_REQUIRED_REOPEN: (
        "Bitte begründen Sie die Wiederaufnahme (z. B. die Erklärung des Lieferanten); die Rechnungsprüfung liest die Begründung.",
        "Say why the document is reopened (e.g. the supplier's explanation); the Rechnungsprüfung reads it."),
    REASON_REQUIRED_HOLD: (
        "Bitte geben Sie an, was geklärt werden muss.",
        "Say what needs to be clarified."),
    HOLD_DATE: (
        "Bitte ein Datum für die Klärung angeben, frühestens heute ({today}); angegeben: {until}.",
        "Give a date for the clarification, today ({today}) or later; given: {until}."),
    HOLD_EXISTS: (
        "Für diese Rechnung läuft bereits eine Klärung (seit {since} durch {by}: {reason}).",
        "A clarification is already open on this invoice (since {since} by {by}: {reason})."),
    NO_HOLD: (
        "Für diese Rechnung läuft keine Klärung.",
        "There is no open clarification on this invoice."),
    HOLD_OPEN: (
        "Diese Rechnung ist in Klärung bis {until} ({reason}, gesetzt durch {by}); erst nach Abschluss der Klärung kann "
        "{step} bescheinigt werden.",
        "This invoice awaits a clarification until {until} ({reason}, set by {by}); {step} can be signed only once "
        "the clarification is closed."),
    DELEGATED: (
        "Diese Aufgabe wurde an {name} delegiert; nur {name} (oder die Vertretung) kann sie entscheiden. Die "
        "Amtsleitung oder die Rechnungseingangsstelle kann sie neu delegieren.",
        "This task was delegated to {name}; only {name} (or their deputy) can decide it. The department head "
        "or the central desk can delegate it again."),
    DELEGATE_SELF: (
        "Sie können eine Aufgabe nicht an sich selbst delegieren.",
        "You cannot delegate a task to yourself."),
    DELEGATE_NOT_ALLOWED: (
        "{name} darf {step} dieser Rechnung nach der Organisationsdatei nicht übernehmen ({why} [{rule}]); bitte eine "
        "andere Person wählen.",
        "{name} may not take the {step} of this invoice under the organisation file ({why} [{rule}]); choose another person."),
    SUBSTITUTE_SELF: (
        "Sie können sich nicht selbst vertreten; bitte eine Kollegin oder einen Kollegen wählen.",
        "You cannot be your own deputy; choose a colleague."),
    SUBSTITUTE_PERIOD: (
        "Der Zeitraum der Vertretung ist ungültig ({start}–{end}): das Ende darf nicht vor dem Beginn und nicht vor "
        "heute ({today}) liegen, und eine Vertretung dauert höchstens {days} Tage.",
        "The period of the deputy entry is not valid ({start}–{end}): the end may not be before the start or before "
        "today ({today}), and a deputy entry lasts {days} days at most."),
    SUBSTITUTE_DEPARTMENT: (
        "{substitute} hat in keinem Ihrer Ämter ({departments}) eine Rolle und kann Sie daher nicht vertreten.",
        "{substitute} holds no grant in any of your departments ({departments}), so cannot stand in for you."),
    SUBSTITUTE_NO_GRANTS: (
        "{name} hat keine Rolle in der Freigabe, für die eine Vertretung nötig wäre.",
        "{name} holds no approval grant a deputy could stand in for."),
    NO_SUCH_SUBSTITUTE: (
        "Es gibt keine laufende Vertretung {entry} von {name}.",
        "There is no current deputy entry {entry} of {name}."),
    BULK_WRONG_STEP: (
        "Diese Aufgabe ist beim Schritt {actual}, nicht bei {step}; eine Sammelbestätigung gilt nur für einen Schritt.",
        "This task is at the {actual}, not at the {step}; a bulk decision covers one step only."),
    BULK_EMPTY: (
        "Bitte mindestens eine Rechnung auswählen.",
        "Select at least one invoice."),
    BULK_TOO_MANY: (
        "Höchstens {limit} Rechnungen auf einmal; ausgewählt waren {count}.",
        "At most {limit} invoices at once; {count} were selected."),
    BUSY: (
        "Die Datenbank ist gerade mit anderen Entscheidungen beschäftigt; es wurde nichts geändert. Bitte gleich noch einmal versuchen.",
        "The database is busy with other decisions; nothing was changed, please try again in a moment."),
}

#: The steps as a sentence names them ("… already signed the sachliche Richtigkeit").
STEPS: dict[Step, tuple[str, str]] = {
    Step.SACHLICH: ("die sachliche Richtigkeit", "sachliche Richtigkeit"),
    Step.RECHNERISCH: ("die rechnerische Richtigkeit", "rechnerische Richtigkeit"),
    Step.ANORDNUNG: ("die Anordnung", "Anordnung"),
    Step.FREIGABE: ("die Freigabe (Zweitfreigabe der Zahlung)", "Freigabe (second person's release)"),
}

#: Roles as people call them (the trail's "als Kasse", refusals).
ROLES: dict[str, tuple[str, str]] = {
    Role.SACHLICH.value: ("sachlich richtig", "sachlich richtig (factual check)"),
    Role.RECHNERISCH.value: ("rechnerisch richtig", "rechnerisch richtig (arithmetic check)"),
    Role.ANORDNEN.value: ("Anordnungsbefugnis", "Anordnungsbefugnis (payment order)"),
    Role.CENTRAL_DESK.value: ("Rechnungseingangsstelle", "central desk"),
    Role.TREASURY.value: ("Kasse", "treasury"),
    Role.BOOKKEEPING.value: ("Finanzbuchhaltung", "bookkeeping"),
    Role.AUDITOR.value: ("Rechnungsprüfung", "audit"),
    Role.HEAD.value: ("Amtsleitung", "department head"),
}

#: The audit trail's actions (InvoiceEvent.action) as the trail shows them.
ACTIONS: dict[str, tuple[str, str]] = {
    "received": ("eingegangen", "received"),
    "sachlich_richtig": ("sachlich richtig", "sachlich richtig (certified)"),
    "rechnerisch_richtig": ("rechnerisch richtig", "rechnerisch richtig (certified)"),
    "anordnung": ("Anordnung", "Anordnung (payment ordered)"),
    "freigabe": ("Freigabe", "release"),
    "rejected": ("zurückgewiesen", "rejected"),
    "sent_back": ("zurückgegeben", "sent back"),
    "forwarded": ("weitergeleitet", "forwarded"),
    "comment": ("Kommentar", "comment"),
    "duplicate_flagged": ("Dublettenverdacht", "duplicate flagged"),
    "duplicate_override": ("Dublettenverdacht aufgehoben", "duplicate flag overridden"),
    "reopened": ("wieder aufgenommen", "reopened"),
    "reopened_after_rejection": ("nach Abweisung wieder aufgenommen", "reopened after rejection"),
    "hold_set": ("Klärung begonnen", "clarification started"),
    "hold_released": ("Klärung abgeschlossen", "clarification closed"),
    "delegated": ("delegiert", "delegated"),
    "reminder": ("Erinnerung", "reminder"),
    "escalation": ("Eskalation", "escalation"),
    "account_assignment_after_anordnung": ("Kontierung nach Anordnung geändert", "account assignment changed after the Anordnung"),
    # Written by finance (einvoice.finance), shown in the same trail.
    "account_assignment": ("Kontierung", "account assignment"),
    "posted": ("gebucht", "posted"),
    "paid": ("bezahlt", "paid"),
    "posting_retry": ("Buchung erneut gesendet", "posting sent again"),
    "posting_repaired": ("Buchung nachgetragen", "posting repaired"),
    "posting_dead_letter": ("Buchung gescheitert", "posting failed"),
    "posting_conflict": ("Buchungskonflikt", "posting conflict"),
    "posting_conflict_resolved": ("Buchungskonflikt gelöst", "posting conflict resolved"),
    "finance_rejection_overridden": ("Ablehnung der Finanzsoftware übergangen", "finance system's refusal overridden"),
}

#: Invoice states (einvoice.states) as people read them.
STATES: dict[str, tuple[str, str]] = {
    "not_validated": ("nicht geprüft", "not validated"),
    "not_an_invoice": ("keine E-Rechnung", "not an e-invoice"),
    "rejected": ("abgewiesen", "rejected"),
    "in_approval": ("in Freigabe", "in approval"),
    "returned": ("zurückgegeben", "returned"),
    "released": ("angeordnet/freigegeben", "released"),
    "posted": ("gebucht", "posted"),
    "paid": ("bezahlt", "paid"),
}

#: Task outcomes.
OUTCOMES: dict[str, tuple[str, str]] = {
    "approved": ("bestätigt", "approved"),
    "rejected": ("zurückgewiesen", "rejected"),
    "sent_back": ("zurückgegeben", "sent back"),
    "forwarded": ("weitergeleitet", "forwarded"),
    "reassigned": ("neu zugewiesen", "reassigned"),
}

#: What a person tried, inside a refusal ("… may not {what}"); German as infinitive with and without "zu".
WHAT: dict[str, tuple[str, str, str]] = {
    "approve:sachlich": ("die sachliche Richtigkeit bescheinigen", "die sachliche Richtigkeit zu bescheinigen",
                         "sign the sachliche Richtigkeit"),
    "approve:rechnerisch": ("die rechnerische Richtigkeit bescheinigen", "die rechnerische Richtigkeit zu bescheinigen",
                            "sign the rechnerische Richtigkeit"),
    "approve:anordnung": ("die Anordnung geben", "die Anordnung zu geben", "sign the Anordnung"),
    "approve:freigabe": ("die Zahlung freigeben", "die Zahlung freizugeben", "sign the Freigabe (second person's release)"),
    "reject": ("diese Rechnung zurückweisen", "diese Rechnung zurückzuweisen", "return this invoice"),
    "send_back": ("diese Rechnung zurückgeben", "diese Rechnung zurückzugeben", "send this invoice back"),
    "forward": ("diese Rechnung weiterleiten", "diese Rechnung weiterzuleiten", "forward this invoice"),
    "comment": ("diese Rechnung kommentieren", "diese Rechnung zu kommentieren", "comment on this invoice"),
    "override_duplicate": ("einen Dublettenverdacht aufheben", "einen Dublettenverdacht aufzuheben", "override a duplicate flag"),
    "reopen": ("diese Rechnung wieder aufnehmen", "diese Rechnung wieder aufzunehmen", "reopen this invoice"),
    "reopen_rejected": ("ein abgewiesenes Dokument wieder aufnehmen", "ein abgewiesenes Dokument wieder aufzunehmen",
                        "reopen a rejected document"),
    "hold": ("eine Klärung setzen oder beenden", "eine Klärung zu setzen oder zu beenden", "start or close a clarification"),
    "delegate": ("diese Aufgabe delegieren", "diese Aufgabe zu delegieren", "delegate this task"),
}

#: What finance asks ``rules.capacity`` about (einvoice.finance passes these English phrases as
#: ``what``; worded here so its refusals read in one language). Pattern -> (de, de with "zu", en).
WHAT_PATTERNS: list[tuple[str, str, str, str]] = [
    (r"send a posting again", "eine Buchung erneut senden", "eine Buchung erneut zu senden", "send a posting again"),
    (r"record a booking made by hand", "eine von Hand gemachte Buchung eintragen",
     "eine von Hand gemachte Buchung einzutragen", "record a booking made by hand"),
    (r"enter a booking number", "eine Buchungsnummer eintragen", "eine Buchungsnummer einzutragen", "enter a booking number"),
    (r"prepare a payment run", "einen Zahlungslauf vorbereiten", "einen Zahlungslauf vorzubereiten", "prepare a payment run"),
    (r"release payment run (?P<run>\d+)", "den Zahlungslauf {run} freigeben", "den Zahlungslauf {run} freizugeben",
     "release payment run {run}"),
    (r"hand payment run (?P<run>\d+) to the bank again", "den Zahlungslauf {run} erneut an die Bank geben",
     "den Zahlungslauf {run} erneut an die Bank zu geben", "hand payment run {run} to the bank again"),
]

#: Other texts the approval layer writes for people (trail comments, reminders, routing by hand).
TEXTS: dict[str, tuple[str, str]] = {
    "unknown-amount": ("ein unbekannter Betrag", "an unknown amount"),
    "duplicate-blocks-release": (
        "Die Freigabe ist gesperrt, bis eine Person den Verdacht mit Begründung aufhebt.",
        "Release is blocked until a person overrides this with a reason."),
    "duplicate-exact": (
        "Rechnungsnummer {number} des Lieferanten mit {by} ist bereits als Rechnung #{other} eingegangen ({filename}, Stand {state})",
        "invoice number {number} from the seller with {by} was already received as invoice #{other} ({filename}, state {state})"),
    "duplicate-near": (
        "Rechnung #{other} des Lieferanten mit {by} hat die Nummer {other_number} (diese: {number}), denselben Betrag "
        "{amount} und dasselbe Rechnungsdatum {date}",
        "invoice #{other} from the seller with {by} has number {other_number} (this one: {number}), the same amount "
        "{amount} and the same issue date {date}"),
    "seller-vat": ("USt-IdNr. {id}", "VAT ID {id}"),
    "seller-id": ("Lieferantenkennung {id}", "seller ID {id}"),
    "forwarded-reason": ("weitergeleitet von {person} ({source}) an {code} {name}", "forwarded by {person} from {source} to {code} {name}"),
    "stale-who": (" ({outcome} durch {by})", " ({outcome} by {by})"),
    "reminder-what": ("{step} der Rechnung {number} ({seller}, {amount})", "{step} of invoice {number} ({seller}, {amount})"),
    "reminder-skonto-open": (" Skonto von {amount} verfällt nach dem {until} (noch {left} Tag(e)).",
                             " Skonto of {amount} is lost after {until} ({left} day(s) left)."),
    "reminder-skonto-lost": (" Das Skonto-Datum {until} ist verstrichen: {amount} verloren.",
                             " The Skonto date {until} has passed: {amount} lost."),
    "reminder-nobody": (" Heute darf niemand diesen Schritt entscheiden (Rollen, Wertgrenzen und Vertretungen in der "
                        "Organisationsdatei prüfen).",
                        " Nobody may decide this step today (check roles, limits and deputies in the organisation file)."),
    "escalation": ("seit {age} Tagen überfällig im Amt {department}: {what}.{risk}",
                   "overdue for {age} days in department {department}: {what}.{risk}"),
    "reminder": ("wartet seit {age} Tagen: {what}.{deadline}{risk}", "waiting for {age} days: {what}.{deadline}{risk}"),
    "reminder-deadline": (" Frist {date}.", " Deadline {date}."),
    "reopened-reason": ("von der Rechnungseingangsstelle ({person}) trotz Abweisung an {code} {name} gegeben",
                        "handed to {code} {name} by the central desk ({person}) despite the rejection"),
}


def _lang(lang: str | None) -> str:
    return lang or language()


def refusal(key: str, lang: str | None = None, **params) -> Refusal:
    """The refusal ``key`` (a rule ID, or ``RULE/variant``) worded in ``lang`` (default: the setting)."""
    return Refusal(key.split("/")[0], pick(REFUSALS[key], _lang(lang)).format(**params))


def text(key: str, lang: str | None = None, **params) -> str:
    return pick(TEXTS[key], _lang(lang)).format(**params)


def step_name(step: Step | str, lang: str | None = None) -> str:
    return pick(STEPS[Step(step)], _lang(lang))


def role_name(role: Role | str, lang: str | None = None) -> str:
    value = role.value if isinstance(role, Role) else str(role)
    return pick(ROLES[value], _lang(lang)) if value in ROLES else value


def action_name(action: str, lang: str | None = None) -> str:
    return pick(ACTIONS[action], _lang(lang)) if action in ACTIONS else action


def state_name(state: str | None, lang: str | None = None) -> str:
    return pick(STATES[state], _lang(lang)) if state in STATES else (state or "–")


def outcome_name(outcome: str | None, lang: str | None = None) -> str:
    return pick(OUTCOMES[outcome], _lang(lang)) if outcome in OUTCOMES else (outcome or "")


def what(key: str, lang: str | None = None, *, zu: bool = False) -> str:
    """The action named in a refusal; a free text (callers outside this layer) is used as it is."""
    if key not in WHAT:
        for pattern, de, de_zu, en in WHAT_PATTERNS:
            m = re.fullmatch(pattern, key)
            if m:
                return (en if _lang(lang) == "en" else (de_zu if zu else de)).format(**m.groupdict())
        return key
    de, de_zu, en = WHAT[key]
    return en if _lang(lang) == "en" else (de_zu if zu else de)


def money(amount: Decimal | None, currency: str | None = "EUR", lang: str | None = None) -> str:
    """1.234,56 EUR (German) or 1,234.56 EUR (English)."""
    if amount is None:
        return text("unknown-amount", lang)
    s = f"{Decimal(amount):,.2f}"
    if _lang(lang) != "en":
        s = s.replace(",", "\u202f").replace(".", ",").replace("\u202f", ".")
    return f"{s} {currency or 'EUR'}"


def date(day, lang: str | None = None) -> str:
    return f"{day:%d.%m.%Y}" if _lang(lang) != "en" else f"{day:%Y-%m-%d}"
