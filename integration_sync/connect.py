"""Reaching the selected tenants: one ``TenantClient`` per tenant, and the embedded emulator.

``open_tenants`` is an async context manager: it starts the embedded emulator once for all
``url: emulator:NAME`` tenants (and stops it at the end), and hands out a ``TenantConnector`` that makes
one ``TenantClient`` per tenant with the run's ``ClientSettings`` and the token read from the
environment variable the tenant names. A tenant whose token variable is unset fails on its own
(``ConfigError`` from ``client()``), not the whole run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from integration_sync.config import Config, Settings, TenantConfig
from integration_sync.errors import ConfigError, past_deadline
from integration_sync.http_policy import blank_token

if TYPE_CHECKING:
    from integration_sync.client import LiveIntegration, TenantClient, Transport
    from integration_sync.emulator.server import EmulatorServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientSettings:
    """Per-run client settings (from ``config.settings``, possibly overridden on the command line)."""

    page_size: int = Settings.page_size
    timeout_s: float = Settings.timeout_s
    max_retries: int = Settings.max_retries
    tenant_deadline_s: float = Settings.tenant_deadline_s
    retry_budget_s: float = Settings.retry_budget_s
    max_response_mib: int = Settings.max_response_mib

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


class TenantConnector:
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
        if token is None or blank_token(token):
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
) -> AsyncIterator[TenantConnector]:
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
        yield TenantConnector(tenants, settings or ClientSettings.from_config(config), server, transport)
    finally:
        if server is not None:
            await asyncio.to_thread(server.close)
