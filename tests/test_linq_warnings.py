"""Warnings: constructs the library accepts but that are probably not what was meant, or that only
some library versions accept."""

from __future__ import annotations

import pytest

from integration_sync.linq import FilterIssue, check_filter


def _warnings(text: str, *, continuous: bool = False) -> list[FilterIssue]:
    issues = check_filter(text, continuous=continuous)
    assert all(i.severity == "warning" for i in issues), issues
    return issues


def test_lambda_whose_body_ignores_its_parameter_is_probably_greater_or_equal() -> None:
    (issue,) = _warnings("Amount => 100")
    assert (issue.rule, issue.offset) == ("filter-lambda", 7)
    assert issue.hint is not None and "Amount >= " in issue.hint


def test_lambda_inside_a_condition_is_checked_too() -> None:
    (issue,) = _warnings('Status == "A" && Amount => 5')
    assert issue.offset == 24


@pytest.mark.parametrize(
    "text",
    [
        'x => x.Status == "Open"',
        "x => x.Lines.Any(l => l.Amount > x.Limit)",
        "Lines.Any(l => true)",  # a method's lambda may ignore its parameter
        'it => Status == "Open"',
    ],
)
def test_lambdas_that_use_their_parameter_are_fine(text: str) -> None:
    assert check_filter(text) == []


@pytest.mark.parametrize(
    ("text", "offset"), [('S not in ("A")', 2), ('S not_in ("A")', 2), ('S ! in ("A")', 2)]
)
def test_not_in_needs_a_recent_library(text: str, offset: int) -> None:
    (issue,) = _warnings(text)
    assert (issue.rule, issue.offset) == ("filter-version", offset)
    assert "1.6.4" in issue.message


@pytest.mark.parametrize(
    "text",
    [
        "CreatedDate >= DateTime.UtcNow.AddDays(-30)",
        "Created > DateTime(2026, 1, 1)",
        'Status == "Open" && DueDate < DateTime.Today',
        'Modified > "2026-01-01"',
        "ExpiresOn > Now",
        "created_at > Cutoff",
        "Lines.Any(l => l.ShippedAt > Cutoff)",
        'Created > DateTime "2026-01-01"',
    ],
)
def test_continuous_integration_with_a_date_comparison_is_fine(text: str) -> None:
    assert check_filter(text, continuous=True) == []


@pytest.mark.parametrize("text", ['Status == "Open"', "Amount > 5 && Region == 2", "IsDueDate"])
def test_continuous_integration_without_a_date_comparison_is_warned(text: str) -> None:
    (issue,) = _warnings(text, continuous=True)
    assert (issue.rule, issue.offset) == ("continuous-expiry", 0)


def test_only_continuous_integrations_need_an_expiry() -> None:
    assert check_filter('Status == "Open"') == []


def test_empty_filter_of_a_continuous_integration_is_an_error_and_a_warning() -> None:
    rules = [(i.rule, i.severity) for i in check_filter("", continuous=True)]
    assert rules == [("filter-syntax", "error"), ("continuous-expiry", "warning")]


def test_no_expiry_warning_on_top_of_a_syntax_error() -> None:
    assert [i.rule for i in check_filter("Status == 'Open'", continuous=True)] == ["filter-syntax"]


def test_a_filter_too_deep_for_the_checker_is_a_warning_not_a_crash() -> None:
    (issue,) = check_filter("(" * 400 + "A" + ")" * 400)
    assert (issue.severity, issue.offset) == ("warning", 0)


def test_a_long_flat_filter_is_checked() -> None:
    assert check_filter(" && ".join(["DueDate > Today"] * 2000), continuous=True) == []
