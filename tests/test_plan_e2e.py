"""`integration-sync plan` end to end: the real CLI in a subprocess, a config in tmp_path, emulator
tenants over loopback HTTP."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from integration_sync import fields
from integration_sync.emulator.variations import Variations
from integration_sync.plan import load_plan

pytestmark = pytest.mark.slow  # each test runs the CLI or a server end to end

BASE = {"direction": "Inbound", "entity": "Invoice", "consent_type": "OAuth"}

#: What each tenant holds before planning (YAML keys).
LIVE: list[dict[str, Any]] = [
    {"name": "Keep", **BASE, "max_attempts": 3},
    {"name": "Edit", **BASE, "max_attempts": 3, "notes": "old"},
    {"name": "Old Name", **BASE, "max_attempts": 2},
    {"name": "Mirror Orphan", **BASE, "managed": True},
    {"name": "Client Owned", **BASE, "managed": False},
    {"name": "Filler A", **BASE, "managed": False},
    {"name": "Filler B", **BASE, "managed": False},
]
#: The definitions (the sync block included).
DEFINITIONS: list[dict[str, Any]] = [
    {"name": "Keep", **BASE, "max_attempts": 3},
    {"name": "Edit", **BASE, "max_attempts": 4, "notes": None},
    {"name": "New Name", **BASE, "max_attempts": 2, "sync": {"previous_names": ["Old Name"]}},
    {"name": "Brand New", **BASE, "batch_size": 2, "parallel": True},
]
COUNTS = {"create": 1, "update": 1, "rename": 1, "delete": 0}


def seed(url: str, token: str | None = None, items: list[dict[str, Any]] = LIVE) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(headers=headers) as http:
        for item in items:
            r = http.post(url + "Integrations", json=fields.to_odata(item))
            assert r.status_code in (201, 204), r.text


def project(
    tmp_path: Path,
    tenants: list[dict[str, Any]],
    definitions: list[dict[str, Any]] = DEFINITIONS,
    **extra: Any,
) -> Path:
    (tmp_path / "definitions").mkdir(exist_ok=True)
    for i, d in enumerate(definitions):
        (tmp_path / "definitions" / f"d{i}.yaml").write_text(yaml.safe_dump(d, sort_keys=False))
    config = {
        "definitions": "definitions",
        "tenants": tenants,
        "settings": {"max_retries": 0, "timeout_s": 10},
        **extra,
    }
    path = tmp_path / "integration-sync.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "integration_sync", "--config", str(config), "plan", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def tenant_counts(stdout: str) -> dict[str, dict[str, int]]:
    data = json.loads(stdout)
    return {
        t["name"]: {a: sum(1 for c in t["changes"] if c["action"] == a) for a in COUNTS}
        for t in data["tenants"]
    }


def test_counts_exit_codes_and_saved_plan(emulator: Any, tmp_path: Path) -> None:
    emulator.add_tenant("alpha")
    seed(emulator.tenant_url("alpha"))
    config = project(tmp_path, [{"name": "alpha", "url": emulator.tenant_url("alpha")}])

    text = run(config)
    assert text.returncode == 0, text.stderr
    assert "Plan: 1 to create, 1 to update, 1 to rename, 0 to delete, in 1 of 1 tenant." in text.stdout
    assert '~ update "Edit"' in text.stdout and "max_attempts: 3 -> 4" in text.stdout
    assert 'notes:        "old" -> null' in text.stdout
    assert '-> rename "Old Name" -> "New Name"' in text.stdout
    assert '"Mirror Orphan"' in text.stdout and "orphans" in text.stdout
    assert "Client Owned" not in text.stdout

    detailed = run(config, "--detailed-exitcode", "--out", str(tmp_path / "plan.json"), "--format", "json")
    assert detailed.returncode == 2
    # the hint names the config given (else the hint's apply would read ./integration-sync.yaml)
    hint = f"integration-sync --config {config} apply {tmp_path / 'plan.json'}"
    assert f"Plan saved to {tmp_path / 'plan.json'}; apply exactly it with: {hint}" in detailed.stderr
    saved = load_plan(tmp_path / "plan.json")
    assert saved.to_json() == detailed.stdout
    (alpha,) = saved.tenants
    assert alpha.counts() == COUNTS and alpha.unchanged == 1 and alpha.orphans == ("Mirror Orphan",)
    assert alpha.url == emulator.tenant_url("alpha") and alpha.live_digest

    deleting = run(config, "--allow-delete", "--format", "json")
    assert tenant_counts(deleting.stdout)["alpha"] == {**COUNTS, "delete": 1}

    partial = run(config, "--integration", "brand new", "--allow-delete")
    assert partial.returncode == 0
    assert "Partial plan" in partial.stdout
    assert "Plan: 1 to create, 0 to update, 0 to rename, 0 to delete" in partial.stdout

    unknown = run(config, "--integration", "No Such Thing")
    assert unknown.returncode == 1 and "no definition is named 'No Such Thing'" in unknown.stderr

    md = run(config, "--format", "markdown")
    assert md.stdout.startswith("## integration-sync plan") and "| alpha | 1 | 1 | 1 | 0 | 1 |" in md.stdout


def test_no_changes_is_exit_zero_even_with_detailed_exitcode(emulator: Any, tmp_path: Path) -> None:
    emulator.add_tenant("same")
    seed(emulator.tenant_url("same"), items=[{**d} for d in DEFINITIONS[:1]])
    config = project(tmp_path, [{"name": "same", "url": emulator.tenant_url("same")}], DEFINITIONS[:1])
    result = run(config, "--detailed-exitcode")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes. 1 tenant matches the definitions." in result.stdout


def test_a_failing_tenant_beside_healthy_ones(emulator: Any, tmp_path: Path) -> None:
    for name in ("good1", "good2"):
        emulator.add_tenant(name)
        seed(emulator.tenant_url(name))
    emulator.add_tenant("locked", token="right-token")
    tenants = [
        {"name": "good1", "url": emulator.tenant_url("good1")},
        {"name": "locked", "url": emulator.tenant_url("locked"), "token_env": "FK_TOKEN_LOCKED"},
        {"name": "good2", "url": emulator.tenant_url("good2")},
        {"name": "unset", "url": emulator.tenant_url("good1"), "token_env": "FK_TOKEN_UNSET"},
    ]
    config = project(tmp_path, tenants)
    result = run(config, "--detailed-exitcode", env={"FK_TOKEN_LOCKED": "wrong-token"})
    assert result.returncode == 1
    assert "Tenant locked" in result.stdout and "401" in result.stdout
    assert "FK_TOKEN_UNSET is not set" in result.stdout
    assert "2 tenants failed: locked, unset" in result.stdout
    assert "Plan: 2 to create, 2 to update, 2 to rename, 0 to delete, in 2 of 4 tenants." in result.stdout
    assert "wrong-token" not in result.stdout + result.stderr


def test_shards_cover_every_tenant_exactly_once(emulator: Any, tmp_path: Path) -> None:
    names = [f"s{i}" for i in range(7)]
    for name in names:
        emulator.add_tenant(name)
    config = project(tmp_path, [{"name": n, "url": emulator.tenant_url(n)} for n in names])
    seen: list[str] = []
    for k in (1, 2, 3):
        result = run(config, "--shard", f"{k}/3", "--format", "json")
        assert result.returncode == 0, result.stderr
        seen.extend(t["name"] for t in json.loads(result.stdout)["tenants"])
    assert sorted(seen) == names
    bad = run(config, "--shard", "4/3")
    assert bad.returncode == 1 and "--shard" in bad.stderr and "Traceback" not in bad.stderr


def _variation_cases() -> dict[str, dict[str, Any]]:
    """One tenant per variation switch of the emulator (each switch on, alone)."""
    cases: dict[str, dict[str, Any]] = {"plain": {}}
    for f in dataclasses.fields(Variations):
        if f.name == "query_options_disabled":
            cases[f.name] = {f.name: True}
        elif f.name == "error_body":
            cases[f.name] = {f.name: "problem"}
        elif f.name == "conflict_reply":
            cases[f.name] = {f.name: "unique_index"}
        elif f.name == "page_hook":
            cases[f.name] = {f.name: "repeat", "page_size": 3}
        elif f.name in ("page_size", "max_page_size"):
            cases[f.name] = {f.name: 3}
        elif f.name == "etags_required":
            cases[f.name] = {f.name: True}
        elif f.name == "max_lengths":
            cases[f.name] = {f.name: {fields.odata_name("consent_type"): 32}}
        elif f.name == "renamed_properties":
            continue  # needs odata_names in the config: tests/test_doctor.py plans and applies it
        else:
            cases[f.name] = {f.name: True}
    return cases


def test_a_plan_on_a_tenant_for_each_variation_switch(emulator: Any, tmp_path: Path) -> None:
    cases = _variation_cases()
    tenants = []
    for switch, variations in cases.items():
        name = "v-" + switch.replace("_", "-")
        emulator.add_tenant(name, variations=variations)
        seed(emulator.tenant_url(name))
        tenants.append({"name": name, "url": emulator.tenant_url(name)})
    # page_size 2 in the config: every tenant pages (7 live integrations -> 4 pages) unless it ignores it.
    config = project(tmp_path, tenants, settings={"max_retries": 0, "timeout_s": 10, "page_size": 2})
    result = run(config, "--format", "json", "--parallelism", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    counts = tenant_counts(result.stdout)
    assert counts == {t["name"]: COUNTS for t in tenants}
    plan = json.loads(result.stdout)
    for t in plan["tenants"]:
        assert t["unchanged"] == 1 and t["orphans"] == ["Mirror Orphan"], t["name"]
        update = next(c for c in t["changes"] if c["action"] == "update")
        assert (update["etag"] is None) == (t["name"] == "v-etags-off"), t["name"]
    # Paging used the minimum number of list requests on a plain tenant.
    lists = [r for r in emulator.requests("v-plain") if r["method"] == "GET"]
    assert len(lists) == 4


def test_the_token_never_appears_in_any_output(emulator: Any, tmp_path: Path) -> None:
    token = "tok-Zq81-very-secret-value"
    emulator.add_tenant("secure", token=token)
    seed(emulator.tenant_url("secure"), token=token)
    emulator.add_tenant("secure-bad", token="another-token")
    tenants = [
        {"name": "secure", "url": emulator.tenant_url("secure"), "token_env": "FK_TOKEN_SECURE"},
        {"name": "secure-bad", "url": emulator.tenant_url("secure-bad"), "token_env": "FK_TOKEN_SECURE"},
    ]
    config = project(tmp_path, tenants)
    out = tmp_path / "plan.json"
    for args in (("-v",), ("-vv",)):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "integration_sync",
                *args,
                "--config",
                str(config),
                "plan",
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "FK_TOKEN_SECURE": token},
            timeout=60,
        )
        assert result.returncode == 1  # secure-bad refuses the token
        assert "Tenant secure (" in result.stdout and "Plan: 1 to create" in result.stdout
        assert "INFO" in result.stderr  # -v did log
        for text in (result.stdout, result.stderr, out.read_text()):
            assert token not in text


def test_invalid_definitions_plan_nothing(emulator: Any, tmp_path: Path) -> None:
    emulator.add_tenant("alpha")
    config = project(
        tmp_path,
        [{"name": "alpha", "url": emulator.tenant_url("alpha")}],
        [{"name": "X", **BASE, "max_attempts": 0}],
    )
    result = run(config)
    assert result.returncode == 1
    assert "d0.yaml:" in result.stderr and "nothing was planned" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert not [r for r in emulator.requests("alpha")]


def test_the_safety_denominator_is_the_same_in_a_full_and_a_partial_plan(
    emulator: Any, tmp_path: Path
) -> None:
    # It was 12.5% of 8 in a full plan and 25% of 4 in a partial one for the same one-field update.
    emulator.add_tenant("denom")
    seed(emulator.tenant_url("denom"))
    config = project(tmp_path, [{"name": "denom", "url": emulator.tenant_url("denom")}])
    full = json.loads(run(config, "--format", "json").stdout)["tenants"][0]["safety"]
    partial = json.loads(run(config, "--format", "json", "--integration", "Edit").stdout)["tenants"][0][
        "safety"
    ]
    # Keep, Edit and Old Name (client-owned, matched by a definition) + Mirror Orphan (IsManaged); the
    # client-owned integrations no definition names do not count.
    assert full["managed"] == partial["managed"] == 4
    assert (full["change_pct"], partial["change_pct"]) == (50.0, 25.0)  # update + rename, then the update


def test_the_safety_denominator_does_not_depend_on_which_tenants_are_selected(
    emulator: Any, tmp_path: Path
) -> None:
    """A client-owned integration counts when any definition of the repository names it, whether or not
    the tenant that definition goes to is in this run: a full plan, --tenant and a shard agree."""
    for name in ("da", "db"):
        emulator.add_tenant(name)
        seed(emulator.tenant_url(name))
    only_db = {"name": "Filler A", **BASE, "managed": False, "sync": {"tenants": ["db"]}}
    config = project(
        tmp_path,
        [{"name": n, "url": emulator.tenant_url(n)} for n in ("da", "db")],
        [*DEFINITIONS, only_db],
    )

    def managed(*args: str) -> int:
        result = run(config, "--format", "json", *args)
        assert result.returncode == 0, result.stderr
        return {t["name"]: t["safety"]["managed"] for t in json.loads(result.stdout)["tenants"]}["da"]

    # Keep, Edit, Old Name, Mirror Orphan, and Filler A (named by db's definition)
    assert managed() == managed("--tenant", "da") == managed("--exclude-tenant", "db") == 5


def test_unsafe_tenant_is_marked_from_its_floor_on(emulator: Any, tmp_path: Path) -> None:
    # The same changes on the same 4 managed integrations: unsafe once safety.min_existing allows
    # judging so few; below the default floor of 10 they are not, on purpose.
    emulator.add_tenant("strict")
    emulator.add_tenant("small")
    seed(emulator.tenant_url("strict"))
    seed(emulator.tenant_url("small"))
    tenants = [
        {
            "name": "strict",
            "url": emulator.tenant_url("strict"),
            "safety": {"max_change_pct": 20, "min_existing": 4},
        },
        {"name": "small", "url": emulator.tenant_url("small"), "safety": {"max_change_pct": 20}},
    ]
    result = run(project(tmp_path, tenants), "--format", "json")
    small, strict = json.loads(result.stdout)["tenants"]
    # 2 of 4 managed integrations change (Keep, Edit, Old Name matched + Mirror Orphan): 50% > 20%.
    assert strict["safety"] == {
        "managed": 4,
        "change_pct": 50.0,
        "delete_pct": 0.0,
        "max_change_pct": 20.0,
        "max_delete_pct": 10.0,
        "min_existing": 4,
        "unsafe": True,
    }
    assert small["safety"] == {**strict["safety"], "min_existing": 10, "unsafe": False}


def test_fresh_clone_plans_the_repo_definitions_against_the_embedded_tenant(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parent.parent
    shutil.copytree(repo / "definitions", tmp_path / "definitions")
    shutil.copy(repo / "integration-sync.yaml", tmp_path / "integration-sync.yaml")
    result = subprocess.run(
        [sys.executable, "-m", "integration_sync", "plan", "--format", "json", "--detailed-exitcode"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ),
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    (local,) = json.loads(result.stdout)["tenants"]
    definitions = [
        doc
        for f in (tmp_path / "definitions").glob("*.yaml")
        for doc in yaml.safe_load_all(f.read_text())
        if doc
    ]
    assert local["name"] == "local" and local["url"] == "emulator:local" and local["error"] is None
    assert len(local["changes"]) == len(definitions)
    assert {c["action"] for c in local["changes"]} == {"create"}
    assert (tmp_path / ".integration-sync").is_dir()


@pytest.mark.parametrize("state", ["folder", "database"])
def test_an_embedded_emulator_that_cannot_start_is_one_clear_error(tmp_path: Path, state: str) -> None:
    if state == "folder":
        (tmp_path / ".integration-sync").write_text("not a folder")
    else:  # an unreadable database file is a sqlite3 error, not an OSError
        (tmp_path / ".integration-sync").mkdir()
        (tmp_path / ".integration-sync" / "emulator.sqlite3").write_text("not a database")
    config = project(tmp_path, [{"name": "local", "url": "emulator:local"}])
    result = run(config)
    assert result.returncode == 1
    assert "cannot start the embedded emulator" in result.stderr and "Traceback" not in result.stderr
