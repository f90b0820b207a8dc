"""Supplier notices: telling the supplier what became of a file (rejected, not validated, not an
e-invoice; optionally an acknowledgement of receipt), by e-mail, at most once, through an outbox.

``message`` decides the recipient and renders the text (German, then English) with the
validation report attached; ``smtp`` hands a message to the mail server; ``outbox`` queues (in
the intake transaction), sends, retries, dead-letters and archives. ``approvers`` is the second
kind of message through the same outbox: e-mails to approvers about their tasks (new task, Skonto
ending, escalation), once per task, reason and person. This package must never import Prefect.
"""
from __future__ import annotations

from einvoice.notices.outbox import (
                                     NEEDS_A_PERSON,
                                     NoticeOutbox,
                                     NoticeProblem,
                                     NoticeResult,
                                     NoticeView,
                                     SendReport,
                                     notice_outbox_for_app,
                                     queue_for_intake,
                                     queue_missing,
)

__all__ = ["NEEDS_A_PERSON", "NoticeOutbox", "NoticeProblem", "NoticeResult", "NoticeView", "SendReport",
           "notice_outbox_for_app", "queue_for_intake", "queue_missing"]
