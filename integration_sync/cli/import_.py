"""``integration-sync import --tenant T --dir DIR``: adopt a live tenant's integrations as definitions."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import click

from integration_sync import fields
from integration_sync.cli.root import AppContext, fail
from integration_sync.config import Config, load_config
from integration_sync.connect import open_tenants
from integration_sync.errors import ConfigError
from integration_sync.importer import (
    SCHEMA_RELPATH,
    ImportResult,
    build_import,
    existing_names,
    own_imports,
    unnamed_note,
    write_import,
)
from integration_sync.loader import display_path
from integration_sync.render import plural
from integration_sync.runner import run_main


async def _live(config: Config, tenant_name: str) -> list[dict[str, Any]]:
    t = config.tenant(tenant_name)
    async with open_tenants(config, [t]) as reach:
        return [item.values for item in await reach.list_live(t)]


@click.command("import")
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
@click.option(
    "--integration",
    "integrations",
    multiple=True,
    metavar="NAME",
    help="Import only the live integration of this name, case-insensitively (repeatable).",
)
@click.option("--managed-only", is_flag=True, help="Only integrations with managed: true.")
@click.option("--force", is_flag=True, help="Write this tenant's earlier imports again.")
@click.pass_obj
def import_cmd(
    app: AppContext,
    tenants: tuple[str, ...],
    fleet: bool,
    tags: tuple[str, ...],
    use_vars: bool,
    directory: Path | None,
    integrations: tuple[str, ...],
    managed_only: bool,
    force: bool,
) -> int:
    """Write each live integration of TENANT as a definition file in canonical form.

    Every mapped field the tenant returns is written, so a plan right after the import is empty. An
    integration that breaks a rule is written as it is, with a comment at the offending key; a rule a
    definition may accept (between fields, soft, filter) is listed in its sync.accept. An integration
    already defined anywhere (by name or previous name) is skipped and listed. Each file starts with
    a line saying it was imported: only such a file of this tenant is written again, with --force; an
    existing file is otherwise left as it is and listed, and the others are still written.

    --fleet: one definition per managed integration across the selected tenants (--tenant, --tag; all
    by default), each differing field written with the majority value and the differing tenants listed.
    """
    config = load_config(app.config_path, must_exist=app.config_given)
    if fleet:
        from integration_sync.cli.fleet_import import fleet_import

        if integrations:
            fail("--integration goes with a one-tenant import, not with --fleet")
        fleet_import(config, tenants, tags, directory or config.definitions, use_vars=use_vars, force=force)
        return 0
    if tags or use_vars or len(tenants) != 1:
        fail("import needs exactly one --tenant NAME (--tag and --vars go with --fleet)")
    name = config.tenant(tenants[0]).name
    target = directory or config.definitions
    live = _only(run_main(_live(config, name)), integrations, name)
    folders = [config.definitions, target]
    existing = existing_names(folders)
    own = own_imports(folders, name)
    result = build_import(config, name, live, target, managed_only=managed_only, existing=existing, own=own)
    write_import(result, force=force, own=own)
    _summary(result, target, own)
    for integration, key, why in result.unwritable:
        click.echo(
            f"error: {integration!r} was not imported: its {key} {why}, which a YAML file cannot hold; "
            "fix the value on the tenant",
            err=True,
        )
    schema = config.root / SCHEMA_RELPATH
    if result.written and not schema.exists():
        click.echo(
            f"note: the files' modeline points at {display_path(schema)}, which does not exist; "
            f"for editor completion and checks write it with: integration-sync schema > {display_path(schema)}"
        )
    return 1 if result.failed or result.unwritable else 0


def _only(live: list[dict[str, Any]], names: tuple[str, ...], tenant_name: str) -> list[dict[str, Any]]:
    """The live integrations named with ``--integration`` (case-insensitively); a name the tenant does
    not have is an error, with the nearest one."""
    if not names:
        return live
    have = {str(v.get(fields.name_property()) or ""): v for v in live}
    folded = {n.casefold() for n in names}
    for wanted in names:
        if not any(n.casefold() == wanted.casefold() for n in have):
            close = difflib.get_close_matches(wanted, list(have), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"--integration {wanted!r}: tenant {tenant_name} has no integration of that name{hint}"
            )
    return [v for v in live if str(v.get(fields.name_property()) or "").casefold() in folded]


def _summary(result: ImportResult, target: Path, own: frozenset[Path]) -> None:
    for f in result.written:
        click.echo(f"wrote {display_path(f.path)}")
    notes = [f"{result.skipped_unmanaged} not managed"] if result.skipped_unmanaged else []
    notes += [f"{len(result.already_defined)} already defined"] if result.already_defined else []
    notes += [f"{len(result.existing)} existing {_files(len(result.existing))}"] if result.existing else []
    skipped = f" ({', '.join(notes)}, skipped)" if notes else ""
    click.echo(
        f"Imported {plural(len(result.written), 'integration')} from tenant {result.tenant} "
        f"into {display_path(target)}{skipped}."
    )
    for name, owner in result.already_defined:
        click.echo(f"skipped {name!r}: already defined in {display_path(owner)}")
    if result.unnamed:
        click.echo(f"skipped {unnamed_note(result.unnamed)}")
    adopted = {f.path: f.name for f in result.files}
    for path in result.existing:
        why = (
            "this tenant's earlier import: --force writes it again"
            if path.resolve() in own
            else "not an import of this tenant: it is never written over"
        )
        # the integration it would have held is named: it was not adopted
        click.echo(f"skipped {adopted[path]!r}: {display_path(path)} exists ({why})")
    for path, why in result.failed:
        click.echo(f"error: {display_path(path)}: cannot write it: {why}", err=True)
    echo_flagged(result.written)
    if result.written:
        click.echo(
            f'Each definition has sync.tenants: [{result.tenant}]; use "*" for those common to every tenant.'
        )


class _Written(Protocol):
    """A file an import wrote (``importer.ImportedFile``, ``fleet_import.FleetFile``)."""

    @property
    def path(self) -> Path: ...
    @property
    def breaches(self) -> Sequence[str]: ...


def echo_flagged(files: Iterable[_Written]) -> None:
    """Name the written files that break a rule or draw a warning, each with what it breaks."""
    flagged = [f for f in files if f.breaches]
    if flagged:
        verbs = "breaks a rule or draws" if len(flagged) == 1 else "break a rule or draw"
        click.echo(f"{plural(len(flagged), 'file')} {verbs} a warning; see the comments in them:")
        for f in flagged:
            click.echo(f"  {display_path(f.path)}")
            for breach in f.breaches:
                click.echo(f"    {breach}")


def _files(n: int) -> str:
    return "file" if n == 1 else "files"
