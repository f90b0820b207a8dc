"""The order of validation stages and severities, shared by the report and its HTML view.

Both ``report`` (the summary line) and ``html`` (the table) sort findings by these; they live
here so the HTML view never imports the report module that renders through it. This module must
never hold anything but these two orders.
"""
from __future__ import annotations

SEVERITY_ORDER = {"fatal": 0, "error": 1, "warning": 2, "info": 3}
#: stages in the order they run; reports list them in this order
STAGES = ("intake", "parse", "xsd", "en16931", "xrechnung", "profile")
