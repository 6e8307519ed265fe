"""``integration-sync plan``: what would change on each selected tenant. Exit 0 (no changes, or changes
without ``--detailed-exitcode``), 2 (changes, with it), 1 (invalid definitions, or any tenant failed)."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import click

from integration_sync.ci import STEP_SUMMARY_ENV, write_step_summary
from integration_sync.cli.common import (
    Selection,
    echo_rendered,
    plan_selected,
    tenant_selection,
    write_output,
)
from integration_sync.cli.root import AppContext
from integration_sync.plan import Plan
from integration_sync.render.registry import FORMATS, GROUP_BY


@click.command("plan")
@tenant_selection("Plan")
@click.option(
    "--integration",
    "integrations",
    multiple=True,
    metavar="NAME",
    help="Plan only this definition (repeatable). The plan is partial: it never deletes.",
)
@click.option(
    "--parallelism",
    type=click.IntRange(min=1),
    default=None,
    help="Tenants planned at once (default: settings.parallelism, 8).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--group-by",
    type=click.Choice(GROUP_BY),
    default=None,
    help="Each integration's changes across tenants, instead of each tenant's.",
)
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
    selection: Selection,
    integrations: tuple[str, ...],
    parallelism: int | None,
    fmt: str,
    group_by: str | None,
    out: Path | None,
    allow_delete: bool,
    detailed_exitcode: bool,
) -> int:
    """Show what apply would change on each selected tenant (and save it with --out)."""
    from integration_sync.config import load_config
    from integration_sync.fleet import FleetOptions
    from integration_sync.render.registry import render_plan, render_plan_view

    config = load_config(app.config_path, must_exist=app.config_given)
    options = FleetOptions(
        parallelism=parallelism or config.settings.parallelism,
        allow_delete=True if allow_delete else None,
        partial=bool(integrations),
    )
    plan = plan_selected(config, selection.tenants(config), integrations, options, report_format=fmt)
    if out is not None:
        write_output(out, plan.json_chunks(), "plan")
        given = f"--config {shlex.quote(str(app.config_path))} " if app.config_given else ""
        click.echo(
            f"Plan saved to {out}; apply exactly it with: integration-sync {given}apply {shlex.quote(str(out))}",
            err=True,
        )
    if fmt == "json" and group_by is None:  # the saved form, a tenant at a time: never a second copy
        _echo_json(plan, out)
    else:
        echo_rendered(lambda color: render_plan_view(plan, fmt, group_by, color=color), fmt)
    if os.environ.get(STEP_SUMMARY_ENV):  # in GitHub Actions: the plan on the run's summary page too
        write_step_summary(render_plan(plan, "markdown"))
    if plan.failed:
        return 1
    return 2 if detailed_exitcode and plan.has_changes else 0


def _echo_json(plan: Plan, saved: Path | None) -> None:
    """The plan as JSON on stdout: copied from the file just saved (the same bytes, not encoded twice),
    else encoded a tenant at a time."""
    sys.stdout.flush()
    stdout = sys.stdout.buffer
    if saved is not None:
        try:
            with open(saved, "rb") as fh:
                shutil.copyfileobj(fh, stdout)
            stdout.flush()
            return
        except OSError:
            pass  # moved away meanwhile: encode it again
    for chunk in plan.json_chunks():
        stdout.write(chunk.encode("utf-8"))
    stdout.flush()
