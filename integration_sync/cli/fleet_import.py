"""``integration-sync import --fleet``: the selected tenants' managed integrations as one definition
each (see ``integration_sync/fleet_import.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from integration_sync.cli.import_ import echo_flagged
from integration_sync.cli.root import fail
from integration_sync.config import Config, TenantConfig
from integration_sync.connect import open_tenants
from integration_sync.errors import SyncError
from integration_sync.fleet_import import FleetAggregate, FleetResult, var_conflicts, write_config_vars
from integration_sync.importer import (
    ImportedFile,
    ImportResult,
    existing_names,
    fleet_imports,
    unnamed_note,
    write_import,
)
from integration_sync.loader import display_path
from integration_sync.render import plural
from integration_sync.runner import run_bounded, run_main
from integration_sync.selection import select_tenants

#: Tenants listed in full for one differing field; beyond, a count.
SHOWN_TENANTS = 20


async def _aggregate(config: Config, selected: Sequence[TenantConfig]) -> tuple[FleetAggregate, list[str]]:
    aggregate = FleetAggregate(config)
    async with open_tenants(config, selected) as reach:

        async def one(tenant: TenantConfig) -> None:
            live = await reach.list_live(tenant)  # within the tenant's deadline, as plan and import
            aggregate.add(tenant.name, (item.values for item in live))  # the list is dropped after

        results = await run_bounded(selected, one, config.settings.parallelism)
    failed = [str(r) for r in results.values() if isinstance(r, SyncError)]
    return aggregate, failed


def fleet_import(
    config: Config,
    tenants: tuple[str, ...],
    tags: tuple[str, ...],
    target: Path,
    *,
    use_vars: bool,
    force: bool,
) -> None:
    selected = select_tenants(config, names=tenants, tags=tags)
    aggregate, failed = run_main(_aggregate(config, selected))
    if failed:
        for line in failed:
            click.echo(f"error: {line}", err=True)
        fail(
            f"{len(failed)} of {plural(len(selected), 'tenant')} could not be read; nothing was written "
            "(majorities and sync.tenants need every selected tenant)"
        )
    folders = [config.definitions, target]
    own = fleet_imports(folders)
    result = aggregate.result(target, use_vars=use_vars, existing=existing_names(folders), own=own)
    conflicts = var_conflicts(config, result.variables)
    if conflicts and not force:
        fail(
            f"the config already holds other values for {', '.join(conflicts[:5])}"
            f"{' ...' if len(conflicts) > 5 else ''}; nothing was written. Use --force to overwrite them"
        )
    files = ImportResult("fleet", [ImportedFile(f.name, f.path, f.text, f.breaches) for f in result.files])
    # a file that exists is left as it is and listed, and the others are written; --force writes again
    # only an earlier fleet import (a file with its mark), never a hand-written file
    write_import(files, force=force, own=own)
    if use_vars:
        write_config_vars(config, result.variables)
    written = {f.path for f in files.written}
    _summary(result, target, len(selected), config, written, len(files.existing))
    for path in files.existing:
        why = (
            "an earlier fleet import: --force writes it again"
            if path.resolve() in own
            else "not a fleet import: it is never written over"
        )
        click.echo(f"skipped {display_path(path)}: the file exists ({why})")
    for path, why in files.failed:
        click.echo(f"error: {display_path(path)}: cannot write it: {why}", err=True)
    for name, key, tenant, why in result.unwritable:
        click.echo(
            f"error: {name!r} was not imported: its {key} on tenant {tenant} {why}, which a YAML file "
            "cannot hold; fix the value on the tenant",
            err=True,
        )
    if files.failed or result.unwritable:
        raise click.exceptions.Exit(1)


def _summary(
    result: FleetResult, target: Path, tenants: int, config: Config, written: set[Path], existing: int
) -> None:
    for f in result.files:
        if f.path not in written:
            continue
        click.echo(f"wrote {display_path(f.path)} ({len(f.tenants)} of {plural(tenants, 'tenant')})")
        for d in f.drift:
            others = ", ".join(f"{name} ({value})" for name, value in d.others[:SHOWN_TENANTS])
            if len(d.others) > SHOWN_TENANTS:
                others += f" and {len(d.others) - SHOWN_TENANTS} more"
            if d.variable:
                click.echo(f"  {d.field}: ${{{d.variable}}}, each tenant's value in its vars")
            else:
                click.echo(f"  {d.field}: {d.written} on {plural(d.agreeing, 'tenant')}; differs on {others}")
    notes = [f"{result.skipped_unmanaged} not managed"] if result.skipped_unmanaged else []
    notes += [f"{len(result.already_defined)} already defined"] if result.already_defined else []
    notes += [f"{plural(existing, 'existing file')}"] if existing else []
    skipped = f" ({', '.join(notes)}, skipped)" if notes else ""
    click.echo(
        f"Imported {plural(len(written), 'integration')} from {plural(tenants, 'tenant')} into "
        f"{display_path(target)}{skipped}."
    )
    for name, owner in result.already_defined:
        click.echo(f"skipped {name!r}: already defined in {display_path(owner)}")
    by_tenant: dict[str, list[Any]] = {}
    for tenant, key in result.unnamed:
        by_tenant.setdefault(tenant, []).append(key)
    for tenant, keys in by_tenant.items():
        click.echo(f"skipped on tenant {tenant}: {unnamed_note(keys)}")
    for tenant, name in result.twins:
        click.echo(
            f"skipped {name!r} on tenant {tenant}: another of its integrations has that name but for case"
        )
    echo_flagged(result.files)
    if result.variables:
        click.echo(
            f"wrote the variables of {plural(len(result.variables), 'tenant')} into {display_path(config.path)}"
        )
    if any(not d.variable for f in result.files for d in f.drift):
        click.echo("The first plan shows the differing fields above as changes on those tenants.")
