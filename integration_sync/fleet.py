"""Planning a fleet: list each selected tenant, plan it with the pure planner, gather one ``Plan``.

Tenants are planned concurrently (at most ``parallelism`` at once); a tenant that fails (auth, network,
a bad reply, a missing token variable) becomes a ``TenantPlan`` with ``error`` set while the others are
still planned. I/O stays here and in the client; ``planner.plan_tenant`` stays pure.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integration_sync import __version__
from integration_sync.config import Config, TenantConfig
from integration_sync.connect import ClientSettings, Tenants, open_tenants, run_bounded
from integration_sync.errors import ConfigError, SyncError, under_tenant
from integration_sync.plan import Plan, SafetyVerdict, TenantPlan
from integration_sync.planner import DesiredLike, PlanOptions, plan_tenant

if TYPE_CHECKING:
    from integration_sync.client import Transport
    from integration_sync.resolve import Desired

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetOptions:
    """How to plan a fleet. ``allow_delete`` None: each tenant's effective ``safety.allow_delete``."""

    parallelism: int = 8
    allow_delete: bool | None = None
    partial: bool = False


def definitions_digest(desired: Mapping[str, Sequence[DesiredLike]]) -> str:
    """A digest of what the plan was made from: every selected tenant's resolved definitions (values,
    previous names, ignored fields), so a changed definition or variable changes it.

    ``plan.digest`` of ``{tenant: rows}``, computed without building that whole structure: the rows of
    a list of definitions that several tenants share (``resolve.desired_for_each``) are encoded once."""
    encoded: dict[int, bytes] = {}
    keep: list[Sequence[DesiredLike]] = []  # the lists encoded, so that no id is reused meanwhile
    h = hashlib.sha256(b"{")
    for n, tenant in enumerate(sorted(desired)):
        items = desired[tenant]
        rows = encoded.get(id(items))
        if rows is None:
            keep.append(items)
            rows = encoded[id(items)] = _canonical(
                sorted(
                    ([d.name, dict(d.doc), list(d.previous_names), sorted(d.ignore_changes)] for d in items),
                    key=lambda row: (str(row[0]).casefold(), str(row[0])),
                )
            )
        h.update((b"," if n else b"") + _canonical(tenant) + b":" + rows)
    h.update(b"}")
    return "sha256:" + h.hexdigest()


def _canonical(data: Any) -> bytes:
    """As ``plan.digest`` encodes (sorted keys, no whitespace)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def desired_by_tenant(
    config: Config, selected: Sequence[TenantConfig], integrations: Sequence[str] = ()
) -> dict[str, list[Desired]]:
    """Each selected tenant's resolved definitions, once the definitions are valid (tenants given the
    same values share them: ``resolve.desired_for_each``).

    Raises ``validate.InvalidDefinitions`` (carrying the whole report) when they are not; warnings are
    logged. With ``integrations`` (``--integration``), only the definitions of those names
    (case-insensitively); a name no definition has is a ``ConfigError``.
    """
    from integration_sync.resolve import desired_for_each
    from integration_sync.validate import load_valid

    definitions = load_valid(config)
    desired = desired_for_each(definitions, selected)
    if integrations:
        known = {d.name.casefold() for d in definitions if d.name}
        unknown = [n for n in integrations if n.casefold() not in known]
        if unknown:
            raise ConfigError(f"--integration: no definition is named {', '.join(repr(n) for n in unknown)}")
        wanted = {n.casefold() for n in integrations}
        narrowed: dict[int, list[Desired]] = {}
        originals = list(desired.values())  # alive until the end, so that no id is reused meanwhile
        for name, items in zip(list(desired), originals, strict=True):
            if id(items) not in narrowed:
                narrowed[id(items)] = [d for d in items if d.name.casefold() in wanted]
            desired[name] = narrowed[id(items)]
    return desired


async def plan_one(
    tenants: Tenants, tenant: TenantConfig, desired: Sequence[DesiredLike], options: FleetOptions
) -> TenantPlan:
    """List one tenant and plan it. Raises ``SyncError`` when the tenant cannot be listed."""
    async with tenants.client(tenant) as client:
        live = await client.list_integrations()
    log.info("tenant %s: %d live integration(s)", tenant.name, len(live))
    return plan_tenant(
        desired,
        live,
        PlanOptions.for_tenant(tenant, allow_delete=options.allow_delete, partial=options.partial),
    )


async def plan_fleet(
    config: Config,
    selected: Sequence[TenantConfig],
    desired: Mapping[str, Sequence[DesiredLike]],
    options: FleetOptions,
    *,
    settings: ClientSettings | None = None,
    transport: Transport | None = None,
    on_tenant: Callable[[TenantPlan], None] | None = None,
) -> Plan:
    """Plan every selected tenant; ``desired[tenant.name]`` is that tenant's resolved definitions."""
    async with open_tenants(config, selected, settings, transport=transport) as tenants:

        async def work(tenant: TenantConfig) -> TenantPlan:
            return await plan_one(tenants, tenant, desired.get(tenant.name, ()), options)

        def done(tenant: TenantConfig, result: TenantPlan | SyncError) -> None:
            if on_tenant is not None:
                on_tenant(result if isinstance(result, TenantPlan) else _failed(tenant, result, options))

        results = await run_bounded(selected, work, options.parallelism, done)
    plans = tuple(
        r if isinstance(r, TenantPlan) else _failed(config.tenant(name), r, options)
        for name, r in results.items()
    )
    return Plan(
        tool_version=__version__,
        definitions_digest=definitions_digest({t.name: desired.get(t.name, ()) for t in selected}),
        tenants=plans,
        partial=options.partial,
    )


def _failed(tenant: TenantConfig, exc: SyncError, options: FleetOptions) -> TenantPlan:
    message = under_tenant(exc, tenant.name)
    # The tenant's effective limits even so, as the plan format documents for every tenant (not the
    # verdict's neutral defaults of 100%).
    limits = PlanOptions.for_tenant(tenant)
    safety = SafetyVerdict(max_change_pct=limits.max_change_pct, max_delete_pct=limits.max_delete_pct)
    return TenantPlan(
        tenant=tenant.name, url=tenant.url, partial=options.partial, error=message, safety=safety
    )
