"""Stopping an apply: a request to stop for the whole run (``Interrupt``: Ctrl-C, SIGTERM) and one
tenant's stop signal (``TenantStop``: the run's interrupt, or the tenant's own deadline). Nothing new
starts once one is requested; writes in flight get a grace period, then are cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

# The log lines keep the name they always had (-v output and filters by logger name rely on it).
log = logging.getLogger("integration_sync.applier")

#: Seconds that writes in flight may take to finish after an interrupt.
DEFAULT_GRACE_S: Final = 5.0


class Interrupt:
    """A request to stop (Ctrl-C, SIGTERM): nothing new starts; writes in flight get ``grace_s`` to
    finish (a second request ends the grace at once). Create it inside the running event loop."""

    def __init__(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        self.grace_s = grace_s
        self.requested = asyncio.Event()
        self.expired = asyncio.Event()
        #: What an item that was not started says (an interrupt, or a tenant's deadline).
        self.reason = "not started: interrupted"
        self._timer: asyncio.TimerHandle | None = None

    def request(self, reason: str | None = None) -> None:
        if self.requested.is_set():
            self.expired.set()
            return
        if reason is not None:
            self.reason = reason
        log.info("interrupt: starting nothing new; %.1f s for writes in flight", self.grace_s)
        self.requested.set()
        self._timer = asyncio.get_running_loop().call_later(self.grace_s, self.expired.set)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    @property
    def is_requested(self) -> bool:
        return self.requested.is_set()


class TenantStop:
    """One tenant's stop signal: the fleet's interrupt, or the tenant's own deadline
    (``settings.tenant_deadline_s``), which acts like an interrupt: nothing new starts, a started swap
    finishes, writes in flight get the interrupt's grace period."""

    def __init__(self, fleet: Interrupt | None, deadline_s: float) -> None:
        self.fleet = fleet
        self.local = Interrupt(fleet.grace_s if fleet is not None else DEFAULT_GRACE_S)
        self.timed_out = False
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(deadline_s, self._deadline, deadline_s)
        self._follow = asyncio.ensure_future(self._follow_fleet()) if fleet is not None else None

    def _deadline(self, seconds: float) -> None:
        if not self.local.is_requested:
            self.timed_out = True
            log.info("tenant deadline of %g s passed: starting nothing new", seconds)
            self.local.request(
                f"not started: the tenant's deadline passed (settings.tenant_deadline_s: {seconds:g} s)"
            )

    async def _follow_fleet(self) -> None:
        assert self.fleet is not None
        await self.fleet.requested.wait()
        if not self.local.is_requested:
            self.local.request(self.fleet.reason)
        await self.fleet.expired.wait()
        self.local.expired.set()

    def close(self) -> None:
        self._timer.cancel()
        self.local.close()
        if self._follow is not None:
            self._follow.cancel()
