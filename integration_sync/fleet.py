"""Planning a fleet: list each selected tenant, plan it with the pure planner, gather one ``Plan``.

Tenants are planned concurrently (at most ``parallelism`` at once); a tenant that fails (auth, network,
a bad reply, a missing token variable) becomes a ``TenantPlan`` with ``error`` set while the others are
still planned. I/O stays here and in the client; ``planner.plan_tenant`` stays pure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from integration_sync import __version__
from integration_sync.config import Config, TenantConfig
from integration_sync.connect import ClientSettings, Tenants, open_tenants, run_bounded
from integration_sync.errors import ApiError, ConfigError, SyncError, under_tenant
from integration_sync.plan import Create, Plan, SafetyVerdict, TenantPlan, digest
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
    previous names, ignored fields), so a changed definition or variable changes it."""
    return digest(
        {
            tenant: sorted(
                ([d.name, dict(d.doc), list(d.previous_names), sorted(d.ignore_changes)] for d in items),
                key=lambda row: (str(row[0]).casefold(), str(row[0])),
            )
            for tenant, items in desired.items()
        }
    )


def desired_by_tenant(
    config: Config, selected: Sequence[TenantConfig], integrations: Sequence[str] = ()
) -> dict[str, list[Desired]]:
    """Each selected tenant's resolved definitions, once the definitions are valid.

    Raises ``validate.InvalidDefinitions`` (carrying the whole report) when they are not; warnings are
    logged. With ``integrations`` (``--integration``), only the definitions of those names
    (case-insensitively); a name no definition has is a ``ConfigError``.
    """
    from integration_sync.resolve import desired_for
    from integration_sync.validate import load_valid

    definitions = load_valid(config)
    desired = {t.name: desired_for(definitions, t) for t in selected}
    if integrations:
        known = {d.name.casefold() for d in definitions if d.name}
        unknown = [n for n in integrations if n.casefold() not in known]
        if unknown:
            raise ConfigError(f"--integration: no definition is named {', '.join(repr(n) for n in unknown)}")
        wanted = {n.casefold() for n in integrations}
        desired = {k: [d for d in v if d.name.casefold() in wanted] for k, v in desired.items()}
    return desired


async def plan_one(
    tenants: Tenants, tenant: TenantConfig, desired: Sequence[DesiredLike], options: FleetOptions
) -> TenantPlan:
    """List one tenant and plan it. Raises ``SyncError`` when the tenant cannot be listed.

    A listing of several pages that no count confirms may have skipped a row (offset paging while a
    row is deleted): each planned create is then confirmed by one read of its name, and a name found
    means the listing missed it, so the tenant is listed and planned once more (then fails)."""
    plan_options = PlanOptions.for_tenant(tenant, allow_delete=options.allow_delete, partial=options.partial)
    async with tenants.client(tenant) as client:
        for _attempt in range(2):
            live = await client.list_integrations()
            log.info("tenant %s: %d live integration(s)", tenant.name, len(live))
            plan = plan_tenant(desired, live, plan_options)
            creates = [c.name for c in plan.changes if isinstance(c, Create)]
            if client.listing_checked or not creates:
                return plan
            missed = [name for name in creates if await client.find_by_name(name) is not None]
            if not missed:
                return plan
            log.info("tenant %s: the listing missed %s; listing again", tenant.name, ", ".join(missed))
        raise ApiError(
            f"the listing missed integrations that exist ({', '.join(repr(n) for n in missed)}), twice; "
            "the tenant's paging is not stable (plan again later)",
            tenant=tenant.name,
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
