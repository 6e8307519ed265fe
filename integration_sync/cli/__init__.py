"""The command line's entry point: run the command group, turn every way out into an exit code.

Exit codes are part of the interface: 0 success, 1 any error (including a usage error, so that
``plan --detailed-exitcode`` keeps 2 for "there are changes"), 2 only for that flag. Every expected
failure is a ``SyncError``; it is caught here, once, and printed as one line without a traceback
(``--debug`` shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import NoReturn

import click

from integration_sync import logs
from integration_sync.cli.commands import cli
from integration_sync.cli.root import print_error
from integration_sync.errors import SyncError

__all__ = ["cli", "main"]


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
            print_error(line)
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
