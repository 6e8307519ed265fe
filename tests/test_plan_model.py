"""Plans as data: deterministic order, JSON round trip, and saved files that are refused when wrong."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from integration_sync.errors import PlanFileError
from integration_sync.fields import UNSET
from integration_sync.plan import (
    FORMAT_VERSION,
    Create,
    Delete,
    FieldChange,
    Plan,
    Rename,
    SafetyVerdict,
    TenantPlan,
    Update,
    load_plan,
    plan_schema,
)


def sample_plan() -> Plan:
    acme = TenantPlan(
        tenant="acme",
        url="https://acme.example.com/OData/",
        live_digest="sha256:00",
        changes=(
            Delete(name="Old", key=9, etag=None, before=(("name", "Old"), ("managed", True))),
            Update(
                name="b",
                key=2,
                etag='W/"2"',
                fields=(FieldChange("notes", UNSET, None), FieldChange("batch_size", 1, 2)),
                before=(("name", "b"), ("batch_size", 1)),
            ),
            Create(name="Zed", body=(("name", "Zed"), ("direction", "Inbound"))),
            Rename(from_name="x", to_name="A", key="k'1", etag=None),
            Create(name="alpha", body=(("name", "alpha"),)),
        ),
        unchanged=3,
        orphans=("zz", "Mirrored"),
        safety=SafetyVerdict(
            managed=5, change_pct=60.0, delete_pct=20.0, max_change_pct=50, max_delete_pct=10, min_existing=5
        ),
    )
    broken = TenantPlan(tenant="Broken", url="http://127.0.0.1:1/b/OData/", error="tenant Broken: HTTP 401")
    return Plan(tool_version="0.1.0", definitions_digest="sha256:ff", tenants=(acme, broken))


def test_changes_sorted_by_action_then_name() -> None:
    plan = sample_plan()
    assert [t.tenant for t in plan.tenants] == ["acme", "Broken"]
    acme = plan.tenant("acme")
    assert [(c.action, c.name) for c in acme.changes] == [
        ("create", "alpha"),
        ("create", "Zed"),
        ("update", "b"),
        ("rename", "A"),
        ("delete", "Old"),
    ]
    assert acme.orphans == ("Mirrored", "zz")
    assert plan.counts() == {"create": 2, "update": 1, "rename": 1, "delete": 1}
    assert acme.unsafe and len(acme.safety.reasons) == 2
    assert plan.failed == (plan.tenant("Broken"),)


def test_json_round_trip_is_exact_and_deterministic() -> None:
    plan = sample_plan()
    text = plan.to_json()
    again = Plan.from_json(text)
    assert again == plan
    assert again.to_json() == text
    data = json.loads(text)
    assert data["format_version"] == 2
    assert data["summary"] == {
        "create": 2,
        "update": 1,
        "rename": 1,
        "delete": 1,
        "unchanged": 3,
        "tenants": 2,
        "tenants_with_changes": 1,
        "tenants_failed": 1,
        "tenants_unsafe": 1,
    }
    update = data["tenants"][0]["changes"][2]
    assert update["action"] == "update"
    # UNSET "before" is a missing key, an explicit null stays null.
    assert update["fields"][0] == {"field": "notes", "after": None}
    assert update["fields"][1] == {"field": "batch_size", "before": 1, "after": 2}
    assert data["tenants"][0]["changes"][3]["from_name"] == "x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "invalid JSON"),
        ("[]", "expected an object"),
        ('{"format_version": 3, "tenants": []}', "format_version 3 is not supported"),
        ('{"tenants": []}', "format_version null is not supported"),
        # format_version is an integer: JSON Schema's own equality (2.0 == 2) is not enough.
        ('{"format_version": 2.0, "tenants": []}', "format_version 2.0 is not supported"),
        ('{"format_version": true, "tenants": []}', "format_version true is not supported"),
        ('{"format_version": "2", "tenants": []}', 'format_version "2" is not supported'),
        ('{"format_version": 1, "tenants": []}', "written by an older integration-sync .* make a new plan"),
        ('{"format_version": 2, "tenants": []}', "plan: 'tool_version' is a required property"),
        ("[" * 100_000, "nested too deeply"),
        ("[" * 500 + "]" * 500, "nested more than 64 deep"),
    ],
)
def test_bad_plan_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text)
    with pytest.raises(PlanFileError, match=message) as info:
        load_plan(path)
    assert str(path) in str(info.value)


def _shape(edit: str) -> str:
    data = json.loads(sample_plan().to_json())
    acme = data["tenants"][0]
    if edit == "unknown action":
        acme["changes"][0]["action"] = "explode"
    elif edit == "delete without key":
        del acme["changes"][4]["key"]
    elif edit == "unknown top-level key":
        data["approved"] = True
    elif edit == "unknown tenant key":
        acme["colour"] = "red"
    elif edit == "permission not one of three":
        acme["delete_permission"] = "yes"
    elif edit == "no delete permission":
        del acme["delete_permission"]
    elif edit == "object as a value to send":
        acme["changes"][0]["body"]["notes"] = {"a": 1}
    elif edit == "no summary":
        del data["summary"]
    return json.dumps(data)


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        ("unknown action", "plan.tenants[0].changes[0].action: 'explode' is not one of"),
        ("delete without key", "plan.tenants[0].changes[4]: 'key' is a required property"),
        ("unknown top-level key", "plan: Additional properties are not allowed ('approved'"),
        ("unknown tenant key", "plan.tenants[0]: Additional properties are not allowed ('colour'"),
        ("permission not one of three", "plan.tenants[0].delete_permission: 'yes' is not one of"),
        ("no delete permission", "plan.tenants[0]: 'delete_permission' is a required property"),
        ("object as a value to send", "plan.tenants[0].changes[0].body.notes: {'a': 1} is not of type"),
        ("no summary", "plan: 'summary' is a required property"),
    ],
)
def test_the_shape_is_checked_against_the_plan_schema(tmp_path: Path, edit: str, where: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(_shape(edit))
    with pytest.raises(PlanFileError) as info:
        load_plan(path)
    assert f"{path}: {where}" in str(info.value)


def test_the_plan_schema_ships_in_the_wheel_config() -> None:
    # The reader finds it inside the installed package (pyproject's force-include) or in schemas/.
    text = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert '"schemas/plan.schema.json" = "integration_sync/_schemas/plan.schema.json"' in text
    assert plan_schema()["properties"]["format_version"] == {
        **plan_schema()["properties"]["format_version"],
        "const": FORMAT_VERSION,
    }


def test_missing_plan_file(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="cannot read plan file"):
        load_plan(tmp_path / "nope.json")


def _edited(edit: str) -> str:
    """The sample plan's JSON with one hand edit made to its first tenant's data."""
    data = json.loads(sample_plan().to_json())
    acme = data["tenants"][0]
    changes = {c["name"]: c for c in acme["changes"]}
    if edit == "create without its name":
        del changes["Zed"]["body"]["name"]
    elif edit == "create of another name":
        changes["Zed"]["body"]["name"] = "Something Else"
    elif edit == "misspelt field":
        changes["b"]["fields"][1]["field"] = "batch_sise"
    elif edit == "name as a field":
        changes["b"]["fields"][1]["field"] = "name"
    elif edit == "unknown key in before":
        changes["Old"]["before"]["IsManaged"] = True
    elif edit == "tenant twice":
        data["tenants"].append({**acme, "name": "ACME"})
    return json.dumps(data)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("create without its name", "tenants[0].changes[1].body.name: expected 'Zed'"),
        ("create of another name", "got 'Something Else'"),
        ("misspelt field", "tenants[0].changes[2].fields[1].field: 'batch_sise' is not a field"),
        ("name as a field", "'name' is not a field"),
        ("unknown key in before", "tenants[0].changes[4].before: 'IsManaged' is not a field"),
        ("tenant twice", "tenants[2].name: tenant 'ACME' is in the plan twice"),
    ],
)
def test_hand_edits_that_apply_could_not_do_exactly_are_refused(
    tmp_path: Path, edit: str, message: str
) -> None:
    # Before: a create without its name crashed apply with a traceback, one of another name was
    # reported under the planned name, a misspelt field was dropped and the update reported done,
    # and a tenant listed twice was applied twice at once, the report keeping one outcome.
    path = tmp_path / "plan.json"
    path.write_text(_edited(edit))
    with pytest.raises(PlanFileError, match=re.escape(message)):
        load_plan(path)


def test_the_saved_form_in_pieces_is_the_whole_document_as_json_writes_it() -> None:
    import json

    from integration_sync.plan import Create, Plan, TenantPlan

    odd = 'a "quoted"\nline\tand "tenants": [] and é'
    tenants = tuple(
        TenantPlan(tenant=f"t{i}", url="http://t/", changes=(Create(name=odd, body=(("name", odd),)),) * i)
        for i in range(3)
    )
    for plan in (
        Plan(tool_version="1", definitions_digest="sha256:0", tenants=tenants),
        Plan(tool_version="1", definitions_digest=odd, tenants=tenants[:1]),
        Plan(tool_version="1", definitions_digest="sha256:0"),
    ):
        whole = json.dumps(plan.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        assert plan.to_json() == whole
        assert len(list(plan.json_chunks())) == (len(plan.tenants) + 2 if plan.tenants else 1)
        assert Plan.from_json(plan.to_json()) == plan


def test_the_compiled_plan_check_agrees_with_the_plan_schema_on_every_mutation() -> None:
    """Reading a plan checks its shape with the compiled schema first (fast), and jsonschema only to word
    a problem: the two must agree, or a plan the schema refuses would be read."""
    import copy

    from integration_sync.plan.format import _fast_plan_check, _plan_validator

    fast = _fast_plan_check()
    assert fast is not None
    base = json.loads((Path(__file__).parent / "golden" / "plan-changes.json").read_text())
    odd: list[Any] = [None, True, 1, 1.5, "x", "", [], {}, -1]

    def paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        out = [at]
        if isinstance(node, dict):
            for k, v in node.items():
                out += paths(v, (*at, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                out += paths(v, (*at, i))
        return out

    checked = 0
    for path in paths(base)[1:]:
        for value in odd:
            doc = copy.deepcopy(base)
            parent = doc
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]] = value
            assert fast(doc) == (not list(_plan_validator().iter_errors(doc))), (path, value)
            checked += 1
        doc = copy.deepcopy(base)
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict):
            del parent[path[-1]]
            assert fast(doc) == (not list(_plan_validator().iter_errors(doc))), ("del", path)
    assert checked > 500
