"""`integration-sync apply` end to end through the real CLI, against emulator tenants over loopback HTTP:
saved plans applied exactly on every variation of a tenant, stale items refused and left alone, safety
thresholds and delete permissions, the report file, the approval rules."""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from apply_helpers import BASE, DEFINITIONS, cli, http, live, project, seed

from integration_sync import fields
from integration_sync.emulator.variations import Variations

pytestmark = pytest.mark.slow  # each test runs the CLI or a server end to end

#: Safety settings that let every planned change through.
OPEN = {"allow_delete": True, "max_change_pct": 100, "max_delete_pct": 100}


def _variation_cases() -> dict[str, dict[str, Any]]:
    """One tenant per variation switch of the emulator (each switch on, alone); a new switch must be
    given a value here before this test passes."""
    values: dict[str, Any] = {
        "query_options_disabled": True,
        "error_body": "empty",
        "conflict_reply": "opaque",
        "page_hook": "edit",
        "page_size": 2,
        "max_page_size": 2,
        "max_lengths": {fields.odata_name("consent_type"): 32},
    }
    cases: dict[str, dict[str, Any]] = {"plain": {}}
    for f in dataclasses.fields(Variations):
        if f.name == "renamed_properties":  # needs odata_names in the config: tests/test_doctor.py applies it
            continue
        value = values.get(f.name, True)
        assert isinstance(value, type(f.default)) or f.name in values, f"give switch {f.name} a test value"
        cases[f.name] = {f.name: value}
    cases["ignore_maxpagesize"]["page_size"] = 2
    return cases


def _changes(plan_path: Path) -> dict[str, int]:
    data = json.loads(plan_path.read_text())
    return {t["name"]: len(t["changes"]) for t in data["tenants"]}


def test_a_saved_plan_applied_then_replanned_is_empty_on_every_variation(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tenants = []
    for switch, variations in _variation_cases().items():
        name = "v-" + switch.replace("_", "-")
        emulator.add_tenant(name, variations=variations)
        seed(emulator.tenant_url(name))
        tenants.append({"name": name, "url": emulator.tenant_url(name), "safety": OPEN})
    config = project(tmp_path, tenants, settings={"max_retries": 2, "timeout_s": 10, "page_size": 2})
    plan_file = tmp_path / "plan.json"

    planned = cli(capsys, config, "plan", "--out", str(plan_file), "--parallelism", "6")
    assert planned.code == 0, planned.out + planned.err
    # create, update, rename, case-only rename, delete of the managed orphan
    assert set(_changes(plan_file).values()) == {5}

    applied = cli(capsys, config, "apply", str(plan_file), "--parallelism", "6")
    assert applied.code == 0, applied.out + applied.err
    assert (
        f"Apply: {5 * len(tenants)} done, 0 stale, 0 failed, 0 skipped, in {len(tenants)} tenants."
        in applied.out
    )

    again = cli(capsys, config, "plan", "--detailed-exitcode", "--out", str(plan_file))
    assert again.code == 0, again.out + again.err
    assert set(_changes(plan_file).values()) == {0}
    for t in tenants:
        state = live(t["url"])
        assert sorted(state) == ["Brand New", "Client Owned", "Edit", "Keep", "Lower Case", "New Name"]
        assert state["Edit"]["max_attempts"] == 4 and state["Edit"].get("notes") is None  # omit_nulls
        assert state["New Name"]["max_attempts"] == 5


@pytest.mark.parametrize("variations", [{}, {"etags_off": True}], ids=["etags", "no-etags"])
def test_a_live_change_between_plan_and_apply_is_refused_and_left_alone(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], variations: dict[str, Any]
) -> None:
    emulator.add_tenant("moving", variations=variations)
    url = emulator.tenant_url("moving")
    seed(url)
    config = project(tmp_path, [{"name": "moving", "url": url}])
    plan_file = tmp_path / "plan.json"
    assert cli(capsys, config, "plan", "--out", str(plan_file)).code == 0

    before = live(url)
    with http(url) as client:  # a person edits "Edit", deletes "Old Name", creates "Brand New"
        r = client.patch(
            f"Integrations({before['Edit']['_key']})", json={fields.odata_name("notes"): "by hand"}
        )
        assert r.status_code in (200, 204)
        assert client.delete(f"Integrations({before['Old Name']['_key']})").status_code == 204
        made = client.post(
            "Integrations", json=fields.to_odata({**BASE, "name": "Brand New", "max_attempts": 9})
        )
        assert made.status_code in (201, 204)

    result = cli(capsys, config, "apply", str(plan_file))
    assert result.code == 1
    assert 'STALE: update "Edit"' in result.out
    assert 'STALE: rename "Old Name" -> "New Name"' in result.out
    assert 'STALE: create "Brand New"' in result.out
    assert 'renamed "lower case" -> "Lower Case"' in result.out  # the rest of the tenant went on
    assert "Apply: 1 done, 3 stale, 0 failed, 0 skipped, in 1 tenant." in result.out
    after = live(url)
    assert after["Edit"]["notes"] == "by hand" and after["Edit"]["max_attempts"] == 3
    assert "Old Name" not in after and "New Name" not in after
    assert after["Brand New"]["max_attempts"] == 9 and after["Brand New"].get("batch_size") != 2


@pytest.mark.parametrize("variations", [{}, {"etags_off": True}, {"omit_nulls": True}])
def test_apply_recomputes_the_plans_live_digest_and_checks_items_only_when_it_moved(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], variations: dict[str, Any]
) -> None:
    """The digest apply makes of its own listing is the one plan made of the same state: untouched, the
    items are not checked one by one; after an edit they are."""
    for name in ("still", "moved"):
        emulator.add_tenant(name, variations=variations)
        seed(emulator.tenant_url(name))
    config = project(tmp_path, [{"name": n, "url": emulator.tenant_url(n)} for n in ("still", "moved")])
    plan_file = tmp_path / "plan.json"
    assert cli(capsys, config, "plan", "--out", str(plan_file)).code == 0
    url = emulator.tenant_url("moved")
    with http(url) as client:  # an integration no change touches
        key = live(url)["Client Owned"]["_key"]
        assert client.patch(f"Integrations({key})", json={fields.odata_name("notes"): "x"}).status_code in (
            200,
            204,
        )

    result = cli(capsys, config, "-v", "apply", str(plan_file))
    assert result.code == 0, result.out + result.err
    checked = [line for line in result.err.splitlines() if "moved since the plan; checking each item" in line]
    assert len(checked) == 1 and "tenant moved:" in checked[0], checked


@pytest.mark.parametrize(
    "variations", [{"case_sensitive_names": True}, {"case_sensitive_names": True, "etags_off": True}]
)
def test_a_case_variant_made_between_plan_and_apply_is_not_duplicated(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], variations: dict[str, Any]
) -> None:
    # A tenant comparing names case-sensitively takes "brand new" beside "Brand New" without a 409.
    emulator.add_tenant("cs", variations=variations)
    url = emulator.tenant_url("cs")
    seed(url)
    config = project(tmp_path, [{"name": "cs", "url": url}])
    plan_file = tmp_path / "plan.json"
    assert cli(capsys, config, "plan", "--out", str(plan_file)).code == 0
    with http(url) as client:  # a person makes case variants of the names a create and a rename need
        for name in ("brand new", "NEW NAME"):
            made = client.post(
                "Integrations", json=fields.to_odata({**BASE, "name": name, "max_attempts": 9})
            )
            assert made.status_code in (201, 204)

    result = cli(capsys, config, "apply", str(plan_file))
    assert result.code == 1
    assert (
        "STALE: create \"Brand New\": the name 'Brand New' now exists on the tenant as 'brand new'"
        in result.out
    )
    assert 'STALE: rename "Old Name" -> "New Name"' in result.out
    assert "Apply: 2 done, 2 stale, 0 failed, 0 skipped, in 1 tenant." in result.out  # Edit, lower case
    after = live(url)  # asserts that no name exists twice, case-insensitively
    assert after["brand new"]["max_attempts"] == 9 and after["NEW NAME"]["max_attempts"] == 9
    assert after["Old Name"]["max_attempts"] == 2
    posted = [
        r.get("body", {}).get(fields.name_property())
        for r in emulator.requests("cs")
        if r["method"] == "POST"
    ]
    assert "Brand New" not in posted  # refused before anything was sent


def test_when_nothing_moved_one_list_is_the_only_read(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("still")
    url = emulator.tenant_url("still")
    seed(url)
    config = project(tmp_path, [{"name": "still", "url": url}])
    plan_file = tmp_path / "plan.json"
    assert cli(capsys, config, "plan", "--out", str(plan_file)).code == 0
    before = len(emulator.requests("still"))

    result = cli(capsys, config, "apply", str(plan_file))
    assert result.code == 0, result.out + result.err
    sent = [r["method"] for r in emulator.requests("still")[before:]]
    assert sent.count("GET") == 1 and len(sent) == 1 + 4  # the list, then one write per change


@pytest.mark.parametrize("variations", [{}, {"etags_off": True}], ids=["etags", "no-etags"])
def test_the_same_plan_applied_again_finds_its_changes_done_and_sends_nothing(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], variations: dict[str, Any]
) -> None:
    # A retried CI job applies the same saved plan again: what the first run did is "done" (before,
    # every such item was "stale" and the retry failed), what a person changed since stays stale.
    emulator.add_tenant("again", variations=variations)
    url = emulator.tenant_url("again")
    seed(url)
    config = project(tmp_path, [{"name": "again", "url": url, "safety": OPEN}])
    plan_file = tmp_path / "plan.json"
    assert cli(capsys, config, "plan", "--out", str(plan_file)).code == 0
    first = cli(capsys, config, "apply", str(plan_file))
    assert "Apply: 5 done, 0 stale" in first.out, first.out
    writes = len([r for r in emulator.requests("again") if r["method"] != "GET"])

    second = cli(capsys, config, "apply", str(plan_file))
    assert second.code == 0, second.out
    assert "Apply: 5 done, 0 stale, 0 failed, 0 skipped, in 1 tenant." in second.out
    assert 'created "Brand New" (key ' in second.out and "already as planned" in second.out
    assert re.search(r'- deleted "Mirror Orphan" \(key \d+\): already gone', second.out)
    assert len([r for r in emulator.requests("again") if r["method"] != "GET"]) == writes

    with http(url) as client:
        r = client.patch(
            f"Integrations({live(url)['Edit']['_key']})", json={fields.odata_name("notes"): "mine"}
        )
        assert r.status_code in (200, 204)
    third = cli(capsys, config, "apply", str(plan_file))
    assert third.code == 1
    assert 'STALE: update "Edit"' in third.out and "Apply: 4 done, 1 stale" in third.out
    assert live(url)["Edit"]["notes"] == "mine"
    assert len(live(url)) == 6  # nothing duplicated


def test_safety_thresholds_refuse_without_force_recomputed_from_the_live_listing(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "careful" lowers the floor (safety.min_existing) to judge its 5 managed integrations; "small" has
    # the same limit and the default floor of 10, so the same changes are not unsafe there, on purpose.
    for name in ("careful", "relaxed", "small"):
        emulator.add_tenant(name)
        seed(emulator.tenant_url(name))
    tenants = [
        {
            "name": "careful",
            "url": emulator.tenant_url("careful"),
            "safety": {"max_change_pct": 20, "min_existing": 0},
        },
        {"name": "relaxed", "url": emulator.tenant_url("relaxed")},
        {"name": "small", "url": emulator.tenant_url("small"), "safety": {"max_change_pct": 20}},
    ]
    config = project(tmp_path, tenants)
    plan_file = tmp_path / "plan.json"
    cli(capsys, config, "plan", "--out", str(plan_file))
    # The verdict in the file is not what apply goes by: it recomputes it over the listing it reads.
    data = json.loads(plan_file.read_text())
    for t in data["tenants"]:
        t["safety"].update(change_pct=0, unsafe=False, max_change_pct=100, min_existing=99)
    plan_file.write_text(json.dumps(data))

    refused = cli(capsys, config, "apply", str(plan_file))
    assert refused.code == 1
    assert "Tenant careful: 0 done, 0 stale, 0 failed, 4 skipped" in refused.out
    assert "refused by the safety thresholds: changes 60% of 5 managed integrations" in refused.out
    assert "to apply it whole: --force" in refused.out
    assert "Tenant relaxed: 4 done" in refused.out
    assert "Tenant small: 4 done" in refused.out
    assert (
        "Edit" in live(emulator.tenant_url("careful"))
        and live(emulator.tenant_url("careful"))["Edit"]["notes"] == "old"
    )

    forced = cli(capsys, config, "apply", str(plan_file), "--force", "--tenant", "careful")
    assert forced.code == 0, forced.out
    assert live(emulator.tenant_url("careful"))["Edit"]["max_attempts"] == 4


def test_a_plan_made_with_allow_delete_is_applied_whole_without_a_second_flag(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # plan --allow-delete, then apply: the renames and updates went through and every delete was
    # skipped ("deletes are not allowed"), a half-applied tenant. The reviewed plan is the approval.
    emulator.add_tenant("whole")
    url = emulator.tenant_url("whole")
    seed(url)
    config = project(tmp_path, [{"name": "whole", "url": url}], DEFINITIONS)
    plan_file = tmp_path / "plan.json"
    assert cli(capsys, config, "plan", "--allow-delete", "--out", str(plan_file)).code == 0
    assert json.loads(plan_file.read_text())["tenants"][0]["delete_permission"] == "flag"
    applied = cli(capsys, config, "apply", str(plan_file), "--force")
    assert applied.code == 0, applied.out
    assert '- deleted "Mirror Orphan" (key ' in applied.out
    assert "Apply: 5 done, 0 stale, 0 failed, 0 skipped" in applied.out
    state = live(url)
    assert "Mirror Orphan" not in state and "New Name" in state and "Client Owned" in state


def test_deletes_the_config_allowed_are_refused_whole_once_it_no_longer_does(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("revoked")
    url = emulator.tenant_url("revoked")
    seed(url)
    allowing = {"allow_delete": True, "max_delete_pct": 10, "min_existing": 0}
    config = project(tmp_path, [{"name": "revoked", "url": url, "safety": allowing}], DEFINITIONS)
    plan_file = tmp_path / "plan.json"
    assert cli(capsys, config, "plan", "--out", str(plan_file)).code == 0
    assert json.loads(plan_file.read_text())["tenants"][0]["delete_permission"] == "config"
    before = live(url)

    # The config no longer allows deletes (and the tenant is over max_delete_pct): both needs, at once.
    revoking = {"allow_delete": False, "max_delete_pct": 10, "min_existing": 0}
    config = project(tmp_path, [{"name": "revoked", "url": url, "safety": revoking}], DEFINITIONS)
    refused = cli(capsys, config, "apply", str(plan_file))
    assert refused.code == 1
    assert "Tenant revoked: 0 done, 0 stale, 0 failed, 5 skipped" in refused.out
    assert "the config no longer allows them" in refused.out
    assert (
        "to apply it whole: safety.allow_delete: true for tenant revoked (or --allow-delete) and --force"
        in refused.out
    )
    assert live(url) == before  # nothing written

    applied = cli(capsys, config, "apply", str(plan_file), "--allow-delete", "--force")
    assert applied.code == 0, applied.out
    assert "Mirror Orphan" not in live(url)


def test_deletes_need_permission_and_touch_only_managed_integrations(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("del")
    url = emulator.tenant_url("del")
    seed(url)
    config = project(tmp_path, [{"name": "del", "url": url}], DEFINITIONS[:1] + DEFINITIONS[2:])
    plan_file = tmp_path / "plan.json"
    # "Edit" is unmanaged (no managed key): never deleted; "Mirror Orphan" is IsManaged.
    assert cli(capsys, config, "plan", "--allow-delete", "--out", str(plan_file)).code == 0
    deletes = [
        c for c in json.loads(plan_file.read_text())["tenants"][0]["changes"] if c["action"] == "delete"
    ]
    assert [d["name"] for d in deletes] == ["Mirror Orphan"]

    # A plan edited to hold deletes that nothing allowed is refused whole without --allow-delete.
    data = json.loads(plan_file.read_text())
    data["tenants"][0]["delete_permission"] = "none"
    plan_file.write_text(json.dumps(data))
    without = cli(capsys, config, "apply", str(plan_file))
    assert without.code == 1
    assert "it holds deletes that nothing allowed when it was planned; to apply it whole: --allow-delete" in (
        without.out
    )
    assert "Mirror Orphan" in live(url) and "New Name" not in live(url)

    # A hand-made plan that deletes a client-owned integration is refused whole, even with --allow-delete.
    data = json.loads(plan_file.read_text())
    client_owned = live(url)["Client Owned"]
    data["tenants"][0]["changes"] = [
        {
            **deletes[0],
            "name": "Client Owned",
            "key": client_owned["_key"],
            "etag": None,
            "before": {"name": "Client Owned", "managed": False},
        },
        deletes[0],
    ]
    data["tenants"][0]["safety"] = {**data["tenants"][0]["safety"], "delete_pct": 0, "change_pct": 0}
    plan_file.write_text(json.dumps(data))
    allowed = cli(capsys, config, "apply", str(plan_file), "--allow-delete")
    assert allowed.code == 1
    assert 'it deletes integrations that are not IsManaged ("Client Owned")' in allowed.out
    assert "nothing was sent (make a new plan)" in allowed.out
    state = live(url)
    assert "Client Owned" in state and "Mirror Orphan" in state

    # safety.allow_delete in the config is the other way to allow them.
    config = project(
        tmp_path,
        [{"name": "del", "url": url, "safety": {"allow_delete": True, "max_delete_pct": 100}}],
        DEFINITIONS,
    )
    assert cli(capsys, config, "plan", "--out", str(plan_file)).code == 0
    assert cli(capsys, config, "apply", str(plan_file)).code == 0
    assert "Mirror Orphan" not in live(url)


def test_a_plan_file_that_calls_a_client_owned_integration_managed_deletes_nothing(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("lied")
    url = emulator.tenant_url("lied")
    seed(url)
    config = project(tmp_path, [{"name": "lied", "url": url}], DEFINITIONS)
    plan_file = tmp_path / "plan.json"
    assert cli(capsys, config, "plan", "--out", str(plan_file)).code == 0
    data = json.loads(plan_file.read_text())
    with http(url) as client:  # its key and current etag: only "before" lies
        owned = client.get(f"Integrations({live(url)['Client Owned']['_key']})").json()
    data["tenants"][0]["changes"] = [
        {
            "action": "delete",
            "name": "Client Owned",
            "key": owned["Id"],
            "etag": owned["@odata.etag"],
            "before": {"name": "Client Owned", "managed": True},
        }
    ]
    plan_file.write_text(json.dumps(data))

    result = cli(capsys, config, "apply", str(plan_file), "--allow-delete", "--force")
    assert result.code == 1
    assert 'it deletes integrations that are not IsManaged ("Client Owned")' in result.out
    assert "Client Owned" in live(url)


def test_a_delete_added_to_a_partial_plan_is_not_applied(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("part")
    url = emulator.tenant_url("part")
    seed(url)
    config = project(tmp_path, [{"name": "part", "url": url, "safety": OPEN}], DEFINITIONS)
    plan_file = tmp_path / "plan.json"
    assert cli(capsys, config, "plan", "--allow-delete", "--out", str(plan_file)).code == 0
    data = json.loads(plan_file.read_text())
    deletes = [c for c in data["tenants"][0]["changes"] if c["action"] == "delete"]
    assert [d["name"] for d in deletes] == ["Mirror Orphan"]
    assert cli(capsys, config, "plan", "--integration", "Keep", "--out", str(plan_file)).code == 0
    partial = json.loads(plan_file.read_text())
    partial["tenants"][0]["changes"] = deletes  # a hand edit: the full plan's delete, in a partial plan
    plan_file.write_text(json.dumps(partial))

    result = cli(capsys, config, "apply", str(plan_file), "--allow-delete")
    assert result.code == 1
    assert "a partial plan (--integration) never deletes, and this one holds deletes" in result.out
    assert "Mirror Orphan" in live(url)


def test_report_file_and_no_token_anywhere(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "s3cret-token-value"
    emulator.add_tenant("locked", token=token)
    emulator.add_tenant("open")
    seed(emulator.tenant_url("locked"), token=token)
    seed(emulator.tenant_url("open"))
    monkeypatch.setenv("FK_TOKEN_LOCKED", token)
    tenants = [
        {"name": "locked", "url": emulator.tenant_url("locked"), "token_env": "FK_TOKEN_LOCKED"},
        {"name": "open", "url": emulator.tenant_url("open")},
    ]
    config = project(tmp_path, tenants)
    plan_file, report_file = tmp_path / "plan.json", tmp_path / "report.json"
    cli(capsys, config, "plan", "--out", str(plan_file))
    with http(emulator.tenant_url("open")) as client:  # make one item stale
        key = live(emulator.tenant_url("open"))["Edit"]["_key"]
        client.patch(f"Integrations({key})", json={fields.odata_name("max_attempts"): 7})

    result = cli(capsys, config, "-vv", "apply", str(plan_file), "--report", str(report_file))
    assert result.code == 1
    report = json.loads(report_file.read_text())
    assert report["ok"] is False and report["interrupted"] is False
    assert report["counts"] == {"done": 7, "stale": 1, "failed": 0, "skipped": 0}
    by_name = {t["name"]: t for t in report["tenants"]}
    assert by_name["locked"]["ok"] is True and by_name["open"]["ok"] is False
    stale = [i for i in by_name["open"]["items"] if i["status"] == "stale"]
    assert stale == [
        {"action": "update", "name": "Edit", "key": key, "status": "stale", "reason": stale[0]["reason"]}
    ]
    assert "etag" in stale[0]["reason"]
    (created,) = [i for i in by_name["locked"]["items"] if i["action"] == "create"]
    assert (
        created["status"] == "done"
        and created["key"] == live(emulator.tenant_url("locked"), token)["Brand New"]["_key"]
    )
    assert f'+ created "Brand New" (key {created["key"]})' in result.out
    assert token not in report_file.read_text() + result.out + result.err


def test_apply_without_a_plan_asks_or_needs_auto_approve(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("ask")
    url = emulator.tenant_url("ask")
    seed(url)
    config = project(tmp_path, [{"name": "ask", "url": url}])

    refused = cli(capsys, config, "apply")  # pytest's stdin is not a terminal
    assert refused.code == 1
    assert "there is no terminal: pass --auto-approve" in refused.err
    assert live(url)["Edit"]["max_attempts"] == 3

    one = cli(capsys, config, "apply", "--auto-approve", "--integration", "brand new")
    assert one.code == 0, one.out + one.err
    assert "Partial plan" in one.out and "Apply: 1 done" in one.out
    assert "Brand New" in live(url) and live(url)["Edit"]["max_attempts"] == 3
    saved_too = cli(capsys, config, "apply", str(tmp_path / "none.json"), "--integration", "Edit")
    assert saved_too.code == 1 and "does not apply to a saved plan" in saved_too.err

    approved = cli(capsys, config, "apply", "--auto-approve")
    assert approved.code == 0, approved.out + approved.err
    assert "Plan: 0 to create, 1 to update, 2 to rename, 0 to delete" in approved.out
    assert "Apply: 3 done" in approved.out

    nothing = cli(capsys, config, "apply", "--auto-approve", "--report", str(tmp_path / "r.json"))
    assert nothing.code == 0 and "No changes." in nothing.out and "Apply:" not in nothing.out
    assert json.loads((tmp_path / "r.json").read_text())["counts"]["done"] == 0


def test_bad_plan_files_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emulator: Any
) -> None:
    config = project(tmp_path, [{"name": "x", "url": emulator.tenant_url("test")}])
    bad = tmp_path / "plan.json"
    bad.write_text(json.dumps({"format_version": 99, "tenants": []}))
    result = cli(capsys, config, "apply", str(bad))
    assert result.code == 1 and "format_version 99 is not supported" in result.err
    assert "Traceback" not in result.err
    missing = cli(capsys, config, "apply", str(tmp_path / "nope.json"))
    assert missing.code == 1 and "cannot read plan file" in missing.err


def test_a_plan_for_another_url_or_tenant_is_refused(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("one")
    emulator.add_tenant("two")
    seed(emulator.tenant_url("one"))
    config = project(tmp_path, [{"name": "one", "url": emulator.tenant_url("one")}])
    plan_file = tmp_path / "plan.json"
    cli(capsys, config, "plan", "--out", str(plan_file))
    moved = project(tmp_path, [{"name": "one", "url": emulator.tenant_url("two")}])
    result = cli(capsys, moved, "apply", str(plan_file))
    assert result.code == 1 and "the plan was made for url" in result.out
    assert live(emulator.tenant_url("two")) == {}


def _apply_on_a_terminal(config: Path, answer: str) -> subprocess.CompletedProcess[str]:
    """`apply` without a plan, its stdin a terminal (a pty) that answers ``answer``."""
    leader, follower = pty.openpty()
    try:
        os.write(leader, (answer + "\n").encode())
        return subprocess.run(
            [sys.executable, "-m", "integration_sync", "--config", str(config), "apply"],
            stdin=follower,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(follower)
        os.close(leader)


def test_on_a_terminal_only_yes_applies(emulator: Any, tmp_path: Path) -> None:
    emulator.add_tenant("tty")
    url = emulator.tenant_url("tty")
    seed(url)
    config = project(tmp_path, [{"name": "tty", "url": url}])

    declined = _apply_on_a_terminal(config, "y")
    assert declined.returncode == 1, declined.stdout + declined.stderr
    assert "Apply these changes? Only 'yes' is accepted" in declined.stdout
    assert "apply cancelled: nothing was changed" in declined.stderr
    assert live(url)["Edit"]["max_attempts"] == 3

    accepted = _apply_on_a_terminal(config, "yes")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "Apply: 4 done" in accepted.stdout
    assert live(url)["Edit"]["max_attempts"] == 4


def test_tenant_selection_picks_among_a_saved_plans_tenants(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("north", "south"):
        emulator.add_tenant(name)
        seed(emulator.tenant_url(name))
    tenants = [{"name": n, "url": emulator.tenant_url(n), "tags": [n]} for n in ("north", "south")]
    config = project(tmp_path, [*tenants, {"name": "east", "url": emulator.tenant_url("test")}])
    plan_file = tmp_path / "plan.json"
    assert (
        cli(capsys, config, "plan", "--tenant", "north", "--tenant", "south", "--out", str(plan_file)).code
        == 0
    )

    none = cli(capsys, config, "apply", str(plan_file), "--tenant", "east")
    assert none.code == 1 and "the plan has none of the selected tenants (it has: north, south)" in none.err

    south = cli(capsys, config, "apply", str(plan_file), "--tag", "south")
    assert south.code == 0, south.out
    assert "Tenant south: 4 done" in south.out and "north" not in south.out
    assert live(emulator.tenant_url("north"))["Edit"]["max_attempts"] == 3
    assert live(emulator.tenant_url("south"))["Edit"]["max_attempts"] == 4
