"""Reading the structure of an XPath expression without evaluating it: which characters are at its top level.

Both Schematron runners rewrite or inspect expressions they did not write: the built-in engine
splits a rule's match pattern at its top-level ``|`` (``schematron``), the rule-pack engine reads
the root element a scenario's ``exists(/p:Root...)`` requires (``rulepacks.pack``). A ``|`` or
``,`` inside a string literal, a predicate or a function call belongs to that part and must not
split the expression; this module is the one scanner that knows where such parts begin and end.
It must never guess: an expression with an unclosed quote or bracket, or a bracket closed before
it was opened, is reported as unbalanced, and the callers then leave the expression alone.
"""
from __future__ import annotations


def top_level(expr: str) -> tuple[list[int], bool]:
    """(positions, balanced): the indices of the characters of ``expr`` that stand at its top level
    (outside string literals, parentheses and brackets; the quote and bracket characters themselves
    are never listed), and whether every quote and bracket is closed and none is closed before it
    was opened."""
    positions: list[int] = []
    depth, quote, balanced = 0, "", True
    for i, ch in enumerate(expr):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth < 0:
                balanced = False
        elif depth == 0:
            positions.append(i)
    return positions, balanced and not quote and depth == 0
