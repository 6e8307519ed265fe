"""Never wrong about a tenant: equality, matching, listing and write outcomes that hold on any OData
server. Each case runs the real CLI (in process) or the client against emulator tenants over loopback
HTTP, with the variation switch that makes the emulator behave as such a server does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from apply_helpers import BASE, cli, http, project, seed

from integration_sync import fields

OPEN = {"allow_delete": True, "max_change_pct": 100, "max_delete_pct": 100}


def tenant(emulator: Any, name: str, **variations: Any) -> dict[str, str]:
    emulator.add_tenant(name, variations=variations)
    return {"name": name, "url": emulator.tenant_url(name)}


def changes(out: str, name: str = "t") -> list[dict[str, Any]]:
    (plan,) = [t for t in json.loads(out)["tenants"] if t["name"] == name]
    return plan["changes"]


# --- comparing -----------------------------------------------------------------------------------


@pytest.mark.slow
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
    from integration_sync import formatter as fmt
    from integration_sync.plan import equal

    assert not equal(fmt._data("a: 1\n", "x.yaml"), fmt._data("a: true\n", "x.yaml"), absent_is_null=False)
    assert not equal(fmt._data("a: null\n", "x.yaml"), fmt._data("{}\n", "x.yaml"), absent_is_null=False)


# --- listing -------------------------------------------------------------------------------------


def _client(emulator: Any, name: str, **kwargs: Any) -> Any:
    from integration_sync.client import TenantClient

    async def no_sleep(seconds: float) -> None:
        return None

    return TenantClient(name, emulator.tenant_url(name), sleep=no_sleep, timeout_s=10.0, **kwargs)


def _list(emulator: Any, name: str) -> list[Any]:
    import asyncio

    async def go() -> list[Any]:
        async with _client(emulator, name, page_size=3) as c:
            return await c.list_integrations()

    return asyncio.run(go())


def _list_gets(emulator: Any, name: str) -> list[str]:
    return [
        r["query"]
        for r in emulator.requests(name)
        if r["method"] == "GET" and r["path"].endswith("/Integrations")
    ]


SEVEN = [{"name": f"Row {i}", **BASE, "managed": True} for i in range(1, 8)]


def test_a_key_repeated_across_pages_is_one_integration(emulator: Any) -> None:
    t = tenant(emulator, "t", page_hook="repeat")
    seed(t["url"], SEVEN)
    listed = _list(emulator, "t")
    assert sorted(i.key for i in listed) == [1, 2, 3, 4, 5, 6, 7]


def test_a_key_repeated_with_other_values_means_the_listing_moved_and_is_read_again(emulator: Any) -> None:
    t = tenant(emulator, "t", page_hook="edit")
    seed(t["url"], SEVEN)
    listed = _list(emulator, "t")
    assert sorted(i.key for i in listed) == [1, 2, 3, 4, 5, 6, 7]
    assert [i.values["Notes"] for i in listed if i.key == 3] == ["edited between pages (None)"]
    firsts = [q for q in _list_gets(emulator, "t") if "skiptoken" not in q]
    assert len(firsts) == 2  # read twice: once moved, once whole


def test_a_row_skipped_while_paging_is_caught_by_the_count(emulator: Any) -> None:
    t = tenant(emulator, "t", page_hook="delete")
    seed(t["url"], SEVEN)
    listed = _list(emulator, "t")
    assert sorted(i.key for i in listed) == [2, 3, 4, 5, 6, 7]  # 1 deleted meanwhile; 4 not lost
    assert len([q for q in _list_gets(emulator, "t") if "skiptoken" not in q]) == 2


def test_a_count_served_as_a_string_is_a_count(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """OData's IEEE754Compatible format writes an Edm.Int64, the count included, as a string: it still
    tells a listing that skipped a row, and the tenant is planned, not failed."""
    variations = {"page_hook": "delete", "ignore_maxpagesize": True, "page_size": 3}
    t = tenant(emulator, "t", ieee754_compatible=True, **variations)
    seed(t["url"], SEVEN)
    with http(t["url"]) as client:
        assert client.get("Integrations", params={"$count": "true"}).json()["@odata.count"] == "7"
    emulator.add_tenant("t", variations={"ieee754_compatible": True, **variations})  # arms the hook again
    config = project(tmp_path, [t], SEVEN, safety=OPEN)
    result = cli(capsys, config, "plan", "--format", "json")
    assert result.code == 0, result.out + result.err
    # Rows 1 and 2 were deleted by the hook (each a create); Row 5, skipped by the shift, exists.
    assert [(c["action"], c["name"]) for c in changes(result.out)] == [
        ("create", "Row 1"),
        ("create", "Row 2"),
    ]
    listings = [q for q in _list_gets(emulator, "t") if "skiptoken" not in q]
    assert listings[1:] == ["$count=true", "$count=true"]  # read again on the count, never by name


@pytest.mark.parametrize("served_count", [True, False])
def test_a_row_skipped_while_paging_never_plans_a_create(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], served_count: bool
) -> None:
    variations: dict[str, Any] = {"page_hook": "delete", "ignore_maxpagesize": True, "page_size": 3}
    if not served_count:
        variations["query_options_disabled"] = ["$count"]
    t = tenant(emulator, "t", **variations)
    seed(t["url"], SEVEN)
    config = project(tmp_path, [t], SEVEN, safety=OPEN)
    result = cli(capsys, config, "plan", "--format", "json")
    assert result.code == 0, result.err
    # Row 1 was deleted between the pages (a create is right); Row 4, skipped by the shift, exists.
    assert [(c["action"], c["name"]) for c in changes(result.out)] == [("create", "Row 1")]


# --- paging that never ends: a purpose-built server (the emulator should never learn this) ----------


class _Endless:
    """An OData-ish server whose paging never ends: ``/stuck/`` sends the same rows under a new next
    link each time; ``/overcount/`` a new row each page while counting 2."""

    def __enter__(self) -> _Endless:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        served: list[str] = []
        self.served = served

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.append(self.path)
                page = int(self.path.rpartition("p=")[2]) if "p=" in self.path else 0
                tenant = self.path.split("/")[1]
                base = f"http://127.0.0.1:{self.server.server_address[1]}/{tenant}/OData/Integrations"  # type: ignore[index]
                if tenant == "stuck":
                    body: dict[str, Any] = {"value": [{"Id": 1, "Name": "A"}]}
                else:
                    body = {"@odata.count": 2, "value": [{"Id": page + 1, "Name": f"N{page}"}]}
                body["@odata.nextLink"] = f"{base}?p={page + 1}"
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def url(self, tenant: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{tenant}/OData/"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("tenant_", "pages", "message"),
    [
        ("stuck", 4, "the paging makes no progress: 3 pages in a row brought no integration"),
        ("overcount", 5, "the listing goes on past 5 pages (its count, 2, explains fewer)"),
    ],
)
def test_paging_that_never_ends_fails_the_tenant_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tenant_: str, pages: int, message: str
) -> None:
    with _Endless() as server:
        config = project(tmp_path, [{"name": tenant_, "url": server.url(tenant_)}], [])
        result = cli(capsys, config, "plan")
        assert len(server.served) == pages
    assert result.code == 1
    assert message in result.out and f"Tenant {tenant_}" in result.out
    assert "Traceback" not in result.out + result.err


# --- matching ------------------------------------------------------------------------------------


def _by_key(url: str) -> dict[int, dict[str, Any]]:
    with http(url) as client:
        rows = client.get("Integrations").json()["value"]
    return {r[fields.ODATA_KEY]: fields.from_odata(r) for r in rows}


def _writes(emulator: Any, name: str) -> list[str]:
    return [r["method"] for r in emulator.requests(name) if r["method"] != "GET"]


@pytest.mark.slow
def test_the_managed_twin_wins_and_the_client_owned_one_is_left_alone(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = tenant(emulator, "t", case_sensitive_names=True)
    seed(t["url"], [{"name": "fOO EXPORT", **BASE, "managed": True, "max_attempts": 2}])
    seed(t["url"], [{"name": "Foo Export", **BASE, "managed": False, "notes": "theirs"}])  # key 2
    definition = {"name": "foo export", **BASE, "managed": True, "max_attempts": 3}
    config = project(tmp_path, [t], [definition], safety=OPEN)
    plan_file = tmp_path / "plan.json"
    planned = cli(capsys, config, "plan", "--format", "json", "--out", str(plan_file))
    assert planned.code == 0, planned.out + planned.err
    (rename,) = changes(planned.out)
    assert (rename["action"], rename["key"], rename["from_name"]) == ("rename", 1, "fOO EXPORT")
    applied = cli(capsys, config, "apply", str(plan_file))
    assert applied.code == 0, applied.out + applied.err
    state = _by_key(t["url"])
    assert state[1]["name"] == "foo export" and state[1]["max_attempts"] == 3
    assert state[2]["name"] == "Foo Export" and state[2]["managed"] is False and state[2]["notes"] == "theirs"


def test_a_previous_name_picks_the_twin_too(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = tenant(emulator, "t", case_sensitive_names=True)
    seed(t["url"], [{"name": "Old", **BASE, "managed": False}, {"name": "OLD", **BASE, "managed": False}])
    for previous, key in (("Old", 1), ("OLD", 2)):  # not whichever sorts first
        definition = {"name": "New", **BASE, "sync": {"previous_names": [previous]}}
        result = cli(capsys, project(tmp_path, [t], [definition]), "plan", "--format", "json")
        assert result.code == 0, result.out + result.err
        assert [(c["action"], c["key"]) for c in changes(result.out)] == [("rename", key)]


def test_a_single_case_variant_is_still_claimed_whoever_owns_it(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = tenant(emulator, "t")
    seed(t["url"], [{"name": "Foo Export", **BASE, "managed": False}])
    definition = {"name": "foo export", **BASE, "managed": False}
    result = cli(capsys, project(tmp_path, [t], [definition]), "plan", "--format", "json")
    assert result.code == 0, result.out + result.err
    assert [(c["action"], c["from_name"]) for c in changes(result.out)] == [("rename", "Foo Export")]


@pytest.mark.parametrize("managed", [False, True])
def test_twins_that_cannot_be_told_apart_are_an_error_and_apply_refuses_the_tenant(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], managed: bool
) -> None:
    t = tenant(emulator, "t", case_sensitive_names=True)
    twins = [{"name": n, **BASE, "managed": managed} for n in ("Foo Export", "FOO EXPORT")]
    seed(t["url"], [*twins, {"name": "Orphan", **BASE, "managed": True}])
    definitions = [{"name": "foo export", **BASE, "managed": True}, {"name": "Brand New", **BASE}]
    config = project(tmp_path, [t], definitions, safety=OPEN)
    plan_file = tmp_path / "plan.json"
    text = cli(capsys, config, "plan")
    assert text.code == 1
    assert (
        'error: definition "foo export" matches 2 live integrations that differ only in case: '
        f'"FOO EXPORT" (key 2, {"managed" if managed else "client-owned"}), "Foo Export" (key 1, '
    ) in text.out
    assert '+ create "Brand New"' in text.out and '- delete "Orphan"' in text.out  # the rest is shown
    assert "1 tenant failed: t" in text.out
    planned = cli(capsys, config, "plan", "--format", "json", "--out", str(plan_file))
    assert planned.code == 1
    (tp,) = json.loads(planned.out)["tenants"]
    assert tp["ambiguous"] == [
        {
            "name": "foo export",
            "candidates": [
                {"key": 2, "name": "FOO EXPORT", "managed": managed},
                {"key": 1, "name": "Foo Export", "managed": managed},
            ],
        }
    ]
    assert sorted(c["name"] for c in tp["changes"]) == ["Brand New", "Orphan"]  # no twin deleted
    for fmt in ("markdown", "github"):
        shown = cli(capsys, config, "plan", "--format", fmt)
        assert shown.code == 1 and "(key 1, " in shown.out and "(key 2, " in shown.out
    applied = cli(capsys, config, "apply", str(plan_file))
    assert applied.code == 1
    assert "ambiguous" in applied.out
    assert _writes(emulator, "t") == ["POST", "POST", "POST"]  # the seeding only


def test_a_live_integration_without_a_usable_name_is_a_note_never_an_orphan(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from integration_sync.emulator import model

    t = tenant(emulator, "t")
    seed(t["url"], [{"name": "None", **BASE, "managed": True}])
    store = emulator.emulator.store
    for name in (None, "   "):
        row = {p.name: p.default() for p in model.props()}
        store.insert("t", {**row, **fields.to_odata({**BASE, "managed": True}), fields.name_property(): name})
    config = project(tmp_path, [t], [], safety=OPEN)
    result = cli(capsys, config, "plan", "--format", "json")
    assert result.code == 0, result.out + result.err
    (tp,) = json.loads(result.out)["tenants"]
    assert [(c["action"], c["key"]) for c in tp["changes"]] == [("delete", 1)]  # the one named "None"
    assert tp["unnamed"] == [2, 3]
    text = cli(capsys, config, "plan")
    assert (
        "2 live integrations with no usable name (keys 2, 3): left alone, never matched or deleted"
        in text.out
    )


@pytest.mark.slow
@pytest.mark.parametrize("fleet", [False, True])
def test_import_leaves_out_integrations_without_a_usable_name_and_says_so(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], fleet: bool
) -> None:
    """An import writes no definition named "" (or a stringified value) for a live integration with no
    usable name: plan would never match it, and would create a second integration for it."""
    from integration_sync.emulator import model

    t = tenant(emulator, "t")
    seed(t["url"], [{"name": "Named", **BASE, "managed": True}])
    row = {p.name: p.default() for p in model.props()}
    for name in (None, "  "):
        emulator.emulator.store.insert(
            "t", {**row, **fields.to_odata({**BASE, "managed": True}), fields.name_property(): name}
        )
    config = project(tmp_path, [t], [])
    args = ["import", "--fleet"] if fleet else ["import", "--tenant", "t"]
    result = cli(capsys, config, *args)
    assert result.code == 0, result.out + result.err
    written = sorted(p.name for p in (tmp_path / "definitions").glob("*.yaml"))
    assert len(written) == 1 and "named" in written[0], written
    assert "2 live integrations with no usable name (keys 2, 3)" in result.out + result.err
    planned = cli(capsys, config, "plan")
    assert planned.code == 0 and "No changes" in planned.out + planned.err, planned.out


@pytest.mark.slow
def test_fleet_import_sees_no_drift_between_a_null_and_a_property_left_out(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The one equality: a tenant that leaves out its null properties holds the same values as one that
    sends them as null, so import --fleet reports no drift between them (and plan no change)."""
    tenants = [tenant(emulator, "a"), tenant(emulator, "b", omit_nulls=True), tenant(emulator, "c")]
    for t, notes in zip(tenants, (None, None, "set"), strict=True):
        seed(t["url"], [{"name": "Shared", **BASE, "managed": True, "notes": notes}])
    config = project(tmp_path, tenants, [])
    result = cli(capsys, config, "import", "--fleet")
    assert result.code == 0, result.out + result.err
    drift = [line.strip() for line in result.out.splitlines() if line.startswith("  ")]
    assert drift == ['notes: null on 2 tenants; differs on c ("set")'], result.out
    planned = cli(capsys, config, "plan", "--format", "json")
    assert [len(tp["changes"]) for tp in json.loads(planned.out)["tenants"]] == [0, 0, 1]


def test_integrations_without_a_usable_name_do_not_dilute_the_safety_thresholds(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows the plan can never touch are not in the denominator: ten unnamed managed rows beside the two
    a plan deletes leave that plan deleting 100%, not 17%, at plan and at apply."""
    from integration_sync.emulator import model

    t = tenant(emulator, "t")
    seed(t["url"], [{"name": n, **BASE, "managed": True} for n in ("A", "B")])
    row = {p.name: p.default() for p in model.props()}
    for name in [None] * 8 + ["", "  "]:
        emulator.emulator.store.insert(
            "t", {**row, **fields.to_odata({**BASE, "managed": True}), fields.name_property(): name}
        )
    safety = {"allow_delete": True, "max_change_pct": 100, "max_delete_pct": 50, "min_existing": 1}
    config = project(tmp_path, [t], [], safety=safety)
    plan_file = tmp_path / "plan.json"
    result = cli(capsys, config, "plan", "--format", "json", "--out", str(plan_file))
    (tp,) = json.loads(result.out)["tenants"]
    assert len(tp["unnamed"]) == 10 and [c["action"] for c in tp["changes"]] == ["delete", "delete"]
    assert tp["safety"]["managed"] == 2 and tp["safety"]["unsafe"] is True, tp["safety"]
    applied = cli(capsys, config, "apply", str(plan_file))
    assert applied.code == 1 and "deletes 100% of 2 managed integrations" in applied.out, applied.out
    assert _writes(emulator, "t") == ["POST", "POST"]  # the seeding only


def test_new_plan_keys_survive_the_plan_file() -> None:
    from integration_sync.plan import Ambiguity, Candidate, Create, Plan, TenantPlan

    tp = TenantPlan(
        tenant="t",
        url="http://t/",
        changes=(Create("A", (("name", "A"),), notes=("max_attempts is left out",)),),
        ambiguous=(Ambiguity("x", (Candidate(1, "X", False), Candidate("k", "x", True))),),
        unnamed=(3, "z"),
    )
    again = Plan.from_json(Plan("1", "d", (tp,)).to_json())
    assert again.tenants == (tp,) and again.failed == (tp,)
    plain = json.loads(Plan("1", "d", (TenantPlan("u", "http://u/"),)).to_json())["tenants"][0]
    assert plain["ambiguous"] == [] and plain["unnamed"] == []  # format 2 writes every tenant key


def test_a_create_that_leaves_out_a_counter_says_so(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = tenant(emulator, "t")
    definitions = [{"name": "Bare", **BASE}, {"name": "Full", **BASE, "max_attempts": 2, "batch_size": 5}]
    result = cli(capsys, project(tmp_path, [t], definitions), "plan", "--format", "json")
    notes = {c["name"]: c.get("notes", []) for c in changes(result.out)}
    assert notes["Full"] == [] and [n.split()[0] for n in notes["Bare"]] == ["max_attempts", "batch_size"]
    text = cli(capsys, project(tmp_path, [t], definitions), "plan")
    assert "note: max_attempts is left out: the tenant may store 0, below its minimum of 1" in text.out


# --- writes and their replies --------------------------------------------------------------------


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


CONFLICT_SHAPES = [
    {},
    {"duplicate_name_400": True},
    {"duplicate_name_400": True, "error_body": "text"},
    {"duplicate_name_400": True, "error_body": "empty"},
    {"conflict_reply": "unique_index"},
    {"conflict_reply": "name_target"},
    {"conflict_reply": "opaque"},
    {"conflict_reply": "opaque", "error_body": "problem"},
]


@pytest.mark.parametrize("variations", CONFLICT_SHAPES, ids=lambda v: "-".join(map(str, v.values())) or "409")
def test_a_name_conflict_is_recognised_by_its_shape(emulator: Any, variations: dict[str, Any]) -> None:
    from integration_sync import errors

    tenant(emulator, "t", **variations)
    one = fields.to_odata({"name": "Taken", **BASE})
    two = fields.to_odata({"name": "Other", **BASE})

    async def go() -> None:
        async with _client(emulator, "t") as c:
            first = await c.create(one)
            second = await c.create(two)
            with pytest.raises(errors.ConflictError):
                await c.create({**one, fields.name_property(): "taken"})
            with pytest.raises(errors.ConflictError):
                await c.update(second.key, {fields.name_property(): "TAKEN"}, etag=second.etag)
            assert first.key != second.key

    _run(go())


def test_a_400_that_is_not_about_a_taken_name_stays_a_failure(emulator: Any) -> None:
    from integration_sync import errors

    tenant(emulator, "t", conflict_reply="opaque")
    too_long = fields.to_odata({"name": "x" * 200, **BASE})

    async def go() -> None:
        async with _client(emulator, "t") as c:
            with pytest.raises(errors.ApiError) as info:
                await c.create(too_long)
            assert type(info.value) is errors.ApiError and info.value.status == 400

    _run(go())


@pytest.mark.parametrize("gone_412", [False, True])
def test_a_failed_update_says_whether_the_integration_is_gone_or_changed(
    emulator: Any, gone_412: bool
) -> None:
    from integration_sync import errors

    tenant(emulator, "t", gone_412=gone_412)

    async def go() -> None:
        async with _client(emulator, "t", max_retries=0) as c:
            a = await c.create(fields.to_odata({"name": "A", **BASE}))
            b = await c.create(fields.to_odata({"name": "B", **BASE}))
            await c.update(a.key, {fields.odata_name("notes"): "moved"}, etag=None)
            with pytest.raises(errors.PreconditionFailedError, match="still exists, and changed"):
                await c.update(a.key, {fields.odata_name("notes"): "mine"}, etag=a.etag)
            await c.delete(b.key, etag=None)
            with pytest.raises(errors.NotFoundError):
                await c.update(b.key, {fields.odata_name("notes"): "mine"}, etag=b.etag)
            if gone_412:
                await c.delete(b.key, etag=b.etag)  # a 412, and a read finds nothing: done
            else:
                with pytest.raises(errors.NotFoundError):
                    await c.delete(b.key, etag=b.etag)
            with pytest.raises(errors.PreconditionFailedError, match="still exists, and changed"):
                await c.delete(a.key, etag=a.etag)

    _run(go())


@pytest.mark.slow
def test_a_delete_retried_after_a_lost_reply_on_a_412_server_is_done(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = tenant(emulator, "t", gone_412=True)
    seed(t["url"], [{"name": "Gone Soon", **BASE, "managed": True}])
    config = project(tmp_path, [t], [], safety=OPEN)
    plan_file = tmp_path / "plan.json"
    assert cli(capsys, config, "plan", "--out", str(plan_file)).code == 0
    emulator.set_faults("t", p_commit_drop=1.0, count=1, methods=["DELETE"])
    applied = cli(capsys, config, "apply", str(plan_file))
    assert applied.code == 0, applied.out + applied.err
    assert [r["status"] for r in emulator.requests("t") if r["method"] == "DELETE"] == [204, 412]


# --- the embedded tenant is a tenant ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_applies_at_once_on_the_embedded_tenant_never_create_a_name_twice(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from integration_sync.emulator.embedded import start_embedded

    names = [f"Race {i:02}" for i in range(60)]
    config = project(
        tmp_path, [{"name": "local", "url": "emulator:local"}], [{"name": n, **BASE} for n in names]
    )
    env = {**os.environ, "NO_COLOR": "1"}
    command = [sys.executable, "-m", "integration_sync", "--config", str(config)]
    plan_file = tmp_path / "plan.json"
    planned = subprocess.run(
        [*command, "plan", "--out", str(plan_file)], capture_output=True, text=True, env=env, timeout=120
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    runs = [
        subprocess.Popen(
            [*command, "apply", str(plan_file), "--per-tenant", "4"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outs = [r.communicate(timeout=200) for r in runs]
    assert all("Traceback" not in out + err for out, err in outs), outs
    with start_embedded(tmp_path, ["local"]) as emu, http(emu.tenant_url("local")) as client:
        listed = client.get("Integrations", params={"$top": "1000"}).json()["value"]
    held = [e[fields.name_property()] for e in listed if e[fields.name_property()].startswith("Race")]
    assert sorted(held) == names  # each exactly once, whichever process made it


# --- what validate accepts, a tenant accepts ----------------------------------------------------------

EMOJI = "\N{GRINNING FACE}"


@pytest.mark.parametrize(
    ("key", "limit"), [("name", 128), ("entity", 450), ("consent_type", 64), ("element_id", 256)]
)
def test_lengths_are_counted_in_utf16_code_units_by_validate_and_the_emulator(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, limit: int
) -> None:
    over = "a" * (limit - 1) + EMOJI  # limit characters, limit + 1 code units
    exact = "a" * (limit - 2) + EMOJI
    t = tenant(emulator, "t")
    doc = {"name": "Long", **BASE, key: over}
    config = project(tmp_path, [t], [doc])
    result = cli(capsys, config, "validate")
    assert result.code == 1
    assert f"{key}: is {limit + 1} UTF-16 code units long ({limit} characters;" in result.out + result.err
    assert f"d000.yaml:{list(doc).index(key) + 1}:" in result.out + result.err  # at its line
    assert cli(capsys, project(tmp_path, [t], [{**doc, key: exact}]), "validate").code == 0
    with http(t["url"]) as client:
        refused = client.post("Integrations", json=fields.to_odata({**doc, key: over}))
        accepted = client.post("Integrations", json=fields.to_odata({**doc, key: exact}))
    assert refused.status_code == 400 and "UTF-16" in refused.text
    assert accepted.status_code == 201


def test_a_tenants_narrower_max_length_is_counted_in_utf16_code_units_too(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The config's ``max_lengths`` (validate's tenant-max-length) and the emulator's narrower
    ``MaxLength`` count as the schema's limits do: 39 letters and an emoji are 41 units, not 40."""
    over, exact = "a" * 39 + EMOJI, "a" * 38 + EMOJI
    t = tenant(emulator, "t", max_lengths={fields.odata_name("entity"): 40})
    doc = {"name": "Narrow", **BASE, "entity": over}
    config = project(tmp_path, [t], [doc], max_lengths={"entity": 40})
    result = cli(capsys, config, "validate")
    assert result.code == 1 and "[tenant-max-length]" in result.out + result.err
    assert "entity: is 41 UTF-16 code units long (40 characters;" in result.out + result.err
    assert (
        cli(
            capsys, project(tmp_path, [t], [{**doc, "entity": exact}], max_lengths={"entity": 40}), "validate"
        ).code
        == 0
    )
    with http(t["url"]) as client:
        refused = client.post("Integrations", json=fields.to_odata(doc))
        accepted = client.post("Integrations", json=fields.to_odata({**doc, "entity": exact}))
    assert refused.status_code == 400 and "UTF-16" in refused.text
    assert accepted.status_code == 201


@pytest.mark.parametrize("key", ["name", "entity", "consent_type"])
def test_a_required_string_of_only_whitespace_is_an_error(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    t = tenant(emulator, "t")
    doc = {"name": "Blank", **BASE, key: " \t "}
    result = cli(capsys, project(tmp_path, [t], [doc]), "validate")
    assert (
        result.code == 1 and f"{key}: must not be blank (it holds only whitespace)" in result.out + result.err
    )
    with http(t["url"]) as client:
        refused = client.post("Integrations", json=fields.to_odata(doc))
    assert refused.status_code == 400 and "is required" in refused.text


@pytest.mark.slow
def test_apply_confirms_a_create_by_name_when_its_listing_may_have_skipped_a_row(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    variations = {"page_hook": "delete", "ignore_maxpagesize": True, "page_size": 3}
    variations["query_options_disabled"] = ["$count"]
    t = tenant(emulator, "t", **variations)
    seed(t["url"], SEVEN[:3])
    definitions = [*SEVEN[:3], {"name": "Late", **BASE}]
    config = project(tmp_path, [t], definitions, safety=OPEN)
    plan_file = tmp_path / "plan.json"
    assert cli(capsys, config, "plan", "--out", str(plan_file)).code == 0  # one page: nothing to skip
    # Since the plan: someone made "Late" (key 4) and more; the apply's listing skips key 4.
    seed(t["url"], [{"name": "Late", **BASE}, *({"name": f"Other {i}", **BASE} for i in range(3))])
    emulator.add_tenant("t", variations=variations)  # arms the one-shot hook again
    applied = cli(capsys, config, "apply", str(plan_file), "--report", str(tmp_path / "r.json"))
    (item,) = json.loads((tmp_path / "r.json").read_text())["tenants"][0]["items"]
    assert item["status"] == "stale" and "key 4" in item["reason"], item
    assert applied.code == 1
    assert [r["method"] for r in emulator.requests("t")].count("POST") == 3 + 4  # the seeding only


def test_a_string_key_is_shown_apart_from_an_integer_key_and_on_one_line() -> None:
    """Keys come from the tenant: a string key is shown quoted (``"1"`` is not the integer ``1``) and
    escaped (a line break or an escape sequence in it never reaches the terminal as such)."""
    from integration_sync.plan import Ambiguity, Candidate, Delete, Plan, TenantPlan
    from integration_sync.render import plan_text

    hostile = "a\nb\x1b[2J"
    tp = TenantPlan(
        tenant="t",
        url="http://t/",
        changes=(Delete("Gone", hostile, None, (("name", "Gone"), ("managed", True))),),
        ambiguous=(Ambiguity("x", (Candidate(1, "X", True), Candidate("1", "x", True))),),
        unnamed=(2, "2"),
    )
    text = plan_text.render(Plan("1", "d", (tp,)), color=False)
    assert "\x1b" not in text and "a\nb" not in text
    assert '(key "a\\nb\\u001b[2J")' in text
    assert '"X" (key 1, managed), "x" (key "1", managed)' in text
    assert '(keys 2, "2")' in text


@pytest.mark.slow
def test_each_create_is_confirmed_by_name_however_the_names_are_read(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a tenant that allows no $filter, a create is confirmed by reading the whole list; that read
    (one page now) must not stand for the apply's own listing, which may have skipped a row: the next
    create is confirmed too, and nothing is sent for a name that exists."""
    variations = {"page_hook": "delete", "ignore_maxpagesize": True, "page_size": 3}
    variations["query_options_disabled"] = ["$count", "$filter"]
    t = tenant(emulator, "t", **variations)
    seed(t["url"], SEVEN[:3])
    definitions = [*SEVEN[:3], {"name": "Late A", **BASE}, {"name": "Late B", **BASE}]
    config = project(tmp_path, [t], definitions, safety=OPEN)
    plan_file = tmp_path / "plan.json"
    assert cli(capsys, config, "plan", "--out", str(plan_file)).code == 0  # one page: nothing to skip
    seed(t["url"], [{"name": "Late B", **BASE}])  # key 4, made since the plan
    emulator.add_tenant("t", variations=variations)  # arms the one-shot hook: the apply's listing skips 4
    report = tmp_path / "r.json"
    applied = cli(capsys, config, "apply", str(plan_file), "--report", str(report))
    assert applied.code == 1
    items = {i["name"]: i for i in json.loads(report.read_text())["tenants"][0]["items"]}
    assert items["Late A"]["status"] == "done"
    assert items["Late B"]["status"] == "stale" and "nothing was sent" in items["Late B"]["reason"], items
    assert [r["method"] for r in emulator.requests("t")].count("POST") == 3 + 1 + 1  # seeding, Late A
