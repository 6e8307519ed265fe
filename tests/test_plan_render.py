"""Plan renderings against golden files (``UPDATE_GOLDEN=1 pytest`` rewrites them after a deliberate
change), plus the Markdown size budget."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from plan_samples import empty_plan, sample_plan

from integration_sync.plan import Create, FieldChange, Plan, SafetyVerdict, TenantPlan, Update
from integration_sync.render.plan_markdown import MAX_CHARS
from integration_sync.render.registry import FORMATS, render_plan

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"rendering differs from {path}"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("which", ["changes", "no-changes"])
def test_golden(fmt: str, which: str) -> None:
    plan = sample_plan() if which == "changes" else empty_plan()
    ext = {"text": "txt", "markdown": "md", "json": "json", "github": "github.txt"}[fmt]
    check_golden(f"plan-{which}.{ext}", render_plan(plan, fmt))


def test_golden_colour() -> None:
    check_golden("plan-changes-colour.txt", render_plan(sample_plan(), "text", color=True))


def test_no_colour_unless_asked() -> None:
    for fmt in FORMATS:
        assert "\x1b[" not in render_plan(sample_plan(), fmt)


def test_text_closing_line_and_no_changes() -> None:
    text = render_plan(sample_plan(), "text")
    assert "Plan: 2 to create, 1 to update, 1 to rename, 1 to delete, in 1 of 3 tenants." in text
    assert "1 tenant failed: Broken" in text
    assert render_plan(empty_plan(), "text").endswith("No changes. 2 tenants match the definitions.\n")


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_a_plan_whose_tenants_all_failed_never_says_no_changes(fmt: str) -> None:
    plan = Plan(
        tool_version="1", definitions_digest="sha256:00", tenants=(TenantPlan("a", "u", error="boom"),)
    )
    text = render_plan(plan, fmt)
    assert "No changes" not in text and "1 tenant failed" in text


def test_json_rendering_is_the_plan() -> None:
    plan = sample_plan()
    assert Plan.from_json(render_plan(plan, "json")) == plan
    assert json.loads(render_plan(plan, "json"))["format_version"] == 2


def _creates(tenant: int) -> tuple[Create, ...]:
    """Twenty creates whose notes differ from tenant to tenant (no two tenants share a details block)."""
    notes = ("notes", f"{tenant:04d}" + "x" * 200)
    return tuple(
        Create(name=f"Integration {j}", body=(("name", f"Integration {j}"), notes)) for j in range(20)
    )


@pytest.mark.slow
def test_markdown_summarises_under_the_limit() -> None:
    tenants = tuple(
        TenantPlan(tenant=f"tenant-{i:04d}", url="emulator:x", changes=_creates(i)) for i in range(800)
    )
    plan = Plan(tool_version="0", definitions_digest="d", tenants=tenants)
    md = render_plan(plan, "markdown")
    assert len(md) <= MAX_CHARS
    assert "omitted to stay under 60,000 characters" in md
    assert "more tenants with changes are not listed" in md
    assert md.rstrip().endswith(
        "**Plan: 16000 to create, 0 to update, 0 to rename, 0 to delete, in 800 of 800 tenants.**"
    )


@pytest.mark.slow
def test_markdown_past_the_limit_still_shows_the_failed_and_unsafe_tenants() -> None:
    # In name order, a fleet's late tenants fell off the table and the details: an unsafe
    # "tenant-0790" or a failed "zz-broken" was invisible in the pull-request comment.
    risky = SafetyVerdict(managed=4, change_pct=75, max_change_pct=50, min_existing=0)
    tenants = [
        TenantPlan(
            tenant=f"tenant-{i:04d}",
            url="emulator:x",
            changes=_creates(i),
            safety=risky if i == 790 else SafetyVerdict(),
        )
        for i in range(800)
    ]
    tenants.append(TenantPlan(tenant="zz-broken", url="emulator:x", error="HTTP 401"))
    md = render_plan(Plan(tool_version="0", definitions_digest="d", tenants=tuple(tenants)), "markdown")
    assert len(md) <= MAX_CHARS
    table = md.split("\n\n")[1].splitlines()
    assert table[2].startswith("| zz-broken |") and table[3].startswith("| tenant-0790 |")
    assert "<summary>tenant-0790: 20 to create" in md
    assert (
        md.index("<summary>zz-broken") < md.index("<summary>tenant-0790") < md.index("<summary>tenant-0000")
    )


def test_markdown_shows_a_fleets_same_changes_once() -> None:
    # 300 tenants given the same definitions: each tenant's details block repeated the same changes
    # (live keys aside), and 249 of them were cut at the size limit.
    def tenant(i: int, max_attempts: int = 4) -> TenantPlan:
        return TenantPlan(
            tenant=f"tenant-{i:03d}",
            url="emulator:x",
            changes=(
                Create(name="Xero Export", body=(("name", "Xero Export"), ("notes", "x" * 200))),
                Update(
                    name="Bank Import",
                    key=1000 + i,
                    etag=f'W/"{i}"',
                    fields=(FieldChange("max_attempts", 3, max_attempts),),
                    before=(("name", "Bank Import"),),
                ),
            ),
        )

    tenants = [tenant(i) for i in range(299)] + [tenant(299, max_attempts=5)]
    md = render_plan(Plan(tool_version="0", definitions_digest="d", tenants=tuple(tenants)), "markdown")
    assert len(md) <= MAX_CHARS and "omitted" not in md
    assert md.count("<details>") == 2
    assert (
        "<summary>299 tenants (tenant-000, tenant-001, tenant-002, tenant-003, tenant-004, tenant-005, "
        "tenant-006, tenant-007, tenant-008, tenant-009 and 289 more), each: 1 to create, 1 to update"
    ) in md
    assert '! update "Bank Import"\n    max_attempts: 3 -> 4\n' in md  # no key: each tenant has its own
    assert "<summary>tenant-299: 1 to create, 1 to update" in md and "(key 1299)" in md
    assert md.count("| tenant-") == 300  # the table still has every tenant


def test_colour_only_for_text_on_a_terminal_without_no_color() -> None:
    from integration_sync.cli.common import use_color

    assert use_color("text", True, {})
    assert use_color("text", True, {"NO_COLOR": ""})
    assert not use_color("text", True, {"NO_COLOR": "1"})
    assert not use_color("text", False, {})
    assert not use_color("markdown", True, {})


def test_markdown_marks_updates_and_renames_as_changed_never_as_removed() -> None:
    # GitHub colours a diff line by its first character: "-> rename" read as a red removal.
    md = render_plan(sample_plan(), "markdown")
    body = md[md.index("<summary>acme") :]
    lines = body[: body.index("</details>")].splitlines()
    assert '! update "b" (key 2)' in lines and '! rename "x" -> "A" (key "k\'1")' in lines
    assert [line for line in lines if line.startswith("-")] == ['- delete "Old" (key 9)']
    assert not [line for line in lines if line.startswith(("~", "->"))]


def test_a_created_filter_is_shown_as_its_text() -> None:
    for fmt in ("text", "markdown", "github"):
        text = render_plan(sample_plan(), fmt)
        assert 'filter:       Status == "Approved" | x\n' in text, fmt
        assert '\\"Approved\\"' not in text, fmt
