"""The filter checker against the library's documented examples (docs/linq.md) and our own: valid filters parse (and print back to
the same tree), invalid ones fail at the library's position with the library's message."""

from __future__ import annotations

import pytest
from linq_printer import to_text

from integration_sync.linq import check_filter
from integration_sync.linq.parser import parse

# The library's documented examples (docs/linq.md), then our own.
LINQ_MD_VALID = [
    'Status == "Active" && Amount > 100',
    'Status = "Active" and Amount >= 100.50m',
    'status eq "Active" OR status eq "Pending"',
    'Status in ("Active", "Pending") && !IsDeleted',
    'Name.StartsWith("INV-") || Name.Contains("2024")',
    'np(Customer.Name, "") == "Acme"',
    "CreatedDate >= DateTime(2024, 1, 1) && CreatedDate < DateTime.UtcNow",
    "(Amount > 0 ? Amount : -Amount) > 50",
    "Lines.Any(l => l.Amount > 1000) && Lines.Count() < 10",
    'not (Status <> "Closed") and iif(Amount % 2 == 0, "even", "odd") == "even"',
    'CreatedDate > "2024-01-01"',
]

OWN_VALID = [
    "Amount > 0",
    "Amount >= -5",
    "Amount > 1.5e3",
    "Amount > 1E-3",
    "Amount < 10U",
    "Amount < 10L",
    "Amount < 10UL",
    "Amount == 0x1F",
    "Amount == 0b1010",
    "Amount == 1.5f",
    "Amount == 1.5d",
    "Amount == 2m",
    "Code == 'A'",
    "Code == '\\n'",
    'Name == "say \\"hi\\""',
    'Name == "tab\\there"',
    'Name == "a\\\\b"',
    'Name == "A" "B"',
    'Name == "\\x41\\u0042"',
    'Name == "it\'s"',
    'Status != "Closed"',
    'Status <> "Closed"',
    'Status ne "Closed"',
    'Status neq "Closed"',
    "Amount lt 5 and Amount gt 1",
    "Amount le 5 AndAlso Amount ge 1",
    "A == 1 OrElse B == 2",
    "Amount mod 2 == 0",
    "Amount % 2 = 0",
    "!(Amount > 5)",
    "not IsDeleted",
    "NOT IsDeleted AND IsActive",
    "Flags & 4 == 4",
    "(Flags & 4) == 4",
    "Flags | 1",
    "Amount << 2 > 8",
    "A + B * C - D / E > 0",
    'Name + "x" == "ax"',
    'Name ?? "default"',
    "IsActive ? 1 : 0",
    'Amount > 0 ? "pos" : Amount < 0 ? "neg" : "zero"',
    'isnull(Name, "x") == "x"',
    "np(Customer.Address.City) != null",
    "Lines.Any()",
    "Lines.Any(Amount > 0)",
    "Lines.All(l => l.Qty > 0 && l.Price > 0)",
    "Lines.Sum(l => l.Amount) > 100",
    "Lines.Where(x => x.Ok).Count() > 2",
    'Tags.Contains("vip")',
    'Items[0].Name == "A"',
    'Lookup["key"] == 1',
    'it.Status == "Open"',
    '$.Status == "Open"',
    'it => Status == "Open"',
    "x => x.Lines.Any(l => l.Amount > x.Limit)",
    'x => x.Status == "Open" && x.Amount > 0',
    "DateTime.Now > DueDate",
    "DueDate < DateTime.Today.AddDays(30)",
    "int(Amount) > 5",
    "int?(Amount) == null",
    'Id == Guid("7f1d2c1e-0000-0000-0000-000000000000")',
    '"System.DateTime"(Created) > DateTime(2024, 1, 1)',
    'DateTime "2024-01-01" < Created',
    "Amount in (-1, -2)",
    "Status in Statuses",
    'Status not in ("A")',
    'Status not_in ("A")',
    'Name.ToUpper() == "A"',
    'Name.Substring(0, 2) == "IN"',
    "String.IsNullOrEmpty(Name)",
    "string.IsNullOrWhiteSpace(Name) == false",
    "Math.Abs(Amount) > 5",
    'Name.Equals("a", StringComparison.OrdinalIgnoreCase)',
    "TRUE && False == false",
    'Customer != null && Customer.Name == "Acme"',
    "Lines.Select(l => l.Amount).Max() > 5",
    '@Status == "x"',
    "Ünïcode == 1",
    "Amount\t>\n5 ",
    "((A == 1))",
    "- -Amount < 0",
    "!!IsActive",
    "new(Name, Amount as Total).Total > 5",
    "Guid == 5",
]

VALID = LINQ_MD_VALID + OWN_VALID

# (filter, 0-based position, fragment of the message). The library's documented errors (docs/linq.md) first.
LINQ_MD_INVALID = [
    ("Status == 'Active'", 10, "Character literal must contain exactly one character"),
    ('Status == "Active', 17, "Unterminated string literal"),
    ("(Amount > 100", 13, "')' or operator expected"),
    ("Amount > 100 &&", 15, "Expression expected"),
    ("Amount =< 100", 8, "Expression expected"),
    ("Amount > 1,000", 10, "Syntax error"),
    ('Customer?.Name == "Acme"', 8, "null propagating operator"),
    ("Status in ()", 11, "Expression expected"),
    ('iif(Amount > 0, "Debit")', 0, "The 'iif' function requires three arguments"),
    ("Amount > 100l", 12, "Syntax error"),
    ("Amount > 1.", 11, "Digit expected"),
    ("Amount # 5", 7, "Syntax error '#'"),
    ('Name == "a\\qb"', 8, "Unrecognized escape sequence \\q"),
    ("Amount !> 5", 7, "in expected"),
    ("&& Amount > 1", 0, "Expression expected"),
]

OWN_INVALID = [
    ("", 0, "Expression expected"),
    ("   ", 3, "Expression expected"),
    ("Status == ''", 10, "Character literal"),
    ("Code == 'ab'", 8, "Character literal"),
    ("Name == 'O\\'Brien'", 8, "Illegal \\ at end of pattern"),
    ("Amount > 100 ;", 13, "Syntax error ';'"),
    ("Amount > 5 && ", 14, "Expression expected"),
    ("Amount >", 8, "Expression expected"),
    ("Amount > 5)", 10, "Syntax error"),
    ("Amount > (5", 11, "')' or operator expected"),
    ('Name.StartsWith("A"', 19, "')' or ',' expected"),
    ('Name.StartsWith("A",', 20, "Expression expected"),
    ("Lines.Any(l => l.Amount > 0", 27, "')' or ',' expected"),
    ("A ? B", 5, "':' expected"),
    ("A ? B :", 7, "Expression expected"),
    ("isnull(A)", 0, "The 'isnull' function requires two arguments"),
    ("np()", 0, "requires 1 or 2 arguments"),
    ("np(1)", 0, "requires the first argument to be a MemberExpression"),
    ("np(A, B, C)", 0, "requires 1 or 2 arguments"),
    ("cast(A, B, C)", 0, "The 'cast' function requires 1 or 2 arguments"),
    ("iif(A, B, C, D)", 0, "three arguments"),
    ("iif A", 4, "'(' expected"),
    ("Amount > 5 Amount", 11, "Syntax error"),
    ("Amount = = 5", 9, "Expression expected"),
    ("Amount === 5", 9, "Expression expected"),
    ("Amount > 10LL", 12, "Invalid integer literal qualifier 'LL'"),
    ("Amount > 10LU", 12, "Expression expected"),
    ("Amount > 0x", 11, "Hexadecimal character expected"),
    ("Amount > 0xG", 11, "Hexadecimal character expected"),
    ("Amount > 0b2", 11, "Binary character expected"),
    ("Amount > 1e", 11, "Digit expected"),
    ("Amount > 1e+", 12, "Digit expected"),
    ("Amount > .5", 9, "Expression expected"),
    ("Amount > 18446744073709551616", 9, "Invalid integer literal"),
    ("Amount > -5U", 9, "'-' cannot be applied to unsigned integers"),
    ("Amount > 12x5", 9, "Invalid integer literal '12x5'"),
    ('Name == "a" + ', 14, "Expression expected"),
    ('Status in ("A", "B"', 7, "')' or ',' expected"),
    ('Status in "A"', 7, "'(' or Identifier expected"),
    ("Status in (1 2)", 14, "Expression expected"),
    ("Status in (1,", 13, "Expression expected"),
    ('Status not ("A")', 7, "in expected"),
    ('Status not_in "A"', 7, "'(' or Identifier expected"),
    ("Customer.", 9, "Identifier expected"),
    ("Customer.and", 9, "Identifier expected"),
    ("Items[0", 7, "']' or ',' expected"),
    ("Items[]", 6, "Expression expected"),
    ("Amount > 5 => 1", 11, "Syntax error"),
    ("it => !Deleted", 6, "'(' expected"),
    ('it => "x"', 6, "'(' expected"),
    ('Name LIKE "A%"', 5, "Syntax error"),
    ("Name IS NULL", 5, "Syntax error"),
    ("Amount BETWEEN 1 AND 5", 7, "Syntax error"),
    ("Amount > 5 `", 11, "Syntax error '`'"),
    ('Name == "\\x4"', 8, "Insufficient hexadecimal digits"),
    ('Name == "\\8"', 8, "Unrecognized escape sequence \\8"),
    ('Name == "\\c"', 8, "Missing control character"),
    ("Created > #2024-01-01#", 10, "Syntax error '#'"),
    ("DateTime => 1", 9, "'.' or '(' or string literal expected"),
    ('"abc"(1)', 5, "Syntax error"),
    ("new Foo", 7, "'(' expected"),
    ("new(1)", 4, "Expression is missing an 'as' clause"),
    ("(Amount > 5))", 12, "Syntax error"),
    ("Amount >= 5 &&& B", 14, "Expression expected"),
    ("A || || B", 5, "Expression expected"),
    ("Amount > 5 AND", 14, "Expression expected"),
    ("Code == 'ab' #", 13, "Syntax error '#'"),  # DLC lexes the token after a string before judging it
    ("Amount > 5 ?. X", 11, "null propagating operator"),
    ("np(Customer?.Name)", 11, "null propagating operator"),
    ("Amount in (1, 2) in", 17, "'(' or Identifier expected"),
    ("{ A }", 0, "Expression expected"),
    ('Name == "unterminated \\" quote', 30, "Unterminated string literal"),
    ("Amount > 1.5.", 13, "Identifier expected"),
    ("A.B(", 4, "Expression expected"),
    ("Lines.Any(out x)", 14, "discard '_' is required"),
    ("x => x => 1", 10, "'(' expected"),
]

INVALID = LINQ_MD_INVALID + OWN_INVALID


def test_there_are_enough_examples() -> None:
    assert len(OWN_VALID) >= 60 and len(OWN_INVALID) >= 60
    assert len(set(VALID)) == len(VALID)
    assert len({text for text, _, _ in INVALID}) == len(INVALID)


@pytest.mark.parametrize("text", VALID)
def test_valid_filter_has_no_error(text: str) -> None:
    assert [i for i in check_filter(text) if i.severity == "error"] == []


@pytest.mark.parametrize("text", VALID)
def test_valid_filter_prints_back_to_the_same_tree(text: str) -> None:
    tree, _ = parse(text)
    printed = to_text(tree)
    assert parse(printed)[0] == tree, printed


@pytest.mark.parametrize(("text", "position", "fragment"), INVALID)
def test_invalid_filter_fails_where_the_library_would(text: str, position: int, fragment: str) -> None:
    issues = check_filter(text)
    assert len(issues) == 1
    (issue,) = issues
    assert (issue.severity, issue.rule, issue.offset) == ("error", "filter-syntax", position)
    assert fragment in issue.message


def test_only_the_first_error_is_reported_as_the_library_stops_there() -> None:
    assert [i.offset for i in check_filter("Status == 'Open' && Amount # 5")] == [10]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Status == 'Open'", 'double quotes: "Open"'),
        ("Amount =< 100", "'<='"),
        ('Customer?.Name == "Acme"', "np(Customer.Name)"),
        ("Amount > 100l", "100L"),
        ("Amount > 5u", "5U"),
        ("Amount > 1,000", "thousands"),
        ("Amount !> 5", "'<='"),
        ("Amount !< 5", "'>='"),
        ("Amount === 5", "'=='"),
        ('Name LIKE "A%"', "StartsWith"),
        ("Name IS NULL", "== null"),
        ("Created > #2024-01-01#", "DateTime(2024, 1, 31)"),
        ("Amount > 5 => 1", "'>='"),
        ("Amount > .5", "0.5"),
    ],
)
def test_common_habits_get_a_hint(text: str, fragment: str) -> None:
    (issue,) = check_filter(text)
    assert issue.hint is not None and fragment in issue.hint


def test_fine_habits_need_no_hint() -> None:
    for text in ('Status <> "A"', 'Status = "A" AND Amount gt 5', 'NOT (Status eq "A")', "A OrElse B"):
        assert check_filter(text) == []


def test_aliases_and_keywords_are_case_insensitive() -> None:
    assert parse("A AND B")[0] == parse("A && B")[0]
    assert parse("a Eq 1")[0] == parse("a = 1")[0]
    assert parse("NOT a")[0] == parse("!a")[0]
