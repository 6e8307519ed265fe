"""Fleet planning as a library: bounded concurrency, per-tenant failures, and a nextLink to another host
refused (the transport is injected, so a hostile server is easy to stage)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from integration_sync import fields
from integration_sync.config import Config, Safety, TenantConfig
from integration_sync.errors import ApiError
from integration_sync.fleet import FleetOptions, plan_fleet
from integration_sync.resolve import Desired
from integration_sync.runner import run_bounded


def config(*tenants: TenantConfig) -> Config:
    return Config(path=Path("x.yaml"), root=Path("."), definitions=Path("definitions"), tenants=tenants)


def entity(key: int, name: str) -> dict[str, Any]:
    return {
        "Id": key,
        "@odata.etag": f'W/"{key}"',
        **fields.to_odata({"name": name, "direction": "Inbound", "entity": "E", "consent_type": "None"}),
    }


def test_run_bounded_never_exceeds_parallelism_and_keeps_failures_per_tenant() -> None:
    tenants = [TenantConfig(name=f"t{i}", url="emulator:x") for i in range(12)]
    running = 0
    peak = 0

    async def work(t: TenantConfig) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        running -= 1
        if t.name == "t3":
            raise ApiError("boom", tenant=t.name)
        return t.name.upper()

    results = asyncio.run(run_bounded(tenants, work, 3))
    assert peak == 3
    assert list(results) == [t.name for t in tenants]
    assert isinstance(results["t3"], ApiError)
    assert results["t4"] == "T4"


def test_next_link_to_another_host_is_refused_and_other_tenants_are_planned() -> None:
    seen_hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen_hosts.append(request.url.host)
        if request.url.host == "evil.example.net":
            return httpx.Response(200, json={"value": []})
        page: dict[str, Any] = {"value": [entity(1, "A")]}
        if request.url.path.startswith("/hostile/"):
            page["@odata.nextLink"] = "https://evil.example.net/hostile/OData/Integrations?$skip=1"
        return httpx.Response(200, json=page)

    hostile = TenantConfig(
        name="hostile", url="https://fk.example.com/hostile/OData/", safety=Safety(max_change_pct=20)
    )
    fine = TenantConfig(name="fine", url="https://fk.example.com/fine/OData/")
    desired = {
        "hostile": [Desired("A", {"name": "A"}, (), (), "a.yaml")],
        "fine": [Desired("B", {"name": "B", "direction": "Inbound"}, (), (), "b.yaml")],
    }
    plan = asyncio.run(
        plan_fleet(
            config(hostile, fine),
            [hostile, fine],
            desired,
            FleetOptions(parallelism=2),
            transport=httpx.MockTransport(handler),
        )
    )
    assert "evil.example.net" not in seen_hosts
    failed = plan.tenant("hostile")
    assert failed.error is not None and "evil.example.net" in failed.error
    assert failed.changes == () and failed.live_digest is None
    # A failed tenant's plan still states its effective limits, as the plan format says of every tenant.
    assert failed.to_dict()["safety"] == {
        "managed": 0,
        "change_pct": 0.0,
        "delete_pct": 0.0,
        "max_change_pct": 20.0,
        "max_delete_pct": 10.0,
        "min_existing": 10,
        "unsafe": False,
    }
    ok = plan.tenant("fine")
    assert ok.error is None and ok.counts()["create"] == 1
    assert [t.tenant for t in plan.failed] == ["hostile"]


def test_the_definitions_digest_is_the_digest_of_every_tenants_resolved_definitions() -> None:
    from integration_sync.fleet import definitions_digest
    from integration_sync.plan import digest

    a = Desired(
        name="A",
        doc={"name": "A", "notes": "é"},
        previous_names=("Old",),
        ignore_changes=("b", "a"),
        source="x",
    )
    b = Desired(name="b", doc={"name": "b", "system_id": 7}, previous_names=(), ignore_changes=(), source="y")
    shared = [b, a]
    desired = {"zeta": shared, "alpha": shared, "mid": [a], "none": []}
    plain = digest(
        {
            tenant: sorted(
                ([d.name, dict(d.doc), list(d.previous_names), sorted(d.ignore_changes)] for d in items),
                key=lambda row: (str(row[0]).casefold(), str(row[0])),
            )
            for tenant, items in desired.items()
        }
    )
    assert definitions_digest(desired) == plain
    assert definitions_digest({**desired, "mid": [b]}) != plain
