"""``integration-sync fmt [--check] [PATH ...]``: definitions in canonical form, comments kept."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import click

from integration_sync.cli.root import AppContext
from integration_sync.config import load_config
from integration_sync.formatter import FormatResult, format_paths
from integration_sync.loader import display_path
from integration_sync.render import plural


@click.command("fmt")
@click.option("--check", is_flag=True, help="Change nothing; list the files that are not canonical, exit 1.")
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; print what would change as a diff.")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_obj
def fmt_cmd(app: AppContext, check: bool, show_diff: bool, paths: tuple[Path, ...]) -> None:
    """Rewrite definitions in canonical form: keys in schema order (sync last), consistent quoting,
    block scalars for multi-line strings, every comment kept.

    PATH is a file or a folder (default: the config's definitions folder). A file YAML cannot read is
    reported (file:line:col) and left as it is; the exit code is then 1.
    """
    targets = list(paths) or [load_config(app.config_path, must_exist=app.config_given).definitions]
    dry = check or show_diff
    results = format_paths(targets, write=not dry)
    errors = [r for r in results if r.error is not None]
    changed = [r for r in results if r.changed]
    for r in errors:
        click.echo(f"error: {r.error}", err=True)
    for r in changed:
        if show_diff:
            click.echo(_diff(r), nl=False)
        else:
            click.echo(f"{'would reformat' if dry else 'reformatted'} {display_path(r.path)}")
    verb = "would be reformatted" if dry else "reformatted"
    summary = f"{plural(len(changed), 'file')} {verb}, {len(results) - len(changed) - len(errors)} unchanged"
    click.echo(summary + (f", {len(errors)} with errors" if errors else ""), err=True)
    if errors or (check and changed):
        raise click.exceptions.Exit(1)


def _diff(result: FormatResult) -> str:
    name = _relative(result.path)
    lines = difflib.unified_diff(
        result.original.splitlines(keepends=True),
        (result.formatted or "").splitlines(keepends=True),
        fromfile=f"a/{name}",
        tofile=f"b/{name}",
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def _relative(path: Path) -> str:
    """A diff header's path: relative to the working folder, even above it (``a/../other/x.yaml``, as
    ``git diff --no-index`` writes), absolute only where no relative path exists (another drive)."""
    try:
        return Path(os.path.relpath(path)).as_posix()
    except ValueError:
        return path.as_posix()
