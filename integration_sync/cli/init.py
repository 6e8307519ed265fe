"""``integration-sync init [DIR]``: start a repository of definitions."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from integration_sync.init import init
from integration_sync.loader import display_path
from integration_sync.render import plural


@click.command("init")
@click.argument(
    "directory", required=False, type=click.Path(file_okay=False, path_type=Path), default=Path(".")
)
def init_cmd(directory: Path) -> None:
    """Start a repository of definitions in DIRECTORY (default: here): integration-sync.yaml with the
    embedded tenant (and a real one commented out), definitions/ with one example, the schemas under
    schemas/, .vscode/settings.json for editor completion, a .pre-commit-config.yaml running the
    installed tool, and the GitHub workflows. A file that exists is never written over: it is listed.
    """
    result = init(directory)
    for path in result.written:
        click.echo(f"wrote {display_path(path)}")
    for path in result.skipped:
        click.echo(f"skipped {display_path(path)}: it exists")
    for path in result.outside:
        click.echo(f"skipped {display_path(path)}: a symlink leads it outside {display_path(directory)}")
    # the next commands find the new config only from inside DIRECTORY: say so when it is not here
    cd = "" if directory.resolve() == Path.cwd().resolve() else f"cd {shlex.quote(str(directory))}, "
    click.echo(
        f"{plural(len(result.written), 'file')} written, {len(result.skipped) + len(result.outside)} skipped. "
        f"Next: {cd}integration-sync apply --auto-approve, then integration-sync plan."
    )
