"""`integration-sync show` and the plan's other formats end to end, through the real CLI against emulator
tenants over loopback HTTP: saved plans rendered as terraform show does, CI shards combined into one
plan (and applied as one), invalid definitions and warnings in the format asked for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from apply_helpers import BASE, DEFINITIONS, cli, live, project, seed
from cli_run import run_cli

FORMATS = ("text", "markdown", "json", "github")


def _fleet(emulator: Any, tmp_path: Path, names: tuple[str, ...], definitions: Any = DEFINITIONS) -> Path:
    for name in names:
        emulator.add_tenant(name)
        seed(emulator.tenant_url(name))
    return project(tmp_path, [{"name": n, "url": emulator.tenant_url(n)} for n in names], definitions)


def _shards(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path, names: tuple[str, ...]
) -> list[Path]:
    """Two plans of two halves of the tenants, as two CI shards make them."""
    files = []
    for k, half in enumerate((names[: len(names) // 2], names[len(names) // 2 :]), start=1):
        path = tmp_path / f"plan-{k}.json"
        selection = [arg for n in half for arg in ("--tenant", n)]
        assert cli(capsys, config, "plan", *selection, "--out", str(path)).code == 0
        files.append(path)
    return files


@pytest.mark.slow
def test_shard_plans_show_as_one_plan_and_apply_as_one(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ("sa", "sb", "sc", "sd")
    config = _fleet(emulator, tmp_path, names)
    shards = _shards(capsys, config, tmp_path, names)
    per_shard = [{t["name"] for t in json.loads(p.read_text())["tenants"]} for p in shards]
    assert per_shard[0] and per_shard[1] and per_shard[0] | per_shard[1] == set(names)

    text = run_cli(capsys, "show", *map(str, shards))
    assert text.code == 0, text.err
    for name in names:
        assert f"Tenant {name} (" in text.out
    assert "Plan: 4 to create, 4 to update, 8 to rename, 0 to delete, in 4 of 4 tenants." in text.out

    md = run_cli(capsys, "show", *map(str, shards), "--format", "markdown")
    assert md.out.startswith("## integration-sync plan") and md.out.count("| s") == 4
    github = run_cli(capsys, "show", *map(str, shards), "--format", "github")
    assert github.out.startswith("Tenant sa (")

    combined = run_cli(capsys, "show", *map(str, shards), "--format", "json")
    data = json.loads(combined.out)
    assert data["format_version"] == 2 and data["summary"]["tenants"] == 4
    assert data["summary"]["create"] == 4 and data["summary"]["tenants_with_changes"] == 4
    whole = tmp_path / "whole.json"
    whole.write_text(combined.out)
    applied = cli(capsys, config, "apply", str(whole))
    assert applied.code == 0, applied.out
    assert "Apply: 16 done, 0 stale, 0 failed, 0 skipped, in 4 tenants." in applied.out
    assert all("Brand New" in live(emulator.tenant_url(n)) for n in names)


@pytest.mark.slow
def test_plans_that_overlap_or_come_from_other_definitions_are_not_combined(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _fleet(emulator, tmp_path, ("oa", "ob"))
    first, second = _shards(capsys, config, tmp_path, ("oa", "ob"))

    twice = run_cli(capsys, "show", str(first), str(first))
    assert twice.code == 1 and twice.out == ""
    assert twice.err.startswith("error: tenant o") and f"is in both {first} and {first}" in twice.err

    # The second shard planned again after a definition changed: another commit's definitions.
    project(tmp_path, [{"name": n, "url": emulator.tenant_url(n)} for n in ("oa", "ob")], DEFINITIONS[:-1])
    assert cli(capsys, config, "plan", "--tenant", "ob", "--out", str(second)).code == 0
    mixed = run_cli(capsys, "show", str(first), str(second))
    assert mixed.code == 1 and mixed.out == ""
    assert f"error: {second} and {first} were not planned alike: from other definitions" in mixed.err
    assert "plan every shard from the same commit" in mixed.err
    assert len(mixed.err.splitlines()) == 1


def test_show_refuses_what_is_not_a_plan_of_this_format(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _fleet(emulator, tmp_path, ("rep",))
    plan_file, report = tmp_path / "plan.json", tmp_path / "report.json"
    assert cli(capsys, config, "plan", "--out", str(plan_file)).code == 0
    assert cli(capsys, config, "apply", str(plan_file), "--report", str(report)).code == 0
    for command in (("show", str(report)), ("--config", str(config), "apply", str(report))):
        given = run_cli(capsys, *command)
        assert given.code == 1
        assert "is an apply report (integration-sync apply --report), not a plan" in given.err

    old = json.loads(plan_file.read_text())
    old["format_version"] = 1
    plan_file.write_text(json.dumps(old))
    result = run_cli(capsys, "show", str(plan_file))
    assert result.code == 1 and "written by an older integration-sync" in result.err
    assert "make a new plan" in result.err and "Traceback" not in result.err


def test_invalid_definitions_give_the_requested_format(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("inv")
    url = emulator.tenant_url("inv")
    config = project(tmp_path, [{"name": "inv", "url": url}], [{"name": "X", **BASE, "max_attempts": 0}])
    as_json = cli(capsys, config, "plan", "--format", "json")
    assert as_json.code == 1
    data = json.loads(as_json.out)  # one JSON object on stdout
    assert data["valid"] is False and data["errors"] == 1
    assert data["diagnostics"][0]["file"].endswith("d000.yaml")
    assert "nothing was planned" in as_json.err

    md = cli(capsys, config, "plan", "--format", "markdown")
    assert md.code == 1 and md.out.startswith("## integration-sync: the definitions are not valid")
    assert "d000.yaml:" in md.out and "max_attempts" in md.out

    github = cli(capsys, config, "plan", "--format", "github")
    assert github.code == 1 and github.err.startswith("::error file=")


def test_warnings_are_shown_once_in_the_format_and_only_for_the_selected_tenants(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("wa", "wb"):
        emulator.add_tenant(name)
    noisy = {"name": "Noisy", **BASE, "parallel": False, "batch_size": 5, "sync": {"tenants": ["wa"]}}
    config = project(
        tmp_path,
        [{"name": n, "url": emulator.tenant_url(n)} for n in ("wa", "wb")],
        [DEFINITIONS[0], noisy],
    )
    rule = "batch-size-without-parallel"
    text = cli(capsys, config, "plan", "--tenant", "wa")
    assert text.code == 0
    assert (text.out + text.err).count(rule) == 1 and "warning: batch_size: 5 has no effect" in text.out
    md = cli(capsys, config, "plan", "--tenant", "wa", "--format", "markdown")
    assert md.out.count(rule) == 1 and "**1 warning** about the definitions planned" in md.out
    github = cli(capsys, config, "plan", "--tenant", "wa", "--format", "github")
    assert github.out.count("::warning file=") == 1 and f"title={rule}::" in github.out
    assert (github.out + github.err).count(rule) == 1  # the annotation only, not also the text line
    as_json = cli(capsys, config, "plan", "--tenant", "wa", "--format", "json")
    assert [w["rule"] for w in json.loads(as_json.out)["warnings"]] == [rule]
    assert rule not in as_json.err

    # Not for a tenant the definition does not go to, nor for a definition --integration leaves out.
    other = cli(capsys, config, "plan", "--tenant", "wb")
    assert rule not in other.out + other.err
    narrowed = cli(capsys, config, "plan", "--tenant", "wa", "--integration", "Keep")
    assert rule not in narrowed.out + narrowed.err


@pytest.mark.slow
def test_a_partial_plan_is_not_combined_with_a_full_one_and_the_line_says_so(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _fleet(emulator, tmp_path, ("pa", "pb"))
    full, partial = tmp_path / "full.json", tmp_path / "partial.json"
    assert cli(capsys, config, "plan", "--tenant", "pa", "--out", str(full)).code == 0
    name = DEFINITIONS[0]["name"]
    assert (
        cli(capsys, config, "plan", "--tenant", "pb", "--integration", name, "--out", str(partial)).code == 0
    )
    mixed = run_cli(capsys, "show", str(full), str(partial))
    assert mixed.code == 1 and len(mixed.err.splitlines()) == 1
    assert "were not planned alike: one partial (--integration), the other full;" in mixed.err
