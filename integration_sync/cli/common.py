"""What ``plan`` and ``apply`` share on the command line: the tenant selection options, planning the
selected fleet (with the validation report when the definitions are not valid), the progress bar,
colour, and writing an output file."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from integration_sync.cli.root import fail
from integration_sync.runner import run_main

if TYPE_CHECKING:
    from integration_sync.config import Config, TenantConfig
    from integration_sync.fleet import FleetOptions
    from integration_sync.plan import Plan


@dataclass(frozen=True)
class Selection:
    """The tenants named on the command line (``--tenant``, ``--exclude-tenant``, ``--tag``, ``--shard``)."""

    names: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    shard: str | None = None

    @property
    def narrows(self) -> bool:
        """Whether any option was given (else every tenant of the config is selected)."""
        return bool(self.names or self.excluded or self.tags or self.shard)

    def tenants(self, config: Config) -> tuple[TenantConfig, ...]:
        from integration_sync.selection import parse_shard, select_tenants

        return select_tenants(
            config,
            names=self.names,
            exclude=self.excluded,
            tags=self.tags,
            shard=parse_shard(self.shard) if self.shard else None,
        )


def parallelism_option(done: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--parallelism N``: tenants ``done`` (planned, applied) at once; None means the config's
    ``settings.parallelism``, whose default ``config.Settings`` owns."""
    from integration_sync.config import Settings

    return click.option(
        "--parallelism",
        type=click.IntRange(min=1),
        default=None,
        help=f"Tenants {done} at once (default: settings.parallelism, {Settings.parallelism}).",
    )


def tenant_selection(verb: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the four tenant selection options to a command; it receives them as ``selection``."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(
            *args: Any,
            tenants: tuple[str, ...],
            excluded: tuple[str, ...],
            tags: tuple[str, ...],
            shard: str | None,
            **kwargs: Any,
        ) -> Any:
            return command(*args, selection=Selection(tenants, excluded, tags, shard), **kwargs)

        options = [
            click.option(
                "--tenant",
                "tenants",
                multiple=True,
                metavar="NAME",
                help=f"{verb} only this tenant (repeatable).",
            ),
            click.option(
                "--exclude-tenant",
                "excluded",
                multiple=True,
                metavar="NAME",
                help="Skip this tenant (repeatable).",
            ),
            click.option(
                "--tag",
                "tags",
                multiple=True,
                metavar="TAG",
                help=f"{verb} only tenants with this tag (repeatable).",
            ),
            click.option(
                "--shard", metavar="K/N", help=f"{verb} only shard K of N (a stable split by tenant name)."
            ),
        ]
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


def plan_selected(
    config: Config,
    selected: Sequence[TenantConfig],
    integrations: Sequence[str],
    options: FleetOptions,
    *,
    report_format: str = "text",
) -> Plan:
    """Plan the selected tenants, with a progress bar on a terminal. Invalid definitions: the validation
    report in the plan's format (``report_format``) and exit 1, before any tenant is asked: ``json`` (one
    JSON object) and ``markdown`` (a comment body) on stdout, where the plan would have gone; ``text``
    and ``github`` annotations on stderr."""
    from integration_sync.fleet import plan_fleet, wanted
    from integration_sync.render.registry import render_diagnostics
    from integration_sync.validate import InvalidDefinitions

    try:
        found = wanted(config, selected, integrations, allow_delete=options.allow_delete)
    except InvalidDefinitions as exc:
        click.echo(
            render_diagnostics(exc.report, report_format), err=report_format in ("text", "github"), nl=False
        )
        fail("the definitions are not valid: nothing was planned")
    with progress(len(selected), "planning tenants") as advance:
        return run_main(
            plan_fleet(
                config,
                selected,
                found.desired,
                options,
                on_tenant=lambda _t: advance(),
                known_names=found.names,
                repository=found.repository,
                warnings=found.warnings,
            )
        )


def use_color(fmt: str, is_terminal: bool, environ: Mapping[str, str]) -> bool:
    """Colour for text on a terminal, unless ``NO_COLOR`` is set to anything but the empty string."""
    return fmt == "text" and is_terminal and not environ.get("NO_COLOR")


def echo_rendered(render: Callable[[bool], str], fmt: str = "text") -> None:
    """Print ``render(color)`` on stdout, deciding once whether it gets colour (see ``use_color``)."""
    color = use_color(fmt, sys.stdout.isatty(), os.environ)
    click.echo(render(color), nl=False, color=color)


def write_output(path: Path, text: str | Iterable[str], what: str) -> None:
    """Write a file the user asked for (``--out``, ``--report``) whole or not at all (a CI job that is
    cancelled mid-write leaves the previous file, never half a plan); a failure is one line, exit 1."""
    from integration_sync.fsutil import write_text_atomic

    try:
        write_text_atomic(path, text)
    except OSError as exc:
        fail(f"{path}: cannot write the {what}: {exc.strerror}")


@contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr when it is a terminal (and more than one tenant); else nothing."""
    if total < 2 or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")))
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
