"""``integration-sync import --tenant T --dir DIR``: adopt a live tenant's integrations as definitions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from integration_sync.cli import AppContext, cli, fail
from integration_sync.config import Config, load_config
from integration_sync.connect import open_tenants
from integration_sync.importer import (
    SCHEMA_RELPATH,
    ImportResult,
    build_import,
    existing_names,
    shared_files,
    write_import,
)
from integration_sync.loader import display_path


async def _live(config: Config, tenant: str) -> list[dict[str, Any]]:
    t = config.tenant(tenant)
    async with open_tenants(config, [t]) as reach, reach.client(t) as client:
        return [item.values for item in await client.list_integrations()]


@cli.command("import")
@click.option(
    "--tenant", "tenants", multiple=True, help="The configured tenant to read (with --fleet: repeatable)."
)
@click.option("--fleet", is_flag=True, help="One definition per integration across the selected tenants.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="With --fleet: tenants with this tag.")
@click.option(
    "--vars", "use_vars", is_flag=True, help="With --fleet: differing fields as ${var}, values in the config."
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write the definition files into (default: the config's definitions folder).",
)
@click.option("--managed-only", is_flag=True, help="Only integrations with managed: true.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.pass_obj
def import_cmd(
    app: AppContext,
    tenants: tuple[str, ...],
    fleet: bool,
    tags: tuple[str, ...],
    use_vars: bool,
    directory: Path | None,
    managed_only: bool,
    force: bool,
) -> None:
    """Write each live integration of TENANT as a definition file in canonical form.

    Every mapped field the tenant returns is written, so a plan right after the import is empty. An
    integration that breaks a rule is written as it is, with a comment at the offending key; the
    summary lists those files for a person to decide. An integration that a definition already claims
    (by name or previous name) is skipped, unless the claim is this tenant's own earlier import in the
    file it would write (sync.tenants: [TENANT]). Nothing is overwritten without --force.

    --fleet: one definition per managed integration across the selected tenants (--tenant, --tag; all
    by default), each differing field written with the majority value and the differing tenants listed.
    """
    config = load_config(app.config_path, must_exist=app.config_given)
    if fleet:
        from integration_sync.cli.fleet_import import fleet_import

        fleet_import(config, tenants, tags, directory or config.definitions, use_vars=use_vars, force=force)
        return
    if tags or use_vars or len(tenants) != 1:
        fail("import needs exactly one --tenant NAME (--tag and --vars go with --fleet)")
    tenant = tenants[0]
    target = directory or config.definitions
    live = asyncio.run(_live(config, tenant))
    folders = [config.definitions, target]
    existing = existing_names(folders)
    shared = shared_files(folders, tenant)
    result = build_import(
        config, tenant, live, target, managed_only=managed_only, existing=existing, shared=shared
    )
    write_import(result, force=force)
    _summary(result, target)
    schema = config.root / SCHEMA_RELPATH
    if result.files and not schema.exists():
        click.echo(
            f"note: the files' modeline points at {display_path(schema)}, which does not exist; "
            f"for editor completion and checks write it with: integration-sync schema > {display_path(schema)}"
        )


def _summary(result: ImportResult, target: Path) -> None:
    for f in result.files:
        click.echo(f"wrote {display_path(f.path)}")
    notes = [f"{result.skipped_unmanaged} not managed"] if result.skipped_unmanaged else []
    notes += [f"{len(result.already_defined)} already defined"] if result.already_defined else []
    skipped = f" ({', '.join(notes)}, skipped)" if notes else ""
    click.echo(
        f"Imported {len(result.files)} integration(s) from tenant {result.tenant} "
        f"into {display_path(target)}{skipped}."
    )
    for name, owner in result.already_defined:
        click.echo(f"skipped {name!r}: already defined in {display_path(owner)}")
    flagged = result.flagged
    if flagged:
        click.echo(f"{len(flagged)} file(s) break a rule or draw a warning; see the comments in them:")
        for f in flagged:
            click.echo(f"  {display_path(f.path)}")
            for breach in f.breaches:
                click.echo(f"    {breach}")
    click.echo(
        f'Each definition has sync.tenants: [{result.tenant}]; use "*" for those common to every tenant.'
    )
