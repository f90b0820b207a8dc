"""Every error value for people within einvoice is a ``Problem``: a rule ID and a message."""
from __future__ import annotations

import pytest

from einvoice.approval import Refusal
from einvoice.finance.errors import FinanceProblem
from einvoice.followups.records import RecordProblem
from einvoice.intake import IntakeProblem, detect
from einvoice.intake.mail import MailProblem
from einvoice.intake.sbdh import EnvelopeProblem
from einvoice.notices.outbox import NoticeProblem
from einvoice.problems import Problem
from einvoice.web.auth import ProxyRefusal
from einvoice.web.upload import Refusal as UploadRefusal
from einvoice.xml.safe import ParseProblem, parse_xml


@pytest.mark.parametrize("kind", [Refusal, FinanceProblem, IntakeProblem, MailProblem, NoticeProblem, RecordProblem,
                                  EnvelopeProblem, ProxyRefusal, UploadRefusal, ParseProblem])
def test_every_problem_type_is_a_problem_with_rule_and_message(kind):
    assert issubclass(kind, Problem)
    assert {"rule", "message"} <= set(kind.__dataclass_fields__)


def test_stages_report_problems_by_rule_and_message():
    _, parsed = parse_xml(b"")
    intake = detect(b"")
    assert isinstance(parsed, Problem) and parsed.rule == "XML-EMPTY" and parsed.message
    [empty] = intake.problems
    assert (empty.rule, empty.severity) == ("INTAKE-EMPTY", "fatal") and "0 bytes" in empty.message
    assert str(Refusal("LIMIT", "Betrag über der Grenze")) == "LIMIT: Betrag über der Grenze"
    assert str(FinanceProblem("NOT-FOUND", "no such record")) == "[NOT-FOUND] no such record"
    assert FinanceProblem("NOT-FOUND", "no such record").as_dict() == {"code": "NOT-FOUND", "message": "no such record"}
