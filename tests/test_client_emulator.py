"""The OData client against the emulator over real loopback HTTP: paging at the minimum request count,
every variation switch a real tenant may show (docs/odata.md), faults, and the token."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from integration_sync import errors, fields
from integration_sync.client import LiveIntegration, TenantClient
from integration_sync.emulator import EmulatorServer, Variations
from integration_sync.emulator.variations import PROFILES

T = TypeVar("T")
NOTES = fields.odata_name("notes")
TOKEN = "emu-t0ken-4f9a1c"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def no_sleep(seconds: float) -> None:
    return None


def client(emulator: EmulatorServer, tenant: str, **kwargs: Any) -> TenantClient:
    kwargs.setdefault("sleep", no_sleep)
    kwargs.setdefault("timeout_s", 10.0)
    return TenantClient(tenant, emulator.tenant_url(tenant), **kwargs)


def body(name: str, **extra: Any) -> dict[str, Any]:
    doc = {"name": name, "direction": "Outbound", "entity": "Invoice", "consent_type": "None"}
    return {**fields.to_odata(doc), **extra}


def list_requests(emulator: EmulatorServer, tenant: str) -> list[dict[str, Any]]:
    return [
        r for r in emulator.requests(tenant) if r["method"] == "GET" and r["path"].endswith("/Integrations")
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("n", "page"), [(0, 10), (1, 10), (10, 10), (45, 10), (23, 7)])
def test_list_pages_with_the_minimum_number_of_requests(emulator: EmulatorServer, n: int, page: int) -> None:
    emulator.add_tenant("p")

    async def go() -> list[LiveIntegration]:
        async with client(emulator, "p", page_size=page) as c:
            for i in range(n):
                await c.create(body(f"I{i:03d}"))
            before = c.stats.by_method["GET"]
            out = await c.list_integrations()
            assert c.stats.by_method["GET"] - before == max(1, math.ceil(n / page))
            return out

    live = run(go())
    assert [i.name for i in live] == [f"I{i:03d}" for i in range(n)]
    assert len(list_requests(emulator, "p")) == max(1, math.ceil(n / page))


# Each switch alone, then each profile (switches together).
_SWITCHES: list[tuple[str, dict[str, Any]]] = [
    (f.name, {f.name: True})
    for f in dataclasses.fields(Variations)
    if isinstance(f.default, bool) and f.name != "enforce_rules"
]
_SWITCHES += [
    ("enforce_rules", {"enforce_rules": True}),
    ("ignore_maxpagesize_small", {"ignore_maxpagesize": True, "page_size": 3}),
    ("query_options_disabled_filter", {"query_options_disabled": ["$filter"]}),
    ("query_options_disabled_all", {"query_options_disabled": True}),
]
_SWITCHES += [(f"error_body_{b}", {"error_body": b}) for b in ("no_code", "problem", "html", "text", "empty")]
_SWITCHES += [(f"profile_{name}", dict(profile)) for name, profile in PROFILES.items()]


@pytest.mark.slow
@pytest.mark.parametrize("variations", [v for _, v in _SWITCHES], ids=[n for n, _ in _SWITCHES])
def test_every_operation_under_each_variation(emulator: EmulatorServer, variations: dict[str, Any]) -> None:
    emulator.add_tenant("v", token=TOKEN, variations=variations)
    v = Variations.from_dict(variations)
    names = ["Xero Export", "it's two", "Plus+Sign", "Ümlaut name", "Fifth"]

    async def go() -> None:
        async with client(emulator, "v", token=TOKEN, page_size=2) as c:
            created = [await c.create(body(n)) for n in names]
            assert [x.name for x in created] == names
            assert all((x.etag is None) == v.etags_off for x in created)

            live = await c.list_integrations()
            assert sorted(x.name for x in live) == sorted(names)
            assert all(fields.ODATA_KEY in x.values for x in live)

            for n in names:
                found = await c.find_by_name(n.upper())
                assert found is not None and found.name == n, n
            assert await c.find_by_name("no such integration") is None

            with pytest.raises(errors.ConflictError):
                await c.create(body("XERO EXPORT" if not v.case_sensitive_names else "Xero Export"))

            target = created[0]
            got = await c.get(target.key)
            assert got.name == target.name and got.etag == target.etag

            updated = await c.update(target.key, {NOTES: "changed"}, etag=target.etag)
            # The client asks for the representation; a tenant may still answer 204 (None).
            assert updated is None or updated.values[NOTES] == "changed"
            if v.patch_returns_entity:
                assert updated is not None
            fresh = await c.get(target.key)
            assert fresh.values[NOTES] == "changed"

            if not v.etags_off:
                with pytest.raises(errors.PreconditionFailedError) as stale:
                    await c.update(target.key, {NOTES: "again"}, etag=target.etag)
                assert stale.value.status == 412
            if v.etags_required:
                with pytest.raises(errors.PreconditionFailedError, match="If-Match") as required:
                    await c.update(target.key, {NOTES: "again"}, etag=None)
                assert required.value.status == 428
            else:
                await c.update(target.key, {NOTES: "again"}, etag=None)

            with pytest.raises(errors.NotFoundError) as missing:
                await c.get(999_999)
            text = str(missing.value)
            assert "HTTP 404" in text and "GET /v/OData/Integrations(999999)" in text
            assert TOKEN not in text

            await c.delete(fresh.key, etag=(await c.get(fresh.key)).etag)
            with pytest.raises(errors.NotFoundError):
                await c.get(fresh.key)
            assert len(await c.list_integrations()) == len(names) - 1

    run(go())
    queries = [r["query"] for r in emulator.requests("v") if r["query"]]
    assert all("+" not in q for q in queries), queries
    if "$filter" in v.query_options_disabled:
        # Refused once, then the client reads the plain list and stops asking.
        assert sum("filter" in q for q in queries) == 1


def test_wrong_token_is_an_auth_error_without_the_token(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="integration_sync")  # setup_logging elsewhere may have raised it
    emulator.add_tenant("s", token=TOKEN)
    wrong = "wr0ng-t0ken-77"

    async def go() -> None:
        async with client(emulator, "s", token=wrong) as c:
            await c.list_integrations()

    with pytest.raises(errors.AuthError) as info:
        run(go())
    assert info.value.status == 401
    assert wrong not in str(info.value) and wrong not in caplog.text

    async def ok() -> None:
        async with client(emulator, "s", token=TOKEN) as c:
            await c.list_integrations()

    run(ok())
    assert TOKEN not in caplog.text
    assert "GET /s/OData/Integrations?$count=true -> 200" in caplog.text


@pytest.mark.parametrize("fault", ["p_commit_drop", "p_drop", "p503", "p500"])
def test_create_under_a_fault_never_duplicates(emulator: EmulatorServer, fault: str) -> None:
    emulator.add_tenant("f")
    emulator.set_faults("f", **{fault: 1.0}, retry_after=0, count=1, methods=["POST"])

    async def go() -> None:
        async with client(emulator, "f") as c:
            if fault == "p500":  # a 500 before the commit is not retried: the error is reported
                with pytest.raises(errors.ApiError):
                    await c.create(body("Once"))
                assert await c.find_by_name("Once") is None
                await c.create(body("Once"))
            else:
                assert (await c.create(body("Once"))).name == "Once"
            assert [x.name for x in await c.list_integrations()] == ["Once"]

    run(go())


@pytest.mark.parametrize("variations", [{}, {"etags_off": True}, {"etags_required": True}])
def test_update_and_delete_whose_reply_was_lost(emulator: EmulatorServer, variations: dict[str, Any]) -> None:
    emulator.add_tenant("w", variations=variations)

    async def go() -> None:
        async with client(emulator, "w") as c:
            item = await c.create(body("A"))
            emulator.set_faults("w", p_commit_drop=1.0, count=1, methods=["PATCH"])
            await c.update(item.key, {NOTES: "x"}, etag=item.etag)
            now = await c.get(item.key)
            assert now.values[NOTES] == "x"
            emulator.set_faults("w", p_commit_drop=1.0, count=1, methods=["DELETE"])
            await c.delete(item.key, etag=now.etag)
            assert await c.list_integrations() == []

    run(go())


@pytest.mark.slow
def test_random_faults_converge_without_duplicates(emulator: EmulatorServer) -> None:
    emulator.add_tenant("r")
    emulator.set_faults("r", p429=0.1, p503=0.1, p_drop=0.05, p_commit_drop=0.05, retry_after=0, seed=7)
    names = [f"Integration {i:02d}" for i in range(25)]

    async def go() -> RequestCounts:
        async with client(emulator, "r", page_size=10, max_retries=10) as c:
            for n in names:
                await c.create(body(n))
            live = await c.list_integrations()
            assert sorted(x.name for x in live) == names
            return RequestCounts(c.stats.retries, c.stats.recovered_creates, c.stats.by_method["POST"])

    counts = run(go())
    assert counts.retries > 0
    logged = [r for r in emulator.requests("r") if r["method"] == "POST"]
    assert len(logged) == counts.posts


@dataclasses.dataclass
class RequestCounts:
    retries: int
    recovered: int
    posts: int


def test_rate_limit_with_http_date_retry_after(emulator: EmulatorServer) -> None:
    emulator.add_tenant("h")
    emulator.set_faults("h", p429=1.0, retry_after=2, retry_after_http_date=True, count=2)
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    async def go() -> None:
        async with client(emulator, "h", sleep=sleep, max_backoff_s=5.0) as c:
            assert await c.list_integrations() == []

    run(go())
    assert len(delays) == 2 and all(0 <= d <= 5.0 for d in delays)


@pytest.mark.slow
def test_an_injected_transport_stays_open_for_other_clients(emulator: EmulatorServer) -> None:
    emulator.add_tenant("a")
    emulator.add_tenant("b")

    async def go() -> None:
        transport = httpx.AsyncHTTPTransport()
        try:
            async with client(emulator, "a", transport=transport) as first:
                await first.list_integrations()
            async with client(emulator, "b", transport=transport) as second:
                assert await second.list_integrations() == []
        finally:
            await transport.aclose()

    run(go())
