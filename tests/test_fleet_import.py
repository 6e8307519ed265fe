"""``import --fleet`` against emulator tenants over HTTP: one definition per integration, majority
values with the drift listed, ``--vars`` into the config with its comments, ``sync.tenants`` from the
fleet, then a plan that shows exactly the drift."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_run import run_cli

from integration_sync import fields
from integration_sync.client import TenantClient


def _body(name: str, **values: Any) -> dict[str, Any]:
    doc = {
        "name": name,
        "direction": "Outbound",
        "entity": "Invoice",
        "consent_type": "OAuth",
        "managed": True,
    }
    return fields.to_odata({**doc, **values})


def _seed(url: str, bodies: list[dict[str, Any]]) -> None:
    async def go() -> None:
        async with TenantClient("seed", url) as client:
            for body in bodies:
                await client.create(body)

    asyncio.run(go())


FLEET = {
    "a": [
        _body("Xero Export", batch_size=20),
        _body("Tie", max_attempts=3),
        _body("Solo"),
        _body("Client Own", managed=False),
    ],
    "b": [_body("Xero Export", batch_size=10), _body("Tie", max_attempts=5), _body("HubSpot Sync")],
    "c": [_body("XERO EXPORT", batch_size=20), _body("HubSpot Sync")],
}


@pytest.fixture
def fleet(emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lines = ["# the fleet", "definitions: definitions", "tenants:"]
    for name, bodies in FLEET.items():
        emulator.add_tenant(name)
        url = str(emulator.tenant_url(name))
        _seed(url, bodies)
        lines += [f"  - name: {name}  # tenant {name}", f"    url: {url}"]
        if name != "a":
            lines.append("    tags: [eu]")
    config = tmp_path / "integration-sync.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "definitions").mkdir()
    monkeypatch.chdir(tmp_path)
    return config


def _doc(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


@pytest.mark.slow
def test_one_definition_per_integration_with_majority_values_and_the_drift_listed(
    fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, "import", "--fleet")
    assert run.code == 0, run.out + run.err
    folder = tmp_path / "definitions"
    assert sorted(p.name for p in folder.iterdir()) == [
        "hubspot-sync.yaml",
        "solo.yaml",
        "tie.yaml",
        "xero-export.yaml",
    ]
    xero = _doc(folder / "xero-export.yaml")
    assert (
        xero["name"] == "Xero Export"
        and xero["batch_size"] == 20
        and xero["sync"]
        == {
            "tenants": ["*"],
            "accept": ["batch-size-without-parallel"],  # what the tenants hold, so plan is not blocked
        }
    )
    assert "batch_size: 20 on 2 tenants; differs on b (10)" in run.out
    assert _doc(folder / "hubspot-sync.yaml")["sync"] == {"tenants": ["tag:eu"]}
    assert _doc(folder / "solo.yaml")["sync"] == {"tenants": ["a"]}
    tie = _doc(folder / "tie.yaml")
    assert tie["max_attempts"] == 3 and tie["sync"] == {"tenants": ["a", "b"]}  # a tie: a comes first
    assert "max_attempts: 3 on 1 tenant; differs on b (5)" in run.out
    assert "1 not managed" in run.out and not (folder / "client-own.yaml").exists()
    assert run_cli(capsys, "validate").code == 0
    assert 'name: "Xero Export" on 2 tenants; differs on c ("XERO EXPORT")' in run.out
    plan = run_cli(capsys, "plan", "--format", "json")
    changes = {
        t["name"]: sorted(
            (c["action"], c["name"], *((fc["field"], fc["after"]) for fc in c.get("fields", [])))
            for c in t["changes"]
        )
        for t in json.loads(plan.out)["tenants"]
    }
    assert changes == {
        "a": [],
        "b": [("update", "Tie", ("max_attempts", 3)), ("update", "Xero Export", ("batch_size", 20))],
        "c": [("rename", "Xero Export")],
    }, plan.out
    again = run_cli(capsys, "import", "--fleet")
    assert again.code == 0, again.out + again.err
    assert (
        f"skipped {Path('definitions', 'tie.yaml')}: the file exists (an earlier fleet import: --force "
        "writes it again)"
    ) in again.out
    assert "Imported 0 integrations from 3 tenants" in again.out and "4 existing files, skipped" in again.out
    forced = run_cli(capsys, "import", "--fleet", "--force")
    assert forced.code == 0 and "Imported 4 integrations from 3 tenants" in forced.out


@pytest.mark.slow
def test_vars_puts_each_tenants_value_into_the_config_keeping_its_comments(
    fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, "import", "--fleet", "--vars", "--dir", "adopted")
    assert run.code == 0, run.out + run.err
    xero = _doc(tmp_path / "adopted" / "xero-export.yaml")
    assert xero["batch_size"] == "${xero_export_batch_size}"
    text = fleet.read_text(encoding="utf-8")
    assert "# the fleet" in text and "# tenant b" in text
    tenants = {t["name"]: t for t in yaml.safe_load(text)["tenants"]}
    assert [tenants[n]["vars"]["xero_export_batch_size"] for n in "abc"] == [20, 10, 20]
    assert tenants["a"]["vars"]["tie_max_attempts"] == 3 and "tie_max_attempts" not in tenants["c"].get(
        "vars", {}
    )
    # a variable the config already holds with another value is not overwritten without --force
    fleet.write_text(
        text.replace("xero_export_batch_size: 10", "xero_export_batch_size: 11"), encoding="utf-8"
    )
    refused = run_cli(capsys, "import", "--fleet", "--vars", "--dir", "again")
    assert refused.code == 1 and "b.vars.xero_export_batch_size" in refused.err
    assert not (tmp_path / "again").exists()
    # the first plan with the imported definitions and the variables: only c's name differs
    (tmp_path / "definitions").rmdir()
    fleet.write_text(text.replace("definitions: definitions", "definitions: adopted"), encoding="utf-8")
    plan = run_cli(capsys, "plan", "--format", "json")
    updated = {
        t["name"]: [(c["action"], c["name"]) for c in t["changes"]] for t in json.loads(plan.out)["tenants"]
    }
    assert updated == {"a": [], "b": [], "c": [("rename", "Xero Export")]}, plan.out


@pytest.mark.slow
def test_a_tag_selects_tenants_and_names_them_when_its_members_are_exactly_those(
    fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, "import", "--fleet", "--tag", "eu")
    assert run.code == 0, run.out + run.err
    xero = _doc(tmp_path / "definitions" / "xero-export.yaml")
    # b (10) and c (20) tie: b comes first in the config; the name's spellings tie the same way
    assert xero["batch_size"] == 10 and xero["name"] == "Xero Export"
    assert xero["sync"]["tenants"] == ["tag:eu"]
    assert _doc(tmp_path / "definitions" / "tie.yaml")["sync"] == {"tenants": ["b"]}


@pytest.mark.slow
def test_rule_breaks_are_commented_and_defined_names_skipped(
    emulator: Any, fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(
        str(emulator.tenant_url("c")),
        [_body("Broken", direction="Inbound", include_updates=True, active=True)],
    )
    (tmp_path / "definitions" / "mine.yaml").write_text(
        "name: xero export\ndirection: Outbound\nentity: Invoice\nconsent_type: OAuth\n", encoding="utf-8"
    )
    run = run_cli(capsys, "import", "--fleet")
    assert run.code == 0, run.out + run.err
    assert "skipped 'Xero Export': already defined in" in run.out
    assert not (tmp_path / "definitions" / "xero-export.yaml").exists()
    broken = (tmp_path / "definitions" / "broken.yaml").read_text(encoding="utf-8")
    assert "# accepted rule include-updates-outbound-active" in broken
    assert "accept: [include-updates-outbound-active]" in broken
    assert "broken.yaml" in run.out.split("a rule or draw", 1)[1]


def test_a_tenant_that_cannot_be_read_stops_the_import_before_anything_is_written(
    fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.write_text(
        "settings: {max_retries: 0}\n"
        + fleet.read_text(encoding="utf-8")
        + "  - name: gone\n    url: http://127.0.0.1:9/x/\n"
    )
    run = run_cli(capsys, "import", "--fleet")
    assert run.code == 1
    assert "tenant gone" in run.err and "nothing was written" in run.err
    assert list((tmp_path / "definitions").iterdir()) == []


@pytest.mark.slow
def test_files_carry_the_fleet_mark_and_force_rewrites_only_fleet_imports(
    fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "definitions"
    hand = "name: Hand Written\ndirection: Outbound\nentity: Invoice\nconsent_type: OAuth\n"
    (folder / "tie.yaml").write_text(hand, encoding="utf-8")  # where Tie would go, another name
    per_tenant = (
        "# imported from tenant a by integration-sync import\n"
        "name: Solo\ndirection: Outbound\nentity: Invoice\nconsent_type: OAuth\nsync: {tenants: [a]}\n"
    )
    (folder / "solo.yaml").write_text(per_tenant, encoding="utf-8")
    for args in (("import", "--fleet"), ("import", "--fleet", "--force")):
        run = run_cli(capsys, *args)
        assert run.code == 0, run.out + run.err
        assert (
            f"skipped {Path('definitions', 'tie.yaml')}: the file exists (not a fleet import: it is never "
            "written over)"
        ) in run.out
        assert f"skipped 'Solo': already defined in {Path('definitions', 'solo.yaml')}" in run.out
        assert (folder / "tie.yaml").read_text(encoding="utf-8") == hand
        assert (folder / "solo.yaml").read_text(encoding="utf-8") == per_tenant
        assert "(s)" not in run.out + run.err
    xero = (folder / "xero-export.yaml").read_text(encoding="utf-8")
    assert xero.splitlines()[1] == "# imported from 3 tenants by integration-sync import --fleet"
    hubspot = (folder / "hubspot-sync.yaml").read_text(encoding="utf-8")
    assert hubspot.splitlines()[1] == "# imported from 2 tenants by integration-sync import --fleet"
    assert "Imported 2 integrations from 3 tenants" in run.out
    assert "(1 not managed, 1 already defined, 1 existing file, skipped)" in run.out


@pytest.mark.slow
def test_plan_right_after_a_fleet_import_shows_exactly_the_drift_even_where_rows_break_a_rule(
    emulator: Any, fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        _body("Inbound Updates", direction="Inbound", include_updates=True, batch_size=5),
        _body("Slow Batches", batch_size=20, parallel=False),
    ]
    for tenant in ("a", "b"):
        _seed(str(emulator.tenant_url(tenant)), rows)
    _seed(
        str(emulator.tenant_url("c")),
        [_body("Inbound Updates", direction="Inbound", include_updates=True, batch_size=7)],
    )
    run = run_cli(capsys, "import", "--fleet")
    assert run.code == 0, run.out + run.err
    folder = tmp_path / "definitions"
    inbound = _doc(folder / "inbound-updates.yaml")
    assert inbound["sync"]["accept"] == ["batch-size-without-parallel", "include-updates-outbound-active"]
    assert _doc(folder / "slow-batches.yaml")["sync"]["accept"] == ["batch-size-without-parallel"]
    assert "3 files break a rule or draw a warning" in run.out, run.out

    plan = run_cli(capsys, "plan", "--format", "json")
    assert plan.code == 0, plan.out + plan.err
    data = json.loads(plan.out)
    assert data["warnings"] == [] or all("accepted" in str(w) for w in data["warnings"])
    changes = {
        t["name"]: sorted(
            (
                c["action"],
                c["name"],
                *((f["field"], f.get("before"), f["after"]) for f in c.get("fields", [])),
            )
            for c in t["changes"]
        )
        for t in data["tenants"]
    }
    assert changes == {
        "a": [],
        "b": [("update", "Tie", ("max_attempts", 5, 3)), ("update", "Xero Export", ("batch_size", 10, 20))],
        "c": [("rename", "Xero Export"), ("update", "Inbound Updates", ("batch_size", 7, 5))],
    }, plan.out
    grouped = run_cli(capsys, "plan", "--group-by", "integration")
    assert "  batch_size: 7 -> 5 on 1 tenant: c" in grouped.out.splitlines()


@pytest.mark.slow
def test_a_rule_break_the_fleet_holds_is_accepted_so_that_plan_right_after_is_not_blocked(
    emulator: Any, fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As the per-tenant import does: what a definition may accept is written in its sync.accept, so
    the first plan shows the fleet's drift instead of refusing the definitions."""
    _seed(
        str(emulator.tenant_url("c")),
        [_body("Broken", direction="Inbound", include_updates=True, active=True)],
    )
    run = run_cli(capsys, "import", "--fleet")
    assert run.code == 0, run.out + run.err
    broken = _doc(tmp_path / "definitions" / "broken.yaml")
    assert broken["sync"]["accept"] == ["include-updates-outbound-active"]
    assert "accepted rule include-updates-outbound-active" in (
        tmp_path / "definitions" / "broken.yaml"
    ).read_text(encoding="utf-8")
    strict = run_cli(capsys, "validate", "--strict")
    assert strict.code == 0, strict.out + strict.err
    planned = run_cli(capsys, "plan", "--detailed-exitcode")
    assert planned.code == 2, planned.out + planned.err  # the drift import listed, nothing refused
    assert '"Broken"' not in planned.out  # held as the tenant has it: no change planned for it


@pytest.mark.slow
def test_a_hand_written_definition_in_the_file_a_fleet_import_would_write_is_never_written_over(
    fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As after the README's main job: the repository's own definition of an integration, in the very
    file the fleet import would write, is skipped and listed (exit 0), even with --force; only a file an
    earlier fleet import wrote (its mark on the second line) is written again, with --force; without it,
    such a file is skipped and listed (exit 0), as the per-tenant import does."""
    mine = tmp_path / "definitions" / "xero-export.yaml"
    hand = "# by hand\nname: Xero Export\ndirection: Outbound\nentity: Invoice\nconsent_type: OAuth\n"
    mine.write_text(hand, encoding="utf-8")
    for args in ([], ["--force"]):
        run = run_cli(capsys, "import", "--fleet", *args)
        assert run.code == 0, run.out + run.err
        assert (
            f"skipped 'Xero Export': already defined in {Path('definitions', 'xero-export.yaml')}" in run.out
        )
        assert mine.read_text(encoding="utf-8") == hand
    solo = tmp_path / "definitions" / "solo.yaml"
    assert solo.read_text(encoding="utf-8").splitlines()[1] == (
        "# imported from 1 tenant by integration-sync import --fleet"
    )
    again = run_cli(capsys, "import", "--fleet")
    assert again.code == 0, again.out + again.err
    assert (
        f"skipped {Path('definitions', 'solo.yaml')}: the file exists (an earlier fleet import: --force "
        "writes it again)"
    ) in again.out
    assert run_cli(capsys, "import", "--fleet", "--force").code == 0
