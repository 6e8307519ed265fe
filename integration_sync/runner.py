"""Run one piece of work per tenant, at most N at once (``run_bounded``), each tenant's failure its own.

The one place that runs work across tenants concurrently: ``fleet.plan_fleet``, ``fleet.apply_plan``,
``doctor`` and ``import --fleet`` go through it. A ``SyncError`` is that tenant's result; any
other exception becomes that tenant's one-line "internal error" (``internal_error``), the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import Any, Final, TypeVar

from integration_sync import logs
from integration_sync.config import TenantConfig
from integration_sync.errors import SyncError

log = logging.getLogger(__name__)

T = TypeVar("T")


def run_main(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, with ``main``'s result kept off its task: how every command runs its
    event loop.

    On the main thread ``asyncio.run`` installs a SIGINT handler that holds its task, and restores the
    previous handler on the way out; restoring it (``signal.signal``) formats the repr of that handler,
    the finished task's result included, in full. For a plan of 1,000 tenants that string cost 0.1 to
    0.3 s of CPU, and nothing reads it. A result handed out beside the task is never formatted."""
    out: list[T] = []

    async def hold() -> None:
        out.append(await main)

    asyncio.run(hold())
    return out[0]


def internal_error(exc: Exception, tenant: str) -> SyncError:
    """An unexpected exception in one tenant's work as that tenant's one-line failure; ``--debug``
    prints its traceback (redacted) as well."""
    if logs.tracebacks_wanted():
        logs.print_traceback(exc)
    detail = logs.redact(str(exc))
    detail = detail if len(detail) <= 200 else detail[:199] + "…"
    return SyncError(
        f"tenant {tenant}: internal error ({type(exc).__name__}{': ' + detail if detail else ''}); "
        "--debug shows the traceback"
    )


async def run_bounded(
    tenants: Sequence[TenantConfig],
    work: Callable[[TenantConfig], Awaitable[T]],
    parallelism: int,
    on_done: Callable[[TenantConfig, T | SyncError], None] | None = None,
) -> dict[str, T | SyncError]:
    """``work(tenant)`` for every tenant, at most ``parallelism`` at once, started in order. A
    ``SyncError`` is that tenant's result; any other exception becomes that tenant's "internal error"
    (the others go on). Cancellation and KeyboardInterrupt propagate.

    ``parallelism`` workers take the next tenant as each finishes one, rather than a task per tenant
    made up front and held back by a semaphore: a fleet of 10,000 does not hold 10,000 suspended
    tasks."""
    results: dict[str, T | SyncError] = {}
    queue = iter(tenants)  # shared by the workers: each tenant is taken once

    async def one(tenant: TenantConfig) -> None:
        result: T | SyncError
        try:
            result = await work(tenant)
        except SyncError as exc:
            log.info("tenant %s failed: %s", tenant.name, exc)
            result = exc
        except Exception as exc:  # a bug, or a reply no rule foresaw: this tenant only
            result = internal_error(exc, tenant.name)
            log.info("tenant %s failed: %s", tenant.name, result)
        results[tenant.name] = result
        if on_done is not None:
            on_done(tenant, result)

    async def worker() -> None:
        for tenant in queue:
            await one(tenant)

    try:
        with fewer_collections():
            async with asyncio.TaskGroup() as group:
                for _ in range(min(max(1, parallelism), len(tenants))):
                    group.create_task(worker())
    except BaseExceptionGroup as group_error:  # a bug in one tenant's work: surface it plainly
        raise group_error.exceptions[0] from None
    return {t.name: results[t.name] for t in tenants}


#: Container allocations between two young-generation collections while a fleet runs (Python's
#: default is 700).
YOUNG_THRESHOLD: Final = 20_000


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """The cyclic garbage collector tuned for a fleet run, restored after it.

    Every tenant's reply is parsed into thousands of dicts that live while up to ``parallelism``
    tenants are in flight: at the default threshold they are scanned and promoted over and over, and
    the heap that was there before the run (modules, a 10,000-tenant config, the resolved
    definitions) is walked again by every full collection. Freezing that heap and collecting the young
    generation every ``YOUNG_THRESHOLD`` allocations instead of every 700 took the collector's share of
    a 1,000-tenant plan from about 0.4 s to 0.15 s of CPU (see the README's benchmarks). Reference
    counting still frees everything that is not in a cycle at once; cycles wait a little longer."""
    global _runs
    _runs += 1
    if _runs == 1:  # the outermost of runs that overlap (one event loop may run several) tunes it
        _untuned[:] = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(YOUNG_THRESHOLD, *_untuned[1:])
    try:
        yield
    finally:
        _runs -= 1
        if _runs == 0:  # and the last to end, whichever it is, restores it
            gc.set_threshold(*_untuned)
            gc.unfreeze()


_runs = 0
_untuned: list[int] = []
