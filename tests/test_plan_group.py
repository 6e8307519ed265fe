"""``plan --group-by integration`` and ``show --group-by integration`` / ``show --format html`` through the
CLI against emulator tenants with drift: each integration with the tenants it changes and each exact
change counted; the HTML drift matrix escapes what tenants and definitions name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from apply_helpers import BASE, cli, project, seed
from cli_run import run_cli

HOSTILE = '<img src=x onerror="alert(1)">&'

DEFINITIONS: list[dict[str, Any]] = [
    {"name": "Edit", **BASE, "max_attempts": 4, "notes": None},
    {"name": "Same", **BASE, "max_attempts": 3},
    {"name": HOSTILE, **BASE, "max_attempts": 2},
]

LIVE: dict[str, list[dict[str, Any]]] = {
    "ga": [
        {"name": "Edit", **BASE, "max_attempts": 3, "notes": "old"},
        {"name": "Same", **BASE, "max_attempts": 3},
    ],
    "gb": [
        {"name": "Edit", **BASE, "max_attempts": 4, "notes": "old"},
        {"name": "Same", **BASE, "max_attempts": 3},
    ],
    "gc": [
        {"name": "Edit", **BASE, "max_attempts": 3, "notes": "old"},
        {"name": "Same", **BASE, "max_attempts": 3},
    ],
    "gd": [
        {"name": "Edit", **BASE, "max_attempts": 4},
        {"name": "Same", **BASE, "max_attempts": 3},
        {"name": HOSTILE, **BASE, "max_attempts": 2},
    ],
}


@pytest.fixture
def config(emulator: Any, tmp_path: Path) -> Path:
    for name, items in LIVE.items():
        emulator.add_tenant(name)
        seed(emulator.tenant_url(name), items)
    return project(tmp_path, [{"name": n, "url": emulator.tenant_url(n)} for n in LIVE], DEFINITIONS)


@pytest.mark.slow
def test_plan_by_integration_counts_tenants_per_exact_change(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = cli(capsys, config, "plan", "--group-by", "integration")
    assert run.code == 0, run.out + run.err
    lines = run.out.splitlines()
    assert 'Integration "Edit": changes 3 tenants' in lines
    assert "  max_attempts: 3 -> 4 on 2 tenants: ga, gc" in lines
    assert '  notes: "old" -> null on 3 tenants: ga, gb, gc' in lines
    assert f"Integration {json.dumps(HOSTILE)}: changes 3 tenants" in lines
    assert "  create on 3 tenants: ga, gb, gc" in lines
    assert not any("Same" in line for line in lines)  # unchanged everywhere: not listed
    assert lines[-1] == "Plan: 3 to create, 3 to update, 0 to rename, 0 to delete, in 3 of 4 tenants."
    assert "Tenant ga (" not in run.out  # the per-tenant view is not printed as well

    data = json.loads(cli(capsys, config, "plan", "--group-by", "integration", "--format", "json").out)
    edit = next(g for g in data["integrations"] if g["name"] == "Edit")
    assert edit["tenant_count"] == 3 and edit["tenants"] == ["ga", "gb", "gc"]
    assert edit["actions"] == {"update": 3}
    assert {(c["field"], c.get("before"), c["after"], c["tenant_count"]) for c in edit["changes"]} == {
        ("max_attempts", 3, 4, 2),
        ("notes", "old", None, 3),
    }
    assert data["summary"]["tenants_with_changes"] == 3 and data["problems"] == []

    md = cli(capsys, config, "plan", "--group-by", "integration", "--format", "markdown").out
    assert "### Edit: changes 3 tenants" in md
    assert '| `notes: "old" -> null` | 3 | ga, gb, gc |' in md
    assert "<img" not in md

    github = cli(capsys, config, "plan", "--group-by", "integration", "--format", "github").out
    assert "::notice title=Edit changes 3 tenants::max_attempts: 3 -> 4 on 2 tenants: ga%2C gc" not in github
    assert "::notice title=Edit changes 3 tenants::max_attempts: 3 -> 4 on 2 tenants: ga, gc%0A" in github


@pytest.mark.slow
def test_show_groups_a_saved_plan_and_writes_an_escaped_html_matrix(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "plan.json"
    assert cli(capsys, config, "plan", "--out", str(saved)).code == 0
    grouped = run_cli(capsys, "show", str(saved), "--group-by", "integration")
    assert grouped.code == 0, grouped.err
    assert grouped.out == cli(capsys, config, "plan", "--group-by", "integration").out

    page = run_cli(capsys, "show", str(saved), "--format", "html")
    assert page.code == 0, page.err
    html = page.out
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<img" not in html and 'onerror="' not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;" in html
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")  # loads nothing
    # one cell per changed pair: Edit on ga, gb, gc and the hostile create on ga, gb, gc
    assert html.count('<td class="update"') == 3 and html.count('<td class="create"') == 3
    assert "<th>gd</th>" not in html  # a tenant without changes has no column
    assert 'title="max_attempts: 3 -&gt; 4\nnotes: &quot;old&quot; -&gt; null">~</td>' in html


@pytest.mark.slow
def test_html_is_for_show_only_and_group_by_takes_one_view(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, config, "plan", "--format", "html").code == 1
    assert cli(capsys, config, "plan", "--group-by", "tenant").code == 1
