"""``integration-sync show PLAN...``: render saved plans, as ``terraform show`` does. Several plan files
(the shards of one CI run) are shown as one plan (``plan.combine``); no config and no tenant is needed."""

from __future__ import annotations

from pathlib import Path

import click

from integration_sync.cli.common import echo_rendered
from integration_sync.render.registry import GROUP_BY, SHOW_FORMATS


@click.command("show")
@click.argument("plan_files", metavar="PLAN...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(SHOW_FORMATS), default="text", show_default=True)
@click.option(
    "--group-by",
    type=click.Choice(GROUP_BY),
    default=None,
    help="Each integration's changes across tenants, instead of each tenant's.",
)
def show_cmd(plan_files: tuple[Path, ...], fmt: str, group_by: str | None) -> int:
    """Show saved plans (plan --out) as text, Markdown, JSON or GitHub annotations; several plan files
    (CI shards) as one. As JSON, the combined plan is a plan file apply accepts (not with --group-by,
    a view). --format html: a self-contained page with the drift matrix (integrations x tenants)."""
    from integration_sync.plan import combine, load_plan
    from integration_sync.render.registry import render_plan_view

    plan = combine([(str(path), load_plan(path)) for path in plan_files])
    echo_rendered(lambda color: render_plan_view(plan, fmt, group_by, color=color), fmt)
    return 0
