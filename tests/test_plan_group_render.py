"""The grouped view and the HTML drift matrix as pure renderers of a plan: exact changes counted, tenants
summarised past a few, the matrix summarised past its size, problems kept, hostile names escaped."""

from __future__ import annotations

import json

import pytest

from integration_sync.plan import Create, Delete, FieldChange, Plan, Rename, TenantPlan, Update
from integration_sync.render import plan_groups, plan_html
from integration_sync.render.registry import FORMATS, render_plan_view


def _plan(n: int, *, extra: tuple[TenantPlan, ...] = ()) -> Plan:
    tenants = [
        TenantPlan(
            tenant=f"t{i:02}",
            url="http://x",
            changes=(
                Update("Edit", i, None, (FieldChange("max_attempts", 3 if i % 2 else 2, 4),)),
                Create("New", (("name", "New"),)),
            ),
        )
        for i in range(n)
    ]
    return Plan("0", "sha256:x", (*tenants, *extra))


def test_each_exact_change_counts_its_tenants_and_lists_a_few() -> None:
    groups = plan_groups.group(_plan(12))
    assert [g.name for g in groups] == ["Edit", "New"]
    edit = groups[0]
    assert len(edit.tenants) == 12
    assert sorted((d.before, len(d.tenants)) for d in edit.changes) == [(2, 6), (3, 6)]
    text = plan_groups.render_text(_plan(12))
    assert "  max_attempts: 2 -> 4 on 6 tenants: t00, t02, t04, t06, t08 and 1 more" in text
    assert "  create on 12 tenants: t00, t01, t02, t03, t04 and 7 more" in text
    data = json.loads(plan_groups.render_json(_plan(12)))
    assert len(data["integrations"][1]["tenants"]) == 12  # JSON lists every tenant


def test_renames_and_deletes_group_apart_and_problems_stay() -> None:
    extra = (
        TenantPlan("r1", "http://x", changes=(Rename("Old", "Edit", 1, None), Delete("gone", 2, None))),
        TenantPlan("r2", "http://x", changes=(Delete("GONE", 2, None),)),
        TenantPlan("zz", "http://x", error="tenant zz: 503 Service Unavailable"),
    )
    text = plan_groups.render_text(_plan(1, extra=extra))
    assert '  rename from "Old" on 1 tenant: r1' in text
    assert 'Integration "gone": changes 2 tenants' in text and "  delete on 2 tenants: r1, r2" in text
    assert "Tenant zz: tenant zz: 503 Service Unavailable" in text
    for fmt in FORMATS:
        assert "503 Service Unavailable" in render_plan_view(_plan(1, extra=extra), fmt, "integration")


def test_no_changes_says_so_in_every_format() -> None:
    empty = Plan("0", "sha256:x", (TenantPlan("a", "http://x", unchanged=3),))
    assert plan_groups.render_text(empty).endswith("No integration changes on any tenant.\n\nNo changes.\n")
    for fmt in (*FORMATS, "html"):
        if fmt != "json":
            assert "No changes." in render_plan_view(empty, fmt, "integration")
    assert json.loads(render_plan_view(empty, "json", "integration"))["integrations"] == []


def test_the_matrix_is_summarised_past_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_html, "MAX_COLUMNS", 3)
    monkeypatch.setattr(plan_html, "MAX_ROWS", 1)
    page = plan_html.render(_plan(5))
    assert page.count("<th>t0") == 3 and '<th class="more">2 more tenants</th>' in page
    assert '<th class="row more">1 more integration</th>' in page
    assert "the matrix shows 1 integration and 3 tenants, those with the most changes" in page


def test_html_escapes_names_from_tenants_and_lone_surrogates() -> None:
    hostile = '"><script>alert(1)</script>\ud800'
    plan = Plan("0", "sha256:x", (TenantPlan("a", "http://x", changes=(Delete(hostile, 1, None),)),))
    page = plan_html.render(plan)
    assert "<script>" not in page and "&lt;script&gt;" in page and "&quot;&gt;" in page
    assert "\ud800" not in page and "\ufffd" in page
    page.encode("utf-8")
