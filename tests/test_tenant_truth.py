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
                base = f"http://127.0.0.1:{self.server.server_address[1]}/{tenant}/OData/Integrations"
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
