"""A definition renamed without ``sync.previous_names`` plans a create beside a live integration that no
definition claims any more. The plan says so (a note, not a change), so a reviewer can add the old
name before apply creates a second integration, or deletes and re-creates it under a new key."""

from __future__ import annotations

import random
from typing import Any

import pytest
from test_planner import OPTS, D, L, d, live

from integration_sync import fields
from integration_sync.errors import PlanFileError
from integration_sync.fields import UNSET
from integration_sync.plan import Plan, TenantPlan
from integration_sync.plan import equal as same
from integration_sync.planner import PlanOptions, plan_tenant
from integration_sync.render.registry import render_plan

FIELDS = {"system_id": 7, "max_attempts": 5, "parallel": True, "batch_size": 20, "managed": True}


def test_a_create_like_an_orphan_is_a_possible_rename() -> None:
    plan = plan_tenant([d("Xero Export", **FIELDS)], [live(1, "Xero Invoices", **FIELDS)], OPTS)
    assert plan.counts()["create"] == 1
    assert plan.orphans == ("Xero Invoices",)
    assert plan.possible_renames == (("Xero Export", "Xero Invoices"),)


def test_with_deletes_allowed_the_create_and_delete_pair_is_flagged_too() -> None:
    options = PlanOptions(tenant="t", url="http://t/", allow_delete=True)
    plan = plan_tenant([d("Xero Export", **FIELDS)], [live(1, "Xero Invoices", **FIELDS)], options)
    assert plan.counts() == {"create": 1, "update": 0, "rename": 0, "delete": 1}
    assert plan.possible_renames == (("Xero Export", "Xero Invoices"),)


def test_a_rename_with_a_small_edit_is_still_recognised() -> None:
    edited = {**FIELDS, "max_attempts": 6}
    plan = plan_tenant([d("Xero Export", **edited)], [live(1, "Xero Invoices", **FIELDS)], OPTS)
    assert plan.possible_renames == (("Xero Export", "Xero Invoices"),)


def test_previous_names_makes_it_a_rename_and_no_note() -> None:
    plan = plan_tenant(
        [d("Xero Export", previous_names=["Xero Invoices"], **FIELDS)],
        [live(1, "Xero Invoices", **FIELDS)],
        OPTS,
    )
    assert plan.counts()["rename"] == 1
    assert plan.possible_renames == ()


def test_another_entity_or_mostly_other_values_is_not_a_rename() -> None:
    other_entity = plan_tenant(
        [d("Xero Export", **FIELDS)], [live(1, "Old", **{**FIELDS, "entity": "Payment"})], OPTS
    )
    assert other_entity.possible_renames == ()
    different = {"system_id": 9, "max_attempts": 1, "parallel": False, "batch_size": 1, "managed": True}
    mostly_other = plan_tenant([d("Xero Export", **FIELDS)], [live(1, "Old", **different)], OPTS)
    assert mostly_other.possible_renames == ()


def test_a_live_integration_is_offered_to_the_most_similar_create_only() -> None:
    near = {**FIELDS, "max_attempts": 6}
    plan = plan_tenant(
        [d("Exact Copy", **FIELDS), d("Near Copy", **near)],
        [live(1, "Old Name", **FIELDS)],
        OPTS,
    )
    assert plan.possible_renames == (("Exact Copy", "Old Name"),)


def test_a_definition_that_matches_its_live_integration_is_not_flagged() -> None:
    plan = plan_tenant([d("Same", **FIELDS)], [live(1, "Same", **FIELDS)], OPTS)
    assert plan.possible_renames == ()


def test_the_note_survives_the_plan_file_and_shows_in_text_and_markdown() -> None:
    tenant = plan_tenant([d("Xero Export", **FIELDS)], [live(1, "Xero Invoices", **FIELDS)], OPTS)
    plan = Plan(tool_version="0", definitions_digest="sha256:0", tenants=(tenant,))
    again = Plan.from_json(plan.to_json())
    assert again.tenants[0].possible_renames == (("Xero Export", "Xero Invoices"),)
    text = render_plan(plan, "text")
    assert (
        '? "Xero Export" looks like "Xero Invoices" renamed; to rename it in place instead, add to its '
        'definition: sync: {previous_names: ["Xero Invoices"]}'
    ) in text
    markdown = render_plan(plan, "markdown")
    assert "1 possible rename (see details)" in markdown
    assert 'looks like "Xero Invoices" renamed' in markdown


def test_the_field_is_required_in_a_plan_file_of_this_format() -> None:
    # format_version 2 writes it always; a file without it was edited (or is older: refused by version).
    plan = Plan(
        tool_version="0", definitions_digest="sha256:0", tenants=(TenantPlan(tenant="t", url="http://t/"),)
    )
    text = plan.to_json().replace('"possible_renames": [],', "")
    assert "possible_renames" not in text
    with pytest.raises(PlanFileError, match="possible_renames"):
        Plan.from_json(text)


def test_values_count_as_equal_only_as_the_planner_compares_them() -> None:
    # 1 is not true for the planner (it would plan an update), so it is no likeness either: 2 of 5 differ.
    loose = {**FIELDS, "parallel": 1, "managed": 1}
    plan = plan_tenant([d("Xero Export", **FIELDS)], [live(1, "Xero Invoices", **loose)], OPTS)
    assert plan.possible_renames == ()


def _brute_force(plan_creates: list[D], lives: list[L]) -> tuple[tuple[str, str], ...]:
    """The rule as the README states it, every create against every live integration: same direction
    and entity, at least 80% of the create's other fields equal; each live one offered once, to the
    create it resembles most (then by name)."""
    scored = []
    for create in plan_creates:
        body = {k: v for k, v in create.doc.items() if v is not UNSET}
        others = [k for k in body if k not in ("name", "direction", "entity")]
        for item in lives:
            values = fields.from_odata(item.values)

            def equal(k: str, values: dict[str, Any] = values, body: dict[str, Any] = body) -> bool:
                return k in values and same(values[k], body[k])

            if not (equal("direction") and equal("entity")):
                continue
            share = sum(1 for k in others if equal(k)) / len(others) if others else 1.0
            if share >= 0.8:
                scored.append((share, create.name, values["name"]))
    found, offered, claimed = [], set(), set()
    for _share, name, live_name in sorted(scored, key=lambda s: (-s[0], s[1].casefold(), s[2].casefold())):
        if name not in offered and live_name not in claimed:
            found.append((name, live_name))
            offered.add(name)
            claimed.add(live_name)
    return tuple(sorted(found, key=lambda p: (p[0].casefold(), p[0])))


@pytest.mark.timeout(60)
def test_400_creates_against_400_unclaimed_of_one_kind_each_find_their_own() -> None:
    # One direction and entity throughout: the index by direction and entity cannot help, the groups of
    # fields must. Create i was live i, renamed; half of them were edited in one field too.
    def values(i: int) -> dict[str, Any]:
        return {
            "system_id": i,
            "element_id": f"e-{i}",
            "max_attempts": 1 + i % 7,
            "batch_size": 1 + i % 13,
            "parallel": i % 2 == 0,
            "notes": f"integration {i}",
            "managed": False,
        }

    creates = [
        d(f"New {i:03d}", **{**values(i), "max_attempts": 50 if i % 2 else 1 + i % 7}) for i in range(400)
    ]
    lives = [live(i + 1, f"Old {i:03d}", **values(i)) for i in range(400)]
    plan = plan_tenant(creates, lives, OPTS)
    assert plan.counts()["create"] == 400
    assert plan.possible_renames == tuple((f"New {i:03d}", f"Old {i:03d}") for i in range(400))


def test_the_index_finds_what_comparing_every_pair_finds() -> None:
    # Few values per field, so that shares fall on both sides of 80%; fields left out on either side;
    # 1 against true, and two kinds. The near-linear search must agree with the rule pair by pair.
    rng = random.Random(13)
    keys = [
        "system_id",
        "element_id",
        "max_attempts",
        "batch_size",
        "parallel",
        "notes",
        "schedule_id",
        "action_id",
        "include_updates",
        "continuous",
        "active",
    ]
    pools: dict[str, list[Any]] = {
        "system_id": [1, 2, True],
        "element_id": ["a", "b"],
        "max_attempts": [1, 2],
        "batch_size": [1, 2.0],
        "parallel": [True, False, 1],
        "notes": ["x", None],
        "schedule_id": [1, 2],
        "action_id": [None, 1],
        "include_updates": [True, False],
        "continuous": [True, False],
        "active": [True, False],
    }

    def doc() -> dict[str, Any]:
        chosen = rng.sample(keys, rng.randint(0, len(keys)))
        out = {k: rng.choice(pools[k]) for k in chosen}
        out["entity"] = rng.choice(["Invoice", "Payment"])
        return out

    for _round in range(40):
        creates = [d(f"Create {i}", **doc()) for i in range(rng.randint(1, 12))]
        lives = [live(i + 1, f"Live {i}", **doc()) for i in range(rng.randint(1, 12))]
        plan = plan_tenant(creates, lives, OPTS)
        assert plan.possible_renames == _brute_force(creates, lives)
