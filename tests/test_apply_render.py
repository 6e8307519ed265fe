"""The apply report as text (pure): the closing lines say what did not apply, and only that."""

from __future__ import annotations

from integration_sync.apply_report import ApplyReport, ItemResult, TenantResult
from integration_sync.render.apply_text import render


def test_a_tenant_refused_without_items_is_not_counted_as_zero_changes() -> None:
    # Before: "0 changes did not apply; tenant not applied: b" for a tenant that failed to plan.
    report = ApplyReport(
        tenants=(
            TenantResult("a", (ItemResult("create", "X", "done", key=7),)),
            TenantResult("b", error="not planned: HTTP 401"),
        )
    )
    text = render(report)
    assert text.endswith(
        "Apply: 1 done, 0 stale, 0 failed, 0 skipped, in 2 tenants.\n"
        "Tenant not applied: b. Run plan to see what is left.\n"
    )
    assert "  not applied: not planned: HTTP 401\n" in text


def test_changes_that_did_not_apply_and_refused_tenants_are_both_named() -> None:
    skipped = ItemResult("update", "Y", "skipped", reason="refused by the safety thresholds")
    report = ApplyReport(
        tenants=(
            TenantResult("a", (ItemResult("create", "X", "stale", reason="the name 'X' now exists"),)),
            TenantResult("b", (skipped,), error="refused by the safety thresholds"),
        )
    )
    assert render(report).endswith(
        "2 changes did not apply; tenant not applied: b. Run plan to see what is left.\n"
    )


def test_apply_lines_carry_the_key_as_plan_lines_do() -> None:
    items = (
        ItemResult("create", "New", "done", key=7),
        ItemResult("update", "Edit", "done", key=2),
        ItemResult("rename", "B", "done", from_name="A", key="k'1"),
        ItemResult("delete", "Old", "stale", reason="no longer exists", key=9),
    )
    text = render(ApplyReport(tenants=(TenantResult("a", items),)))
    assert '  + created "New" (key 7)\n' in text
    assert '  ~ updated "Edit" (key 2)\n' in text
    assert '  -> renamed "A" -> "B" (key "k\'1")\n' in text
    assert '  STALE: delete "Old" (key 9): no longer exists\n' in text
