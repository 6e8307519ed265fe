"""``integration-sync show PLAN...``: render saved plans, as ``terraform show`` does. Several plan files
(the shards of one CI run) are shown as one plan (``plan.combine``); no config and no tenant is needed."""

from __future__ import annotations

from pathlib import Path

import click

from integration_sync.cli import cli
from integration_sync.cli.common import echo_rendered
from integration_sync.render.registry import FORMATS


@cli.command("show")
@click.argument("plan_files", metavar="PLAN...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
def show_cmd(plan_files: tuple[Path, ...], fmt: str) -> int:
    """Show saved plans (plan --out) as text, Markdown, JSON or GitHub annotations; several plan files
    (CI shards) as one. As JSON, the combined plan is a plan file apply accepts."""
    from integration_sync.plan import combine, load_plan
    from integration_sync.render.registry import render_plan

    plan = combine([(str(path), load_plan(path)) for path in plan_files])
    echo_rendered(lambda color: render_plan(plan, fmt, color=color), fmt)
    return 0
