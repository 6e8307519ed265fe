"""``run_bounded``: an unexpected exception fails its own tenant with "internal error"; the others go on,
and cancellation and KeyboardInterrupt still propagate."""

from __future__ import annotations

import asyncio

import pytest

from integration_sync.config import TenantConfig
from integration_sync.errors import SyncError
from integration_sync.runner import run_bounded

TENANTS = [TenantConfig(name=n, url=f"https://{n}.example/OData/") for n in ("a", "b", "c")]


def test_an_exception_in_one_tenant_is_that_tenants_internal_error() -> None:
    async def work(t: TenantConfig) -> str:
        if t.name == "b":
            raise KeyError("surprise")
        await asyncio.sleep(0.01)
        return t.name.upper()

    results = asyncio.run(run_bounded(TENANTS, work, 2))
    assert results["a"] == "A" and results["c"] == "C"
    error = results["b"]
    assert isinstance(error, SyncError)
    assert str(error) == "tenant b: internal error (KeyError: 'surprise'); --debug shows the traceback"


def test_cancellation_still_propagates() -> None:
    started: list[str] = []

    async def work(t: TenantConfig) -> str:
        started.append(t.name)
        await asyncio.sleep(3600)
        return t.name

    async def go() -> None:
        task = asyncio.ensure_future(run_bounded(TENANTS, work, 3))
        while len(started) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(go())
    assert started == ["a", "b", "c"]
