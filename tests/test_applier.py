"""The applier as a library, against emulator tenants: the interrupt's grace period, a tenant that
rejects the token, several writes in flight per tenant, a plan of an unknown format, a tenant that
refuses a change of case alone."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from apply_helpers import BASE, live, project, seed

from integration_sync import __version__, fields
from integration_sync.apply_checks import ApplyOptions
from integration_sync.apply_report import ApplyReport
from integration_sync.config import Config, load_config
from integration_sync.errors import PlanFileError
from integration_sync.fleet import apply_plan
from integration_sync.interrupt import Interrupt
from integration_sync.plan import Create, Plan, Rename, TenantPlan


def _creates(url: str, tenant: str, count: int) -> Plan:
    changes = tuple(
        Create(name=f"Made {i:02}", body=(("name", f"Made {i:02}"), *BASE.items())) for i in range(count)
    )
    return Plan(
        tool_version=__version__,
        definitions_digest="sha256:x",
        tenants=(TenantPlan(tenant=tenant, url=url, live_digest="sha256:x", changes=changes),),
    )


def _config(tmp_path: Path, tenants: list[dict[str, Any]]) -> Config:
    return load_config(project(tmp_path, tenants, []), must_exist=True)


@pytest.mark.slow
def test_writes_in_flight_are_cut_off_when_the_grace_period_ends(emulator: Any, tmp_path: Path) -> None:
    emulator.add_tenant("stuck")
    url = emulator.tenant_url("stuck")
    config = _config(tmp_path, [{"name": "stuck", "url": url}])
    emulator.set_faults("stuck", latency_ms=1500, methods=["POST"])  # the list before the writes is quick

    async def go() -> ApplyReport:
        interrupt = Interrupt(grace_s=0.3)
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, interrupt.request)  # the first create is in flight by then
        return await apply_plan(config, _creates(url, "stuck", 3), ApplyOptions(), interrupt=interrupt)

    report = asyncio.run(go())
    assert report.interrupted and not report.ok
    (tenant,) = report.tenants
    first, *rest = tenant.items
    assert first.status == "failed" and "interrupted in flight" in first.reason
    assert [i.status for i in rest] == ["skipped", "skipped"]
    assert all(i.reason == "not started: interrupted" for i in rest)


@pytest.mark.slow
def test_a_rejected_token_stops_the_tenant_before_any_write(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_tenant("locked", token="right")
    url = emulator.tenant_url("locked")
    monkeypatch.setenv("FK_TOKEN_LOCKED", "wrong")
    config = _config(tmp_path, [{"name": "locked", "url": url, "token_env": "FK_TOKEN_LOCKED"}])

    report = asyncio.run(apply_plan(config, _creates(url, "locked", 3), ApplyOptions()))
    (tenant,) = report.tenants
    assert [i.status for i in tenant.items] == ["skipped", "skipped", "skipped"]
    assert tenant.error is not None and "401" in tenant.error and "wrong" not in report.to_json()
    assert [r["method"] for r in emulator.requests("locked")] == ["GET"]  # the list before the writes


@pytest.mark.slow
def test_several_writes_in_flight_per_tenant(emulator: Any, tmp_path: Path) -> None:
    emulator.add_tenant("wide")
    url = emulator.tenant_url("wide")
    config = _config(tmp_path, [{"name": "wide", "url": url}])
    report = asyncio.run(apply_plan(config, _creates(url, "wide", 12), ApplyOptions(per_tenant=4)))
    assert report.ok and report.counts()["done"] == 12
    assert sorted(live(url)) == [f"Made {i:02}" for i in range(12)]


def test_a_plan_of_another_format_is_refused_before_anything_is_sent(emulator: Any, tmp_path: Path) -> None:
    url = emulator.tenant_url("test")
    config = _config(tmp_path, [{"name": "test", "url": url}])
    plan = Plan(tool_version="9", definitions_digest="x", format_version=3)
    with pytest.raises(PlanFileError, match="format_version 3 is not supported"):
        asyncio.run(apply_plan(config, plan, ApplyOptions()))
    assert emulator.requests("test") == []


class _CountsItself(httpx.AsyncBaseTransport):
    """A tenant whose uniqueness check counts the integration itself: a PATCH that changes only the
    case of its own name answers 409 (otherwise the emulator answers)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            new = json.loads(request.content).get(fields.name_property())
            current = await self.inner.handle_async_request(httpx.Request("GET", request.url))
            await current.aread()
            old = current.json().get(fields.name_property())
            if isinstance(new, str) and new != old and new.casefold() == str(old).casefold():
                self.refused += 1
                return httpx.Response(409, json={"error": {"code": "Conflict", "message": "duplicate name"}})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.slow
def test_a_case_only_rename_refused_as_a_conflict_goes_through_a_temporary_name(
    emulator: Any, tmp_path: Path
) -> None:
    emulator.add_tenant("strict")
    url = emulator.tenant_url("strict")
    seed(url, [{**BASE, "name": "quiet"}, {**BASE, "name": "loud"}])
    state = live(url)
    seed(url, [{**BASE, "name": "Taken"}])
    config = _config(tmp_path, [{"name": "strict", "url": url}])
    renames = (
        Rename(
            from_name="quiet",
            to_name="Quiet",
            key=state["quiet"]["_key"],
            etag=None,
            before=(("name", "quiet"),),
        ),
        Rename(
            from_name="loud",
            to_name="taken",
            key=state["loud"]["_key"],
            etag=None,
            before=(("name", "loud"),),
        ),
    )
    plan = Plan(
        tool_version=__version__,
        definitions_digest="sha256:x",
        tenants=(TenantPlan(tenant="strict", url=url, live_digest="sha256:x", changes=renames),),
    )
    transport = _CountsItself()

    async def go() -> ApplyReport:
        try:
            return await apply_plan(config, plan, ApplyOptions(), transport=transport)
        finally:
            await transport.aclose()

    report = asyncio.run(go())
    quiet, loud = report.tenants[0].items
    assert quiet.status == "done" and "through the temporary name" in quiet.reason, quiet
    assert transport.refused == 1
    assert loud.status == "stale" and "now exists" in loud.reason  # a real conflict stays one
    assert sorted(live(url)) == ["Quiet", "Taken", "loud"]


def test_tenants_that_cannot_be_applied_are_reported_whole(emulator: Any, tmp_path: Path) -> None:
    url = emulator.tenant_url("test")
    config = _config(tmp_path, [{"name": "test", "url": url}])
    made = _creates(url, "test", 1).tenants[0]
    plan = Plan(
        tool_version=__version__,
        definitions_digest="sha256:abc",
        tenants=(
            TenantPlan(tenant="test", url=url, error="HTTP 503: try later"),
            TenantPlan(tenant="gone", url=url, live_digest="sha256:x", changes=made.changes),
        ),
    )
    report = asyncio.run(apply_plan(config, plan, ApplyOptions()))
    assert not report.ok and report.counts() == {"done": 0, "stale": 0, "failed": 0, "skipped": 1}
    errors = {t.tenant: t.error for t in report.tenants}
    assert errors == {
        "gone": "not in the config: the plan names a tenant this config does not have",
        "test": "not planned: HTTP 503: try later",
    }
    data = report.to_dict()
    assert data["plan_definitions_digest"] == "sha256:abc" and data["tool_version"] == __version__
    assert emulator.requests("test") == []
