"""Planning and applying a fleet: the two loops that run one stage over many tenants, N at once.

``plan_fleet`` lists each selected tenant, plans it with the pure planner and gathers one ``Plan``;
``apply_plan`` applies each tenant of a ``Plan`` (``applier.apply_tenant``) and gathers one
``ApplyReport``. Tenants run concurrently (at most ``parallelism`` at once); a tenant that fails (auth,
network, a bad reply, a missing token variable) becomes a ``TenantPlan`` with ``error`` set, or a
refused ``TenantResult``, while the others go on. I/O stays here, in the applier and in the client;
``planner.plan_tenant`` stays pure.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integration_sync import __version__
from integration_sync.applier import apply_tenant
from integration_sync.apply_checks import ApplyOptions
from integration_sync.apply_report import ApplyReport, TenantResult, item_result
from integration_sync.config import Config, Settings, TenantConfig
from integration_sync.connect import ClientSettings, TenantConnector, open_tenants
from integration_sync.errors import ApiError, ConfigError, SyncError, under_tenant
from integration_sync.interrupt import Interrupt
from integration_sync.plan import (
    Create,
    Plan,
    SafetyVerdict,
    TenantPlan,
    check_version,
    digest,
    fits_a_plan_file,
)
from integration_sync.planner import DesiredLike, PlanOptions, names_of, plan_tenant
from integration_sync.render import plural
from integration_sync.runner import run_bounded

if TYPE_CHECKING:
    from integration_sync.client import Transport
    from integration_sync.diagnostics import Diagnostic
    from integration_sync.loader import Definition
    from integration_sync.resolve import Desired

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetOptions:
    """How to plan a fleet. ``allow_delete`` None: each tenant's effective ``safety.allow_delete``."""

    parallelism: int = Settings.parallelism
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


@dataclass(frozen=True)
class Wanted:
    """What a plan is made from, once the definitions are valid (``wanted``)."""

    #: Each selected tenant's resolved definitions (narrowed by ``--integration``).
    desired: dict[str, list[Desired]]
    #: Every name and previous name of the repository's definitions, as each tenant of the config
    #: resolves them, before ``--integration`` narrows them (``planner.names_of``): the safety
    #: denominator counts client-owned integrations by these, the same in a full and a partial plan and
    #: whichever tenants are selected.
    names: frozenset[str]
    #: ``repository_digest`` of every definition as written (``Plan.repository_digest``).
    repository: str
    #: The warnings about the definitions that go to the selected tenants (and ``--integration``).
    warnings: tuple[Diagnostic, ...]


def repository_digest(definitions: Sequence[Definition]) -> str:
    """A digest of every definition of the repository as written: the same for every shard."""
    return digest(sorted(([d.file, d.doc_index, d.data] for d in definitions), key=lambda r: (r[0], r[1])))


def wanted(
    config: Config,
    selected: Sequence[TenantConfig],
    integrations: Sequence[str] = (),
    *,
    allow_delete: bool | None = None,
) -> Wanted:
    """The definitions for the selected tenants, once they are valid.

    Raises ``validate.InvalidDefinitions`` (carrying the whole report) when they are not. Warnings are
    returned, not logged: the command shows them once, in its output format, and only those about the
    definitions that go to the selected tenants. With ``integrations`` (``--integration``), only the
    definitions of those names (case-insensitively); a name no definition has is a ``ConfigError``.
    """
    from integration_sync.resolve import desired_for_each
    from integration_sync.validate import InvalidDefinitions, deletes_allowed, validate

    # a selector that selects no tenant is an error when this run may delete (--allow-delete, or the
    # config for a selected tenant): the integration it was meant for would be deleted as an orphan
    report = validate(config, deletes=bool(allow_delete) or deletes_allowed(config, selected))
    if not report.ok:
        raise InvalidDefinitions(report)
    definitions = report.definitions
    # the safety denominator counts a client-owned integration that any definition of the repository
    # names, as each tenant resolves it: the same whichever tenants this run selects (--tenant, --shard);
    # so every tenant is resolved (once), and the selected ones are taken from that
    every = desired_for_each(definitions, config.tenants)
    desired = {t.name: every[t.name] for t in selected}
    distinct = {id(v): v for v in every.values()}  # tenants given the same values share one list
    names = frozenset().union(*(names_of(v) for v in distinct.values()))
    if integrations:
        known = {d.name.casefold() for d in definitions if d.name}
        unknown = [n for n in integrations if n.casefold() not in known]
        if unknown:
            raise ConfigError(f"--integration: no definition is named {', '.join(repr(n) for n in unknown)}")
        chosen = {n.casefold() for n in integrations}
        narrowed: dict[int, list[Desired]] = {}
        originals = list(desired.values())  # alive until the end, so that no id is reused meanwhile
        for name, items in zip(list(desired), originals, strict=True):
            if id(items) not in narrowed:
                narrowed[id(items)] = [d for d in items if d.name.casefold() in chosen]
            desired[name] = narrowed[id(items)]
    going = {d.source for v in {id(v): v for v in desired.values()}.values() for d in v}
    return Wanted(
        desired=desired,
        names=names,
        repository=repository_digest(definitions),
        warnings=tuple(_about(report.warnings, definitions, going)),
    )


def _about(
    warnings: Sequence[Diagnostic], definitions: Sequence[Definition], going: Collection[str]
) -> list[Diagnostic]:
    """The warnings located in a definition whose location is in ``going`` (a warning belongs to the
    last definition of its file that starts at or before its line)."""
    starts: dict[str, list[tuple[int, str]]] = {}
    for d in definitions:
        starts.setdefault(d.file, []).append((d.line, d.location))
    out = []
    for w in warnings:
        owners = [loc for line, loc in sorted(starts.get(w.file, [])) if line <= w.line]
        if owners and owners[-1] in going:
            out.append(w)
    return out


async def plan_one(
    tenants: TenantConnector,
    tenant: TenantConfig,
    desired: Sequence[DesiredLike],
    options: FleetOptions,
    known_names: frozenset[str] = frozenset(),
) -> TenantPlan:
    """List one tenant and plan it. Raises ``SyncError`` when the tenant cannot be listed, within
    ``settings.tenant_deadline_s`` for the whole listing.

    A listing of several pages that no count confirms may have skipped a row (offset paging while a
    row is deleted): each planned create is then confirmed by one read of its name, and a name found
    means the listing missed it, so the tenant is listed and planned once more (then fails)."""
    plan_options = PlanOptions.for_tenant(
        tenant, allow_delete=options.allow_delete, partial=options.partial, known_names=known_names
    )
    async with tenants.deadline(tenant, "the listing"), tenants.client(tenant) as client:
        for _attempt in range(2):
            live = await client.list_integrations()
            log.info("tenant %s: %s live", tenant.name, plural(len(live), "integration"))
            plan = plan_tenant(desired, live, plan_options)
            if not fits_a_plan_file(plan):  # the tool would save a plan that it then refuses to read
                raise ApiError(
                    "a live integration holds a value nested too deeply for a plan file to hold it "
                    "(fix the value on the tenant)",
                    tenant=tenant.name,
                )
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
    known_names: frozenset[str] | None = None,
    repository: str = "",
    warnings: Sequence[Diagnostic] = (),
) -> Plan:
    """Plan every selected tenant; ``desired[tenant.name]`` is that tenant's resolved definitions;
    ``known_names`` (default: those of ``desired``) counts client-owned integrations for safety."""
    if known_names is None:
        known_names = frozenset().union(*(names_of(v) for v in desired.values()))
    names = known_names
    async with open_tenants(config, selected, settings, transport=transport) as tenants:

        async def work(tenant: TenantConfig) -> TenantPlan:
            return await plan_one(tenants, tenant, desired.get(tenant.name, ()), options, names)

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
        known_names=names,
        repository_digest=repository,
        warnings=tuple(warnings),
    )


def _failed(tenant: TenantConfig, exc: SyncError, options: FleetOptions) -> TenantPlan:
    message = under_tenant(exc, tenant.name)
    # The tenant's effective limits even so, as the plan format documents for every tenant (not the
    # verdict's neutral defaults of 100%).
    limits = PlanOptions.for_tenant(tenant, allow_delete=options.allow_delete)
    safety = SafetyVerdict.assess((), 0, tenant.safety)
    return TenantPlan(
        tenant=tenant.name,
        url=tenant.url,
        partial=options.partial,
        error=message,
        safety=safety,
        delete_permission=limits.permission,
    )


async def apply_plan(
    config: Config,
    plan: Plan,
    options: ApplyOptions,
    *,
    only: Sequence[str] | None = None,
    settings: ClientSettings | None = None,
    transport: Transport | None = None,
    interrupt: Interrupt | None = None,
    on_tenant: Callable[[TenantResult], None] | None = None,
) -> ApplyReport:
    """Apply ``plan`` to its tenants (those named in ``only``, when given), ``parallelism`` at once."""
    check_version(plan.format_version)  # as load_plan checks a file: a Plan built in memory too
    wanted = [t for t in plan.tenants if only is None or t.tenant in only]
    known = {t.name: t for t in config.tenants}
    reachable = [known[t.tenant] for t in wanted if t.tenant in known and t.has_changes]
    by_name = {t.tenant: t for t in wanted}
    results: dict[str, TenantResult] = {}
    async with open_tenants(config, reachable, settings, transport=transport) as tenants:

        async def work(tenant: TenantConfig) -> TenantResult:
            return await apply_tenant(
                tenants, by_name[tenant.name], tenant, options, interrupt, plan.known_names
            )

        def done(tenant: TenantConfig, result: TenantResult | SyncError) -> None:
            if on_tenant is not None and isinstance(result, TenantResult):
                on_tenant(result)

        outcome = await run_bounded(reachable, work, options.parallelism, done)
        for name, result in outcome.items():
            if isinstance(result, TenantResult):
                results[name] = result
            else:  # failed outside its own handling: never run again, its writes are unknown
                reason = under_tenant(result, name)
                unknown = f"{reason}: it may or may not have applied (run plan)"
                changes = by_name[name].changes
                results[name] = TenantResult(
                    name, tuple(item_result(c, "failed", unknown) for c in changes), error=reason
                )
        for tp in wanted:
            if tp.tenant not in results:
                results[tp.tenant] = await apply_tenant(tenants, tp, known.get(tp.tenant), options, interrupt)
    return ApplyReport(
        tenants=tuple(results[t.tenant] for t in wanted),
        interrupted=interrupt is not None and interrupt.is_requested,
        definitions_digest=plan.definitions_digest,
    )
