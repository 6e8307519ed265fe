"""Plans as data: deterministic order, JSON round trip, and saved files that are refused when wrong."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from integration_sync.errors import PlanFileError
from integration_sync.fields import UNSET
from integration_sync.plan import (
    Create,
    Delete,
    FieldChange,
    Plan,
    Rename,
    SafetyVerdict,
    TenantPlan,
    Update,
    load_plan,
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
            managed=5, change_pct=60.0, delete_pct=20.0, max_change_pct=50, max_delete_pct=10
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
    assert data["format_version"] == 1
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
        ('{"format_version": 2, "tenants": []}', "format_version 2 is not supported"),
        ('{"tenants": []}', "format_version None is not supported"),
        (
            '{"format_version": 1, "tool_version": "x", "definitions_digest": "d", "tenants": [{"name": "t",'
            ' "url": "u", "changes": [{"action": "explode", "name": "n"}]}]}',
            "tenants[0].changes[0].action",
        ),
        (
            '{"format_version": 1, "tool_version": "x", "definitions_digest": "d", "tenants": [{"name": "t",'
            ' "url": "u", "changes": [{"action": "delete", "name": "n"}]}]}',
            "missing 'key'",
        ),
    ],
)
def test_bad_plan_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text)
    with pytest.raises(PlanFileError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        load_plan(path)
    assert str(path) in str(info.value)


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
