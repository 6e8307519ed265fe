"""``integration-sync validate``: check definitions offline, exit 0 when valid and 1 when not."""

from __future__ import annotations

from pathlib import Path

import click

from integration_sync.cli.root import AppContext
from integration_sync.render.diagnostics import RENDERERS


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(RENDERERS)),
    default="text",
    show_default=True,
    help="text: path:line:col lines; json: one object; github: workflow annotations.",
)
@click.option("--strict", is_flag=True, help="Treat warnings (soft rules) as errors.")
@click.pass_obj
def validate_cmd(app: AppContext, paths: tuple[Path, ...], fmt: str, strict: bool) -> int:
    """Validate definitions (default: the config's definitions folder; PATH may be a file or folder).

    Loads each file, checks the schema, the rules between fields and the filter syntax for every
    tenant's resolved documents. No network.
    """
    from integration_sync.config import load_config
    from integration_sync.diagnostics import Diagnostic
    from integration_sync.errors import ConfigError
    from integration_sync.render.diagnostics import render
    from integration_sync.validate import Report, validate

    try:
        config = load_config(app.config_path, must_exist=app.config_given)
    except ConfigError as exc:
        if fmt == "text":
            raise  # one line on stderr, as every command says it
        # json and github readers (CI) get the config's mistakes in the format they parse
        mistakes = getattr(exc, "errors", None) or [exc]
        found = [
            Diagnostic(e.path or str(app.config_path), e.line or 1, e.col or 1, "", e.message, "config")
            for e in mistakes
        ]
        click.echo(render(Report(diagnostics=found), fmt), nl=False)
        return 1
    report = validate(config, list(paths) or None, strict=strict)
    click.echo(render(report, fmt), nl=False)
    return 0 if report.ok else 1
