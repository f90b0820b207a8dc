"""The web pages in English: one table, German source string -> English text (issue #17).

The pages are written in German; every sentence a person reads is a German *source string* and
this table holds its English. The language is ``EINVOICE_LANGUAGE`` (``einvoice.language``,
German by default), read while the page is rendered, so each request gets the language set.

How a text is wrapped (the gettext convention, via ``jinja2.ext.i18n``; see ``install``):

* literal text in a template: ``{{ _("Posteingang") }}``; with values
  ``{{ _("Seite %(n)s", n=page) }}``; sentences with values or plurals as a block:
  ``{% trans n=days %}in {{ n }} Tagen{% endtrans %}`` / ``{% trans count=n %}… Tag{% pluralize %}… Tagen{% endtrans %}``
  (the source string is then ``in %(n)s Tagen``; blocks are trimmed: line breaks count as one space);
* a German text made in code and handed to a template (``title``, ``intro``, ``message``, the
  values of ``pages.STEP_TITLE`` ...): ``{{ title|tr }}`` — a plain string, autoescaped, and shown as
  it is when it is not a source string of this table (data, or a text already in the right language);
* a sentence with values made in code (a refusal, a page title with a number): ``tr("… %(n)s …", n=…)``.

Never ``_(variable)`` in a template: ``_`` marks its result as safe HTML (the source string is
trusted template text), so a value passed to it would not be escaped; ``|tr`` escapes.

A source string missing here is shown in German; ``tests/web/test_texts.py`` fails on every
source string of the converted templates and on every German text of the web modules that has no
entry here, and on German words in the English texts. This module must never hold texts of the
approval layer (``einvoice.approval.messages``) and never decide anything.
"""
from __future__ import annotations

from jinja2 import Environment
from markupsafe import Markup

from einvoice.language import language

ENGLISH: dict[str, str] = {
    # base.html, _macros.html
    "E-Rechnung": "E-invoice",
    "Zum Inhalt springen": "Skip to content",
    "Hauptnavigation": "Main navigation",
    "Posteingang": "Inbox",
    "Rechnungseingangsstelle": "Central desk",
    "Übersicht": "Overview",
    "Stadtkasse": "Treasury",
    "Abmelden": "Sign out",
    "Entscheidungen prüft der Server nach der Dienstanweisung; Hinweise mit Regel-ID erklären, warum etwas nicht geht.":
        "The server checks every decision against the service instruction (Dienstanweisung); notes with a rule ID "
        "explain why something is not possible.",
    "keine Frist": "no deadline",
    "überfällig seit %(count)s Tag": "overdue by %(count)s day",
    "überfällig seit %(count)s Tagen": "overdue by %(count)s days",
    "heute": "today",
    "morgen": "tomorrow",
    "in %(n)s Tagen": "in %(n)s days",
    "%(amount)s Skonto bis %(date)s": "%(amount)s Skonto until %(date)s",
    "noch %(count)s Tag": "%(count)s day left",
    "noch %(count)s Tage": "%(count)s days left",
    "nur noch heute": "today only",
    "Skonto (%(amount)s) am %(date)s verfallen": "Skonto (%(amount)s) lost on %(date)s",
    "Seiten": "Pages",
    "← vorige Seite": "← previous page",
    "Seite %(n)s": "Page %(n)s",
    "nächste Seite →": "next page →",
    # login.html, routes/auth.py, auth.py, sessions.py, deps.py
    "Anmelden": "Sign in",
    "Sie sind abgemeldet.": "You have signed out.",
    "Benutzername": "User name",
    "Passwort": "Password",
    "Über das Intranet (Single Sign-on) sind Sie automatisch angemeldet, wenn Ihr Konto bekannt ist.":
        "On the intranet (single sign-on) you are signed in automatically if your account is known.",
    "Zu viele Anmeldeversuche in kurzer Zeit. Bitte warten Sie einige Minuten und versuchen Sie es dann erneut; "
    "wenn Sie Ihr Passwort vergessen haben, wenden Sie sich an die IT.":
        "Too many sign-in attempts in a short time. Please wait a few minutes and try again; if you have forgotten "
        "your password, contact IT.",
    "Die Anmeldung ist gerade ausgelastet. Bitte versuchen Sie es in einigen Sekunden noch einmal.":
        "Sign-in is busy right now. Please try again in a few seconds.",
    "Anmeldung fehlgeschlagen: Benutzername oder Passwort ist falsch, oder das Konto ist vorübergehend gesperrt.":
        "Sign-in failed: the user name or password is wrong, or the account is locked for a while.",
    "Das Anmeldeformular ist abgelaufen (CSRF-Schutz). Bitte laden Sie die Anmeldeseite neu.":
        "The sign-in form has expired (CSRF protection). Please reload the sign-in page.",
    "Die Anmeldung mit Passwort ist abgeschaltet; bitte melden Sie sich über das Single Sign-on an.":
        "Sign-in with a password is switched off; please sign in through single sign-on.",
    "Die Anmeldung über das Single Sign-on war nicht eindeutig und wurde abgelehnt. "
    "Bitte wenden Sie sich an die IT, falls das wieder vorkommt.":
        "The single sign-on was ambiguous and has been refused. Please contact IT if this happens again.",
    "Das Formular ist abgelaufen oder kam nicht von dieser Seite (CSRF-Schutz). "
    "Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.":
        "The form has expired or did not come from this page (CSRF protection). Please reload the page and try again.",
    # error.html, error_pages.py, the refusals of the list routes
    "Zum Posteingang": "Go to the inbox",
    "Anfrage abgelehnt": "Request refused",
    "Diese Anfrage kann nicht bearbeitet werden. Bitte gehen Sie zurück und versuchen Sie es erneut.":
        "This request cannot be processed. Please go back and try again.",
    "Nicht angemeldet": "Not signed in",
    "Bitte melden Sie sich an.": "Please sign in.",
    "Nicht erlaubt": "Not allowed",
    "Das dürfen Sie nicht.": "You may not do that.",
    "Nicht gefunden": "Not found",
    "Diese Seite gibt es nicht.": "This page does not exist.",
    "Diese Seite oder Rechnung gibt es nicht, oder sie gehört zu einem Amt, für das Sie nicht freigeschaltet sind.":
        "This page or invoice does not exist, or it belongs to a department you have no access to.",
    "Nicht möglich": "Not possible",
    "Diese Seite kann so nicht aufgerufen werden (z. B. ein Formular als Link geöffnet). "
    "Bitte gehen Sie zurück und benutzen Sie die Schaltflächen der Seite.":
        "This page cannot be opened like this (for example a form opened as a link). Please go back and use the "
        "buttons on the page.",
    "Zu groß": "Too large",
    "Das Formular ist zu groß und wurde nicht angenommen. Bitte kürzen Sie den Text.":
        "The form is too large and was not accepted. Please shorten the text.",
    "Zu viele Anfragen": "Too many requests",
    "Zu viele Anfragen in kurzer Zeit. Bitte warten Sie einen Moment.":
        "Too many requests in a short time. Please wait a moment.",
    "Fehler": "Error",
    "Bei der Bearbeitung ist ein Fehler aufgetreten. Bitte versuchen Sie es später erneut; "
    "wenn es wieder vorkommt, wenden Sie sich an die IT.":
        "Something went wrong while processing this. Please try again later; if it happens again, contact IT.",
    "Nicht erreichbar": "Not available",
    "Der Dienst ist gerade nicht erreichbar. Bitte versuchen Sie es später erneut.":
        "The service is not available right now. Please try again later.",
    "Ungültige Adresse oder Eingabe": "Invalid address or input",
    "Die Adresse oder eine Eingabe hat nicht das erwartete Format (z. B. eine Rechnungsnummer statt der internen "
    "Nummer). Bitte gehen Sie zum Posteingang zurück.":
        "The address or an input does not have the expected format (for example an invoice number instead of the "
        "internal number). Please go back to the inbox.",
    "Archiv nicht erreichbar": "Archive not available",
    "Das Original kann gerade nicht aus dem Archiv gelesen werden. Bitte später erneut versuchen.":
        "The original cannot be read from the archive right now. Please try again later.",
    "Die Warteschlange der zentralen Rechnungseingangsstelle sehen nur deren Mitarbeitende.":
        "Only the staff of the central desk see its queue.",
    "Sie sind für kein Amt freigeschaltet.": "You have no access to any department.",
    "Die Kassenansicht sehen die Stadtkasse, die Rechnungsprüfung und die Anordnungsbefugten.":
        "The treasury view is for the treasury, the audit office and those who sign the Anordnung.",
    # inbox.html (inbox, desk, overview), lists and pages.py
    "Zentrale Rechnungseingangsstelle": "Central desk",
    "Übersicht offener Aufgaben": "Overview of open tasks",
    "Ihre offenen Aufgaben (auch als Vertretung). Zuerst Rechnungen mit offenem Skonto, das am frühesten endet "
    "(verpasstes Skonto ist verlorenes Geld), dann nach Fälligkeit; überfällige Rechnungen ohne offenes Skonto danach.":
        "Your open tasks (also as a deputy). First invoices with an open Skonto, the one ending soonest first (a "
        "missed Skonto is money lost), then by due date; overdue invoices without an open Skonto after them.",
    "Alle offenen Aufgaben der Ämter, für die Sie freigeschaltet sind (nur lesen; entscheiden kann nur, wer im "
    "Posteingang die Aufgabe hat).":
        "All open tasks of the departments you have access to (read only; only the person with the task in their "
        "inbox can decide).",
    "Rechnungen, die keinem Amt zugeordnet werden konnten oder an die Rechnungseingangsstelle (%(desk)s) "
    "weitergeleitet wurden.":
        "Invoices that could not be assigned to a department or were forwarded to the central desk (%(desk)s).",
    "Suche": "Search",
    "Lieferant, Rechnungsnr., Betrag oder Leitweg-ID": "Supplier, invoice no., amount or Leitweg-ID",
    "Schritt": "Step",
    "alle": "all",
    "Amt": "Department",
    "Sortierung": "Sort order",
    "Filtern": "Filter",
    "zurücksetzen": "reset",
    "Sortieren nach %(order)s": "Sort by %(order)s",
    "Offene Aufgaben, sortiert nach %(order)s": "Open tasks, sorted by %(order)s",
    "Frist": "Deadline",
    "Rechnung": "Invoice",
    "Lieferant": "Supplier",
    "Betrag": "Amount",
    "Skonto": "Skonto",
    "fällig am": "due on",
    "Leitweg-ID": "Leitweg-ID",
    "Hinweise": "Notes",
    "Nr. %(id)s": "No. %(id)s",
    "vom %(date)s": "of %(date)s",
    "Dublettenverdacht": "Possible duplicate",
    "Keine offenen Aufgaben.": "No open tasks.",
    "Keine offenen Aufgaben für diese Filter.": "No open tasks for these filters.",
    "Zurückgegebene Rechnungen": "Returned invoices",
    "zuletzt geändert": "last changed",
    "Frist (Skonto zuerst)": "Deadline (Skonto first)",
    "Fälligkeit": "Due date",
    "Betrag (höchster zuerst)": "Amount (highest first)",
    "Lieferant (A–Z)": "Supplier (A–Z)",
    "Eingang (älteste zuerst)": "Received (oldest first)",
    "mit offenem Skonto": "with open Skonto",
    "fällig": "due",
    "überfällig": "overdue",
    "ohne Fälligkeit": "without due date",
    "Sachlich richtig": "Sachlich richtig (factual check)",
    "Rechnerisch richtig": "Rechnerisch richtig (arithmetic check)",
    "Anordnung": "Anordnung (payment order)",
    "Freigabe": "Freigabe (release)",
    # pages.DONE_MESSAGE (shown on the invoice page)
    "Der Schritt wurde bestätigt.": "The step has been approved.",
    "Die Rechnung wurde zurückgewiesen.": "The invoice has been rejected.",
    "Die Rechnung wurde an den vorigen Schritt zurückgegeben.": "The invoice has been sent back to the previous step.",
    "Die Rechnung wurde weitergeleitet.": "The invoice has been forwarded.",
    "Der Kommentar wurde gespeichert.": "The comment has been saved.",
    "Der Dublettenverdacht wurde mit Begründung aufgehoben.": "The duplicate flag has been overridden with a reason.",
    # forms.py (TEXT-TOO-LONG, shown on the invoice page)
    "Der Kommentar": "The comment",
    "Die Begründung": "The reason",
    "%(label)s ist zu lang: %(n)s Zeichen, erlaubt sind höchstens %(limit)s. Bitte kürzen Sie den Text; gespeichert "
    "wurde nichts.":
        "%(label)s is too long: %(n)s characters, at most %(limit)s are allowed. Please shorten the text; nothing "
        "was saved.",
    # made in invoice_view.py and routes/decisions.py, wrapped with invoice.html (see the web README)
    "Rechnung %(id)s": "Invoice %(id)s",
    "Für diese Rechnung ist kein Original im Archiv verzeichnet.": "No original of this invoice is recorded in the archive.",
    "Das Original ist im Archiv gerade nicht erreichbar; die Angaben unten stammen aus der Datenbank.":
        "The original cannot be reached in the archive right now; the details below come from the database.",
    "„%(raw)s“ ist kein Betrag; bitte z. B. 1.234,56 eingeben.": "“%(raw)s” is not an amount; please enter e.g. 1,234.56.",
    # treasury.html
    "Stadtkasse: angeordnete, gebuchte und bezahlte Rechnungen": "Treasury: released, posted and paid invoices",
    "Stand": "State",
    "Fällig": "Due",
    "Skonto bis": "Skonto until",
    "Keine Rechnungen in diesem Stand.": "No invoices in this state.",
    # upload.html, receipt.html, upload.py, routes/upload.py
    "Rechnung einreichen": "Submit an invoice",
    "Hier reichen Sie als Lieferant eine E-Rechnung an %(org)s ein: eine Datei je Vorgang, als XML (XRechnung, UBL "
    "oder CII) oder als PDF mit eingebetteter XML (ZUGFeRD/Factur-X), höchstens %(max)s Bytes. Sie erhalten sofort "
    "eine Eingangsbestätigung mit Eingangsnummer, Prüfsumme (SHA-256) und Prüfergebnis.":
        "Here you, as a supplier, submit an e-invoice to %(org)s: one file per submission, as XML (XRechnung, UBL "
        "or CII) or as a PDF with embedded XML (ZUGFeRD/Factur-X), at most %(max)s bytes. You immediately get an "
        "acknowledgement of receipt with a receipt number, checksum (SHA-256) and the result of the check.",
    "Rechnungsdatei (XML oder PDF)": "Invoice file (XML or PDF)",
    "Ihre E-Mail-Adresse für Rückfragen (freiwillig)": "Your e-mail address for queries (optional)",
    "Zugangscode": "Access code",
    "Einreichen": "Submit",
    "Für Programme: %(api)s mit der Datei als Inhalt der Anfrage (siehe Dokumentation). Rechnungen über Peppol "
    "senden Sie bitte an die Peppol-ID %(peppol)s und die Leitweg-ID.":
        "For programs: %(api)s with the file as the body of the request (see the documentation). Please send "
        "invoices over Peppol to the Peppol ID %(peppol)s and the Leitweg-ID.",
    "Eingangsbestätigung": "Acknowledgement of receipt",
    "Eingangsbestätigung %(receipt)s": "Acknowledgement of receipt %(receipt)s",
    "%(org)s bestätigt den Eingang der folgenden Datei. Bitte bewahren Sie diese Bestätigung auf (z. B. drucken "
    "oder als Datei speichern).":
        "%(org)s confirms the receipt of the following file. Please keep this acknowledgement (for example print "
        "it or save it as a file).",
    "Eingangsnummer": "Receipt number",
    "Eingegangen am": "Received on",
    "Datei": "File",
    "%(size)s Bytes": "%(size)s bytes",
    "Ergebnis": "Result",
    "Rückfragen an": "Queries to",
    "Diese Datei war bereits eingegangen (gleiche SHA-256). Sie wurde nicht noch einmal angelegt; es gilt das "
    "Ergebnis oben.":
        "This file had already been received (same SHA-256). It was not recorded again; the result above applies.",
    "Hinweise der Prüfung": "Findings of the check",
    "Regel": "Rule",
    "Schwere": "Severity",
    "Meldung": "Message",
    "schwerwiegend": "fatal",
    "Warnung": "warning",
    "Weitere Rechnung einreichen": "Submit another invoice",
    "angenommen": "accepted",
    "abgewiesen": "rejected",
    "keine E-Rechnung": "not an e-invoice",
    "nicht geprüft": "not checked",
    "in Bearbeitung": "in progress",
    "Angenommen: Die E-Rechnung ist gültig und wurde zur Bearbeitung weitergeleitet.":
        "Accepted: the e-invoice is valid and has been passed on for processing.",
    "Abgewiesen: Die Rechnung verletzt Regeln der E-Rechnung (siehe Hinweise). "
    "Bitte korrigieren Sie sie und reichen Sie sie neu ein.":
        "Rejected: the invoice breaks rules of the e-invoice (see the findings). Please correct it and submit it again.",
    "Keine E-Rechnung: Die Datei enthält keine gültige strukturierte Rechnung (XRechnung oder ZUGFeRD/Factur-X). "
    "Sie wird aufbewahrt, aber nicht als E-Rechnung bearbeitet. Bitte senden Sie eine XRechnung oder ZUGFeRD-Rechnung.":
        "Not an e-invoice: the file holds no valid structured invoice (XRechnung or ZUGFeRD/Factur-X). It is kept "
        "but not processed as an e-invoice. Please send an XRechnung or ZUGFeRD invoice.",
    "Eingegangen, aber nicht automatisch geprüft (siehe Hinweise); die Rechnungseingangsstelle prüft die Datei von Hand.":
        "Received, but not checked automatically (see the findings); the central desk checks the file by hand.",
    "Die Datei war bereits eingegangen und ist in Bearbeitung.": "The file had already been received and is in progress.",
    "Zu viele Einreichungen von Ihrer Adresse in kurzer Zeit. Bitte warten Sie etwa %(seconds)s Sekunden und "
    "versuchen Sie es dann erneut.":
        "Too many submissions from your address in a short time. Please wait about %(seconds)s seconds and try again.",
    "Die Datei ist leer (0 Bytes). Bitte wählen Sie die Rechnungsdatei aus.":
        "The file is empty (0 bytes). Please choose the invoice file.",
    "Diese Datei ist weder XML noch PDF. Angenommen werden E-Rechnungen als XML (XRechnung, UBL oder CII) oder als "
    "PDF mit eingebetteter XML (ZUGFeRD/Factur-X).":
        "This file is neither XML nor PDF. E-invoices are accepted as XML (XRechnung, UBL or CII) or as a PDF with "
        "embedded XML (ZUGFeRD/Factur-X).",
    "Die Datei ist zu groß (%(size)s Bytes oder mehr); erlaubt sind höchstens %(max)s Bytes je Rechnung. Sie wurde "
    "nicht angenommen.":
        "The file is too large (%(size)s bytes or more); at most %(max)s bytes per invoice are allowed. It was not "
        "accepted.",
    "Die Antwortadresse ist keine gültige E-Mail-Adresse. Bitte korrigieren Sie sie oder lassen Sie das Feld leer.":
        "The reply address is not a valid e-mail address. Please correct it or leave the field empty.",
    "Die Einreichung über diese Seite ist nicht eingerichtet.": "Submitting through this page is not set up.",
    "Die Datei konnte gerade nicht sicher abgelegt werden und wurde nicht angenommen. Bitte versuchen Sie es später "
    "erneut.":
        "The file could not be stored safely just now and was not accepted. Please try again later.",
    "Der Zugangscode (Authorization: Bearer …) fehlt oder ist falsch.":
        "The access code (Authorization: Bearer …) is missing or wrong.",
    "Der Zugangscode fehlt oder ist falsch.": "The access code is missing or wrong.",
    "Bitte wählen Sie eine Rechnungsdatei aus.": "Please choose an invoice file.",
    "%(date)s, %(time)s Uhr (%(zone)s)": "%(date)s, %(time)s (%(zone)s)",
    # inbox.html: bulk approval, Klärung and delegation (routes/desk_actions.py)
    "Abgewiesene Dokumente und Dateien ohne E-Rechnung": "Rejected documents and files that are no e-invoice",
    "Für eine Sammelbestätigung zuerst nach einem Schritt filtern.": "To approve several at once, first filter by one step.",
    "Auswahl": "Select",
    "%(invoice)s auswählen": "Select %(invoice)s",
    "in Klärung bis %(date)s": "on hold (Klärung) until %(date)s",
    "an Sie delegiert": "delegated to you",
    "delegiert an %(person)s": "delegated to %(person)s",
    "Anmerkung zur Sammelbestätigung (freiwillig)": "Comment on the bulk approval (optional)",
    "Bestätigt wird je Rechnung der in der Liste gezeigte Betrag („rechnerisch richtig mit … EUR“).":
        "For each invoice the amount shown in the list is confirmed (“rechnerisch richtig with … EUR”).",
    "Ausgewählte bestätigen: %(step)s": "Approve selected: %(step)s",
    "Alle auf dieser Seite bestätigen": "Approve all on this page",
    "Jede Rechnung wird einzeln geprüft (Rollen, Wertgrenzen, Funktionstrennung, Klärung) und einzeln protokolliert.":
        "Each invoice is checked on its own (roles, Wertgrenzen, separation of duties, Klärung) and recorded on its own.",
    # bulk_result.html
    "Sammelbestätigung": "Bulk approval",
    "Eine Sammelbestätigung gilt für einen Schritt; bitte im Posteingang zuerst nach einem Schritt filtern.":
        "A bulk approval is for one step; please first filter the inbox by a step.",
    "← Posteingang (%(step)s)": "← Inbox (%(step)s)",
    "Entscheidung erfasst,": "decision recorded,",
    "Entscheidungen erfasst,": "decisions recorded,",
    "abgelehnt. Jede Rechnung wurde einzeln nach der Dienstanweisung geprüft und protokolliert.":
        "refused. Each invoice was checked on its own against the service instruction and recorded.",
    "Erfasst": "Recorded",
    "Abgelehnt": "Refused",
    "Grund": "Reason",
    # desk_documents.html, pages.DESK_STATE_TITLE, pages.CHANNEL_TITLE
    "Abgewiesene Dokumente": "Rejected documents",
    "Die abgewiesenen Dokumente sieht nur die zentrale Rechnungseingangsstelle.":
        "Only the central desk sees the rejected documents.",
    "← Rechnungseingangsstelle": "← Central desk",
    "Dokumente, die die Prüfung abgewiesen hat, und Dateien, die keine E-Rechnung im Sinne des § 14 UStG sind (z. B. "
    "reine PDF-Dateien, Profil MINIMUM oder BASIC WL), die neuesten zuerst. Ein abgewiesenes Dokument kann mit "
    "Begründung wieder aufgenommen werden (etwa nach einer Erklärung des Lieferanten); es geht dann in die Freigabe.":
        "Documents the check rejected, and files that are no e-invoice under § 14 UStG (for example plain PDF files, "
        "profile MINIMUM or BASIC WL), newest first. A rejected document can be reopened with a reason (say after an "
        "explanation from the supplier); it then goes into approval.",
    "Lieferant, Rechnungsnr. oder Datei": "Supplier, invoice no. or file name",
    "Art": "Kind",
    "Eingangskanal": "Channel of receipt",
    "Abgewiesene Dokumente und Dateien ohne E-Rechnung, neueste zuerst":
        "Rejected documents and files that are no e-invoice, newest first",
    "Eingang": "Received",
    "Kanal": "Channel",
    "Dokument": "Document",
    "Grund (Regel)": "Reason (rule)",
    "kann wieder aufgenommen werden": "can be reopened",
    "Keine abgewiesenen Dokumente für diese Filter.": "No rejected documents for these filters.",
    "Keine abgewiesenen Dokumente.": "No rejected documents.",
    "abgewiesen (Prüfung)": "rejected (check)",
    "E-Mail": "E-mail",
    "Upload": "Upload",
    "Peppol": "Peppol",
    "Verzeichnis": "Directory",
    "Ablage (S3)": "Storage (S3)",
    # pages.DESK_DONE, _desk_invoice.html (on the invoice page)
    "Das Dokument wurde wieder aufgenommen und ist jetzt in der Freigabe (sachliche Richtigkeit).":
        "The document has been reopened and is now in approval (sachliche Richtigkeit).",
    "Die Klärung wurde eingetragen; der Schritt wartet, bis sie abgeschlossen ist.":
        "The Klärung has been recorded; the step waits until it is closed.",
    "Die Klärung wurde abgeschlossen; der Schritt kann wieder bestätigt werden.":
        "The Klärung has been closed; the step can be approved again.",
    "Die Aufgabe wurde delegiert.": "The task has been delegated.",
    "In Klärung bis %(date)s": "On hold (Klärung) until %(date)s",
    "(Termin überschritten)": "(date passed)",
    "– eingetragen von %(person)s am %(date)s": "– recorded by %(person)s on %(date)s",
    "Bis zum Abschluss der Klärung kann der Schritt nicht bestätigt werden; die Fristen laufen weiter (Frist %(date)s).":
        "Until the Klärung is closed the step cannot be approved; the deadlines keep running (deadline %(date)s).",
    "Bis zum Abschluss der Klärung kann der Schritt nicht bestätigt werden; die Fristen laufen weiter.":
        "Until the Klärung is closed the step cannot be approved; the deadlines keep running.",
    "Ergebnis der Klärung (freiwillig)": "Outcome of the Klärung (optional)",
    "Klärung abschließen": "Close the Klärung",
    "Klärung und Delegation": "Klärung and delegation",
    "Delegiert an %(person)s: nur diese Person (oder ihre Vertretung) kann den Schritt bestätigen.":
        "Delegated to %(person)s: only this person (or their substitute) can approve the step.",
    "Klärung eintragen": "Put on hold (Klärung)",
    "Was muss geklärt werden?": "What needs to be clarified?",
    "Klärung bis": "On hold until",
    "Aufgabe delegieren": "Delegate the task",
    "Delegieren an (darf %(step)s nach der Dienstanweisung bestätigen)":
        "Delegate to (may approve %(step)s under the service instruction)",
    "Anmerkung": "Comment",
    "Delegieren": "Delegate",
    "Begründung der Wiederaufnahme (z. B. Erklärung des Lieferanten)": "Reason for reopening (e.g. the supplier's explanation)",
    "wie bei neuem Eingang zuordnen (Leitweg-ID, Bestellung, Lieferant)":
        "route as a new arrival (Leitweg-ID, purchase order, supplier)",
    "Wieder aufnehmen": "Reopen",
    "Keine E-Rechnung nach § 14 UStG: das Dokument bleibt als Dokument erhalten und geht nicht in die Freigabe. "
    "Bitte den Lieferanten um eine E-Rechnung bitten.":
        "Not an e-invoice under § 14 UStG: the document is kept as a document and does not go into approval. "
        "Please ask the supplier for an e-invoice.",
    "Frühere Klärungen:": "Earlier Klärungen:",
    "%(person)s, abgeschlossen von %(closer)s am %(date)s": "%(person)s, closed by %(closer)s on %(date)s",
    # substitutes.html (/vertretung)
    "Vertretung": "Substitutes",
    "Abwesenheitsvertretung": "Substitute while absent",
    "Die Vertretung wurde eingetragen.": "The substitute has been recorded.",
    "Die Vertretung wurde beendet.": "The substitute has been ended.",
    "Wer Sie während Ihrer Abwesenheit vertritt. Die Vertretung entscheidet im Zeitraum mit Ihren Rollen und "
    "Wertgrenzen; im Protokoll steht „als Vertretung für“ Sie. Vor und nach dem Zeitraum wird sie abgelehnt.":
        "Who stands in for you while you are away. In the period the substitute decides with your roles and "
        "Wertgrenzen; the trail says “as substitute for” you. Before and after the period they are refused.",
    "Nicht ausgeführt:": "Not done:",
    "Vertretung eintragen": "Name a substitute",
    "Vertretung durch": "Substitute",
    "von": "from",
    "bis (einschließlich)": "to (inclusive)",
    "Ihre Vertretungen": "Your substitutes",
    "Zeitraum": "Period",
    "Aktion": "Action",
    "beendet am %(date)s": "ended on %(date)s",
    "läuft": "running",
    "abgelaufen": "expired",
    "geplant": "planned",
    "Beenden": "End",
    "Sie haben keine Vertretung eingetragen.": "You have named no substitute.",
    "Sie vertreten": "You stand in for",
    "(läuft)": "(running)",
    # notices.html, _invoice_notices.html, notices_view.py, routes/notices.py
    "Benachrichtigungen": "Notifications",
    "Nicht zugestellte Benachrichtigungen": "Undelivered notifications",
    "Nicht zugestellte Benachrichtigungen sieht nur die zentrale Rechnungseingangsstelle.":
        "Only the central desk sees the undelivered notifications.",
    "E-Mails an Lieferanten und Bearbeitende, die nicht zugestellt werden konnten (nicht zustellbar, keine "
    "E-Mail-Adresse, Zustellung ungewiss). Sie warten auf eine Person: den Lieferanten anders benachrichtigen oder "
    "die Ursache beheben und erneut senden:":
        "E-mails to suppliers and staff that could not be delivered (undeliverable, no e-mail address, delivery "
        "uncertain). They wait for a person: tell the supplier another way, or fix the cause and send again:",
    "%(count)s Benachrichtigung wartet.": "%(count)s notification waiting.",
    "%(count)s Benachrichtigungen warten.": "%(count)s notifications waiting.",
    "Nr.": "No.",
    "Empfänger": "Recipient",
    "Zeit": "Time",
    "Hinweis": "Note",
    "%(count)s Versuch": "%(count)s attempt",
    "%(count)s Versuche": "%(count)s attempts",
    "bearbeitet von %(person)s": "handled by %(person)s",
    "Zu dieser Rechnung wurde keine E-Mail verschickt oder vorgemerkt.": "No e-mail was sent or queued about this invoice.",
    "Keine Benachrichtigung wartet auf eine Person.": "No notification is waiting for a person.",
    "wartet auf Versand": "waiting to be sent",
    "wird gesendet": "being sent",
    "gesendet": "sent",
    "nicht zustellbar": "undeliverable",
    "keine E-Mail-Adresse": "no e-mail address",
    "Zustellung ungewiss": "delivery uncertain",
    "Zurückweisung an den Lieferanten": "Rejection to the supplier",
    "Hinweis „nicht geprüft“ an den Lieferanten": "Notice “not checked” to the supplier",
    "Hinweis „keine E-Rechnung“ an den Lieferanten": "Notice “not an e-invoice” to the supplier",
    "Eingangsbestätigung an den Lieferanten": "Acknowledgement of receipt to the supplier",
    "Neue Aufgabe (an Bearbeitende)": "New task (to staff)",
    "Skonto endet bald (an Bearbeitende)": "Skonto ends soon (to staff)",
    "Eskalation: Aufgabe überfällig (an Amtsleitung)": "Escalation: task overdue (to the head of department)",
    "Keine E-Mail-Adresse des Empfängers bekannt.": "No e-mail address of the recipient is known.",
    "Der Mailserver hat die Nachricht abgelehnt.": "The mail server refused the message.",
    "Der Mailserver war nicht erreichbar.": "The mail server could not be reached.",
    "Der Mailserver hat vorübergehend abgelehnt.": "The mail server refused for the time being.",
    "Die Anmeldung am Mailserver wurde abgelehnt.": "The mail server refused the login.",
    "Die Verbindung brach bei der Übergabe ab; die Nachricht ist vielleicht angekommen.":
        "The connection broke off during the hand-over; the message may have arrived.",
    "Der Versand ist nicht eingerichtet.": "Sending is not set up.",
    "Die Nachricht konnte nicht erstellt werden.": "The message could not be built.",
    "Siehe Code.": "See the code.",
    # _pdf_viewer.html
    "Rechnung als PDF": "Invoice as PDF",
    "PDF der Rechnung %(file)s": "PDF of the invoice %(file)s",
    "Ihr Browser zeigt PDFs hier nicht an.": "Your browser does not show PDFs here.",
    "PDF öffnen": "Open the PDF",
    "oder": "or",
    "herunterladen": "download it",
    "Das PDF ist die Sichtkomponente; maßgeblich sind die Rechnungsdaten (XML) daneben.":
        "The PDF is the human-readable view; the invoice data (XML) beside it is what counts.",
    "In eigenem Fenster öffnen": "Open in its own window",
    "Anlage als PDF: %(name)s": "Attachment as PDF: %(name)s",
    "Anlage %(file)s": "Attachment %(file)s",
    # invoice.html
    "Gutschrift": "Credit note",
    "Korrekturrechnung": "Corrected invoice",
    "Teilrechnung": "Partial invoice",
    "Gutschriftsverfahren (Self-billing)": "Self-billed invoice",
    "Teilbaurechnung": "Partial construction invoice",
    "Teilschlussrechnung": "Partial final construction invoice",
    "Schlussrechnung": "Final construction invoice",
    "SEPA-Überweisung": "SEPA credit transfer",
    "Überweisung": "Credit transfer",
    "SEPA-Lastschrift": "SEPA direct debit",
    "Auslandsüberweisung": "International transfer",
    "Karte": "Card",
    "Kreditkarte": "Credit card",
    "Debitkarte": "Debit card",
    "bar": "cash",
    "Dauerauftrag": "Standing order",
    "nicht angegeben": "not given",
    "Stk": "pcs",
    "Std": "h",
    "Tag": "day",
    "Monat": "month",
    "Jahr": "year",
    "pauschal": "lump sum",
    "Satz": "set",
    "USt-IdNr.": "VAT ID",
    "Steuernummer": "Tax number",
    "Kennung": "Identifier",
    "Register": "Register",
    "Kontakt": "Contact",
    "Telefon": "Phone",
    "E-Adresse": "Electronic address",
    "%(action)s nicht möglich:": "%(action)s not possible:",
    "← Posteingang": "← Inbox",
    "von %(supplier)s": "from %(supplier)s",
    "von unbekanntem Lieferanten": "from an unknown supplier",
    "Zu zahlen": "To pay",
    "%(percent)s %% bis %(date)s": "%(percent)s %% until %(date)s",
    "verfallen": "lost",
    "Offener Schritt": "Open step",
    "frühere Rechnung %(id)s": "earlier invoice %(id)s",
    "gleiche Nummer": "same number",
    "ähnliche Nummer": "similar number",
    "Die Freigabe ist gesperrt, bis jemand den Verdacht mit Begründung aufhebt.":
        "Approval is blocked until someone overrides the suspicion with a reason.",
    "Aufheben": "Override",
    "Begründung: warum ist das keine Dublette?": "Reason: why is this not a duplicate?",
    "Dublettenverdacht aufheben": "Override the duplicate flag",
    "sachliche Richtigkeit": "sachliche Richtigkeit (factual check)",
    "rechnerische Richtigkeit": "rechnerische Richtigkeit (arithmetic check)",
    "Freigabe (Zweitfreigabe der Zahlung)": "Freigabe (second release of the payment)",
    "%(label)s, Amt %(department)s": "%(label)s, department %(department)s",
    "Entscheiden können heute: %(people)s": "Who can decide today: %(people)s",
    "Heute kann niemand diesen Schritt entscheiden (Rollen, Wertgrenzen, Vertretungen, Funktionstrennung). "
    "Bitte die Amtsleitung oder die Rechnungseingangsstelle ansprechen.":
        "Nobody can decide this step today (roles, Wertgrenzen, deputies, separation of duties). Please contact the "
        "head of department or the central desk.",
    "Rechnerisch richtig mit … EUR": "Rechnerisch richtig with … EUR",
    "Betrag zur Bestätigung eintippen; die Rechnung verlangt %(amount)s":
        "type the amount to confirm it; the invoice asks for %(amount)s",
    "Anmerkung (freiwillig)": "Comment (optional)",
    "Sachlich richtig bestätigen": "Confirm sachlich richtig",
    "Rechnerisch richtig bestätigen": "Confirm rechnerisch richtig",
    "Zahlung anordnen": "Order the payment (Anordnung)",
    "Zahlung freigeben": "Release the payment",
    "Zurückweisen, zurückgeben oder weiterleiten": "Reject, send back or forward",
    "Grund der Zurückweisung (liest der Lieferant)": "Reason for the rejection (the supplier reads it)",
    "Rechnung zurückweisen": "Reject the invoice",
    "Zurückweisen": "Reject",
    "Grund für die Rückgabe an den vorigen Schritt": "Reason for sending it back to the previous step",
    "An vorigen Schritt zurückgeben": "Send back to the previous step",
    "Zurückgeben": "Send back",
    "Weiterleiten an Amt": "Forward to department",
    "Weiterleiten": "Forward",
    "Lieferant (Verkäufer)": "Supplier (seller)",
    "Rechnungsempfänger (Käufer)": "Invoice recipient (buyer)",
    "Zahlungsempfänger": "Payee",
    "Steuervertreter": "Tax representative",
    "Angaben und Bezüge": "Details and references",
    "Rechnungsnummer": "Invoice number",
    "Rechnungsdatum": "Invoice date",
    "Bestellnummer": "Purchase order",
    "Vertrag": "Contract",
    "Projekt": "Project",
    "Vergabe/Los": "Tender/lot",
    "Auftragsnummer": "Sales order",
    "Buchungsreferenz": "Accounting reference",
    "Leistungszeitraum": "Service period",
    "Lieferdatum": "Delivery date",
    "Lieferort": "Place of delivery",
    "Bezug auf Rechnung": "Preceding invoice",
    "Währung": "Currency",
    "Positionen": "Lines",
    "Pos.": "Line",
    "Bezeichnung": "Item",
    "Menge": "Quantity",
    "Einheit": "Unit",
    "Einzelpreis": "Unit price",
    "USt": "VAT",
    "Netto": "Net",
    "Art.-Nr. %(id)s": "Item no. %(id)s",
    "je %(n)s": "per %(n)s",
    "keine Positionen": "no lines",
    "Nachlässe und Zuschläge": "Allowances and charges",
    "Basis": "Base",
    "Zuschlag": "Charge",
    "Nachlass": "Allowance",
    "Umsatzsteuer": "VAT",
    "Kategorie": "Category",
    "Bemessungsgrundlage": "Taxable amount",
    "Steuer": "Tax",
    "Summen": "Totals",
    "Summe Positionen (netto)": "Sum of lines (net)",
    "− Nachlässe": "− Allowances",
    "+ Zuschläge": "+ Charges",
    "Gesamt netto": "Total net",
    "+ Umsatzsteuer": "+ VAT",
    "Gesamt brutto": "Total gross",
    "− bereits gezahlt": "− paid already",
    "Rundung": "Rounding",
    "Zahlbetrag": "Amount payable",
    "Zahlung": "Payment",
    "Zahlungsbedingungen": "Payment terms",
    "%(percent)s %% bei Zahlung innerhalb von %(days)s Tagen auf %(amount)s":
        "%(percent)s %% if paid within %(days)s days, on %(amount)s",
    "%(percent)s %% bei Zahlung innerhalb von %(days)s Tagen": "%(percent)s %% if paid within %(days)s days",
    "Zahlungsart": "Means of payment",
    "Kontoinhaber": "Account holder",
    "Verwendungszweck": "Remittance information",
    "Lastschrift": "Direct debit",
    "Mandat %(mandate)s, Gläubiger-ID %(creditor)s": "Mandate %(mandate)s, creditor ID %(creditor)s",
    "Bemerkungen": "Remarks",
    "Anlagen": "Attachments",
    "Anlage %(n)s": "Attachment %(n)s",
    "%(file)s herunterladen": "Download %(file)s",
    "ansehen": "view",
    "externer Verweis:": "external link:",
    "keine Anlagen": "no attachments",
    "festgelegt von": "set by",
    "aus den Rechnungspositionen (BT-133)": "from the invoice lines (BT-133)",
    "aus der Rechnung (BT-19)": "from the invoice (BT-19)",
    "Vorgabe des Amtes": "default of the department",
    "Kontierung": "Kontierung (account assignment)",
    "Sachkonto": "Ledger account",
    "Kostenstelle": "Cost centre",
    "Produkt": "Product",
    "Herkunft": "Source",
    "Positionen %(lines)s": "Lines %(lines)s",
    "So wird die Rechnung an die Finanzsoftware übergeben. Nach der Anordnung braucht eine Änderung eine Begründung "
    "und eine neue Anordnung.":
        "This is how the invoice is handed to the finance software. After the Anordnung a change needs a reason and "
        "a new Anordnung.",
    "Original und Prüfung": "Original and check",
    "eingebettet: %(name)s": "embedded: %(name)s",
    "%(date)s über %(channel)s": "%(date)s via %(channel)s",
    "Angaben des Kanals": "Details from the channel",
    "Format": "Format",
    "Archiv": "Archive",
    "gesperrt bis %(date)s": "locked until %(date)s",
    "Folgeeinträge": "Follow-up records",
    "Freigabeverlauf": "Approval trail",
    "Zahlungslauf (pain.001)": "Payment run (pain.001)",
    "Eintrag %(n)s, archiviert %(date)s": "record %(n)s, archived %(date)s",
    "Zuordnung": "Routing",
    "Regel %(rule)s": "rule %(rule)s",
    "Prüfbericht": "Validation report",
    "Fehlerart nach BMF-Schreiben vom 15.10.2025:": "Kind of error under the BMF letter of 2025-10-15:",
    "Fehlerart": "Kind of error",
    "Erläuterung": "Explanation",
    "Stufe": "Stage",
    "Ort: %(where)s": "Where: %(where)s",
    "Originaltext": "Original text",
    "keine Hinweise": "no findings",
    "kein Prüfbericht gespeichert": "no validation report stored",
    "Bearbeitung und Protokoll": "Processing and trail",
    "Schritte": "Steps",
    "durch": "by",
    "offen": "open",
    "Protokoll": "Trail",
    "wer": "who",
    "Kommentar": "Comment",
    "als %(role)s": "as %(role)s",
    "als Vertretung für %(person)s": "as substitute for %(person)s",
    "Kommentieren": "Comment",
    "Kommentar für alle Bearbeitenden": "Comment for everyone working on it",
    "Kommentar speichern": "Save the comment",
}


def gettext(message: str) -> str:
    """``message`` (a German source string) in the language set; itself when German or not in the table."""
    if language() == "en":
        return ENGLISH.get(message, message)
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural source string for ``n``, in the language set (both languages: 1 is singular)."""
    return gettext(singular if n == 1 else plural)


def tr(message: str, **values) -> str:
    """A sentence made in code: ``message`` in the language set, with ``%(name)s`` filled from ``values``."""
    text = gettext(message)
    return text % values if values else text


def _html(message: str, **values) -> Markup:
    # The template's own text is trusted HTML; the values are escaped by Markup's ``%``.
    text = Markup(gettext(message))
    return text % values if values else text


def _html_plural(singular: str, plural: str, n: int, **values) -> Markup:
    values.setdefault("num", n)
    return Markup(ngettext(singular, plural, n)) % values


def install(env: Environment) -> None:
    """``_``/``gettext``/``ngettext`` and ``{% trans %}`` (jinja2.ext.i18n, newstyle: values are
    escaped and filled in by name), the ``tr`` filter and ``language()`` for ``<html lang>``."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True  # a {% trans %} block's line breaks are one space in its source string
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    # Jinja's newstyle wrappers, minus one context call per text (the inbox renders some 200 per
    # page): the same result wherever autoescaping is on, and every template here is HTML.
    env.globals.update(_=_html, gettext=_html, ngettext=_html_plural)
    env.filters["tr"] = gettext
    env.globals["language"] = language
