"""Run one piece of work per tenant, at most N at once (``run_bounded``), each tenant's failure its own.

The one place that runs work across tenants concurrently: ``fleet.plan_fleet``, ``fleet.apply_plan``,
``doctor`` and ``import --fleet`` go through it. A ``SyncError`` is that tenant's result; any
other exception becomes that tenant's one-line "internal error" (``internal_error``), the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from integration_sync import logs
from integration_sync.config import TenantConfig
from integration_sync.errors import SyncError

log = logging.getLogger(__name__)

T = TypeVar("T")


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
    """``work(tenant)`` for every tenant, at most ``parallelism`` at once. A ``SyncError`` is that
    tenant's result; any other exception becomes that tenant's "internal error" (the others go on).
    Cancellation and KeyboardInterrupt propagate."""
    gate = asyncio.Semaphore(max(1, parallelism))
    results: dict[str, T | SyncError] = {}

    async def one(tenant: TenantConfig) -> None:
        async with gate:
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

    try:
        async with asyncio.TaskGroup() as group:
            for tenant in tenants:
                group.create_task(one(tenant))
    except BaseExceptionGroup as group_error:  # a bug in one tenant's work: surface it plainly
        raise group_error.exceptions[0] from None
    return {t.name: results[t.name] for t in tenants}
