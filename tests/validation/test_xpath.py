"""The one scanner of XPath structure (einvoice.validation.xpath) and its two users."""
from einvoice.rulepacks.pack import _required_root
from einvoice.validation.schematron import _pattern_branches
from einvoice.validation.xpath import top_level

NS = {"ubl": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"}


def test_characters_inside_literals_and_brackets_are_not_top_level():
    expr = "a[b = 'x|y'] | c(d, e)"
    positions, balanced = top_level(expr)
    assert balanced
    assert "".join(expr[i] for i in positions) == "a | c"


def test_unbalanced_expressions_are_reported():
    for expr in ("a[b", "a'b", "a)(b", "f(a))"):
        assert top_level(expr)[1] is False, expr


def test_both_users_split_only_at_the_top_level():
    assert _pattern_branches("a[@x = 'p|q'] | b[(c | d)]") == ["a[@x = 'p|q']", "b[(c | d)]"]
    assert _pattern_branches("a[(b | c)") is None
    assert _required_root("exists(/ubl:Invoice[cbc:X = 'a|b, c'])", NS) == (NS["ubl"], "Invoice")
    assert _required_root("exists(/ubl:Invoice[a] | /ubl:Invoice)", NS) is None
    assert _required_root("exists(/ubl:Invoice[a]) or exists(/ubl:X[b])", NS) is None
