"""Never wrong about a tenant: equality, matching, listing and write outcomes that hold on any OData
server. Each case runs the real CLI (in process) or the client against emulator tenants over loopback
HTTP, with the variation switch that makes the emulator behave as such a server does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from apply_helpers import BASE, cli, http, project, seed

OPEN = {"allow_delete": True, "max_change_pct": 100, "max_delete_pct": 100}


def tenant(emulator: Any, name: str, **variations: Any) -> dict[str, str]:
    emulator.add_tenant(name, variations=variations)
    return {"name": name, "url": emulator.tenant_url(name)}


def changes(out: str, name: str = "t") -> list[dict[str, Any]]:
    (plan,) = [t for t in json.loads(out)["tenants"] if t["name"] == name]
    return plan["changes"]


# --- comparing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("omit", [False, True])
def test_a_tenant_that_leaves_out_null_properties_still_shows_the_changes(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], omit: bool
) -> None:
    t = tenant(emulator, "t", omit_nulls=omit)
    seed(t["url"], [{"name": "Sparse", **BASE, "managed": True}])
    with http(t["url"]) as client:
        listed = client.get("Integrations").json()["value"][0]
    assert ("Notes" in listed) is not omit
    definition = {
        "name": "Sparse",
        **BASE,
        "managed": True,
        "filter": "x",
        "element_id": "e",
        "action_id": 3,
        "notes": "stated",
        "sync": {"ignore_changes": ["direction", "entity", "consent_type"]},
    }
    cleared = {**definition, "name": "Cleared", "filter": None, "notes": None}
    cleared.pop("element_id"), cleared.pop("action_id")
    seed(t["url"], [{"name": "Cleared", **BASE, "managed": True}])
    config = project(tmp_path, [t], [definition, cleared])
    result = cli(capsys, config, "plan", "--format", "json")
    assert result.code == 0, result.err
    (update,) = changes(result.out)
    assert update["action"] == "update" and update["name"] == "Sparse"
    assert {f["field"]: f["after"] for f in update["fields"]} == {
        "filter": "x",
        "element_id": "e",
        "action_id": 3,
        "notes": "stated",
    }
    # a property left out equals an explicit null: "Cleared" is unchanged either way
    assert json.loads(result.out)["tenants"][0]["unchanged"] == 1


def test_equality_is_exact_and_type_strict() -> None:
    from integration_sync.fields import UNSET
    from integration_sync.plan import equal

    assert not equal(1, True) and not equal(0, False) and not equal(1, 1.0) and not equal("1", 1)
    assert equal(UNSET, None) and equal(None, UNSET) and not equal(UNSET, 0) and not equal(UNSET, "")
    assert equal({"a": None}, {}) and not equal({"a": None}, {}, absent_is_null=False)
    assert equal([1, {"x": [True]}], [1, {"x": [True]}]) and not equal([1, {"x": [1]}], [1, {"x": [True]}])
    assert not equal([1], [1, 1]) and not equal({"a": 1}, {"a": 1.0}) and equal(float("nan"), float("nan"))


def test_fmt_keeps_a_file_whose_round_trip_would_turn_1_into_true() -> None:
    """fmt's round-trip check judges with the same equality: ``True == 1`` no longer hides a change."""
    from integration_sync import fmt
    from integration_sync.plan import equal

    assert not equal(fmt._data("a: 1\n", "x.yaml"), fmt._data("a: true\n", "x.yaml"), absent_is_null=False)
    assert not equal(fmt._data("a: null\n", "x.yaml"), fmt._data("{}\n", "x.yaml"), absent_is_null=False)
