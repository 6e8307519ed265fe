"""The root command group: the global options (``--config``, ``-v``, ``--debug``), what every command
gets from them (``AppContext``), ``fail`` for a command's one-line error, and the ``schema`` command.
Commands are defined in their own modules and added to the group in ``commands.py``."""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from integration_sync import __version__
from integration_sync.config import find_config
from integration_sync.fields import schema_text
from integration_sync.logs import setup_logging

log = logging.getLogger("integration_sync.cli")  # the command line's own lines, under the package's name

DEFAULT_CONFIG = "integration-sync.yaml"
#: The commands that read the config (the others say nothing about where it is).
_USES_CONFIG = frozenset({"validate", "plan", "apply", "import", "fmt", "doctor"})


@dataclass
class AppContext:
    """What every command gets from the global options."""

    config_path: Path
    config_given: bool
    verbose: int
    debug: bool


class _Group(click.Group):
    """The command group, where the global options (``-v``, ``--config``, ``--debug``) may also follow
    the command (``integration-sync plan -v``): they are moved before it, unless the command has an
    option of that name itself. Nothing after ``--`` moves.

    Commands are loaded lazily: ``lazy`` maps a command's name to ``"module:attribute"``, and the module
    is imported the first time the command is asked for, so that ``plan`` does not import the
    emulator's web stack or ``doctor``. ``--help`` asks for every command (for its help line)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._hoisted(ctx, list(args)))

    def _hoisted(self, ctx: click.Context, args: list[str]) -> list[str]:
        at = 0
        while at < len(args) and args[at].startswith("-") and args[at] != "--":
            at += 2 if args[at] == "--config" else 1  # the group's own options (and --config's value)
        if at >= len(args) or args[at] == "--":
            return args
        command = self.get_command(ctx, args[at])
        if command is None:
            return args
        own = {opt for param in command.params for opt in getattr(param, "opts", [])}
        front, rest = args[: at + 1], []
        i = at + 1
        while i < len(args):
            arg = args[i]
            if arg == "--":
                rest.extend(args[i:])
                break
            name = arg.split("=", 1)[0]
            if name == "--config" and name not in own:
                front[at:at] = args[i : i + 2] if "=" not in arg else [arg]
                at += 2 if "=" not in arg else 1
                i += 2 if "=" not in arg else 1
                continue
            if (_VERBOSE.match(arg) or arg in ("--verbose", "--debug")) and name not in own:
                front.insert(at, arg)
                at += 1
            else:
                rest.append(arg)
            i += 1
        return front + rest


_VERBOSE = re.compile(r"^-v+$")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="integration-sync")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Project config file (default: {DEFAULT_CONFIG} here or in the nearest folder above, up to the "
    "repository root).",
)
@click.option(
    "-v", "--verbose", count=True, help="Log requests to stderr (-vv for more). Tokens are always redacted."
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: int, debug: bool) -> None:
    """Manage FinanceKey integrations as code: validate, plan and apply YAML definitions across tenants."""
    setup_logging(verbose, debug)
    found = config_path
    if found is None and ctx.invoked_subcommand in _USES_CONFIG:
        found = find_config()
        if found is None:  # said at -v, as the config that is used is (load_config)
            log.info(
                "no %s in this folder or above it (up to the repository root): "
                "using the defaults (definitions/ here, the embedded tenant local)",
                DEFAULT_CONFIG,
            )
    ctx.obj = AppContext(
        config_path=found or Path(DEFAULT_CONFIG),
        config_given=config_path is not None,
        verbose=verbose,
        debug=debug,
    )


def fail(message: str) -> NoReturn:
    """Stop a command with one line on stderr and exit code 1."""
    raise click.exceptions.Exit(print_error(message))


def print_error(message: str) -> int:
    click.echo(f"error: {message}", err=True)
    return 1


@click.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of a definition (for editors and CI)."""
    click.echo(schema_text(), nl=False)
