"""Hermetic tests: no proxies, no tokens or colour settings from the developer's shell."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from integration_sync.emulator import EmulatorServer

_LEAKY_PREFIXES = ("FK_", "INTEGRATION_SYNC_", "GITHUB_", "GITLAB_")
_LEAKY = {
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NO_COLOR",
    "FORCE_COLOR",
    "CI",
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key in _LEAKY or key.startswith(_LEAKY_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(autouse=True)
def _no_secrets_of_other_tests() -> None:
    """Each test starts with no registered secret: a run registers its own tokens, and a short one
    another test registered ("wrong") would otherwise redact a tenant of that name in this one."""
    from integration_sync import logs

    logs._secrets.clear()


# --- the tenant emulator (issue 3) ---------------------------------------------------------------
# ``emulator``: a running emulator over real loopback HTTP, reset before each test (one server per
# session keeps the suite fast). Its start-up tenant ``EMULATOR_TENANT`` ("test") is open (no token);
# add others with ``emulator.add_tenant(name, token=..., variations={...})`` (removed by the reset).
# ``emulator_url``: that tenant's OData base URL, ending in "/".

EMULATOR_TENANT = "test"


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    from integration_sync.emulator import start_server

    with start_server(tenants=[EMULATOR_TENANT]) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Iterator[EmulatorServer]:
    emulator_server.reset()
    yield emulator_server
    emulator_server.reset()


@pytest.fixture
def emulator_url(emulator: EmulatorServer) -> str:
    return str(emulator.tenant_url(EMULATOR_TENANT))
