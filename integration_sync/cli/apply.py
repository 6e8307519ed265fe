"""``integration-sync apply [PLAN]``: apply a saved plan exactly (no prompt), or plan, show it and ask.
Exit 0 when everything applied (or there was nothing to apply), 1 when anything did not apply."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from integration_sync.cli.common import (
    Selection,
    echo_rendered,
    parallelism_option,
    plan_selected,
    progress,
    tenant_selection,
    write_output,
)
from integration_sync.cli.root import AppContext, fail
from integration_sync.runner import run_main

if TYPE_CHECKING:
    from integration_sync.apply_checks import ApplyOptions
    from integration_sync.apply_report import ApplyReport
    from integration_sync.config import Config, TenantConfig
    from integration_sync.plan import Plan

CONFIRM = "Apply these changes? Only 'yes' is accepted"


@click.command("apply")
@click.argument(
    "plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path), metavar="[PLAN]"
)
@tenant_selection("Apply to")
@click.option(
    "--integration",
    "integrations",
    multiple=True,
    metavar="NAME",
    help="Without PLAN: plan and apply only this definition (repeatable); never deletes.",
)
@parallelism_option("applied")
@click.option(
    "--per-tenant",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Writes in flight at once on one tenant.",
)
@click.option("--force", is_flag=True, help="Apply tenants whose plan crosses a safety threshold.")
@click.option(
    "--allow-delete",
    is_flag=True,
    help=(
        "Allow deletes of managed integrations with no definition, whatever a saved plan recorded (a plan "
        "made with plan --allow-delete needs no second flag; else: the tenant's safety.allow_delete)."
    ),
)
@click.option("--auto-approve", is_flag=True, help="Apply without asking (required when not on a terminal).")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the outcome per tenant and item as JSON.",
)
@click.pass_obj
def apply_cmd(
    app: AppContext,
    plan_file: Path | None,
    selection: Selection,
    integrations: tuple[str, ...],
    parallelism: int | None,
    per_tenant: int,
    force: bool,
    allow_delete: bool,
    auto_approve: bool,
    report_path: Path | None,
) -> int:
    """Apply a saved PLAN exactly (items whose live state moved are refused), or plan and ask first."""
    from integration_sync.apply_checks import ApplyOptions
    from integration_sync.config import load_config
    from integration_sync.plan import load_plan

    config = load_config(app.config_path, must_exist=app.config_given)
    selected = selection.tenants(config)
    options = ApplyOptions(
        parallelism=parallelism or config.settings.parallelism,
        per_tenant=per_tenant,
        force=force,
        allow_delete=True if allow_delete else None,
    )
    if plan_file is not None:
        if integrations:
            fail("--integration selects definitions to plan: it does not apply to a saved plan")
        plan = load_plan(plan_file)
        only = [t.name for t in selected] if selection.narrows else None
        if only is not None and not any(t.tenant in only for t in plan.tenants):
            fail(f"{plan_file}: the plan has none of the selected tenants (it has: {_names(plan)})")
    else:
        if not auto_approve and not sys.stdin.isatty():
            fail(
                "apply without a saved plan asks for approval, and there is no terminal: pass --auto-approve"
            )
        plan = _plan_now(config, selected, integrations, options)
        only = None
        if plan.has_changes and not auto_approve and not _approved():
            fail("apply cancelled: nothing was changed")
    report = _apply(config, plan, options, only)
    if plan.has_changes or plan_file is not None:  # else the plan just said "No changes."
        _print(report)
    if report_path is not None:
        write_output(report_path, report.to_json(), "report")
    return 0 if report.ok else 1


def _plan_now(
    config: Config, selected: Sequence[TenantConfig], integrations: Sequence[str], options: ApplyOptions
) -> Plan:
    """Plan the selected tenants as ``plan`` does, and show the plan."""
    from integration_sync.fleet import FleetOptions
    from integration_sync.render.registry import render_plan

    fleet = FleetOptions(
        parallelism=options.parallelism, allow_delete=options.allow_delete, partial=bool(integrations)
    )
    plan = plan_selected(config, selected, integrations, fleet)
    echo_rendered(lambda color: render_plan(plan, "text", color=color))
    return plan


def _apply(config: Config, plan: Plan, options: ApplyOptions, only: list[str] | None) -> ApplyReport:
    from integration_sync.fleet import apply_plan
    from integration_sync.interrupt import Interrupt

    targets = [t for t in plan.tenants if t.has_changes and (only is None or t.tenant in only)]

    async def run() -> ApplyReport:
        interrupt = Interrupt()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if interrupt.is_requested:
                click.echo("Second interrupt: cancelling the requests in flight.", err=True)
            else:
                click.echo(
                    f"Interrupted: starting nothing new; waiting up to {interrupt.grace_s:g} s for the "
                    "requests in flight (interrupt again to stop at once).",
                    err=True,
                )
            interrupt.request()

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread, or not supported here
                pass
        try:
            with progress(len(targets), "applying to tenants") as advance:
                return await apply_plan(
                    config, plan, options, only=only, interrupt=interrupt, on_tenant=lambda _t: advance()
                )
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    return run_main(run())


def _approved() -> bool:
    return bool(click.prompt(CONFIRM, default="", show_default=False).strip() == "yes")


def _names(plan: Plan) -> str:
    return ", ".join(t.tenant for t in plan.tenants) or "none"


def _print(report: ApplyReport) -> None:
    from integration_sync.render.apply_text import render

    echo_rendered(lambda color: render(report, color=color))
