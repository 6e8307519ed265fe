"""A changed long or multi-line string shows as lines of text, so a reviewer finds the changed
condition in a long filter; short values and what lines cannot show stay one exact JSON line."""

from __future__ import annotations

from integration_sync.plan import FieldChange, Plan, TenantPlan, Update
from integration_sync.render.registry import render_plan

OLD = 'Status == "Approved" && DueDate >= DateTime(2026, 1, 1) && Amount > 0'
NEW = 'Status == "Approved" && DueDate >= DateTime(2027, 1, 1) && Amount > 0'


def _rendered(*changes: FieldChange) -> list[str]:
    update = Update(name="X", key=1, etag=None, fields=changes, before=(("name", "X"),))
    tenant = TenantPlan(tenant="t", url="emulator:t", changes=(update,))
    text = render_plan(Plan(tool_version="0", definitions_digest="sha256:0", tenants=(tenant,)), "text")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "~ update" in line) + 1
    return lines[start : lines.index("", start)]


def test_a_long_filter_is_shown_as_minus_and_plus_lines_of_text() -> None:
    assert _rendered(FieldChange("filter", OLD, NEW)) == [
        "      filter:",
        f"          - {OLD}",
        f"          + {NEW}",
    ]


def test_short_values_stay_on_one_line_as_json() -> None:
    assert _rendered(FieldChange("filter", "A == 1", "A == 2"), FieldChange("batch_size", 1, 2)) == [
        '      filter:     "A == 1" -> "A == 2"',
        "      batch_size: 1 -> 2",
    ]


def test_multi_line_notes_are_a_line_diff_with_context() -> None:
    before = "Owned by finance.\nPaged at night.\nReview yearly."
    after = "Owned by finance.\nPaged by day.\nReview yearly."
    assert _rendered(FieldChange("notes", before, after)) == [
        "      notes:",
        "            Owned by finance.",
        "          - Paged at night.",
        "          + Paged by day.",
        "            Review yearly.",
    ]


def test_replaced_lines_show_the_old_ones_before_the_new_even_when_fewer_replace_more() -> None:
    before = "Owned by finance.\nline one\nline two\nReview yearly."
    after = "Owned by finance.\nOne line now.\nReview yearly."
    assert _rendered(FieldChange("notes", before, after)) == [
        "      notes:",
        "            Owned by finance.",
        "          - line one",
        "          - line two",
        "          + One line now.",
        "            Review yearly.",
    ]
    assert _rendered(FieldChange("notes", "a\nb", "Owned by the finance platform team.")) == [
        "      notes:",
        "          - a",
        "          - b",
        "          + Owned by the finance platform team.",
    ]


def test_what_lines_cannot_show_stays_exact() -> None:
    long = "x" * 70
    assert _rendered(FieldChange("notes", long, long + "\n")) == [f'      notes: "{long}" -> "{long}\\n"']
    assert _rendered(FieldChange("filter", None, NEW)) == [
        f'      filter: null -> "{NEW.replace(chr(34), chr(92) + chr(34))}"'
    ]
