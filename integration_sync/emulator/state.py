"""The emulator's state: tenants, their faults and request logs, over one ``Store``. Safe to drive from
any thread (the server's event loop serves requests while a test configures tenants and faults)."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from integration_sync.emulator.faults import Faults
from integration_sync.emulator.store import Store
from integration_sync.emulator.variations import Variations

TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LOG_LIMIT = 20_000

#: Fills a tenant on its first use in a database (embedded mode, ``--seed-demo``).
Seeder = Callable[[Store, str], None]


@dataclass
class Tenant:
    """One emulated tenant: its bearer token (None: open), an optional read-only token (writes with it
    answer 403) and its variation switches."""

    name: str
    token: str | None = field(default=None, repr=False)
    variations: Variations = field(default_factory=Variations)
    readonly_token: str | None = field(default=None, repr=False)

    @property
    def secured(self) -> bool:
        return self.token is not None or self.readonly_token is not None

    def public(self, base_url: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "auth": self.secured,
            "variations": self.variations.to_dict(),
        }
        if base_url:
            out["url"] = f"{base_url}/{self.name}/OData/"
        return out


class Emulator:
    """State of one emulator process: storage, tenants, faults and request logs."""

    def __init__(self, store: Store, seeder: Seeder | None = None) -> None:
        self.store = store
        self.seeder = seeder
        self.lock = threading.RLock()
        self.tenants: dict[str, Tenant] = {}
        self._startup: dict[str, Tenant] = {}
        self.faults: dict[str, Faults] = {}
        self.logs: dict[str, deque[dict[str, Any]]] = {}
        #: Tenants whose one-shot ``page_hook`` has fired (until the tenant is configured again).
        self.hooked: set[str] = set()

    # --- configuration (any thread) ------------------------------------------------------------------

    def add_tenant(
        self,
        name: str,
        token: str | None = None,
        variations: Variations | Mapping[str, Any] | None = None,
        *,
        readonly_token: str | None = None,
        startup: bool = False,
    ) -> Tenant:
        """Create or reconfigure a tenant. On its first use in this database, the seeder fills it."""
        if not TENANT_NAME.match(name) or name.startswith("_"):
            raise ValueError(f"invalid tenant name {name!r}: letters, digits, '.', '_' and '-' only")
        if not isinstance(variations, Variations):
            variations = Variations.from_dict(variations)
        tenant = Tenant(name, token or None, variations, readonly_token or None)
        with self.lock:
            self.tenants[name] = tenant
            self.hooked.discard(name)
            if startup:
                self._startup[name] = tenant
            self.logs.setdefault(name, deque(maxlen=LOG_LIMIT))
        if self.store.ensure_tenant(name) and self.seeder is not None:
            self.seeder(self.store, name)
        return tenant

    def fire_once(self, tenant: str) -> bool:
        """True the first time it is asked for ``tenant`` (since the tenant was last configured)."""
        with self.lock:
            if tenant in self.hooked:
                return False
            self.hooked.add(tenant)
            return True

    def set_faults(self, tenant: str = "*", settings: Mapping[str, Any] | None = None) -> None:
        """Set one tenant's faults (``"*"``: every tenant without its own); no settings clears them."""
        with self.lock:
            if not settings:
                self.faults.pop(tenant, None)
            else:
                self.faults[tenant] = Faults.from_dict(settings)

    def fault_settings(self, tenant: str) -> dict[str, Any] | None:
        """The faults set for exactly this tenant (or ``"*"``), as plain data."""
        with self.lock:
            current = self.faults.get(tenant)
            return current.to_dict() if current else None

    def clear_requests(self, tenant: str) -> None:
        with self.lock:
            self.logs[tenant] = deque(maxlen=LOG_LIMIT)

    def requests(self, tenant: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self.logs.get(tenant, ())]

    def reset(self, tenant: str | None = None) -> None:
        """Back to the start-up state: data, faults and logs cleared, tenants added later removed,
        start-up tenants' variations restored, and the seeder run again."""
        with self.lock:
            if tenant is not None:
                self.hooked.discard(tenant)
            else:
                self.hooked.clear()
            if tenant is not None:
                self.faults.pop(tenant, None)
                self.logs.pop(tenant, None)
                if tenant in self._startup:
                    self.tenants[tenant] = self._startup[tenant]
                    self.logs[tenant] = deque(maxlen=LOG_LIMIT)
                self.store.clear(tenant)
                names = [tenant] if tenant in self.tenants else []
            else:
                for name in set(self.tenants) - set(self._startup):
                    self.store.forget_tenant(name)
                self.tenants = dict(self._startup)
                self.faults.clear()
                self.logs = {n: deque(maxlen=LOG_LIMIT) for n in self.tenants}
                self.store.clear()
                names = list(self.tenants)
        if self.seeder is not None:
            for name in names:
                self.seeder(self.store, name)

    # --- request helpers -----------------------------------------------------------------------------

    def faults_for(self, tenant: str) -> Faults | None:
        """The faults that apply to a tenant's requests: its own, else those set for ``"*"``."""
        with self.lock:
            return self.faults.get(tenant) or self.faults.get("*")

    def record(self, tenant: str, entry: dict[str, Any]) -> None:
        with self.lock:
            self.logs.setdefault(tenant, deque(maxlen=LOG_LIMIT)).append(entry)
