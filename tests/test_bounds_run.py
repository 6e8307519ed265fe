"""``run_bounded``: an unexpected exception fails its own tenant with "internal error"; the others go on,
and cancellation and KeyboardInterrupt still propagate."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

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


@pytest.mark.parametrize("first_to_end", ["outer", "inner"])
def test_the_collector_is_tuned_while_runs_go_on_and_restored_when_the_last_ends(first_to_end: str) -> None:
    """Inside a run the young generation is collected less often and the heap from before is frozen;
    when two runs overlap in one event loop, the collector is restored only when the last one ends,
    whichever order they end in (a run that restored it under another would leave it untuned)."""
    import gc

    from integration_sync.runner import YOUNG_THRESHOLD

    before = gc.get_threshold()
    seen: list[tuple[int, int]] = []
    release = {"outer": asyncio.Event(), "inner": asyncio.Event()}

    def work_for(which: str) -> Callable[[TenantConfig], Awaitable[str]]:
        async def work(t: TenantConfig) -> str:
            seen.append((gc.get_threshold()[0], gc.get_freeze_count()))
            await release[which].wait()
            return t.name

        return work

    async def go() -> None:
        outer = asyncio.ensure_future(run_bounded(TENANTS[:1], work_for("outer"), 1))
        inner = asyncio.ensure_future(run_bounded(TENANTS[1:2], work_for("inner"), 1))
        while len(seen) < 2:
            await asyncio.sleep(0.01)
        release[first_to_end].set()
        await (outer if first_to_end == "outer" else inner)
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD  # the other run is still going
        release["inner" if first_to_end == "outer" else "outer"].set()
        await asyncio.gather(outer, inner)

    asyncio.run(go())
    assert all(threshold == YOUNG_THRESHOLD and frozen > 0 for threshold, frozen in seen)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_run_main_returns_the_result_without_ever_formatting_it() -> None:
    """``asyncio.run`` on the main thread formats its finished task, result included, when it puts the
    SIGINT handler back; ``run_main`` hands the result out beside the task, so a plan of thousands of
    tenants is never made into a string no one reads."""
    from integration_sync.runner import run_main

    formatted: list[str] = []

    class Heavy:
        def __repr__(self) -> str:
            formatted.append("repr")
            return "Heavy()"

    heavy = Heavy()

    async def main() -> Heavy:
        await asyncio.sleep(0)
        return heavy

    assert run_main(main()) is heavy
    assert formatted == []
