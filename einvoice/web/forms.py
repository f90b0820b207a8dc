"""What the web inbox accepts from a request before anything else looks at it: ids in paths,
the size of a form, the length of free text.

* Ids in paths (``{invoice_id:dbid}``) are decimal numbers up to ``MAX_ID``, the largest value
  of the INTEGER primary keys (32 bits on PostgreSQL); anything else (a 20-digit number, a sign,
  letters) matches no route and gets the ordinary "not found" page instead of a database error.
* A form body is at most ``MAX_FORM_BYTES``; free-text fields at most ``MAX_TEXT`` characters
  each (``TEXT-TOO-LONG``): comments and reasons end up in the audit trail and the archive, which
  keep them for years.

This module must never decide an approval rule and never log form contents.
"""
from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

from einvoice.approval import Refusal
from einvoice.language import language
from einvoice.web.texts import tr

#: Biggest accepted form body (urlencoded or multipart); the largest legitimate one is a comment.
MAX_FORM_BYTES = 64 * 1024

#: Free-text fields of the action forms and their limits (characters), with the label (a German source string).
MAX_TEXT = {
    "text": (2000, "Der Kommentar"),
    "reason": (2000, "Die Begründung"),
    "comment": (500, "Der Kommentar"),
}


#: Largest id a path may name: invoices.id and approval_tasks.id are INTEGER (32-bit on PostgreSQL).
MAX_ID = 2**31 - 1


def digits_up_to(limit: int) -> str:
    """A regular expression for the decimal numbers 0..limit (leading zeros allowed, no sign)."""
    n = str(limit)
    alternatives = [f"[0-9]{{1,{len(n) - 1}}}"] if len(n) > 1 else []
    for i, d in enumerate(n):
        rest = len(n) - i - 1
        if d != "0":
            alternatives.append(f"{n[:i]}[0-{int(d) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    alternatives.append(n)
    return "(?:" + "|".join(alternatives) + ")"


class DbId(Convertor[int]):
    """A database id in a path: a number from 0 to ``MAX_ID`` (a route matches nothing else)."""

    regex = digits_up_to(MAX_ID)

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(int(value))


register_url_convertor("dbid", DbId())


def _grouped(n: int) -> str:
    return f"{n:,}" if language() == "en" else f"{n:,}".replace(",", ".")


def text_too_long(form: dict) -> Refusal | None:
    """TEXT-TOO-LONG: the first free-text field of ``form`` over its limit, as a refusal in the language set."""
    for field, (limit, label) in MAX_TEXT.items():
        value = form.get(field) or ""
        if len(value) > limit:
            return Refusal("TEXT-TOO-LONG", tr("%(label)s ist zu lang: %(n)s Zeichen, erlaubt sind höchstens %(limit)s. "
                                               "Bitte kürzen Sie den Text; gespeichert wurde nichts.",
                                               label=tr(label), n=_grouped(len(value)), limit=_grouped(limit)))
    return None
