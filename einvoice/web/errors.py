"""The signals a route raises instead of building an error page itself; ``einvoice.web.error_pages``
turns each into its German page (NotSignedIn into the redirect to ``/login``).

This module must never carry invoice content or user-supplied text in a message: the messages are
fixed German sentences shown to the person.
"""
from __future__ import annotations


class NotSignedIn(Exception):
    pass


class NotFound(Exception):
    pass


class Forbidden(Exception):
    def __init__(self, message: str):
        self.message = message


class BadRequest(Exception):
    def __init__(self, message: str):
        self.message = message
