"""The ``filter`` checker: Dynamic LINQ syntax, judged before anything reaches a tenant.

Interface used by validation (``integration_sync.validate``):

    check_filter(text, *, continuous=False) -> list[FilterIssue]

Each issue has a 0-based ``offset`` into ``text`` (the library's own ``ParseException.Position``), a
message, a rule id, a severity and maybe a hint. ``integration_sync.linq.yamlpos.offset_to_linecol``
maps the offset back into the YAML file for every scalar style.

The language is System.Linq.Dynamic.Core's, as ``docs/linq.md`` describes it: ``tokens`` (lexer),
``parser`` (recursive descent, one method per precedence level), ``ast`` and ``hints``. Only the first
syntax error is reported, as the
library stops at it. Warnings (rules other than ``filter-syntax``) are for constructs the library
accepts but that are probably not what was meant, or that depend on its version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal as TypingLiteral

from integration_sync.linq.ast import (
    Binary,
    Call,
    Lambda,
    Literal,
    Member,
    Name,
    Node,
    StringCast,
    TypeConversion,
    children,
    walk,
)
from integration_sync.linq.hints import hint_for
from integration_sync.linq.parser import COMPARISON, Note, parse
from integration_sync.linq.tokens import LinqSyntaxError

Severity = TypingLiteral["error", "warning"]

__all__ = ["FilterIssue", "Severity", "check_filter"]


@dataclass(frozen=True)
class FilterIssue:
    offset: int
    message: str
    rule: str = "filter-syntax"
    severity: Severity = "error"
    hint: str | None = None


def check_filter(text: str, *, continuous: bool = False) -> list[FilterIssue]:
    """Syntax problems of one filter expression (errors) and doubtful constructs (warnings)."""
    if not text.strip():
        issues = [FilterIssue(len(text), "Expression expected", hint="the filter is empty")]
        return issues + ([_expiry_warning()] if continuous else [])
    try:
        tree, notes = parse(text)
    except LinqSyntaxError as exc:
        return [FilterIssue(exc.offset, exc.message, hint=hint_for(text, exc.offset, exc.message))]
    except RecursionError:
        # The library's stack is deeper than Python's; an unchecked filter is not an error.
        return [FilterIssue(0, "the filter is nested too deeply to be checked", severity="warning")]
    issues = [_note_warning(note) for note in notes]
    issues.extend(_unused_lambda_parameters(tree))
    if continuous and not compares_date(tree):
        issues.append(_expiry_warning())
    return sorted(issues, key=lambda issue: issue.offset)


def _note_warning(note: Note) -> FilterIssue:
    return FilterIssue(
        note.offset,
        "'not in' / 'not_in' is accepted only by System.Linq.Dynamic.Core 1.6.4 and later; "
        "older versions report 'Syntax error' here",
        rule="filter-version",
        severity="warning",
        hint="every version accepts !(X in (...))",
    )


def _unused_lambda_parameters(tree: Node) -> list[FilterIssue]:
    """``Amount => 100`` parses (as a lambda whose body is ``100``), but was almost surely ``>=``.

    A lambda passed to a method (``Lines.Any(l => true)``) may legitimately ignore its parameter."""
    arguments = {id(arg) for node in walk(tree) if isinstance(node, Call) for arg in node.args}
    issues = []
    for node in walk(tree):
        if not isinstance(node, Lambda) or not node.bare or id(node) in arguments:
            continue
        if any(isinstance(n, Name) and n.name == node.param for n in walk(node.body)):
            continue
        issues.append(
            FilterIssue(
                node.arrow,
                f"'{node.param} =>' declares a lambda parameter that its body never uses "
                f"(if '{node.param}' is a member, the library reports 'Syntax error' here)",
                rule="filter-lambda",
                severity="warning",
                hint=f"'greater than or equal' is '>=': {node.param} >= …",
            )
        )
    return issues


_DATE_TYPES = ("datetime", "datetimeoffset", "dateonly", "system.datetime", "system.datetimeoffset")
_DATE_WORD = re.compile(r"date|time|expir|deadline|until", re.IGNORECASE)
_DATE_SUFFIX = re.compile(r"(?:[a-z0-9](?:At|On)|_(?:at|on))$")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_dateish(node: Node) -> bool:
    for n in walk(node):
        match n:
            case Name(name=name) | Member(name=name) | Call(name=name):
                bare = name.rstrip("?")
                if bare.lower() in _DATE_TYPES or _DATE_WORD.search(bare) or _DATE_SUFFIX.search(bare):
                    return True
                if re.match(r"Add(Days|Hours|Minutes|Months|Years|Seconds|Ticks)$", bare, re.IGNORECASE):
                    return True
            case TypeConversion(type_name=type_name) if type_name.rstrip("?").lower() in _DATE_TYPES:
                return True
            case StringCast(literal=lit) if "date" in lit.texts[0].lower():
                return True
            case Literal(kind="string", texts=texts) if _ISO_DATE.search(" ".join(texts)):
                return True
    return False


def compares_date(tree: Node) -> bool:
    """Whether any comparison has a date-like side: a DateTime value, a member named like a date
    (``DueDate``, ``ExpiresOn``, ``created_at``) or an ISO date string. The entity's types are
    unknown, so this is a heuristic by name; it errs towards "compares a date"."""
    return any(
        isinstance(n, Binary) and n.op in COMPARISON and any(_is_dateish(side) for side in children(n))
        for n in walk(tree)
    )


def _expiry_warning() -> FilterIssue:
    return FilterIssue(
        0,
        "a continuous integration's filter should include an expiry, but it compares no date",
        rule="continuous-expiry",
        severity="warning",
        hint="for example: && CreatedDate >= DateTime.UtcNow.AddDays(-30)",
    )
