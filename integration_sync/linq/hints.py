"""Hints: the common habit (SQL, OData, C#) that most likely explains a syntax error.

The library's message and position are kept as they are; a hint only adds the probable cause, read
from the text around the error. No hint is better than a wrong one, so each rule is narrow.
"""

from __future__ import annotations

import re

from integration_sync.linq.parser import NULL_PROPAGATION_MESSAGE
from integration_sync.linq.tokens import Lexer, LinqSyntaxError

_WORD = re.compile(r"\w+")
_TRAILING_OPERATOR = re.compile(r"(?:[-+*/%&|=<>!?]|\b(?:and|or|andalso|orelse|not|mod)\b)$", re.IGNORECASE)


def hint_for(text: str, offset: int, message: str) -> str | None:
    at = text[offset:]
    before = text[:offset].rstrip()
    if message.startswith("Character literal"):
        return _single_quotes(text, offset)
    if message == NULL_PROPAGATION_MESSAGE:
        return _null_propagation(before, at)
    if message == "Expression expected":
        return _expression_expected(before, at)
    if message == "Syntax error":
        return _leftover(text, offset, before, at)
    if message == "in expected":
        follower = at[1:].lstrip()
        if follower.startswith(">"):
            return "'!>' is not an operator: 'not greater than' is '<='"
        if follower.startswith("<"):
            return "'!<' is not an operator: 'not less than' is '>='"
        return "after '!' or 'not' between two operands only 'in' can follow ('not in' needs DLC 1.6.4+)"
    if message == "Syntax error '#'" and re.match(r"#\d", at):
        return 'there are no #date# literals: write DateTime(2024, 1, 31) (or compare with "2024-01-31")'
    if message == "Syntax error ';'":
        return "a filter is a single expression: join conditions with && or ||"
    if message.startswith("Unrecognized escape sequence"):
        return "in a string a backslash starts an escape: write \\\\ for a backslash"
    return None


def _single_quotes(text: str, offset: int) -> str:
    try:
        literal = Lexer(text, offset).next().text
    except LinqSyntaxError:
        literal = "'…'"
    inner = literal[1:-1].replace("\\'", "'").replace('"', '\\"')
    return (
        "single quotes make a char literal in Dynamic LINQ, a habit from SQL and OData; "
        f'write strings in double quotes: "{inner}"'
    )


def _null_propagation(before: str, at: str) -> str:
    path = re.search(r"[\w.]*\w$", before)
    member = re.match(r"\?\.\s*(\w+)", at)
    if path and member:
        written = f"{path.group(0)}?.{member.group(1)}"
        return f"'?.' is not supported: write np({path.group(0)}.{member.group(1)}) instead of {written}"
    return "'?.' is not supported: wrap the member path in np(...)"


def _expression_expected(before: str, at: str) -> str | None:
    if at.startswith("<") and before.endswith("=") and not before.endswith(("==", "!=", "<=", ">=")):
        return "'=<' is '=' followed by '<': 'less than or equal' is '<='"
    if at.startswith("=") and before.endswith(("==", "!=")):
        return "'===' and '!==' are not operators here: write '==' or '!='"
    if at.startswith(".") and re.match(r"\.\d", at):
        return "a real literal needs a digit before the point: write 0.5"
    if not at.strip() and _TRAILING_OPERATOR.search(before):
        return "the filter ends with an operator: its right-hand side is missing"
    return None


def _leftover(text: str, offset: int, before: str, at: str) -> str | None:
    if at.startswith("=>"):
        return "'=>' declares a lambda; 'greater than or equal' is '>='"
    word = _WORD.match(at)
    if word is None:
        if re.match(r",\d{3}\b", at) and re.search(r"\d$", before):
            return "numbers take no thousands separator: write 1000, not 1,000"
        return None
    spelled = word.group(0)
    lowered = spelled.lower()
    if offset > 0 and text[offset - 1].isdigit() and lowered in ("l", "u", "ul", "lu"):
        digits = re.search(r"\d+$", text[:offset])
        number = digits.group(0) if digits else ""
        return f"integer suffixes are upper case: write {number}{spelled.upper().replace('LU', 'UL')}"
    if lowered == "like":
        return 'there is no LIKE: use .StartsWith("…"), .EndsWith("…") or .Contains("…")'
    if lowered == "is":
        return "for a null test write 'X == null' or 'X != null'"
    if lowered == "between":
        return "there is no BETWEEN: write 'X >= low && X <= high'"
    return None
