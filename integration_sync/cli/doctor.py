"""``integration-sync doctor [--tenant NAME ...]``: whether each tenant is what the tool assumes."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from integration_sync import logs
from integration_sync.cli.root import AppContext
from integration_sync.config import Config, TenantConfig, load_config
from integration_sync.connect import open_tenants
from integration_sync.doctor import TenantReport, diagnose
from integration_sync.errors import SyncError
from integration_sync.render import plural
from integration_sync.runner import run_bounded, run_main
from integration_sync.selection import select_tenants

FORMATS = ("text", "json", "markdown")


async def _run(config: Config, selected: Sequence[TenantConfig], write_probe: bool) -> list[TenantReport]:
    async with open_tenants(config, selected) as reach:

        async def one(tenant: TenantConfig) -> TenantReport:
            url = reach.url(tenant)
            async with reach.client(tenant) as client:
                return await diagnose(
                    client,
                    tenant,
                    url,
                    write_probe=write_probe,
                    deadline_s=reach.settings.tenant_deadline_s,
                )

        results = await run_bounded(selected, one, config.settings.parallelism)
    out = []
    for tenant in selected:
        result = results[tenant.name]
        if isinstance(result, SyncError):  # the client could not even be made (an unset token_env)
            result = TenantReport(tenant.name, tenant.url, error=str(result))
        out.append(result)
    return out


@click.command("doctor")
@click.option(
    "--tenant", "tenants", multiple=True, metavar="NAME", help="Examine only this tenant (repeatable)."
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--write-probe",
    is_flag=True,
    help="Also create, update and delete one temporary integration and report each reply.",
)
@click.pass_obj
def doctor_cmd(app: AppContext, tenants: tuple[str, ...], fmt: str, write_probe: bool) -> int:
    """Compare each tenant's $metadata with the schema and probe, read-only, what the tool relies on.

    Prints a table per tenant (check, expected, found, verdict, what the tool does) and the config
    lines that make a tenant whose names or lengths differ usable. Exit 0 when nothing blocking was
    found, 1 otherwise.
    """
    config = load_config(app.config_path, must_exist=app.config_given)
    selected = select_tenants(config, names=tenants)
    reports = run_main(_run(config, selected, write_probe))
    render = {"text": render_text, "json": render_json, "markdown": render_markdown}[fmt]
    click.echo(logs.redact(render(reports)), nl=False)  # a tenant's text may echo its token anywhere
    return 1 if any(r.blocking for r in reports) else 0


def config_lines(report: TenantReport) -> list[str]:
    """The lines to add under the tenant's entry in the config (indented as a list item's keys)."""
    out = []
    for key, entries in report.config.items():
        out.append(f"    {key}:")
        out += [f"      {k}: {v}" for k, v in entries.items()]
    return out


def _headline(report: TenantReport) -> str:
    if report.error is not None:
        return f"Tenant {report.tenant} ({report.url}): error: {report.error}"
    differ = sum(c.verdict == "differs" for c in report.checks)
    verdict = "blocking" if report.blocking else "usable"
    return f"Tenant {report.tenant} ({report.url}): {verdict}, {differ} differ"


def _summary(reports: Sequence[TenantReport]) -> str:
    blocked = [r.tenant for r in reports if r.blocking]
    if not blocked:
        return f"Doctor: nothing blocking in {plural(len(reports), 'tenant')}.\n"
    return f"Doctor: {len(blocked)} of {plural(len(reports), 'tenant')} blocking: {', '.join(blocked)}.\n"


def render_text(reports: Sequence[TenantReport]) -> str:
    out = []
    head = ("check", "expected", "found", "verdict", "the tool")
    for report in reports:
        out.append(_headline(report))
        if report.error is not None:
            continue
        shown = [c for c in report.checks if c.verdict != "ok"]
        rows = [head] + [(c.check, c.expected, c.found, c.verdict, c.action) for c in shown]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows if shown else []:
            cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:4])]
            out.append("  " + "  ".join([*cells, row[4]]).rstrip())
        hidden = len(report.checks) - len(shown)
        if hidden:
            out.append(
                f"  {'and ' if shown else ''}{plural(hidden, 'check')} ok (--format markdown or json lists them)"
            )
        lines = config_lines(report)
        if lines:
            out.append(f"  To use tenant {report.tenant} as it is, add under its entry in the config:")
            out += lines
        out.append("")
    out.append(_summary(reports))
    return "\n".join(out)


def render_json(reports: Sequence[TenantReport]) -> str:
    doc = {"ok": not any(r.blocking for r in reports), "tenants": [r.to_json() for r in reports]}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(reports: Sequence[TenantReport]) -> str:
    out = []
    for report in reports:
        out.append(f"### {_cell(_headline(report))}\n")
        if report.error is not None:
            continue
        out.append("| check | expected | found | verdict | the tool |")
        out.append("|---|---|---|---|---|")
        for c in report.checks:
            cells = [c.check, c.expected, c.found, f"**{c.verdict}**" if c.blocking else c.verdict, c.action]
            out.append("| " + " | ".join(_cell(x) for x in cells) + " |")
        lines = config_lines(report)
        if lines:
            out += ["", "Add under the tenant's entry in the config:", "", "```yaml", *lines, "```"]
        out.append("")
    out.append(_summary(reports))
    return "\n".join(out)
