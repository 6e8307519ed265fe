"""Which tenants a run touches, and how to reach each of them.

Selection (``select_tenants``) is pure: ``--tenant`` / ``--exclude-tenant`` by name, ``--tag``, and
``--shard K/N``, a stable split by a SHA-256 of the tenant name, so that N CI jobs cover every tenant
exactly once with no coordination, and adding a tenant never moves the others.

Connection (``open_tenants``) is an async context manager: it starts the embedded emulator once for all
``url: emulator:NAME`` tenants (and stops it at the end), and hands out one ``TenantClient`` per tenant
with the config's settings and the token read from the environment variable the tenant names. A tenant
whose token variable is unset fails on its own (``ConfigError`` from ``client()``), not the whole run.

``run_bounded`` runs one coroutine per tenant, at most ``parallelism`` at once, and returns each
tenant's result or the ``SyncError`` it raised: one tenant's failure never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from integration_sync import logs
from integration_sync.config import Config, TenantConfig
from integration_sync.errors import ConfigError, SyncError, TransportError
from integration_sync.render import plural

if TYPE_CHECKING:
    from integration_sync.client import LiveIntegration, TenantClient, Transport
    from integration_sync.emulator.server import EmulatorServer

log = logging.getLogger(__name__)

T = TypeVar("T")
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


# ------------------------------------------------------------------------------------------ selection


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, tenant_name: str) -> bool:
        return shard_of(tenant_name, self.count) == self.index


def parse_shard(text: str) -> Shard:
    """``"K/N"`` with ``1 <= K <= N``."""
    m = _SHARD.match(text)
    if not m:
        raise ConfigError(f"--shard {text!r}: expected K/N, e.g. 1/4")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise ConfigError(f"--shard {text!r}: K must be between 1 and N (N at least 1)")
    return Shard(k, n)


def shard_of(tenant_name: str, count: int) -> int:
    """The 1-based shard a tenant belongs to: stable across runs, machines and Python versions."""
    digest = hashlib.sha256(tenant_name.casefold().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select_tenants(
    config: Config,
    *,
    names: Iterable[str] = (),
    exclude: Iterable[str] = (),
    tags: Iterable[str] = (),
    shard: Shard | None = None,
) -> tuple[TenantConfig, ...]:
    """The tenants a run covers, in config order.

    ``names`` (any given) and ``tags`` (any of them) narrow the config's tenants; ``exclude`` removes
    some; ``shard`` keeps its share. An unknown name is an error with a suggestion; a selection that is
    empty before sharding is an error (an empty shard of a small fleet is not).
    """
    # names match case-insensitively, as they are unique that way; an unknown one raises ConfigError
    # with "did you mean"
    names = [config.tenant(name).name for name in names]
    exclude = [config.tenant(name).name for name in exclude]
    tags = list(tags)
    known_tags = {tag for t in config.tenants for tag in t.tags}
    for tag in tags:
        if tag not in known_tags:
            raise ConfigError(
                f"--tag {tag!r}: no tenant has this tag (tags: {', '.join(sorted(known_tags)) or 'none'})"
            )
    chosen = [
        t
        for t in config.tenants
        if (not names or t.name in names) and (not tags or set(tags) & set(t.tags)) and t.name not in exclude
    ]
    if not chosen:
        raise ConfigError("no tenant selected: the --tenant, --tag and --exclude-tenant options leave none")
    if shard is not None:
        chosen = [t for t in chosen if shard.holds(t.name)]
        log.info("shard %s holds %s", shard, plural(len(chosen), "tenant"))
    return tuple(chosen)


# ------------------------------------------------------------------------------------------ connection


@dataclass(frozen=True)
class ClientSettings:
    """Per-run client settings (from ``config.settings``, possibly overridden on the command line)."""

    page_size: int = 200
    timeout_s: float = 30.0
    max_retries: int = 6
    tenant_deadline_s: float = 300.0
    retry_budget_s: float = 120.0
    max_response_mib: int = 64

    @classmethod
    def from_config(cls, config: Config) -> ClientSettings:
        s = config.settings
        return cls(
            page_size=s.page_size,
            timeout_s=s.timeout_s,
            max_retries=s.max_retries,
            tenant_deadline_s=s.tenant_deadline_s,
            retry_budget_s=s.retry_budget_s,
            max_response_mib=s.max_response_mib,
        )


class Tenants:
    """Reach the selected tenants: ``url(tenant)`` and ``client(tenant)`` (use it as ``async with``)."""

    def __init__(
        self,
        tenants: Sequence[TenantConfig],
        settings: ClientSettings,
        embedded: EmulatorServer | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.tenants = tuple(tenants)
        self.settings = settings
        self._embedded = embedded
        self._transport = transport

    def url(self, tenant: TenantConfig) -> str:
        """The tenant's OData base URL (the embedded emulator's loopback URL for ``emulator:NAME``)."""
        name = tenant.embedded
        if name is None:
            return tenant.url
        if self._embedded is None:
            raise ConfigError(f"tenant {tenant.name}: the embedded emulator is not running")
        return str(self._embedded.tenant_url(name))

    def token(self, tenant: TenantConfig) -> str | None:
        if not tenant.token_env:
            return None
        token = os.environ.get(tenant.token_env)
        if token is None or not token.strip():
            state = "is not set" if token is None else "is empty"
            raise ConfigError(
                f"tenant {tenant.name}: environment variable {tenant.token_env} {state} "
                "(it should hold the tenant's API token)"
            )
        return token

    async def list_live(self, tenant: TenantConfig) -> list[LiveIntegration]:
        """Every live integration of ``tenant``, the whole listing within ``settings.tenant_deadline_s``."""
        async with self.deadline(tenant, "the listing"), self.client(tenant) as client:
            return await client.list_integrations()

    @contextlib.asynccontextmanager
    async def deadline(self, tenant: TenantConfig, what: str) -> AsyncIterator[None]:
        """The work inside, for ``tenant``, within ``settings.tenant_deadline_s``; past it, the work is
        cancelled and ``past_deadline`` raised, naming ``what`` (``the listing``)."""
        seconds = self.settings.tenant_deadline_s
        try:
            async with asyncio.timeout(seconds):
                yield
        except TimeoutError:
            raise past_deadline(tenant.name, seconds, what) from None

    def client(self, tenant: TenantConfig) -> TenantClient:
        """A new ``TenantClient`` for ``tenant``; the caller closes it (``async with``)."""
        from integration_sync.client import TenantClient

        return TenantClient(
            tenant.name,
            self.url(tenant),
            token=self.token(tenant),
            page_size=self.settings.page_size,
            timeout_s=self.settings.timeout_s,
            max_retries=self.settings.max_retries,
            allow_insecure_http=tenant.allow_insecure_http,
            transport=self._transport,
            retry_budget_s=self.settings.retry_budget_s,
            max_response_bytes=self.settings.max_response_mib * 1024 * 1024,
            odata_names=tenant.odata_names,
        )


@contextlib.asynccontextmanager
async def open_tenants(
    config: Config,
    tenants: Sequence[TenantConfig],
    settings: ClientSettings | None = None,
    *,
    transport: Transport | None = None,
) -> AsyncIterator[Tenants]:
    """Reach ``tenants``; starts (and finally stops) the embedded emulator when any of them needs it."""
    embedded_names = sorted({t.embedded for t in tenants if t.embedded is not None})
    server: EmulatorServer | None = None
    if embedded_names:
        from integration_sync.emulator.embedded import start_embedded

        log.info("starting the embedded emulator for %s", ", ".join(embedded_names))
        try:
            server = await asyncio.to_thread(start_embedded, config.root, embedded_names)
        except (OSError, RuntimeError, sqlite3.Error) as exc:  # its state folder or database unusable
            raise ConfigError(f"cannot start the embedded emulator under {config.root}: {exc}") from exc
    try:
        yield Tenants(tenants, settings or ClientSettings.from_config(config), server, transport)
    finally:
        if server is not None:
            await asyncio.to_thread(server.close)


# ------------------------------------------------------------------------------------------ running


def past_deadline(tenant: str, seconds: float, what: str) -> TransportError:
    """The error of a tenant whose ``what`` (its listing, its apply) ran past ``settings.tenant_deadline_s``."""
    return TransportError(
        f"{what} did not finish within settings.tenant_deadline_s ({seconds:g} s)", tenant=tenant
    )


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
