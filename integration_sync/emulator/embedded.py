"""Embedded mode: a config tenant with ``url: emulator:NAME`` is served by an in-process emulator on a
free loopback port, its data in ``ROOT/.integration-sync/emulator.sqlite3`` so that state persists
between commands (``plan`` then ``apply``); a tenant's first use seeds it with demo integrations."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from integration_sync.emulator.demo import seed_demo
from integration_sync.emulator.server import EmulatorServer, start_server

log = logging.getLogger(__name__)

STATE_DIR = ".integration-sync"
DB_FILE = "emulator.sqlite3"
URL_SCHEME = "emulator:"


def db_path(root: Path) -> Path:
    return Path(root) / STATE_DIR / DB_FILE


def tenant_name(url: str) -> str | None:
    """``NAME`` of an ``emulator:NAME`` config url, else None."""
    return url[len(URL_SCHEME) :] if url.startswith(URL_SCHEME) else None


def start_embedded(root: Path, tenant_names: Sequence[str]) -> EmulatorServer:
    """Start the emulator for these tenants (open, default behaviour) in this process.

    The caller closes it (``with start_embedded(...) as emu:``); ``emu.tenant_url(name)`` is each
    tenant's base URL.
    """
    path = db_path(root)
    server = start_server(path, tenants=list(tenant_names), seeder=seed_demo)
    log.info("embedded emulator for %s at %s (data in %s)", ", ".join(tenant_names), server.url, path)
    return server
