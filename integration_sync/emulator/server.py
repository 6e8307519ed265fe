"""Running the emulator: in a background thread (tests, embedded mode) or in the foreground (the CLI).

with start_server(tenants=["acme"]) as emu:
    httpx.get(emu.tenant_url("acme") + "Integrations")
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from integration_sync.emulator.app import TRANSPORT_KEY, build_app
from integration_sync.emulator.state import Emulator, Seeder
from integration_sync.emulator.store import Store
from integration_sync.emulator.variations import Variations

log = logging.getLogger(__name__)

TenantSpec = str | tuple[str, str | None] | Mapping[str, Any]


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol, telling the app its connection's transport so that a fault can drop it."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope[TRANSPORT_KEY] = transport
            await inner(scope, receive, send)

        self.app = app


def uvicorn_config(emulator: Emulator, *, access_log: bool = False) -> uvicorn.Config:
    return uvicorn.Config(
        build_app(emulator),
        http=_Protocol,
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=access_log,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=30,
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (``port=0``: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only then (else every reply
    # waits ~40 ms for a delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def add_tenants(emulator: Emulator, tenants: Iterable[TenantSpec]) -> None:
    """Register start-up tenants: names, ``(name, token)`` pairs or ``{"name", "token", "variations"}``."""
    for spec in tenants:
        if isinstance(spec, str):
            emulator.add_tenant(spec, startup=True)
        elif isinstance(spec, tuple):
            emulator.add_tenant(spec[0], spec[1], startup=True)
        else:
            emulator.add_tenant(
                spec["name"],
                spec.get("token"),
                spec.get("variations"),
                readonly_token=spec.get("readonly_token"),
                startup=True,
            )


class EmulatorServer:
    """An emulator served by uvicorn in a background thread on a loopback port. A context manager."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self._sock = bind(host, port)
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}"
        self._server = uvicorn.Server(uvicorn_config(emulator))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="emulator", daemon=True
        )
        self._closed = False
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                self._sock.close()
                raise RuntimeError("the emulator failed to start")
            self._thread.join(0.005)
        log.info("emulator listening on %s", self.url)

    # --- the handle other code uses -------------------------------------------------------------------

    def tenant_url(self, name: str) -> str:
        """The tenant's OData base URL, ending in ``/``."""
        return f"{self.url}/{name}/OData/"

    def add_tenant(
        self,
        name: str,
        token: str | None = None,
        variations: Mapping[str, Any] | Variations | None = None,
        *,
        readonly_token: str | None = None,
    ) -> None:
        """Create or reconfigure a tenant (removed again by ``reset()``). A request with
        ``readonly_token`` may read; its writes answer 403."""
        self.emulator.add_tenant(name, token, variations, readonly_token=readonly_token)

    def set_faults(self, tenant: str = "*", **faults: Any) -> None:
        """``latency_ms``, ``p429``, ``p503``, ``p500``, ``p_drop``, ``p_commit_drop``, ``retry_after``,
        ``retry_after_http_date``, ``seed``, ``count``, ``methods``; none clears the tenant's faults."""
        self.emulator.set_faults(tenant, faults)

    def requests(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's request log: ``{"method", "path", "query", "status", "fault", ...}`` per request."""
        return self.emulator.requests(tenant)

    def reset(self) -> None:
        self.emulator.reset()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()
        self.emulator.store.close()

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def start_server(
    db_path: str | Path = ":memory:",
    tenants: Iterable[TenantSpec] = (),
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    seeder: Seeder | None = None,
) -> EmulatorServer:
    """Start an emulator in a background thread; ``close()`` it (or use ``with``)."""
    store = Store(db_path)
    try:
        emulator = Emulator(store, seeder)
        add_tenants(emulator, tenants)
        return EmulatorServer(emulator, host, port)
    except BaseException:
        store.close()
        raise
