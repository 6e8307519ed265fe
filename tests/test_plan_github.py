"""`plan --format github`: the text plan for the log, then annotations for what a reviewer must see on
the run's page, escaped as the Actions runner reads workflow commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import run_cli
from plan_samples import empty_plan, sample_plan

from integration_sync.plan import Plan, TenantPlan
from integration_sync.render.github import annotation, escape_data, escape_property
from integration_sync.render.registry import render_plan


def test_escaping_follows_the_workflow_command_rules() -> None:
    assert escape_data("50% done\r\nnext: a,b") == "50%25 done%0D%0Anext: a,b"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert annotation("error", "x", file="d/a:b.yaml", line=3) == "::error file=d/a%3Ab.yaml,line=3::x"
    assert annotation("notice", "plain") == "::notice::plain"


def test_failed_and_unsafe_tenants_are_annotated_after_the_text_plan() -> None:
    out = render_plan(sample_plan(), "github")
    text = render_plan(sample_plan(), "text")
    assert out.startswith(text.rstrip("\n"))
    annotations = [line for line in out.splitlines() if line.startswith("::")]
    assert annotations == [
        "::warning title=integration-sync plan::tenant acme: changes 60%25 of 5 managed integrations "
        "(max_change_pct 50%25); apply refuses this tenant without --force",
        "::warning title=integration-sync plan::tenant acme: deletes 20%25 of 5 managed integrations "
        "(max_delete_pct 10%25); apply refuses this tenant without --force",
        "::error title=integration-sync plan::tenant Broken: GET /b/OData/Integrations: HTTP 401: no",
    ]


def test_a_possible_rename_is_a_notice_with_the_fix() -> None:
    tenant = TenantPlan(tenant="acme", url="emulator:acme", possible_renames=(("New Name", "Old, 100%"),))
    plan = Plan(tool_version="0", definitions_digest="sha256:0", tenants=(tenant,))
    last = render_plan(plan, "github").splitlines()[-1]
    assert last == (
        '::notice title=integration-sync plan::tenant acme: "New Name" looks like "Old, 100%25" renamed; '
        'to rename it in place instead, add to its definition: sync: {previous_names: ["Old, 100%25"]}'
    )


def test_no_changes_has_no_annotations() -> None:
    out = render_plan(empty_plan(), "github")
    assert "::" not in out
    assert out == render_plan(empty_plan(), "text")


def test_invalid_definitions_are_annotations_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "definitions").mkdir()
    (tmp_path / "definitions" / "a.yaml").write_text(
        "name: A\ndirection: outbound\nentity: X\nconsent_type: OAuth\n"
    )
    config = tmp_path / "integration-sync.yaml"
    config.write_text("definitions: definitions\ntenants:\n  - {name: local, url: 'emulator:local'}\n")
    run = run_cli(capsys, "--config", str(config), "plan", "--format", "github")
    assert run.code == 1
    assert run.out == ""
    first = run.err.splitlines()[0]
    assert first.startswith("::error file=")
    assert "a.yaml,line=2,col=12,title=" in first
