"""``integration-sync plan``: what would change on each selected tenant. Exit 0 (no changes, or changes
without ``--detailed-exitcode``), 2 (changes, with it), 1 (invalid definitions, or any tenant failed)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from integration_sync.ci import STEP_SUMMARY_ENV, write_step_summary
from integration_sync.cli import AppContext, cli, fail
from integration_sync.render.plans import PLAN_RENDERERS

if TYPE_CHECKING:
    from integration_sync.config import Config, TenantConfig
    from integration_sync.resolve import Desired


@cli.command("plan")
@click.option(
    "--tenant", "tenants", multiple=True, metavar="NAME", help="Plan only this tenant (repeatable)."
)
@click.option(
    "--exclude-tenant", "excluded", multiple=True, metavar="NAME", help="Skip this tenant (repeatable)."
)
@click.option(
    "--tag", "tags", multiple=True, metavar="TAG", help="Plan only tenants with this tag (repeatable)."
)
@click.option(
    "--integration",
    "integrations",
    multiple=True,
    metavar="NAME",
    help="Plan only this definition (repeatable). The plan is partial: it never deletes.",
)
@click.option("--shard", metavar="K/N", help="Plan only shard K of N (a stable split by tenant name).")
@click.option(
    "--parallelism",
    type=click.IntRange(min=1),
    default=None,
    help="Tenants planned at once (default: settings.parallelism, 8).",
)
@click.option("--format", "fmt", type=click.Choice(sorted(PLAN_RENDERERS)), default="text", show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan as JSON for `integration-sync apply PLAN`.",
)
@click.option("--allow-delete", is_flag=True, help="Plan deletes of managed integrations with no definition.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes (0 none, 1 error).")
@click.pass_obj
def plan_cmd(
    app: AppContext,
    tenants: tuple[str, ...],
    excluded: tuple[str, ...],
    tags: tuple[str, ...],
    integrations: tuple[str, ...],
    shard: str | None,
    parallelism: int | None,
    fmt: str,
    out: Path | None,
    allow_delete: bool,
    detailed_exitcode: bool,
) -> int:
    """Show what apply would change on each selected tenant (and save it with --out)."""
    from integration_sync.config import load_config
    from integration_sync.connect import parse_shard, select_tenants
    from integration_sync.fleet import FleetOptions, plan_fleet
    from integration_sync.render.plans import render_plan

    config = load_config(app.config_path, must_exist=app.config_given)
    selected = select_tenants(
        config,
        names=tenants,
        exclude=excluded,
        tags=tags,
        shard=parse_shard(shard) if shard else None,
    )
    desired = _desired(config, selected, integrations)
    options = FleetOptions(
        parallelism=parallelism or config.settings.parallelism,
        allow_delete=True if allow_delete else None,
        partial=bool(integrations),
    )
    with _progress(len(selected)) as advance:
        plan = asyncio.run(plan_fleet(config, selected, desired, options, on_tenant=lambda _t: advance()))
    if out is not None:
        _save(out, plan.to_json())
        click.echo(f"Plan saved to {out}; apply exactly it with: integration-sync apply {out}", err=True)
    color = use_color(fmt, sys.stdout.isatty(), os.environ)
    click.echo(render_plan(plan, fmt, color=color), nl=False, color=color)
    if os.environ.get(STEP_SUMMARY_ENV):  # in GitHub Actions: the plan on the run's summary page too
        write_step_summary(render_plan(plan, "markdown"))
    if plan.failed:
        return 1
    return 2 if detailed_exitcode and plan.has_changes else 0


def use_color(fmt: str, is_terminal: bool, environ: Mapping[str, str]) -> bool:
    """Colour for text on a terminal, unless ``NO_COLOR`` is set to anything but the empty string."""
    return fmt == "text" and is_terminal and not environ.get("NO_COLOR")


def _desired(
    config: Config, selected: Sequence[TenantConfig], integrations: Sequence[str]
) -> dict[str, list[Desired]]:
    """``fleet.desired_by_tenant``; invalid definitions: the validation report on stderr, exit 1."""
    from integration_sync.fleet import desired_by_tenant
    from integration_sync.render.diagnostics import render
    from integration_sync.validate import InvalidDefinitions

    try:
        return desired_by_tenant(config, selected, integrations)
    except InvalidDefinitions as exc:
        click.echo(render(exc.report, "text"), err=True, nl=False)
        fail("the definitions are not valid: nothing was planned")


def _save(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: cannot write the plan: {exc.strerror}")


@contextmanager
def _progress(total: int, label: str = "planning tenants") -> Iterator[Callable[[], None]]:
    """A progress bar on stderr when it is a terminal (and more than one tenant); else nothing."""
    if total < 2 or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")))
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
