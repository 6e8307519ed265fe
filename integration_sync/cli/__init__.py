"""The command line: parse, call the library, render, return an exit code.

Exit codes are part of the interface: 0 success, 1 any error (including a usage error, so that
``plan --detailed-exitcode`` keeps 2 for "there are changes"), 2 only for that flag. Every expected
failure is a ``SyncError``; it is caught here, once, and printed as one line without a traceback
(``--debug`` shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import click

from integration_sync import __version__, logs
from integration_sync.errors import SyncError

log = logging.getLogger(__name__)

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
    option of that name itself. Nothing after ``--`` moves."""

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
    from integration_sync.logs import setup_logging

    setup_logging(verbose, debug)
    found = config_path
    if found is None and ctx.invoked_subcommand in _USES_CONFIG:
        from integration_sync.config import find_config

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
    raise click.exceptions.Exit(_print_error(message))


def _print_error(message: str) -> int:
    click.echo(f"error: {message}", err=True)
    return 1


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Never lets a usage error exit 2, never prints a traceback for a SyncError."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    _terminate_like_interrupt()
    for stream in (sys.stdout, sys.stderr):  # a lone surrogate from a tenant prints as \udXXX
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        rv: object = cli.main(args=argv, prog_name="integration-sync", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # click's wrapping of Ctrl-C and SIGTERM
            _interrupted()
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:  # usage errors and bad parameters
        exc.show()
        sys.exit(1)
    except SyncError as exc:
        if debug:
            logs.print_traceback(exc)
        for line in _lines(exc):
            _print_error(line)
        sys.exit(1)
    except KeyboardInterrupt:
        _interrupted()
    except asyncio.CancelledError:
        if _terminated:  # SIGTERM with SIGINT ignored: the running event loop's tasks were cancelled
            _interrupted()
        raise
    except Exception as exc:  # a bug: its traceback, redacted (its message may quote a tenant's text)
        logs.print_traceback(exc)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


def _lines(exc: SyncError) -> list[str]:
    """One line per mistake: a config with several (``ConfigErrors``) says each, in file order."""
    errors = getattr(exc, "errors", None)
    return [str(e) for e in errors] if isinstance(errors, list) and errors else [str(exc)]


def _interrupted() -> NoReturn:
    click.echo("Interrupted: nothing more was started.", err=True)
    sys.exit(130)


_terminated = False


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


def _terminate_like_interrupt() -> None:
    """SIGTERM (a CI runner cancelling the job) takes the same way out as Ctrl-C: one line, exit 130,
    no traceback. Phases that must finish what is in flight (apply's writes, the emulator) install
    their own handlers for their duration."""

    def interrupt(_signum: int, _frame: object) -> None:
        # As a SIGINT, so that a running asyncio.run() cancels its task cleanly (and raises
        # KeyboardInterrupt after), instead of an exception thrown into whichever task was running.
        if callable(signal.getsignal(signal.SIGINT)):
            signal.raise_signal(signal.SIGINT)
            return
        # SIGINT ignored (a job started with &): asyncio.run() has no handler of its own then. Cancel
        # the running loop's tasks as its handler would (each task group then ends its own), or, with
        # no loop running, stop where the program is.
        global _terminated
        _terminated = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise KeyboardInterrupt from None
        # Through the loop's self-pipe: it wakes a loop that is waiting in select() for the network.
        loop.call_soon_threadsafe(_cancel_all, loop)

    with contextlib.suppress(ValueError):  # not the main thread (an embedding program): leave it be
        signal.signal(signal.SIGTERM, interrupt)


@cli.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of a definition (for editors and CI)."""
    from integration_sync.fields import schema_text

    click.echo(schema_text(), nl=False)


# Commands live in their own modules; each registers itself on ``cli`` when imported.
from integration_sync.cli import commands as _commands  # noqa: E402, F401
